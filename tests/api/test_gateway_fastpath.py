"""The gateway's lean ASGI path (api/gateway/fastpath.py) behaves like the FastAPI stack it bypasses: request ids,
HTTP metrics by route template, errors as `{"error": {"code", "message"}}`, other methods and paths untouched."""

from __future__ import annotations

import re

import httpx
import orjson
from gateway_support import gateway_server_fixture, tenant_fixture  # noqa: F401
from prometheus_client import REGISTRY

from api.gateway.fastpath import GatewayFastPath

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "fast path"}], "max_tokens": 8}


def _requests(route: str, status: str) -> float:
    labels = {"method": "POST", "route": route, "status": status}
    return REGISTRY.get_sample_value("tokentra_http_requests_total", labels) or 0.0


def test_the_app_serves_the_gateway_on_the_lean_path(gateway_server):
    assert any(middleware.cls is GatewayFastPath for middleware in gateway_server.app.user_middleware)


def test_request_ids_are_kept_or_made_and_metrics_counted(gateway_server, tenant):
    headers = {"authorization": f"Bearer {tenant['keys']['member']}", "x-tokentra-bypass": "cache"}
    before = _requests(CHAT, "200")
    with httpx.Client(base_url=gateway_server.base_url, headers=headers, timeout=30) as client:
        given = client.post(CHAT, json=BODY, headers={"x-request-id": "trace-42.a"})
        made = client.post(CHAT, json=BODY)
        invalid = client.post(CHAT, json=BODY, headers={"x-request-id": "not valid!"})
    assert given.status_code == made.status_code == invalid.status_code == 200
    assert given.headers["x-request-id"] == "trace-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", invalid.headers["x-request-id"])
    assert given.headers["content-type"] == "application/json"
    assert given.headers["x-tokentra-cache"] == "bypass"
    assert given.json()["choices"][0]["message"]["content"] == "echo: fast path"
    assert _requests(CHAT, "200") == before + 3


def test_errors_have_the_api_shape_and_status(gateway_server, tenant):
    before = _requests(CHAT, "401")
    with httpx.Client(base_url=gateway_server.base_url, timeout=30) as client:
        anonymous = client.post(CHAT, json=BODY)
        wrong = client.post(CHAT, json=BODY, headers={"authorization": "Bearer tt_live_nope"})
        member = {"authorization": f"Bearer {tenant['keys']['member']}"}
        not_json = client.post(CHAT, content=b"{not json", headers=member)
        no_messages = client.post(CHAT, json={"model": "gpt-4o-mini"}, headers=member)
        unknown = client.post(CHAT, json={**BODY, "model": "nope"}, headers=member)
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    assert "x-request-id" in anonymous.headers
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_input")
    assert "not JSON" in not_json.json()["error"]["message"]
    assert (no_messages.status_code, no_messages.json()["error"]["code"]) == (400, "invalid_input")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert _requests(CHAT, "401") == before + 2


def test_other_methods_and_paths_go_down_the_fastapi_stack(gateway_server, tenant):
    headers = {"authorization": f"Bearer {tenant['keys']['member']}"}
    with httpx.Client(base_url=gateway_server.base_url, headers=headers, timeout=30) as client:
        wrong_method = client.get(CHAT)
        models = client.get("/v1/models")
        health = client.get("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert models.status_code == 200
    assert {m["id"] for m in models.json()["data"]} >= {"gpt-4o", "gpt-4o-mini"}
    assert health.status_code == 200


def test_chunked_request_bodies_are_read_whole(gateway_server, tenant):
    headers = {"authorization": f"Bearer {tenant['keys']['member']}", "x-tokentra-bypass": "cache"}
    raw = orjson.dumps({**BODY, "messages": [{"role": "user", "content": "x" * 200_000}]})

    def parts():  # a generator body is sent chunked: the server hands it over in several messages
        for start in range(0, len(raw), 16_384):
            yield raw[start : start + 16_384]

    with httpx.Client(base_url=gateway_server.base_url, headers=headers, timeout=30) as client:
        response = client.post(CHAT, content=parts(), headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "echo: " + "x" * 200_000
