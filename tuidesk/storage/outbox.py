"""Outgoing mail, stored whole before any attempt to send it: replies, notes and
acknowledgements go into the ticket and the outbox in one transaction, and the sender works
only from the outbox. A reply is never lost to a crash, a dead server or a full queue.

The sender claims a mail with a lease (`claimed_until`) before it talks SMTP and marks it
sent afterwards. A sender that dies between the server's "250 OK" and that mark leaves the
mail claimed; once the lease expires it is sent again. At that edge the customer can get the
same mail twice, with the same Message-ID, which mail clients show once in the thread: we
choose a rare duplicate over a lost reply."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from tuidesk.engine.compose import (
    HeaderInjection,
    OutgoingFile,
    OutgoingMail,
    build_mail,
    checked_address,
    new_message_id,
    quote_history,
    references_chain,
    render,
    reply_subject,
    sign,
    sign_html,
    with_ref,
)
from tuidesk.engine.enums import Direction, TicketStatus
from tuidesk.engine.notify import HEADERS as NOTIFY_HEADERS
from tuidesk.engine.parse import Address
from tuidesk.engine.participants import Participants
from tuidesk.engine.refs import parse_ref, ticket_ref
from tuidesk.engine.text import strip_controls
from tuidesk.storage import history
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.lookup import is_agent, ticket_mails
from tuidesk.storage.settings import get_settings
from tuidesk.storage.tables import Tables, aware, tables, utcnow

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # what most providers accept in one mail
CLAIM_S = 120  # a sender's lease on a mail it is sending
STATUSES = ("queued", "sending", "sent", "failed")
_ACK_HEADERS = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))
# The kind of a notification to an agent: not a message on its ticket, so its delivery troubles
# are the outbox's to show (`outbox list`), never a note on the ticket.
NOTIFY = "notify"
# Who writes the notes of mail not delivered, and the acknowledgements.
_OUTBOX = history.Actor("system", "outbox")
_ACKNOWLEDGEMENT = history.Actor("system", "acknowledgement")


class OutboundError(Exception):
    """The mail cannot be queued (no such ticket, no outgoing channel, a bad header value);
    nothing was written."""


@dataclass(frozen=True)
class Queued:
    outbox_id: int
    ticket: str | None
    message_id: str
    recipients: list[str]
    status: str  # the ticket's status after the reply

    def as_dict(self) -> dict[str, Any]:
        return {
            "outbox_id": self.outbox_id,
            "ticket": self.ticket,
            "message_id": self.message_id,
            "recipients": self.recipients,
            "status": self.status,
        }


@dataclass(frozen=True)
class TicketRow:
    number: int
    ref: str
    title: str
    status: str
    channel_id: int | None
    branch_addresses: tuple[str, ...]
    requester: Address | None
    branch_name: str = ""


def find_ticket(conn: Connection, ref: str) -> TicketRow:
    """The ticket named by `SUP-42` or `42`, or OutboundError."""
    parsed = parse_ref(ref)
    t = tables(conn)
    row = None
    if parsed and parsed[1] < 2**31:
        ticket, branch, contact = t.ticket, t.branch, t.contact
        row = conn.execute(
            select(
                ticket.c.id, ticket.c.title, ticket.c.status, ticket.c.channel_id,
                branch.c.key, branch.c.name.label("branch_name"), branch.c.addresses,
                contact.c.name, contact.c.email,
            )
            .join(branch, branch.c.id == ticket.c.branch_id)
            .outerjoin(contact, contact.c.id == ticket.c.requester_id)
            .where(ticket.c.id == parsed[1])
        ).first()  # fmt: skip
    if row is None or (parsed and parsed[0] and parsed[0] != row.key.upper()):
        raise OutboundError(f"no ticket {ref}")
    return TicketRow(
        number=row.id,
        ref=ticket_ref(row.key, row.id),
        title=row.title,
        status=row.status,
        channel_id=row.channel_id,
        branch_addresses=tuple(row.addresses or ()),
        requester=Address(row.name or "", row.email) if row.email else None,
        branch_name=row.branch_name,
    )


def outgoing_for(conn: Connection, channel_id: int | None, addresses: Sequence[str] = ()) -> Row:
    """The outgoing channel for mail about a ticket: the one its incoming channel maps to, else
    the one sending from that channel's (or the ticket's branch's) address, else the default."""
    t = tables(conn)
    out = t.outgoing_channel
    wanted: list[str] = []
    if channel_id is not None:
        channel = conn.execute(
            select(t.channel.c.outgoing, t.channel.c.reply_to, t.channel.c.username).where(
                t.channel.c.id == channel_id
            )
        ).first()
        if channel and channel.outgoing:
            row = conn.execute(select(out).where(out.c.name == channel.outgoing)).first()
            if row:
                return row
        if channel:
            wanted += [a for a in (channel.reply_to, channel.username) if a and "@" in a]
    wanted += list(addresses)
    if wanted:
        keys = [a.lower() for a in wanted]
        found = conn.execute(select(out).where(func.lower(out.c.from_address).in_(keys))).all()
        if found:  # the channel's own address first, then the branch's
            return min(found, key=lambda r: (keys.index(r.from_address.lower()), r.id))
    row = conn.execute(select(out).where(out.c.is_default).order_by(out.c.id).limit(1)).first()
    if row is None:
        raise OutboundError(
            "no outgoing channel: add one with `tuidesk outgoing add ... --default`"
        )
    return row


