"""Applying an agent's mail to its ticket (engine.decision.Worked): the reply goes out through
the same compose and outbox as `tuidesk reply`, a note is a note as `tuidesk note` writes it,
and the commands change the ticket as `tuidesk ticket set` does."""

from __future__ import annotations

from sqlalchemy import Connection, insert, update

from tuidesk.engine.agent_mail import ASSIGN_SELF, describe
from tuidesk.engine.compose import HeaderInjection, OutgoingFile
from tuidesk.engine.decision import Quarantined, Step, Work, Worked
from tuidesk.engine.enums import Direction, TicketStatus
from tuidesk.engine.parse import Address
from tuidesk.storage import history
from tuidesk.storage.apply import Outcome, add_message, engine_actor, log_row, quarantine
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.outbox import OutboundError, add_note, queue_reply
from tuidesk.storage.tables import tables, utcnow
from tuidesk.storage.ticket_actions import TicketError, update_ticket


def work_ticket(
    conn: Connection, decision: Worked, raw: bytes, *, source: str, blobs: BlobStore
) -> Outcome:
    """Do what the agent's mail says, and log it with what was done. A reply that cannot be
    queued (no outgoing channel, a requester we cannot write to) leaves the ticket as it was
    and the mail in the quarantine, to be retried once that is fixed."""
    try:
        with conn.begin_nested():
            reason = _work(conn, decision, raw, blobs, source)
    except (OutboundError, HeaderInjection) as exc:
        why = f"{decision.reason}: not done: {exc}"
        kept = Quarantined(
            reason=why, content_hash=decision.content_hash, message_id=decision.message_id,
            mail=decision.mail, channel=decision.channel,
            steps=(*decision.steps, Step("apply", "quarantined", str(exc))),
        )  # fmt: skip
        t = tables(conn)
        conn.execute(insert(t.ingest_log), log_row(kept, source, None))
        quarantine(conn, t, kept, raw, source)
        return Outcome(kept.action.value, None, kept.reason)
    conn.execute(
        insert(tables(conn).ingest_log),
        log_row(decision, source, decision.ticket.number, reason=reason),
    )
    return Outcome(decision.action.value, decision.ticket.ref, reason)


def _work(conn: Connection, decision: Worked, raw: bytes, blobs: BlobStore, source: str) -> str:
    """The writes, and the outcome in words."""
    agent, commands, work = decision.agent, decision.commands, decision.work
    # Unproven, the mail may be anyone's: a note of it names the address, not the agent, and
    # its event the engine that kept it.
    agent_id = agent.id if decision.proven else None
    actor = (
        history.Actor("agent", agent.name, agent.id)
        if decision.proven
        else engine_actor(decision, source, "auth")
    )
    ref = str(decision.ticket.number)  # by number: the branch (and the ref's key) may change
    files = [OutgoingFile(a.filename, a.content_type, a.data) for a in decision.mail.attachments]
    recipients: list[str] = []
    status: str | None = None
    if work is Work.REPLY:
        queued = queue_reply(
            conn, blobs, ref, decision.body, attachments=files, status=commands.status,
            agent_id=agent_id, actor=actor,
        )  # fmt: skip
        recipients, status = queued.recipients, queued.status
    elif work is Work.DELIVERED:
        status = _record_delivered(conn, decision, raw, blobs, actor)
    elif work in (Work.NOTE, Work.HELD):
        sender = decision.mail.sender
        author = Address(agent.name, agent.email) if decision.proven else sender
        add_note(
            conn, ref, decision.body, author=author, agent_id=agent_id, actor=actor,
            files=[(f, blobs.put(f.data)) for f in files],
        )  # fmt: skip
    changes: dict[str, str] = {}
    if commands.status and work is not Work.REPLY:
        changes["status"] = status = commands.status
    if commands.priority:
        changes["priority"] = commands.priority
    if changes:
        update_ticket(conn, ref, actor=actor, **changes)
    applied = [f"priority {commands.priority}"] if commands.priority else []
    problems = list(commands.problems)
    if commands.assign:
        who = agent.email if commands.assign.lower() == ASSIGN_SELF else commands.assign
        try:
            with conn.begin_nested():
                update_ticket(conn, ref, assignee=who, actor=actor)
            applied.append(f"assigned to {who}")
        except TicketError as exc:
            problems.append(f"#assign {commands.assign}: {exc}")
    if problems:  # where the agent sees them: they never see the outcome
        text = f"Not applied from the mail of {agent.name}:\n" + "\n".join(problems)
        add_note(conn, ref, text, actor=history.Actor("system", "agent mail"))
    return describe(
        work, agent.email, decision.ticket.ref, applied=applied, problems=problems,
        to=recipients, status=status, held=decision.held,
    )  # fmt: skip


def _record_delivered(
    conn: Connection, decision: Worked, raw: bytes, blobs: BlobStore, actor: history.Actor
) -> str:
    """The agent wrote to the requester themselves, copying us: their mail is our reply on the
    ticket as it was sent (their Message-ID, so the customer's answer threads to it), and
    answers a new ticket as any reply does. The status after it."""
    t = tables(conn)
    now = utcnow()
    ticket = decision.ticket
    add_message(
        conn, t, decision, ticket.number, raw, blobs=blobs, now=now, direction=Direction.OUT,
        attach_original=False, agent_id=decision.agent.id, actor=actor,
    )  # fmt: skip
    status = TicketStatus.OPEN if ticket.status == TicketStatus.NEW else ticket.status
    conn.execute(
        update(t.ticket).where(t.ticket.c.id == ticket.number).values(status=status, updated_at=now)
    )
    history.changed(conn, ticket.number, actor, {"status": ticket.status}, {"status": status})
    return status
