"""The anomaly explainer: from an anomaly and its drivers to a short causal explanation with the queries behind it.

Facts come from read-only SQL queries over the org's `usage_events` view, run through `run_sql` (logged,
org-scoped) and listed with every fact:

- `slice`: the slice (the anomaly's top driver) in the window against its baseline: the same clock hours on the
  7 days before (a window of a day or more: the 7 days before it). Volume, tokens per call, cost, retries
  (attempt > 1) and error rate, the org's extra spend, and the change factors, all computed in SQL.
- `since`: the slice's hourly spend (errors, for an error-rate anomaly) from 24 hours before the window, against
  the usual spend of the same hour of day over the 7 days before; the first hour that left its baseline.
- `locate` (only when the anomaly names no driver or scope): the provider, model, feature, team or project value
  that explains most of the org's excess (spend, or errors for an error-rate anomaly), by specificity.
- `models`: the slice's model mix (share of calls per model) in the window and the baseline.

The template writes the explanation from those facts; with a model, the model writes the prose and every number
in it must be a fact (agents/answer.py's groundedness check), else it is asked again and then the template is used.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from agents.answer import Answer, Figure, PeriodOut, money_value, ungrounded, usd
from agents.draft import dimension_name
from core.db import Database
from core.detectors.drivers import specificity_score
from core.routing.llm import OutputRejected
from tools.base import iso, quote
from tools.sql import run_sql

DIMENSIONS = ("feature", "user_id", "model", "team", "project", "provider")
LOCATE = ("provider", "model", "feature", "team", "project")  # where an org-wide anomaly is looked for
BASELINE_DAYS = 7
LEAD_HOURS = 24  # how far before the window the "since when" search looks
LEFT_FACTOR = 1.5  # an hour left its baseline when it is at least this many times the usual
CHANGE_UP, CHANGE_DOWN = 1.3, 0.7  # a factor outside [0.7, 1.3] is a change worth naming
MIN_EXCESS_SHARE = 0.25
MIX_POINTS = 10.0  # a model whose share of calls moved this many points changed the mix
HOUR = timedelta(hours=1)


class Fact(BaseModel):
    label: str
    value: float | str
    unit: str  # USD | percent | requests | requests_per_hour | tokens_per_call | factor | time | count
    query: str


class ExplainerReply(BaseModel):
    explanation: str


@dataclass(frozen=True)
class Slice:
    dimension: str | None  # None: the whole org
    value: str | None

    @property
    def label(self) -> str:
        return "the whole org" if self.dimension is None else f"{dimension_name(self.dimension)} {self.value}"

    def sql(self) -> str:
        if self.dimension is None:
            return "TRUE"
        if self.value is None:
            return f"{self.dimension} IS NULL"
        return f"{self.dimension} = {quote(self.value)}"


@dataclass
class Facts:
    slice: Slice
    start: datetime
    end: datetime
    facts: list[Fact] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    rows: dict[str, Any] = field(default_factory=dict)  # the `slice` query's row
    since: datetime | None = None
    mix: dict[str, Any] | None = None  # the model whose share moved most: model, window/baseline share

    def add(self, label: str, value: Any, unit: str, query: str) -> None:
        if value is None:
            return
        shown = value if isinstance(value, str) else (money_value(float(value)) if unit == "USD" else float(value))
        self.facts.append(Fact(label=label, value=shown, unit=unit, query=query))

    def value(self, label: str) -> Any:
        return next((f.value for f in self.facts if f.label == label), None)

    def names(self) -> list[str]:
        found = [self.slice.value or ""]
        if self.mix:
            found.append(str(self.mix["model"]))
        return found


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def slice_of(anomaly: dict[str, Any]) -> Slice:
    """The slice the explanation is about: the top driver, else the first driver, else the anomaly's scope."""
    for item in (anomaly.get("top_driver"), *(anomaly.get("drivers") or [])):
        if isinstance(item, dict) and item.get("dimension") in DIMENSIONS:
            return Slice(str(item["dimension"]), None if item.get("value") is None else str(item["value"]))
    for dimension, value in (anomaly.get("scope") or {}).items():
        if dimension in DIMENSIONS:
            return Slice(dimension, str(value))
    return Slice(None, None)


