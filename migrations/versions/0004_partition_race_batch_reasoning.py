"""Race-proof monthly partition creation; batch calls bill reasoning tokens at the batch output rate.

Two loaders creating the same month's partition at once: the loser's CREATE now tolerates the winner's
table (an advisory lock does not refresh the catalogue snapshot, so the re-check alone was not enough).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence
from importlib import import_module

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_v2 = import_module("migrations.versions.0002_cost_function")

PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION tt_ensure_usage_partition(month_start date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part text := 'usage_events_' || to_char(first_day, 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('tt_usage_partitions'));
    BEGIN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
            part, first_day::timestamp AT TIME ZONE 'UTC',
            (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;  -- created by a concurrent loader meanwhile
    END;
END
$$
"""

# Batch: every completion token (reasoning included) is billed at the batch output rate, as LiteLLM does.
COST_FUNCTION = _v2.COST_FUNCTION.replace(
    f"reasoning_tokens * coalesce(p.reasoning, {_v2.OUTPUT_RATE})",
    f"reasoning_tokens * (CASE WHEN is_batch THEN {_v2.OUTPUT_RATE} ELSE coalesce(p.reasoning, {_v2.OUTPUT_RATE}) END)",
)


def upgrade() -> None:
    assert COST_FUNCTION != _v2.COST_FUNCTION, "the reasoning clause to replace was not found"
    op.execute(PARTITION_FUNCTION)
    op.execute(COST_FUNCTION)


def downgrade() -> None:
    op.execute(_v2.PARTITION_FUNCTION)
    op.execute(_v2.COST_FUNCTION)
