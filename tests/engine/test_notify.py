"""What a notification to an agent says, and the events an agent can choose."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine.conftest import NOW
from tuidesk.engine.notify import (
    MAX_TEXT,
    Event,
    NotifyError,
    TicketFacts,
    notification_subject,
    notification_text,
    parse_events,
)
from tuidesk.engine.refs import refs_in

FACTS = TicketFacts("SUP-42", "Printer on fire", "open", "Dana Agent", "Alice <alice@c.test>")


def test_events_are_chosen_by_name_in_a_fixed_order_and_none_turns_them_off() -> None:
    assert parse_events("Reply, new,reply") == ["new", "reply"]
    assert parse_events(["failed", "assigned"]) == ["assigned", "failed"]
    assert parse_events("") == parse_events("none") == parse_events(" NONE ") == []
    with pytest.raises(NotifyError, match="'replies' is not an event: new, reply"):
        parse_events("new,replies")
    with pytest.raises(NotifyError):
        parse_events([1])  # type: ignore[list-item]


def test_the_subject_leads_with_the_ref_and_keeps_it_the_right_most_ref() -> None:
    assert notification_subject("Printer on fire", "SUP-42") == "[SUP-42] Printer on fire"
    assert notification_subject("Printer [SUP-42]  on fire", "SUP-42") == "[SUP-42] Printer on fire"
    assert notification_subject("", "SUP-42") == "[SUP-42] (no subject)"
    # A ref-like word in the title would be the right-most ref a reply threads by.
    for title in ("Invoice INV-7 is wrong", "Same as SUP-7"):
        subject = notification_subject(title, "SUP-42")
        assert subject == f"{title} [SUP-42]"
        assert next(refs_in(subject)) == ("SUP", 42)
    assert "\x1b" not in notification_subject("Red \x1b[31malert", "SUP-42")


def test_the_text_says_who_did_what_the_new_text_and_where_the_ticket_stands() -> None:
    events = [
        Event("new", NOW, "Alice <alice@c.test>", "My printer\nis on fire."),
        Event("reply", NOW + timedelta(minutes=1), "Alice <alice@c.test>", "Still burning."),
        Event("assigned", NOW + timedelta(minutes=2), "Ada Admin"),
        Event("assigned", NOW + timedelta(minutes=3)),
        Event("failed", NOW, "alice@c.test", "not sent (refused): 550 mailbox unknown"),
    ]
    text = notification_text("Dana Agent", FACTS, events, ["reply", "assigned"])
    assert text.startswith("SUP-42 Printer on fire\n\n")
    assert (
        "New ticket from Alice <alice@c.test>, 2026-11-23 12:00 UTC:\nMy printer\nis on fire."
        in (text)
    )
    assert "Reply from Alice <alice@c.test>, 2026-11-23 12:01 UTC:\nStill burning." in text
    assert "Assigned to you by Ada Admin, 2026-11-23 12:02 UTC:" in text
    assert "Assigned to you, 2026-11-23 12:03 UTC:" in text
    assert "Our mail to alice@c.test was not delivered, " in text and "550 mailbox" in text
    assert "Status: open. Assignee: Dana Agent. Requester: Alice <alice@c.test>." in text
    assert "to Dana Agent for: reply, assigned." in text


def test_hostile_text_is_cleaned_and_long_text_is_cut() -> None:
    long = "x" * (MAX_TEXT + 500)
    text = notification_text(
        "Dana", FACTS, [Event("reply", NOW, "Eve \x1b[2J", "\x1b]0;pwned\x07hi\r\n" + long)], []
    )
    assert "\x1b" not in text and "\r" not in text and "pwned" not in text
    assert "x" * MAX_TEXT not in text and "[...]" in text


def test_an_event_keeps_its_values_through_json() -> None:
    event = Event("reply", NOW, "Alice", "hi")
    assert Event.of(event.as_dict()) == event
