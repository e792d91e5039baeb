"""Gateway overhead: latency added over calling the same fake upstream directly, open loop at `rate` requests/s
on loopback, every request a cache miss (unique prompts); LiteLLM's own proxy measured on the same upstream in
the same run when its CLI is available (it needs `litellm[proxy]`, ~740 MB of dependencies: not part of the
default install; point TOKENTRA_EVAL_LITELLM_PROXY at its `litellm` executable).

Processes: the fake upstream (evals/fake_upstream.py), `uvicorn api.app:create_app` (what `tokentra serve`
runs) with TOKENTRA_GATEWAY_CONFIG pointing at the upstream, optionally `litellm --config`, and this process
as the load generator (httpx, asyncio). Targets are measured in interleaved rounds so drift hits them alike.
Overhead figures are differences of percentiles: p50(gateway) − p50(direct), p99(gateway) − p99(direct).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import orjson
import yaml

from evals.fake_upstream import free_port
from evals.harness import Metrics, suite

MODEL = "gpt-4o-mini"
_JSON = {"content-type": "application/json"}
_TIMEOUT = aiohttp.ClientTimeout(total=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes], *, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@contextmanager
def _process(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    process = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(ready_url, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _org_key() -> str:
    from core.db import get_database
    from core.orgs.service import create_org, issue_key
    from core.schema import ensure_schema

    db = get_database()
    ensure_schema(db)
    with db.session() as session:
        org = create_org(session, slug=f"eval-gateway-{uuid.uuid4().hex[:10]}")
        return issue_key(session, org_id=org.id, role="member").secret


async def _load(url: str, headers: dict[str, str], *, rate: float, seconds: float, tag: str) -> list[float]:
    """Open loop: request i is sent at start + i/rate (late ones at once); returns latencies in ms."""
    count = int(rate * seconds)
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=_TIMEOUT) as client:

        async def one(i: int) -> None:
            body = {
                "model": MODEL,
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"{tag} request {i} {uuid.uuid4().hex}"}],
            }
            started = time.perf_counter()
            try:
                async with client.post(url, data=orjson.dumps(body), headers=_JSON) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors.append(type(exc).__name__)
                return
            elapsed = (time.perf_counter() - started) * 1000
            if status == 200:
                latencies.append(elapsed)
            else:
                errors.append(str(status))

        for i in range(20):  # warm the connection pools
            await one(-i - 1)
        latencies.clear()
        errors.clear()
        start = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    if errors:
        print(f"{tag}: {len(errors)} failed: {sorted(set(errors))}", file=sys.stderr)
    return latencies


async def _sequential(url: str, headers: dict[str, str], *, count: int, tag: str) -> list[float]:
    """One request at a time (no queueing): the per-request cost, as DESIGN.md's figures were measured."""
    latencies = []
    async with aiohttp.ClientSession(headers=headers, timeout=_TIMEOUT) as client:
        for i in range(count + 20):
            body = {
                "model": MODEL,
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"{tag} one {i} {uuid.uuid4().hex}"}],
            }
            started = time.perf_counter()
            async with client.post(url, data=orjson.dumps(body), headers=_JSON) as response:
                await response.read()
                if response.status == 200 and i >= 20:
                    latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _report_sequential(results: dict[str, list[float]]) -> Metrics:
    stats = {name: _percentiles(values) for name, values in results.items()}
    metrics: Metrics = {}
    for name, values in stats.items():
        metrics[f"sequential_{name}_p50_ms"] = values["p50"]
        if name != "direct":
            metrics[f"sequential_{name}_overhead_p50_ms"] = round(values["p50"] - stats["direct"]["p50"], 3)
            metrics[f"sequential_{name}_overhead_p99_ms"] = round(values["p99"] - stats["direct"]["p99"], 3)
    return metrics


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "n": 0}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p99": round(float(np.percentile(array, 99)), 3),
        "n": len(values),
    }


def _litellm_proxy() -> str | None:
    configured = os.environ.get("TOKENTRA_EVAL_LITELLM_PROXY")
    if configured and Path(configured).exists():
        return configured
    return shutil.which("litellm") if _proxy_importable() else None


def _proxy_importable() -> bool:
    try:
        import backoff  # noqa: F401  (one of litellm[proxy]'s extras)
    except ModuleNotFoundError:
        return False
    return True


