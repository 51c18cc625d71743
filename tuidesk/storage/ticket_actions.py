"""Changing a ticket's fields (status, priority, assignee, branch, queue, custom fields) from
the console or the CLI, through one function. `expected` is the ticket's `updated_at` as the
agent saw it: when someone else changed the ticket since, nothing is written and the caller
asks first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from tuidesk.engine.refs import ticket_ref
from tuidesk.storage import history, notify
from tuidesk.storage.apply import insert_ignoring_conflict
from tuidesk.storage.checks import Invalid
from tuidesk.storage.models import PRIORITIES, TICKET_STATUSES
from tuidesk.storage.outbox import OutboundError, TicketRow, find_ticket
from tuidesk.storage.tables import aware, tables, utcnow
from tuidesk.storage.ticket_types import check_default

UNSET: Any = object()  # "leave as it is", where None means "clear"


class TicketChanged(Exception):
    """The ticket changed since the agent opened it."""

    def __init__(self, ref: str, at: datetime) -> None:
        super().__init__(f"{ref} was changed at {at:%H:%M:%S} since you opened it")
        self.ref = ref
        self.at = at


class TicketError(ValueError):
    pass


class FieldsRefused(TicketError):
    """Custom field values refused, each message under its field's name, so a form can show
    every one beside its field (the CLI prints them joined)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Updated:
    ref: str
    changes: dict[str, Any]
    updated_at: datetime


def ticket_version(conn: Connection, number: int) -> datetime:
    """What `expected` compares against: the ticket's last change."""
    ticket = tables(conn).ticket
    found = conn.execute(select(ticket.c.updated_at).where(ticket.c.id == number)).scalar()
    if found is None:
        raise TicketError(f"no ticket {number}")
    return aware(found)


def update_ticket(
    conn: Connection,
    ref: str,
    *,
    expected: datetime | None = None,
    status: str | None = None,
    priority: str | None = None,
    assignee: str | None = UNSET,
    branch: str | None = None,
    queue: str | None = UNSET,
    actor: history.Actor = history.SYSTEM,
    fields: dict[str, str] | None = None,
) -> Updated:
    """Set what is given. `assignee` is an agent's email, login or name (None unassigns);
    `queue` a queue name, created if new (None clears it); `fields` custom fields of the
    ticket's type, each value checked against the field's kind ("" clears one that is not
    required; every refusal at once, by field: FieldsRefused). `actor` made the change: each
    field whose value it changed is an event of theirs, and the new assignee is mailed about
    it, unless they are the actor."""
    try:
        found = find_ticket(conn, ref)
    except OutboundError as exc:
        raise TicketError(str(exc)) from exc
    t = tables(conn)
    current = ticket_version(conn, found.number)
    if expected is not None and current != aware(expected):
        raise TicketChanged(found.ref, current)
    before = _before(conn, found.number)
    values: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    if status is not None:
        if status not in TICKET_STATUSES:
            raise TicketError(f"status must be one of {', '.join(TICKET_STATUSES)}")
        values["status"] = shown["status"] = status
    if priority is not None:
        if priority not in PRIORITIES:
            raise TicketError(f"priority must be one of {', '.join(PRIORITIES)}")
        values["priority"] = shown["priority"] = priority
    named: dict[str, Any] = {}  # the new values as history names them
    if assignee is not UNSET:
        new_assignee = _agent(conn, assignee) if assignee else None
        values["assignee_id"] = new_assignee.id if new_assignee else None
        named["assignee"] = new_assignee.name if new_assignee else None
        shown["assignee"] = assignee
    new_ref = found.ref
    if branch is not None:
        b = t.branch
        row = conn.execute(
            select(b.c.id, b.c.key).where(or_(b.c.key == branch.upper(), b.c.name == branch))
        ).first()
        if row is None:
            raise TicketError(f"no branch {branch!r}")
        values["branch_id"] = row.id
        shown["branch"] = named["branch"] = row.key
        new_ref = ticket_ref(row.key, found.number)
    if queue is not UNSET:
        values["queue_id"] = _queue_id(conn, queue) if queue else None
        shown["queue"] = queue
        named["queue"] = queue.strip() if queue else None
    if fields:
        values["custom_fields"], shown["fields"] = _custom_fields(conn, found, fields)
    if not values:
        raise TicketError("nothing to change")
    now = utcnow()
    # Compare and set in one statement: two agents saving at once cannot both pass the check.
    written = conn.execute(
        update(t.ticket)
        .where(t.ticket.c.id == found.number, t.ticket.c.updated_at == current)
        .values(updated_at=now, **values)
    ).rowcount
    if not written:
        raise TicketChanged(found.ref, ticket_version(conn, found.number))
    _record(conn, found.number, actor, before, values, named, now)
    assignee_id = values.get("assignee_id")
    if assignee_id is not None and assignee_id != before.assignee_id:
        notify.ticket_assigned(
            conn, found.number, assignee=assignee_id, actor=actor.agent_id, now=now
        )
    return Updated(new_ref, shown, now)


