"""Service levels: business calendars, SLA policies and the due times of a ticket, from its
events. Pure: times in, times out, with the clock passed in, so every case (DST changes,
holidays, pending pauses) is tested with fixed clocks.

A calendar is open on weekday hours in its time zone, closed on its holidays. Business time runs
only while the calendar is open and the ticket is not pending. A policy's "d" is a business day:
the calendar's average open hours of a working day (8h on mon-fri 09:00-17:00, 24h on the
always-open calendar), so "3d" is three working days whatever the clock of the start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
SEARCH_DAYS = 3 * 366  # how far ahead a due time is looked for before giving up (None)

_HOURS_SPEC = re.compile(r"^\s*([a-z,\-\s]+?)\s*=\s*(.+?)\s*$", re.IGNORECASE)
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?$", re.IGNORECASE)

Span = tuple[int, int]  # minutes since local midnight, start < end <= 1440


@dataclass(frozen=True)
class Calendar:
    """Open hours per weekday (Monday first) in a time zone, and days it is closed."""

    name: str
    tz: str = "UTC"
    hours: tuple[tuple[Span, ...], ...] = ((( 0, DAY_MINUTES),),) * 7  # fmt: skip
    holidays: frozenset[date] = frozenset()

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @cached_property
    def day_minutes(self) -> int:
        """A business day: the average open minutes of the weekdays that open at all."""
        open_days = [sum(e - s for s, e in spans) for spans in self.hours if spans]
        return round(sum(open_days) / len(open_days)) if open_days else DAY_MINUTES

    def open_spans(
        self, start: datetime, end: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """The UTC intervals the calendar is open from `start` on (up to `end`), in order.
        Built per local day, so a DST change moves the UTC times and not the opening hours."""
        day = start.astimezone(self.zone).date()
        for _ in range(SEARCH_DAYS):
            if day not in self.holidays:
                for s, e in self.hours[day.weekday()]:
                    a, b = self._utc(day, s), self._utc(day, e)
                    if end is not None and a >= end:
                        return
                    if b > start:
                        yield max(a, start), b if end is None else min(b, end)
            day += timedelta(days=1)

    def _utc(self, day: date, minute: int) -> datetime:
        if minute >= DAY_MINUTES:
            return datetime.combine(day + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        local = datetime.combine(day, time(minute // 60, minute % 60), self.zone)
        return local.astimezone(UTC)


ALWAYS = Calendar("24/7")


@dataclass(frozen=True)
class Policy:
    """Targets in business minutes (None: no target) and what tickets the policy is for."""

    name: str
    first_response: int | None = None
    next_response: int | None = None
    resolution: int | None = None
    branch: str | None = None
    priority: str | None = None
    queue: str | None = None
    calendar: str | None = None

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.branch, self.priority, self.queue))

    def applies(self, branch: str | None, priority: str | None, queue: str | None) -> bool:
        return all(
            want is None or want == got
            for want, got in ((self.branch, branch), (self.priority, priority), (self.queue, queue))
        )


def matching_policy(
    policies: Iterable[Policy], branch: str | None, priority: str | None, queue: str | None
) -> Policy | None:
    """The most specific policy that applies (more of branch, priority, queue named); among
    equals the first by name, so the choice never depends on the order they were added in."""
    fitting = [p for p in policies if p.applies(branch, priority, queue)]
    return min(fitting, key=lambda p: (-p.specificity, p.name), default=None)


# --------------------------------------------------------------------------------------------
# Parsing what admins type


def parse_hours(specs: Sequence[str]) -> tuple[tuple[Span, ...], ...]:
    """`mon-fri=09:00-17:00`, `sat=10:00-14:00`, `mon,wed=08:00-12:00,13:00-17:00`: later
    specs replace a day's hours. ValueError says what is wrong."""
    days: list[tuple[Span, ...]] = [()] * 7
    for spec in specs:
        m = _HOURS_SPEC.match(spec)
        if not m:
            raise ValueError(f"hours {spec!r}: write DAYS=HH:MM-HH:MM, e.g. mon-fri=09:00-17:00")
        spans = tuple(sorted(_span(part, spec) for part in m[2].split(",")))
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise ValueError(f"hours {spec!r}: the spans overlap")
        for day in _days(m[1], spec):
            days[day] = spans
    if not any(days):
        raise ValueError("hours: the calendar is never open")
    return tuple(days)


def _span(text: str, spec: str) -> Span:
    m = _SPAN.match(text.strip())
    if not m:
        raise ValueError(f"hours {spec!r}: {text.strip()!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = map(int, m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or h1 > 23 or end > DAY_MINUTES or start >= end:
        raise ValueError(f"hours {spec!r}: {text.strip()!r} is not a span of one day")
    return start, end


def _days(text: str, spec: str) -> list[int]:
    out: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"hours {spec!r}: days are mon, tue, wed, thu, fri, sat, sun")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        out += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    return out


def _parts(text: str) -> tuple[int, int, int] | None:
    """Days, hours and minutes of `1d4h30m` (any of them), None when it is not one."""
    m = _DURATION.match(text.strip())
    if not text.strip() or not m or not any(m.groups()):
        return None
    d, h, mins = (int(g or 0) for g in m.groups())
    return d, h, mins


def parse_duration(text: str, calendar: Calendar = ALWAYS) -> int:
    """Business minutes of `4h`, `30m`, `3d`, `1d4h`; a day is the calendar's business day."""
    parts = _parts(text)
    if parts is None:
        raise ValueError(f"duration {text!r}: write e.g. 30m, 4h, 3d or 1d4h")
    d, h, mins = parts
    total = d * calendar.day_minutes + h * 60 + mins
    if total <= 0:
        raise ValueError(f"duration {text!r}: must be more than nothing")
    return total


