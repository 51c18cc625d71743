"""Joining two tickets about one problem, and taking part of a conversation out into a ticket of
its own. Both only move rows and write events, never delete: what a merge put together a split
can take out again, and the source ticket stays, closed, pointing at the one it went into (mail
threading to it lands there: storage.lookup follows `merged_into_id`).

The requester's Cc moves with the messages: who takes part in a ticket is read from its mails
(engine.participants), and storage.lookup.ticket_mails counts the requesters of the tickets
merged into it as invited.

Merging into a ticket that was itself merged is refused, naming the ticket it went into, rather
than followed: the agent sees where the messages go. A merged ticket cannot be merged again,
so no chain can loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tuidesk.engine.enums import TicketStatus
from tuidesk.engine.fields import title_from_subject
from tuidesk.engine.parse import TITLE_LIMIT, Address
from tuidesk.engine.refs import ticket_ref
from tuidesk.engine.text import clean_line
from tuidesk.storage.apply import upsert_contact
from tuidesk.storage.history import Actor, record
from tuidesk.storage.lookup import final_ticket
from tuidesk.storage.outbox import OutboundError, find_ticket
from tuidesk.storage.tables import tables, utcnow
from tuidesk.storage.tags import ticket_tags, write_tags


class MergeError(ValueError):
    """A merge or split refused, with why."""


@dataclass(frozen=True)
class Merged:
    source: str
    into: str
    messages: int

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "into": self.into, "messages": self.messages}


@dataclass(frozen=True)
class Split:
    original: str
    ticket: str
    number: int
    messages: int

    def as_dict(self) -> dict[str, Any]:
        return {"original": self.original, "ticket": self.ticket, "messages": self.messages}


def ticket_row(conn: Connection, ref: str) -> Any:
    """The whole row of the ticket `SUP-42` or `42` names (a wrong branch key names none)."""
    try:
        number = find_ticket(conn, ref).number
    except OutboundError as exc:
        raise MergeError(str(exc)) from exc
    t = tables(conn)
    return conn.execute(
        select(t.ticket, t.branch.c.key)
        .join(t.branch, t.branch.c.id == t.ticket.c.branch_id)
        .where(t.ticket.c.id == number)
    ).one()


def merge(conn: Connection, source: str, into: str, actor: Actor) -> Merged:
    """Move `source`'s messages (their attachments with them) and history into `into`, close
    `source` and point it there, and add its tags to `into`'s (`source` keeps them: a split
    or a look at the closed ticket still shows what it was about); in the caller's
    transaction."""
    src, dst = ticket_row(conn, source), ticket_row(conn, into)
    src_ref, dst_ref = ticket_ref(src.key, src.id), ticket_ref(dst.key, dst.id)
    if src.id == dst.id:
        raise MergeError(f"{src_ref} cannot be merged into itself")
    if src.merged_into_id is not None:
        went = find_ticket(conn, str(src.merged_into_id)).ref
        raise MergeError(f"{src_ref} was already merged into {went}")
    if dst.merged_into_id is not None:
        final = final_ticket(conn, dst.id)
        where = (
            f"merge into {find_ticket(conn, str(final)).ref} instead"
            if final
            else "its merges loop"
        )
        raise MergeError(f"{dst_ref} was merged into another ticket: {where}")
    t = tables(conn)
    now = utcnow()
    # Both rows changed only while neither is merged: two merges at once (SUP-1 into SUP-2,
    # SUP-2 into SUP-1) cannot both pass, so no loop is ever made.
    unmerged = t.ticket.c.merged_into_id.is_(None)
    for number, values in (
        (dst.id, {"updated_at": now}),
        (src.id, {"status": TicketStatus.CLOSED, "merged_into_id": dst.id, "updated_at": now}),
    ):
        written = conn.execute(
            update(t.ticket).where(t.ticket.c.id == number, unmerged).values(**values)
        ).rowcount
        if not written:
            raise MergeError(f"{src_ref} or {dst_ref} was merged meanwhile: nothing changed")
    moved = conn.execute(
        update(t.message).where(t.message.c.ticket_id == src.id).values(ticket_id=dst.id)
    ).rowcount
    conn.execute(
        update(t.ticket_event).where(t.ticket_event.c.ticket_id == src.id).values(ticket_id=dst.id)
    )
    if src.status != TicketStatus.CLOSED:
        record(conn, src.id, "status", actor, {"from": src.status, "to": "closed"}, at=now)
    record(conn, src.id, "merged", actor, {"into": dst.id, "ref": dst_ref}, at=now)
    data = {"from": src.id, "ref": src_ref, "messages": moved}
    record(conn, dst.id, "merged_from", actor, data, at=now)
    tags = ticket_tags(conn, [src.id, dst.id])
    carried = sorted(set(tags.get(src.id, ())) - set(tags.get(dst.id, ())))
    write_tags(conn, dst.id, carried, [], actor, now)
    return Merged(src_ref, dst_ref, moved)


def message_ids(conn: Connection, number: int) -> list[int]:
    """A ticket's message row ids in the order `ticket show` and the console present them:
    message N of the ticket is the N-th of these."""
    message = tables(conn).message
    query = select(message.c.id).where(message.c.ticket_id == number)
    return list(conn.execute(query.order_by(message.c.created_at, message.c.id)).scalars())


def split(
    conn: Connection, ref: str, from_message: int, actor: Actor, *, message_id: int | None = None
) -> Split:
    """A new ticket (same branch) holding message `from_message` (its number as `ticket show`
    counts, from 1) and every later one; its requester is that message's sender when the
    customer sent it, else the ticket's; its title that message's subject. `message_id` is
    the message the caller saw as that number (the console's): refused when it is not that
    one any more (a merge put older messages before it)."""
    row = ticket_row(conn, ref)
    original = ticket_ref(row.key, row.id)
    ids = message_ids(conn, row.id)
    if not 0 < from_message <= len(ids):
        raise MergeError(f"{original} has no message {from_message} (it has {len(ids)})")
    if message_id is not None and ids[from_message - 1] != message_id:
        raise MergeError(f"{original}'s messages changed meanwhile: nothing split, look again")
    if from_message == 1:
        raise MergeError(f"splitting {original} from its first message would leave it empty")
    t = tables(conn)
    first = conn.execute(select(t.message).where(t.message.c.id == ids[from_message - 1])).one()
    requester = row.requester_id
    if first.direction == "in" and first.from_email:
        requester = upsert_contact(conn, t, Address(first.from_name, first.from_email))
    subject = first.subject.replace(f"[{original}]", "")
    title = clean_line(title_from_subject(subject), TITLE_LIMIT)
    now = utcnow()
    number = conn.execute(
        insert(t.ticket),
        dict(
            title=title, status=TicketStatus.NEW, priority=row.priority,
            ticket_type_id=row.ticket_type_id, custom_fields=row.custom_fields,
            branch_id=row.branch_id, queue_id=row.queue_id, channel_id=row.channel_id,
            requester_id=requester, source=row.source, created_at=now, updated_at=now,
        ),
    ).inserted_primary_key[0]  # fmt: skip
    taken = ids[from_message - 1 :]
    conn.execute(update(t.message).where(t.message.c.id.in_(taken)).values(ticket_id=number))
    conn.execute(update(t.ticket).where(t.ticket.c.id == row.id).values(updated_at=now))
    new_ref = ticket_ref(row.key, number)
    data = {"to": number, "ref": new_ref, "from_message": first.id, "messages": len(taken)}
    record(conn, row.id, "split", actor, data, at=now)
    data = {"from": row.id, "ref": original, "from_message": first.id}
    record(conn, number, "split_from", actor, data, at=now)
    return Split(original, new_ref, number, len(taken))
