"""The `tokentra` command line. Every result command takes --json and then prints one JSON document."""

from __future__ import annotations

import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from api.cli_ask import ask_command
from api.cli_insights import evaluate_after_ingest, register_insights
from api.cli_nightly import register_nightly
from api.cli_probe import probe_app
from api.cli_serve import serve
from api.cli_support import database, emit_json, progress_bar, stderr, table
from api.timeparse import parse_time, rfc3339
from core.errors import InvalidInput, TokentraError
from core.orgs.service import create_org as create_org_row
from core.orgs.service import get_org, issue_key
from core.pricing.book import PriceBook
from core.pricing.reprice import PriceInput, add_price, reprice
from core.schema import upgrade
from core.usage.ingest import ingest as ingest_events
from core.usage.queries import CostQuery, cost_breakdown
from core.usage.readers import FORMATS, detect_format, open_binary, reader

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="TokenTRA: AI cost intelligence.")  # fmt: skip
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
org_app = typer.Typer(no_args_is_help=True, help="Organizations.")
key_app = typer.Typer(no_args_is_help=True, help="API keys.")
prices_app = typer.Typer(no_args_is_help=True, help="The price catalogue.")
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(prices_app, name="prices")
app.add_typer(probe_app, name="probe")
register_nightly(app)
register_insights(app)
app.command("ask")(ask_command)
app.command("serve")(serve)

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")]
OrgOption = Annotated[str, typer.Option("--org", help="organization slug")]


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Apply migrations and sync the price catalogue."""
    revision = upgrade(database(migrate=False))
    emit_json({"revision": revision}) if as_json else stderr.print(f"database at revision {revision}")


@org_app.command("create")
def org_create(slug: Annotated[str, typer.Option("--slug")], name: Annotated[str | None, typer.Option("--name")] = None,
               as_json: JsonFlag = False) -> None:  # fmt: skip
    """Create an organization and an owner API key (shown once)."""
    with database().session() as session:
        org = create_org_row(session, slug=slug, name=name)
        key = issue_key(session, org_id=org.id, role="owner", name="owner (created with the org)")
        result = {"id": str(org.id), "slug": org.slug, "api_key": key.secret}
    if as_json:
        emit_json(result)
    else:
        stderr.print(f"created organization [bold]{slug}[/bold] ({result['id']})")
        stderr.print(f"owner API key (shown once): [bold]{key.secret}[/bold]")


@key_app.command("create")
def key_create(org: OrgOption, role: Annotated[str, typer.Option("--role")],
               scope: Annotated[str, typer.Option("--scope")] = "full", as_json: JsonFlag = False) -> None:  # fmt: skip
    """Create another API key for an organization."""
    with database().session() as session:
        key = issue_key(session, org_id=get_org(session, org).id, role=role, scope=scope)
    result = {"id": str(key.id), "api_key": key.secret, "role": key.role, "scope": key.scope}
    emit_json(result) if as_json else stderr.print(f"API key (shown once): [bold]{key.secret}[/bold]")


def _rate(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise InvalidInput(f"--{name}: {value!r} is not a number") from exc


@prices_app.command("set")
def prices_set(
    model: Annotated[str, typer.Option("--model")],
    provider: Annotated[str, typer.Option("--provider")],
    input_price: Annotated[str, typer.Option("--input", help="USD per 1M input tokens")],
    output_price: Annotated[str, typer.Option("--output", help="USD per 1M output tokens")],
    cache_read: Annotated[str | None, typer.Option("--cache-read")] = None,
    cache_write: Annotated[str | None, typer.Option("--cache-write")] = None,
    batch_input: Annotated[str | None, typer.Option("--batch-input")] = None,
    batch_output: Annotated[str | None, typer.Option("--batch-output")] = None,
    effective_from: Annotated[
        str | None, typer.Option("--from", help="default: all time for a new model, else now")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="an org's own (negotiated) price")] = None,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Add a price version (per 1M tokens) and reprice the events it affects."""
    given = {"input": input_price, "output": output_price, "cache_read": cache_read, "cache_write": cache_write,
             "batch_input": batch_input, "batch_output": batch_output}  # fmt: skip
    rates = {name: _rate(value, name.replace("_", "-")) for name, value in given.items()}
    db = database()
    with db.session() as session:
        org_id = get_org(session, org).id if org else None
        start = parse_time(effective_from, name="--from") if effective_from else None
        price = add_price(session, PriceInput(provider=provider, model=model, rates=rates,
                                              effective_from=start, organization_id=org_id))  # fmt: skip
        repriced = reprice(session.connection(), PriceBook.load(session), provider=provider, model=model,
                           org_id=org_id, touched_price_id=price.id)  # fmt: skip
        result = {"repriced": repriced, "price_id": price.id, "effective_from": rfc3339(price.effective_from),
                  "provider": price.provider, "model": price.model}  # fmt: skip
    emit_json(result) if as_json else stderr.print(f"price stored; {repriced:,} event(s) repriced")


