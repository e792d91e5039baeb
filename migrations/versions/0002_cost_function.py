"""Cost maths as one SQL function, and monthly partitions for usage events.

tt_cost() is the single implementation of "what did this call cost": ingest, repricing and what-if
simulation all call it, so they can never disagree. Exact NUMERIC arithmetic; prices are per 1M tokens.
Rate fallbacks follow LiteLLM's cost calculator (tests compare the two on many models and token mixes):
- above long_context_threshold input tokens, the long-context rates bill the whole call;
- a missing cache-read or cache-write rate bills those tokens at the input rate;
- a batch call uses the batch rates, or the standard ones where no batch rate is known;
- reasoning tokens are part of the output and use the output rate unless a reasoning rate is set.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONG = "(p.long_context_threshold IS NOT NULL AND input_tokens > p.long_context_threshold)"
INPUT_RATE = f"""(CASE WHEN is_batch THEN
    CASE WHEN {LONG} THEN coalesce(p.long_context_batch_input, p.batch_input, p.long_context_input, p.input)
         ELSE coalesce(p.batch_input, p.input) END
  ELSE CASE WHEN {LONG} THEN coalesce(p.long_context_input, p.input) ELSE p.input END END)"""
OUTPUT_RATE = f"""(CASE WHEN is_batch THEN
    CASE WHEN {LONG} THEN coalesce(p.long_context_batch_output, p.batch_output, p.long_context_output, p.output)
         ELSE coalesce(p.batch_output, p.output) END
  ELSE CASE WHEN {LONG} THEN coalesce(p.long_context_output, p.output) ELSE p.output END END)"""


def _cache_rate(kind: str) -> str:
    return f"""(CASE WHEN is_batch THEN coalesce(p.batch_{kind}, {INPUT_RATE})
  ELSE coalesce(CASE WHEN {LONG} THEN p.long_context_{kind} END, p.{kind}, {INPUT_RATE}) END)"""


COST_FUNCTION = f"""
CREATE OR REPLACE FUNCTION tt_cost(
    p price_catalogue, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint,
    cache_write_tokens bigint, reasoning_tokens bigint, is_batch boolean
) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT round((
      (input_tokens - cache_read_tokens - cache_write_tokens) * {INPUT_RATE}
    + cache_read_tokens * {_cache_rate("cache_read")}
    + cache_write_tokens * {_cache_rate("cache_write")}
    + (output_tokens - reasoning_tokens) * {OUTPUT_RATE}
    + reasoning_tokens * coalesce(p.reasoning, {OUTPUT_RATE})
  ) / 1000000, 12)
$$
"""

PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION tt_ensure_usage_partition(month_start date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part text := 'usage_events_' || to_char(first_day, 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('tt_usage_partitions'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                part, first_day::timestamptz AT TIME ZONE 'UTC',
                (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        END IF;
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute(COST_FUNCTION)
    op.execute(PARTITION_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tt_ensure_usage_partition(date)")
    op.execute("DROP FUNCTION IF EXISTS tt_cost(price_catalogue, bigint, bigint, bigint, bigint, bigint, boolean)")
