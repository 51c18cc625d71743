"""An agent's mail on a ticket: the commands at its top (`#note`, `#status pending`, `#assign me`,
`#priority high`, `#new`), what the mail may do, and the words its outcome is told in.

A mail claiming an agent's address is only as good as the proof that the agent sent it: a
trusted server's Authentication-Results (engine.authres), or an admin who accepts the risk with
`agent_mail_commands`. Without either, the mail is kept as an internal note: a spoofer must
not be able to mail customers as us, nor change tickets."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tuidesk.engine.authres import AuthOutcome, authenticate
from tuidesk.engine.decision import (
    AgentCommands,
    AgentRef,
    Lookup,
    Quarantined,
    Step,
    TicketRef,
    Work,
    Worked,
)
from tuidesk.engine.enums import Priority, TicketStatus
from tuidesk.engine.parse import ParsedMail
from tuidesk.engine.rules import RuleSet
from tuidesk.engine.thread import referenced_ticket

_COMMAND = re.compile(r"^#([A-Za-z]+)(?:\s+(.*))?$")
_FLAGS = ("note", "new")  # commands without a value
_VALUED = ("status", "assign", "priority")
# What `#status` may set: `new` means no agent has answered, which an agent's own mail denies.
SETTABLE_STATUSES = tuple(s for s in TicketStatus if s is not TicketStatus.NEW)
ASSIGN_SELF = "me"
NO_COMMANDS = AgentCommands()


def parse_commands(text: str) -> tuple[AgentCommands, str]:
    """The commands in the lines at the top of `text`, and the text after them.

    Only lines before any other text are commands; blank lines between them are allowed. An
    unknown `#word` line is text (and ends the commands), so a mail that starts with a hashtag
    is sent as written. `#note` and `#new` take no value: words after them on the same line
    are the text's first line (`#note called her back`)."""
    lines = text.split("\n")
    found: dict[str, Any] = {}
    problems: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].replace("\xa0", " ").strip()
        match = _COMMAND.match(line)
        if not line:
            index += 1
            continue
        word = match.group(1).lower() if match else ""
        if word not in _FLAGS + _VALUED:
            break
        value = (match.group(2) or "").strip() if match else ""
        if word in _FLAGS:
            found[word] = True
            if value:  # the text starts on this line
                lines[index] = value
                break
        else:
            problem = _set(found, word, value)
            if problem:
                problems.append(f"{line}: {problem}")
        index += 1
    if not found and not problems:
        return NO_COMMANDS, text
    rest = "\n".join(lines[index:])
    return AgentCommands(problems=tuple(problems), **found), rest


def _set(found: dict[str, Any], word: str, value: str) -> str | None:
    """Record a valued command; the reason it cannot be applied, if any."""
    if not value:
        return "no value given"
    if word == "assign":
        found["assign"] = value
        return None
    if word == "status":
        choices: Sequence[StrEnum] = SETTABLE_STATUSES
    else:
        choices = tuple(Priority)
    chosen = next((c for c in choices if c.value == value.lower()), None)
    if chosen is None:
        return f"not one of {', '.join(choices)}"
    found[word] = chosen
    return None


def held_note(sender: str, why: str, text: str) -> str:
    """The note an unproven agent mail becomes: why it was not acted on, then its text with the
    commands as written, so the agent can see what they asked for."""
    head = (
        f"Mail from {sender} kept as a note, not sent to the customer and no command applied:"
        f" {why}."
    )
    return f"{head}\n\n{text}" if text.strip() else head


def describe(
    work: Work,
    agent: str,
    ref: str,
    *,
    applied: Sequence[str] = (),
    problems: Sequence[str] = (),
    to: Sequence[str] = (),
    status: str | None = None,
    held: str = "",
) -> str:
    """The outcome of an agent's mail in words: `agent reply by ada@example.com on SUP-3:
    queued to alice@customer.test; status pending`. The engine says what it will do, storage
    what it did (the recipients, the status after it)."""
    head = {
        Work.REPLY: f"agent reply by {agent} on {ref}",
        Work.DELIVERED: f"agent reply by {agent} on {ref}",
        Work.NOTE: f"agent note by {agent} on {ref}",
        Work.COMMANDS: f"agent commands by {agent} on {ref}",
        Work.HELD: f"agent mail by {agent} on {ref} kept as a note",
    }[work]
    parts: list[str] = []
    if work is Work.REPLY:
        parts.append(f"queued to {', '.join(to)}" if to else "sent to the requester")
    elif work is Work.DELIVERED:
        parts.append("the requester was among its recipients: kept on the ticket, not sent again")
    elif work is Work.HELD:
        parts.append(held)
    elif work is Work.COMMANDS and not applied and not problems:
        parts.append("no text and no command: nothing done")
    parts += applied
    if status:
        parts.append(f"status {status}")
    if problems:
        parts.append("not applied: " + "; ".join(problems))
    return f"{head}: {'; '.join(parts)}" if parts else head


