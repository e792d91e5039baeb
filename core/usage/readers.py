"""Streaming readers for usage files: JSONL and CSV (optionally gzipped), constant memory at any size."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from core.errors import InvalidInput
from core.usage.events import FIELDS, UsageEvent, decode_json, from_dict

_JSON_CELLS = ("usage", "metadata")

Progress = Callable[[int], None]


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise InvalidInput(f"cannot tell the format of {path.name}: pass --format jsonl or --format csv")


def open_binary(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    raw: IO[bytes] = path.open("rb")
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def jsonl_lines(stream: IO[bytes], progress: Progress | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for every non-blank line."""
    for number, line in enumerate(stream, start=1):
        if progress is not None:
            progress(len(line))
        if line.strip():
            yield number, line


def csv_rows(stream: IO[bytes], progress: Progress | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each data row; empty cells are left out. Unknown columns are an error."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    unknown = sorted(set(reader.fieldnames or ()) - FIELDS)
    if not reader.fieldnames:
        raise InvalidInput("the CSV file has no header row")
    if unknown:
        raise InvalidInput(f"unknown CSV column(s): {', '.join(unknown)}; columns must be usage event fields")
    position = 0
    for row in reader:
        if progress is not None:
            now = stream.tell()
            progress(now - position)
            position = now
        yield reader.line_num, {key: value for key, value in row.items() if value not in ("", None)}


def parse_json_line(raw: bytes) -> UsageEvent:
    return decode_json(raw)


def parse_csv_row(row: dict[str, Any]) -> UsageEvent:
    for name in _JSON_CELLS:
        if name in row:
            try:
                row[name] = orjson.loads(row[name])
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{name}: not valid JSON ({exc})") from exc
    return from_dict(row, from_strings=True)


FORMATS = ("jsonl", "csv", "otlp-json")


def parse_otlp_item(item: Any) -> UsageEvent:
    from core.usage.otlp import parse_item

    return from_dict(parse_item(item))


def reader(fmt: str, stream: IO[bytes], progress: Progress | None = None) -> tuple[Iterator[tuple[int, Any]], Any]:
    """(items, parse) for ingest() of a stream in one of FORMATS."""
    if fmt == "jsonl":
        return jsonl_lines(stream, progress), parse_json_line
    if fmt == "csv":
        return csv_rows(stream, progress), parse_csv_row
    if fmt == "otlp-json":
        from core.usage.otlp import otlp_json_items

        return otlp_json_items(stream), parse_otlp_item
    raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
