"""Usage events: schema, provider normalizers, ingest, rollups and cost queries."""