@dataclass(frozen=True)
class NewTicket:
    """An agent's mail that opens a ticket (`#new`): its text without the commands, and the
    priority it asked for."""

    body: str
    priority: Priority | None
    reason: str


def agent_mail(
    mail: ParsedMail,
    agent: AgentRef,
    rules: RuleSet,
    lookup: Lookup,
    *,
    steps: list[Step],
    about: dict[str, Any],
    visible: Callable[[], str],
    forwarded: bool,
    for_customer: bool,
) -> Worked | Quarantined | NewTicket | None:
    """What a mail from an agent's address does. None: it goes on as anyone's mail would, when
    the agent is the ticket's requester (their own issue), or for a forward of someone's mail
    (`for_customer`) that names no ticket: it opens one for them, as their own mail would. Any
    other agent mail naming no ticket opens none without `#new`: it is kept in the quarantine.

    `steps` gathers the steps taken; `about` is what every decision carries about the mail;
    `visible` gives the text quotes stripped, as a customer's reply is stored; `forwarded`: a
    forward (by its subject or an attached mail), a note on the ticket it names."""
    sender = mail.sender
    assert sender is not None  # the engine asks only about mail with a sender
    steps.append(Step("agent", agent.email, f"{sender.email} is agent {agent.name}"))
    verdict = authenticate(mail.authentication_results, sender.domain, rules.trusted_authserv_ids)
    if verdict.outcome is AuthOutcome.FAIL:
        steps.append(Step("auth", "quarantined", verdict.reason))
        reason = f"spoofed agent mail: from {sender.email} ({agent.name}), but {verdict.reason}"
        return Quarantined(reason=reason, steps=tuple(steps), **about)
    steps.append(Step("auth", verdict.outcome, verdict.reason))
    proven = verdict.outcome is AuthOutcome.PASS or rules.agent_mail_commands

    opening, text = parse_commands(mail.text)
    if opening.new:
        steps.append(Step("agent", "new", "#new: the agent opens a ticket"))
        return NewTicket(
            body=text,
            priority=opening.priority if proven else None,
            reason=f"new ticket opened by agent {agent.email} (#new)",
        )
    ticket, thread_steps = referenced_ticket(mail, rules, lookup)
    if ticket is None:
        if for_customer:
            why = "a forward of someone's mail that names no ticket opens one for them"
            steps.append(Step("agent", "forward", why))
            return None
        steps.extend(thread_steps)
        reason = f"agent mail by {agent.email} names no ticket: start it with #new to open one"
        steps.append(Step("agent", "quarantined", reason))
        return Quarantined(reason=reason, steps=tuple(steps), **about)
    if ticket.requester_email == sender.email.lower():
        steps.append(Step("agent", "requester", f"the agent is the requester of {ticket.ref}"))
        return None
    steps.extend(thread_steps)
    steps.append(Step("quotes", "stripped", "visible text is the new part of the mail"))
    return _worked(mail, agent, ticket, visible(), proven, forwarded, verdict.reason, steps, about)


def _worked(
    mail: ParsedMail,
    agent: AgentRef,
    ticket: TicketRef,
    visible: str,
    proven: bool,
    forwarded: bool,
    auth: str,
    steps: list[Step],
    about: dict[str, Any],
) -> Worked:
    """Settle what the mail's text becomes and which commands apply."""
    commands, text = parse_commands(visible)
    held = ""
    if not proven and (commands.changes or not commands.note):
        held = f"not shown to be the agent's ({auth}) and agent_mail_commands is off"
        work, commands = Work.HELD, NO_COMMANDS
        text = held_note(mail.sender.email if mail.sender else agent.email, held, visible)
    elif not text.strip():
        work = Work.COMMANDS
    elif commands.note or forwarded:  # a forward onto a ticket is for colleagues' eyes
        work = Work.NOTE
    elif ticket.requester_email in {a.email for a in mail.to + mail.cc}:
        work = Work.DELIVERED
    else:
        work = Work.REPLY
    status = [f"status {commands.status}"] if commands.status else []
    summary = ", ".join(status + commands.summary())
    steps.append(Step("commands", work.value, summary or "no command"))
    reason = describe(
        work, agent.email, ticket.ref, applied=commands.summary(), problems=commands.problems,
        status=commands.status, held=held,
    )  # fmt: skip
    return Worked(
        reason=reason,
        steps=tuple(steps),
        ticket=ticket,
        agent=agent,
        work=work,
        body=text,
        commands=commands,
        proven=proven,
        held=held,
        **about,
    )
