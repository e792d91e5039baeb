"""Gateway overhead: latency added over calling the same fake upstream directly, open loop at `rate` requests/s
on loopback, every request a cache miss (unique prompts); LiteLLM's own proxy measured on the same upstream in
the same run. The proxy needs `litellm[proxy]` (~740 MB of dependencies, not part of the default install); the
suite looks for its `litellm` executable in TOKENTRA_EVAL_LITELLM_PROXY, then in its own virtualenv under the
state folder (`<TOKENTRA_HOME>/litellm-proxy`), then on PATH, and when none is found installs it there from the
package index (`litellm[proxy]` at the version of our litellm; `--set install_proxy=false` skips that). When it
cannot be had the report says so (`litellm_proxy`: "not measured: …") instead of a figure.

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
from evals.suite_evaluators import PERF_TARGETS, check_targets

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
def _process(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # not Linux, or gone
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settle(processes: list[subprocess.Popen[bytes]], *, at_least: float, at_most: float = 60.0) -> None:
    """Wait until every server is idle (under 5% of a core over half a second): a target still working through
    its backlog (the LiteLLM proxy falls behind at 200 req/s) must not eat the CPU of the next one's round."""
    time.sleep(at_least)
    deadline = time.monotonic() + at_most
    while time.monotonic() < deadline:
        before = [_cpu_seconds(process.pid) for process in processes]
        time.sleep(0.5)
        after = [_cpu_seconds(process.pid) for process in processes]
        if all(b is None or a is None or a - b < 0.025 for b, a in zip(before, after, strict=True)):
            return


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


def _proxy_home() -> Path:
    from core.config import get_settings

    return Path(get_settings().home).resolve() / "litellm-proxy"


def _litellm_proxy(*, install: bool) -> tuple[str | None, str]:
    """(the proxy's `litellm` executable or None, where it came from or why it is missing)."""
    configured = os.environ.get("TOKENTRA_EVAL_LITELLM_PROXY")
    if configured:
        if Path(configured).exists():
            return configured, "TOKENTRA_EVAL_LITELLM_PROXY"
        return None, f"not measured: TOKENTRA_EVAL_LITELLM_PROXY={configured} does not exist"
    own = _proxy_home() / "bin" / "litellm"
    if own.exists():
        return str(own), str(own.parent.parent)
    on_path = shutil.which("litellm")
    if on_path and _proxy_importable():
        return on_path, "PATH"
    if not install:
        return (
            None,
            "not measured: litellm[proxy] not installed (install_proxy=false, TOKENTRA_EVAL_LITELLM_PROXY unset)",
        )
    return _install_proxy(own.parent.parent)


def _install_proxy(folder: Path) -> tuple[str | None, str]:
    """A virtualenv with `litellm[proxy]` at our litellm's version, from the package index (once per machine)."""
    from importlib.metadata import version

    requirement = f"litellm[proxy]=={version('litellm')}"
    print(f"gateway suite: installing {requirement} into {folder} (once)", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True, timeout=300)
        subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", requirement],
                       check=True, timeout=1800)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"not measured: installing {requirement} failed ({exc})"
    return str(folder / "bin" / "litellm"), f"installed {requirement} into {folder}"


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
    install_proxy=True,
    settle_seconds=1,
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
    proxy, proxy_source = _litellm_proxy(install=str(config["install_proxy"]).lower() not in ("false", "0", "no"))
    targets: dict[str, tuple[str, dict[str, str]]] = {
        "direct": (f"{upstream}/v1/chat/completions", {}),
        "gateway": (f"http://127.0.0.1:{gateway_port}/v1/chat/completions", {"authorization": f"Bearer {key}"}),
    }
    results: dict[str, list[float]] = {name: [] for name in targets}
    failures: dict[str, int] = {}
    rounds_p99: dict[str, list[float]] = {}
    sequential: dict[str, list[float]] = {}
    python = sys.executable
    with (
        _process([python, "-m", "evals.fake_upstream", "--port", str(upstream_port)], f"{upstream}/v1/models") as fake,
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
        ) as gateway,
        _maybe_proxy(proxy, config_path, proxy_port, targets, results) as litellm,
    ):
        servers = [fake, gateway, *([litellm] if litellm is not None else [])]
        for name, (url, headers) in targets.items():
            sequential[name] = asyncio.run(_sequential(url, headers, count=int(config["sequential"]), tag=name))
        for round_ in range(rounds):
            for name, (url, headers) in targets.items():
                latencies = asyncio.run(_load(url, headers, rate=rate, seconds=seconds, tag=f"{name}{round_}"))
                results[name] += latencies
                failures[name] = failures.get(name, 0) + int(rate * seconds) - len(latencies)
                rounds_p99.setdefault(f"{name}_p99_ms_per_round", []).append(_percentiles(latencies)["p99"])
                _settle(servers, at_least=float(config["settle_seconds"]))
    shutil.rmtree(folder, ignore_errors=True)
    report = _report(results, failures, rate=rate, proxy=proxy, proxy_source=proxy_source)
    return {**report, **rounds_p99, **_report_sequential(sequential)}


