"""Who is mailed about a ticket's events, and when (engine.notify says what the mail says).

An agent is told of the events they chose (`Agent.notify`), never of their own doing: not of a
ticket their own mail opened, not of a reply from their address (that is the agent's mail, not
a customer's), not of an assignment they made. Agents have no branch of their own, so "the
agents of a ticket's branch" are all agents.

At most one mail goes to an agent about a ticket in `notify_min_interval_seconds`: an event
while their last mail still waits in the outbox is folded into it (the mail is rebuilt with
every event), and one after that mail went out waits for a new mail due when the interval
has passed. A notification is an outbox row (kind `notify`: the same retries) with the ticket
and no message row, written in the transaction of the change that caused it; it is not part of
the ticket's conversation, but its Message-ID is ours (a copy coming back is a loop) and an
answer to it threads to the ticket (storage.lookup)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, select, update

from tuidesk.engine.compose import HeaderInjection, OutgoingMail, build_mail
from tuidesk.engine.notify import (
    Event,
    TicketFacts,
    notification_subject,
    notification_text,
)
from tuidesk.engine.parse import Address
from tuidesk.storage.outbox import (
    NOTIFY,
    OutboundError,
    TicketRow,
    enqueue,
    find_ticket,
    notification_mail,
    outgoing_for,
)
from tuidesk.storage.settings import get_settings
from tuidesk.storage.tables import aware, tables


@dataclass(frozen=True)
class _Agent:
    id: int
    name: str
    email: str
    notify: tuple[str, ...]
    addresses: frozenset[str]  # lower-cased: their email and aliases


def _agents(conn: Connection) -> list[_Agent]:
    agent = tables(conn).agent
    rows = conn.execute(
        select(agent.c.id, agent.c.name, agent.c.email, agent.c.notify, agent.c.aliases).order_by(
            agent.c.id
        )  # an alias two agents list is the first one's, as lookup's
    )
    return [
        _Agent(r.id, r.name, r.email, tuple(r.notify or ()),
               frozenset(a.lower() for a in [r.email, *(r.aliases or ())]))
        for r in rows
    ]  # fmt: skip


def agent_by_address(agents: Iterable[_Agent], email: str) -> _Agent | None:
    """The agent who mails from this address (their email or an alias), if any."""
    key = email.lower()
    return next((a for a in agents if key in a.addresses), None)


def _who(address: Address) -> str:
    return f"{address.name} <{address.email}>" if address.name else address.email


def ticket_opened(
    conn: Connection,
    number: int,
    *,
    sender: Address | None,
    requester: Address,
    text: str,
    now: datetime,
) -> None:
    """A new ticket: every agent who chose `new`, but the one whose mail opened it."""
    agents = _agents(conn)
    actor = agent_by_address(agents, sender.email) if sender else None
    wanting = [a for a in agents if "new" in a.notify and a != actor]
    _tell(conn, number, wanting, Event("new", now, _who(requester), text), now)


def customer_replied(
    conn: Connection, number: int, *, sender: Address, text: str, now: datetime
) -> None:
    """A customer's reply: its assignee, if they chose `reply`; on a ticket nobody has, the
    agents told of new tickets. A reply from an agent's address is the agent's own: nobody."""
    agents = _agents(conn)
    if agent_by_address(agents, sender.email) is not None:
        return
    assignee = _assignee(conn, number)
    if assignee is None:
        wanting = [a for a in agents if "new" in a.notify]
    else:
        wanting = [a for a in agents if a.id == assignee and "reply" in a.notify]
    _tell(conn, number, wanting, Event("reply", now, _who(sender), text), now)


def ticket_assigned(
    conn: Connection, number: int, *, assignee: int, actor: int | None, now: datetime
) -> None:
    """The ticket given to an agent: them, if they chose `assigned` and did not take it
    themselves. `actor` is the agent who assigned it (None: not known, e.g. a script)."""
    if assignee == actor:
        return
    agents = _agents(conn)
    by = next((a.name for a in agents if a.id == actor), "")
    wanting = [a for a in agents if a.id == assignee and "assigned" in a.notify]
    _tell(conn, number, wanting, Event("assigned", now, by, ""), now)


def mails_failed(conn: Connection, outbox_ids: Sequence[int], reason: str, now: datetime) -> None:
    """Our mails on tickets failed for good or bounced: each ticket's assignee, else the agent
    who wrote the mail, if they chose `failed`. A notification's own failure tells nobody (it
    would be one more mail to the address that fails)."""
    if not outbox_ids:
        return
    t = tables(conn)
    outbox, message = t.outbox, t.message
    rows = conn.execute(
        select(outbox.c.ticket_id, outbox.c.recipients, message.c.agent_id)
        .outerjoin(message, message.c.id == outbox.c.message_row_id)
        .where(outbox.c.id.in_(list(outbox_ids)), outbox.c.kind != NOTIFY)
        .where(outbox.c.ticket_id.is_not(None))
        .order_by(outbox.c.id)
    ).all()
    agents = _agents(conn) if rows else []
    for row in rows:
        told = _assignee(conn, row.ticket_id) or row.agent_id
        wanting = [a for a in agents if a.id == told and "failed" in a.notify]
        event = Event("failed", now, ", ".join(row.recipients), reason)
        _tell(conn, row.ticket_id, wanting, event, now)


def _assignee(conn: Connection, number: int) -> int | None:
    ticket = tables(conn).ticket
    return conn.execute(select(ticket.c.assignee_id).where(ticket.c.id == number)).scalar()


def _tell(
    conn: Connection, number: int, agents: Sequence[_Agent], event: Event, now: datetime
) -> None:
    """Mail `event` to each agent. Without an outgoing channel there is no way to: the change
    that caused it matters more, and goes on. An address without a dot in its domain (the
    first user's `NAME@localhost`, until they set their own) is no mailbox anyone reads."""
    agents = [a for a in agents if "." in a.email.rpartition("@")[2]]
    if not agents:
        return
    ticket = find_ticket(conn, str(number))
    try:
        out = outgoing_for(conn, ticket.channel_id, ticket.branch_addresses)
    except OutboundError:
        return
    facts = _facts(conn, ticket)
    interval = timedelta(seconds=int(get_settings(conn)["notify_min_interval_seconds"]))
    for agent in agents:
        try:
            _queue(conn, ticket, out, facts, agent, event, now, interval)
        except HeaderInjection:  # an address we cannot write a header with: not this one
            continue


def _facts(conn: Connection, ticket: TicketRow) -> TicketFacts:
    t = tables(conn)
    assignee = conn.execute(
        select(t.agent.c.name)
        .join(t.ticket, t.ticket.c.assignee_id == t.agent.c.id)
        .where(t.ticket.c.id == ticket.number)
    ).scalar()
    requester = _who(ticket.requester) if ticket.requester else None
    return TicketFacts(ticket.ref, ticket.title, ticket.status, assignee, requester)


def _queue(
    conn: Connection,
    ticket: TicketRow,
    out: Row,
    facts: TicketFacts,
    agent: _Agent,
    event: Event,
    now: datetime,
    interval: timedelta,
) -> None:
    t = tables(conn)
    outbox, notification = t.outbox, t.notification
    row = _notification(conn, agent.id, ticket.number)
    prior = None
    if row.outbox_id is not None:
        prior = conn.execute(
            select(outbox.c.status, outbox.c.sent_at, outbox.c.message_id).where(
                outbox.c.id == row.outbox_id
            )
        ).first()
    if prior is not None and prior.status == "queued":
        events = [*(Event.of(e) for e in row.events), event]
        raw = build_mail(_mail(conn, ticket, out, facts, agent, events, prior.message_id, now))
        folded = conn.execute(
            update(outbox)
            .where(outbox.c.id == row.outbox_id, outbox.c.status == "queued")
            .values(raw=raw)
        ).rowcount
        if folded:
            events_now = [e.as_dict() for e in events]
            query = update(notification).where(notification.c.id == row.id)
            conn.execute(query.values(events=events_now))
            return
        due = now + interval  # a sender claimed it meanwhile: it goes now, this one after
    elif prior is None:  # none yet, or its outbox row is gone: the interval from when it was due
        due = _after(row.last_sent_at, now, interval)
    elif prior.status == "failed":  # never read: it does not count
        due = now
    else:  # sent, or being sent now
        due = _after(prior.sent_at or now, now, interval)
    mail = _mail(conn, ticket, out, facts, agent, [event], None, now)
    raw = build_mail(mail)
    outbox_id = enqueue(
        conn, kind=NOTIFY, ticket=ticket.number, message_row=None, out=out, mail=mail, raw=raw,
        due=due,
    )  # fmt: skip
    conn.execute(
        update(notification)
        .where(notification.c.id == row.id)
        .values(events=[event.as_dict()], outbox_id=outbox_id, last_sent_at=due)
    )


def _after(last: datetime | None, now: datetime, interval: timedelta) -> datetime:
    """When the next mail may go: `interval` after the last one, and not before now."""
    return now if last is None else max(now, aware(last) + interval)


def _mail(
    conn: Connection,
    ticket: TicketRow,
    out: Row,
    facts: TicketFacts,
    agent: _Agent,
    events: Sequence[Event],
    message_id: str | None,
    now: datetime,
) -> OutgoingMail:
    return notification_mail(
        conn, ticket, out, Address(agent.name, agent.email),
        notification_subject(facts.title, facts.ref),
        notification_text(agent.name, facts, events, agent.notify),
        message_id=message_id, now=now,
    )  # fmt: skip


def _notification(conn: Connection, agent: int, ticket: int) -> Row:
    """The agent's row for the ticket, made if new, and locked: two processes telling the same
    agent at once fold one after the other."""
    notification = tables(conn).notification
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # imported only when used: each dialect costs pipe start-up time
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    conn.execute(
        dialect_insert(notification)
        .values(agent_id=agent, ticket_id=ticket, events=[])
        .on_conflict_do_nothing(index_elements=["agent_id", "ticket_id"])
    )
    mine = (notification.c.agent_id == agent) & (notification.c.ticket_id == ticket)
    return conn.execute(select(notification).where(mine).with_for_update()).one()


def ticket_escalated(
    conn: Connection, number: int, *, agents: Sequence[int], what: str, now: datetime
) -> None:
    """A target of the ticket near or breached: these agents (its assignee and its branch's
    escalation agents), whatever events they chose, since nobody chooses to miss one."""
    wanting = [a for a in _agents(conn) if a.id in set(agents)]
    _tell(conn, number, wanting, Event("escalated", now, what, ""), now)
