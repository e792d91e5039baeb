"""Bringing a database to the current schema: Alembic migrations, then the price catalogue sync."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.db import Database
from core.pricing.catalogue import sync_catalogue
from migrations.checkpoints import create_checkpoint_tables

_ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> str:
    """Apply pending migrations (under an advisory lock: concurrent starters wait) and sync prices."""
    config = alembic_config()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('tokentra_schema'))")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.exec_driver_sql("SELECT tokentra_apply_org_rls()")  # RLS on org tables of later migrations (0006)
        create_checkpoint_tables(conn)  # LangGraph checkpointer tables: never built at run time (setup() hangs)
    with db.session() as session:
        sync_catalogue(session)
    return head_revision()


def ensure_schema(db: Database) -> None:
    """Upgrade when the database is behind; a no-op (one query) when it is current."""
    if current_revision(db) != head_revision():
        upgrade(db)
