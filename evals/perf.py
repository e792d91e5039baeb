"""Performance suite: ingest throughput and memory, cost-breakdown latency on many events, and (opt-in)
the gateway's overhead and the nightly run's time, each against its issue's target.

Targets: ingest ≥ 100,000 events/s; breakdown by model or feature over 30 days with 10M events stored:
p95 ≤ 150 ms; ingest peak memory independent of file size (data plane). Gateway overhead at 200 req/s
p50 ≤ 2 ms, p99 ≤ 10 ms (`--set gateway_seconds=10`, the gateway suite's measurement); nightly run of a
1M-event org ≤ 60 s (`--set nightly_events=1000000`, the agents suite's measurement). `failures` names
every target missed.
"""

from __future__ import annotations

import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from evals.harness import Metrics, suite
from evals.suite_evaluators import PERF_TARGETS, check_targets

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.5-flash"), ("openai", "gpt-5"),
          ("openai", "text-embedding-3-small"), ("deepseek", "deepseek-chat")]  # fmt: skip
TEAMS = ["search", "support", "growth", "ml", "platform"]


def write_events(path: Path, count: int, *, seed: int = 1, days: int = 30) -> None:
    """A realistic mix of events over `days` days, for loading benchmarks."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    step = days * 86_400 / count
    with path.open("wb") as out:
        for i in range(count):
            provider, model = rng.choice(MODELS)
            prompt = rng.randint(100, 8_000)
            event = {
                "request_id": f"bench-{seed}-{i:010d}", "provider": provider, "model": model,
                "timestamp": (start + timedelta(seconds=i * step)).isoformat().replace("+00:00", "Z"),
                "input_tokens": prompt, "output_tokens": rng.randint(10, 1_500),
                "cache_read_tokens": rng.choice((0, 0, prompt // 2)), "team": rng.choice(TEAMS),
                "feature": f"feature-{rng.randint(1, 20)}", "user_id": f"user-{rng.randint(1, 500)}",
                "environment": "production", "task_type": "question_answering",
                "latency_ms": rng.randint(100, 5_000), "trace_id": f"t{i}",
            }  # fmt: skip
            out.write(orjson.dumps(event) + b"\n")


def _cli(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "api.cli", *args, "--json"], capture_output=True, check=True)
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def _ingest_run(count: int, folder: Path) -> tuple[float, int]:
    """(events per second, peak RSS in MB of the ingest process) for a fresh org and file of `count` events."""
    path = folder / f"events-{count}.jsonl"
    write_events(path, count, seed=count)
    slug = f"bench-{uuid.uuid4().hex[:10]}"
    _cli("org", "create", "--slug", slug)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = _cli("ingest", str(path), "--org", slug)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    path.unlink()
    assert result["accepted"] == count, result
    return count / elapsed, max(peak, before) // 1024


@suite("perf", about="ingest events/s and memory; costs p95 on many events; opt-in gateway overhead, nightly time",
       ingest_events=1_000_000, query_events=10_000_000, query_runs=30,
       gateway_seconds=0, nightly_events=0)  # fmt: skip
def perf(config: dict[str, Any]) -> Metrics:
    metrics: Metrics = {}
    if int(config["ingest_events"]) > 0:
        metrics.update(ingest_figures(int(config["ingest_events"])))
    if int(config["query_events"]) > 0:
        metrics.update(query_latency(int(config["query_events"]), int(config["query_runs"])))
    if float(config["gateway_seconds"]) > 0:
        metrics.update(gateway_overhead(float(config["gateway_seconds"])))
    if int(config["nightly_events"]) > 0:
        metrics.update(nightly_time(int(config["nightly_events"])))
    metrics["failures"] = check_targets(metrics, PERF_TARGETS)
    return metrics


def ingest_figures(events: int) -> Metrics:
    """Events/s and peak memory of `tokentra ingest` on a file of `events` and on one a quarter that size."""
    with tempfile.TemporaryDirectory(prefix="tt-perf-") as tmp:
        folder = Path(tmp)
        small = max(events // 4, min(events, 250_000))
        small_rate, small_rss = _ingest_run(small, folder)
        rate, rss = _ingest_run(events, folder)
    return {
        "ingest_events_per_s": round(rate),
        "ingest_events_per_s_small_file": round(small_rate),
        "ingest_peak_rss_mb_small_file": small_rss,
        "ingest_peak_rss_mb": rss,
        "ingest_events_target": 100_000,
    }


def gateway_overhead(seconds: float) -> Metrics:
    """The gateway suite's overhead figures (200 req/s, cache miss, vs the same upstream called directly)."""
    from evals.harness import suites

    gateway = suites()["gateway"]
    found = gateway.run({**gateway.defaults, "seconds": seconds})
    return {key: found[key] for key in ("gateway_overhead_p50_ms", "gateway_overhead_p99_ms") if key in found}


def nightly_time(events: int) -> Metrics:
    """The nightly run's seconds for a synthetic org of about `events` events (the agents suite's measurement)."""
    from core.db import get_database
    from core.schema import ensure_schema
    from evals.nightly_perf import nightly_seconds

    db = get_database()
    ensure_schema(db)
    found = nightly_seconds(db, events=events)
    return {key: found[key] for key in ("nightly_events", "nightly_seconds", "detectors_seconds") if key in found}


def query_latency(events: int, runs: int) -> Metrics:
    """p50/p95 of 30-day breakdowns by model and by feature for an org with `events` stored events."""
    from core.db import get_database
    from core.schema import ensure_schema
    from core.usage.queries import CostQuery, cost_breakdown
    from evals.bulk import bulk_org

    db = get_database()
    ensure_schema(db)
    org_id, start, end = bulk_org(db, events)
    timings: dict[str, list[float]] = {"model": [], "feature": []}
    with db.engine.connect() as conn:
        for _ in range(runs):
            for dim in timings:
                query = CostQuery(org_id=org_id, start=start, end=end, group_by=(dim,))
                began = time.perf_counter()
                cost_breakdown(conn, query)
                timings[dim].append((time.perf_counter() - began) * 1000)
    result: Metrics = {"query_events": events}
    for dim, values in timings.items():
        result[f"costs_by_{dim}_p50_ms"] = round(statistics.median(values), 1)
        result[f"costs_by_{dim}_p95_ms"] = round(statistics.quantiles(values, n=20)[-1], 1)
    result["costs_p95_target_ms"] = 150
    return result
