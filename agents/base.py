"""What every agent shares: the services it runs with, the candidate it judges, asking the model (with the
deterministic policy as the fallback when the model's output never checks out), and the consensus score."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import combinations
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import text

from agents.grounding import figures_of
from agents.models import Verdict
from core.db import Database
from core.detectors.waste import DETECTORS
from core.detectors.waste.base import Evidence, Finding
from core.errors import ModelOutputInvalid, ModelUnavailable
from core.routing.llm import LLM
from tools.detections import detect

# The window's usage and the price catalogue (the detectors reprice at list prices), as the detectors see them.
FINGERPRINT_SQL = """
SELECT count(*) AS calls, coalesce(sum(e.cost), 0) AS cost, max(e.ingested_at) AS last_ingest,
       (SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) FROM price_catalogue p) AS prices
FROM usage_events e
WHERE e.organization_id = :org AND e.timestamp >= :start AND e.timestamp < :end
"""

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)
Candidate = dict[str, Any]  # {"key": fingerprint, "finding": Finding.to_dict() + "claims"}


@dataclass
class Services:
    """The run's services (graph nodes receive them through the runtime context; state holds data only)."""

    db: Database
    llm: LLM | None
    org_id: uuid.UUID
    start: datetime
    end: datetime
    constraints: dict[str, Any] = field(default_factory=dict)  # the org's settings["constraints"]
    _memo: dict[Any, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A tool result computed once per run (e.g. a detector re-run shared by its findings)."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = compute()
        with self._lock:
            return self._memo.setdefault(key, value)

    def window_fingerprint(self) -> dict[str, Any]:
        """What the window's usage looks like now (calls, billed cost, last ingest): equal fingerprints mean
        a deterministic detector re-run over the window returns what it returned before."""
        with self.db.engine.connect() as conn:
            row = conn.execute(text(FINGERPRINT_SQL), {"org": self.org_id, "start": self.start,
                                                       "end": self.end}).mappings().one()  # fmt: skip
        return {"calls": int(row["calls"]), "cost": str(row["cost"]), "last_ingest": str(row["last_ingest"]),
                "prices": row["prices"]}  # fmt: skip

    def seed_detection(self, findings: list[Finding]) -> None:
        """Keep the detection run's findings, with the fingerprint of the window they were found in, so the
        skeptic's re-run of a detector can be skipped while the window is provably unchanged."""
        fingerprint = self.window_fingerprint()
        by_type: dict[str, dict[str, Finding]] = {name: {} for name in DETECTORS}
        for finding in findings:
            by_type[finding.type][finding.fingerprint] = finding
        with self._lock:
            self._memo["seeded"] = (fingerprint, by_type)

    def redetection_basis(self) -> dict[str, Any]:
        """How the skeptic reproduces findings in this run: re-run (the window changed since detection, or no
        detection was seeded) or reused (same fingerprint: a re-run would return the same findings)."""

        def compute() -> dict[str, Any]:
            seeded = self._memo.get("seeded")
            now = self.window_fingerprint()
            same = seeded is not None and seeded[0] == now

            def shown(fingerprint: dict[str, Any] | None) -> dict[str, Any] | None:  # the md5 is no figure
                return None if fingerprint is None else {k: v for k, v in fingerprint.items() if k != "prices"}

            return {"tool": "window_fingerprint", "sql": FINGERPRINT_SQL.strip(), "rerun": not same,
                    "at_detection": shown(seeded[0] if seeded else None), "at_review": shown(now),
                    "prices_unchanged": seeded is not None and seeded[0]["prices"] == now["prices"]}  # fmt: skip

        result: dict[str, Any] = self.memo("redetection_basis", compute)
        return result

    def redetect(self, finding_type: str) -> dict[str, Finding]:
        """The detector of `finding_type` re-run over the same window (no de-duplication), by fingerprint; the
        detection run's own findings when the window has not changed since (redetection_basis)."""

        def run() -> dict[str, Finding]:
            if not self.redetection_basis()["rerun"]:
                seeded: dict[str, Finding] = self._memo["seeded"][1].get(finding_type, {})
                return seeded
            with self.db.engine.connect() as conn:
                found = detect(conn, org_id=self.org_id, start=self.start, end=self.end, types=[finding_type],
                               dedupe=False)  # fmt: skip
            return {f.fingerprint: f for f in found}

        result: dict[str, Finding] = self.memo(("detect", finding_type), run)
        return result


def candidate_of(finding: Finding) -> Candidate:
    data = finding.to_dict()
    data["claims"] = [dict(c) for c in finding.claims]
    return {"key": finding.fingerprint, "finding": data}


def finding_of(candidate: Candidate) -> Finding:
    """The Finding back from a candidate's JSON (evidence with its SQL; money as exact decimals)."""
    data = dict(candidate["finding"])
    evidence = [Evidence(e["type"], e["title"], e["query"]["sql"], e["query"]["params"], e["data"])
                for e in data.pop("evidence")]  # fmt: skip
    money = ("current_monthly_cost", "projected_monthly_cost", "estimated_monthly_savings", "window_savings")
    for name in money:
        data[name] = Decimal(data[name])
    return Finding(**data, evidence=evidence)


def monthly(candidate: Candidate) -> float:
    return float(candidate["finding"]["estimated_monthly_savings"])


def tool_figures(candidate: Candidate, *extra: Any) -> set[Decimal]:
    """The figures an agent may write about `candidate`: the finding's, its evidence rows', and extra results."""
    figures = figures_of({k: v for k, v in candidate["finding"].items() if k not in ("title", "description")})
    for item in extra:
        figures_of(item, figures)
    return figures


def ask_model(services: Services, *, tier: str, agent: str, system: str, payload: dict[str, Any],
              schema: type[T], check: Callable[[Any], None]) -> tuple[T | None, str | None]:  # fmt: skip
    """The model's checked reply, or (None, why) when it never gave one: the caller then uses its policy."""
    if services.llm is None:
        return None, None
    content = "\n".join(f"<{name}>\n{json.dumps(value, default=str)}\n</{name}>" for name, value in payload.items())
    try:
        reply = services.llm.structured(tier=tier, agent=agent, system=system, schema=schema, check=check,
                                        messages=[{"role": "user", "content": content}])  # fmt: skip
    except (ModelOutputInvalid, ModelUnavailable) as exc:
        log.warning("%s: model output unusable, using the deterministic policy: %s", agent, exc)
        return None, f"{type(exc).__name__}: {exc}"
    return reply, None


def _agreement(a: Verdict, b: Verdict) -> float:
    if a.decision != b.decision:
        return 0.0
    if a.decision == "drop" or round(a.monthly_savings, 2) == round(b.monthly_savings, 2):
        return 1.0
    return 0.5


def consensus_score(verdicts: list[Verdict]) -> float:
    """Mean pairwise agreement of the round's verdicts: same decision and same figure 1, same decision with
    another figure 0.5, different decisions 0."""
    pairs = list(combinations(verdicts, 2))
    return round(sum(_agreement(a, b) for a, b in pairs) / len(pairs), 4) if pairs else 1.0


def latest(history: list[dict[str, Any]], role: str) -> Verdict | None:
    """The role's verdict in the last completed round of `history` (list of {"round", "verdicts": {...}})."""
    if not history:
        return None
    data = history[-1]["verdicts"].get(role)
    return Verdict.model_validate(data) if data else None
