"""run_sql: one org's views only, one read-only SELECT, timeouts and row limits; every injection attempt refused
with a clear tool error, and every call logged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from tools.sql import SqlRejected, describe_views, run_sql, validate_sql

T0 = datetime(2026, 5, 4, tzinfo=UTC)


def _events(prefix: str, n: int, team: str) -> list[dict[str, Any]]:
    return [
        {"request_id": f"{prefix}-{i}", "timestamp": (T0 + timedelta(minutes=37 * i)).isoformat(),
         "provider": "openai", "model": "gpt-4o-mini" if i % 3 else "gpt-4o", "input_tokens": 1000 + 17 * i,
         "output_tokens": 200 + i, "team": team, "feature": f"f{i % 4}"}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def two_orgs(db: Any, price_book: Any) -> tuple[uuid.UUID, uuid.UUID]:
    from core.orgs.service import create_org
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    ids = []
    for name, n in (("a", 60), ("b", 25)):
        with db.session() as session:
            org_id = create_org(session, slug=f"sql-{name}-{uuid.uuid4().hex[:8]}").id
        lines = [__import__("orjson").dumps(e) for e in _events(f"{name}", n, f"team-{name}")]
        ingest(db, org_id=org_id, items=enumerate(lines, start=1), parse=decode_json, book=price_book())
        ids.append(org_id)
    return ids[0], ids[1]


def _direct_total(db: Any, org_id: uuid.UUID) -> Decimal:
    with db.engine.connect() as conn:
        return Decimal(
            conn.execute(text("SELECT sum(cost) FROM usage_events WHERE organization_id = :o"), {"o": org_id}).scalar()
        )


def test_select_over_views_is_scoped_to_the_org(db: Any, two_orgs: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, b = two_orgs
    result = run_sql(db, org_id=a, sql="SELECT count(*) AS n, sum(cost) AS cost, count(DISTINCT team) AS teams "
                     "FROM usage_events")  # fmt: skip
    assert result.rows[0]["n"] == 60
    assert result.rows[0]["teams"] == 1
    assert result.rows[0]["cost"] == pytest.approx(float(_direct_total(db, a)), abs=1e-9)
    other = run_sql(db, org_id=b, sql="SELECT team, count(*) AS n FROM usage_events GROUP BY team")
    assert other.rows == [{"team": "team-b", "n": 25}]
    # the rollup views agree with the raw one, to the last stored digit
    daily = run_sql(db, org_id=a, sql="SELECT sum(cost) AS cost, sum(requests) AS n FROM analytics.usage_daily")
    assert daily.rows[0] == {"cost": result.rows[0]["cost"], "n": 60}


def test_common_analytic_sql_is_allowed(db: Any, two_orgs: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, _ = two_orgs
    sql = """
        WITH d AS (
            SELECT date_trunc('day', timestamp) AS day, model, sum(cost) AS cost,
                   count(*) FILTER (WHERE status = 'error') AS errors
            FROM usage_events WHERE timestamp >= '2026-05-04' AND timestamp < '2026-05-06' GROUP BY 1, 2)
        SELECT day, model, round(cost::numeric, 4) AS cost, errors,
               rank() OVER (PARTITION BY day ORDER BY cost DESC) AS r,
               to_char(day, 'YYYY-MM-DD') AS label, extract(dow FROM day) AS dow, coalesce(nullif(model, ''), '?') AS m
        FROM d ORDER BY day, cost DESC
    """
    result = run_sql(db, org_id=a, sql=sql)
    assert {row["model"] for row in result.rows} == {"gpt-4o", "gpt-4o-mini"}
    assert result.rows[0]["label"] == "2026-05-04"
    percentile = run_sql(db, org_id=a, sql="SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY input_tokens) AS p "
                         "FROM usage_events WHERE user_id IS NULL")  # fmt: skip
    assert percentile.rows[0]["p"] > 1000


INJECTIONS = {
    "ddl": "DROP TABLE usage_events",
    "create": "CREATE TABLE x AS SELECT 1",
    "dml_insert": "INSERT INTO usage_events (request_id) VALUES ('x')",
    "dml_update": "UPDATE usage_events SET cost = 0",
    "dml_delete": "DELETE FROM budgets",
    "two_statements": "SELECT 1; DROP TABLE usage_events",
    "two_selects": "SELECT 1; SELECT 2",
    "select_into": "SELECT * INTO stolen FROM usage_events",
    "for_update": "SELECT * FROM usage_events FOR UPDATE",
    "raw_table": "SELECT * FROM public.usage_events",
    "raw_table_unqualified": "SELECT sum(cost) FROM usage_rollup_daily",
    "organizations": "SELECT * FROM organizations",
    "api_keys": "SELECT key_hash FROM api_keys",
    "pg_sleep": "SELECT pg_sleep(10)",
    "pg_sleep_qualified": "SELECT pg_catalog.pg_sleep(10)",
    "pg_sleep_in_where": "SELECT count(*) FROM usage_events WHERE pg_sleep(1) IS NOT NULL",
    "catalog": "SELECT * FROM pg_catalog.pg_tables",
    "catalog_unqualified": "SELECT rolname FROM pg_roles",
    "information_schema": "SELECT table_name FROM information_schema.tables",
    "set_config": "SELECT set_config('tokentra.org_id', '00000000-0000-0000-0000-000000000000', true)",
    "set_config_subquery": "SELECT * FROM usage_events, (SELECT set_config('tokentra.org_id', 'x', true)) s",
    "current_setting": "SELECT current_setting('tokentra.org_id')",
    "set": "SET tokentra.org_id = 'x'",
    "reset_role": "RESET ROLE",
    "dblink": "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(a int)",
    "copy": "COPY usage_events TO '/tmp/x.csv'",
    "copy_program": "COPY (SELECT 1) TO PROGRAM 'id'",
    "file_read": "SELECT pg_read_file('/etc/passwd')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "regclass": "SELECT 'api_keys'::regclass",
    "version": "SELECT version()",
    "explain": "EXPLAIN SELECT * FROM usage_events",
    "do_block": "DO $$ BEGIN PERFORM pg_sleep(5); END $$",
    "grant": "GRANT ALL ON usage_events TO PUBLIC",
    "truncate": "TRUNCATE usage_events",
    "empty": "   ",
    "garbage": "SELEC sum(cost) FRM usage_events",
}


@pytest.mark.parametrize("name", sorted(INJECTIONS))
def test_injection_attempts_fail_with_a_tool_error(db: Any, two_orgs: tuple[uuid.UUID, uuid.UUID], name: str) -> None:
    a, _ = two_orgs
    before = _direct_total(db, a)
    with pytest.raises(SqlRejected) as caught:
        run_sql(db, org_id=a, sql=INJECTIONS[name], agent=f"test-{name}")
    assert str(caught.value)  # a reason the model can read
    assert _direct_total(db, a) == before
    with db.engine.connect() as conn:
        logged = conn.execute(text("SELECT ok, error FROM assistant_sql_log WHERE organization_id = :o AND agent = :a"),
                              {"o": a, "a": f"test-{name}"}).all()  # fmt: skip
    assert logged
    assert logged[-1].ok is False
    assert logged[-1].error


def test_database_layers_hold_even_if_the_parser_were_fooled(db: Any, two_orgs: tuple[uuid.UUID, uuid.UUID]) -> None:
    """The role, the READ ONLY transaction and the org-filtering views, exercised without the sqlglot check."""
    from tools import sql as sqltool

    a, _b = two_orgs
    attempts = {
        "SELECT count(*) FROM public.usage_events": "permission denied",
        "SELECT count(*) FROM public.organizations": "permission denied",
        "SELECT pg_sleep(3)": "statement timeout",
    }
    for attempt, reason in attempts.items():
        with pytest.raises(SqlRejected, match=reason):
            sqltool._execute(db, org_id=a, sql=attempt, row_limit=10, timeout_ms=300)
    # set_config inside the query cannot widen the scope to another org's rows: the view checks the setting per
    # row, but the reader still only sees what the view shows, and never the raw table
    _, rows = sqltool._execute(db, org_id=a, sql="SELECT count(*) FROM usage_events", row_limit=10, timeout_ms=2000)
    assert rows[0][0] == 60
    partition = "SELECT 1 FROM (SELECT public.tt_ensure_usage_partition('2031-01-01'::date)) s"
    with pytest.raises(SqlRejected, match="read-only"):
        sqltool._execute(db, org_id=a, sql=partition, row_limit=10, timeout_ms=2000)


def test_row_limit_and_timeout(db: Any, two_orgs: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, _ = two_orgs
    result = run_sql(db, org_id=a, sql="SELECT request_id FROM usage_events ORDER BY timestamp", row_limit=7)
    assert len(result.rows) == 7
    assert result.truncated
    assert result.rows[0]["request_id"] == "a-0"
    with pytest.raises(SqlRejected, match="statement timeout"):
        run_sql(db, org_id=a, timeout_ms=200,
                sql="SELECT count(*) FROM generate_series(1, 100000000) g, usage_events e")  # fmt: skip


def test_views_fail_closed_without_an_org(db: Any) -> None:
    with db.engine.connect() as conn, pytest.raises(Exception, match=r"tokentra\.org_id|uuid"):
        conn.execute(text("SELECT count(*) FROM analytics.usage_events")).scalar()


def test_every_accepted_call_is_logged_with_the_sql_that_ran(db: Any, two_orgs: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, _ = two_orgs
    result = run_sql(db, org_id=a, sql="select model, sum(cost) as c from usage_events group by model", agent="logtest")
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT sql, ok, row_count FROM assistant_sql_log WHERE organization_id = :o AND "
                                "agent = 'logtest' ORDER BY id DESC LIMIT 1"), {"o": a}).one()  # fmt: skip
    assert row.ok
    assert row.row_count == len(result.rows) == 2
    assert row.sql == result.sql


def test_validate_and_describe() -> None:
    assert validate_sql("SELECT 1 AS one").sql() == "SELECT 1 AS one"
    doc = describe_views()
    for view in ("usage_events", "usage_daily", "recommendations", "anomalies", "budgets"):
        assert f"- {view}:" in doc