def _sender(out: Row) -> Address:
    return Address(out.from_name or "", out.from_address)


def reply_to_for(conn: Connection, channel_id: int | None, out: Row) -> Address | None:
    """The Reply-To of mail about a ticket: its incoming channel's Reply-To address (the
    answers go where that channel reads), else the outgoing channel's, else none."""
    if channel_id is not None:
        channel = tables(conn).channel
        address = conn.execute(
            select(channel.c.reply_to).where(channel.c.id == channel_id)
        ).scalar()
        if address:
            return Address("", address)
    return Address("", out.reply_to) if out.reply_to else None


def signature_for(conn: Connection, out: Row, agent_id: int | None, ticket: TicketRow) -> str:
    """The signature under mail about `ticket` sent through `out`: the agent's (when an agent
    writes it) above the outgoing channel's, placeholders filled; "" when neither has one.
    Replies, a new ticket's first mail and notifications sign with it (compose.sign)."""
    agent = tables(conn).agent
    name, own = "", ""
    if agent_id is not None:
        row = conn.execute(
            select(agent.c.name, agent.c.signature).where(agent.c.id == agent_id)
        ).first()
        if row is not None:
            name, own = row.name, row.signature
    values = {"agent_name": name, "branch": ticket.branch_name, "ref": ticket.ref}
    parts = [render(text, values).strip("\n") for text in (own, out.signature) if text.strip()]
    return "\n".join(parts)


def signature_for_reply(conn: Connection, ref: str, agent_id: int | None) -> str:
    """The signature `queue_reply` will put under this agent's reply on `ref`: for the reply
    editor to show. "" without an outgoing channel (a reply could not be sent anyway)."""
    ticket = find_ticket(conn, ref)
    try:
        out = outgoing_for(conn, ticket.channel_id, ticket.branch_addresses)
    except OutboundError:
        return ""
    return signature_for(conn, out, agent_id, ticket)


def _message_id(conn: Connection, out: Row, ref: str, now: datetime) -> str:
    domain = get_settings(conn)["message_id_domain"] or out.from_address.rpartition("@")[2]
    return new_message_id(domain, ref, now)


