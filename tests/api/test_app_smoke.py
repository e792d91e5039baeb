"""Liveness, request ids and metrics of the app."""

from app_support import api_fixture  # noqa: F401  (fixture)


def test_healthz_answers_with_a_request_id(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert len(r.headers["x-request-id"]) >= 16


def test_request_id_is_echoed_when_sane(api):
    assert api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert api.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"] != "bad id!"


def test_metrics_count_requests_by_route_template(api):
    api.get("/healthz")
    body = api.get("/metrics").text
    assert 'tokentra_http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_unknown_path_is_a_json_404(api):
    r = api.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
