"""Track endpoint throughput: `POST /api/sdk/v1/track` with 1,000-event batches against a real server.

Target (issue 6): ≥ 30,000 events/s on this machine. The suite starts `uvicorn api.app:create_app` on a
loopback port against the configured database (TOKENTRA_DATABASE_URL, else the embedded one), makes a
fresh org with an ingest key, pre-encodes the batches (client-side JSON is not what we measure) and posts
them from `clients` threads over keep-alive connections. Reported: events/s over the timed batches, the
p50/p95 request latency, and a check that every event was stored exactly once (a second pass of the same
batches must come back as duplicates only).
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from evals.harness import Metrics, suite
from evals.suite_evaluators import TRACK_TARGETS, check_targets

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("gemini", "gemini-2.5-flash"), ("openai", "text-embedding-3-small")]  # fmt: skip


def make_batches(count: int, size: int, *, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    tag = uuid.uuid4().hex[:8]
    batches = []
    for b in range(count):
        events = []
        for i in range(size):
            provider, model = rng.choice(MODELS)
            prompt = rng.randint(100, 8_000)
            events.append({
                "request_id": f"trk-{tag}-{b}-{i}", "provider": provider, "model": model,
                "timestamp": (start + timedelta(seconds=b * size + i)).isoformat().replace("+00:00", "Z"),
                "input_tokens": prompt, "output_tokens": rng.randint(10, 1_500),
                "cache_read_tokens": rng.choice((0, 0, prompt // 2)), "team": rng.choice(("search", "ml", "growth")),
                "feature": f"feature-{rng.randint(1, 20)}", "user_id": f"user-{rng.randint(1, 500)}",
                "environment": "production", "latency_ms": rng.randint(100, 5_000),
            })  # fmt: skip
        batches.append(orjson.dumps({"events": events}))
    return batches


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(workers: int) -> Iterator[tuple[str, int]]:
    """`uvicorn api.app:create_app` on a free loopback port; yields its base URL and pid."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, …); None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_of(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children (Linux /proc)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        if fields is not None and (int(entry) == root or int(fields[1]) == root):
            total += _cpu_of(fields)
    return total


def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) one process has used so far; None once it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else _cpu_of(fields)


def _track_backends_cpu() -> dict[int, float]:
    """CPU seconds so far of each Postgres backend of the track endpoint's pool (its application_name).

    Only those backends: other sessions on the same server (and backends that come and go) must not count.
    Readable only when Postgres runs on this machine (the embedded one); otherwise empty."""
    from sqlalchemy import text

    from core.db import get_database
    from core.usage.track_store import APPLICATION_NAME

    with get_database().engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                            {"name": APPLICATION_NAME}).scalars().all()  # fmt: skip
    found = {pid: _cpu_seconds(pid) for pid in pids}
    return {pid: cpu for pid, cpu in found.items() if cpu is not None}


def _backends_cpu_used(before: dict[int, float], after: dict[int, float]) -> float | None:
    """CPU the pool's backends used between two readings (a backend opened meanwhile started from zero)."""
    if not after:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _ingest_key() -> tuple[uuid.UUID, str]:
    from core.db import get_database
    from core.orgs.service import create_org, issue_key

    db = get_database()
    with db.session() as session:
        org = create_org(session, slug=f"bench-track-{uuid.uuid4().hex[:8]}")
        return org.id, issue_key(session, org_id=org.id, role="member", scope="ingest").secret


def post_all(url: str, key: str, batches: list[bytes], clients: int) -> tuple[float, list[float], dict[str, int]]:
    """Post every batch from `clients` threads; (seconds, request latencies, summed counts)."""
    todo = iter(range(len(batches)))
    lock = threading.Lock()
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def work() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            while True:
                with lock:
                    index = next(todo, None)
                if index is None:
                    return
                started = time.perf_counter()
                response = client.post("/api/sdk/v1/track", content=batches[index])
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                body = response.json()
                with lock:
                    latencies.append(elapsed)
                    totals["accepted"] += body["accepted"]
                    totals["duplicates"] += body["duplicates"]
                    totals["rejected"] += len(body["rejected"])

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, totals


@suite("track", about="POST /api/sdk/v1/track throughput, 1,000-event batches (target ≥ 30,000 events/s)",
       batches=60, batch_size=1000, clients=4, workers=1, warmup=5)  # fmt: skip
def track_suite(config: dict[str, Any]) -> Metrics:
    size, count, warmup = int(config["batch_size"]), int(config["batches"]), int(config["warmup"])
    _, key = _ingest_key()
    batches = make_batches(count + warmup, size)
    with serve(int(config["workers"])) as (url, pid):
        post_all(url, key, batches[:warmup], 1)
        api_start, pg_start = _process_tree_cpu(pid), _track_backends_cpu()
        seconds, latencies, totals = post_all(url, key, batches[warmup:], int(config["clients"]))
        api_cpu = _process_tree_cpu(pid) - api_start
        pg_cpu = _backends_cpu_used(pg_start, _track_backends_cpu())
        _, _, again = post_all(url, key, batches[warmup:], int(config["clients"]))
    events = count * size
    ordered = sorted(latencies)
    metrics: Metrics = {
        "events": events,
        "events_per_second": round(events / seconds),
        "target_events_per_second": 30_000,
        # CPU used per event does not depend on what else runs on the machine: on 2 idle cores the API
        # process and Postgres can each use one, so min(api, postgres) events per CPU-second bounds the rate.
        "api_events_per_cpu_second": round(events / api_cpu) if api_cpu else None,
        "postgres_events_per_cpu_second": round(events / pg_cpu) if pg_cpu else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "request_p50_ms": round(statistics.median(ordered) * 1000, 1),
        "request_p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "accepted": totals["accepted"],
        "rejected": totals["rejected"],
        "second_pass_duplicates": again["duplicates"],
        "second_pass_accepted": again["accepted"],
        "exactly_once": totals["accepted"] == events and again["duplicates"] == events and again["accepted"] == 0,
    }
    metrics["failures"] = check_targets(metrics, TRACK_TARGETS)
    return metrics
