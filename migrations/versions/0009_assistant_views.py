"""Assistant views: the read-only SQL surface of `run_sql` (schema `analytics`), its role and its query log.

Every view filters `organization_id` by the transaction-local setting `tokentra.org_id` (unset: an error, so a
query without an org fails closed) and is a security barrier, so no predicate of a caller's query is evaluated on
another org's rows. The NOLOGIN role `tokentra_reader` may read these views and nothing else; `run_sql` switches
to it with SET LOCAL ROLE inside a READ ONLY transaction.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "tokentra_reader"
ORG = "current_setting('tokentra.org_id')::uuid"
ROLLUP = (
    "provider, model, nullif(team, '') AS team, nullif(project, '') AS project, nullif(feature, '') AS feature, "
    "nullif(environment, '') AS environment, nullif(task_type, '') AS task_type, status, requests, input_tokens, "
    "output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost, unpriced_requests"
)
VIEWS = {
    "usage_events": (
        "SELECT timestamp, request_id, provider, model, endpoint, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, reasoning_tokens, batch, latency_ms, ttft_ms, status, error_code, attempt, trace_id, "
        "streaming, max_tokens, finish_reason, prompt_hash, system_prompt_hash, system_prompt_tokens, task_type, "
        "team, project, feature, user_id, environment, api_key_id, embedding_dimensions, cost, cost_status "
        f"FROM public.usage_events WHERE organization_id = {ORG}"
    ),
    "usage_hourly": f"SELECT hour, {ROLLUP} FROM public.usage_rollup_hourly WHERE organization_id = {ORG}",
    "usage_daily": f"SELECT day, {ROLLUP} FROM public.usage_rollup_daily WHERE organization_id = {ORG}",
    "recommendations": (
        "SELECT id, category, type, title, description, scope, target, current_monthly_cost, projected_monthly_cost, "
        "estimated_monthly_savings, savings_percent, confidence, priority, risk_level, effort, affected_requests, "
        "status, window_start, window_end, applied_at, actual_monthly_savings, created_at "
        f"FROM public.recommendations WHERE organization_id = {ORG}"
    ),
    "anomalies": (
        "SELECT id, type, severity, title, description, detection_method, metric, scope, window_start, window_end, "
        "current_value, expected_value, deviation_percent, z_score, drivers, explanation, acknowledged, resolved, "
        f"created_at FROM public.anomalies WHERE organization_id = {ORG}"
    ),
    "budgets": (
        "SELECT id, name, scope_type, scope_value, period, amount, thresholds, hard_limit, enabled, created_at "
        f"FROM public.budgets WHERE organization_id = {ORG}"
    ),
    "prices": (
        "SELECT provider, model, effective_from, mode, input, output, cache_read, cache_write, batch_input, "
        "batch_output, (organization_id IS NOT NULL) AS org_override FROM public.price_catalogue "
        f"WHERE organization_id IS NULL OR organization_id = {ORG}"
    ),
}


def upgrade() -> None:
    op.execute(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
            END IF;
        END $$"""
    )
    op.execute(f"GRANT {ROLE} TO CURRENT_USER")  # so run_sql's connection may SET ROLE to it
    op.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    op.execute(f"REVOKE ALL ON SCHEMA analytics FROM PUBLIC; GRANT USAGE ON SCHEMA analytics TO {ROLE}")
    for name, select in VIEWS.items():
        op.execute(f"CREATE VIEW analytics.{name} WITH (security_barrier = true) AS {select}")
        op.execute(f"GRANT SELECT ON analytics.{name} TO {ROLE}")
    op.create_table(
        "assistant_sql_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column(
            "context", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_assistant_sql_log_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_sql_log")),
    )
    op.create_index(op.f("ix_assistant_sql_log_organization_id_created_at"), "assistant_sql_log",
                    ["organization_id", "created_at"], unique=False)  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_assistant_sql_log_organization_id_created_at"), table_name="assistant_sql_log")
    op.drop_table("assistant_sql_log")
    op.execute("DROP SCHEMA IF EXISTS analytics CASCADE")
    # The role is cluster-wide (other databases may use it): it stays, with nothing left to read here.