def _before(conn: Connection, number: int) -> Any:
    """What the ticket's fields were, as history names them, in one read."""
    t = tables(conn)
    ticket, agent, branch, queue = t.ticket, t.agent, t.branch, t.queue
    return conn.execute(
        select(
            ticket.c.status, ticket.c.priority, ticket.c.assignee_id, ticket.c.custom_fields,
            agent.c.name.label("assignee"), branch.c.key.label("branch"),
            queue.c.name.label("queue"),
        )
        .join(branch, branch.c.id == ticket.c.branch_id)
        .outerjoin(agent, agent.c.id == ticket.c.assignee_id)
        .outerjoin(queue, queue.c.id == ticket.c.queue_id)
        .where(ticket.c.id == number)
    ).one()  # fmt: skip


def _record(
    conn: Connection,
    number: int,
    actor: history.Actor,
    before: Any,
    values: dict[str, Any],
    named: dict[str, Any],
    now: datetime,
) -> None:
    """An event for each field the change moved; none for a value set to what it was."""
    new = {k: values[k] for k in ("status", "priority") if k in values} | named
    history.changed(conn, number, actor, {k: getattr(before, k) for k in new}, new, at=now)
    if "custom_fields" in values:
        was, now_is = before.custom_fields or {}, values["custom_fields"]
        moved = {k: now_is.get(k) for k in sorted({*was, *now_is}) if was.get(k) != now_is.get(k)}
        if moved:
            history.record(conn, number, "fields", actor, {"changes": moved}, at=now)


def _agent(conn: Connection, who: str) -> Any:
    """The agent (id, name) whose login, email (any case) or name this is, or TicketError."""
    agent = tables(conn).agent
    found = conn.execute(
        select(agent.c.id, agent.c.name).where(
            or_(agent.c.login == who, func.lower(agent.c.email) == who.lower(), agent.c.name == who)
        )
    ).first()
    if found is None:
        raise TicketError(f"no agent {who!r}")
    return found


def _custom_fields(
    conn: Connection, found: TicketRow, given: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The ticket's custom fields with `given` applied, and what changed; a field its type
    does not have, a value its kind cannot take, or clearing a required one is refused."""
    t = tables(conn)
    ticket, field, ttype = t.ticket, t.custom_field, t.ticket_type
    row = conn.execute(
        select(ticket.c.custom_fields, ticket.c.ticket_type_id, ttype.c.name)
        .outerjoin(ttype, ttype.c.id == ticket.c.ticket_type_id)
        .where(ticket.c.id == found.number)
    ).one()
    specs = {
        f.name: f
        for f in conn.execute(
            select(field.c.name, field.c.kind, field.c.required)
            .where(field.c.ticket_type_id == row.ticket_type_id)
            .order_by(field.c.id)
        )
    }
    current = dict(row.custom_fields or {})
    shown: dict[str, str | None] = {}
    refused: dict[str, str] = {}
    for name, value in given.items():
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(specs) or "none"
            of = f"type {row.name!r}" if row.name else "no ticket type"
            refused[name] = f"{found.ref} has {of}: no field {name!r} (its fields: {known})"
            continue
        try:
            clean = check_default(spec.kind, value, name)
        except Invalid as exc:
            refused[name] = str(exc)
            continue
        if clean is None:
            if spec.required:
                refused[name] = f"{name} is required: give it a value"
                continue
            current.pop(name, None)
        else:
            current[name] = clean
        shown[name] = clean
    if refused:
        raise FieldsRefused(refused)
    return current, shown


def _queue_id(conn: Connection, name: str) -> int:
    if any(c in name for c in "\r\n\x00") or not name.strip():
        raise TicketError("a queue name is one line of text")
    queue = tables(conn).queue
    insert_ignoring_conflict(conn, queue, "name", {"name": name.strip(), "colour": "default"})
    return int(conn.execute(select(queue.c.id).where(queue.c.name == name.strip())).scalar_one())
