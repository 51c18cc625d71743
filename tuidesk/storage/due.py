"""A ticket's service-level due times, kept with the events that move them: history.record
calls `refresh_due` after each, in the change's own transaction. SQLAlchemy Core only, as the
pipe's path is (no ORM to import)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.engine.sla import (
    ALWAYS,
    Calendar,
    Policy,
    Timeline,
    business_minutes,
    matching_policy,
    parse_duration,
    targets,
)
from tuidesk.storage.tables import aware, tables

TARGETS = ("first_response", "next_response", "resolution")


def as_calendar(row: Any) -> Calendar:
    """The engine's calendar of a stored one (a model or a row)."""
    hours = tuple(tuple((s, e) for s, e in day) for day in row.hours)
    holidays = frozenset(date.fromisoformat(d) for d in row.holidays)
    return Calendar(row.name, row.tz, hours, holidays)


# The events after which a ticket's targets may have moved.
MOVES = frozenset({
    "created", "message", "status", "priority", "branch", "queue", "merged", "merged_from",
    "split", "split_from",
})  # fmt: skip
DUE_COLUMNS = (
    "sla_policy", "first_response_due", "next_response_due", "resolution_due", "due_at",
    "first_response_at", "first_response_minutes", "resolved_at", "resolution_minutes",
)  # fmt: skip


@dataclass(frozen=True)
class Policies:
    """Every policy as engine.sla reads it (targets in business minutes of its calendar) and
    the calendars by name: read once per change, or once for a whole refresh_open."""

    policies: list[Policy]
    calendars: dict[str, Calendar]

    def calendar(self, policy: Policy) -> Calendar:
        return self.calendars.get(policy.calendar or "", ALWAYS)


def load_policies(conn: Connection) -> Policies:
    """The policies with their branch's key and queue's name joined, and the calendars when
    any policy counts in one: one statement on a desk without calendars."""
    t = tables(conn)
    p = t.sla_policy
    rows = conn.execute(
        select(p, t.branch.c.key.label("branch_key"), t.queue.c.name.label("queue_name"))
        .outerjoin(t.branch, t.branch.c.id == p.c.branch_id)
        .outerjoin(t.queue, t.queue.c.id == p.c.queue_id)
    ).all()
    calendars = select(t.sla_calendar)  # only when a policy counts in one: the pipe reads this
    by_id = (
        {c.id: as_calendar(c) for c in conn.execute(calendars)}
        if any(row.calendar_id for row in rows)
        else {}
    )
    policies = []
    for row in rows:
        reading = by_id.get(row.calendar_id, ALWAYS)
        minutes = {
            k: parse_duration(v, reading) if (v := getattr(row, k)) else None for k in TARGETS
        }
        policies.append(
            Policy(
                row.name,
                **minutes,
                branch=row.branch_key,
                priority=row.priority,
                queue=row.queue_name,
                calendar=reading.name if row.calendar_id else None,
            )
        )
    return Policies(policies, {c.name: c for c in by_id.values()})


def refresh_due(conn: Connection, ticket_id: int, known: Policies | None = None) -> None:
    """Work out ticket `ticket_id`'s policy and due times from its events again and store
    them, in the caller's transaction (history.record calls it after each event that moves
    them). With no policy at all, nothing more than the policies is read; `known`: the
    policies read already (refresh_open reads them once for every ticket)."""
    t = tables(conn)
    found = known if known is not None else load_policies(conn)
    ticket = conn.execute(
        select(t.ticket.c.priority, t.ticket.c.created_at, t.ticket.c.sla_policy,
               t.branch.c.key, t.queue.c.name)
        .join(t.branch, t.branch.c.id == t.ticket.c.branch_id)
        .outerjoin(t.queue, t.queue.c.id == t.ticket.c.queue_id)
        .where(t.ticket.c.id == ticket_id)
    ).one_or_none()  # fmt: skip
    if ticket is None or (not found.policies and ticket.sla_policy is None):
        return
    chosen = matching_policy(found.policies, ticket.key, ticket.priority, ticket.name)
    values: dict[str, object] = dict.fromkeys(DUE_COLUMNS)
    if chosen is not None:
        timeline = _timeline(conn, ticket_id, aware(ticket.created_at))
        values |= _due_values(chosen, found.calendar(chosen), timeline)
    conn.execute(update(t.ticket).where(t.ticket.c.id == ticket_id).values(**values))


def _due_values(policy: Policy, calendar: Calendar, timeline: Timeline) -> dict[str, object]:
    values: dict[str, object] = {"sla_policy": policy.name}
    pauses = timeline.pauses()
    done = timeline.resolved() is not None  # nothing is due on a ticket no longer worked
    for target in targets(policy, calendar, timeline):
        if target.met is None:
            values[f"{target.kind}_due"] = None if done else target.due
            continue
        spent = business_minutes(calendar, target.started, target.met, pauses)
        if target.kind == "first_response":
            values["first_response_at"], values["first_response_minutes"] = target.met, spent
        elif target.kind == "resolution":
            values["resolved_at"], values["resolution_minutes"] = target.met, spent
    dues = [values.get(f"{kind}_due") for kind in TARGETS]
    values["due_at"] = min((d for d in dues if d is not None), default=None)
    return values


def _timeline(conn: Connection, ticket_id: int, created: datetime) -> Timeline:
    t = tables(conn)
    rows = conn.execute(
        select(t.ticket_event.c.at, t.ticket_event.c.kind, t.ticket_event.c.data)
        .where(t.ticket_event.c.ticket_id == ticket_id)
        .where(t.ticket_event.c.kind.in_(("status", "message")))
        .order_by(t.ticket_event.c.id)
    ).all()
    statuses = [(aware(r.at), str(r.data.get("to"))) for r in rows if r.kind == "status"]
    messages = [(aware(r.at), str(r.data.get("direction"))) for r in rows if r.kind == "message"]
    first = next((str(r.data.get("from")) for r in rows if r.kind == "status"), "new")
    return Timeline(created, statuses, messages, first_status=first)


def refresh_open(conn: Connection) -> int:
    """Every ticket still being worked on, after the policies or calendars changed: a new
    policy applies to them at once, not from their next mail. How many."""
    t = tables(conn)
    ids = conn.execute(select(t.ticket.c.id).where(t.ticket.c.status.in_(OPEN_STATUSES))).scalars()
    known = load_policies(conn)
    count = 0
    for ticket_id in ids.all():
        refresh_due(conn, ticket_id, known)
        count += 1
    return count
