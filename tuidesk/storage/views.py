"""Tickets as plain dicts: the `--json` contract, and what the console shows. Rows never leave."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tuidesk.engine.fields import missing
from tuidesk.engine.refs import parse_ref, ticket_ref
from tuidesk.storage import checks
from tuidesk.storage.models import (
    TICKET_STATUSES,
    Agent,
    Attachment,
    Branch,
    Channel,
    Contact,
    CustomField,
    Message,
    OutboxMail,
    Queue,
    Ticket,
    TicketType,
)
from tuidesk.storage.tables import aware
from tuidesk.storage.tags import ticket_tags


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ticket_dict(
    required: dict[int, list[str]],
    ticket: Ticket,
    branch: Branch,
    queue: str | None,
    ttype: str | None,
    channel: str | None,
    mappings: list[dict[str, Any]] | None,
    requester: Contact | None,
    assignee: Agent | None,
) -> dict[str, Any]:
    return {
        "ref": ticket_ref(branch.key, ticket.id),
        "number": ticket.id,
        "title": ticket.title,
        "status": ticket.status,
        "priority": ticket.priority,
        "branch": branch.key,
        "queue": queue,
        "type": ttype,
        "custom_fields": ticket.custom_fields,
        # Required fields of its type still empty (no default, nothing mapped): "needs: ...".
        "needs": missing(required.get(ticket.ticket_type_id or 0, ()), ticket.custom_fields),
        # Fields the ticket's channel maps as restricted: whoever shows them to an agent must
        # show them to admins only.
        "restricted": [m["field"] for m in mappings or () if m.get("restricted")],
        "channel": channel,
        "source": ticket.source,
        "requester": {"name": requester.name, "email": requester.email} if requester else None,
        "assignee": {"name": assignee.name, "email": assignee.email} if assignee else None,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        # The earliest service-level target still to meet (None: no policy, all met, paused).
        "due_at": _iso(ticket.due_at) if ticket.due_at else None,
    }


def required_by_type(session: Session) -> dict[int, list[str]]:
    """Each ticket type's required custom fields (by type id), in their order."""
    required: dict[int, list[str]] = defaultdict(list)
    query = select(CustomField.ticket_type_id, CustomField.name).where(col(CustomField.required))
    for type_id, name in session.exec(query.order_by(col(CustomField.id))):
        required[type_id].append(name)
    return required


def custom_field_rows(ticket: dict[str, Any], *, admin: bool) -> list[tuple[str, Any, bool]]:
    """(name, value, restricted) for each custom field this viewer may see: a field its channel
    maps as restricted is an admin's only, so an agent does not learn it exists."""
    restricted = set(ticket["restricted"])
    return [
        (name, value, name in restricted)
        for name, value in ticket["custom_fields"].items()
        if admin or name not in restricted
    ]


def _refs(session: Session, where: Any) -> list[str]:
    query = select(Ticket.id, Branch.key).join(Branch, Branch.id == Ticket.branch_id)
    return [
        ticket_ref(key, id_) for id_, key in session.exec(query.where(where).order_by(Ticket.id))
    ]


def _ticket_query():  # type: ignore[no-untyped-def]
    return (
        select(
            Ticket,
            Branch,
            Queue.name,
            TicketType.name,
            Channel.name,
            Channel.field_mappings,
            Contact,
            Agent,
        )
        .join(Branch, Branch.id == Ticket.branch_id)
        .outerjoin(Queue, Queue.id == Ticket.queue_id)
        .outerjoin(TicketType, TicketType.id == Ticket.ticket_type_id)
        .outerjoin(Channel, Channel.id == Ticket.channel_id)
        .outerjoin(Contact, Contact.id == Ticket.requester_id)
        .outerjoin(Agent, Agent.id == Ticket.assignee_id)
    )


