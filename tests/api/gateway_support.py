"""Fixtures for the gateway tests: fake OpenAI-compatible upstreams (real HTTP on loopback), a gateway config
in LiteLLM's YAML, and `tokentra`'s app served by uvicorn on a free port, used with the official openai SDK."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from evals.fake_upstream import FakeUpstream, RunningServer, free_port, start_in_thread

ROLES = ("owner", "admin", "member", "viewer")


@dataclass
class GatewayServer:
    base_url: str
    app: Any
    primary: FakeUpstream
    backup: FakeUpstream
    down: FakeUpstream
    servers: list[RunningServer]

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    def flush(self) -> None:
        """Store everything the gateway buffered (usage, rule counters, cache) now."""
        gateway = self.gateway
        asyncio.run_coroutine_threadsafe(gateway.flush(), gateway.loop).result(timeout=30)

    def client(self, key: str, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=f"{self.base_url}/v1", max_retries=0, **options)

    def async_client(self, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=key, base_url=f"{self.base_url}/v1", max_retries=0)


def gateway_config(primary: str, backup: str, down: str) -> dict[str, Any]:
    def deployment(name: str, model: str, base: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": f"openai/{model}", "api_base": f"{base}/v1", "api_key": "sk-fake"},
        }

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    return {
        "model_list": [
            deployment("gpt-4o", "gpt-4o", primary),
            deployment("gpt-4o-mini", "gpt-4o-mini", primary),
            deployment("gpt-4.1-mini", "gpt-4.1-mini", primary),
            deployment("gpt-4.1", "gpt-4.1", down),  # answers 503: falls back to gpt-4.1-mini at the backup
            deployment("gpt-4.1-fallback", "gpt-4.1-mini", backup),
            deployment("gpt-5-mini", "gpt-5-mini", dead),  # two deployments, one refusing connections
            deployment("gpt-5-mini", "gpt-5-mini", backup),
            deployment("text-embedding-3-small", "text-embedding-3-small", primary),
            deployment("utility", "gpt-4.1-nano", primary),
            deployment("workhorse", "gpt-4.1-mini", primary),
            deployment("premium", "gpt-4.1", primary),
        ],
        "router_settings": {
            "num_retries": 1,
            "timeout": 10,
            "allowed_fails": 1,
            "cooldown_time": 30,
            "fallbacks": [{"gpt-4.1": ["gpt-4.1-fallback"]}],
        },
    }


@pytest.fixture(scope="module", name="gateway_server")
def gateway_server_fixture(db: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    from api.app import create_app
    from core.config import Settings

    primary, backup, down = FakeUpstream(), FakeUpstream(), FakeUpstream(fail_with=503)
    upstreams = [start_in_thread(app) for app in (primary, backup, down)]
    path = Path(tmp_path_factory.mktemp("gateway")) / "gateway.yaml"
    path.write_text(yaml.safe_dump(gateway_config(*(server.base_url for server in upstreams))))
    app = create_app(Settings(database_url=db.uri, gateway_config=path), database=db)
    server = start_in_thread(app)
    try:
        yield GatewayServer(server.base_url, app, primary, backup, down, [*upstreams, server])
    finally:
        for running in reversed([*upstreams, server]):
            running.stop()


@pytest.fixture(name="tenant")
def tenant_fixture(db: Any) -> dict[str, Any]:
    """A fresh org with a key of each role (and an ingest-scope key)."""
    from core.orgs.service import create_org, issue_key

    with db.session() as session:
        org = create_org(session, slug=f"gw-{uuid.uuid4().hex[:12]}")
        keys = {role: issue_key(session, org_id=org.id, role=role).secret for role in ROLES}
        keys["ingest"] = issue_key(session, org_id=org.id, role="member", scope="ingest").secret
    return {"id": org.id, "keys": keys}


def wait_for(check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def events_of(db: Any, org_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.connect_raw() as conn:
        cursor = conn.execute("SELECT * FROM usage_events WHERE organization_id = %s ORDER BY timestamp", (org_id,))
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor]
