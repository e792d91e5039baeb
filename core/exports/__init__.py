"""Exports of stored usage: FinOps FOCUS CSV and CSV/JSON of any costs query."""
