"""The ticket list as the console needs it at a million tickets: the ordered ids of a view in
one query (integers only, cheap to hold; its first screen alone with a limit, read off the
sort's index), the visible rows fetched by id, counts and a change token that read only an
index's worth, cheap enough to ask every second. Core statements, plain values out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, or_, select

from tuidesk.clock import utcnow
from tuidesk.engine.enums import CLOSED_STATUSES, OPEN_STATUSES, TicketStatus
from tuidesk.engine.fields import missing
from tuidesk.engine.refs import ticket_ref
from tuidesk.storage.tables import aware, tables
from tuidesk.storage.tags import ticket_tags

VIEWS = ("all", "mine", "unassigned", "open", "pending", "closed", "every", "breached", "due_today")
SORTS = ("updated", "created", "priority", "ref", "status", "requester", "due")
# Views of the service levels: open tickets due by a moment (see `Moment`), breached included.
DUE_VIEWS = ("breached", "due_today")
# A view's statuses; None means any. "all" is every ticket still being worked on.
_VIEW_STATUSES: dict[str, tuple[TicketStatus, ...] | None] = {
    "all": OPEN_STATUSES,
    "mine": OPEN_STATUSES,
    "unassigned": OPEN_STATUSES,
    "open": (TicketStatus.NEW, TicketStatus.OPEN),
    "pending": (TicketStatus.PENDING,),
    "closed": CLOSED_STATUSES,
    "every": None,
    "breached": OPEN_STATUSES,
    "due_today": OPEN_STATUSES,
}
_PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


@dataclass(frozen=True)
class Moment:
    """When a load reads the due views: `now` (the one clock) and the end of the console's
    local day, so "Due today" is the agent's today, not UTC's."""

    now: datetime
    day_end: datetime

    @classmethod
    def at(cls, now: datetime, tz: Any) -> Moment:
        """`now` and the end of its day in the time zone `tz` (a tzinfo); both in UTC, as
        stored (SQLite compares the text)."""
        local = now.astimezone(tz)
        end = datetime.combine(local.date() + timedelta(days=1), time(0), local.tzinfo)
        return cls(now=now.astimezone(UTC), day_end=end.astimezone(UTC))

    def due_by(self, view: str) -> datetime:
        """The due time a due view's tickets are due by: "Due today" holds the breached ones
        too (overdue is due today, and first when sorted by due)."""
        return self.now if view == "breached" else self.day_end


@dataclass(frozen=True)
class TicketFilter:
    """What the list shows: a view, narrowed by fields and a text search, in an order."""

    view: str = "all"
    agent_id: int | None = None  # whose tickets "mine" means
    status: str | None = None
    branch: str | None = None  # key or name
    channel: str | None = None  # the incoming channel's name
    queue: str | None = None
    assignee: str | None = None  # an agent's email, or "none"
    search: str = ""  # the search language (engine.search_query): ranked by storage.search
    sort: str = "updated"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}")
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")


@dataclass(frozen=True)
class TicketLine:
    """One row of the list."""

    number: int
    ref: str
    status: str
    priority: str
    requester: str
    title: str
    branch: str
    queue: str | None
    queue_colour: str | None
    updated_at: datetime
    assignee: str | None
    needs: tuple[str, ...] = ()  # required fields of its type still empty
    tags: tuple[str, ...] = ()
    due_at: datetime | None = None  # the next service-level target (None: none to meet)


def ticket_ids(
    conn: Connection, spec: TicketFilter, limit: int | None = None, moment: Moment | None = None
) -> list[int]:
    """Every ticket number of the view, in display order; with `limit`, the first ones only
    (the first screen, painted before the rest of a long view is read). `moment`: when the
    due views are read (now, and the end of a UTC day, when not given)."""
    moment = moment or Moment.at(utcnow(), UTC)
    if spec.search.strip():
        return _searched(conn, spec, moment)[:limit]
    t = tables(conn)
    ticket, branch, contact, queue, agent = t.ticket, t.branch, t.contact, t.queue, t.agent
    query = select(ticket.c.id)
    if spec.view in DUE_VIEWS:  # of the open tickets: about 40 ms at a million on SQLite
        query = query.where(ticket.c.due_at <= moment.due_by(spec.view))
    statuses = _VIEW_STATUSES[spec.view]
    if spec.status:
        query = query.where(ticket.c.status == spec.status)
    elif statuses is not None:
        query = query.where(ticket.c.status.in_(statuses))
    if spec.view == "mine":
        query = query.where(ticket.c.assignee_id == (spec.agent_id or -1))
    if spec.view == "unassigned" or spec.assignee == "none":
        query = query.where(ticket.c.assignee_id.is_(None))
    elif spec.assignee:
        query = query.join(agent, agent.c.id == ticket.c.assignee_id).where(
            func.lower(agent.c.email) == spec.assignee.lower()
        )
    if spec.branch:
        query = query.join(branch, branch.c.id == ticket.c.branch_id).where(
            or_(branch.c.key == spec.branch.upper(), branch.c.name == spec.branch)
        )
    if spec.channel:
        query = query.join(t.channel, t.channel.c.id == ticket.c.channel_id).where(
            t.channel.c.name == spec.channel
        )
    if spec.queue:
        query = query.join(queue, queue.c.id == ticket.c.queue_id).where(queue.c.name == spec.queue)
    needs_contact = spec.sort == "requester"
    if needs_contact:
        query = query.outerjoin(contact, contact.c.id == ticket.c.requester_id)
    key: Any = {
        "updated": ticket.c.updated_at,
        "created": ticket.c.created_at,
        "priority": case(_PRIORITY_RANK, value=ticket.c.priority, else_=9),
        "ref": ticket.c.id,
        "status": ticket.c.status,
        "requester": func.lower(contact.c.email) if needs_contact else ticket.c.id,
        "due": ticket.c.due_at,
    }[spec.sort]
    if spec.sort == "priority":  # most urgent first when descending
        order = [key.asc() if spec.descending else key.desc()]
    elif spec.sort == "due":  # soonest first when descending; no target last either way.
        # One statement: the view's open tickets sorted, 43 ms for a first screen at a million
        # on SQLite. The due ones and then the rest, in two, read the rest off the due_at
        # index's NULLs (every closed ticket): 0.3 to 0.8 s.
        order = [(key.asc() if spec.descending else key.desc()).nulls_last()]
    else:
        order = [key.desc() if spec.descending else key.asc()]
    tie = ticket.c.id.desc() if spec.descending else ticket.c.id.asc()
    return list(conn.execute(query.order_by(*order, tie).limit(limit)).scalars())


def _searched(conn: Connection, spec: TicketFilter, moment: Moment) -> list[int]:
    """A search, best match first, within the view and the filters; what the query names
    itself (status:, assignee:, branch:, queue:) wins over them. In a due view, only the
    matches due by its moment (the open tickets due then, read once, not match by match)."""
    from tuidesk.engine.search_query import QueryError, parse_query
    from tuidesk.storage.search import ranked_ids

    try:
        query = parse_query(spec.search)
    except QueryError:  # the console refuses it before it gets here
        return []
    view_assignee = {"mine": ("me",), "unassigned": ("none",)}.get(spec.view, ())
    query = replace(
        query,
        statuses=query.statuses
        or ((spec.status,) if spec.status else tuple(_VIEW_STATUSES[spec.view] or ())),
        assignees=query.assignees or view_assignee or ((spec.assignee,) if spec.assignee else ()),
        branches=query.branches or ((spec.branch,) if spec.branch else ()),
        queues=query.queues or ((spec.queue,) if spec.queue else ()),
        channels=(spec.channel,) if spec.channel else (),
    )
    found = ranked_ids(conn, query, agent_id=spec.agent_id)
    if spec.view not in DUE_VIEWS:
        return found
    ticket = tables(conn).ticket
    due = set(
        conn.execute(
            select(ticket.c.id).where(
                ticket.c.due_at <= moment.due_by(spec.view), ticket.c.status.in_(OPEN_STATUSES)
            )
        ).scalars()
    )
    return [number for number in found if number in due]


def ticket_lines(conn: Connection, numbers: Sequence[int]) -> dict[int, TicketLine]:
    """The rows for these ticket numbers (the visible window), by number."""
    if not numbers:
        return {}
    t = tables(conn)
    ticket, branch, contact, queue, agent = t.ticket, t.branch, t.contact, t.queue, t.agent
    rows = conn.execute(
        select(
            ticket.c.id, ticket.c.status, ticket.c.priority, ticket.c.title, ticket.c.updated_at,
            ticket.c.due_at, branch.c.key, contact.c.name, contact.c.email,
            queue.c.name.label("queue"), queue.c.colour, agent.c.name.label("agent"),
            ticket.c.ticket_type_id, ticket.c.custom_fields,
        )
        .join(branch, branch.c.id == ticket.c.branch_id)
        .outerjoin(contact, contact.c.id == ticket.c.requester_id)
        .outerjoin(queue, queue.c.id == ticket.c.queue_id)
        .outerjoin(agent, agent.c.id == ticket.c.assignee_id)
        .where(ticket.c.id.in_(list(numbers)))
    ).all()  # fmt: skip
    field = t.custom_field
    required: dict[int, list[str]] = {}
    types = {r.ticket_type_id for r in rows if r.ticket_type_id is not None}
    if types:
        for type_id, name in conn.execute(
            select(field.c.ticket_type_id, field.c.name)
            .where(field.c.required, field.c.ticket_type_id.in_(types))
            .order_by(field.c.id)
        ):
            required.setdefault(type_id, []).append(name)
    tags = ticket_tags(conn, [r.id for r in rows])
    return {
        r.id: TicketLine(
            number=r.id,
            ref=ticket_ref(r.key, r.id),
            status=r.status,
            priority=r.priority,
            requester=r.name or r.email or "",
            title=r.title,
            branch=r.key,
            queue=r.queue,
            queue_colour=r.colour,
            updated_at=aware(r.updated_at),
            assignee=r.agent,
            needs=tuple(missing(required.get(r.ticket_type_id, ()), r.custom_fields or {})),
            tags=tags.get(r.id, ()),
            due_at=aware(r.due_at) if r.due_at else None,
        )
        for r in rows
    }


def change_token(conn: Connection) -> tuple[Any, ...]:
    """Different whenever a ticket, a message or the quarantine changed, in any process or on
    any host: maxima read off an index (tickets are never deleted, so the newest number stands
    for their count: counting a million index entries took tens of milliseconds every second)
    and the quarantine's count, which stays small."""
    t = tables(conn)
    ticket, message, quarantine = t.ticket, t.message, t.quarantine
    return tuple(
        conn.execute(
            select(
                select(func.max(ticket.c.id)).scalar_subquery(),
                select(func.max(ticket.c.updated_at)).scalar_subquery(),
                select(func.max(message.c.id)).scalar_subquery(),
                select(func.count()).select_from(quarantine).scalar_subquery(),
            )
        ).one()
    )


