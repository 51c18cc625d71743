"""Canned replies: texts agents insert into a reply and adapt. One save function behind the
CLI, `config import` and the admin console; a reply with a branch is offered only on that
branch's tickets. Rendered for a ticket, {requester_name}, {ref}, {title} and {agent_name}
are filled in."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from tuidesk.engine.compose import render
from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Agent, Branch, CannedReply, Ticket
from tuidesk.storage.outbox import OutboundError, find_ticket
from tuidesk.storage.queues import check_name
from tuidesk.storage.tables import utcnow

PLACEHOLDERS = ("requester_name", "ref", "title", "agent_name")


class CannedError(Invalid):
    pass


def get_canned(session: Session, name: str) -> CannedReply:
    found = session.exec(select(CannedReply).where(CannedReply.name == name)).first()
    if found is None:
        raise CannedError(f"no canned reply named {name!r}", field="name")
    return found


def list_canned(session: Session, *, branch_id: int | None = None) -> list[dict[str, Any]]:
    """Each canned reply as plain values (name, branch key or None, body), by name. With
    `branch_id`, only those offered on that branch's tickets: its own and those of no branch."""
    query = (
        select(CannedReply, Branch.key)
        .outerjoin(Branch, col(Branch.id) == CannedReply.branch_id)
        .order_by(func.lower(CannedReply.name))
    )
    if branch_id is not None:
        query = query.where(
            col(CannedReply.branch_id).is_(None) | (CannedReply.branch_id == branch_id)
        )
    return [{"name": c.name, "branch": key, "body": c.body} for c, key in session.exec(query)]


def save_canned(
    session: Session,
    *,
    name: str,
    body: str,
    branch: str | None = None,
    canned: CannedReply | None = None,
) -> CannedReply:
    """Add a canned reply, or change `canned`; `branch` is a key or name (None: every branch).
    Every value is checked first, each refusal naming its field."""
    c = Collector()
    clean_name = c.check("name", check_name, name)
    clean_body = c.check("body", checks.template, body, PLACEHOLDERS, "the text")
    branch_id = c.check("branch", _branch_id, session, branch) if branch else None
    if clean_name is not None:
        same = session.exec(
            select(CannedReply).where(
                func.lower(CannedReply.name) == clean_name.lower(),
                CannedReply.id != (canned.id if canned else None),
            )
        ).first()
        if same is not None:
            c.add("name", f"a canned reply named {same.name!r} exists already")
    c.raise_if_any(CannedError)
    assert clean_name is not None and clean_body is not None
    canned = canned or CannedReply(name=clean_name)
    canned.name, canned.body, canned.branch_id = clean_name, clean_body, branch_id
    canned.updated_at = utcnow()
    session.add(canned)
    session.flush()
    return canned


def _branch_id(session: Session, name: str) -> int:
    found = session.exec(
        select(Branch.id).where((Branch.key == name.strip().upper()) | (Branch.name == name))
    ).first()
    if found is None:
        raise Invalid(f"no branch {name!r}")
    return found


def branch_of(session: Session, canned: CannedReply) -> str | None:
    """The key of the branch a canned reply is offered on, None for every branch."""
    branch = session.get(Branch, canned.branch_id) if canned.branch_id else None
    return branch.key if branch else None


def remove_canned(session: Session, name: str) -> None:
    session.delete(get_canned(session, name))
    session.flush()


def render_canned(session: Session, body: str, ref: str, agent_id: int | None) -> str:
    """A canned text as it goes into a reply on ticket `ref`, written by `agent_id`."""
    return render(body, _values(session, ref, agent_id)[1])


def canned_for_ticket(session: Session, ref: str, agent_id: int | None) -> list[dict[str, Any]]:
    """The canned replies offered on ticket `ref` (the reply editor's picker), each with its
    text rendered for the ticket and the agent."""
    branch_id, values = _values(session, ref, agent_id)
    return [
        {**item, "text": render(item["body"], values)}
        for item in list_canned(session, branch_id=branch_id)
    ]


def _values(session: Session, ref: str, agent_id: int | None) -> tuple[int, dict[str, str]]:
    """The ticket's branch and what the placeholders hold for it and the agent."""
    try:
        ticket = find_ticket(session.connection(), ref)
    except OutboundError as exc:
        raise CannedError(str(exc), field="ticket") from exc
    row = session.get(Ticket, ticket.number)
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    requester = ticket.requester
    assert row is not None  # find_ticket found it in this transaction
    return row.branch_id, {
        "requester_name": (requester.name or requester.email) if requester else "",
        "ref": ticket.ref,
        "title": ticket.title,
        "agent_name": agent.name if agent else "",
    }