@suite(
    "gateway",
    about="gateway overhead over a direct call to the same upstream, vs LiteLLM's proxy",
    rate=200,
    seconds=10,
    rounds=2,
    sequential=300,
)
def gateway_suite(config: dict[str, Any]) -> Metrics:
    rate, seconds, rounds = float(config["rate"]), float(config["seconds"]), int(config["rounds"])
    folder = Path(tempfile.mkdtemp(prefix="tt-gw-eval-"))
    upstream_port, gateway_port, proxy_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    config_path = folder / "gateway.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": MODEL,
                        "litellm_params": {
                            "model": f"openai/{MODEL}",
                            "api_base": f"{upstream}/v1",
                            "api_key": "sk-fake",
                        },
                    }
                ]
            }
        )
    )
    key = _org_key()
    env = {"TOKENTRA_GATEWAY_CONFIG": str(config_path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proxy = _litellm_proxy()
    targets: dict[str, tuple[str, dict[str, str]]] = {
        "direct": (f"{upstream}/v1/chat/completions", {}),
        "gateway": (f"http://127.0.0.1:{gateway_port}/v1/chat/completions", {"authorization": f"Bearer {key}"}),
    }
    results: dict[str, list[float]] = {name: [] for name in targets}
    sequential: dict[str, list[float]] = {}
    python = sys.executable
    with (
        _process([python, "-m", "evals.fake_upstream", "--port", str(upstream_port)], f"{upstream}/v1/models"),
        _process(
            [
                python,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--port",
                str(gateway_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            f"http://127.0.0.1:{gateway_port}/healthz",
            env,
        ),
        _maybe_proxy(proxy, config_path, proxy_port, targets, results),
    ):
        for name, (url, headers) in targets.items():
            sequential[name] = asyncio.run(_sequential(url, headers, count=int(config["sequential"]), tag=name))
        for round_ in range(rounds):
            for name, (url, headers) in targets.items():
                results[name] += asyncio.run(_load(url, headers, rate=rate, seconds=seconds, tag=f"{name}{round_}"))
    shutil.rmtree(folder, ignore_errors=True)
    return {**_report(results, rate=rate, proxy=proxy), **_report_sequential(sequential)}


@contextmanager
def _maybe_proxy(
    proxy: str | None,
    config: Path,
    port: int,
    targets: dict[str, tuple[str, dict[str, str]]],
    results: dict[str, list[float]],
) -> Iterator[None]:
    if proxy is None:
        yield
        return
    args = [proxy, "--config", str(config), "--port", str(port), "--num_workers", "1"]
    master = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    env = {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": master, "PYTHONPATH": ""}
    with _process(args, f"http://127.0.0.1:{port}/health/liveliness", env):
        targets["litellm_proxy"] = (
            f"http://127.0.0.1:{port}/v1/chat/completions",
            {"authorization": f"Bearer {master}"},
        )
        results["litellm_proxy"] = []
        yield


def _report(results: dict[str, list[float]], *, rate: float, proxy: str | None) -> Metrics:
    stats = {name: _percentiles(values) for name, values in results.items()}
    direct = stats["direct"]
    metrics: Metrics = {"rate_rps": rate}
    for name, values in stats.items():
        metrics[f"{name}_p50_ms"], metrics[f"{name}_p99_ms"], metrics[f"{name}_ok"] = (
            values["p50"],
            values["p99"],
            values["n"],
        )
    for name in stats:
        if name != "direct":
            metrics[f"{name}_overhead_p50_ms"] = round(stats[name]["p50"] - direct["p50"], 3)
            metrics[f"{name}_overhead_p99_ms"] = round(stats[name]["p99"] - direct["p99"], 3)
    metrics["gateway_meets_p50_2ms"] = metrics["gateway_overhead_p50_ms"] <= 2.0
    metrics["gateway_meets_p99_10ms"] = metrics["gateway_overhead_p99_ms"] <= 10.0
    if "litellm_proxy" in stats:
        gateway, litellm = metrics["gateway_overhead_p50_ms"], metrics["litellm_proxy_overhead_p50_ms"]
        metrics["litellm_proxy_over_gateway_overhead_p50"] = round(litellm / gateway, 2) if gateway > 0 else None
    else:
        metrics["litellm_proxy"] = "not measured: litellm[proxy] not installed (TOKENTRA_EVAL_LITELLM_PROXY unset)"
    metrics["litellm_proxy_cli"] = proxy
    return metrics