def business_time(minutes: float | None) -> str:
    """Business minutes as reports show them, `2h 05m` (`45m` under the hour; hours, not
    days: a business day is not 24 hours), `-` when nothing was measured."""
    if minutes is None:
        return "-"
    hours, mins = divmod(round(minutes), 60)
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def parse_due(text: str) -> timedelta:
    """`before:2h` (`ticket list --due`): due within that much wall time from now; `before:0m`
    is what is breached already."""
    kind, _, span = text.strip().partition(":")
    parts = _parts(span)
    if kind.lower() != "before" or parts is None:
        raise ValueError(f"--due {text!r}: write before:DURATION, e.g. before:2h or before:0m")
    d, h, mins = parts
    return timedelta(days=d, hours=h, minutes=mins)


def check_zone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"time zone {tz!r} is unknown (e.g. Europe/Berlin, UTC)") from exc
    return tz


# --------------------------------------------------------------------------------------------
# The clock


def _running(
    calendar: Calendar, start: datetime, pauses: Sequence[tuple[datetime, datetime | None]]
) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals from `start` with the paused periods (end None: still paused) cut out."""
    for a, b in calendar.open_spans(start):
        pieces = [(a, b)]
        for p_start, p_end in pauses:
            cut = []
            for x, y in pieces:
                if p_end is not None and p_end <= x or p_start >= y:
                    cut.append((x, y))
                    continue
                if x < p_start:
                    cut.append((x, p_start))
                if p_end is not None and p_end < y:
                    cut.append((p_end, y))
            pieces = cut
        yield from pieces
        if any(p_end is None and p_start <= b for p_start, p_end in pauses):
            return  # paused for good: the clock will not run again


def add_business(
    calendar: Calendar,
    start: datetime,
    minutes: int,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
) -> datetime | None:
    """When `minutes` of business time have run from `start`; None when the clock is paused
    for good before then, or the calendar never opens within SEARCH_DAYS."""
    left = timedelta(minutes=minutes)
    for a, b in _running(calendar, start, pauses):
        if b - a >= left:
            return a + left
        left -= b - a
    return None


def business_minutes(
    calendar: Calendar,
    start: datetime,
    end: datetime,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
) -> float:
    """Business minutes that ran between `start` and `end`."""
    total = timedelta()
    for a, b in _running(calendar, start, pauses):
        if a >= end:
            break
        total += min(b, end) - a
    return total.total_seconds() / 60


# --------------------------------------------------------------------------------------------
# A ticket's targets


@dataclass(frozen=True)
class Timeline:
    """What the clocks of one ticket are read from: when it was opened, its status changes
    (at, new status) in order, and its messages (at, direction: in, out or note) in order."""

    created: datetime
    statuses: Sequence[tuple[datetime, str]] = ()
    messages: Sequence[tuple[datetime, str]] = ()
    first_status: str = "new"

    def pauses(self) -> list[tuple[datetime, datetime | None]]:
        """The pending periods: the customer has the ball, the clocks stop."""
        out: list[tuple[datetime, datetime | None]] = []
        since = self.created if self.first_status == "pending" else None
        for at, status in self.statuses:
            if status == "pending" and since is None:
                since = at
            elif status != "pending" and since is not None:
                out.append((since, at))
                since = None
        if since is not None:
            out.append((since, None))
        return out

    def resolved(self) -> datetime | None:
        """When it was last resolved or closed, if it still is."""
        last = self.first_status
        at_last = self.created
        for at, status in self.statuses:
            if (status in ("resolved", "closed")) != (last in ("resolved", "closed")):
                at_last = at
            last = status
        return at_last if last in ("resolved", "closed") else None


@dataclass(frozen=True)
class Target:
    """One promise on a ticket: since when its clock runs, when it is due, when it was met."""

    kind: str  # first_response, next_response, resolution
    started: datetime
    due: datetime | None  # None: paused for good, or never due
    met: datetime | None = None

    def breached(self, now: datetime) -> bool:
        if self.due is None:
            return False
        return (self.met or now) > self.due


def targets(policy: Policy, calendar: Calendar, timeline: Timeline) -> list[Target]:
    """The ticket's first response, current next response and resolution targets."""
    pauses = timeline.pauses()
    out: list[Target] = []
    replies = [at for at, direction in timeline.messages if direction == "out"]
    if policy.first_response is not None:
        due = add_business(calendar, timeline.created, policy.first_response, pauses)
        out.append(Target("first_response", timeline.created, due, replies[0] if replies else None))
    starts = next_response_starts(timeline.messages)
    if policy.next_response is not None and starts:
        waiting = starts[-1]  # the one that matters now; reports read them all
        met = next((at for at in replies if at > waiting), None)
        due = add_business(calendar, waiting, policy.next_response, pauses)
        out.append(Target("next_response", waiting, due, met))
    if policy.resolution is not None:
        due = add_business(calendar, timeline.created, policy.resolution, pauses)
        out.append(Target("resolution", timeline.created, due, timeline.resolved()))
    return out


def next_response_starts(messages: Sequence[tuple[datetime, str]]) -> list[datetime]:
    """When each next-response clock started: a customer's mail after one of our answers,
    the first of a run of them (a second mail before we answer does not restart it)."""
    starts: list[datetime] = []
    answered = waiting = False
    for at, direction in messages:
        if direction == "out":
            answered, waiting = True, False
        elif direction == "in" and answered and not waiting:
            starts.append(at)
            waiting = True
    return starts
