"""The words a ticket's status and priority and a message's direction are stored as, defined
once. StrEnum members are the strings themselves: they compare equal to the stored text, so the
database needs no change and code that still holds plain strings keeps working."""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"  # no agent has answered yet
    OPEN = "open"
    PENDING = "pending"  # waiting for the customer: their next mail opens it again
    RESOLVED = "resolved"
    CLOSED = "closed"


# Still being worked on: what the console's "all" view shows.
OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
# Done with: a reply reopens one only within the reopen window.
CLOSED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


class Direction(StrEnum):
    """Which way a message of a ticket went."""

    IN = "in"  # a mail that came to us
    OUT = "out"  # a reply we sent
    NOTE = "note"  # written for agents only: an agent's note, a bounce of our mail


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"
