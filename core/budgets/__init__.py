"""Budgets, thresholds, alerts and enforcement."""