def _parent(conn: Connection, t: Tables, ticket: int) -> Row | None:
    """The message a reply answers: the customer's latest, else our own latest."""
    message = t.message
    for direction in (Direction.IN, Direction.OUT):
        row = conn.execute(
            select(message)
            .where(message.c.ticket_id == ticket, message.c.direction == direction)
            .order_by(message.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return row
    return None


def _attach(
    conn: Connection, t: Tables, row_id: int, files: Sequence[tuple[OutgoingFile, str]]
) -> None:
    """The files (each with its blob's hash) as attachments of a message."""
    if files:
        conn.execute(
            insert(t.attachment),
            [
                dict(
                    message_id=row_id, filename=f.filename, content_type=f.content_type,
                    size=len(f.data), sha256=sha, content_id=None, inline=False,
                )
                for f, sha in files
            ],
        )  # fmt: skip


def _store(
    conn: Connection,
    t: Tables,
    *,
    kind: str,
    ticket: TicketRow,
    out: Row,
    mail: OutgoingMail,
    body: str,
    full_body: str,
    actor: history.Actor,
    files: Sequence[tuple[OutgoingFile, str]] = (),
    agent_id: int | None = None,
) -> int:
    """The message on the ticket (and its event by `actor`) and the mail in the outbox, in
    the caller's transaction."""
    raw = build_mail(mail)
    now = mail.date
    row_id = conn.execute(
        insert(t.message),
        dict(
            ticket_id=ticket.number, direction=Direction.OUT, message_id=mail.message_id,
            in_reply_to=mail.in_reply_to, references=" ".join(mail.references) or None,
            from_name=mail.sender.name, from_email=mail.sender.email,
            to=[a.as_dict() for a in mail.to], cc=[a.as_dict() for a in mail.cc],
            subject=mail.subject, body=body, full_body=full_body, html=mail.html,
            raw_sha256=None, created_at=now, agent_id=agent_id,
        ),
    ).inserted_primary_key[0]  # fmt: skip
    history.record(
        conn, ticket.number, "message", actor,
        {"message": row_id, "direction": "out", "from": mail.sender.email}, at=now,
    )  # fmt: skip
    _attach(conn, t, row_id, files)
    return enqueue(
        conn, kind=kind, ticket=ticket.number, message_row=row_id, out=out, mail=mail, raw=raw
    )


def enqueue(
    conn: Connection,
    *,
    kind: str,
    ticket: int | None,
    message_row: int | None,
    out: Row,
    mail: OutgoingMail,
    raw: bytes,
    due: datetime | None = None,
) -> int:
    """The mail (`raw`, built from `mail` before anything was written) in the outbox, to go at
    `due` (default: at once), in the caller's transaction; its id."""
    recipients = mail.recipients
    return conn.execute(
        insert(tables(conn).outbox),
        dict(
            ticket_id=ticket, message_row_id=message_row, kind=kind, outgoing=out.name,
            mail_from=mail.sender.email, recipients=recipients,
            recipient_key=recipients[0].lower(), message_id=mail.message_id,
            raw=raw, status="queued", tries=0, next_attempt_at=due or mail.date,
            created_at=mail.date,
        ),
    ).inserted_primary_key[0]  # fmt: skip


def read_attachment(path: Path) -> OutgoingFile:
    """A file an agent attaches, by path: its name and a content type guessed from it."""
    if not path.is_file():
        raise OutboundError(f"{path}: no such file")
    if path.stat().st_size > MAX_ATTACHMENT_BYTES:
        raise OutboundError(f"{path}: larger than {MAX_ATTACHMENT_BYTES // 2**20} MB")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return OutgoingFile(path.name, content_type, path.read_bytes())


def queue_reply(
    conn: Connection,
    blobs: BlobStore,
    ref: str,
    body: str,
    *,
    cc: Sequence[str] = (),
    reply_all: bool = False,
    attachments: Sequence[OutgoingFile] = (),
    status: str | None = None,
    quote: bool = False,
    html: str | None = None,
    agent_id: int | None = None,
    actor: history.Actor | None = None,
    now: datetime | None = None,
) -> Queued:
    """An agent's reply: on the ticket and in the outbox, in this transaction, signed with
    the agent's and the outgoing channel's signatures (`signature_for`). `agent_id`: the agent
    who wrote it; `actor`: who sent it, for history (default: that agent, else the system)."""
    now = now or utcnow()
    if status is not None and status not in tuple(TicketStatus):
        raise OutboundError(f"status must be one of {', '.join(TicketStatus)}")
    if not body.strip():
        raise OutboundError("the reply is empty")
    if sum(len(f.data) for f in attachments) > MAX_ATTACHMENT_BYTES:
        raise OutboundError(f"attachments over {MAX_ATTACHMENT_BYTES // 2**20} MB in all")
    t = tables(conn)
    ticket = find_ticket(conn, ref)
    if ticket.requester is None:
        raise OutboundError(f"{ticket.ref} has no requester to reply to")
    out = outgoing_for(conn, ticket.channel_id, ticket.branch_addresses)
    parent = _parent(conn, t, ticket.number)
    ours = {out.from_address.lower(), *(a.lower() for a in ticket.branch_addresses)}
    copies = [Address("", a.strip()) for a in cc if a.strip()]
    if reply_all and parent is not None and parent.direction == Direction.IN:
        # Only people taking part: a stranger's mail let onto the ticket invites nobody.
        taking_part = Participants(
            ticket.requester.email, ticket_mails(conn, ticket.number),
            lambda email: is_agent(conn, email), get_settings(conn)["free_mail_domains"],
        )  # fmt: skip
        copies += [
            Address(a.get("name", ""), a["email"])
            for a in parent.cc + parent.to
            if a["email"] in taking_part
        ]
    to = checked_address(ticket.requester, "To")
    seen = {to.email.lower()}
    cc_list: list[Address] = []
    for address in copies:
        key = address.email.lower()
        if key not in seen and key not in ours:
            seen.add(key)
            cc_list.append(checked_address(address, "Cc"))
    signature = signature_for(conn, out, agent_id, ticket)
    actor = actor or history.by_agent(agent_id)
    full_body = sign(body.rstrip("\n") + "\n", signature)
    if quote and parent is not None:
        author = parent.from_name or parent.from_email
        full_body += "\n" + quote_history(
            parent.full_body or parent.body, author, parent.created_at
        )
    mail = OutgoingMail(
        sender=_sender(out),
        to=(to,),
        cc=tuple(cc_list),
        reply_to=reply_to_for(conn, ticket.channel_id, out),
        # The first mail of a conversation an agent opened answers nothing: no "Re:".
        subject=(reply_subject if parent else with_ref)(ticket.title, ticket.ref),
        body=full_body,
        html=sign_html(html, signature) if html else None,
        message_id=_message_id(conn, out, ticket.ref, now),
        date=now,
        in_reply_to=parent.message_id if parent is not None else None,
        references=_chain(parent),
        attachments=tuple(attachments),
    )
    files = [(f, blobs.put(f.data)) for f in attachments]
    outbox_id = _store(
        conn, t, kind="reply", ticket=ticket, out=out, mail=mail, body=body,
        full_body=full_body, files=files, agent_id=agent_id, actor=actor,
    )  # fmt: skip
    answered = TicketStatus.OPEN if ticket.status == TicketStatus.NEW else ticket.status
    new_status = status or answered
    conn.execute(
        update(t.ticket)
        .where(t.ticket.c.id == ticket.number)
        .values(status=new_status, updated_at=now)
    )
    history.changed(
        conn, ticket.number, actor, {"status": ticket.status}, {"status": new_status}, at=now
    )
    return Queued(outbox_id, ticket.ref, mail.message_id, mail.recipients, new_status)


def _chain(parent: Row | None) -> tuple[str, ...]:
    if parent is None:
        return ()
    return tuple(references_chain((parent.references or "").split(), parent.message_id))


def add_note(
    conn: Connection,
    ref: str,
    body: str,
    *,
    author: Address | None = None,
    agent_id: int | None = None,
    files: Sequence[tuple[OutgoingFile, str]] = (),
    actor: history.Actor | None = None,
    now: datetime | None = None,
) -> str:
    """An internal note: on the ticket only, never mailed. `author` defaults to the agent;
    `files` are attachments already in the blob store (with their hashes); `actor` wrote it,
    for history (default: the agent, else the system)."""
    if not body.strip():
        raise OutboundError("the note is empty")
    ticket = find_ticket(conn, ref)
    t = tables(conn)
    if author is None and agent_id is not None:
        row = conn.execute(
            select(t.agent.c.name, t.agent.c.email).where(t.agent.c.id == agent_id)
        ).first()
        author = Address(row.name, row.email) if row else None
    actor = actor or history.by_agent(agent_id)
    row_id = _note(conn, t, ticket.number, body, now or utcnow(), actor, author, agent_id)
    _attach(conn, t, row_id, files)
    return ticket.ref


def _note(
    conn: Connection,
    t: Tables,
    ticket: int,
    body: str,
    now: datetime,
    actor: history.Actor,
    author: Address | None = None,
    agent_id: int | None = None,
) -> int:
    """The note's message row id; its event by `actor`."""
    author = author or Address("tuidesk", "")
    row_id = conn.execute(
        insert(t.message),
        dict(
            ticket_id=ticket, direction=Direction.NOTE, from_name=author.name,
            from_email=author.email, to=[], cc=[], subject="", body=body, full_body=body,
            agent_id=agent_id, created_at=now,
        ),
    ).inserted_primary_key[0]  # fmt: skip
    history.record(
        conn, ticket, "message", actor,
        {"message": row_id, "direction": "note", "from": author.email}, at=now,
    )  # fmt: skip
    conn.execute(update(t.ticket).where(t.ticket.c.id == ticket).values(updated_at=now))
    return int(row_id)


def queue_acknowledgement(
    conn: Connection, ticket_number: int, incoming_message_id: str | None, now: datetime
) -> int | None:
    """The acknowledgement of a ticket just opened from email, from the templates; None when
    no outgoing channel is set up (the ticket itself matters more than its receipt)."""
    t = tables(conn)
    ticket = find_ticket(conn, str(ticket_number))
    if ticket.requester is None:
        return None
    try:
        out = outgoing_for(conn, ticket.channel_id, ticket.branch_addresses)
    except OutboundError:
        return None
    settings = get_settings(conn)
    values = {
        "ref": ticket.ref,
        "title": ticket.title,
        "requester_name": ticket.requester.name or ticket.requester.email,
    }
    body = render(settings["ack_body"], values)
    try:  # built before anything is written: a refusal leaves the transaction as it was
        mail = OutgoingMail(
            sender=_sender(out),
            to=(checked_address(ticket.requester, "To"),),
            reply_to=reply_to_for(conn, ticket.channel_id, out),
            subject=with_ref(strip_controls(render(settings["ack_subject"], values)), ticket.ref),
            body=body,
            message_id=_message_id(conn, out, ticket.ref, now),
            date=now,
            in_reply_to=incoming_message_id,
            references=(incoming_message_id,) if incoming_message_id else (),
            headers=_ACK_HEADERS,
        )
        return _store(
            conn, t, kind="ack", ticket=ticket, out=out, mail=mail, body=body, full_body=body,
            actor=_ACKNOWLEDGEMENT,
        )  # fmt: skip
    except HeaderInjection:  # an address we cannot write back to: the ticket matters more
        return None


def support_address(conn: Connection, ticket: TicketRow, out: Row) -> str:
    """Where mail about the ticket is answered, so the answer comes back to the desk: the
    Reply-To of its mail (reply_to_for), else its branch's first address, else the address we
    send from."""
    found = reply_to_for(conn, ticket.channel_id, out)
    return (
        found.email if found else next(a for a in (*ticket.branch_addresses, out.from_address) if a)
    )


def notification_mail(
    conn: Connection,
    ticket: TicketRow,
    out: Row,
    to: Address,
    subject: str,
    body: str,
    *,
    message_id: str | None,
    now: datetime,
) -> OutgoingMail:
    """A notification to an agent about the ticket (storage.notify): From its outgoing channel,
    signed with its signature, Reply-To the support address, In-Reply-To and References the
    ticket's thread, marked as automatic. `message_id` keeps the Message-ID of a queued one
    being rebuilt."""
    parent = _parent(conn, tables(conn), ticket.number)
    return OutgoingMail(
        sender=_sender(out),
        to=(checked_address(to, "To"),),
        reply_to=Address("", support_address(conn, ticket, out)),
        subject=subject,
        body=sign(body, signature_for(conn, out, None, ticket)),
        message_id=message_id or _message_id(conn, out, ticket.ref, now),
        date=now,
        in_reply_to=parent.message_id if parent is not None else None,
        references=_chain(parent),
        headers=NOTIFY_HEADERS,
    )


def test_mail(out: Row, to: str, now: datetime | None = None) -> bytes:
    """The mail `outgoing test --send-to` sends: through the channel, not the outbox."""
    now = now or utcnow()
    domain = out.from_address.rpartition("@")[2]
    return build_mail(
        OutgoingMail(
            sender=_sender(out),
            to=(checked_address(Address("", to), "To"),),
            subject=f"tuidesk test mail from {out.name}",
            body=f"This mail was sent by `tuidesk outgoing test {out.name}`: the channel works.\n",
            message_id=new_message_id(domain, "test", now),
            date=now,
            headers=_ACK_HEADERS,
        )
    )


def mark_bounced(
    conn: Connection, message_ids: Sequence[str], reason: str, now: datetime | None = None
) -> int:
    """A bounce (DSN) of our mail: those mails failed, whatever the server said at the time.
    The agents are told of those not known to have failed before."""
    from tuidesk.storage import notify  # it builds on this module

    outbox = tables(conn).outbox
    named = outbox.c.message_id.in_(list(message_ids))
    newly_failed = list(
        conn.execute(select(outbox.c.id).where(named, outbox.c.status != "failed")).scalars()
    )
    result = conn.execute(
        update(outbox)
        .where(named)
        .values(status="failed", last_error=strip_controls(reason)[:2000], claimed_until=None)
    )
    notify.mails_failed(conn, newly_failed, f"bounced: {reason}", now or utcnow())
    return result.rowcount


# ----------------------------------------------------------------------------------------
# The sender's side


@dataclass(frozen=True)
class Claimed:
    id: int
    ticket_id: int | None
    outgoing: str
    mail_from: str
    recipients: list[str]
    raw: bytes
    tries: int
    kind: str


def claim_due(conn: Connection, holder: str, now: datetime, limit: int = 100) -> list[Claimed]:
    """Queued mail that is due, and mail whose sender's lease ran out, claimed for `holder`.
    Each claim is a conditional UPDATE, so two senders never take the same mail."""
    outbox = tables(conn).outbox
    claimable = or_(
        (outbox.c.status == "queued") & (outbox.c.next_attempt_at <= now),
        (outbox.c.status == "sending") & (outbox.c.claimed_until < now),
    )
    rows = conn.execute(
        select(outbox).where(claimable).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
    ).all()
    claimed = []
    for row in rows:
        taken = conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id, claimable)
            .values(
                status="sending", claimed_by=holder, claimed_until=now + timedelta(seconds=CLAIM_S)
            )
        ).rowcount
        if taken:
            claimed.append(
                Claimed(row.id, row.ticket_id, row.outgoing, row.mail_from, list(row.recipients),
                        row.raw, row.tries, row.kind)
            )  # fmt: skip
    return claimed


