"""Running a set of detectors over one window, on the caller's connection or on a few connections at once.

Each detector is a few read-only queries, independent of the others; on a large org (a million calls in the
window) nearly all of their time is the database scanning and aggregating the month. With WORKERS connections the
detectors run at the same time, each on one connection, so the server works on several cores. That is only done
when it cannot change a result: the caller's transaction has written nothing (other connections would not see it)
and reads at READ COMMITTED (each statement already sees the data committed when it starts, the run being many
statements). Otherwise, and for a single detector, they run one after the other on the caller's connection.
The findings come back by detector, in the order asked, whichever finished first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from queue import Empty, SimpleQueue

from sqlalchemy import Connection, text

from core.detectors.waste.base import DetectorContext, Finding, planner_settings

log = logging.getLogger(__name__)

Detector = Callable[[DetectorContext], list[Finding]]

WORKERS = 3

# Planner settings for the run (transaction-local, restored after), measured on an org with 1M calls in the window:
# - work_mem: the hash tables and sorts over a month of a large org's calls stay in memory instead of spilling
#   to disk (the embedded server's default is 64MB);
# - enable_mergejoin off: the detectors join the month's calls to small derived sets (repeated prompts, candidate
#   features, price versions) that have no statistics; misjudging the hash join's cost, the planner sorted all the
#   calls (hundreds of MB) for a merge join instead of hashing the small side;
# - enable_presorted_aggregate off: with it, one aggregate's ORDER BY (array_agg(… ORDER BY …) for the samples)
#   is added to the GROUP BY sort, so every comparison of calls of one scope compares its five text columns; the
#   aggregates sorting their own group instead is several times faster.
RUN_SETTINGS = {"work_mem": "256MB", "enable_mergejoin": "off", "enable_presorted_aggregate": "off"}

# Started first when they run at once (the longest, measured at 1M calls), so no connection is left with a long
# detector at the end while the others are idle.
LONGEST = ("provider_arbitrage", "response_caching", "deduplication", "prompt_compression", "output_length",
           "retry_storm", "prompt_caching", "batch_api", "rate_limit")  # fmt: skip

_CAN_SHARE_SQL = """
SELECT pg_current_xact_id_if_assigned() IS NULL AND current_setting('transaction_isolation') = 'read committed'
"""


def run_detectors(ctx: DetectorContext, detectors: Mapping[str, Detector]) -> dict[str, list[Finding]]:
    """Each detector's findings, by name, in the order of `detectors`."""
    if len(detectors) < 2 or not connection_can_share(ctx.conn):
        with planner_settings(ctx.conn, RUN_SETTINGS):
            return {name: _run(name, detect, ctx) for name, detect in detectors.items()}
    pending: SimpleQueue[str] = SimpleQueue()
    for name in sorted(detectors, key=lambda n: LONGEST.index(n) if n in LONGEST else len(LONGEST)):
        pending.put(name)
    found: dict[str, list[Finding]] = {}
    with ThreadPoolExecutor(min(WORKERS, len(detectors)), thread_name_prefix="waste") as pool:
        lanes = [pool.submit(_lane, ctx, detectors, pending, found) for _ in range(min(WORKERS, len(detectors)))]
        for lane in lanes:
            lane.result()
    return {name: found[name] for name in detectors}


def _lane(ctx: DetectorContext, detectors: Mapping[str, Detector], pending: SimpleQueue[str],
          found: dict[str, list[Finding]]) -> None:  # fmt: skip
    """Run detectors from `pending` on a connection of its own until none is left."""
    with ctx.conn.engine.connect() as conn:
        own = ctx.on(conn)
        with planner_settings(conn, RUN_SETTINGS):
            while True:
                try:
                    name = pending.get_nowait()
                except Empty:
                    return
                found[name] = _run(name, detectors[name], own)


def _run(name: str, detect: Detector, ctx: DetectorContext) -> list[Finding]:
    started = time.perf_counter()
    found = detect(ctx)
    log.debug("waste detector %s: %d findings in %.2fs", name, len(found), time.perf_counter() - started)
    return found


def connection_can_share(conn: Connection) -> bool:
    """True when other connections would read what `conn` reads (see the module's docstring)."""
    return bool(conn.execute(text(_CAN_SHARE_SQL)).scalar_one())
