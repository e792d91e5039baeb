"""Gateway response cache: exact match by hash, semantic match by embedding (pgvector)."""