def baseline_ranges(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The same clock hours on the 7 days before (windows under a day), else the 7 days before the window."""
    day = timedelta(days=1)
    if end - start < day:
        return [(start - k * day, end - k * day) for k in range(1, BASELINE_DAYS + 1)]
    return [(start - BASELINE_DAYS * day, start)]


def _between(start: datetime, end: datetime) -> str:
    return f"(timestamp >= {quote(iso(start))} AND timestamp < {quote(iso(end))})"


def slice_sql(sl: Slice, start: datetime, end: datetime) -> str:
    ranges = baseline_ranges(start, end)
    w, b, s = _between(start, end), "(" + " OR ".join(_between(a, z) for a, z in ranges) + ")", sl.sql()
    wh = f"{(end - start) / HOUR:.1f}"
    bh = f"{sum(((z - a) / HOUR for a, z in ranges), 0.0):.1f}"

    def total(cond: str, expr: str = "1") -> str:
        return f"sum(CASE WHEN {cond} THEN {expr} ELSE 0 END)"

    tokens = "input_tokens + output_tokens"
    return f"""WITH s AS (
SELECT {total(f"{w} AND {s}")} AS w_n, {total(f"{b} AND {s}")} AS b_n,
  {total(f"{w} AND {s}", tokens)} AS w_tokens, {total(f"{b} AND {s}", tokens)} AS b_tokens,
  {total(f"{w} AND {s}", "coalesce(cost, 0)")} AS w_cost, {total(f"{b} AND {s}", "coalesce(cost, 0)")} AS b_cost,
  {total(w, "coalesce(cost, 0)")} AS w_org_cost, {total(b, "coalesce(cost, 0)")} AS b_org_cost,
  {total(f"{w} AND {s} AND attempt > 1")} AS w_retries, {total(f"{b} AND {s} AND attempt > 1")} AS b_retries,
  {total(f"{w} AND {s} AND status <> 'success'")} AS w_errors,
  {total(f"{b} AND {s} AND status <> 'success'")} AS b_errors
FROM usage_events WHERE {w} OR {b})
SELECT w_n AS requests, round(w_n / {wh}, 1) AS requests_per_hour, round(b_n / {bh}, 1) AS usual_requests_per_hour,
  round((w_n / {wh}) / nullif(b_n / {bh}, 0), 2) AS volume_factor,
  round(w_tokens / nullif(w_n, 0), 1) AS tokens_per_call, round(b_tokens / nullif(b_n, 0), 1) AS usual_tokens_per_call,
  round((w_tokens / nullif(w_n, 0)) / nullif(b_tokens / nullif(b_n, 0), 0), 2) AS tokens_per_call_factor,
  round(w_cost, 4) AS cost, round(b_cost * {wh} / {bh}, 4) AS usual_cost,
  round(w_cost - b_cost * {wh} / {bh}, 4) AS extra_cost,
  round(100 * (w_cost - b_cost * {wh} / {bh}) / nullif(w_org_cost - b_org_cost * {wh} / {bh}, 0), 1)
    AS share_of_org_extra,
  round(100.0 * w_retries / nullif(w_n, 0), 1) AS retry_rate, round(100.0 * b_retries / nullif(b_n, 0), 1)
    AS usual_retry_rate,
  round(100.0 * w_errors / nullif(w_n, 0), 1) AS error_rate, round(100.0 * b_errors / nullif(b_n, 0), 1)
    AS usual_error_rate
FROM s"""


def since_sql(sl: Slice, start: datetime, end: datetime, *, errors: bool) -> str:
    lead = start - LEAD_HOURS * HOUR
    first = lead - BASELINE_DAYS * timedelta(days=1)
    measure = "sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END)" if errors else "sum(coalesce(cost, 0))"
    return f"""WITH h AS (
SELECT date_trunc('hour', timestamp) AS hour, {measure} AS amount FROM usage_events
WHERE {sl.sql()} AND {_between(first, end)} GROUP BY 1),
u AS (SELECT extract(hour FROM hour) AS hod, sum(amount) / {BASELINE_DAYS} AS usual FROM h
WHERE hour < {quote(iso(lead))} GROUP BY 1)
SELECT h.hour, round(h.amount, 4) AS amount, round(coalesce(u.usual, 0), 4) AS usual
FROM h LEFT JOIN u ON u.hod = extract(hour FROM h.hour) WHERE h.hour >= {quote(iso(lead))} ORDER BY 1"""


def mix_sql(sl: Slice, start: datetime, end: datetime) -> str:
    w = _between(start, end)
    b = "(" + " OR ".join(_between(a, z) for a, z in baseline_ranges(start, end)) + ")"
    wn, bn = f"sum(CASE WHEN {w} THEN 1 ELSE 0 END)", f"sum(CASE WHEN {b} THEN 1 ELSE 0 END)"
    return f"""SELECT model, {wn} AS window_requests, {bn} AS baseline_requests,
  round(100.0 * {wn} / nullif(sum({wn}) OVER (), 0), 1) AS window_share,
  round(100.0 * {bn} / nullif(sum({bn}) OVER (), 0), 1) AS baseline_share
FROM usage_events WHERE {sl.sql()} AND ({w} OR {b}) GROUP BY model ORDER BY window_requests DESC"""


_SLICE_FACTS = (
    ("requests", "requests", "requests"),
    ("requests per hour", "requests_per_hour", "requests_per_hour"),
    ("usual requests per hour", "usual_requests_per_hour", "requests_per_hour"),
    ("volume factor", "volume_factor", "factor"),
    ("tokens per call", "tokens_per_call", "tokens_per_call"),
    ("usual tokens per call", "usual_tokens_per_call", "tokens_per_call"),
    ("tokens per call factor", "tokens_per_call_factor", "factor"),
    ("cost", "cost", "USD"),
    ("usual cost", "usual_cost", "USD"),
    ("extra cost", "extra_cost", "USD"),
    ("share of the org's extra spend", "share_of_org_extra", "percent"),
    ("retry rate", "retry_rate", "percent"),
    ("usual retry rate", "usual_retry_rate", "percent"),
    ("error rate", "error_rate", "percent"),
    ("usual error rate", "usual_error_rate", "percent"),
)


def locate_sql(start: datetime, end: datetime, *, errors: bool) -> str:
    """Per value of each dimension: the measure in the window and in the baseline (for an org-wide anomaly)."""
    w = _between(start, end)
    b = "(" + " OR ".join(_between(a, z) for a, z in baseline_ranges(start, end)) + ")"
    measure = "CASE WHEN status <> 'success' THEN 1 ELSE 0 END" if errors else "coalesce(cost, 0)"
    parts = [f"SELECT '{d}' AS dimension, {d} AS value, sum(CASE WHEN {w} THEN {measure} ELSE 0 END) AS in_window, "
             f"sum(CASE WHEN {b} THEN {measure} ELSE 0 END) AS in_baseline FROM usage_events WHERE {w} OR {b} "
             f"GROUP BY {d}" for d in LOCATE]  # fmt: skip
    return "\nUNION ALL\n".join(parts)


def locate(rows: list[dict[str, Any]], start: datetime, end: datetime) -> Slice | None:
    """The value that explains most of the org's excess (core.detectors.drivers.specificity_score)."""
    ranges = baseline_ranges(start, end)
    scale = ((end - start) / HOUR) / sum(((z - a) / HOUR for a, z in ranges), 0.0)
    best: tuple[float, Slice] | None = None
    for dimension in LOCATE:
        values = [r for r in rows if r["dimension"] == dimension]
        excess = sum(float(r["in_window"]) - float(r["in_baseline"]) * scale for r in values)
        base = sum(float(r["in_baseline"]) for r in values)
        if excess <= 0:
            return None
        for r in values:
            share = (float(r["in_window"]) - float(r["in_baseline"]) * scale) / excess
            score = specificity_score(min(share, 1.0), float(r["in_baseline"]) / base if base else 0.0)
            if r["value"] is not None and (best is None or score > best[0] + 1e-9):
                best = (score, Slice(dimension, str(r["value"])))
    return None if best is None or best[0] <= 0 else best[1]


def gather_facts(db: Database, *, org_id: uuid.UUID, anomaly: dict[str, Any]) -> Facts:
    """Run the queries for the anomaly's slice and window; every fact carries its query."""
    start, end = _moment(anomaly["window"]["start"]), _moment(anomaly["window"]["end"])
    facts = Facts(slice_of(anomaly), start, end)
    context = {"anomaly_id": str(anomaly.get("id") or "")}
    errors = anomaly.get("metric") == "error_rate"

    def run(sql: str) -> list[dict[str, Any]]:
        result = run_sql(db, org_id=org_id, sql=sql, agent="explainer", context=context)
        facts.queries.append(result.sql)
        return result.rows

    if facts.slice.dimension is None:  # no driver: find the slice that explains most of it
        found = locate(run(locate_sql(start, end, errors=errors)), start, end)
        if found is not None:
            facts.slice = found
            facts.add("slice", found.label, "name", facts.queries[-1])
    sl = facts.slice
    row = run(slice_sql(sl, start, end))[0]
    query = facts.queries[-1]
    facts.rows = row
    for label, column, unit in _SLICE_FACTS:
        facts.add(label, row.get(column), unit, query)
    hours = run(since_sql(sl, start, end, errors=errors))
    facts.since = first_hour_out(hours, start, end)
    if facts.since is not None:
        facts.add("first hour above baseline", iso(facts.since), "time", facts.queries[-1])
    if sl.dimension != "model":
        facts.mix = _mix(facts, run(mix_sql(sl, start, end)))
    return facts


def first_hour_out(hours: list[dict[str, Any]], start: datetime, end: datetime) -> datetime | None:
    """The first hour of the run of hours above baseline that reaches the window (or the first one inside it).
    Above baseline: at least 1.5 times the usual amount of that hour of day, and above it by at least a quarter
    of the window's mean excess per hour (so a sparse slice's noise does not count)."""
    rows = [(_moment(h["hour"]), float(h["amount"]), float(h["usual"])) for h in hours]
    inside = [(a, u) for hour, a, u in rows if start <= hour < end]
    excess = sum(a - u for a, u in inside) / max((end - start) / HOUR, 1.0)
    above = {hour for hour, a, u in rows if a > 0 and a >= LEFT_FACTOR * u and a - u >= MIN_EXCESS_SHARE * excess}
    later = sorted(hour for hour in above if hour >= start)
    if not later:
        return None
    first = later[0]
    while first - HOUR in above:
        first -= HOUR
    return first


def _mix(facts: Facts, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if len(rows) < 2:
        return None
    moved = max(rows, key=lambda r: (abs(float(r["window_share"] or 0) - float(r["baseline_share"] or 0)), r["model"]))
    change = float(moved["window_share"] or 0) - float(moved["baseline_share"] or 0)
    if abs(change) < MIX_POINTS:
        return None
    query = facts.queries[-1]
    facts.add(f"model {moved['model']} share of calls", moved["window_share"] or 0.0, "percent", query)
    facts.add(f"model {moved['model']} usual share of calls", moved["baseline_share"] or 0.0, "percent", query)
    return {"model": moved["model"], "window": float(moved["window_share"] or 0),
            "baseline": float(moved["baseline_share"] or 0)}  # fmt: skip


# --- writing ---------------------------------------------------------------------------------------------------


def _num(value: Any, decimals: int = 1) -> str:
    return f"{float(value):,.{decimals}f}"


def _when(moment: datetime) -> str:
    return iso(moment)[:16].replace("T", " ")


def _moved(factor: Any) -> bool:
    return factor is not None and (float(factor) >= CHANGE_UP or 0 < float(factor) <= CHANGE_DOWN)


def _changes(f: Facts, *, errors_first: bool = False) -> list[str]:
    r, found, failures = f.rows, [], []
    if _moved(r.get("tokens_per_call_factor")):
        verb = "rose" if float(r["tokens_per_call_factor"]) > 1 else "fell"
        found.append(f"tokens per call {verb} from {_num(r['usual_tokens_per_call'])} to "
                     f"{_num(r['tokens_per_call'])} ({_num(r['tokens_per_call_factor'], 2)} times)")  # fmt: skip
    if _moved(r.get("volume_factor")):
        verb = "rose" if float(r["volume_factor"]) > 1 else "fell"
        found.append(
            f"request volume {verb} from {_num(r['usual_requests_per_hour'])} to "
            f"{_num(r['requests_per_hour'])} calls per hour ({_num(r['volume_factor'], 2)} times)"
        )
    if f.mix:
        found.append(f"model mix shifted: model {f.mix['model']} went from {_num(f.mix['baseline'])}% to "
                     f"{_num(f.mix['window'])}% of its calls")  # fmt: skip
    for name, key in (("retries (attempt > 1)", "retry_rate"), ("the error rate", "error_rate")):
        now, usual = r.get(key), r.get(f"usual_{key}")
        if now is not None and usual is not None and float(now) >= max(5.0, 2 * float(usual)):
            failures.append(f"{name} went from {_num(usual)}% to {_num(now)}% of calls")
    return [*failures, *found] if errors_first else [*found, *failures]


def template(f: Facts, *, metric: str = "cost") -> str:
    """The deterministic explanation: which slice, since when, what changed (every number a fact)."""
    r = f.rows
    parts = [f"{f.slice.label.capitalize() if f.slice.dimension is None else f.slice.label} is where this anomaly "
             f"happened: it cost {usd(float(r['cost'] or 0))} from {_when(f.start)} to {_when(f.end)} UTC against "
             f"a usual {usd(float(r['usual_cost'] or 0))} for the same hours"]  # fmt: skip
    share = r.get("share_of_org_extra")
    if (
        f.slice.dimension is not None
        and share is not None
        and float(r["extra_cost"] or 0) > 0
        and metric != "error_rate"
    ):
        parts[0] += f", {_num(share)}% of the org's extra spend"
    parts[0] += "."
    if f.since is not None:
        parts.append(f"It left its baseline at {_when(f.since)} UTC.")
    changes = _changes(f, errors_first=metric == "error_rate")
    if changes:
        text = "What changed: " + "; ".join(changes)
        if not _moved(r.get("volume_factor")) and r.get("requests_per_hour") is not None:
            text += (f", while request volume held at {_num(r['requests_per_hour'])} calls per hour "
                     f"(usually {_num(r['usual_requests_per_hour'])})")  # fmt: skip
        parts.append(text + ".")
    else:
        parts.append("No single change in volume, tokens per call, model mix or retries stands out.")
    return " ".join(parts)


def ungrounded_numbers(text: str, facts: Facts) -> list[str]:
    """The numbers in `text` that are not facts (agents/answer.py's check, the facts as figures)."""
    figures = [Figure(label=x.label, value=float(x.value), unit=x.unit) for x in facts.facts
               if not isinstance(x.value, str)]  # fmt: skip
    for name in sorted({n for n in facts.names() if n}, key=len, reverse=True):
        text = text.replace(name, " ")
    answer = Answer(answer=text, period=PeriodOut(start=iso(facts.start), end=iso(facts.end)), figures=figures)
    return ungrounded(answer)


def make_check(facts: Facts) -> Any:
    """The check a model's explanation passes: numbers that are facts only, and the slice named."""

    def check(reply: Any) -> None:
        text = reply.explanation if isinstance(reply, ExplainerReply) else ""
        if not text.strip():
            raise OutputRejected("the explanation is empty")
        loose = ungrounded_numbers(text, facts)
        if loose:
            raise OutputRejected(f"numbers that are not among the facts: {', '.join(loose)}")
        if facts.slice.value and facts.slice.value not in text:
            raise OutputRejected(f"name the slice: {facts.slice.label}")

    return check


def prompt_payload(anomaly: dict[str, Any], facts: Facts, draft: str) -> str:
    summary = {k: anomaly.get(k) for k in ("type", "severity", "metric", "scope", "window")}
    listed = [{"label": x.label, "value": x.value, "unit": x.unit} for x in facts.facts]
    return (f"<anomaly>{json.dumps(summary, default=str)}</anomaly>\n<slice>{facts.slice.label}</slice>\n"
            f"<facts>{json.dumps(listed)}</facts>\n<draft>{draft}</draft>")  # fmt: skip
