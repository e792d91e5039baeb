"""The anomaly explanation graph: a planted spike (one feature's tokens per call x4 for 6 hours on a flat org) is
explained by that feature and "tokens per call", since the hour it started, with every number a fact whose query
re-runs to it; the model path (FakeLLM) refuses a hallucinated number and falls back to the template."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from agents.explainer import ExplainerReply, ungrounded_numbers
from core.routing.fake_llm import FakeLLM
from graphs.explain_anomaly import explain_anomaly
from tools.sql import run_sql

END = datetime(2026, 9, 10, 12, tzinfo=UTC)
SPIKE = (END - timedelta(hours=20), END - timedelta(hours=14))
FEATURES = {"search": (30, 800, "platform"), "chat": (20, 3000, "platform"), "tagging": (40, 300, "data")}


def _events(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three weeks of flat traffic on one model; chat's prompts are 4 times longer during SPIKE."""
    events = []
    for hour in range(21 * 24):
        at = END - timedelta(days=21) + timedelta(hours=hour)
        for feature, (rate, tokens, team) in FEATURES.items():
            size = tokens * (4 if feature == "chat" and SPIKE[0] <= at < SPIKE[1] else 1)
            for i in range(int(rng.poisson(rate))):
                events.append({
                    "request_id": f"{feature}-{hour}-{i}", "timestamp": (at + timedelta(seconds=i * 13)).isoformat(),
                    "provider": "openai", "model": "gpt-4o", "input_tokens": int(size * rng.uniform(0.9, 1.1)),
                    "output_tokens": 120, "feature": feature, "team": team, "user_id": f"u{i % 7}",
                })  # fmt: skip
    return events


@pytest.fixture(scope="module")
def flat(db: Any, price_book: Any) -> uuid.UUID:
    from core.orgs.service import create_org
    from core.usage.ingest import ingest
    from core.usage.readers import jsonl_lines, parse_json_line

    with db.session() as session:
        org_id = create_org(session, slug=f"explain-{uuid.uuid4().hex[:8]}").id
    raw = ("\n".join(json.dumps(e) for e in _events(np.random.default_rng(5))) + "\n").encode()
    ingest(db, org_id=org_id, items=jsonl_lines(io.BytesIO(raw)), parse=parse_json_line, book=price_book())
    return org_id


@pytest.fixture(scope="module")
def spike(db: Any, flat: uuid.UUID) -> dict[str, Any]:
    from core.detectors.anomaly.run import find_anomalies

    found = find_anomalies(db, org_id=flat, as_of=END, window_days=14, store=False)
    loud = [a for a in found if a["severity"] != "info"]
    assert len(loud) == 1, [(a["severity"], a["scope"], a["window"], a.get("top_driver")) for a in found]
    return loud[0]


def _facts(result: dict[str, Any]) -> dict[str, Any]:
    return {f["label"]: f["value"] for f in result["facts"]}


def test_offline_explanation_names_the_feature_and_tokens_per_call(db: Any, flat: uuid.UUID,
                                                                    spike: dict[str, Any]) -> None:  # fmt: skip
    result = explain_anomaly(db, org_id=flat, anomaly=spike)
    text_ = result["explanation"]
    assert result["llm"] == "offline"
    assert result["slice"] == {"dimension": "feature", "value": "chat"}
    assert "feature chat" in text_
    assert "tokens per call" in text_
    assert "request volume" not in text_.split("while")[0]  # volume did not change: not named as a cause
    facts = _facts(result)
    assert 3.5 <= facts["tokens per call factor"] <= 4.5
    assert facts["first hour above baseline"] == SPIKE[0].isoformat().replace("+00:00", "Z")
    assert ungrounded_numbers(text_, _parsed(result)) == []
    assert result["queries"]
    assert all("usage_events" in q for q in result["queries"])
    assert {f["query"] for f in result["facts"]} <= set(result["queries"])


def _parsed(result: dict[str, Any]) -> Any:
    """The facts back as agents.explainer.Facts, for the groundedness check."""
    from agents.explainer import Fact, Facts, Slice

    facts = Facts(Slice(result["slice"]["dimension"], result["slice"]["value"]), END, END)
    facts.facts = [Fact.model_validate(f) for f in result["facts"]]
    return facts


def test_facts_reproduce_by_direct_sql(db: Any, flat: uuid.UUID, spike: dict[str, Any]) -> None:
    """Tokens per call and requests of the slice recomputed from usage_events (not the explainer's queries)."""
    result = explain_anomaly(db, org_id=flat, anomaly=spike)
    start = datetime.fromisoformat(spike["window"]["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(spike["window"]["end"].replace("Z", "+00:00"))
    with db.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT count(*) AS n, sum(input_tokens + output_tokens)::numeric / count(*) AS tpc FROM usage_events "
            "WHERE organization_id = :o AND feature = 'chat' AND timestamp >= :s AND timestamp < :e"),
            {"o": flat, "s": start, "e": end}).one()  # fmt: skip
    facts = _facts(result)
    assert facts["requests"] == row.n
    assert facts["tokens per call"] == round(float(row.tpc), 1)
    for query in result["queries"]:  # every listed query re-runs through run_sql
        assert run_sql(db, org_id=flat, sql=query).rows is not None


def test_model_prose_with_a_hallucinated_number_is_refused(db: Any, flat: uuid.UUID, spike: dict[str, Any]) -> None:
    offline = explain_anomaly(db, org_id=flat, anomaly=spike)
    facts = _facts(offline)
    made_up = ExplainerReply(explanation="Feature chat's prompts grew 5.7 times, costing $4,321.00 more.")
    good = ExplainerReply(
        explanation=(
            f"Feature chat caused it: since {offline['since'][:16].replace('T', ' ')} UTC its tokens per call went "
            "from "
            f"{facts['usual tokens per call']:,.1f} to {facts['tokens per call']:,.1f} while volume held steady."
        )
    )
    llm = FakeLLM([made_up, good])
    result = explain_anomaly(db, org_id=flat, anomaly=spike, llm=llm)
    assert result["llm"] == "fake"
    assert result["explanation"] == good.explanation
    assert len(llm.requests) == 2
    assert "5.7" in llm.requests[1].messages[-1]["content"]  # the refusal told the model which number was wrong

    never = FakeLLM([made_up, made_up, made_up])
    fallback = explain_anomaly(db, org_id=flat, anomaly=spike, llm=never)
    assert fallback["llm"] == "offline"
    assert fallback["explanation"] == offline["explanation"]
    assert "4,321" not in fallback["explanation"]
    assert fallback["fallback"]["from"] == "fake"


def test_without_detection_the_scope_drives_the_slice(db: Any, flat: uuid.UUID) -> None:
    """An anomaly given only by its scope and window (no drivers) is still explained from usage."""
    anomaly = {"metric": "cost", "scope": {"feature": "chat"},
               "window": {"start": SPIKE[0].isoformat(), "end": SPIKE[1].isoformat()}}  # fmt: skip
    result = explain_anomaly(db, org_id=flat, anomaly=anomaly)
    assert "feature chat" in result["explanation"]
    assert "tokens per call rose" in result["explanation"]
    assert 3.5 <= _facts(result)["tokens per call factor"] <= 4.5
