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
from evals.assistant_checks import check_answer, explain_metrics, grounded_counts
from evals.harness import Metrics, suite
from evals.synth_orgs import load_org as load_synth_org

DATASET = Path(__file__).resolve().parent / "datasets" / "assistant_questions.jsonl"
BUDGETS = (("eval org monthly", "org", None, "monthly", "25000"),
           ("eval support weekly", "team", "support", "weekly", "2000"))  # fmt: skip
EXACT_SHAPES = ("total", "top", "compare", "why", "forecast", "budget")


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


def _ask_all(db: Database, org_id: uuid.UUID, questions: list[dict[str, Any]], org: SyntheticOrg,
             llm: LLM | None) -> list[dict[str, Any]]:  # fmt: skip
    from graphs.assistant import ask

    outcomes = []
    for q in questions:
        started = time.perf_counter()
        answer = ask(db, org_id=org_id, question=q["question"], now=moment(q["now"]), llm=llm)
        seconds = time.perf_counter() - started
        verdict = check_answer(db, org_id=org_id, question=q, answer=answer, manifest=org.manifest, budgets=BUDGETS)
        numbers, loose = grounded_counts(answer)
        outcomes.append({"q": q, "answer": answer, "seconds": seconds, "numbers": numbers, "loose": loose,
                         **verdict})  # fmt: skip
    return outcomes


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def summarize(outcomes: list[dict[str, Any]]) -> Metrics:
    exact = [o for o in outcomes if o["q"]["shape"] in EXACT_SHAPES]
    why = [o for o in outcomes if o["q"]["shape"] == "why"]
    cant = [o for o in outcomes if o["q"]["shape"] == "cant"]
    periods = [o for o in outcomes if o["q"].get("period")]
    seconds = [o["seconds"] for o in outcomes]
    numbers = sum(o["numbers"] for o in outcomes)
    loose = sum(len(o["loose"]) for o in outcomes)
    shapes = sorted({o["q"]["shape"] for o in outcomes})
    failures = [f"{o['q']['id']}: {'; '.join(o['problems'] + [f'ungrounded {n}' for n in o['loose']])}"
                for o in outcomes if o["problems"] or o["loose"]]  # fmt: skip
    return {
        "questions": len(outcomes),
        "answer_accuracy": _share([o["correct"] for o in exact]),
        "period_accuracy": _share([o["period_ok"] for o in periods]),
        "why_driver_accuracy": _share([bool(o.get("driver_ok")) for o in why]),
        "groundedness": round((numbers - loose) / numbers, 4) if numbers else 1.0,
        "numbers_checked": numbers,
        "cant_answer_accuracy": _share([o["correct"] for o in cant]),
        "by_shape": {s: _share([o["correct"] for o in outcomes if o["q"]["shape"] == s]) for s in shapes},
        "latency_p50_s": round(statistics.median(seconds), 3) if seconds else None,
        "latency_max_s": round(max(seconds), 3) if seconds else None,
        "slowest": max(((o["q"]["id"], round(o["seconds"], 2)) for o in outcomes), key=lambda x: x[1], default=None),
        "failures": failures,
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
    metrics |= summarize(_ask_all(db, org_id, load_questions(ids), org, llm))
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
