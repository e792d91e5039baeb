"""The assistant: question shapes and periods answered offline with figures equal to direct SQL over usage_events;
every number in the text among the figures; the LLM path (FakeLLM) retrying or refusing malformed JSON, invented
numbers and tool errors, never showing them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from agents.answer import Answer, ungrounded
from agents.assistant import AssistantStep, FinalAnswer, ToolCall
from core.errors import ModelUnavailable
from core.routing.fake_llm import FakeLLM
from graphs.assistant import ask

NOW = datetime(2026, 10, 21, 9, 30, tzinfo=UTC)  # a Wednesday
LAST_WEEK = (datetime(2026, 10, 12, tzinfo=UTC), datetime(2026, 10, 19, tzinfo=UTC))
WEEK_BEFORE = (datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 12, tzinfo=UTC))
FEATURES = {"chat": ("gpt-4o-mini", "support"), "code-review": ("gpt-4o", "engineering"),
            "summarize": ("gpt-4o-mini", "growth")}  # fmt: skip


def _events() -> list[dict[str, Any]]:
    """Four weeks of steady traffic; from last week on, code-review runs three times as often."""
    events, start = [], datetime(2026, 9, 28, tzinfo=UTC)
    for hour in range(24 * 23 + 9):
        moment = start + timedelta(hours=hour, minutes=7)
        for feature, (model, team) in FEATURES.items():
            calls = 3 if feature == "code-review" and moment >= LAST_WEEK[0] else 1
            for k in range(calls):
                events.append({"request_id": f"e-{hour}-{feature}-{k}", "timestamp": moment.isoformat(),
                               "provider": "openai", "model": model, "feature": feature, "team": team,
                               "user_id": f"user-{hour % 5}", "input_tokens": 9000 + (hour * 37) % 4000,
                               "output_tokens": 150 + (hour * 11) % 90})  # fmt: skip
    return events


@pytest.fixture(scope="module")
def shop(db: Any, price_book: Any) -> uuid.UUID:
    from core.orgs.service import create_org
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    with db.session() as session:
        org_id = create_org(session, slug=f"ask-{uuid.uuid4().hex[:8]}").id
    lines = [orjson.dumps(e) for e in _events()]
    ingest(db, org_id=org_id, items=enumerate(lines, start=1), parse=lambda item: decode_json(item), book=price_book())
    return org_id


def direct(db: Any, org_id: uuid.UUID, start: datetime, end: datetime, where: str = "", group: str = "") -> Any:
    """Exact spend straight from usage_events (not the assistant's code path)."""
    select = f"SELECT {group + ', ' if group else ''}coalesce(sum(cost), 0) AS cost, count(*) AS n FROM usage_events"
    sql = f"{select} WHERE organization_id = :o AND timestamp >= :s AND timestamp < :e {where}"
    sql += f" GROUP BY {group} ORDER BY cost DESC" if group else ""
    with db.engine.connect() as conn:
        return conn.execute(text(sql), {"o": org_id, "s": start, "e": end}).all()


def cents(value: Decimal | float) -> float:
    return float(round(Decimal(str(value)), 2))


def figure(answer: dict[str, Any], label: str) -> float:
    return float(next(f["value"] for f in answer["figures"] if f["label"] == label))


def check_shape(answer: dict[str, Any]) -> None:
    parsed = Answer.model_validate(answer)
    assert ungrounded(parsed) == [], parsed.answer
    assert parsed.queries or not parsed.figures
    assert answer["llm"] == "offline"


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("How much did we spend last week?", LAST_WEEK),
        ("What did we spend yesterday?", (datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 21, tzinfo=UTC))),
        ("total cost in the last 7 days", (NOW - timedelta(days=7), NOW)),
        ("spend this month", (datetime(2026, 10, 1, tzinfo=UTC), NOW)),
        ("How much did we spend in September?", (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))),
        ("costs between 2026-10-01 and 2026-10-03",
         (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC))),
    ],
)  # fmt: skip
def test_totals_match_direct_sql_for_the_stated_period(db: Any, shop: uuid.UUID, question: str, period: Any) -> None:
    answer = ask(db, org_id=shop, question=question, now=NOW)
    check_shape(answer)
    start, end = (datetime.fromisoformat(answer["period"][k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert (start, end) == period
    row = direct(db, shop, start, end)[0]
    assert round(figure(answer, "total cost"), 2) == cents(row.cost)
    assert figure(answer, "requests") == row.n
    assert answer["period"]["start"][:10] in answer["answer"]


def test_top_n_by_dimension_and_filters(db: Any, shop: uuid.UUID) -> None:
    answer = ask(db, org_id=shop, question="Which team spent the most last week?", now=NOW)
    check_shape(answer)
    rows = direct(db, shop, *LAST_WEEK, group="team")
    assert f"the team that cost the most was {rows[0].team}" in answer["answer"]
    for row in rows:
        assert round(figure(answer, f"cost of team {row.team}"), 2) == cents(row.cost)
    filtered = ask(db, org_id=shop, question="how much did the code-review feature cost last week?", now=NOW)
    check_shape(filtered)
    row = direct(db, shop, *LAST_WEEK, where="AND feature = 'code-review'")[0]
    assert round(figure(filtered, "total cost"), 2) == cents(row.cost)
    model = ask(db, org_id=shop, question="spend on gpt-4o-mini yesterday", now=NOW)
    row = direct(db, shop, datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 21, tzinfo=UTC),
                 where="AND model = 'gpt-4o-mini'")[0]  # fmt: skip
    assert round(figure(model, "total cost"), 2) == cents(row.cost)


def test_why_names_the_true_driver(db: Any, shop: uuid.UUID) -> None:
    answer = ask(db, org_id=shop, question="Why did costs go up last week?", now=NOW)
    check_shape(answer)
    assert answer["drivers"][0]["dimension"] == "feature"
    assert answer["drivers"][0]["value"] == "code-review"
    assert "The main driver is feature code-review" in answer["answer"]
    before, after = direct(db, shop, *WEEK_BEFORE)[0], direct(db, shop, *LAST_WEEK)[0]
    assert round(figure(answer, "baseline cost"), 2) == cents(before.cost)
    assert round(figure(answer, "current cost"), 2) == cents(after.cost)
    assert answer["period"]["start"] == "2026-10-12T00:00:00Z"


def test_cannot_answer_says_so_without_numbers(db: Any, shop: uuid.UUID) -> None:
    for question in ("What is our revenue this month?", "How much did model gpt-9-ultra cost?", "tell me a joke"):
        answer = ask(db, org_id=shop, question=question, now=NOW)
        assert answer["answer"].startswith("I can't answer that")
        assert answer["figures"] == []
        assert not answer["answerable"]


def test_findings_shapes_are_grounded(db: Any, shop: uuid.UUID) -> None:
    for question in ("forecast the month-end spend", "how are we doing against budget?", "any anomalies last week?",
                     "what are the top savings recommendations?", "daily spend in the last 7 days"):  # fmt: skip
        check_shape(ask(db, org_id=shop, question=question, now=NOW))


# --- the LLM path ---------------------------------------------------------------------------------------------


def _final(answer: str, figures: list[dict[str, Any]]) -> AssistantStep:
    return AssistantStep(final=FinalAnswer(answer=answer, period_start="2026-10-12T00:00:00Z",
                                           period_end="2026-10-19T00:00:00Z", figures=figures))  # fmt: skip


def _costs_call() -> AssistantStep:
    return AssistantStep(tool_calls=[ToolCall(tool="costs", args={"start": "2026-10-12T00:00:00Z",
                                                                  "end": "2026-10-19T00:00:00Z"})])  # fmt: skip


def test_llm_path_retries_malformed_and_invented_numbers(db: Any, shop: uuid.UUID) -> None:
    total = cents(direct(db, shop, *LAST_WEEK)[0].cost)
    good = _final(f"Last week (2026-10-12 to 2026-10-19 UTC) you spent ${total:,.2f}.",
                  [{"label": "total cost", "value": total, "unit": "USD"}])  # fmt: skip
    invented = _final("Last week you spent $999,999.99.", [{"label": "total cost", "value": 999999.99, "unit": "USD"}])
    loose = _final(f"You spent ${total:,.2f}, 42% more.", [{"label": "total cost", "value": total, "unit": "USD"}])
    llm = FakeLLM(["{not json", _costs_call(), invented, loose, good])
    answer = ask(db, org_id=shop, question="How much did we spend last week?", now=NOW, llm=llm)
    assert answer["llm"] == "fake"
    assert "999,999.99" not in answer["answer"]
    assert "42%" not in answer["answer"]
    assert answer["figures"][0]["value"] == total
    assert answer["queries"]
    assert "usage_events" in answer["queries"][0]
    assert len(llm.requests) == 5


def test_llm_that_never_grounds_falls_back_to_offline(db: Any, shop: uuid.UUID) -> None:
    invented = _final("You spent $123.45.", [{"label": "total cost", "value": 123.45, "unit": "USD"}])
    llm = FakeLLM([_costs_call(), invented, invented, invented])
    answer = ask(db, org_id=shop, question="How much did we spend last week?", now=NOW, llm=llm)
    assert "123.45" not in answer["answer"]
    assert answer["llm"] == "offline"
    assert answer["fallback"]["from"] == "fake"
    assert round(figure(answer, "total cost"), 2) == cents(direct(db, shop, *LAST_WEEK)[0].cost)


def test_llm_tool_errors_go_back_to_the_model(db: Any, shop: uuid.UUID) -> None:
    bad_sql = AssistantStep(tool_calls=[ToolCall(tool="run_sql", args={"sql": "DROP TABLE usage_events"})])
    query = "SELECT sum(cost) AS cost FROM usage_events WHERE timestamp >= '2026-10-12' AND timestamp < '2026-10-19'"
    sql = AssistantStep(tool_calls=[ToolCall(tool="run_sql", args={"sql": query})])
    total = cents(direct(db, shop, *LAST_WEEK)[0].cost)
    good = _final(f"You spent ${total:,.2f} last week (2026-10-12 to 2026-10-19 UTC).",
                  [{"label": "total cost", "value": total, "unit": "USD"}])  # fmt: skip
    llm = FakeLLM([bad_sql, sql, good])
    answer = ask(db, org_id=shop, question="How much did we spend last week?", now=NOW, llm=llm)
    assert answer["llm"] == "fake"
    assert answer["figures"][0]["value"] == total
    second_prompt = llm.requests[1].messages[-1]["content"]
    assert "error" in second_prompt
    assert "DROP" in second_prompt
    assert any("SUM(cost)" in q for q in answer["queries"])
    down = FakeLLM([ModelUnavailable("upstream down")])
    fallback = ask(db, org_id=shop, question="How much did we spend last week?", now=NOW, llm=down)
    assert fallback["llm"] == "offline"
    assert figure(fallback, "total cost") == total
