"""Fixtures of the integration tests beyond tests/conftest.py: see synth_fixtures.py."""

from synth_fixtures import control, price_fn, wasteful  # noqa: F401  (fixtures)
