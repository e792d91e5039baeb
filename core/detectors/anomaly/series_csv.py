"""Read a `timestamp,value` CSV into numpy arrays, with one clear error per malformed input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import InvalidInput

Series = tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]


def read_series_csv(path: Path) -> tuple[list[tuple[str, str]], Series]:
    """The raw (timestamp, value) strings, echoed back verbatim by the probe, and the parsed series."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    raw: list[tuple[str, str]] = []
    values: list[float] = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
            raise InvalidInput(f"{path}: header must be 'timestamp,value', got {','.join(header or [])!r}")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < 2:
                raise InvalidInput(f"{path}:{line_no}: expected 'timestamp,value'")
            try:
                value = float(row[1])
            except ValueError:
                raise InvalidInput(f"{path}:{line_no}: value {row[1]!r} is not a number") from None
            if not np.isfinite(value):
                raise InvalidInput(f"{path}:{line_no}: value {row[1]!r} is not finite")
            raw.append((row[0], row[1]))
            values.append(value)
    return raw, (parse_timestamps([stamp for stamp, _ in raw], source=str(path)), np.asarray(values, dtype=np.float64))


def parse_timestamps(raw: list[str], *, source: str = "input") -> npt.NDArray[np.datetime64]:
    """ISO-8601 timestamps ('2014-04-10 07:15:00' or with 'T'/'Z') as datetime64[s]."""
    cleaned = [text.strip().replace(" ", "T").removesuffix("Z") for text in raw]
    try:
        return np.array(cleaned, dtype="datetime64[s]")
    except ValueError:
        for line_no, text in enumerate(cleaned, start=2):
            try:
                np.datetime64(text, "s")
            except ValueError:
                raise InvalidInput(f"{source}:{line_no}: timestamp {text!r} is not ISO-8601") from None
        raise
