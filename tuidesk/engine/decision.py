"""What the engine hands storage: a Decision with every step's reason, and the lookups it needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from tuidesk.engine.enums import Direction, Priority, TicketStatus
from tuidesk.engine.parse import Address, ParsedMail
from tuidesk.engine.participants import TicketMail
from tuidesk.engine.rules import BranchRule


class Action(StrEnum):
    """What became of a mail: each Decision variant names its own, as `action`."""

    CREATED = "created"
    COMMENTED = "commented"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    WORKED = "worked"  # an agent's mail worked a ticket: a reply, a note, commands


@dataclass(frozen=True)
class TicketRef:
    """What the engine may know about an existing ticket."""

    number: int
    ref: str
    status: TicketStatus
    requester_email: str
    updated_at: datetime
    ticket_type: str | None = None


@dataclass(frozen=True)
class AgentCommands:
    """The commands found at the top of an agent's mail. `problems` are command lines whose
    value is not understood (`#status maybe`): not applied, and said so."""

    note: bool = False
    new: bool = False
    status: TicketStatus | None = None
    assign: str | None = None  # `me` or an agent's login, email or name
    priority: Priority | None = None
    problems: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        """Whether any command changes the ticket."""
        return self.status is not None or self.assign is not None or self.priority is not None

    def summary(self) -> list[str]:
        """The changes asked for besides the status (said on its own, as the status after the
        mail), as the outcome says them."""
        out = [f"priority {self.priority}"] if self.priority else []
        return out + ([f"assign {self.assign}"] if self.assign else [])

    def as_dict(self) -> dict[str, Any]:
        return {
            "note": self.note,
            "new": self.new,
            "status": self.status.value if self.status else None,
            "assign": self.assign,
            "priority": self.priority.value if self.priority else None,
            "problems": list(self.problems),
        }


class Work(StrEnum):
    """What an agent's mail on a ticket does with its text."""

    REPLY = "reply"  # sent to the requester through the outbox, as `tuidesk reply`
    DELIVERED = "delivered"  # the agent wrote to the requester already: kept, not sent again
    NOTE = "note"  # an internal note (`#note`, or a forward onto the ticket)
    COMMANDS = "commands"  # no text: only the commands
    HELD = "held"  # not proven to be the agent's: kept as a note, nothing sent or changed


@dataclass(frozen=True)
class AgentRef:
    """The agent a mail's sender is (by their address or one of their aliases)."""

    id: int
    name: str
    email: str


@dataclass(frozen=True)
class SeenBefore:
    """A mail already processed: what happened to it the first time."""

    outcome: str
    ticket: TicketRef | None


@dataclass(frozen=True)
class Step:
    step: str
    outcome: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"step": self.step, "outcome": self.outcome, "rule": self.rule}


@dataclass(frozen=True)
class TicketFields:
    title: str
    priority: str
    queue: str | None
    ticket_type: str | None
    custom_fields: dict[str, Any]
    # Fields set by a restricted mapping: only admins may see them.
    restricted: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Decided:
    """What every decision carries: why, the mail it is about (its content hash keeps a second
    delivery out), and the steps that settled it.

    Each action is a variant below holding just what that action needs. `ticket`, `branch`,
    `fields` and `requester` can be read on every variant (the dry run and the preview show
    them for any mail): a variant that has no such thing says so with a ClassVar of None."""

    action: ClassVar[Action]
    reason: str
    content_hash: str
    message_id: str | None
    mail: ParsedMail | None
    steps: tuple[Step, ...]
    channel: str | None

    def as_dict(self) -> dict[str, Any]:
        """The whole decision, as `pipe --dry-run` prints it: every key for every action, what
        the variant does not set at its empty value."""
        return {
            "action": self.action.value,
            "ticket": None,
            "reason": self.reason,
            "message_id": self.message_id,
            "content_hash": self.content_hash,
            "direction": Direction.IN.value,
            "reopen": False,
            "branch": None,
            "requester": None,
            "fields": None,
            "body": "",
            "acknowledge": False,
            "linked": None,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
                for a in (self.mail.attachments if self.mail else [])
            ],
            "steps": [s.as_dict() for s in self.steps],
            "agent_mail": None,
        } | self._details()

    def _details(self) -> dict[str, Any]:
        """The variant's own entries of `as_dict`."""
        return {}


@dataclass(frozen=True, kw_only=True)
class Created(Decided):
    """A new ticket, with the mail as its first message."""

    action: ClassVar[Action] = Action.CREATED
    ticket: ClassVar[None] = None
    mail: ParsedMail
    requester: Address
    branch: BranchRule
    fields: TicketFields
    body: str
    attach_original: bool  # keep the whole mail as original.eml
    acknowledge: bool  # queue an acknowledgement to the requester
    linked: TicketRef | None  # the ticket a reply that could not join it answered
    # Who forwarded the requester's mail to us (an agent): the first message is theirs.
    forwarded_by: Address | None = None

    def _details(self) -> dict[str, Any]:
        return {
            "branch": self.branch.key,
            "requester": self.requester.as_dict(),
            "fields": vars(self.fields),
            "body": self.body,
            "acknowledge": self.acknowledge,
            "linked": self.linked.ref if self.linked else None,
        }


