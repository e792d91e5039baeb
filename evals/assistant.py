"""The assistant suite: questions with exact answers over a synthetic org, and anomaly driver accuracy.

A synthetic org (core/synth, fixed seed and end) is loaded through core ingest, with two budgets. Each question of
evals/datasets/assistant_questions.jsonl is asked through graphs.assistant.ask at its own "now"; the expected
answer is computed independently (evals/assistant_truth.py: plain SQL over usage_events) for the period the
answer states, and "why" questions must name a driver planted in the synth manifest. Metrics:

- answer_accuracy: questions with exact answers whose figures all match to the cent (and whose period is the
  expected one); per shape in `by_shape`. period_accuracy: the stated period is the expected one.
- why_driver_accuracy: the answer's first driver is one of the planted anomaly's drivers (or its scope).
- groundedness: the share of numbers in answer texts found among their figures/drivers (must be 1.0).
- cant_answer_accuracy: out-of-scope questions get "I can't answer that" and no figures.
- latency_p50_s / latency_max_s per question.
- explain: for each planted anomaly, the detected anomaly it overlaps (core/detectors/anomaly/run.py) and its top
  driver: top-1 exact (driver_top1_accuracy) or among the planted drivers (driver_accuracy); the explanation graph's
  slice among them (explanation_accuracy) and its groundedness.

`--set llm_config=FILE` runs the same questions with a LiteLLM Router config (TOKENTRA_LLM_CONFIG format).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.db import Database
from core.routing.llm import LLM, RouterLLM, llm_name, load_router_config
from core.synth import SyntheticOrg, generate_org
from evals.assistant_checks import AnswerEvaluator, answer_groundedness
from evals.assistant_explain import explain_metrics
from evals.evaluators import Example, Results
from evals.evaluators import evaluate as run_evaluators
from evals.harness import Metrics, suite
from evals.synth_orgs import load_org as load_synth_org

DATASET = Path(__file__).resolve().parent / "datasets" / "assistant_questions.jsonl"
BUDGETS = (("eval org monthly", "org", None, "monthly", "25000"),
           ("eval support weekly", "team", "support", "weekly", "2000"))  # fmt: skip


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_questions(ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]
    if ids:
        wanted = set(ids)
        items = [q for q in items if q["id"] in wanted]
    return items


def load_org(db: Database, org: SyntheticOrg, *, slug: str) -> uuid.UUID:
    """The synthetic org loaded (or reused), with the budgets the budget questions ask about."""
    org_id = load_synth_org(db, org, slug=slug)
    _budgets(db, org_id)
    return org_id


def _budgets(db: Database, org_id: uuid.UUID) -> None:
    from core.audit.context import Actor
    from core.budgets.service import BudgetSpec, create_budget, list_budgets

    with db.session() as session:
        have = {b.name for b in list_budgets(session, org_id=org_id)}
        for name, scope, value, period, amount in BUDGETS:
            if name not in have:
                spec = BudgetSpec(name=name, amount=Decimal(amount), scope_type=scope, scope_value=value, period=period)
                create_budget(session, actor=Actor(org_id=org_id, actor="eval"), spec=spec)


def _ask_all(db: Database, org_id: uuid.UUID, questions: list[dict[str, Any]],
             llm: LLM | None) -> tuple[list[Example], dict[str, float]]:  # fmt: skip
    """Every question asked at its own "now": examples (inputs: the question; outputs: the answer; reference: the
    dataset row) and the seconds each answer took."""
    from graphs.assistant import ask

    examples, seconds = [], {}
    for q in questions:
        started = time.perf_counter()
        answer = ask(db, org_id=org_id, question=q["question"], now=moment(q["now"]), llm=llm)
        seconds[q["id"]] = time.perf_counter() - started
        examples.append(Example(q["id"], {"question": q["question"], "now": q["now"]}, answer, q))
    return examples, seconds


def summarize(results: Results, seconds: dict[str, float]) -> Metrics:
    """The suite's metrics from the evaluators' scores (evals/assistant_checks.py) and the answer times."""
    shapes = sorted({s.score.name.removeprefix("by_shape.") for s in results.scored
                     if s.score.name.startswith("by_shape.")})  # fmt: skip
    times = list(seconds.values())
    return {
        "questions": len(seconds),
        "answer_accuracy": results.mean("answer_accuracy", 4),
        "period_accuracy": results.mean("period_accuracy", 4),
        "why_driver_accuracy": results.mean("why_driver_accuracy", 4),
        "groundedness": results.mean("groundedness", 4, default=1.0),
        "numbers_checked": int(results.weight("groundedness")),
        "cant_answer_accuracy": results.mean("cant_answer_accuracy", 4),
        "by_shape": {shape: results.mean(f"by_shape.{shape}", 4) for shape in shapes},
        "latency_p50_s": round(statistics.median(times), 3) if times else None,
        "latency_max_s": round(max(times), 3) if times else None,
        "slowest": max(((i, round(t, 2)) for i, t in seconds.items()), key=lambda x: x[1], default=None),
        "failures": results.failures(limit=40),
    }


def run_assistant_eval(db: Database, *, seed: int, scale: float, end: datetime, ids: Sequence[str] | None = None,
                       explain: bool = True, explain_window_days: int = 30, llm: LLM | None = None
                       ) -> Metrics:  # fmt: skip
    """Load the synthetic org, ask the questions, check them, and (explain) score anomaly drivers."""
    started = time.perf_counter()
    org = generate_org(seed=seed, end=end, scale=scale)
    org_id = load_org(db, org, slug=f"eval-assistant-s{seed}-x{str(scale).replace('.', '-')}-{end:%Y%m%d}")
    load_seconds = time.perf_counter() - started
    metrics: Metrics = {"llm": llm_name(llm), "events": len(org.events), "load_seconds": round(load_seconds, 2)}
    examples, seconds = _ask_all(db, org_id, load_questions(ids), llm)
    checks = AnswerEvaluator(db, org_id, org.manifest, BUDGETS)
    metrics |= summarize(run_evaluators(examples, (checks, answer_groundedness)), seconds)
    if explain:
        metrics["explain"] = explain_metrics(
            db, org_id=org_id, manifest=org.manifest, end=end, llm=llm, window_days=explain_window_days
        )
    return metrics


@suite("assistant", about="assistant answers vs direct SQL; why-drivers and anomaly drivers vs the synth manifest",
       seed=11, scale=0.3, end="2026-03-01T00:00:00Z", ids="", explain=1, llm_config="")  # fmt: skip
def assistant_suite(config: dict[str, Any]) -> Metrics:
    from core.db import get_database
    from core.schema import ensure_schema

    db = get_database()
    ensure_schema(db)
    llm = RouterLLM(load_router_config(Path(str(config["llm_config"])))) if config.get("llm_config") else None
    ids = [i for i in str(config.get("ids") or "").split(",") if i]
    end = moment(str(config["end"]))
    return run_assistant_eval(db, seed=int(config["seed"]), scale=float(config["scale"]), end=end, ids=ids or None,
                              explain=bool(int(config["explain"])), llm=llm)  # fmt: skip
