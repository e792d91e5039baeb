"""Daily usage rollup, for breakdowns over long periods.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("provider", "model", "team", "project", "feature", "environment", "task_type", "status")
COUNTS = ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def upgrade() -> None:
    op.create_table(
        "usage_rollup_daily",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        *[sa.Column(name, sa.Text(), nullable=False) for name in DIMENSIONS],
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTS],
        sa.Column("cost", sa.Numeric(30, 12), nullable=False),
        sa.Column("unpriced_requests", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_sum", sa.Numeric(30, 3), nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "day", *DIMENSIONS, name=op.f("pk_usage_rollup_daily")),
    )
    op.execute(
        f"""
        INSERT INTO usage_rollup_daily
        SELECT organization_id, date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', {", ".join(DIMENSIONS)},
               {", ".join(f"sum({c})" for c in COUNTS)}, sum(cost), sum(unpriced_requests), sum(latency_ms_sum),
               sum(latency_count)
        FROM usage_rollup_hourly GROUP BY 1, 2, {", ".join(DIMENSIONS)}
        """
    )


def downgrade() -> None:
    op.drop_table("usage_rollup_daily")
