"""The assistant's read-only SQL surface: the `analytics` views (migration 0009) and the log of every query."""
