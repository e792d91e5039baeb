"""The FastAPI application: `create_app(settings)`; the database, key resolver and routers are built at
start-up (the lifespan), never at import.

Routers owned by other modules are included when their module exists (OPTIONAL_ROUTERS): each exposes
`router: APIRouter` and uses api/deps.py for auth and the org-scoped session.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from api.deps import APP_ROLE
from api.errors import install_error_handlers
from api.gateway.fastpath import GatewayFastPath
from api.middleware import RequestContextMiddleware, install_log_filter
from core.config import Settings, get_settings
from core.db import Database, libpq_url, open_database
from core.orgs.auth import KeyResolver
from core.schema import ensure_schema

log = logging.getLogger(__name__)

# Always present (this package).
CORE_ROUTERS = (
    "api.routes.health",
    "api.routes.metrics",
    "api.routes.api_keys",
    "api.routes.costs",
    "api.routes.dashboard",
    "api.routes.recommendations",
    "api.routes.anomalies",
    "api.routes.budgets",
)
# Included when the module exists (other developers' routers).
OPTIONAL_ROUTERS = (
    "api.routes.ingest",
    "api.routes.exports",
    "api.routes.routing_rules",
    "api.routes.assistant",
    "api.gateway.routes",
)

DESCRIPTION = (
    "TokenTRA: exact LLM spend, anomalies, savings with evidence, and a cost-aware gateway. "
    'Authenticate with `Authorization: Bearer <org API key>`. Errors are `{"error": {"code", "message"}}`.'
)


def rls_available(db: Database) -> bool:
    """True when the RLS-bound role of migration 0006 exists and this login may switch to it."""
    with db.engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :r) AND pg_has_role(:r, 'MEMBER')"),
                {"r": APP_ROLE},
            ).scalar()
        )


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _include_routers(app: FastAPI, optional: Sequence[str]) -> None:
    # The gateway's router first: matched before ~100 other routes (0.1 ms a request otherwise).
    for name in sorted((*CORE_ROUTERS, *optional), key=lambda name: name != "api.gateway.routes"):
        if name in optional and not _module_exists(name):
            continue
        module = importlib.import_module(name)
        app.include_router(module.router)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    optional_routers: Sequence[str] = OPTIONAL_ROUTERS,
) -> FastAPI:
    """The application. `database` lets tests share an open Database (it is then not disposed here);
    `optional_routers` narrows which of the other modules' routers are included (all that exist by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or open_database(libpq_url(settings))
        try:
            ensure_schema(db)
            app.state.db = db
            app.state.settings = settings
            app.state.resolver = KeyResolver(db)
            app.state.rls = rls_available(db)
            if not app.state.rls:
                log.warning("row-level security role %s unavailable: org filters only", APP_ROLE)
            yield
        finally:
            _stop_background_ingest()
            if database is None:
                db.engine.dispose()

    app = FastAPI(title="TokenTRA", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    install_log_filter()
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(GatewayFastPath)  # outermost: answers the gateway's endpoints without the FastAPI stack
    _include_routers(app, optional_routers)
    return app


def _stop_background_ingest() -> None:
    """The track endpoint's pending budget evaluations and pooled connections end with the app."""
    from core.usage.track import AFTER_INGEST, close_pools

    AFTER_INGEST.cancel()
    close_pools()
