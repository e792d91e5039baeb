"""The assistant's deterministic answers about spend: totals, top-N breakdowns and "why did it change?"."""

from __future__ import annotations

import uuid
from typing import Any

from agents.draft import Draft, dimension_name, scope_text, when
from agents.intent import Intent
from agents.periods import Period, compared_periods, default_period
from core.db import Database
from tools.costs import costs
from tools.periods import compare

WHY_DIMENSIONS = ("feature", "model", "team", "user_id", "project", "provider")


def _period(intent: Intent, now: Any) -> Period:
    return intent.periods[0] if intent.periods else default_period(now)


def _length_note(draft: Draft, period: Period) -> None:
    """'the last 7 days' keeps its number as a figure (the period's length)."""
    words = period.label.split()
    if len(words) == 4 and words[:2] == ["the", "last"] and words[2].isdigit():
        draft.number("period length", float(words[2]), words[3], decimals=0)


def answer_total(db: Database, *, org_id: uuid.UUID, intent: Intent, now: Any) -> Draft:
    period = _period(intent, now)
    draft = Draft(period)
    _length_note(draft, period)
    result = draft.use(costs(db, org_id=org_id, start=period.start, end=period.end, filters=intent.filters))
    data = result.data
    scope = scope_text(intent.filters)
    if intent.measure == "requests":
        draft.say(
            f"There were {draft.count('requests', data['total_requests'])} requests{scope} during {when(period)}, "
            f"costing {draft.usd('total cost', data['total_cost'])}."
        )
    elif intent.measure == "tokens":
        rows = data["rows"][0] if data["rows"] else {"input_tokens": 0, "output_tokens": 0}
        draft.say(
            f"During {when(period)}{scope} you used {draft.count('input tokens', rows['input_tokens'], 'tokens')} "
            f"input and {draft.count('output tokens', rows['output_tokens'], 'tokens')} output tokens, costing "
            f"{draft.usd('total cost', data['total_cost'])}."
        )
    else:
        draft.say(
            f"You spent {draft.usd('total cost', data['total_cost'])}{scope} during {when(period)}, over "
            f"{draft.count('requests', data['total_requests'])} requests."
        )
    _unpriced(draft, data)
    return draft


def _unpriced(draft: Draft, data: dict[str, Any]) -> None:
    if data["unpriced_requests"]:
        draft.say(
            f"{draft.count('unpriced requests', data['unpriced_requests'])} requests have no price yet and are "
            "not in the cost; add a price with `tokentra prices set`."
        )


def answer_breakdown(db: Database, *, org_id: uuid.UUID, intent: Intent, now: Any) -> Draft:
    period = _period(intent, now)
    dim = intent.group_by or "model"
    draft = Draft(period)
    _length_note(draft, period)
    result = draft.use(
        costs(db, org_id=org_id, start=period.start, end=period.end, group_by=[dim], filters=intent.filters)
    )
    data = result.data
    total = data["total_cost"]
    rows = data["rows"] if dim in ("day", "hour") else data["rows"][: intent.top_n or 10]
    name = dimension_name(dim)
    scope = scope_text(intent.filters)
    if not rows:
        draft.say(f"There was no spend{scope} in {when(period)}, so there is nothing to rank by {name}.")
        return draft
    items = []
    for row in rows:
        value = row[dim] or "(not set)"
        share = (row["cost"] or 0) / total * 100 if total else 0.0
        items.append(
            f"{value} {draft.usd(f'cost of {name} {value}', row['cost'] or 0)} "
            f"({draft.pct(f'share of {name} {value}', share)})"
        )
    if dim in ("day", "hour"):
        draft.say(f"Spend{scope} per {name} in {when(period)}: " + "; ".join(items) + ".")
    else:
        draft.say(
            f"During {when(period)}{scope}, the {name} that cost the most was {rows[0][dim] or '(not set)'}. "
            f"Spend by {name}, largest first: " + "; ".join(items) + "."
        )
    draft.say(f"Total: {draft.usd('total cost', total)}.")
    _unpriced(draft, data)
    return draft


def answer_why(db: Database, *, org_id: uuid.UUID, intent: Intent, now: Any) -> Draft:
    current, baseline = compared_periods(intent.question, now)
    if intent.filters:
        return _why_filtered(db, org_id=org_id, intent=intent, current=current, baseline=baseline)
    draft = Draft(current)
    data = draft.use(
        compare(
            db,
            org_id=org_id,
            current=(current.start, current.end),
            baseline=(baseline.start, baseline.end),
            dimensions=WHY_DIMENSIONS,
        )
    ).data
    _change_sentence(draft, current, baseline, data["baseline"]["cost"], data["current"]["cost"], "")
    if not data["total_delta"]:
        return draft
    top = main_driver(data)
    if top:
        entry = top["entry"]
        draft.say(f"The main driver is {draft.driver(top['dimension'], top['value'], entry['delta'], entry['share'])}.")
        _what_changed(draft, top["dimension"], entry)
    effects = [e for e in data["effects"] if e["amount"]]
    if effects:
        parts = [
            f"{e['effect'].replace('_', ' ')} {_signed(draft, 'effect ' + e['effect'], e['amount'])}"
            for e in sorted(effects, key=lambda e: -abs(e["amount"]))
        ]
        draft.say("By effect: " + ", ".join(parts) + ".")
    others = []
    for dim in WHY_DIMENSIONS:
        for item in data["dimensions"].get(dim, [])[:1]:
            if (top and dim == top["dimension"] and item["value"] == top["value"]) or not item["delta"]:
                continue
            others.append(draft.driver(dim, item["value"], item["delta"], item["share"]))
    if others:
        draft.say("Largest change in each other dimension: " + "; ".join(others) + ".")
    draft.actions.append("Open the top driver's breakdown by model and user for the current period.")
    return draft