def view_counts(
    conn: Connection, agent_id: int | None, moment: Moment | None = None
) -> dict[str, int]:
    """How many tickets each sidebar view holds, and the quarantine, in one query. Every view
    counted is of tickets still being worked on: only those are read, by the status index (a
    desk's closed tickets, most of a million, are never scanned). `moment`: as ticket_ids."""
    moment = moment or Moment.at(utcnow(), UTC)
    ticket = tables(conn).ticket

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = conn.execute(
        select(
            func.count(),
            count(ticket.c.assignee_id == (agent_id or -1)),
            count(ticket.c.assignee_id.is_(None)),
            count(ticket.c.status.in_(_VIEW_STATUSES["open"])),
            count(ticket.c.status == TicketStatus.PENDING),
            count(ticket.c.due_at <= moment.due_by("breached")),
            count(ticket.c.due_at <= moment.due_by("due_today")),
        ).where(ticket.c.status.in_(OPEN_STATUSES))
    ).one()
    quarantined = conn.execute(select(func.count(tables(conn).quarantine.c.id))).scalar_one()
    return {
        "all": int(row[0]),
        "mine": int(row[1]),
        "unassigned": int(row[2]),
        "open": int(row[3]),
        "pending": int(row[4]),
        "breached": int(row[5]),
        "due_today": int(row[6]),
        "quarantine": int(quarantined),
    }
