"""Finding the ticket a reply belongs to."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from tuidesk.engine.decision import Lookup, Step, TicketRef
from tuidesk.engine.enums import CLOSED_STATUSES
from tuidesk.engine.parse import Address, ParsedMail
from tuidesk.engine.participants import reply_refusal
from tuidesk.engine.refs import refs_in
from tuidesk.engine.rules import ChannelRule, RuleSet

# A reply names its parent in In-Reply-To and the newest References; a mail listing thousands
# is hostile, and the last few are the ones that can belong to a ticket.
MAX_REFERENCES = 50


def subject_token(subject: str, rules: RuleSet) -> tuple[str, int] | None:
    """The right-most `KEY-N` in the subject whose KEY is one of our branch keys."""
    for key, number in refs_in(subject):
        if rules.branch_by_key(key):
            return key.upper(), number
    return None


class Threading(NamedTuple):
    """Where a mail goes: `ticket` to comment on (None: a new ticket), whether to reopen it,
    the steps taken, and for a new ticket opened by a reply the ticket it answered (`linked`)
    with why it could not join it (`refusal`)."""

    ticket: TicketRef | None
    reopen: bool
    steps: list[Step]
    linked: TicketRef | None = None
    refusal: str = ""


def thread_ids(mail: ParsedMail) -> tuple[str, ...]:
    """The Message-IDs a mail answers: In-Reply-To and the newest References."""
    return mail.in_reply_to + mail.references[-MAX_REFERENCES:]


def referenced_ticket(
    mail: ParsedMail, rules: RuleSet, lookup: Lookup
) -> tuple[TicketRef | None, list[Step]]:
    """The ticket a mail names, by the ticket token in its subject or else a message of the
    ticket it answers, whoever sent it; and the steps that found it (or not)."""
    steps: list[Step] = []
    ticket: TicketRef | None = None
    token = subject_token(mail.subject, rules)
    if token:
        ticket = lookup.ticket_by_number(token[1])
        if ticket:
            steps.append(Step("thread", ticket.ref, f"ticket token {token[0]}-{token[1]}"))
        else:
            steps.append(Step("thread", "new", f"token {token[0]}-{token[1]}: no such ticket"))
    if ticket is None:
        ids = thread_ids(mail)
        ticket = lookup.ticket_by_message_ids(ids) if ids else None
        if ticket:
            steps.append(Step("thread", ticket.ref, "In-Reply-To/References name its message"))
    if ticket is None and not steps:
        steps.append(Step("thread", "new", "no ticket token or known message reference"))
    return ticket, steps


def find_ticket(
    mail: ParsedMail,
    rules: RuleSet,
    lookup: Lookup,
    now: datetime,
    channel: ChannelRule | None = None,
    sender: Address | None = None,
) -> Threading:
    """A channel's `update_types` limit which types of ticket its mail may add to; the reply
    mode (`restrict_replies`) who may add to a ticket at all: the `sender` (the requester the
    mail speaks for, a web form's Reply-To; its From by default)."""
    ticket, steps = referenced_ticket(mail, rules, lookup)
    if ticket is None:
        return Threading(None, False, steps)

    sender = sender or mail.sender
    number = ticket.number
    refusal = reply_refusal(
        sender.email if sender else "",
        ticket,
        lambda: lookup.ticket_mails(number),
        rules,
        lookup.is_agent,
    )
    if refusal:
        steps.append(Step("thread", "new", f"{refusal.rule}: a new ticket linked to {ticket.ref}"))
        return Threading(None, False, steps, ticket, refusal.reason)
    if channel and channel.update_types and ticket.ticket_type not in channel.update_types:
        kind = ticket.ticket_type or "untyped"
        steps.append(
            Step(
                "thread",
                "new",
                f"{ticket.ref} is a {kind} ticket, which does not take updates by email",
            )
        )
        return Threading(None, False, steps)
    if ticket.status in CLOSED_STATUSES:
        age = now - ticket.updated_at
        limit = rules.reopen_max_age_days
        if limit is not None and age > timedelta(days=limit):
            steps.append(
                Step("thread", "new", f"{ticket.ref} {ticket.status} over {limit} days ago")
            )
            return Threading(None, False, steps)
        steps.append(Step("thread", ticket.ref, f"reopens {ticket.status} ticket"))
        return Threading(ticket, True, steps)
    return Threading(ticket, False, steps)