def main_driver(data: dict[str, Any]) -> dict[str, Any] | None:
    """compare_periods' own top driver: the value whose share of the change, discounted by its share of the
    baseline spend, is largest (a broad slice such as the main provider "explains" most changes; the specific
    feature or user that changed is the answer). Without one, the value with the largest share."""
    chosen = data.get("top_driver")
    if chosen is not None:
        for item in data["dimensions"].get(chosen["dimension"], []):
            if item["value"] == chosen["value"]:
                return {"dimension": chosen["dimension"], "value": chosen["value"], "entry": item}
    best: tuple[float, int, str, dict[str, Any]] | None = None
    for order, dim in enumerate(WHY_DIMENSIONS):
        for item in data["dimensions"].get(dim, [])[:3]:
            share = round(item["share"] or 0.0, 2)
            if share > 0 and (best is None or (share, -order) > (best[0], -best[1])):
                best = (share, order, dim, item)
    if best is None:
        return None
    return {"dimension": best[2], "value": best[3]["value"], "entry": best[3]}


def _signed(draft: Draft, label: str, amount: float) -> str:
    text = draft.usd(label, amount)
    return text if text.startswith("-") else "+" + text


def _change_sentence(draft: Draft, current: Period, baseline: Period, before: float, after: float, scope: str) -> None:
    delta = after - before
    direction = "rose" if delta > 0 else "fell" if delta < 0 else "did not change"
    text = (
        f"Spend{scope} {direction} from {draft.usd('baseline cost', before)} in {when(baseline)} to "
        f"{draft.usd('current cost', after)} in {when(current)}"
    )
    if delta:
        text += f": {'up' if delta > 0 else 'down'} {draft.usd('change', abs(delta))}"
        if before:
            text += f" ({draft.pct('change percent', abs(delta) / before * 100)})"
    draft.say(text + ".")


def _what_changed(draft: Draft, dim: str, entry: dict[str, Any]) -> None:
    n0, n1 = entry["baseline_requests"], entry["current_requests"]
    text = (
        f"Its requests went from {draft.count(f'{dim} baseline requests', n0)} to "
        f"{draft.count(f'{dim} current requests', n1)}"
    )
    t0, t1 = entry.get("baseline_tokens_per_request"), entry.get("current_tokens_per_request")
    if t0 and t1:
        text += (
            f" and its tokens per request from {draft.number('baseline tokens per request', t0, 'tokens')} to "
            f"{draft.number('current tokens per request', t1, 'tokens')}"
        )
    draft.say(text + ".")


def _why_filtered(db: Database, *, org_id: uuid.UUID, intent: Intent, current: Period, baseline: Period) -> Draft:
    """A slice's change (e.g. one team's), and which values of the other dimensions moved it most."""
    draft = Draft(current)
    scope = scope_text(intent.filters)
    now = draft.use(costs(db, org_id=org_id, start=current.start, end=current.end, filters=intent.filters)).data
    before = draft.use(costs(db, org_id=org_id, start=baseline.start, end=baseline.end, filters=intent.filters)).data
    _change_sentence(draft, current, baseline, before["total_cost"], now["total_cost"], scope)
    delta = now["total_cost"] - before["total_cost"]
    if not delta:
        return draft
    found = []
    for dim in (d for d in WHY_DIMENSIONS if d not in intent.filters):
        cur = draft.use(
            costs(db, org_id=org_id, start=current.start, end=current.end, group_by=[dim], filters=intent.filters)
        ).data["rows"]
        base = draft.use(
            costs(db, org_id=org_id, start=baseline.start, end=baseline.end, group_by=[dim], filters=intent.filters)
        ).data["rows"]
        deltas: dict[str | None, float] = {}
        for sign, rows in ((1, cur), (-1, base)):
            for row in rows:
                deltas[row[dim]] = deltas.get(row[dim], 0.0) + sign * (row["cost"] or 0.0)
        value, amount = max(deltas.items(), key=lambda item: (item[1] * (1 if delta > 0 else -1), str(item[0])))
        found.append((abs(amount), dim, value, amount))
    parts = [
        draft.driver(dim, value, amount, round(amount / delta, 4))
        for _, dim, value, amount in sorted(found, key=lambda f: -f[0])[:4]
    ]
    if parts:
        draft.say("The largest contributions to the change: " + "; ".join(parts) + ".")
    return draft
