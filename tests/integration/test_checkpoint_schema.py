"""The LangGraph checkpointer's tables come from the schema upgrade (migrations/checkpoints.py), so no run ever
executes PostgresSaver.setup()'s CREATE INDEX CONCURRENTLY, which waits for every open transaction."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from sqlalchemy import text

from graphs.runs import checkpointer_ready
from migrations.checkpoints import checkpoint_migrations, create_checkpoint_tables


def test_upgrade_created_every_checkpoint_migration(db: Any) -> None:
    with db.session() as session:
        versions = session.execute(text("SELECT v FROM checkpoint_migrations ORDER BY v")).scalars().all()
        indexes = session.execute(text("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'checkpoint%'"
                                       " AND schemaname = current_schema()")).scalars().all()  # fmt: skip
    assert versions == list(range(len(PostgresSaver.MIGRATIONS)))
    assert {"checkpoints_thread_id_idx", "checkpoint_writes_thread_id_idx"} <= set(indexes)
    assert all("CONCURRENTLY" not in sql.upper() for sql in checkpoint_migrations())
    checkpointer_ready(db)  # nothing left to do, and no error


def _setup_in(uri: str, schema: str, done: list[str]) -> None:
    with psycopg.connect(uri, autocommit=True, row_factory=dict_row, options=f"-c search_path={schema}") as conn:
        PostgresSaver(conn).setup()
    done.append(schema)


def test_setup_finds_nothing_to_do_while_a_transaction_is_open(db: Any) -> None:
    """In a schema of its own: the upgrade's function creates the tables inside a transaction (CREATE INDEX
    CONCURRENTLY could not); then setup(), with another transaction holding a snapshot, returns at once."""
    schema = f"cp_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"SET LOCAL search_path = {schema}")
        assert create_checkpoint_tables(conn) == len(PostgresSaver.MIGRATIONS) - 1
        assert create_checkpoint_tables(conn) == 0  # idempotent
        conn.exec_driver_sql("DELETE FROM checkpoint_migrations WHERE v = (SELECT max(v) FROM checkpoint_migrations)")
        assert create_checkpoint_tables(conn) == 1  # a newer langgraph's migration: applied by the next upgrade
    done: list[str] = []
    try:
        with db.engine.connect() as blocker:
            blocker.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            blocker.execute(text("SELECT count(*) FROM organizations")).scalar_one()  # holds a snapshot open
            worker = threading.Thread(target=_setup_in, args=(db.uri, schema, done), daemon=True)
            worker.start()
            worker.join(timeout=30)
            blocker.rollback()
        assert done == [schema], "setup() waited for the open transaction"
        with db.engine.connect() as conn:
            count = conn.execute(text(f"SELECT count(*) FROM {schema}.checkpoint_migrations")).scalar_one()
        assert count == len(PostgresSaver.MIGRATIONS)
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