@dataclass(frozen=True, kw_only=True)
class Commented(Decided):
    """The mail joins an existing ticket: a reply (`Direction.IN`), or a bounce of our own mail
    kept as a note (`Direction.NOTE`)."""

    action: ClassVar[Action] = Action.COMMENTED
    fields: ClassVar[None] = None
    mail: ParsedMail
    requester: Address | None  # its sender: a bounce may have none (From: MAILER-DAEMON <>)
    ticket: TicketRef
    body: str  # the visible part of a reply; a bounce whole
    direction: Direction
    reopen: bool = False
    branch: BranchRule | None = None  # where a reply would have opened a new ticket
    bounced_message_ids: tuple[str, ...] = ()  # our mails this bounce reports as undelivered

    def _details(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.ref,
            "direction": self.direction.value,
            "reopen": self.reopen,
            "branch": self.branch.key if self.branch else None,
            "requester": self.requester.as_dict() if self.requester else None,
            "body": self.body,
        }


@dataclass(frozen=True, kw_only=True)
class Ignored(Decided):
    """Nothing to write but the log row: machine mail, a filtered sender, a mail loop."""

    action: ClassVar[Action] = Action.IGNORED
    ticket: ClassVar[None] = None
    branch: ClassVar[None] = None
    fields: ClassVar[None] = None
    requester: ClassVar[None] = None


@dataclass(frozen=True, kw_only=True)
class Duplicate(Decided):
    """A mail processed before: only logged, and it goes where its first delivery went."""

    action: ClassVar[Action] = Action.DUPLICATE
    branch: ClassVar[None] = None
    fields: ClassVar[None] = None
    requester: ClassVar[None] = None
    ticket: TicketRef | None  # the ticket it made or joined the first time
    first_outcome: str  # what became of it the first time

    def _details(self) -> dict[str, Any]:
        return {"ticket": self.ticket.ref if self.ticket else None}


@dataclass(frozen=True, kw_only=True)
class Quarantined(Decided):
    """A mail the engine cannot handle, kept whole for an admin to look at and retry."""

    action: ClassVar[Action] = Action.QUARANTINED
    ticket: ClassVar[None] = None
    branch: ClassVar[None] = None
    fields: ClassVar[None] = None
    requester: ClassVar[None] = None


@dataclass(frozen=True, kw_only=True)
class Worked(Decided):
    """An agent's mail on a ticket: its text sent to the requester or kept as a note (`work`),
    and the commands at its top applied. The agent's mail itself is no message of the ticket
    (it is logged and deduplicated like any mail): what it made is."""

    action: ClassVar[Action] = Action.WORKED
    branch: ClassVar[None] = None
    fields: ClassVar[None] = None
    requester: ClassVar[None] = None
    mail: ParsedMail
    ticket: TicketRef
    agent: AgentRef
    work: Work
    body: str  # the text sent or noted: quotes stripped, commands removed
    commands: AgentCommands  # those to apply: none when the mail is held
    # Shown to be the agent's (a trusted server passed it, or agent_mail_commands): only then
    # is what it makes stored as written by the agent.
    proven: bool
    held: str = ""  # why the mail was kept as a note (Work.HELD)

    @property
    def direction(self) -> Direction | None:
        if self.work in (Work.REPLY, Work.DELIVERED):
            return Direction.OUT
        return None if self.work is Work.COMMANDS else Direction.NOTE

    def _details(self) -> dict[str, Any]:
        direction = self.direction
        return {
            "ticket": self.ticket.ref,
            "direction": direction.value if direction else None,
            "body": self.body,
            "agent_mail": {
                "agent": {"id": self.agent.id, "name": self.agent.name, "email": self.agent.email},
                "work": self.work.value,
                "commands": self.commands.as_dict(),
                "proven": self.proven,
                "held": self.held or None,
            },
        }


# What the engine decides for one mail. A new action is a new variant, added here; apply_decision
# then dispatches on it (`match`), and as_dict fills in the keys it does not set.
Decision = Created | Commented | Ignored | Duplicate | Quarantined | Worked


class Lookup(Protocol):
    """The questions the engine asks storage; answered read-only."""

    def already_ingested(self, content_hash: str) -> SeenBefore | None:
        """None if never seen; else what became of it."""

    def ticket_by_number(self, number: int) -> TicketRef | None: ...

    def ticket_by_message_ids(
        self, message_ids: Sequence[str], *, outbound_only: bool = False
    ) -> TicketRef | None:
        """The ticket with a message of one of these Message-IDs; unless `outbound_only`, also
        the ticket of a mail we sent about it that is none of its messages (a notification)."""

    def is_agent(self, email: str) -> bool: ...

    def agent_for(self, email: str) -> AgentRef | None:
        """The agent whose address or alias this is (any case)."""

    def ticket_mails(self, number: int) -> Sequence[TicketMail]:
        """Who sent and received each mail of the ticket, oldest first."""

    def is_our_message(self, message_id: str) -> bool:
        """True when we sent a mail with this Message-ID: it has come back to us."""

    def acknowledgements_since(self, email: str, since: datetime) -> int:
        """How many acknowledgements went to this address since then."""