def list_tickets(
    session: Session,
    *,
    status: str | None = None,
    branch: str | None = None,
    channel: str | None = None,
    limit: int | None = None,
    due_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every matching ticket, newest first; with `due_before`, only those with a target due
    by then (breached ones too), soonest due first. A status no ticket can have, or a branch
    or an incoming channel that does not exist, is refused (Invalid): an empty list would
    read as "no such tickets"."""
    query = _ticket_query()
    if due_before is not None:
        query = query.where(col(Ticket.due_at).is_not(None), col(Ticket.due_at) <= due_before)
    if status is not None:
        query = query.where(Ticket.status == checks.one_of(status, TICKET_STATUSES, "status"))
    if branch is not None:
        named = (Branch.key == branch.upper()) | (Branch.name == branch)
        if session.exec(select(Branch.id).where(named)).first() is None:
            raise checks.Invalid(f"no branch {branch!r}")
        query = query.where(named)
    if channel is not None:
        if session.exec(select(Channel.id).where(Channel.name == channel)).first() is None:
            raise checks.Invalid(f"no channel {channel!r}")
        query = query.where(Channel.name == channel)
    if due_before is not None:
        query = query.order_by(col(Ticket.due_at), col(Ticket.id))
    else:
        query = query.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    if limit:
        query = query.limit(limit)
    required = required_by_type(session)
    found = [_ticket_dict(required, *row) for row in session.exec(query)]
    tags = ticket_tags(session.connection(), [t["number"] for t in found])
    for t in found:
        t["tags"] = list(tags.get(t["number"], ()))
    return found


def _sla(ticket: Ticket) -> dict[str, Any] | None:
    """The policy that applies and its due points (ISO UTC; None: met, paused or none)."""
    if ticket.sla_policy is None:
        return None
    names = ("first_response_due", "next_response_due", "resolution_due", "due_at",
             "first_response_at", "resolved_at")  # fmt: skip
    when = {name: getattr(ticket, name) for name in names}
    return {
        "policy": ticket.sla_policy,
        **{name: aware(value).isoformat() if value else None for name, value in when.items()},
        "first_response_minutes": ticket.first_response_minutes,
        "resolution_minutes": ticket.resolution_minutes,
    }


def show_ticket(session: Session, ref: str) -> dict[str, Any] | None:
    parsed = parse_ref(ref)
    if parsed is None:
        return None
    key, number = parsed
    row = session.exec(_ticket_query().where(Ticket.id == number)).first()
    if row is None or (key and row[1].key.upper() != key):
        return None
    data = _ticket_dict(required_by_type(session), *row)
    # A reply that could not join a ticket (a non-participant's) opened another, linked to it.
    linked = row[0].linked_ticket_id
    data["linked"] = next(iter(_refs(session, Ticket.id == linked)), None) if linked else None
    data["linked_from"] = _refs(session, Ticket.linked_ticket_id == number)
    data["tags"] = list(ticket_tags(session.connection(), [number]).get(number, ()))
    # Merged: closed, its conversation in that ticket; and the tickets merged into this one.
    into = row[0].merged_into_id
    data["merged_into"] = next(iter(_refs(session, Ticket.id == into)), None) if into else None
    data["merged_from"] = _refs(session, Ticket.merged_into_id == number)
    data["sla"] = _sla(row[0])
    messages = session.exec(
        select(Message).where(Message.ticket_id == number).order_by(Message.created_at, Message.id)
    ).all()
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for att in session.exec(
        select(Attachment)
        .where(col(Attachment.message_id).in_([m.id for m in messages]))
        .order_by(Attachment.id)
    ):
        files[att.message_id].append(
            {
                "filename": att.filename,
                "content_type": att.content_type,
                "size": att.size,
                "sha256": att.sha256,
            }
        )
    delivery = {
        row.message_row_id: {"status": row.status, "error": row.last_error, "tries": row.tries}
        for row in session.exec(
            select(OutboxMail).where(col(OutboxMail.message_row_id).in_([m.id for m in messages]))
        )
    }
    wrote = {
        agent.id: {"name": agent.name, "email": agent.email}
        for agent in session.exec(
            select(Agent).where(col(Agent.id).in_({m.agent_id for m in messages if m.agent_id}))
        )
    }
    data["messages"] = [
        {
            "number": n,  # what `ticket split --from-message` takes
            "id": m.id,
            "direction": m.direction,
            "message_id": m.message_id,
            "from": {"name": m.from_name, "email": m.from_email},
            "to": m.to,
            "cc": m.cc,
            "subject": m.subject,
            "body": m.body,
            "full_body": m.full_body,
            "attachments": files[m.id],
            "delivery": delivery.get(m.id),
            "agent": wrote.get(m.agent_id) if m.agent_id else None,  # who wrote it, if known
            "created_at": _iso(m.created_at),
        }
        for n, m in enumerate(messages, 1)
    ]
    return data
