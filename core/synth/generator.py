"""`generate_org`: a synthetic org's usage events plus the manifest of what was planted in them."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from core.errors import InvalidInput
from core.synth.anomalies import AnomalyPlan, anomaly_items, plan_anomalies, runaway_agent
from core.synth.calls import People, Traffic
from core.synth.manifest import AnomalyItem, Manifest, affected_counts
from core.synth.profiles import BASELINE
from core.synth.records import Ids, SynthEvent
from core.synth.timeline import Window
from core.synth.waste import NOT_PLANTED, PLANTERS, PlantContext, Planted, WasteKind


class EventStream:
    """The org's events as usage-event dicts, in timestamp order; iterate as often as you like."""

    def __init__(self, records: Sequence[SynthEvent]) -> None:
        self.records = records

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (record.to_dict() for record in self.records)

    def jsonl(self) -> Iterator[bytes]:
        """The events as JSON lines (RFC 3339 `Z` timestamps), newline included."""
        return (orjson.dumps(record.to_dict(text_timestamp=True)) + b"\n" for record in self.records)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class SyntheticOrg:
    """Events (dicts that validate as `UsageEvent`) and the ground-truth manifest."""

    slug: str
    name: str
    events: EventStream
    manifest: Manifest


def generate_org(
    *,
    seed: int,
    end: datetime,
    days: int = 30,
    scale: float = 1.0,
    waste: Iterable[WasteKind | str] | None = None,
    anomalies: bool = True,
    healthy: bool = False,
) -> SyntheticOrg:
    """A deterministic org over [end − days, end): baseline traffic, planted waste (None = every kind) and
    anomalies. `healthy=True` plants nothing (the control org). `scale` multiplies volume linearly."""
    window = _window(end, days)
    if not scale > 0:
        raise InvalidInput("scale must be positive")
    kinds = () if healthy else _kinds(waste)
    people = People.build(Ids(_rng(seed, "people")))
    plan = None
    if anomalies and not healthy:
        plan = plan_anomalies(window, runaway_user=people.employees["product"][2])
    baseline = _baseline(seed, window, scale, people, plan)
    planted = _plant(seed, window, scale, people, kinds)
    extra: list[SynthEvent] = []
    found: list[AnomalyItem] = []
    if plan is not None:
        extra = runaway_agent(plan, _traffic(seed, window, scale, people, "anomaly", "runaway-agent"))
        found = anomaly_items(plan, baseline, extra)
    records = [*baseline, *extra, *(event for p in planted for event in p.events)]
    records.sort(key=lambda e: (e.ts, e.request_id))
    slug = f"synth-{seed}" + ("-control" if healthy else "")
    org = {"slug": slug, "seed": seed, "days": days, "scale": scale, "healthy": healthy, "timezone": "UTC"}
    org |= {"waste_kinds": [k.value for k in kinds], "anomalies": plan is not None, "not_planted": NOT_PLANTED}
    totals = _totals(records, baseline, extra, planted, found)
    manifest = Manifest(org=org, window=window, waste=[p.item for p in planted], anomalies=found, totals=totals)
    return SyntheticOrg(slug=slug, name=f"Synthetic org {seed}", events=EventStream(records), manifest=manifest)


def _window(end: datetime, days: int) -> Window:
    if end.tzinfo is None or end.utcoffset() is None:
        raise InvalidInput("end must be an aware datetime (UTC)")
    if days < 1:
        raise InvalidInput("days must be at least 1")
    end = end.astimezone(UTC)
    return Window(end - timedelta(days=days), end)


def _kinds(waste: Iterable[WasteKind | str] | None) -> tuple[WasteKind, ...]:
    if waste is None:
        return tuple(WasteKind)
    kinds: dict[WasteKind, None] = {}
    for kind in waste:
        if kind in NOT_PLANTED:
            raise InvalidInput(f"{kind} cannot be planted: {NOT_PLANTED[kind]}")
        if kind not in WasteKind.__members__.values():
            raise InvalidInput(f"unknown waste kind {kind!r}; known: {', '.join(WasteKind)}")
        kinds[WasteKind(kind)] = None
    return tuple(kinds)


def _rng(seed: int, *names: str) -> np.random.Generator:
    """An independent stream per (seed, names): adding a waste kind never changes the others' events."""
    return np.random.default_rng([seed % 2**64, *(zlib.crc32(name.encode()) for name in names)])


def _traffic(seed: int, window: Window, scale: float, people: People, *names: str) -> Traffic:
    return Traffic(window=window, scale=scale, people=people, rng=_rng(seed, *names), org=f"synth-{seed}")


def _baseline(seed: int, window: Window, scale: float, people: People, plan: AnomalyPlan | None) -> list[SynthEvent]:
    modifiers = () if plan is None else plan.modifiers
    events: list[SynthEvent] = []
    for profile in BASELINE:
        traffic = _traffic(seed, window, scale, people, "baseline", profile.feature)
        events.extend(traffic.calls(profile, modifiers=modifiers))
    return events


def _plant(seed: int, window: Window, scale: float, people: People, kinds: Sequence[WasteKind]) -> list[Planted]:
    """Each planter on its own stream; its arrivals stop 15 minutes early so follow-ups stay in the window."""
    early = Window(window.start, window.end - timedelta(minutes=15))
    return [
        PLANTERS[kind](PlantContext(_traffic(seed, early, scale, people, "waste", kind.value), window))
        for kind in kinds
    ]


def _totals(
    records: Sequence[SynthEvent],
    baseline: Sequence[SynthEvent],
    extra: Sequence[SynthEvent],
    planted: Sequence[Planted],
    found: Sequence[AnomalyItem],
) -> dict[str, Any]:
    return {
        "events": len(records),
        "baseline_events": len(baseline),
        "anomaly_events": len(extra),
        "waste_events": {p.item.kind: p.item.planted_events for p in planted},
        "affected_requests": affected_counts(p.item for p in planted),
        "anomaly_affected_requests": {a.type: len(a.affected_request_ids) for a in found},
    }


def write_jsonl(org: SyntheticOrg, path: str | Path) -> tuple[Path, Path]:
    """Events as JSONL (RFC 3339 `Z` timestamps) at `path`, the manifest at `<path>.manifest.json`."""
    events_path = Path(path)
    manifest_path = events_path.with_name(events_path.name + ".manifest.json")
    with events_path.open("wb") as out:
        out.writelines(org.events.jsonl())
    manifest_path.write_text(org.manifest.to_json() + "\n", encoding="utf-8")
    return events_path, manifest_path
