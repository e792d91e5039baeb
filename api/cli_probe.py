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


@probe_app.command("route")
def probe_route(file: Annotated[Path, typer.Argument(help='JSONL with {"prompt", "system"?} per line')]) -> None:
    """Classify every prompt (no LLM call): JSONL {"score", "tier", "task_type", "category"} per input line."""
    import orjson

    from core.routing.classify import classify

    with file.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                item = orjson.loads(line)
                prompt, system = item["prompt"], item.get("system")
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise typer.BadParameter(f"line {number}: expected {{'prompt', 'system'?}}: {exc}") from exc
            result = classify(str(prompt), None if system is None else str(system))
            out = {"score": result.score, "tier": result.tier, "task_type": result.task_type,
                   "category": result.category}  # fmt: skip
            sys.stdout.write(orjson.dumps(out).decode() + "\n")


@probe_app.command("cache")
def probe_cache(file: Annotated[Path, typer.Argument(help='JSONL with {"text_a", "text_b"} per line')]) -> None:
    """Would a cache holding text_a answer text_b (default settings)? JSONL {"similarity", "hit"} per line."""
    import json

    from core.cache.keys import DEFAULT_SIMILARITY_THRESHOLD
    from core.cache.semantic import SemanticMatcher
    from core.errors import InvalidInput
    from core.routing.embeddings import get_embedder

    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"line {number}: not JSON ({exc})") from exc
        texts = (row.get("text_a"), row.get("text_b")) if isinstance(row, dict) else (None, None)
        if not all(isinstance(text, str) for text in texts):
            raise InvalidInput(f"line {number}: text_a and text_b must be strings")
        pairs.append((row["text_a"], row["text_b"]))
    matcher = SemanticMatcher(get_embedder())
    for similarity in matcher.score_pairs(pairs):
        hit = matcher.hit(similarity, DEFAULT_SIMILARITY_THRESHOLD)
        sys.stdout.write(json.dumps({"similarity": round(similarity, 6), "hit": hit}) + "\n")
