"""Applying an engine Decision: every write for one mail in one transaction (a savepoint inside a
batch), so a crash leaves either all of it or none of it. SQLAlchemy Core, for speed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

from sqlalchemy import Connection, Table, insert, select, update

from tuidesk.engine.decision import (
    Commented,
    Created,
    Decision,
    Duplicate,
    Ignored,
    Quarantined,
    Worked,
)
from tuidesk.engine.enums import Direction, TicketStatus
from tuidesk.engine.parse import Address
from tuidesk.engine.refs import ticket_ref
from tuidesk.engine.text import strip_controls
from tuidesk.storage import history
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.lookup import agent_id_by_email
from tuidesk.storage.tables import Tables, tables, utcnow


@dataclass(frozen=True)
class Outcome:
    """What happened to one mail: the pipe's and import's JSON."""

    action: str
    ticket: str | None
    reason: str
    first_outcome: str | None = None  # for a duplicate: what became of it the first time

    @property
    def settled(self) -> str:
        """The outcome that decides where an IMAP message goes: a duplicate goes where its
        first delivery went."""
        return self.first_outcome or self.action

    def as_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "ticket": self.ticket, "reason": self.reason}


def insert_ignoring_conflict(
    conn: Connection, table: Table, key: str, values: dict[str, Any]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: two processes adding the same row both succeed."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # imported only when used: each dialect costs pipe start-up time
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    conn.execute(
        dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    )


def upsert_contact(conn: Connection, t: Tables, address: Address) -> int:
    """Case-insensitively unique; a name learnt later fills an empty one."""
    key = address.email.lower()
    insert_ignoring_conflict(
        conn,
        t.contact,
        "email_key",
        {"email": address.email, "email_key": key, "name": address.name, "created_at": utcnow()},
    )
    row = conn.execute(
        select(t.contact.c.id, t.contact.c.name).where(t.contact.c.email_key == key)
    ).one()
    if address.name and not row.name:
        conn.execute(update(t.contact).where(t.contact.c.id == row.id).values(name=address.name))
    return row.id


def _named(conn: Connection, table: Table, name: str | None, **defaults: Any) -> int | None:
    """The id of the queue or ticket type of that name, created if new."""
    if not name:
        return None
    insert_ignoring_conflict(conn, table, "name", {"name": name, **defaults})
    return conn.execute(select(table.c.id).where(table.c.name == name)).scalar_one()


def _channel_id(conn: Connection, t: Tables, name: str | None) -> int | None:
    if not name:
        return None
    return conn.execute(select(t.channel.c.id).where(t.channel.c.name == name)).scalar()


def _log(conn: Connection, t: Tables, decision: Decision, source: str, ticket: int | None) -> None:
    conn.execute(insert(t.ingest_log), log_row(decision, source, ticket))


def log_row(
    decision: Decision, source: str, ticket: int | None, *, reason: str | None = None
) -> dict[str, Any]:
    """`reason`: what was done, when it says more than the decision (an agent's mail)."""
    first_time = not isinstance(decision, Duplicate)
    return dict(
        source=source,
        channel=decision.channel,
        message_id=decision.message_id,
        content_hash=decision.content_hash,
        dedupe_key=decision.content_hash if first_time else None,
        outcome=decision.action.value,
        ticket_id=ticket,
        reason=strip_controls(reason or decision.reason)[:2000],
        created_at=utcnow(),
    )


# Decisions whose only write is their ingest-log row.
LOG_ONLY = (Ignored, Duplicate)


def log_only(decision: Ignored | Duplicate, source: str) -> tuple[dict[str, Any], Outcome]:
    """The log row and outcome of a LOG_ONLY decision, for `log_rows` to write later."""
    ref = decision.ticket
    first_outcome = decision.first_outcome if isinstance(decision, Duplicate) else None
    row = log_row(decision, source, ref.number if ref else None)
    outcome = Outcome(
        decision.action.value, ref.ref if ref else None, decision.reason, first_outcome
    )
    return row, outcome


def log_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Several mails' log rows in one statement: it fails whole if one of them was written
    meanwhile by another process."""
    conn.execute(insert(tables(conn).ingest_log), rows)


def apply_decision(
    conn: Connection, decision: Decision, raw: bytes, *, source: str, blobs: BlobStore
) -> Outcome:
    """Write what the decision says. The ingest log row goes first (after the new ticket it
    names): its unique dedupe key makes a concurrent second delivery of the same mail fail
    here, before anything else is written."""
    t = tables(conn)
    match decision:
        case Ignored() | Duplicate():
            row, outcome = log_only(decision, source)
            conn.execute(insert(t.ingest_log), row)
            return outcome
        case Quarantined():
            _log(conn, t, decision, source, None)
            quarantine(conn, t, decision, raw, source)
            return Outcome(decision.action.value, None, decision.reason)
        case Created():
            now = utcnow()
            ticket_id, ref = _create_ticket(conn, t, decision, now)
            _log(conn, t, decision, source, ticket_id)
            actor = engine_actor(decision, source, "route")
            history.record(
                conn, ticket_id, "created", actor,
                {"source": "email", "title": decision.fields.title}, at=now,
                refresh=False,  # its first message's event, next, works the due times out
            )  # fmt: skip
            add_message(
                conn, t, decision, ticket_id, raw, blobs=blobs, now=now,
                direction=Direction.IN, attach_original=decision.attach_original, actor=actor,
            )  # fmt: skip
            if decision.acknowledge:
                from tuidesk.storage import outbox  # only then: the pipe starts faster without it

                outbox.queue_acknowledgement(conn, ticket_id, decision.mail.message_id, now)
            if source != "import":  # old mail brought in is no news
                from tuidesk.storage import notify

                notify.ticket_opened(
                    conn, ticket_id, sender=decision.mail.sender, requester=decision.requester,
                    text=decision.body, now=now,
                )  # fmt: skip
            return Outcome(decision.action.value, ref, decision.reason)
        case Commented():
            now = utcnow()
            ticket = decision.ticket
            changes: dict[str, Any] = {"updated_at": now}
            if decision.direction == Direction.IN and (
                decision.reopen or ticket.status == TicketStatus.PENDING
            ):
                changes["status"] = TicketStatus.OPEN
            conn.execute(update(t.ticket).where(t.ticket.c.id == ticket.number).values(**changes))
            _log(conn, t, decision, source, ticket.number)
            actor = engine_actor(decision, source, "thread")
            if changes.get("status", ticket.status) != ticket.status:
                history.record(
                    conn, ticket.number, "status", actor,
                    {"from": ticket.status, "to": TicketStatus.OPEN}, at=now,
                    refresh=False,  # the message's event, next, works the due times out
                )  # fmt: skip
            add_message(
                conn, t, decision, ticket.number, raw, blobs=blobs, now=now,
                direction=decision.direction, attach_original=False, actor=actor,
            )  # fmt: skip
            if decision.bounced_message_ids:
                from tuidesk.storage import outbox  # only then: the pipe starts faster without it

                outbox.mark_bounced(conn, decision.bounced_message_ids, decision.reason, now)
            if decision.direction == Direction.IN and decision.requester and source != "import":
                from tuidesk.storage import notify

                notify.customer_replied(
                    conn, ticket.number, sender=decision.requester, text=decision.body, now=now
                )
            return Outcome(decision.action.value, ticket.ref, decision.reason)
        case Worked():
            from tuidesk.storage.agent_mail import work_ticket  # only then, as the outbox

            return work_ticket(conn, decision, raw, source=source, blobs=blobs)
        case _:
            assert_never(decision)


def engine_actor(decision: Decision, source: str, step: str) -> history.Actor:
    """The engine as the author of a mail's changes: the channel the mail came by (else its
    source: pipe, import) and the rule of `step` that placed it (route: which branch; thread:
    which ticket)."""
    rule = next((s.rule for s in decision.steps if s.step == step), "")
    via = f"mail via {decision.channel or source}"
    return history.Actor("engine", f"{via}: {rule}" if rule else via)


def quarantine(conn: Connection, t: Tables, decision: Quarantined, raw: bytes, source: str) -> None:
    conn.execute(
        insert(t.quarantine),
        dict(
            raw=raw,
            size=len(raw),
            sha256=decision.content_hash,
            reason=strip_controls(decision.reason),
            source=source,
            channel=decision.channel,
            message_id=decision.message_id,
            created_at=utcnow(),
        ),
    )


def _create_ticket(
    conn: Connection, t: Tables, decision: Created, now: datetime
) -> tuple[int, str]:
    """The new ticket's id and reference."""
    branch = conn.execute(
        select(t.branch.c.id, t.branch.c.key).where(t.branch.c.key == decision.branch.key)
    ).one()
    fields = decision.fields
    ticket_id = conn.execute(
        insert(t.ticket),
        dict(
            title=fields.title,
            status=TicketStatus.NEW,
            priority=fields.priority,
            ticket_type_id=_named(conn, t.ticket_type, fields.ticket_type),
            custom_fields=fields.custom_fields,
            branch_id=branch.id,
            queue_id=_named(conn, t.queue, fields.queue, colour="default"),
            channel_id=_channel_id(conn, t, decision.channel),
            requester_id=upsert_contact(conn, t, decision.requester),
            source="email",
            created_at=now,
            updated_at=now,
            linked_ticket_id=decision.linked.number if decision.linked else None,
        ),
    ).inserted_primary_key[0]
    return ticket_id, ticket_ref(branch.key, ticket_id)


