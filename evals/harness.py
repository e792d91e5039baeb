"""Suites, their registry and reports. A suite is a function (config) -> metrics; the harness times it
and writes a JSON report and a Markdown table under evals/reports/."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import InvalidInput

Metrics = dict[str, Any]
SuiteFn = Callable[[dict[str, Any]], Metrics]
REPORTS = Path(__file__).resolve().parent / "reports"


@dataclass(frozen=True)
class Suite:
    name: str
    run: SuiteFn
    defaults: dict[str, Any]
    about: str


_SUITES: dict[str, Suite] = {}


def suite(name: str, *, about: str, **defaults: Any) -> Callable[[SuiteFn], SuiteFn]:
    def register(fn: SuiteFn) -> SuiteFn:
        _SUITES[name] = Suite(name, fn, defaults, about)
        return fn

    return register


# Modules whose @suite functions register on import; a module listed here that is not written yet is skipped.
SUITE_MODULES = (
    "evals.perf",
    "evals.routing",
    "evals.cache",
    "evals.agents",
    "evals.assistant",
    "evals.gateway",
    "evals.track",
    "evals.insights",
)


def suites() -> dict[str, Suite]:
    from evals.nab import nab_suite

    for module in SUITE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise

    if "nab" not in _SUITES:
        _SUITES["nab"] = Suite("nab", nab_suite, {"workers": 2}, "NAB scores of the point anomaly detector")
    return dict(_SUITES)


def run_suite(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    known = suites()
    if name not in known:
        raise InvalidInput(f"unknown suite {name!r}; known: {', '.join(sorted(known))}")
    chosen = known[name]
    config = {**chosen.defaults, **(overrides or {})}
    started = time.perf_counter()
    metrics = chosen.run(config)
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    return {"name": name, "config": config, "metrics": metrics}


def write_report(results: list[dict[str, Any]]) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = REPORTS / f"eval-{stamp}.json"
    path.write_text(json.dumps({"suites": results}, indent=2, default=str))
    lines = [f"# Eval report {stamp}", ""]
    for result in results:
        lines += [f"## {result['name']}", "", f"config: `{json.dumps(result['config'], default=str)}`", "",
                  "| metric | value |", "|---|---|"]  # fmt: skip
        lines += [f"| {key} | {value} |" for key, value in result["metrics"].items() if not _is_failures(key)]
        lines += ["", *_failure_lines(result["metrics"])]
    path.with_suffix(".md").write_text("\n".join(lines))
    return path


def _is_failures(key: str) -> bool:
    return key == "failures" or key.endswith(".failures")


def _failure_lines(metrics: Metrics) -> list[str]:
    """The per-example comments of failed checks (evals/evaluators.py), under the table: `failures` keys at the
    top level (`config.failures` too) and inside one level of nested metrics."""
    found = [(key, value) for key, value in metrics.items() if _is_failures(key)]
    found += [(f"{key}.failures", value["failures"]) for key, value in metrics.items()
              if isinstance(value, dict) and "failures" in value]  # fmt: skip
    lines = []
    for key, items in found:
        if items:
            lines += [f"{key}:", "", *[f"- {item}" for item in items], ""]
    return lines
