"""Alerts out: webhook and Slack-compatible channels, signed, retried, every attempt recorded."""
