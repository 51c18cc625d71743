"""Helpers for the pure engine tests: mail built from text, and an in-memory answer to the
engine's Lookup questions (the engine's own protocol, not a mock of a library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tuidesk.engine.decision import AgentRef, SeenBefore, TicketRef
from tuidesk.engine.participants import TicketMail
from tuidesk.engine.rules import BranchRule, RuleSet

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def mail(headers: str, body: str = "Hello, my printer is on fire.\n") -> bytes:
    """A mail from a header block written as text (one header per line)."""
    lines = [line.strip() for line in headers.strip().splitlines()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


@dataclass
class MemoryLookup:
    tickets: dict[int, TicketRef] = field(default_factory=dict)
    message_ids: dict[str, tuple[int, str]] = field(default_factory=dict)
    seen: dict[str, int | None] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)  # an agent's other address -> theirs
    ours: set[str] = field(default_factory=set)  # Message-IDs of mail we sent
    acks: list[tuple[str, datetime]] = field(default_factory=list)  # (recipient, when)
    mails: dict[int, list[TicketMail]] = field(default_factory=dict)  # each ticket's, in order
    sent: dict[str, int] = field(default_factory=dict)  # our outbox's Message-IDs -> ticket

    def add_ticket(
        self,
        number: int,
        *,
        key: str = "SUP",
        status: str = "open",
        requester: str = "alice@customer.test",
        updated: datetime = NOW,
    ) -> TicketRef:
        ref = TicketRef(number, f"{key}-{number}", status, requester, updated)
        self.tickets[number] = ref
        return ref

    def already_ingested(self, content_hash: str) -> SeenBefore | None:
        if content_hash not in self.seen:
            return None
        number = self.seen[content_hash]
        ticket = self.tickets.get(number) if number else None
        return SeenBefore("created" if ticket else "ignored", ticket)

    def ticket_by_number(self, number: int) -> TicketRef | None:
        return self.tickets.get(number)

    def ticket_by_message_ids(
        self, message_ids: Sequence[str], *, outbound_only: bool = False
    ) -> TicketRef | None:
        for mid in message_ids:
            if mid in self.message_ids:
                number, direction = self.message_ids[mid]
                if not outbound_only or direction == "out":
                    return self.tickets.get(number)
        found = [self.sent[m] for m in message_ids if m in self.sent]
        return self.tickets.get(found[0]) if found and not outbound_only else None

    def is_agent(self, email: str) -> bool:
        return self.agent_for(email) is not None

    def agent_for(self, email: str) -> AgentRef | None:
        email = self.aliases.get(email.lower(), email.lower())
        if email not in self.agents:
            return None
        return AgentRef(sorted(self.agents).index(email) + 1, email.partition("@")[0], email)

    def ticket_mails(self, number: int) -> list[TicketMail]:
        return self.mails.get(number, [])

    def is_our_message(self, message_id: str) -> bool:
        return message_id in self.ours

    def acknowledgements_since(self, email: str, since: datetime) -> int:
        return sum(1 for to, when in self.acks if to == email.lower() and when >= since)


@pytest.fixture
def rules() -> RuleSet:
    return RuleSet(
        branches=(
            BranchRule("Support", "SUP", ("support@example.com",), (), True),
            BranchRule("Sales", "SAL", ("sales@example.com",), ("bigcustomer.test",)),
        ),
        aliases={"help@example.com": "support@example.com"},
        outgoing_addresses=("noreply@example.com",),
    )


@pytest.fixture
def lookup() -> MemoryLookup:
    return MemoryLookup()
