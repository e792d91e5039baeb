"""Audit log of control-plane changes, and records of analysis runs."""
