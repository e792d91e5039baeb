"""Database access: the engine, sessions, and the embedded Postgres used when no URL is configured."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.config import Settings, get_settings
from core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Settings the embedded server gets on first start: analytic queries must not pay for JIT compilation,
# bulk loads should not checkpoint every few seconds, and indexes of millions of events need more than the
# default 128MB of shared buffers (this one needs a restart, done once when the folder is first set up).
RESTART_TUNING = {"shared_buffers": "1GB"}
EMBEDDED_TUNING = {
    "jit": "off",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "effective_cache_size": "8GB",
    "random_page_cost": "1.1",
}

_servers: dict[Path, Any] = {}


def start_embedded(pg_dir: Path) -> str:
    """Start (or join) the pgserver Postgres in pg_dir and return its libpq URI.

    The server is shared by every process using the same folder and stopped when the last one exits.
    """
    pg_dir = pg_dir.resolve()
    if pg_dir not in _servers:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            import pgserver  # imported here: only the embedded mode needs it

        pg_dir.mkdir(parents=True, exist_ok=True)
        try:
            server = pgserver.get_server(pg_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        except Exception as exc:  # pgserver raises bare subprocess/OS errors
            raise DatabaseUnavailable(f"could not start embedded Postgres in {pg_dir}: {exc}") from exc
        if _tune(server.get_uri()):
            server.cleanup()  # stops it when this process is its only user, so shared_buffers applies
            server = pgserver.get_server(pg_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        _servers[pg_dir] = server
    uri: str = _servers[pg_dir].get_uri()
    return uri


def _tune(uri: str) -> bool:
    """Apply EMBEDDED_TUNING once; True when a restart is needed for RESTART_TUNING to take effect."""
    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'jit'").fetchone()
        if row is not None and row[0] == "off":
            return False
        for name, value in {**EMBEDDED_TUNING, **RESTART_TUNING}.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        return True


def libpq_url(settings: Settings) -> str:
    """The libpq URI of the configured database, starting the embedded one if needed."""
    if settings.database_url:
        return settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    return start_embedded(settings.pg_dir)


def sqlalchemy_url(uri: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


@dataclass(frozen=True)
class Database:
    """The process's handle on the database: a SQLAlchemy engine and the raw libpq URI (for COPY)."""

    uri: str
    engine: Engine
    sessions: sessionmaker[Session]

    def connect_raw(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return psycopg.connect(self.uri, autocommit=autocommit)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on error."""
        with self.sessions.begin() as session:
            yield session


def open_database(uri: str) -> Database:
    engine = create_engine(sqlalchemy_url(uri), pool_pre_ping=True, pool_size=10, max_overflow=20)
    return Database(uri=uri, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


@lru_cache(maxsize=1)
def get_database() -> Database:
    """The process-wide Database, built on first use at start-up (never at import)."""
    return open_database(libpq_url(get_settings()))


def reset_database_cache() -> None:
    get_database.cache_clear()
    get_settings.cache_clear()