def _mine(outbox: Any, mail_id: int, holder: str) -> Any:
    return (outbox.c.id == mail_id) & (outbox.c.claimed_by == holder)


def mark_sent(
    conn: Connection, mail: Claimed, holder: str, refused: dict[str, tuple[int, str]], now: datetime
) -> None:
    t = tables(conn)
    conn.execute(
        update(t.outbox)
        .where(_mine(t.outbox, mail.id, holder))
        .values(
            status="sent", sent_at=now, tries=mail.tries + 1, claimed_until=None, last_error=None
        )
    )
    if refused and mail.ticket_id is not None and mail.kind != NOTIFY:
        lines = [f"{addr}: {code} {text}" for addr, (code, text) in sorted(refused.items())]
        text = "Not delivered to some recipients:\n" + "\n".join(lines)
        _note(conn, t, mail.ticket_id, text, now, _OUTBOX)


def mark_attempt_failed(
    conn: Connection,
    mail: Claimed,
    holder: str,
    error: str,
    *,
    permanent: bool,
    now: datetime,
) -> str:
    """After a failed attempt: back to the queue with a wait, or failed for good (after the
    last try, or at once when the server refused the mail itself). Returns the new status."""
    t = tables(conn)
    settings = get_settings(conn)
    tries = mail.tries + 1
    error = strip_controls(error)[:2000]
    if permanent or tries >= int(settings["outbox_max_tries"]):
        values: dict[str, Any] = dict(status="failed", tries=tries, last_error=error)
        if mail.ticket_id is not None and mail.kind != NOTIFY:
            from tuidesk.storage import notify  # it builds on this module

            why = "refused" if permanent else f"failed {tries} times"
            to = ", ".join(mail.recipients)
            _note(conn, t, mail.ticket_id, f"Mail to {to} not sent ({why}): {error}", now, _OUTBOX)
            notify.mails_failed(conn, [mail.id], f"not sent ({why}): {error}", now)
    else:
        waits = list(settings["outbox_retry_seconds"]) or [60]
        wait = waits[min(tries, len(waits)) - 1]
        values = dict(
            status="queued", tries=tries, last_error=error,
            next_attempt_at=now + timedelta(seconds=wait),
        )  # fmt: skip
    conn.execute(
        update(t.outbox)
        .where(_mine(t.outbox, mail.id, holder))
        .values(claimed_until=None, **values)
    )
    return str(values["status"])


