"""Tickets beside the one an agent reads: the requester's others, their organisation's (same
mail domain, not a free-mail one), and what a merge may join it to. Core statements, plain
values out; the console asks in its workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.engine.participants import FREE_MAIL_DOMAINS
from tuidesk.engine.refs import ticket_ref
from tuidesk.engine.search_query import QueryError, as_typed, parse_query
from tuidesk.storage.search import ranked_ids
from tuidesk.storage.settings import get_settings
from tuidesk.storage.tables import aware, tables

LIMIT = 20  # each list: the newest this many


@dataclass(frozen=True)
class RelatedTicket:
    number: int
    ref: str
    title: str
    status: str
    requester: str  # the address
    updated_at: datetime
    same_requester: bool  # else the organisation's


def _query(conn: Connection) -> Any:
    t = tables(conn)
    ticket, branch, contact = t.ticket, t.branch, t.contact
    return (
        select(ticket.c.id, ticket.c.title, ticket.c.status, ticket.c.updated_at,
               ticket.c.requester_id, branch.c.key, contact.c.email)
        .join(branch, branch.c.id == ticket.c.branch_id)
        .outerjoin(contact, contact.c.id == ticket.c.requester_id)
        .where(ticket.c.merged_into_id.is_(None))
    )  # fmt: skip


def _tickets(conn: Connection, query: Any, requester_id: int | None) -> list[RelatedTicket]:
    ticket = tables(conn).ticket
    rows = conn.execute(query.order_by(ticket.c.updated_at.desc(), ticket.c.id.desc()))
    return [
        RelatedTicket(
            r.id, ticket_ref(r.key, r.id), r.title, r.status, r.email or "",
            aware(r.updated_at), r.requester_id == requester_id,
        )
        for r in rows
    ]  # fmt: skip


def _requester(conn: Connection, number: int) -> tuple[int | None, str]:
    t = tables(conn)
    row = conn.execute(
        select(t.ticket.c.requester_id, t.contact.c.email_key)
        .outerjoin(t.contact, t.contact.c.id == t.ticket.c.requester_id)
        .where(t.ticket.c.id == number)
    ).first()
    return (row.requester_id, row.email_key or "") if row else (None, "")


def requester_tickets(conn: Connection, number: int) -> list[RelatedTicket]:
    """The requester's other tickets, then their organisation's, each newest first (merged
    ones left out: their conversation is in another)."""
    requester_id, email = _requester(conn, number)
    if requester_id is None:
        return []
    t = tables(conn)
    ticket, contact = t.ticket, t.contact
    others = _query(conn).where(ticket.c.id != number)
    same = others.where(ticket.c.requester_id == requester_id).limit(LIMIT)
    mine = _tickets(conn, same, requester_id)
    domain = email.rpartition("@")[2]
    free = FREE_MAIL_DOMAINS | {d.lower() for d in get_settings(conn)["free_mail_domains"]}
    if not domain or domain in free:
        return mine
    colleagues = select(contact.c.id).where(
        contact.c.email_key.like(f"%@{_escaped(domain)}", escape="\\"),
        contact.c.id != requester_id,
    )
    theirs = others.where(ticket.c.requester_id.in_(colleagues)).limit(LIMIT)
    return mine + _tickets(conn, theirs, requester_id)


def merge_candidates(conn: Connection, number: int, text: str) -> list[RelatedTicket]:
    """What ticket `number` may be merged into, by what an agent typed, looked up as `/`
    looks (storage.search's full-text index, so a word of any message finds its ticket, as
    do a ref, `from:` and `tag:`; the word being typed as a prefix), the ones still being
    worked on first, then by rank. A
    query that cannot mean anything, or that has no text to look for (filters alone would
    list every ticket), finds nothing."""
    try:
        query = parse_query(as_typed(text))
    except QueryError:
        return []
    if not (query.texts or query.refs):
        return []
    found = [n for n in ranked_ids(conn, query) if n != number][: 2 * LIMIT]  # room for merged
    if not found:
        return []
    rank = {n: i for i, n in enumerate(found)}
    ticket = tables(conn).ticket
    candidates = _query(conn).where(ticket.c.id.in_(found))
    tickets = _tickets(conn, candidates, _requester(conn, number)[0])
    tickets.sort(key=lambda t: (t.status not in OPEN_STATUSES, rank[t.number]))
    return tickets[:LIMIT]


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
