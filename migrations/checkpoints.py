"""The LangGraph Postgres checkpointer's tables, created by the schema upgrade (core/schema.py) in its own
transaction, under its advisory lock.

`PostgresSaver.setup()` would create them on first use, but some of its migrations build indexes
CONCURRENTLY: they cannot run in a transaction and wait for every transaction open in the database, so a
first run that holds a transaction (a nightly runner holding its org's row lock) would wait for itself.
Here the same migrations run non-concurrently (the tables are new or small when this runs) and are recorded
in `checkpoint_migrations` exactly as setup() records them, so setup() afterwards finds nothing to do. The
migration texts come from the installed langgraph-checkpoint-postgres, so a new version's migrations are
applied by the next upgrade.
"""

from __future__ import annotations

import re
from typing import Any

_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b\s*", re.IGNORECASE)


def checkpoint_migrations() -> list[str]:
    """The checkpointer's migrations (index = version), without CONCURRENTLY."""
    from langgraph.checkpoint.postgres.base import BasePostgresSaver  # only the schema upgrade needs it

    return [_CONCURRENTLY.sub("", sql) for sql in BasePostgresSaver.MIGRATIONS]


def create_checkpoint_tables(conn: Any) -> int:
    """Apply the checkpointer's pending migrations on `conn` (a SQLAlchemy connection in a transaction);
    returns how many ran."""
    migrations = checkpoint_migrations()
    conn.exec_driver_sql(migrations[0])
    done = conn.exec_driver_sql("SELECT max(v) FROM checkpoint_migrations").scalar()
    first = 1 if done is None else int(done) + 1
    if done is None:
        conn.exec_driver_sql("INSERT INTO checkpoint_migrations (v) VALUES (0)")
    for version in range(first, len(migrations)):
        conn.exec_driver_sql(migrations[version])
        conn.exec_driver_sql("INSERT INTO checkpoint_migrations (v) VALUES (%(v)s)", {"v": version})
    return max(len(migrations) - first, 0)
