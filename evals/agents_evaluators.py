"""Evaluators of the agents suite (evals/evaluators.py signature) over one configuration's recommendations.

Datasets: each planted waste item (inputs: the item; outputs: the kept recommendations; reference: its expected
monthly savings at list prices), the wasteful org as a whole (reference: its manifest) and the control org.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agents.base import finding_of
from agents.grounding import figures_of, numbers_in, ungrounded
from core.detectors.waste.base import Finding
from core.detectors.waste.dedupe import conflicts
from evals.evaluators import Evaluator, Example, Score

Recs = list[dict[str, Any]]
_FIELDS = ("type", "category", "title", "description", "scope", "target", "savings_percent", "confidence",
           "priority", "risk_level", "effort", "evidence", "affected_requests", "sample_request_ids",
           "implementation_steps", "suggested_routing_rule")  # fmt: skip


def planted_examples(recs: Recs, org: Any, price: Any) -> list[Example]:
    """One example per planted waste item; the reference is the manifest's expected monthly savings."""
    from core.synth.manifest import expected_savings

    return [Example(item.kind, item, recs, expected_savings(item, price)) for item in org.manifest.waste]


def found_planted(*, inputs: Any, outputs: Recs, reference: Any) -> Score:
    """Recall: a recommendation of the planted kind exists."""
    ok = any(r["type"] == inputs.kind for r in outputs)
    return Score.check("recall", ok, "" if ok else f"no {inputs.kind} recommendation")


def savings_error(*, inputs: Any, outputs: Recs, reference: Decimal) -> list[Score]:
    """|claimed − expected| / expected of the recommendations of the planted kind about the planted feature
    (rounded to 4 places), and the absolute error per month; not applicable when none was made."""
    feature = inputs.scope.get("feature")
    mine = [r for r in outputs if r["type"] == inputs.kind and (r.get("scope") or {}).get("feature") == feature]
    if not mine:
        return [Score.skip("savings_error"), Score.skip("savings_error_abs")]
    claimed = sum((Decimal(str(r["estimated_monthly_savings"])) for r in mine), Decimal(0))
    error = abs(claimed - reference)
    relative = round(float(error / reference), 4) if reference else 0.0
    comment = f"claimed {claimed:.2f}/month vs expected {reference:.2f}"
    return [Score("savings_error", relative, comment), Score("savings_error_abs", float(error), comment)]


def planted_precision(*, inputs: Any, outputs: Recs, reference: Any) -> Score:
    """Share of the recommended kinds that were planted."""
    found = {r["type"] for r in outputs}
    planted = {item.kind for item in reference.waste}
    extra = sorted(found - planted)
    value = round(len(found & planted) / len(found), 4) if found else 1.0
    return Score("precision", value, f"not planted: {', '.join(extra)}" if extra else "", passed=not extra)


def _finding(rec: dict[str, Any]) -> Finding:
    money = {k: str(rec[k]) for k in ("estimated_monthly_savings", "current_monthly_cost", "projected_monthly_cost")}
    finding = {**{k: v for k, v in rec.items() if k in _FIELDS}, "window_savings": "0",
               "claims": rec.get("claims") or [rec["scope"]], **money}  # fmt: skip
    return finding_of({"key": "", "finding": finding})


def double_counted(*, inputs: Any, outputs: Recs, reference: Any) -> Score:
    """Dollars/month claimed twice: for every pair of recommendations claiming the same calls, the smaller."""
    findings = [_finding(r) for r in outputs]
    total, pairs = Decimal(0), []
    for i, a in enumerate(findings):
        for b in findings[i + 1 :]:
            if conflicts(a, b):
                twice = min(a.estimated_monthly_savings, b.estimated_monthly_savings)
                total += twice
                pairs.append(f"{a.type} & {b.type} {twice:.2f}")
    shown = "; ".join(pairs[:5]) + (f"; … {len(pairs) - 5} more" if len(pairs) > 5 else "")
    return Score("double_counted_monthly", float(total), f"claimed twice: {shown}" if pairs else "", passed=not pairs)


def groundedness(*, inputs: Any, outputs: Recs, reference: Any) -> Score:
    """Share of the numbers in the descriptions that are a tool's figure (weighted by the numbers checked)."""
    numbers, loose = 0, []
    for rec in outputs:
        figures = figures_of({k: v for k, v in rec.items() if k not in ("description", "title", "consensus")})
        if rec.get("consensus"):
            figures_of(rec["consensus"].get("review") or {}, figures)
        numbers += len(numbers_in(rec["description"]))
        loose += [f"{rec['type']}: {n}" for n in ungrounded(rec["description"], figures)]
    value = 1 - len(loose) / numbers if numbers else 1.0
    shown = ", ".join(loose[:8]) + (f" … {len(loose) - 8} more" if len(loose) > 8 else "")
    return Score("groundedness", value, f"ungrounded {shown}" if loose else "", numbers, not loose)


def control_quiet(*, inputs: Any, outputs: Recs, reference: Any) -> Score:
    """The healthy org: any recommendation with savings is a false positive."""
    loud = [r["type"] for r in outputs if float(r["estimated_monthly_savings"]) > 0]
    comment = f"false positives: {', '.join(loud)}" if loud else ""
    return Score("control_false_positives", float(len(loud)), comment, passed=not loud)


def claimed(*, inputs: Any, outputs: Recs, reference: Any) -> Score:
    return Score("monthly_savings_claimed", sum(float(r["estimated_monthly_savings"]) for r in outputs))


ORG_EVALUATORS: Sequence[Evaluator] = (planted_precision, double_counted, groundedness, claimed)
