"""Deterministic detectors: one module per waste kind and per anomaly method."""
