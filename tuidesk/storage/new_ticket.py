"""Tickets agents open (`tuidesk ticket new`, the console's N): a phone call kept as an internal
note, or a conversation the agent starts, its first mail going to the customer through the
outbox like any reply. One transaction: the ticket, its requester and its first message, or
nothing at all."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from tuidesk.engine.compose import HeaderInjection, OutgoingFile
from tuidesk.engine.enums import TicketStatus
from tuidesk.engine.fields import default_fields, required_fields
from tuidesk.engine.parse import TITLE_LIMIT, Address
from tuidesk.engine.refs import ticket_ref
from tuidesk.engine.text import clean_line
from tuidesk.storage import checks, history
from tuidesk.storage.apply import upsert_contact
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import SOURCES
from tuidesk.storage.notify import ticket_opened
from tuidesk.storage.outbox import (
    MAX_ATTACHMENT_BYTES,
    OutboundError,
    Queued,
    add_note,
    outgoing_for,
    queue_reply,
)
from tuidesk.storage.settings import load_rules
from tuidesk.storage.tables import Tables, tables, utcnow

# Who opened it, as Ticket.source records it: an agent's door (mail's is "email").
AGENT_SOURCES = tuple(source for source in SOURCES if source != "email")
_NAMED = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*")


class NewTicketError(Invalid):
    """The ticket cannot be opened as given; nothing was written."""


@dataclass(frozen=True)
class Opened:
    ref: str
    status: str
    mail: Queued | None  # None: a note only, nothing sent

    def as_dict(self) -> dict[str, Any]:
        mail = self.mail
        return {
            "ref": self.ref,
            "status": self.status,
            "outbox_id": mail.outbox_id if mail else None,
            "message_id": mail.message_id if mail else None,
            "recipients": mail.recipients if mail else [],
        }


def requester_address(value: str) -> Address:
    """`alice@example.com` or `Alice Smith <alice@example.com>`: one plain address, no line
    break anywhere (it becomes the To header)."""
    named = _NAMED.fullmatch(value)
    name, email = (named.group(1).strip('"'), named.group(2)) if named else ("", value)
    return Address(checks.text(name, "the name", required=False), checks.address(email))


def open_ticket(
    conn: Connection,
    blobs: BlobStore,
    *,
    agent_id: int,
    to: str,
    subject: str,
    body: str,
    cc: Sequence[str] = (),
    branch: str | None = None,
    queue: str | None = None,
    attachments: Sequence[OutgoingFile] = (),
    note_only: bool = False,
    source: str = "cli",
    now: datetime | None = None,
) -> Opened:
    """Open a ticket for `to` in `branch` (key or name; the default branch when None). With
    `note_only` (a phone call) the text is an internal note and nothing is sent; otherwise it
    is the first mail to the customer, signed, with the ref in its subject. Refusals are
    NewTicketError, each naming its field (to, cc, subject, body, branch, queue, source)."""
    now = now or utcnow()
    t = tables(conn)
    c = Collector()
    requester = c.check("to", requester_address, to)
    copies = [c.check("cc", checks.address, a) or "" for a in cc if a.strip()]
    c.check("subject", checks.text, subject, "the subject")
    if not body.strip():
        c.add("body", "the text must not be empty")
    if note_only and copies:
        c.add("cc", "a note is not mailed: there is nobody to copy")
    c.check("source", checks.one_of, source, AGENT_SOURCES, "source")
    if sum(len(f.data) for f in attachments) > MAX_ATTACHMENT_BYTES:
        c.add("attachments", f"attachments over {MAX_ATTACHMENT_BYTES // 2**20} MB in all")
    branch_row = c.check("branch", _branch, conn, t, branch)
    queue_id = c.check("queue", _queue, conn, t, queue) if queue else None
    if branch_row is not None and not note_only:
        # Asked before the ticket is written: a refusal then costs no ticket number either.
        try:
            outgoing_for(conn, None, branch_row.addresses or ())
        except OutboundError as exc:
            c.add("", str(exc))
    c.raise_if_any(NewTicketError)
    assert requester is not None and branch_row is not None
    rules = load_rules(conn)
    ticket_type = rules.default_ticket_type
    custom = default_fields(rules, ticket_type)
    required_fields(custom, rules.ticket_types.get(ticket_type or "", ()))
    type_id = conn.execute(
        select(t.ticket_type.c.id).where(t.ticket_type.c.name == ticket_type)
    ).scalar()
    title = clean_line(subject, TITLE_LIMIT)
    number = conn.execute(
        insert(t.ticket),
        dict(
            title=title, status=TicketStatus.OPEN, priority="normal",
            ticket_type_id=type_id, custom_fields=custom, branch_id=branch_row.id,
            queue_id=queue_id, requester_id=upsert_contact(conn, t, requester), source=source,
            created_at=now, updated_at=now,
        ),
    ).inserted_primary_key[0]  # fmt: skip
    ref = ticket_ref(branch_row.key, number)
    actor = history.by_agent(agent_id)
    history.record(conn, number, "created", actor, {"source": source, "title": title}, at=now)
    queued = None
    if note_only:
        files = [(f, blobs.put(f.data)) for f in attachments]
        add_note(conn, ref, body, agent_id=agent_id, files=files, actor=actor, now=now)
    else:
        try:
            queued = queue_reply(
                conn, blobs, ref, body, cc=copies, attachments=attachments, agent_id=agent_id,
                actor=actor, now=now,
            )  # fmt: skip
        except (OutboundError, HeaderInjection) as exc:
            raise NewTicketError(str(exc)) from exc
    # The other agents who chose `new` hear of it as of any new ticket; its opener does not.
    agent = t.agent
    opener = conn.execute(select(agent.c.name, agent.c.email).where(agent.c.id == agent_id)).first()
    ticket_opened(
        conn, number, sender=Address(opener.name, opener.email) if opener else None,
        requester=requester, text=body, now=now,
    )  # fmt: skip
    return Opened(ref, queued.status if queued else TicketStatus.OPEN, queued)


def _branch(conn: Connection, t: Tables, name: str | None) -> Any:
    """The branch by key or name; the default one (else the first made) when None."""
    branch = t.branch
    query = select(branch.c.id, branch.c.key, branch.c.addresses)
    if name is not None:
        row = conn.execute(
            query.where(or_(branch.c.key == name.strip().upper(), branch.c.name == name))
        ).first()
        if row is None:
            raise Invalid(f"no branch {name!r}")
        return row
    order = (branch.c.is_default.desc(), branch.c.created_at, branch.c.id)
    row = conn.execute(query.order_by(*order).limit(1)).first()
    if row is None:
        raise Invalid("no branch: add one with `tuidesk branch add`")
    return row


def _queue(conn: Connection, t: Tables, name: str) -> int:
    """An existing queue: a typo here should not make a new one."""
    found = conn.execute(select(t.queue.c.id).where(t.queue.c.name == name)).scalar()
    if found is None:
        raise Invalid(f"no queue named {name!r}")
    return int(found)
