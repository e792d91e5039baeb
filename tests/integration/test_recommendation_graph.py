"""The consensus recommendations graph on a synthetic org with planted waste: offline debate, the LLM path with
a fake model (malformed JSON, a hallucinated number, a tool error), agent_runs and own-usage recording."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from synth_fixtures import Loaded

from agents.grounding import figures_of, ungrounded
from core.errors import ModelUnavailable
from core.routing.fake_llm import FakeLLM, FakeRequest
from graphs.runs import run_recommendations

ROLES = {"analyst", "skeptic", "advocate", "synthesizer"}


@pytest.fixture(scope="module")
def offline(db: Any, wasteful: Loaded) -> dict[str, Any]:
    window = wasteful.org.manifest.window
    return run_recommendations(db, org_id=wasteful.org_id, as_of=window.end, window_days=window.days)


def test_offline_graph_keeps_the_deduplicated_findings(offline: dict[str, Any], wasteful: Loaded) -> None:
    assert offline["llm"] == "offline"
    got = {(r["type"], json.dumps(r["scope"], sort_keys=True)) for r in offline["recommendations"]}
    expected = {(f.type, json.dumps(f.scope, sort_keys=True))
                for f in wasteful.findings if f.estimated_monthly_savings > 0}  # fmt: skip
    assert got == expected  # the skeptic's double-counting challenge drops exactly what dedupe drops
    dropped_types = [d["reason"] for d in offline["dropped"]]
    assert len(offline["dropped"]) >= len(wasteful.raw) - len(wasteful.findings)
    assert all(reason.startswith("Dropped after review") for reason in dropped_types)


def test_every_recommendation_carries_a_four_role_consensus(offline: dict[str, Any]) -> None:
    assert offline["recommendations"]
    for rec in offline["recommendations"]:
        block = rec["consensus"]
        assert set(block["verdicts"]) == ROLES
        assert 1 <= block["rounds"] <= 3
        assert block["score"] >= 0.8
        assert block["reached"] is True
        assert block["verdicts"]["synthesizer"]["monthly_savings"] == pytest.approx(rec["estimated_monthly_savings"])
        # the skeptic re-ran the detector: the stored figure is the reproduced one
        assert block["review"]["reproduced"] is True
        assert block["review"]["verified_monthly_savings"] == pytest.approx(rec["estimated_monthly_savings"])


def test_double_counted_findings_go_through_more_than_one_round(offline: dict[str, Any]) -> None:
    double = [d for d in offline["dropped"] if d["consensus"]["review"]["double_counted_with"]]
    assert double, "the synthetic org plants overlapping model-choice findings"
    for item in double:
        first = item["consensus"]["history"][0]
        assert first["score"] < 0.8  # the analyst and advocate kept it in round 1, the skeptic did not
        assert item["consensus"]["rounds"] >= 2
        assert item["consensus"]["verdicts"]["analyst"]["decision"] == "drop"  # the analyst conceded


def test_outputs_are_grounded(offline: dict[str, Any]) -> None:
    for rec in offline["recommendations"]:
        figures = figures_of({k: v for k, v in rec.items() if k not in ("description", "consensus")})
        figures_of(rec["consensus"]["review"], figures)
        assert ungrounded(rec["description"], figures) == [], rec["description"]


def test_agent_run_is_recorded(db: Any, offline: dict[str, Any], wasteful: Loaded) -> None:
    with db.session() as session:
        row = session.execute(text("SELECT status, llm, transcript, output, llm_input_tokens, thread_id "
                                   "FROM agent_runs WHERE id = :id"), {"id": offline["run_id"]}).one()  # fmt: skip
    assert row.status == "done"
    assert row.llm == "offline"
    assert row.llm_input_tokens == 0
    assert len(row.transcript) == len(wasteful.raw)
    assert all(item["synthesis"]["role"] == "synthesizer" for item in row.transcript)
    with db.session() as session:
        checkpoints = session.execute(text("SELECT count(*) FROM checkpoints WHERE thread_id = :t"),
                                      {"t": row.thread_id}).scalar_one()  # fmt: skip
    assert checkpoints > 0


def test_skeptic_trims_a_claim_that_does_not_reproduce(db: Any, wasteful: Loaded) -> None:
    """Events added after detection change the re-run: here the org's window is re-analysed while the candidate
    claims twice the detector's figure; the skeptic's verified figure wins and the analyst revises."""
    from agents import analyst, skeptic
    from agents.base import Services, candidate_of

    window = wasteful.org.manifest.window
    finding = wasteful.findings[0]
    candidate = candidate_of(finding)
    candidate["finding"]["estimated_monthly_savings"] = str(finding.estimated_monthly_savings * 2)
    services = Services(db=db, llm=None, org_id=wasteful.org_id, start=window.start, end=window.end)
    facts = skeptic.review(services, candidate, [candidate])
    assert facts.verified_monthly_savings == pytest.approx(float(finding.estimated_monthly_savings))
    first = [analyst.policy(candidate, [], 1), skeptic.policy(candidate, facts, 1)]
    assert first[0].monthly_savings == pytest.approx(2 * float(finding.estimated_monthly_savings))
    assert "do not reproduce" in first[1].points[0]
    history = [{"round": 1, "verdicts": {v.role: v.model_dump() for v in first}}]
    second = analyst.policy(candidate, history, 2)
    assert second.monthly_savings == pytest.approx(facts.verified_monthly_savings)
    assert "Revised" in second.points[-1]


def _reply_for(request: FakeRequest) -> str:
    """A well-behaved model: reads the verified figure from the prompt it was sent."""
    content = request.messages[1]["content"]
    review = json.loads(content.split("<review>\n", 1)[1].split("\n</review>", 1)[0]) if "<review>" in content else None
    findings = json.loads(content.split("<tool_results>\n", 1)[1].split("\n</tool_results>", 1)[0])
    figure = review["verified_monthly_savings"] if review else float(findings["estimated_monthly_savings"])
    if review and (review["double_counted_with"] or not review["reproduced"]):
        decision, figure = "drop", 0.0
    else:
        decision = "keep"
    if request.agent == "synthesizer":
        return json.dumps({"decision": decision, "monthly_savings": figure, "confidence": 0.8,
                           "description": f"Verified: saves {figure:.2f} USD a month.", "caveats": []})  # fmt: skip
    return json.dumps({"decision": decision, "monthly_savings": figure, "confidence": 0.8, "points": ["ok"]})


def test_llm_path_rejects_bad_output_and_never_shows_it(db: Any, wasteful: Loaded) -> None:
    window = wasteful.org.manifest.window
    bad = [
        "{ not json",  # malformed: retried
        json.dumps({"decision": "keep", "monthly_savings": 123456.78, "confidence": 0.9, "points": []}),  # invented
        ModelUnavailable("tool error: upstream 500"),  # a failure: that agent falls back to its policy
    ]
    llm = FakeLLM([*bad, *[_reply_for] * 400])
    result = run_recommendations(db, org_id=wasteful.org_id, as_of=window.end, window_days=window.days, llm=llm)
    assert result["llm"] == "fake"
    shown = json.dumps(result["recommendations"])
    assert "123456.78" not in shown
    assert "123456" not in json.dumps([r["description"] for r in result["recommendations"]])
    sources = [r["consensus"]["verdicts"]["synthesizer"]["source"] for r in result["recommendations"]]
    assert "llm" in sources
    fallbacks = [v for r in result["recommendations"] + list(result["dropped"])
                 for v in r["consensus"]["verdicts"].values() if v.get("fallback_reason")]  # fmt: skip
    assert any("ModelUnavailable" in v["fallback_reason"] for v in fallbacks)
    assert sum(not c.ok for c in llm.calls) >= 2  # the malformed and the invented replies: rejected, billed as errors
    usage = result["llm_usage"]
    assert usage["calls"] == len(llm.calls)
    assert usage["input_tokens"] == sum(c.input_tokens for c in llm.calls)
    with db.session() as session:
        row = session.execute(text("SELECT llm, llm_input_tokens, llm_output_tokens FROM agent_runs WHERE id = :id"),
                              {"id": result["run_id"]}).one()  # fmt: skip
        stored = session.execute(text(
            "SELECT count(*) FROM usage_events e JOIN organizations o ON o.id = e.organization_id "
            "WHERE o.is_system AND e.trace_id = :t"), {"t": result["run_id"]}).scalar_one()  # fmt: skip
    assert (row.llm, row.llm_input_tokens) == ("fake", usage["input_tokens"])
    assert stored == len(llm.calls)
    expected = {(r["type"], json.dumps(r["scope"], sort_keys=True)): Decimal(str(r["estimated_monthly_savings"]))
                for r in result["recommendations"]}  # fmt: skip
    assert len(expected) == len(result["recommendations"])


class PowerCut(RuntimeError):
    """Stands for a crash in the middle of a nightly run (not a model error the agents fall back from)."""


def test_an_interrupted_run_resumes_from_its_checkpoint(db: Any, wasteful: Loaded, offline: dict[str, Any]) -> None:
    window = wasteful.org.manifest.window
    key = "resume-test/" + window.end.isoformat()
    crashing = FakeLLM([_reply_for] * 5 + [PowerCut("power cut")])
    with pytest.raises(PowerCut):
        run_recommendations(db, org_id=wasteful.org_id, as_of=window.end, window_days=window.days, llm=crashing,
                            run_key=key)  # fmt: skip
    with db.engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM agent_runs WHERE organization_id = :o AND run_key = :k"),
                              {"o": wasteful.org_id, "k": key}).scalar_one()  # fmt: skip
    assert status == "running"
    resumed = run_recommendations(db, org_id=wasteful.org_id, as_of=window.end, window_days=window.days, run_key=key)
    assert resumed["resumed"] is True
    assert len(crashing.calls) == 5  # five verdicts were given before the crash: it came mid-debate
    kept = {(r["type"], json.dumps(r["scope"], sort_keys=True)) for r in resumed["recommendations"]}
    assert kept == {(r["type"], json.dumps(r["scope"], sort_keys=True)) for r in offline["recommendations"]}
    assert all(set(r["consensus"]["verdicts"]) == ROLES for r in resumed["recommendations"])
