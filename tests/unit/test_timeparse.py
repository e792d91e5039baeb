"""Parsing the times users type (CLI --from/--to, API dates): RFC 3339, bare dates, 'now'; always UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.timeparse import parse_time, rfc3339
from core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:15:00Z", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)),
        ("2026-03-01T10:15:00.123456z", datetime(2026, 3, 1, 10, 15, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T10:15:00+02:00", datetime(2026, 3, 1, 8, 15, tzinfo=UTC)),
        ("2026-02-28T22:30:00-05:00", datetime(2026, 3, 1, 3, 30, tzinfo=UTC)),
        ("2026-03-01T10:15:00", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)),  # naive = UTC
        ("  2026-03-01  ", datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_times_are_read_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_now_is_now() -> None:
    before = datetime.now(UTC)
    assert before <= parse_time("NOW") <= datetime.now(UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-03-01T25:00:00Z", "03/01/2026"])
def test_bad_times_name_the_option(text: str) -> None:
    with pytest.raises(InvalidInput, match="--from"):
        parse_time(text, name="--from")


def test_rfc3339_round_trips() -> None:
    moment = datetime(2026, 3, 1, 8, 15, tzinfo=UTC)
    assert rfc3339(moment) == "2026-03-01T08:15:00Z"
    assert parse_time(rfc3339(moment)) == moment
    assert rfc3339(datetime(2026, 3, 1, 10, 15, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))) == (
        "2026-03-01T10:15:00Z"
    )
