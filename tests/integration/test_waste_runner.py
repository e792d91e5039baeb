"""The detector runner (core/detectors/waste/runner.py): detectors run at once on several connections give exactly
the findings of a run on the caller's connection, which is used when the caller's transaction has written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from synth_fixtures import Loaded

from core.detectors.waste import DetectorContext, run_all
from core.detectors.waste.runner import RUN_SETTINGS, connection_can_share


def test_a_transaction_that_wrote_keeps_the_run_on_its_connection(db: Any) -> None:
    with db.engine.connect() as conn:
        assert connection_can_share(conn)
        conn.execute(text("SELECT pg_current_xact_id()"))  # the transaction now has an id, as after a write
        assert not connection_can_share(conn)


def test_concurrent_run_equals_a_run_on_one_connection(db: Any, wasteful: Loaded) -> None:
    window = wasteful.org.manifest.window
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_current_xact_id()"))
        assert not connection_can_share(conn)
        alone = run_all(DetectorContext(conn, wasteful.org_id, window.start, window.end), dedupe=False)
    assert alone, "the wasteful org has findings"
    assert [f.to_dict() for f in wasteful.raw] == [f.to_dict() for f in alone]
    assert [f.claims for f in wasteful.raw] == [f.claims for f in alone]


def test_run_settings_do_not_outlive_the_run(db: Any, wasteful: Loaded) -> None:
    window = wasteful.org.manifest.window
    names = ", ".join(f"current_setting('{name}')" for name in RUN_SETTINGS)
    with db.engine.connect() as conn:
        before = conn.execute(text(f"SELECT {names}")).one()
        run_all(DetectorContext(conn, wasteful.org_id, window.start, window.end), ["timeout_waste", "batch_api"])
        assert conn.execute(text(f"SELECT {names}")).one() == before
        conn.execute(text("SELECT pg_current_xact_id()"))
        run_all(DetectorContext(conn, wasteful.org_id, window.start, window.end), ["timeout_waste", "batch_api"])
        assert conn.execute(text(f"SELECT {names}")).one() == before
