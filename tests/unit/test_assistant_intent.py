"""The offline assistant's question parsing: groupings named by adverbs ("daily", "hourly")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.intent import parse_question

NOW = datetime(2026, 10, 21, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "group_by"),
    [
        ("daily spend in the last 7 days", "day"),
        ("hourly cost yesterday", "hour"),
        ("spend day by day this week", "day"),
        ("spend by day last week", "day"),
        ("total spend in the last 7 days", None),
    ],
)
def test_adverbs_and_phrases_name_the_time_grouping(question: str, group_by: str | None) -> None:
    assert parse_question(question, now=NOW, vocab={}).group_by == group_by
