"""Business calendars and SLA policies: one save function each behind the CLI (and later the
admin form and `config import`), checked with engine.sla's own parsers so every door accepts
the same hours, zones and durations."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from sqlmodel import Session, col, func, select

from tuidesk.engine.enums import Priority
from tuidesk.engine.sla import WEEKDAYS, Calendar, check_zone, parse_duration, parse_hours
from tuidesk.storage.branches import get_branch
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.due import TARGETS, as_calendar
from tuidesk.storage.models import Branch, Queue, SlaCalendar, SlaPolicy
from tuidesk.storage.queues import check_name, get_queue


class SlaError(Invalid):
    pass


_Row = TypeVar("_Row", SlaCalendar, SlaPolicy)


def list_calendars(session: Session) -> list[SlaCalendar]:
    return list(session.exec(select(SlaCalendar).order_by(col(SlaCalendar.name))))


def get_calendar(session: Session, name: str) -> SlaCalendar:
    return _named(session, SlaCalendar, name, "calendar")


def save_calendar(
    session: Session,
    *,
    name: str,
    tz: str,
    hours: list[str],
    holidays: list[str | date],
    calendar: SlaCalendar | None = None,
) -> SlaCalendar:
    """Add a calendar, or replace everything of `calendar` (`calendar edit`, `config import`).
    Hours as `mon-fri=09:00-17:00` (later specs replace a day's hours), holidays as
    YYYY-MM-DD (or dates, from TOML)."""
    c = Collector()
    clean_name = c.check("name", check_name, name)
    c.check("tz", check_zone, tz)
    spans = c.check("hours", parse_hours, hours)
    days = c.check("holidays", _holidays, holidays)
    if clean_name is not None and _taken(session, SlaCalendar, clean_name, calendar):
        c.add("name", f"a calendar named {clean_name!r} exists already")
    c.raise_if_any(SlaError)
    assert clean_name is not None and spans is not None and days is not None
    row = calendar or SlaCalendar()
    row.name, row.tz = clean_name, tz
    row.hours = [[list(span) for span in day] for day in spans]
    row.holidays = [d.isoformat() for d in days]
    session.add(row)
    session.flush()
    return row


def _holidays(values: list[str | date]) -> list[date]:
    days = []
    for value in values:
        if isinstance(value, date) and not isinstance(value, datetime):
            days.append(value)
            continue
        try:
            days.append(date.fromisoformat(str(value).strip()))
        except ValueError:
            raise Invalid(f"holiday {value!r}: give a date as YYYY-MM-DD") from None
    return sorted(set(days))


def hour_specs(row: SlaCalendar) -> list[str]:
    """A calendar's hours as `calendar add --hours` takes them, one weekday each: what `config
    export` writes and `calendar edit` starts from."""
    return [f"{day}={','.join(spans)}" for day, spans in shown_hours(row).items()]


def shown_hours(row: SlaCalendar) -> dict[str, list[str]]:
    """The open weekdays and their spans as HH:MM-HH:MM (`calendar list`)."""
    return {
        day: [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in spans]
        for day, spans in zip(WEEKDAYS, row.hours, strict=True)
        if spans
    }


def edit_calendar(
    session: Session,
    row: SlaCalendar,
    *,
    tz: str | None = None,
    hours: list[str] | None = None,
    add_holidays: list[str] | None = None,
    drop_holidays: list[str] | None = None,
) -> SlaCalendar:
    """`calendar edit`: what is given replaces (hours: all of them), holidays are added and
    dropped one by one; a holiday to drop that the calendar does not have is refused."""
    dropped = _holidays(list(drop_holidays or []))
    missing = [d.isoformat() for d in dropped if d.isoformat() not in row.holidays]
    if missing:
        raise SlaError(f"{missing[0]} is not a holiday of calendar {row.name!r}", field="holidays")
    kept = [d for d in row.holidays if date.fromisoformat(d) not in dropped]
    return save_calendar(
        session,
        name=row.name,
        tz=row.tz if tz is None else tz,
        hours=hours or hour_specs(row),
        holidays=[*kept, *(add_holidays or [])],
        calendar=row,
    )


def counting_in(session: Session, row: SlaCalendar) -> list[str]:
    """The names of the policies whose targets count in this calendar, by name."""
    named = select(SlaPolicy.name).where(SlaPolicy.calendar_id == row.id)
    return list(session.exec(named.order_by(col(SlaPolicy.name))))


def remove_calendar(session: Session, row: SlaCalendar) -> None:
    """Only a calendar no policy reads its targets with."""
    policies = counting_in(session, row)
    if policies:
        raise SlaError(f"policy {policies[0]!r} uses calendar {row.name!r}; change it first")
    session.delete(row)
    session.flush()


def list_policies(session: Session) -> list[SlaPolicy]:
    return list(session.exec(select(SlaPolicy).order_by(col(SlaPolicy.name))))


def get_policy(session: Session, name: str) -> SlaPolicy:
    return _named(session, SlaPolicy, name, "SLA policy")


def _named(session: Session, model: type[_Row], name: str, what: str) -> _Row:
    found = session.exec(select(model).where(model.name == name)).first()
    if found is None:
        raise SlaError(f"no {what} named {name!r}", field="name")
    return found


def save_policy(
    session: Session,
    *,
    name: str,
    targets: dict[str, str | None],
    branch: str | None = None,
    priority: str | None = None,
    queue: str | None = None,
    calendar: str | None = None,
    policy: SlaPolicy | None = None,
) -> SlaPolicy:
    """Add a policy, or replace everything of `policy`: at least one target (`first_response`,
    `next_response`, `resolution`, as `4h`, `30m`, `3d`), for the tickets of a branch (key or
    name), priority and queue (None: any), counted on a calendar (None: always open)."""
    c = Collector()
    clean_name = c.check("name", check_name, name)
    if clean_name is not None and _taken(session, SlaPolicy, clean_name, policy):
        c.add("name", f"an SLA policy named {clean_name!r} exists already")
    cal = c.check("calendar", get_calendar, session, calendar) if calendar is not None else None
    given = {k: v.strip() for k, v in targets.items() if v is not None and v.strip()}
    if not given:
        c.add("targets", "give at least one of --first-response, --next-response, --resolution")
    reading = as_calendar(cal) if cal is not None else Calendar("24/7")
    for key, value in given.items():
        c.check(key, lambda v: parse_duration(v, reading), value)
    branch_row = c.check("branch", get_branch, session, branch) if branch is not None else None
    queue_row = c.check("queue", get_queue, session, queue) if queue is not None else None
    if priority is not None and priority not in tuple(Priority):
        c.add("priority", f"priority must be one of {', '.join(Priority)}")
    c.raise_if_any(SlaError)
    assert clean_name is not None
    row = policy or SlaPolicy()
    row.name = clean_name
    for key in TARGETS:
        setattr(row, key, given.get(key))
    row.branch_id = branch_row.id if branch_row else None
    row.priority = priority
    row.queue_id = queue_row.id if queue_row else None
    row.calendar_id = cal.id if cal else None
    session.add(row)
    session.flush()
    return row


def _taken(
    session: Session,
    model: type[SlaCalendar] | type[SlaPolicy],
    name: str,
    saving: SlaCalendar | SlaPolicy | None,
) -> bool:
    """Another row of that name, in any case (not the one being saved)."""
    same = select(model).where(func.lower(model.name) == name.lower())
    if saving is not None and saving.id is not None:
        same = same.where(model.id != saving.id)
    return session.exec(same).first() is not None


# `sla edit`'s word for "clear it": no target, any branch, priority or queue, 24/7.
NONE = "none"


def edit_policy(session: Session, row: SlaPolicy, changes: dict[str, str | None]) -> SlaPolicy:
    """`sla edit`: each given field (a target, branch, priority, queue, calendar) replaces the
    policy's, `none` clears it; the rest is kept. Checked as `sla add` checks a new one."""
    now = described(session, row)
    for key, value in changes.items():
        if value is not None:
            now[key] = None if value.strip().lower() == NONE else value
    return save_policy(
        session,
        name=row.name,
        targets={key: now[key] for key in TARGETS},
        branch=now["branch"],
        priority=now["priority"],
        queue=now["queue"],
        calendar=now["calendar"],
        policy=row,
    )


def remove_policy(session: Session, row: SlaPolicy) -> None:
    session.delete(row)
    session.flush()


def described(session: Session, row: SlaPolicy) -> dict[str, str | None]:
    """A policy as `sla list` shows it: names, not ids."""
    branch = session.get(Branch, row.branch_id) if row.branch_id else None
    queue = session.get(Queue, row.queue_id) if row.queue_id else None
    cal = session.get(SlaCalendar, row.calendar_id) if row.calendar_id else None
    return {
        "name": row.name,
        **{key: getattr(row, key) for key in TARGETS},
        "branch": branch.key if branch else None,
        "priority": row.priority,
        "queue": queue.name if queue else None,
        "calendar": cal.name if cal else None,
    }


def set_escalation_agents(session: Session, branch: Branch, who: list[str]) -> list[str]:
    """The agents (email, login or name) told of the branch's tickets nearing or breaching a
    target; an empty list clears them. Their names, in order."""
    from tuidesk.storage.agents import find_agent

    found = []
    for name in who:
        if not name.strip():
            continue
        agent = find_agent(session, name.strip())
        if agent is None:
            raise SlaError(f"no agent {name.strip()!r}", field="escalate")
        found.append(agent)
    branch.escalation_agents = list(dict.fromkeys(a.id for a in found))  # type: ignore[misc]
    session.add(branch)
    session.flush()
    return [a.name for a in found]
