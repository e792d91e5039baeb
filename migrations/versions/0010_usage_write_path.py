"""Append-only rollups: the hourly and daily rollups lose their unique keys and take (org, time) indexes.

Ingest used to upsert every batch's sums (`INSERT … ON CONFLICT DO UPDATE` on a ten-column key): for the
usual batch, where most (hour, dimensions) groups are new, about half the Postgres time of storing an event.
Now a batch's sums are COPYed as new rows, so a group may have several rows whose sums add up to its total;
every reader sums (breakdowns, budgets, anomaly series, the assistant's views). The writers merge such rows
from time to time (`core/usage/rollups.py` `compact_rollups`), so the tables stay about as small as before.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("provider", "model", "team", "project", "feature", "environment", "task_type", "status")
SUMS = (
    "requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "cost", "unpriced_requests", "latency_ms_sum", "latency_count",
)  # fmt: skip
TABLES = {"usage_rollup_hourly": "hour", "usage_rollup_daily": "day"}


def upgrade() -> None:
    for table, bucket in TABLES.items():
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_index(f"ix_{table}_organization_id_{bucket}", table, ["organization_id", bucket])


def downgrade() -> None:
    key = ", ".join(("organization_id", "{bucket}", *DIMENSIONS))
    for table, bucket in TABLES.items():
        columns = key.format(bucket=bucket)
        # Merge each group's rows into one, so the unique key can come back.
        op.execute(
            f"""
            WITH gone AS (DELETE FROM {table} RETURNING *)
            INSERT INTO {table} ({columns}, {", ".join(SUMS)})
            SELECT {columns}, {", ".join(f"sum({s})" for s in SUMS)} FROM gone GROUP BY {columns}
            """
        )
        op.drop_index(f"ix_{table}_organization_id_{bucket}", table_name=table)
        op.create_primary_key(f"pk_{table}", table, ["organization_id", bucket, *DIMENSIONS])
