"""Who may add to a ticket by mail: `restrict_replies` = participants (the default), true or
false. A guessed ticket token or Message-ID from anyone else opens a new ticket linked to the
one it answered, and the decision says so."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.engine.conftest import NOW, MemoryLookup, mail
from tuidesk.engine.decision import Action
from tuidesk.engine.participants import Participants, TicketMail
from tuidesk.engine.process import decide
from tuidesk.engine.rules import ReplyMode, RuleSet


@pytest.fixture
def ticket(lookup: MemoryLookup) -> MemoryLookup:
    """SUP-1 by alice@customer.test, who copied bob@partner.test; we answered Cc carol."""
    lookup.add_ticket(1, requester="alice@customer.test")
    lookup.message_ids["<first@customer.test>"] = (1, "in")
    lookup.agents.add("dana@example.com")
    lookup.mails[1] = [
        TicketMail("in", "alice@customer.test", ("support@example.com", "bob@partner.test")),
        TicketMail("out", "support@example.com", ("alice@customer.test", "carol@vendor.test")),
    ]
    return lookup


def reply(sender: str, how: str = "Subject: Re: [SUP-1] printer") -> bytes:
    return mail(f"From: {sender}\nTo: support@example.com\n{how}", "Any news?\n")


@pytest.mark.parametrize(
    "sender",
    [
        "alice@customer.test",  # the requester
        "Bob@Partner.test",  # in Cc of her mail
        "carol@vendor.test",  # in Cc of ours
        "dana@example.com",  # an agent: their mail works the ticket (engine.agent_mail)
        "erin@customer.test",  # the requester's colleague
    ],
)
def test_participants_join_the_ticket(rules: RuleSet, ticket: MemoryLookup, sender: str) -> None:
    decision = decide(reply(sender), rules, ticket, now=NOW)
    action = Action.WORKED if ticket.is_agent(sender) else Action.COMMENTED
    assert (decision.action, decision.ticket.ref) == (action, "SUP-1")
    assert decision.as_dict()["linked"] is None


@pytest.mark.parametrize(
    "how", ["Subject: Re: [SUP-1] printer", "In-Reply-To: <first@customer.test>\nSubject: Re: x"]
)
def test_a_stranger_opens_a_new_ticket_linked_to_the_one_answered(
    rules: RuleSet, ticket: MemoryLookup, how: str
) -> None:
    decision = decide(reply("mallory@evil.test", how), rules, ticket, now=NOW)
    assert decision.action is Action.CREATED and decision.ticket is None
    assert decision.linked.ref == "SUP-1"
    assert decision.reason == "reply from a non-participant to SUP-1"
    (thread,) = [s for s in decision.steps if s.step == "thread" and s.outcome == "new"]
    assert "mallory@evil.test is not a participant" in thread.rule
    assert decision.as_dict()["linked"] == "SUP-1"


def test_a_free_mail_domain_makes_nobody_a_colleague(rules: RuleSet, lookup: MemoryLookup) -> None:
    lookup.add_ticket(1, requester="alice@gmail.com")
    stranger = decide(reply("mallory@gmail.com"), rules, lookup, now=NOW)
    assert stranger.action is Action.CREATED and stranger.linked.ref == "SUP-1"
    lookup.add_ticket(2, requester="alice@mail.example")
    colleague = reply("bob@mail.example", "Subject: Re: [SUP-2]")
    assert decide(colleague, rules, lookup, now=NOW).action is Action.COMMENTED
    more_free = replace(rules, free_mail_domains=("mail.example",))
    assert decide(colleague, more_free, lookup, now=NOW).action is Action.CREATED


def test_a_strangers_mail_let_in_invites_nobody(ticket: MemoryLookup) -> None:
    """Replies unrestricted once let mallory's mail (Cc: eve) onto the ticket: neither joins."""
    ticket.mails[1].append(TicketMail("in", "mallory@evil.test", ("eve@evil.test",)))
    taking_part = Participants("alice@customer.test", ticket.mails[1], ticket.is_agent)
    assert "bob@partner.test" in taking_part and "carol@vendor.test" in taking_part
    assert "mallory@evil.test" not in taking_part and "eve@evil.test" not in taking_part
    # ...unless someone taking part writes to them.
    ticket.mails[1].append(TicketMail("in", "bob@partner.test", ("eve@evil.test",)))
    assert "eve@evil.test" in Participants("alice@customer.test", ticket.mails[1], ticket.is_agent)


def test_true_and_false_keep_their_meaning(rules: RuleSet, ticket: MemoryLookup) -> None:
    anyone = replace(rules, restrict_replies=ReplyMode.ANYONE)
    assert decide(reply("mallory@evil.test"), anyone, ticket, now=NOW).action is Action.COMMENTED
    requester = replace(rules, restrict_replies=ReplyMode.REQUESTER)
    bob = decide(reply("bob@partner.test"), requester, ticket, now=NOW)
    assert bob.action is Action.CREATED and bob.linked.ref == "SUP-1"
    assert bob.reason == "reply from neither the requester nor an agent to SUP-1"
    agent = decide(reply("dana@example.com"), requester, ticket, now=NOW)
    assert (agent.action, agent.ticket.ref) == (Action.WORKED, "SUP-1")  # an agent's work


def test_the_mode_of_a_stored_setting() -> None:
    assert ReplyMode.of(True) is ReplyMode.REQUESTER
    assert ReplyMode.of(False) is ReplyMode.ANYONE
    assert ReplyMode.of("participants") is ReplyMode.PARTICIPANTS
    assert RuleSet().restrict_replies is ReplyMode.PARTICIPANTS


def test_a_long_conversation_asks_about_each_address_once(ticket: MemoryLookup) -> None:
    """Asking whether someone is an agent is a query: once per address, not once per mail."""
    asked: list[str] = []

    def is_agent(email: str) -> bool:
        asked.append(email)
        return ticket.is_agent(email)

    mails = [TicketMail("in", "mallory@evil.test", ("eve@evil.test",))] * 200
    taking_part = Participants("alice@customer.test", mails, is_agent)
    assert "eve@evil.test" not in taking_part and "dana@example.com" in taking_part
    assert "dana@example.com" in taking_part
    assert sorted(asked) == ["dana@example.com", "eve@evil.test", "mallory@evil.test"]
