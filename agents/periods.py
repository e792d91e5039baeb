"""Periods users name in questions, resolved against "now" (`--as-of`), all UTC and half-open [start, end).

"last week" is the previous ISO week (Monday to Monday); "this week/month/year/quarter" and "today" run from
their start to now; "yesterday", "last month", "in October", "on 2026-10-05" are whole calendar periods;
"last 7 days" / "past 24 hours" end now; "between X and Y" / "from X to Y" include the day Y; "since X" ends now.
A month named without a year is the latest one that has started.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTHS = {
    name: index
    for index, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
         ("november", "nov"), ("december", "dec")], start=1)
    for name in names
}  # fmt: skip
_MONTH = r"(?P<mon>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
            "ten": 10, "fourteen": 14, "thirty": 30, "a": 1}  # fmt: skip
_UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
_DATE = r"(\d{4}-\d{2}-\d{2})(?:[t ](\d{2}:\d{2}(?::\d{2})?)z?)?"
_MON = _MONTH.replace("?P<mon>", "?:")
_DAYNAME = (
    rf"(?:{_MON}\s+\d{{1,2}}(?:st|nd|rd|th)?(?!\d)(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MON}(?:\s+\d{{4}})?"
    r"|\d{4}-\d{2}-\d{2})"
)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str  # how the question named it ("last week"), or a description of the default
    kind: str = "span"  # day | week | month | quarter | year | span: how to find the period before it

    def previous(self) -> Period:
        """The period just before, of the same kind (the calendar month before, same elapsed time)."""
        length = self.end - self.start
        if self.kind in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
            start = add_months(self.start, -months)
            return Period(start, min(start + length, self.start), f"the {self.kind} before", self.kind)
        return Period(self.start - length, self.start, "the period before", self.kind)


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def _to_date(clip: datetime, start: datetime, end: datetime) -> datetime:
    """A period that contains now runs until now."""
    return clip if start < clip < end else end


def _number(word: str | None) -> int:
    if not word:
        return 1
    return int(word) if word.isdigit() else _NUMBERS.get(word, 1)


def _month_start(mon: str, year: str | None, now: datetime) -> datetime:
    month = MONTHS[mon.rstrip(".")]
    start = datetime(int(year) if year else now.year, month, 1, tzinfo=UTC)
    if not year and start > now:
        start = start.replace(year=start.year - 1)
    return start


def parse_day(text: str, now: datetime) -> datetime | None:
    """A day or moment named as 2026-10-05[T10:00], 'Oct 5[, 2026]' or '5 October [2026]'."""
    text = text.strip().lower()
    match = re.fullmatch(_DATE, text)
    if match:
        moment = datetime.fromisoformat(match.group(1) + ("T" + match.group(2) if match.group(2) else ""))
        return moment.replace(tzinfo=UTC)
    match = re.fullmatch(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{4}))?", text) or re.fullmatch(
        r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r"(?:\s+(?P<y>\d{4}))?", text)  # fmt: skip
    if not match:
        return None
    month_start = _month_start(match.group("mon"), match.group("y"), now)
    try:
        day = month_start.replace(day=int(match.group("d")))
    except ValueError:
        return None
    if not match.group("y") and day > now:
        day = day.replace(year=day.year - 1)
    return day


def _relative(q: str, now: datetime) -> tuple[Period, tuple[int, int]] | None:
    today = day_start(now)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    quarter = month.replace(month=(month.month - 1) // 3 * 3 + 1)
    year = month.replace(month=1)
    fixed: list[tuple[str, Callable[[], Period]]] = [
        (r"\btoday\b", lambda: Period(today, _to_date(now, today, today + timedelta(days=1)), "today", "day")),
        (r"\byesterday\b", lambda: Period(today - timedelta(days=1), today, "yesterday", "day")),
        (r"\b(?:last|previous|prior) (?:calendar |iso )?week\b",
         lambda: Period(week - timedelta(days=7), week, "last week", "week")),
        (r"\b(?:this|current) week\b|\bweek to date\b|\bwtd\b",
         lambda: Period(week, _to_date(now, week, week + timedelta(days=7)), "this week", "week")),
        (r"\b(?:last|previous|prior) (?:calendar )?month\b",
         lambda: Period(add_months(month, -1), month, "last month", "month")),
        (r"\b(?:this|current) month\b|\bmonth[- ]to[- ]date\b|\bmtd\b|\bso far this month\b",
         lambda: Period(month, _to_date(now, month, add_months(month, 1)), "this month", "month")),
        (r"\b(?:last|previous|prior) quarter\b",
         lambda: Period(add_months(quarter, -3), quarter, "last quarter", "quarter")),
        (r"\b(?:this|current) quarter\b|\bquarter to date\b|\bqtd\b",
         lambda: Period(quarter, _to_date(now, quarter, add_months(quarter, 3)), "this quarter", "quarter")),
        (r"\b(?:last|previous|prior) year\b", lambda: Period(add_months(year, -12), year, "last year", "year")),
        (r"\b(?:this|current) year\b|\byear[- ]to[- ]date\b|\bytd\b",
         lambda: Period(year, _to_date(now, year, add_months(year, 12)), "this year", "year")),
    ]  # fmt: skip
    for pattern, make in fixed:
        match = re.search(pattern, q)
        if match:
            return make(), match.span()
    match = re.search(
        r"\b(?:last|past|previous|prior|trailing)\s+(?P<n>\d+|[a-z]+)?\s*(?P<unit>hour|day|week|month)s?\b", q
    )
    if match and (match.group("n") is None or match.group("n").isdigit() or match.group("n") in _NUMBERS):
        n, unit = _number(match.group("n")), match.group("unit")
        if unit == "month":  # "the last 3 months": 90 days
            n, unit = 30 * n, "day"
        words = f"the last {n} {unit}{'s' if n != 1 else ''}"
        return Period(now - n * _UNITS[unit], now, words, "span"), match.span()
    return None


def _explicit(q: str, now: datetime) -> tuple[Period, tuple[int, int]] | None:
    match = re.search(
        r"\b(?:between|from)\s+(?P<a>" + _DAYNAME + r")\s+(?:and|to|until|-)\s+(?P<b>" + _DAYNAME + r")", q
    )
    if match:
        a, b = parse_day(match.group("a"), now), parse_day(match.group("b"), now)
        if a and b and b >= a:
            end = b + timedelta(days=1) if b == day_start(b) else b
            return Period(a, end, f"{match.group('a')} to {match.group('b')}", "span"), match.span()
    match = re.search(r"\bsince\s+(?P<a>" + _DAYNAME + r")", q)
    if match:
        a = parse_day(match.group("a"), now)
        if a and a < now:
            return Period(a, now, f"since {match.group('a')}", "span"), match.span()
    match = re.search(r"\b(?:on\s+)?(?P<a>" + _DAYNAME + r")", q)
    if match and parse_day(match.group("a"), now):
        day = parse_day(match.group("a"), now)
        assert day is not None
        return Period(day, day + timedelta(days=1), match.group("a"), "day"), match.span()
    for match in re.finditer(r"(?P<pre>\b(?:in|during|for|of|over)\s+)?\b" + _MONTH + r"(?:\s+(?P<y>\d{4}))?", q):
        if match.group("mon") in ("may", "mar") and not (match.group("pre") or match.group("y")):
            continue  # "may" and "mar" are words too
        start = _month_start(match.group("mon"), match.group("y"), now)
        end = add_months(start, 1)
        return Period(start, _to_date(now, start, end), start.strftime("%B %Y"), "month"), match.span()
    return None


def find_periods(question: str, now: datetime) -> list[Period]:
    """Every period named in the question, in the order they appear (the spans do not overlap)."""
    q = question.lower()
    found: list[tuple[int, Period]] = []
    while True:
        hit = _explicit(q, now) or _relative(q, now)
        if hit is None:
            break
        period, (a, b) = hit
        found.append((a, period))
        q = q[:a] + " " * (b - a) + q[b:]
    return [p for _, p in sorted(found, key=lambda item: item[0])]


def default_period(now: datetime, days: int = 30) -> Period:
    return Period(now - timedelta(days=days), now, f"the last {days} days", "span")


def compared_periods(question: str, now: datetime) -> tuple[Period, Period]:
    """(current, baseline) of a comparison: two named periods (the later is current), one named period and the
    one before it, or the last 7 days and the 7 days before."""
    periods = find_periods(question, now)
    if re.search(r"\bthe (?:week|month|day) before\b|\bprevious (?:week|month|day)\b", question.lower()):
        periods = periods[:1]
    if len(periods) >= 2:
        a, b = sorted(periods[:2], key=lambda p: p.start)
        return b, a
    current = periods[0] if periods else default_period(now, 7)
    return current, current.previous()
