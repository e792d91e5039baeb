"""`tokentra probe …`: run a model-driven part on any data, for tuning and checking (CONTRACT section 3)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.detectors.anomaly import read_series_csv, score_series

probe_app = typer.Typer(no_args_is_help=True, help="Probes: run a detector on a file, one output line per input line.")


@probe_app.command("series")
def probe_series(file: Annotated[Path, typer.Argument(help="CSV with header 'timestamp,value'")]) -> None:
    """Score every point of a series (online, no look-ahead): CSV timestamp,value,anomaly_score on stdout."""
    raw, (timestamps, values) = read_series_csv(file)
    scores = score_series(timestamps, values)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    for (stamp, value), score in zip(raw, scores.tolist(), strict=True):
        writer.writerow([stamp, value, f"{score:.6f}"])
