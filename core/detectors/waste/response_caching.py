"""Response caching: the same prompt (prompt_hash) sent to the same model again while a cached answer would
still be fresh.

Over successful, non-streaming calls of one (prompt_hash, provider, model), in time order: a call becomes the
cached answer unless one is fresh (made less than `TTL_SECONDS` earlier); a call while one is fresh is a
repeat the cache would have served. Calls within `DUPLICATE_SECONDS` of the previous identical call are left
to the deduplication detector (they are in flight together; a cache cannot serve them).
Savings = Σ cost of the repeats, at the prices they were billed at.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from core.detectors.waste.base import ORG_WINDOW, ZERO, DetectorContext, Draft, Finding, finish, money, scope_of

TTL_SECONDS = 3_600.0
DUPLICATE_SECONDS = 5.0
MIN_REPEATS = 20
MIN_REPEAT_SHARE = 0.05  # of the scope's cacheable calls

_CACHEABLE = (
    f"{ORG_WINDOW} AND e.prompt_hash IS NOT NULL AND e.status = 'success' AND e.streaming IS NOT TRUE AND e.cost > 0"
)

# The prompt key (prompt_hash, provider, model) as one 64-bit number.
KEY_HASH = "hashtextextended(concat_ws('/', e.prompt_hash, e.provider, e.model), 0)"

# Only prompts sent at least twice can repeat, and a call within DUPLICATE_SECONDS of the previous identical one
# is the deduplication detector's: both are filtered here, in the database, not in Python. The repeated prompts
# are found by KEY_HASH (a hash table of 8-byte keys, not of the texts) and MATERIALIZED (once, not again in every
# parallel worker scanning the calls); `sent` drops a call let through by a hash collision (sent once).
REPEATS_SQL = f"""
WITH repeated AS MATERIALIZED (
    SELECT {KEY_HASH} AS key
    FROM usage_events e
    WHERE {_CACHEABLE}
    GROUP BY 1
    HAVING count(*) >= 2
),
calls AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.prompt_hash, e.request_id, e.timestamp, e.cost,
           extract(epoch FROM e.timestamp - lag(e.timestamp) OVER (
               PARTITION BY e.prompt_hash, e.provider, e.model ORDER BY e.timestamp)) AS gap_seconds,
           count(*) OVER (PARTITION BY e.prompt_hash, e.provider, e.model) AS sent
    FROM usage_events e
    WHERE {_CACHEABLE} AND {KEY_HASH} IN (SELECT key FROM repeated)
)
SELECT team, project, feature, provider, model, prompt_hash, request_id, timestamp, cost, gap_seconds
FROM calls
WHERE sent >= 2 AND (gap_seconds IS NULL OR gap_seconds >= :duplicate_seconds)
ORDER BY team, project, feature, provider, model, prompt_hash, timestamp, request_id
"""

SCOPE_CALLS_SQL = f"""
SELECT e.team, e.project, e.feature, e.provider, e.model, count(*) AS calls
FROM usage_events e
WHERE {_CACHEABLE}
GROUP BY e.team, e.project, e.feature, e.provider, e.model
"""

Scope = tuple[Any, ...]


def _classify(rows: list[dict[str, Any]], scope_calls: dict[Scope, int]) -> dict[Scope, dict[str, Any]]:
    """Per scope: cacheable calls, the repeats a TTL cache would have served, and their cost."""
    stats: dict[Scope, dict[str, Any]] = defaultdict(lambda: {"calls": 0, "repeats": [], "cost": ZERO})
    cached_at: dict[tuple[str, str, str], float] = {}
    for row in rows:
        scope = (row["team"], row["project"], row["feature"], row["provider"], row["model"])
        entry = stats[scope]
        entry["calls"] = scope_calls[scope]
        key = (row["prompt_hash"], row["provider"], row["model"])
        ts = row["timestamp"].timestamp()
        if key in cached_at and ts - cached_at[key] < TTL_SECONDS:
            entry["repeats"].append(row["request_id"])
            entry["cost"] += money(row["cost"])
        else:
            cached_at[key] = ts
    return stats


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(REPEATS_SQL, "Successful non-streaming calls of prompts sent more than once, in time order",
                       duplicate_seconds=DUPLICATE_SECONDS)  # fmt: skip
    counted = ctx.query(SCOPE_CALLS_SQL, "Successful non-streaming calls by scope")
    scope_calls = {(r["team"], r["project"], r["feature"], r["provider"], r["model"]): r["calls"] for r in counted.rows}
    findings = []
    for scope, entry in _classify(result.rows, scope_calls).items():
        repeats: list[str] = entry["repeats"]
        if len(repeats) < MIN_REPEATS or len(repeats) < MIN_REPEAT_SHARE * entry["calls"]:
            continue
        row = dict(zip(("team", "project", "feature", "provider", "model"), scope, strict=True))
        feature = row["feature"] or "(no feature)"
        share = len(repeats) / entry["calls"]
        savings: Decimal = entry["cost"]
        draft = Draft(
            type="response_caching",
            title=f"{feature} answers the same prompts again and again; a response cache would serve {share:.0%}",
            description=(
                f"{len(repeats)} of {entry['calls']} successful calls of {feature} on {row['model']} repeat a "
                f"prompt (same prompt_hash) answered less than {TTL_SECONDS / 3600:g} h before. A response cache "
                "with that TTL would serve them without calling the model."
            ),
            scope=scope_of(row),
            target={"response_cache": "exact", "ttl_seconds": int(TTL_SECONDS)},
            window_savings=savings,
            affected_requests=len(repeats),
            sample_request_ids=repeats,
            evidence=[result.evidence, counted.evidence],
            confidence=0.9,
            implementation_steps=[
                f"Enable the exact-match response cache for {feature} with a {int(TTL_SECONDS)} s TTL",
                "Key it on the prompt hash and model; bypass it for personalised prompts",
                "Monitor the hit rate and staleness complaints",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
