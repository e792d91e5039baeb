"""What every CLI command shares: the database at start-up, JSON vs. human output, errors as one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from core.db import Database, get_database
from core.schema import ensure_schema

stderr = Console(stderr=True)
stdout = Console()


def database(*, migrate: bool = True) -> Database:
    """The configured database, started (embedded) and migrated on first use."""
    db = get_database()
    if migrate:
        ensure_schema(db)
    return db


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def emit_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    view = Table(title=title, title_justify="left")
    for column in columns:
        numeric = column in {"cost", "requests", "tokens"} or column.endswith(("_tokens", "cost", "requests"))
        view.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        view.add_row(*[_cell(value) for value in row])
    stdout.print(view)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Any]:
    """A rich progress bar on a terminal (stderr); a silent stand-in elsewhere."""
    if not sys.stderr.isatty():
        yield lambda advance: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda advance: bar.update(task, advance=advance)
