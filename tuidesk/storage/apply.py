"""Applying an engine Decision: every write for one mail in one transaction (a savepoint inside a
batch), so a crash leaves either all of it or none of it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from tuidesk.engine.decision import Action, Decision
from tuidesk.engine.parse import Address
from tuidesk.engine.text import strip_controls
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.lookup import ticket_ref
from tuidesk.storage.models import (
    Attachment,
    Branch,
    Channel,
    Contact,
    IngestLog,
    Message,
    Quarantine,
    Queue,
    Ticket,
    TicketType,
    utcnow,
)


@dataclass(frozen=True)
class Outcome:
    """What happened to one mail: the pipe's and import's JSON."""

    action: str
    ticket: str | None
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "ticket": self.ticket, "reason": self.reason}


def upsert_contact(session: Session, address: Address) -> Contact:
    """Case-insensitively unique; safe when two processes add the same sender at once."""
    key = address.email.lower()
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # imported only when used: each dialect costs pipe start-up time
        from sqlalchemy.dialects.sqlite import insert
    session.execute(
        insert(Contact)
        .values(email=address.email, email_key=key, name=address.name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["email_key"])
    )
    contact = session.exec(select(Contact).where(Contact.email_key == key)).one()
    if address.name and not contact.name:
        contact.name = address.name
        session.add(contact)
    return contact


def _named(session: Session, model: type[Queue] | type[TicketType], name: str | None) -> int | None:
    if not name:
        return None
    row = session.exec(select(model).where(model.name == name)).first()
    if row is None:
        row = model(name=name)
        session.add(row)
        session.flush()
    return row.id


def _channel_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    return session.exec(select(Channel.id).where(Channel.name == name)).first()


def _log(session: Session, decision: Decision, source: str, ticket_id: int | None) -> None:
    first_time = decision.action is not Action.DUPLICATE
    session.add(
        IngestLog(
            source=source,
            channel=decision.channel,
            message_id=decision.message_id,
            content_hash=decision.content_hash,
            dedupe_key=decision.content_hash if first_time else None,
            outcome=decision.action.value,
            ticket_id=ticket_id,
            reason=strip_controls(decision.reason)[:2000],
        )
    )
    session.flush()


def apply_decision(
    session: Session, decision: Decision, raw: bytes, *, source: str, blobs: BlobStore
) -> Outcome:
    """Write what the decision says. The ingest log row goes first: its unique dedupe key makes
    a concurrent second delivery of the same mail fail here, before anything else is written."""
    action = decision.action
    if action is Action.DUPLICATE:
        _log(session, decision, source, decision.ticket.number if decision.ticket else None)
        return Outcome(
            action.value, decision.ticket.ref if decision.ticket else None, decision.reason
        )
    if action in (Action.IGNORED, Action.QUARANTINED):
        _log(session, decision, source, None)
        if action is Action.QUARANTINED:
            session.add(
                Quarantine(
                    raw=raw,
                    size=len(raw),
                    sha256=decision.content_hash,
                    reason=strip_controls(decision.reason),
                    source=source,
                    channel=decision.channel,
                    message_id=decision.message_id,
                )
            )
        return Outcome(action.value, None, decision.reason)

    mail = decision.mail
    assert mail is not None and decision.requester is not None
    now = utcnow()
    if action is Action.CREATED:
        assert decision.branch is not None and decision.fields is not None
        branch = session.exec(select(Branch).where(Branch.key == decision.branch.key)).one()
        fields = decision.fields
        ticket = Ticket(
            title=fields.title,
            priority=fields.priority,
            ticket_type_id=_named(session, TicketType, fields.ticket_type),
            custom_fields=fields.custom_fields,
            branch_id=branch.id,
            queue_id=_named(session, Queue, fields.queue),
            requester_id=upsert_contact(session, decision.requester).id,
            channel_id=_channel_id(session, decision.channel),
            source="email",
            created_at=now,
            updated_at=now,
        )
        session.add(ticket)
        session.flush()
        ref = ticket_ref(branch.key, ticket.id)
    else:
        assert decision.ticket is not None
        ticket = session.get(Ticket, decision.ticket.number)
        ref = decision.ticket.ref
        ticket.updated_at = now
        if decision.direction == "in" and (decision.reopen or ticket.status == "pending"):
            ticket.status = "open"
        session.add(ticket)
    _log(session, decision, source, ticket.id)

    raw_sha = blobs.put(raw)
    message = Message(
        ticket_id=ticket.id,
        direction=decision.direction,
        message_id=mail.message_id,
        in_reply_to=" ".join(mail.in_reply_to) or None,
        references=" ".join(mail.references) or None,
        from_name=decision.requester.name,
        from_email=decision.requester.email,
        to=[a.as_dict() for a in mail.to],
        cc=[a.as_dict() for a in mail.cc],
        subject=mail.subject,
        body=decision.body,
        full_body=mail.text,
        html=mail.html,
        raw_sha256=raw_sha,
        created_at=now,
    )
    session.add(message)
    session.flush()
    attachments = list(mail.attachments)
    for part in attachments:
        session.add(
            Attachment(
                message_id=message.id,
                filename=part.filename,
                content_type=part.content_type,
                size=len(part.data),
                sha256=blobs.put(part.data),
                content_id=part.content_id,
                inline=part.inline,
            )
        )
    if decision.attach_original:
        session.add(
            Attachment(
                message_id=message.id,
                filename="original.eml",
                content_type="message/rfc822",
                size=len(raw),
                sha256=raw_sha,
            )
        )
    return Outcome(action.value, ref, decision.reason)