@app.command("ingest")
def ingest(
    path: Annotated[Path, typer.Argument(help="JSONL or CSV file, optionally .gz")],
    org: OrgOption,
    file_format: Annotated[str | None, typer.Option("--format", help="jsonl | csv | otlp-json")] = None,
    batch_rows: Annotated[int, typer.Option("--batch-rows", min=100, max=1_000_000)] = 25_000,
    as_json: JsonFlag = False,
) -> None:
    """Load usage events from a file (streaming, COPY), idempotent on request_id."""
    fmt = file_format or detect_format(path)
    if fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    db = database()
    with db.session() as session:
        org_id = get_org(session, org).id
        book = PriceBook.load(session)
    started = time.perf_counter()
    with open_binary(path) as stream, progress_bar(path.stat().st_size, f"ingest {path.name}") as advance:
        items, parse = reader(fmt, stream, advance)
        result = ingest_events(db, org_id=org_id, items=items, parse=parse, book=book, batch_rows=batch_rows)
    budgets = evaluate_after_ingest(db, org_id) if result.accepted else []
    elapsed = time.perf_counter() - started
    document = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [{"line": r.position, "error": r.error} for r in result.rejected],
        "rejected_count": result.rejected_count,
        "unpriced": result.unpriced,
        "seconds": round(elapsed, 3),
        "events_per_second": round((result.accepted + result.duplicates) / elapsed) if elapsed else None,
        "budget_alerts": [{"budget": b["name"], "threshold": t} for b in budgets for t in b["alerts_raised"]],
    }
    if as_json:
        emit_json(document)
        return
    stderr.print(f"accepted {result.accepted:,}, duplicates {result.duplicates:,}, "
                 f"rejected {result.rejected_count:,}, unpriced {result.unpriced:,} in {elapsed:.1f}s")  # fmt: skip
    for rejection in result.rejected[:20]:
        stderr.print(f"  line {rejection.position}: {rejection.error}")


@app.command("costs")
def costs(
    org: OrgOption,
    start: Annotated[str, typer.Option("--from", help="RFC 3339 or YYYY-MM-DD (inclusive)")],
    end: Annotated[str, typer.Option("--to", help="RFC 3339 or YYYY-MM-DD (exclusive)")],
    group_by: Annotated[str, typer.Option("--group-by", help="comma-separated dimensions")] = "",
    granularity: Annotated[str, typer.Option("--granularity", help="hour | day | none")] = "none",
    filters: Annotated[list[str] | None, typer.Option("--filter", help="dimension=value, repeatable")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Spend breakdown by any dimensions over [from, to)."""
    parsed_filters = {}
    for item in filters or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--filter {item!r}: expected dimension=value")
        parsed_filters[name.strip()] = value.strip()
    db = database()
    with db.session() as session:
        query = CostQuery(org_id=get_org(session, org).id, start=parse_time(start, name="--from"),
                          end=parse_time(end, name="--to"),
                          group_by=tuple(d.strip() for d in group_by.split(",") if d.strip()),
                          granularity=granularity, filters=parsed_filters)  # fmt: skip
        result = cost_breakdown(session.connection(), query)
    if as_json:
        emit_json(result)
        return
    dims = result["meta"]["group_by"]
    rows = [[*[item[d] for d in dims], item["cost"], item["requests"], item["input_tokens"], item["output_tokens"]]
            for item in result["data"]]  # fmt: skip
    table(f"Spend {result['meta']['start']} → {result['meta']['end']} (USD)",
          [*dims, "cost", "requests", "input_tokens", "output_tokens"], rows)  # fmt: skip
    stderr.print(
        f"total ${result['meta']['total_cost']:,.2f}; unpriced requests: {result['meta']['unpriced_requests']}"
    )


@app.command("recommend")
def recommend_cmd(
    org: OrgOption,
    as_of: Annotated[str, typer.Option("--as-of", help="end of the analysis window (default now)")] = "now",
    window_days: Annotated[int, typer.Option("--window-days")] = 30,
    as_json: JsonFlag = False,
) -> None:
    """Run the consensus recommendation graph over the window and store the recommendations."""
    from core.config import get_settings
    from core.routing.llm import build_llm
    from graphs.runs import run_recommendations

    db = database()
    with db.session() as session:
        org_id = get_org(session, org).id
    result = run_recommendations(db, org_id=org_id, as_of=parse_time(as_of, name="--as-of"), window_days=window_days,
                                 llm=build_llm(get_settings()))  # fmt: skip
    if as_json:
        emit_json(result)
        return
    rows = [[r["type"], r["title"], r["estimated_monthly_savings"], r["confidence"], r["priority"]]
            for r in result["recommendations"]]  # fmt: skip
    table("Recommendations (USD per month)", ["type", "title", "savings", "confidence", "priority"], rows)


@app.command("eval")
def run_eval(
    suite_names: Annotated[list[str] | None, typer.Option("--suite", help="suite name, repeatable")] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help="config override key=value")] = None,
    llm_config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="LiteLLM Router YAML: run the agent suites with this model config (default: offline)"
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run eval suites (evals/) and write a JSON + Markdown report under evals/reports/."""
    from evals.harness import run_suite, suites, write_report

    overrides: dict[str, object] = {}
    for item in settings or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set {item!r}: expected key=value")
        overrides[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
    if llm_config is not None:
        if not llm_config.is_file():
            raise InvalidInput(f"--config: no such file: {llm_config}")
        overrides["llm_config"] = str(llm_config)
    names = suite_names or sorted(suites())
    results = [run_suite(name, overrides) for name in names]
    report = write_report(results)
    if as_json:
        emit_json({"suites": results, "report": str(report)})
        return
    for result in results:
        table(f"suite {result['name']}", ["metric", "value"], [[k, v] for k, v in result["metrics"].items()])
    stderr.print(f"report: {report}")


@app.command("demo")
def demo(
    scale: Annotated[float, typer.Option("--scale", min=0.01, max=20.0, help="traffic volume multiplier")] = 1.0,
    as_json: JsonFlag = False,
) -> None:
    """What `make demo` runs: a demo org, 30 days of synthetic traffic, and the spend summary."""
    from api.demo import run_demo

    run_demo(as_json=as_json, scale=scale)


def main() -> None:
    try:
        app()
    except TokentraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