def add_message(
    conn: Connection,
    t: Tables,
    decision: Created | Commented | Worked,
    ticket_id: int,
    raw: bytes,
    *,
    blobs: BlobStore,
    now: datetime,
    direction: Direction,
    attach_original: bool,
    actor: history.Actor,
    agent_id: int | None = None,
) -> None:
    """The mail as a message of the ticket, with its attachments (and, if asked, the whole
    mail as original.eml), and its event by `actor`; `agent_id`: the agent who wrote it."""
    mail = decision.mail
    # A forward is the forwarder's message (an agent's, noted as theirs), on the ticket of the
    # one whose mail it forwards.
    forwarder = decision.forwarded_by if isinstance(decision, Created) else None
    sender = forwarder or decision.requester or mail.sender or Address("", "")  # a bounce: none
    raw_sha = blobs.put(raw)
    message_id = conn.execute(
        insert(t.message),
        dict(
            ticket_id=ticket_id,
            direction=direction,
            message_id=mail.message_id,
            in_reply_to=" ".join(mail.in_reply_to) or None,
            references=" ".join(mail.references) or None,
            from_name=sender.name,
            from_email=sender.email,
            to=[a.as_dict() for a in mail.to],
            cc=[a.as_dict() for a in mail.cc],
            subject=mail.subject,
            body=decision.body,
            full_body=mail.text,
            html=mail.html,
            raw_sha256=raw_sha,
            created_at=now,
            agent_id=agent_id_by_email(conn, forwarder.email) if forwarder else agent_id,
        ),
    ).inserted_primary_key[0]
    history.record(
        conn, ticket_id, "message", actor,
        {"message": message_id, "direction": str(direction), "from": sender.email}, at=now,
    )  # fmt: skip
    files = [
        {
            "message_id": message_id,
            "filename": part.filename,
            "content_type": part.content_type,
            "size": len(part.data),
            "sha256": blobs.put(part.data),
            "content_id": part.content_id,
            "inline": part.inline,
        }
        for part in mail.attachments
    ]
    if attach_original:
        files.append(
            {
                "message_id": message_id,
                "filename": "original.eml",
                "content_type": "message/rfc822",
                "size": len(raw),
                "sha256": raw_sha,
                "content_id": None,
                "inline": False,
            }
        )
    if files:
        conn.execute(insert(t.attachment), files)