def retry(conn: Connection, mail_id: int, now: datetime | None = None) -> bool:
    """Put a failed mail back in the queue, its tries reset (after the cause is fixed)."""
    outbox = tables(conn).outbox
    return bool(
        conn.execute(
            update(outbox)
            .where(outbox.c.id == mail_id, outbox.c.status == "failed")
            .values(status="queued", tries=0, next_attempt_at=now or utcnow())
        ).rowcount
    )


def list_outbox(conn: Connection, status: str | None = None, limit: int = 200) -> list[dict]:
    t = tables(conn)
    outbox, ticket, branch = t.outbox, t.ticket, t.branch
    query = (
        select(
            outbox.c.id, outbox.c.kind, outbox.c.outgoing, outbox.c.recipients,
            outbox.c.message_id, outbox.c.status, outbox.c.tries, outbox.c.last_error,
            outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.sent_at, outbox.c.ticket_id,
            branch.c.key,
        )
        .outerjoin(ticket, ticket.c.id == outbox.c.ticket_id)
        .outerjoin(branch, branch.c.id == ticket.c.branch_id)
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    if status is not None:
        if status not in STATUSES:
            raise OutboundError(f"status must be one of {', '.join(STATUSES)}")
        query = query.where(outbox.c.status == status)
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "ticket": ticket_ref(r.key, r.ticket_id) if r.ticket_id else None,
            "outgoing": r.outgoing,
            "recipients": r.recipients,
            "message_id": r.message_id,
            "status": r.status,
            "tries": r.tries,
            "error": r.last_error,
            "next_attempt_at": aware(r.next_attempt_at).isoformat(),
            "created_at": aware(r.created_at).isoformat(),
            "sent_at": aware(r.sent_at).isoformat() if r.sent_at else None,
        }
        for r in conn.execute(query)
    ]
