"""A small app with the ingest/export routers and the real deps, errors and key resolver, for this area's tests
(independent of routers other people are still writing). Import the fixtures into a test module:

    from ingest_support import ingest_api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from app_support import Tenant, tenant_factory_fixture
from fastapi import FastAPI
from fastapi.testclient import TestClient

ROUTERS = ("api.routes.ingest", "api.routes.exports")


def build_app(db: Any) -> FastAPI:
    """create_app() (real deps, errors, middleware, RLS when available) with only this area's optional routers."""
    from api.app import create_app
    from core.config import Settings

    return create_app(Settings(database_url=db.uri), database=db, optional_routers=ROUTERS)


@pytest.fixture(scope="session", name="ingest_api")
def ingest_api_fixture(db: Any) -> Iterator[TestClient]:
    from core.usage.track import AFTER_INGEST, close_pools

    with TestClient(build_app(db)) as client:
        yield client
    AFTER_INGEST.cancel()
    close_pools()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """An ASGI app on a free loopback port (uvicorn in a daemon thread); yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session", name="tokentra_url")
def tokentra_url_fixture(db: Any) -> Iterator[str]:
    """build_app() served over real HTTP on loopback (for SDK and OTLP exporter tests)."""
    from core.usage.track import AFTER_INGEST, close_pools

    with serve(build_app(db)) as url:
        yield url
    AFTER_INGEST.cancel()
    close_pools()


__all__ = ["Tenant", "build_app", "ingest_api_fixture", "serve", "tenant_factory_fixture", "tokentra_url_fixture"]
