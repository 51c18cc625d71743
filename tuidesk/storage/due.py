"""A ticket's service-level due times, kept with the events that move them: history.record
calls `refresh_due` after each, in the change's own transaction. SQLAlchemy Core only, as the
pipe's path is (no ORM to import)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

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


def refresh_due(conn: Connection, ticket_id: int) -> None:
    """Work out ticket `ticket_id`'s policy and due times from its events again and store
    them, in the caller's transaction (history.record calls it after each event that moves
    them). With no policy at all, nothing more than the policies is read."""
    t = tables(conn)
    found = load_policies(conn)
    ticket = conn.execute(_tickets(t).where(t.ticket.c.id == ticket_id)).one_or_none()
    if ticket is None or (not found.policies and ticket.sla_policy is None):
        return
    _store(conn, _worked_out(conn, found, [ticket])[0])


def _tickets(t: Any) -> Any:
    """What choosing a ticket's policy reads, and its stored due columns (to skip rewriting
    what did not move)."""
    return (
        select(t.ticket.c.id, t.ticket.c.priority, t.ticket.c.created_at, t.branch.c.key,
               t.queue.c.name, *(t.ticket.c[column] for column in DUE_COLUMNS))
        .join(t.branch, t.branch.c.id == t.ticket.c.branch_id)
        .outerjoin(t.queue, t.queue.c.id == t.ticket.c.queue_id)
    )  # fmt: skip


def _worked_out(
    conn: Connection,
    found: Policies,
    tickets: list[Any],
    touched: Collection[str] | None = None,
) -> tuple[list[dict[str, object]], int]:
    """The due columns of each ticket whose stored ones are not what its policy and events
    give now, its events read for many tickets at once; and how many tickets were worked out.
    A ticket without a policy before or after costs nothing, and neither does one that keeps
    a policy not `touched` (None: all)."""
    chosen = {
        ticket.id: matching_policy(found.policies, ticket.key, ticket.priority, ticket.name)
        for ticket in tickets
    }
    if touched is not None:
        tickets = [
            ticket
            for ticket in tickets
            if (policy := chosen[ticket.id]) is None
            or policy.name in touched
            or policy.name != ticket.sla_policy
        ]
    timed = [ticket for ticket in tickets if chosen[ticket.id] is not None]
    timelines = _timelines(conn, {ticket.id: aware(ticket.created_at) for ticket in timed})
    changed, worked = [], 0
    for ticket in tickets:
        values: dict[str, object] = dict.fromkeys(DUE_COLUMNS)
        policy = chosen[ticket.id]
        if policy is not None:
            values |= _due_values(policy, found.calendar(policy), timelines[ticket.id])
        elif ticket.sla_policy is None:
            continue
        worked += 1
        if any(_stored(getattr(ticket, key)) != _stored(values[key]) for key in DUE_COLUMNS):
            changed.append({"ticket_id": ticket.id, **values})
    return changed, worked


def _stored(value: object) -> object:
    """A due column as compared: datetimes in UTC whatever the database gave back."""
    return aware(value) if isinstance(value, datetime) else value


def _store(conn: Connection, changed: list[dict[str, object]]) -> None:
    """One UPDATE statement (SET from the dicts' column keys), executed for every changed
    ticket (executemany)."""
    if changed:
        ticket = tables(conn).ticket
        conn.execute(update(ticket).where(ticket.c.id == bindparam("ticket_id")), changed)


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


def _timelines(conn: Connection, created: dict[int, datetime]) -> dict[int, Timeline]:
    """The timelines of these tickets (id -> opened at), their events read in chunks of
    CHUNK ids, in order."""
    t = tables(conn)
    event = t.ticket_event
    rows: dict[int, list[Any]] = {ticket_id: [] for ticket_id in created}
    ids = list(created)
    for first in range(0, len(ids), CHUNK):
        for row in conn.execute(
            select(event.c.ticket_id, event.c.at, event.c.kind, event.c.data)
            .where(event.c.ticket_id.in_(ids[first : first + CHUNK]))
            .where(event.c.kind.in_(("status", "message")))
            .order_by(event.c.ticket_id, event.c.id)
        ):
            rows[row.ticket_id].append(row)
    return {ticket_id: _timeline(created[ticket_id], rows[ticket_id]) for ticket_id in ids}


CHUNK = 5000  # ids per IN list: well under SQLite's 32,766 variables


def _timeline(created: datetime, rows: list[Any]) -> Timeline:
    statuses = [(aware(r.at), str(r.data.get("to"))) for r in rows if r.kind == "status"]
    messages = [(aware(r.at), str(r.data.get("direction"))) for r in rows if r.kind == "message"]
    first = next((str(r.data.get("from")) for r in rows if r.kind == "status"), "new")
    return Timeline(created, statuses, messages, first_status=first)


def refresh_open(conn: Connection, touched: Collection[str] | None = None) -> int:
    """Every ticket still being worked on, after the policies or calendars changed: a new
    policy applies to them at once, not from their next mail. `touched`: the policies whose
    targets or calendar changed (None: any may have), so a ticket that keeps another policy
    is left alone. The policies, the open tickets and their events are read once each
    (events in chunks), and only the tickets whose due times moved are written, in one
    executemany. How many open tickets had their due times worked out again."""
    t = tables(conn)
    tickets = conn.execute(_tickets(t).where(t.ticket.c.status.in_(OPEN_STATUSES))).all()
    changed, worked = _worked_out(conn, load_policies(conn), tickets, touched)
    _store(conn, changed)
    return worked
