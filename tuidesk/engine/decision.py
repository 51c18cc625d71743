"""What the engine hands storage: a Decision with every step's reason, and the lookups it needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tuidesk.engine.enums import Direction, TicketStatus
from tuidesk.engine.parse import Address, ParsedMail
from tuidesk.engine.participants import TicketMail
from tuidesk.engine.rules import BranchRule


class Action(StrEnum):
    CREATED = "created"
    COMMENTED = "commented"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


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


@dataclass
class Decision:
    action: Action
    reason: str
    content_hash: str
    message_id: str | None = None
    mail: ParsedMail | None = None
    steps: list[Step] = field(default_factory=list)
    ticket: TicketRef | None = None
    direction: Direction = Direction.IN
    reopen: bool = False
    branch: BranchRule | None = None
    fields: TicketFields | None = None
    requester: Address | None = None
    body: str = ""
    attach_original: bool = False
    channel: str | None = None
    first_outcome: str | None = None
    acknowledge: bool = False  # queue an acknowledgement to the requester of the new ticket
    bounced_message_ids: tuple[str, ...] = ()  # our mails this bounce reports as undelivered
    linked: TicketRef | None = None  # the ticket a reply that could not join it answered

    def as_dict(self) -> dict[str, Any]:
        """The whole decision, as `pipe --dry-run` prints it."""
        return {
            "action": self.action.value,
            "ticket": self.ticket.ref if self.ticket else None,
            "reason": self.reason,
            "message_id": self.message_id,
            "content_hash": self.content_hash,
            "direction": self.direction.value,
            "reopen": self.reopen,
            "branch": self.branch.key if self.branch else None,
            "requester": self.requester.as_dict() if self.requester else None,
            "fields": vars(self.fields) if self.fields else None,
            "body": self.body,
            "acknowledge": self.acknowledge,
            "linked": self.linked.ref if self.linked else None,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
                for a in (self.mail.attachments if self.mail else [])
            ],
            "steps": [s.as_dict() for s in self.steps],
        }


class Lookup(Protocol):
    """The questions the engine asks storage; answered read-only."""

    def already_ingested(self, content_hash: str) -> SeenBefore | None:
        """None if never seen; else what became of it."""

    def ticket_by_number(self, number: int) -> TicketRef | None: ...

    def ticket_by_message_ids(
        self, message_ids: Sequence[str], *, outbound_only: bool = False
    ) -> TicketRef | None: ...

    def is_agent(self, email: str) -> bool: ...

    def ticket_mails(self, number: int) -> Sequence[TicketMail]:
        """Who sent and received each mail of the ticket, oldest first."""

    def is_our_message(self, message_id: str) -> bool:
        """True when we sent a mail with this Message-ID: it has come back to us."""

    def acknowledgements_since(self, email: str, since: datetime) -> int:
        """How many acknowledgements went to this address since then."""