@contextmanager
def _maybe_proxy(
    proxy: str | None,
    config: Path,
    port: int,
    targets: dict[str, tuple[str, dict[str, str]]],
    results: dict[str, list[float]],
) -> Iterator[subprocess.Popen[bytes] | None]:
    if proxy is None:
        yield None
        return
    args = [proxy, "--config", str(config), "--port", str(port), "--num_workers", "1"]
    master = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    env = {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": master, "PYTHONPATH": ""}
    with _process(args, f"http://127.0.0.1:{port}/health/liveliness", env) as process:
        targets["litellm_proxy"] = (
            f"http://127.0.0.1:{port}/v1/chat/completions",
            {"authorization": f"Bearer {master}"},
        )
        results["litellm_proxy"] = []
        yield process


def _report(
    results: dict[str, list[float]], failures: dict[str, int], *, rate: float, proxy: str | None, proxy_source: str
) -> Metrics:
    stats = {name: _percentiles(values) for name, values in results.items()}
    direct = stats["direct"]
    metrics: Metrics = {"rate_rps": rate}
    for name, values in stats.items():
        metrics[f"{name}_p50_ms"], metrics[f"{name}_p99_ms"], metrics[f"{name}_ok"] = (
            values["p50"],
            values["p99"],
            values["n"],
        )
        metrics[f"{name}_failed"] = failures.get(name, 0)
    for name in stats:
        if name != "direct":
            metrics[f"{name}_overhead_p50_ms"] = round(stats[name]["p50"] - direct["p50"], 3)
            metrics[f"{name}_overhead_p99_ms"] = round(stats[name]["p99"] - direct["p99"], 3)
            metrics[f"{name}_p99_over_direct_p99"] = _ratio(stats[name]["p99"], direct["p99"])
    metrics["gateway_meets_p50_2ms"] = metrics["gateway_overhead_p50_ms"] <= 2.0
    metrics["gateway_meets_p99_10ms"] = metrics["gateway_overhead_p99_ms"] <= 10.0
    if "litellm_proxy" in stats:
        for quantile in ("p50", "p99"):
            gateway, litellm = (
                metrics[f"gateway_overhead_{quantile}_ms"],
                metrics[f"litellm_proxy_overhead_{quantile}_ms"],
            )
            metrics[f"litellm_proxy_over_gateway_overhead_{quantile}"] = _ratio(litellm, gateway)
    else:
        metrics["litellm_proxy"] = proxy_source
    metrics["litellm_proxy_cli"] = proxy
    metrics["litellm_proxy_source"] = proxy_source
    metrics["failures"] = check_targets(metrics, PERF_TARGETS)
    return metrics


def _ratio(numerator: Any, denominator: Any) -> float | None:
    return round(float(numerator) / float(denominator), 2) if float(denominator) > 0 else None
