"""Small, fast slices of the measurement suites (perf, track): they run end to end, store every event exactly
once, and name each target they miss. Their speed figures are benchmarks (`tokentra eval --suite perf`), not
asserted here: a slice this small measures start-up, not throughput."""

from __future__ import annotations

from typing import Any

from evals.harness import run_suite


def _metrics(report: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = report["metrics"]
    return metrics


def test_perf_slice_ingests_every_event_and_names_missed_targets(db: Any) -> None:
    metrics = _metrics(run_suite("perf", {"ingest_events": 3_000, "query_events": 20_000, "query_runs": 3}))
    # _ingest_run asserts that every event of both files was accepted
    assert metrics["ingest_events_per_s"] > 0
    assert metrics["ingest_events_per_s_small_file"] > 0
    assert metrics["ingest_peak_rss_mb"] > 0
    assert metrics["costs_by_model_p95_ms"] > 0
    assert metrics["costs_by_feature_p95_ms"] > 0
    for failure in metrics["failures"]:
        name, _, comment = failure.partition(": ")
        assert name in metrics
        assert "misses the target" in comment
    # 3,000 events load in about a second, far below 100,000/s: the miss is reported, with the figure
    assert any(f.startswith("ingest_events_per_s: ") for f in metrics["failures"])


def test_track_slice_stores_every_event_exactly_once(db: Any) -> None:
    metrics = _metrics(run_suite("track", {"batches": 4, "batch_size": 200, "clients": 2, "warmup": 1}))
    assert metrics["accepted"] == 800
    assert metrics["rejected"] == 0
    assert metrics["second_pass_duplicates"] == 800
    assert metrics["second_pass_accepted"] == 0
    assert metrics["exactly_once"] is True
    assert metrics["api_events_per_cpu_second"] is not None
    assert metrics["postgres_events_per_cpu_second"] is not None  # the pool's own backends were found


def test_gateway_slice_measures_the_gateway_against_the_direct_call(db: Any) -> None:
    config = {"rate": 40, "seconds": 1, "rounds": 1, "sequential": 20, "install_proxy": False, "settle_seconds": 0}
    metrics = _metrics(run_suite("gateway", config))
    assert metrics["gateway_overhead_p50_ms"] is not None
    assert metrics["gateway_overhead_p99_ms"] is not None
    for failure in metrics["failures"]:
        assert failure.split(": ")[0] in metrics
