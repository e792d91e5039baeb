"""Our own model calls: structured output, retries on malformed/rejected replies, tiers, the real LiteLLM Router
against a local fake OpenAI-compatible server, and own usage recorded for the tokentra-system org."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from core.config import Settings
from core.errors import InvalidInput, ModelOutputInvalid, ModelUnavailable
from core.routing.fake_llm import FakeLLM
from core.routing.llm import OutputRejected, build_llm, choose_tier, llm_name, tier_order


class Verdict(BaseModel):
    stance: str
    savings: float


def _ask(llm: Any, **extra: Any) -> Verdict:
    result: Verdict = llm.structured(
        tier="workhorse",
        agent="skeptic",
        system="<role>test</role>",
        messages=[{"role": "user", "content": "judge"}],
        schema=Verdict,
        **extra,
    )
    return result


def test_fake_llm_parses_and_records() -> None:
    llm = FakeLLM(['{"stance": "accept", "savings": 12.5}'])
    assert _ask(llm) == Verdict(stance="accept", savings=12.5)
    assert [c.agent for c in llm.calls] == ["skeptic"]
    assert llm.calls[0].ok
    assert llm.calls[0].input_tokens > 0
    system = llm.requests[0].messages[0]["content"]
    assert "<output_format>" in system
    assert '"savings"' in system


def test_malformed_json_is_retried_with_feedback() -> None:
    llm = FakeLLM(["sure! here it is: {stance: accept", '```json\n{"stance": "revise", "savings": 3}\n```'])
    assert _ask(llm).stance == "revise"
    assert [c.ok for c in llm.calls] == [False, True]
    retry_messages = llm.requests[1].messages
    assert retry_messages[-1]["role"] == "user"
    assert "rejected" in retry_messages[-1]["content"]


def test_check_rejects_a_hallucinated_number_then_gives_up() -> None:
    allowed = {12.5}

    def check(value: Verdict) -> None:
        if value.savings not in allowed:
            raise OutputRejected(f"{value.savings} is not a figure any tool returned")

    bad = '{"stance": "accept", "savings": 99999}'
    llm = FakeLLM([bad, '{"stance": "accept", "savings": 12.5}'])
    assert _ask(llm, check=check).savings == 12.5
    llm = FakeLLM([bad, bad, bad, '{"stance": "accept", "savings": 12.5}'])
    with pytest.raises(ModelOutputInvalid, match="99999"):
        _ask(llm, check=check)
    assert len(llm.calls) == 3
    assert not any(c.ok for c in llm.calls)
    assert len(llm.queue) == 1  # bounded: the fourth reply was never asked for


def test_queued_exception_and_empty_queue() -> None:
    llm = FakeLLM([ModelUnavailable("provider down")])
    with pytest.raises(ModelUnavailable, match="provider down"):
        _ask(llm)
    with pytest.raises(ModelUnavailable, match="no queued reply"):
        _ask(llm)


def test_tier_choice_follows_the_seed_triggers() -> None:
    assert choose_tier("workhorse") == "workhorse"
    assert choose_tier("workhorse", savings=1000.0) == "workhorse"
    assert choose_tier("workhorse", savings=1000.01) == "premium"
    assert choose_tier("utility", conflicting=True) == "premium"
    assert choose_tier("utility", confidence=0.69) == "premium"
    assert choose_tier("utility", confidence=0.7) == "utility"
    with pytest.raises(InvalidInput):
        choose_tier("huge")
    assert tier_order("utility", {"workhorse", "premium"}) == ["workhorse", "premium"]
    assert tier_order("premium", {"utility"}) == ["utility"]


def test_offline_without_config(tmp_path: Path) -> None:
    assert build_llm(Settings(llm_config=None)) is None
    assert llm_name(None) == "offline"
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: []\n")
    with pytest.raises(InvalidInput, match="model_list"):
        build_llm(Settings(llm_config=bad))


# --- the real LiteLLM Router against a local fake OpenAI-compatible server -------------------------------


class FakeOpenAI:
    """Serves /v1/chat/completions from a queue: a str is the reply content, an int an HTTP error status."""

    def __init__(self) -> None:
        self.queue: list[str | int] = []
        self.models: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.models.append(body["model"])
                item = outer.queue.pop(0) if outer.queue else 500
                if isinstance(item, int):
                    payload = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
                    self.send_response(item)
                else:
                    payload = json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": item}}],
                        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                    }).encode()  # fmt: skip
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "llm.yaml"
    path.write_text(
        "model_list:\n"
        f"  - model_name: workhorse\n    litellm_params: {{model: openai/fake-work, api_base: '{url}', api_key: x}}\n"
        f"  - model_name: premium\n    litellm_params: {{model: openai/fake-premium, api_base: '{url}', api_key: x}}\n"
        "router_settings: {num_retries: 0, timeout: 10}\n"
    )
    return path


def test_router_llm_through_litellm(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    llm = build_llm(Settings(llm_config=_config(tmp_path, fake_openai.url)))
    assert llm is not None
    assert "workhorse=openai/fake-work" in llm.name
    fake_openai.models.clear()
    fake_openai.queue[:] = ["not json at all", '{"stance": "accept", "savings": 4.25}']
    assert _ask(llm) == Verdict(stance="accept", savings=4.25)
    assert fake_openai.models == ["fake-work", "fake-work"]
    assert [(c.ok, c.input_tokens, c.output_tokens, c.provider) for c in llm.calls] == [
        (False, 120, 30, "openai"), (True, 120, 30, "openai")]  # fmt: skip


def test_router_falls_back_to_the_next_tier(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    llm = build_llm(Settings(llm_config=_config(tmp_path, fake_openai.url)))
    assert llm is not None
    fake_openai.models.clear()
    fake_openai.queue[:] = [500, '{"stance": "reject", "savings": 0}']
    # utility is not configured: it resolves to workhorse; workhorse fails with a 500 and falls back to premium
    result: Verdict = llm.structured(tier="utility", agent="analyst", system="s",
                                     messages=[{"role": "user", "content": "x"}], schema=Verdict)  # fmt: skip
    assert result.stance == "reject"
    assert fake_openai.models == ["fake-work", "fake-premium"]


def test_router_error_becomes_model_unavailable(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    llm = build_llm(Settings(llm_config=_config(tmp_path, fake_openai.url)))
    assert llm is not None
    fake_openai.queue[:] = [500, 500, 500, 500]
    with pytest.raises(ModelUnavailable):
        _ask(llm)


def test_own_calls_are_usage_of_the_system_org(db: Any) -> None:
    import litellm
    from sqlalchemy import text

    from core.routing.usage import SYSTEM_ORG_SLUG, record_llm_calls

    llm = FakeLLM(["{bad", '{"stance": "accept", "savings": 1}'], provider="openai", model="gpt-4o-mini")
    _ask(llm)
    totals = record_llm_calls(db, calls=llm.calls, run_id="run-test-1", kind="recommend")
    again = record_llm_calls(db, calls=llm.calls, run_id="run-test-1", kind="recommend")  # idempotent
    assert totals == again
    assert totals.calls == 2
    assert totals.unpriced_calls == 0
    expected = sum(sum(litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=c.input_tokens,
                                              completion_tokens=c.output_tokens)) for c in llm.calls)  # fmt: skip
    assert float(totals.cost) == pytest.approx(expected, rel=1e-9)
    with db.session() as session:
        rows = session.execute(text(
            "SELECT o.is_system, e.feature, e.status FROM usage_events e JOIN organizations o "
            "ON o.id = e.organization_id WHERE o.slug = :slug AND e.trace_id = 'run-test-1' ORDER BY e.status"),
            {"slug": SYSTEM_ORG_SLUG}).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [(True, "skeptic", "error"), (True, "skeptic", "success")]
