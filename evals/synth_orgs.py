"""Synthetic orgs (core/synth) loaded into the database for the eval suites, through the real ingest path."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.db import Database
from core.synth import SyntheticOrg


def load_org(db: Database, org: SyntheticOrg, *, slug: str) -> uuid.UUID:
    """The synthetic org in the database through core ingest; reused when it is already loaded whole."""
    from core.errors import NotFound
    from core.orgs.service import create_org, get_org
    from core.pricing.book import PriceBook
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    with db.session() as session:
        try:
            org_id = get_org(session, slug).id
        except NotFound:
            org_id = create_org(session, slug=slug).id
        stored = session.execute(text("SELECT count(*) FROM usage_events WHERE organization_id = :o"),
                                 {"o": org_id}).scalar_one()  # fmt: skip
        book = PriceBook.load(session)
    if stored != len(org.events):
        ingest(db, org_id=org_id, items=enumerate(org.events.jsonl(), start=1), parse=decode_json, book=book)
    return org_id
