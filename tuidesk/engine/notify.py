"""What a notification to an agent says: the events an agent can choose, and the subject and text
of one mail about one ticket, with every event folded into it since the last one.

Pure: events and the ticket's facts in, text out. Who is mailed, and when, is storage's
(storage.notify); this module never sees a database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tuidesk.engine.refs import refs_in
from tuidesk.engine.text import normalize_newlines, strip_controls

# The events an agent is mailed about, in the order they are listed: a ticket opened (new), a
# customer's reply (reply), the ticket given to them (assigned), our mail on it not delivered.
EVENTS = ("new", "reply", "assigned", "failed")
NONE = "none"  # `--notify none` (or an empty value): no mail at all
MAX_TEXT = 2000  # characters of a message's text quoted in a notification
HEADERS = (("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"))


class NotifyError(ValueError):
    """A list of events with a word that is not one of EVENTS."""


def parse_events(value: str | Iterable[str]) -> list[str]:
    """`new,reply` (text from the command line) or a list (from a file), in EVENTS' order and
    without repeats; an empty value or `none` is no event at all."""
    words = value.split(",") if isinstance(value, str) else list(value)
    chosen = set()
    for word in words:
        if not isinstance(word, str):
            raise NotifyError(f"events are words, not {word!r}")
        word = word.strip().lower()
        if word and word != NONE:
            if word not in EVENTS:
                raise NotifyError(f"{word!r} is not an event: {', '.join(EVENTS)} or {NONE}")
            chosen.add(word)
    return [e for e in EVENTS if e in chosen]


@dataclass(frozen=True)
class Event:
    """One thing that happened to a ticket. `by` is who did it (a mail's sender, the agent who
    assigned; for a failed mail, its recipients), `text` what they wrote (for a failed mail,
    why it failed)."""

    kind: str
    at: datetime
    by: str = ""
    text: str = ""

    def as_dict(self) -> dict[str, str]:
        """As the Notification row keeps it (JSON), until the mail goes out."""
        return {"kind": self.kind, "at": self.at.isoformat(), "by": self.by, "text": self.text}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Event:
        return cls(data["kind"], datetime.fromisoformat(data["at"]), data["by"], data["text"])


@dataclass(frozen=True)
class TicketFacts:
    ref: str
    title: str
    status: str
    assignee: str | None
    requester: str | None


def notification_subject(title: str, ref: str) -> str:
    """`[SUP-42] <title>`. The ref must stay the right-most ref in the subject, the one a reply
    threads by: a title that holds a ref-like word itself (`about INV-7`) gets it at the end,
    `<title> [SUP-42]`, as a reply's subject has it."""
    bare = " ".join(strip_controls(title).replace(f"[{ref}]", "").split()) or "(no subject)"
    if next(refs_in(bare), None) is not None:
        return f"{bare} [{ref}]"
    return f"[{ref}] {bare}"


def _said(event: Event) -> str:
    by = strip_controls(event.by)
    match event.kind:
        case "new":
            return f"New ticket from {by}"
        case "reply":
            return f"Reply from {by}"
        case "assigned":
            return "Assigned to you" + (f" by {by}" if by else "")
        case "escalated":  # `by` says which target, near or breached, and when it was due
            return f"Escalated: {by}"
        case _:
            return f"Our mail to {by} was not delivered"


def _quoted(text: str) -> str:
    text = strip_controls(normalize_newlines(text)).strip()
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT].rstrip() + "\n[...]"
    return text


def notification_text(
    agent: str, facts: TicketFacts, events: Sequence[Event], chosen: Sequence[str]
) -> str:
    """The mail to `agent`: each event (who, what, the text they wrote), then where the ticket
    stands, and why the agent gets this mail (`chosen`: their events)."""
    blocks = [f"{facts.ref} {strip_controls(facts.title)}"]
    for event in events:
        head = f"{_said(event)}, {event.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC:"
        text = _quoted(event.text)
        blocks.append(head + ("\n" + text if text else ""))
    requester = strip_controls(facts.requester) if facts.requester else "nobody"
    assignee = strip_controls(facts.assignee) if facts.assignee else "nobody"
    blocks.append(f"Status: {facts.status}. Assignee: {assignee}. Requester: {requester}.")
    footer = (
        f"-- \nSent by tuidesk to {strip_controls(agent)} for: {', '.join(chosen)}.\n"
        "`tuidesk agent edit NAME --notify ...` changes which events mail you.\n"
    )
    return "\n\n".join(blocks) + "\n\n" + footer
