"""Shared fixtures: one real Postgres per pytest-xdist worker, fresh orgs per test, ingest and CLI helpers.

Isolation: every test makes its own organization (org-scoped data needs no cleanup) and tests that touch
global prices use made-up provider/model names unique to the test. Nothing here mocks the database.

The embedded Postgres (pgserver) lives under a short temporary TOKENTRA_HOME (unix socket paths must stay
under ~100 characters). Set TOKENTRA_TEST_DATABASE_URL to run against another Postgres 14+ with pgvector:
each worker then creates its own database there.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from sqlalchemy import text

# LiteLLM must never fetch its cost map from the network; set before anything imports it.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

REPO_ROOT = Path(__file__).resolve().parent.parent
_STATE: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    # Never let a test touch the developer's ./.tokentra (or a configured database): every process of the
    # run (the xdist controller and each worker) gets its own short-lived home.
    home = tempfile.mkdtemp(prefix="tt-", dir="/tmp")
    _STATE["home"] = home
    _STATE["saved_env"] = {name: os.environ.get(name) for name in ("TOKENTRA_HOME", "TOKENTRA_DATABASE_URL")}
    os.environ["TOKENTRA_HOME"] = home
    os.environ.pop("TOKENTRA_DATABASE_URL", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _STATE.pop("saved_env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    home = _STATE.pop("home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


def _with_database(uri: str, name: str) -> str:
    """The libpq URI `uri` pointed at database `name` (keeps user, host/socket query parameters)."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _create_database(admin_uri: str, name: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def db(worker_name: str) -> Iterator[Any]:
    """A migrated database of this worker's own, with the price catalogue synced. Yields a core.db.Database."""
    from core.db import open_database, reset_database_cache, start_embedded
    from core.schema import upgrade

    external = os.environ.get("TOKENTRA_TEST_DATABASE_URL")
    pg_dir = Path(os.environ["TOKENTRA_HOME"]) / "pg"
    # without an external server: the product's own way of starting the embedded one
    admin_uri = external.replace("postgresql+psycopg://", "postgresql://", 1) if external else start_embedded(pg_dir)
    name = f"tokentra_test_{worker_name}".replace("-", "_")
    _create_database(admin_uri, name)
    uri = _with_database(admin_uri, name)
    database = open_database(uri)
    upgrade(database)
    os.environ["TOKENTRA_DATABASE_URL"] = uri
    reset_database_cache()
    try:
        yield database
    finally:
        database.engine.dispose()
        os.environ.pop("TOKENTRA_DATABASE_URL", None)
        reset_database_cache()
        if external:
            with psycopg.connect(admin_uri, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            _stop_embedded(pg_dir)


def _stop_embedded(pg_dir: Path) -> None:
    """Stop this worker's server now (pgserver would at exit), so its folder can be removed."""
    from pgserver.postgres_server import PostgresServer

    server = PostgresServer._instances.get(pg_dir.resolve())
    if server is not None:
        server.cleanup()


# --- organizations ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    slug: str


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_org(db: Any) -> Callable[[], Org]:
    from core.orgs.service import create_org

    def make() -> Org:
        with db.session() as session:
            row = create_org(session, slug=unique_name("org"))
            return Org(id=row.id, slug=row.slug)

    return make


@pytest.fixture
def org(make_org: Callable[[], Org]) -> Org:
    return make_org()


# --- ingest ----------------------------------------------------------------------------------------------


Loader = Callable[..., Any]


def jsonl_bytes(events: Sequence[dict[str, Any] | str]) -> bytes:
    """Events as JSONL; a str item is written as the raw line (for malformed-line tests)."""
    lines = [item if isinstance(item, str) else json.dumps(item) for item in events]
    return ("\n".join(lines) + "\n").encode()


_CATALOGUE_FINGERPRINT = "SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) FROM price_catalogue p"


@pytest.fixture(scope="session")
def price_book(db: Any) -> Callable[[], Any]:
    """The current PriceBook, as ingest callers load it; reused while the catalogue is unchanged (loading one
    builds thousands of ORM rows, and most tests do not touch prices)."""
    from core.pricing.book import PriceBook

    cached: dict[str, Any] = {}

    def current() -> Any:
        with db.session() as session:
            fingerprint = session.execute(text(_CATALOGUE_FINGERPRINT)).scalar_one()
            if cached.get("fingerprint") != fingerprint:
                cached.update(fingerprint=fingerprint, book=PriceBook.load(session))
        return cached["book"]

    return current


@pytest.fixture
def load_jsonl(db: Any, price_book: Callable[[], Any]) -> Loader:
    """Ingest JSONL bytes (or a list of events) for an org through the real reader, parser and ingest path."""
    from core.usage.ingest import ingest
    from core.usage.readers import jsonl_lines, parse_json_line

    def load(org_id: uuid.UUID, data: bytes | Sequence[dict[str, Any] | str], *, batch_rows: int = 50_000) -> Any:
        raw = data if isinstance(data, bytes) else jsonl_bytes(data)
        items = jsonl_lines(io.BytesIO(raw))
        return ingest(db, org_id=org_id, items=items, parse=parse_json_line, book=price_book(), batch_rows=batch_rows)

    return load


@pytest.fixture
def load_csv(db: Any, price_book: Callable[[], Any]) -> Loader:
    from core.usage.ingest import ingest
    from core.usage.readers import csv_rows, parse_csv_row

    def load(org_id: uuid.UUID, data: bytes, *, batch_rows: int = 50_000) -> Any:
        items = csv_rows(io.BytesIO(data))
        return ingest(db, org_id=org_id, items=items, parse=parse_csv_row, book=price_book(), batch_rows=batch_rows)

    return load


# --- reading back what was stored --------------------------------------------------------------------


@pytest.fixture
def fetch_events(db: Any) -> Callable[[uuid.UUID], dict[str, dict[str, Any]]]:
    """An org's stored events by request_id, every column."""

    def fetch(org_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        with db.connect_raw() as conn:
            cursor = conn.execute("SELECT * FROM usage_events WHERE organization_id = %s", (org_id,))
            names = [column.name for column in cursor.description or ()]
            return {row["request_id"]: row for row in (dict(zip(names, values, strict=True)) for values in cursor)}

    return fetch


ROLLUP_KEY = ("provider", "model", "team", "project", "feature", "environment", "task_type", "status")
ROLLUP_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@pytest.fixture
def check_rollup(db: Any, fetch_events: Callable[[uuid.UUID], dict[str, dict[str, Any]]]) -> Callable[..., None]:
    """Assert that an org's hourly and daily rollups (append-only: a group's rows add up) equal its raw events,
    summed here in Python (exact Decimals)."""

    def expected_sums(org_id: uuid.UUID, bucket: Callable[[datetime], datetime]) -> dict[tuple[Any, ...], list[Any]]:
        expected: dict[tuple[Any, ...], list[Any]] = {}
        for event in fetch_events(org_id).values():
            key = (bucket(event["timestamp"].astimezone(UTC)), *(event[name] or "" for name in ROLLUP_KEY))
            sums = expected.setdefault(key, [0, 0, 0, 0, 0, 0, Decimal(0), 0])
            sums[0] += 1
            for index, name in enumerate(ROLLUP_SUMS, start=1):
                sums[index] += event[name]
            sums[6] += event["cost"] or Decimal(0)
            sums[7] += event["cost"] is None
        return expected

    def stored_sums(org_id: uuid.UUID, table: str, bucket: str) -> dict[tuple[Any, ...], list[Any]]:
        sums = ", ".join(f"sum({name})" for name in ("requests", *ROLLUP_SUMS, "cost", "unpriced_requests"))
        with db.connect_raw() as conn:
            rows = conn.execute(
                f"SELECT {bucket}, {', '.join(ROLLUP_KEY)}, {sums} FROM {table} WHERE organization_id = %s "
                f"GROUP BY {bucket}, {', '.join(ROLLUP_KEY)}",
                (org_id,),
            ).fetchall()
        return {(row[0].astimezone(UTC), *row[1:9]): list(row[9:]) for row in rows}

    def check(org_id: uuid.UUID) -> None:
        hourly = expected_sums(org_id, lambda moment: moment.replace(minute=0, second=0, microsecond=0))
        assert stored_sums(org_id, "usage_rollup_hourly", "hour") == hourly
        daily = expected_sums(org_id, lambda moment: moment.replace(hour=0, minute=0, second=0, microsecond=0))
        assert stored_sums(org_id, "usage_rollup_daily", "day") == daily

    return check


# --- prices ----------------------------------------------------------------------------------------------


@pytest.fixture
def set_price(db: Any) -> Callable[..., int]:
    """Add a price version and reprice what it affects, as `tokentra prices set` does; returns events repriced."""
    from core.pricing.book import PriceBook
    from core.pricing.reprice import PriceInput, add_price, reprice

    def set_(provider: str, model: str, rates: dict[str, Any], **options: Any) -> int:
        with db.session() as session:
            exact = {name: None if value is None else Decimal(str(value)) for name, value in rates.items()}
            price = add_price(session, PriceInput(provider=provider, model=model, rates=exact, **options))
            changed: int = reprice(
                session.connection(),
                PriceBook.load(session),
                provider=provider,
                model=model,
                org_id=options.get("organization_id"),
                touched_price_id=price.id,
            )
        return changed

    return set_


# --- the command line ------------------------------------------------------------------------------------


def _tokentra_command() -> list[str]:
    script = Path(sys.executable).parent / "tokentra"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


class Cli:
    """Runs `tokentra …` as subprocesses against this worker's database."""

    def __init__(self, uri: str) -> None:
        self.env = {**os.environ, "TOKENTRA_DATABASE_URL": uri, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.many([args], timeout=timeout)[0]

    def many(self, commands: Sequence[Sequence[str]], timeout: float = 120) -> list[subprocess.CompletedProcess[str]]:
        """Run several commands at once (each spawn costs seconds of start-up); results in order."""
        processes = [
            subprocess.Popen(
                [*_tokentra_command(), *args],
                env=self.env,
                cwd=REPO_ROOT,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for args in commands
        ]
        results = []
        for args, process in zip(commands, processes, strict=True):
            stdout, stderr = process.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(list(args), process.returncode, stdout, stderr))
        return results


@pytest.fixture
def run_cli(db: Any) -> Cli:
    return Cli(db.uri)
