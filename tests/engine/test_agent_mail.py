"""An agent's mail on a ticket, in the engine: the commands at its top, what it may do with and
without proof that the agent sent it, and where it goes when it names no ticket."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.engine.conftest import NOW, MemoryLookup, mail
from tuidesk.engine.agent_mail import parse_commands
from tuidesk.engine.decision import AgentCommands, Work, Worked
from tuidesk.engine.enums import Priority, TicketStatus
from tuidesk.engine.process import decide
from tuidesk.engine.rules import RuleSet

# --- commands -------------------------------------------------------------------------------


def test_commands_at_the_top_are_taken_out_of_the_text() -> None:
    commands, text = parse_commands(
        "#status pending\n#Assign me\n\n#PRIORITY High\nThe part ships Monday.\n#status closed\n"
    )
    assert commands == AgentCommands(
        status=TicketStatus.PENDING, assign="me", priority=Priority.HIGH
    )
    assert text == "The part ships Monday.\n#status closed\n"  # below the text: text


def test_a_note_and_the_words_after_it() -> None:
    assert parse_commands("#note\nCalled her back.") == (
        AgentCommands(note=True),
        "Called her back.",
    )
    commands, text = parse_commands("  #note called her back\nshe is fine")
    assert (commands.note, text) == (True, "called her back\nshe is fine")
    assert parse_commands("#new\n#priority urgent\nServer down")[0] == AgentCommands(
        new=True, priority=Priority.URGENT
    )


def test_text_first_means_no_commands() -> None:
    for text in ("Hello,\n#status closed\n", "#hashtag of the day\n#status closed\n", "", "\n\n"):
        assert parse_commands(text) == (AgentCommands(), text)


def test_a_command_with_a_value_not_understood_is_a_problem_not_text() -> None:
    commands, text = parse_commands(
        "#status maybe\n#priority\n#status new\n#assign  Dana Agent\nOk"
    )
    assert commands.status is None and commands.priority is None
    assert commands.assign == "Dana Agent" and text == "Ok"
    assert commands.problems == (
        "#status maybe: not one of open, pending, resolved, closed",
        "#priority: no value given",
        "#status new: not one of open, pending, resolved, closed",
    )


def test_commands_only() -> None:
    commands, text = parse_commands("#status resolved\n\xa0\n")
    assert (commands.status, text) == (TicketStatus.RESOLVED, "")


# --- decisions ------------------------------------------------------------------------------

AGENT = "ada@example.com"
GOOD = "Authentication-Results: mx.example.com; dkim=pass header.d=example.com"
BAD = "Authentication-Results: mx.example.com; dmarc=fail (p=reject) header.from=example.com"


@pytest.fixture
def desk(lookup: MemoryLookup) -> MemoryLookup:
    """SUP-3 of alice@customer.test, pending; our last mail on it was <ours@example.com> and our
    notification to Ada <notify@example.com>, which is no message of the ticket."""
    lookup.add_ticket(3, status="pending")
    lookup.message_ids["<ours@example.com>"] = (3, "out")
    lookup.sent["<notify@example.com>"] = 3
    lookup.agents |= {AGENT, "dana@example.com"}
    return lookup


@pytest.fixture
def trusting(rules: RuleSet) -> RuleSet:
    return replace(rules, trusted_authserv_ids=("mx.example.com",))


def agent_mail(body: str, extra: str = GOOD, sender: str = AGENT, to: str = "support@example.com"):  # type: ignore[no-untyped-def]
    return mail(
        f"{extra}\nFrom: Ada <{sender}>\nTo: {to}\nMessage-ID: <a1@example.com>\n"
        "In-Reply-To: <notify@example.com>\nSubject: Re: [SUP-3] Printer on fire",
        body + "\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\n"
        "> the notification\n",
    )


def test_a_proven_agent_reply_goes_to_the_requester(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    d = decide(agent_mail("The part ships Monday."), trusting, desk, now=NOW)
    assert isinstance(d, Worked) and d.ticket.ref == "SUP-3"
    assert (d.work, d.body, d.agent.email) == (Work.REPLY, "The part ships Monday.", AGENT)
    assert d.proven
    assert d.reason == f"agent reply by {AGENT} on SUP-3: sent to the requester"
    steps = {s.step: s for s in d.steps}
    assert steps["auth"].outcome == "pass" and steps["agent"].outcome == AGENT
    as_dict = d.as_dict()
    assert (as_dict["action"], as_dict["direction"], as_dict["requester"]) == (
        "worked",
        "out",
        None,
    )
    assert as_dict["agent_mail"]["work"] == "reply" and as_dict["agent_mail"]["held"] is None


def test_the_notification_we_sent_threads_it_without_a_token(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    raw = agent_mail("Done.").replace(b"Subject: Re: [SUP-3] Printer", b"Subject: Re: Printer")
    d = decide(raw, trusting, desk, now=NOW)
    assert (d.action, d.ticket.ref) == ("worked", "SUP-3")
    assert ("thread", "SUP-3", "In-Reply-To/References name its message") in [
        (s.step, s.outcome, s.rule) for s in d.steps
    ]


def test_note_and_commands(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    note = decide(
        agent_mail("#note\n#priority high\nShe prefers phone calls."), trusting, desk, now=NOW
    )
    assert (note.work, note.body, note.commands.priority) == (
        Work.NOTE, "She prefers phone calls.", Priority.HIGH,
    )  # fmt: skip
    assert note.as_dict()["direction"] == "note"
    only = decide(agent_mail("#status closed\n#assign dana@example.com"), trusting, desk, now=NOW)
    assert (only.work, only.body) == (Work.COMMANDS, "")
    assert only.as_dict()["direction"] is None
    assert only.reason == (
        f"agent commands by {AGENT} on SUP-3: assign dana@example.com; status closed"
    )


def test_a_reply_never_reopens_or_changes_the_status_by_itself(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    d = decide(agent_mail("Any news?"), trusting, desk, now=NOW)
    assert d.commands.status is None and not d.as_dict()["reopen"]


def test_without_proof_the_mail_is_only_a_note(rules, desk) -> None:  # type: ignore[no-untyped-def]
    d = decide(agent_mail("#status closed\nThe part ships Monday.", extra=""), rules, desk, now=NOW)
    assert (d.work, d.commands, d.proven) == (Work.HELD, AgentCommands(), False)
    assert d.held == (
        "not shown to be the agent's (no trusted_authserv_ids set) and agent_mail_commands is off"
    )
    assert d.body.startswith(f"Mail from {AGENT} kept as a note, not sent to the customer")
    assert d.body.endswith("\n\n#status closed\nThe part ships Monday.")  # as asked
    assert d.reason == f"agent mail by {AGENT} on SUP-3 kept as a note: {d.held}"
    # A note it was anyway: asked for, it is one.
    note = decide(agent_mail("#note\nFYI", extra=""), rules, desk, now=NOW)
    assert (note.work, note.body, note.proven) == (Work.NOTE, "FYI", False)
    # The admin accepts the risk.
    accepting = replace(rules, agent_mail_commands=True)
    d = decide(agent_mail("#status closed\nShips Monday.", extra=""), accepting, desk, now=NOW)
    assert (d.work, d.commands.status) == (Work.REPLY, TicketStatus.CLOSED)


def test_trusted_servers_but_no_verdict_is_no_proof(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    unsigned = "Authentication-Results: mx.example.com; spf=none smtp.mailfrom=ada@example.com"
    d = decide(agent_mail("Ships Monday.", extra=unsigned), trusting, desk, now=NOW)
    assert d.work is Work.HELD and "no pass or fail for example.com" in d.held


def test_a_spoofed_agent_mail_is_quarantined(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    d = decide(agent_mail("#status closed\nRefund approved.", extra=BAD), trusting, desk, now=NOW)
    assert d.action == "quarantined"
    assert d.reason == (
        f"spoofed agent mail: from {AGENT} (ada), but mx.example.com: dmarc=fail for example.com"
    )
    assert ("auth", "quarantined") in [(s.step, s.outcome) for s in d.steps]


def test_a_failing_header_from_an_untrusted_server_is_ignored(rules, desk) -> None:  # type: ignore[no-untyped-def]
    evil = BAD.replace("mx.example.com", "mx.evil.test")
    trusting = replace(rules, trusted_authserv_ids=("mx.example.com",))
    d = decide(agent_mail("Refund approved.", extra=evil), trusting, desk, now=NOW)
    assert (d.action, d.work) == ("worked", Work.HELD)
    accepting = replace(trusting, agent_mail_commands=True)
    assert decide(agent_mail("Ok", extra=evil), accepting, desk, now=NOW).work is Work.REPLY


def test_an_alias_is_the_agent(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    desk.aliases["ada.lovelace@example.com"] = AGENT
    d = decide(agent_mail("Ok", sender="Ada.Lovelace@example.com"), trusting, desk, now=NOW)
    assert (d.action, d.agent.email) == ("worked", AGENT)


def test_a_copy_of_a_mail_the_agent_sent_the_customer_is_not_sent_again(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    raw = agent_mail("Ships Monday.", to="alice@customer.test\nCc: support@example.com")
    assert decide(raw, trusting, desk, now=NOW).work is Work.DELIVERED


def test_a_forward_onto_a_ticket_is_a_note(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    raw = agent_mail("From the vendor:\n> ships Monday").replace(b"Re: [SUP-3]", b"Fwd: [SUP-3]")
    d = decide(raw, trusting, desk, now=NOW)
    assert d.work is Work.NOTE and "> ships Monday" in d.body  # a forward keeps everything


def test_an_agent_who_is_the_requester_replies_as_a_customer(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    desk.add_ticket(3, requester=AGENT, status="pending")
    d = decide(agent_mail("It works again."), trusting, desk, now=NOW)
    assert (d.action, d.ticket.ref, d.direction) == ("commented", "SUP-3", "in")


def test_an_agent_mail_that_names_no_ticket(trusting, lookup) -> None:  # type: ignore[no-untyped-def]
    lookup.agents.add(AGENT)
    raw = mail(f"{GOOD}\nFrom: {AGENT}\nTo: support@example.com\nSubject: Lunch?", "#status closed")
    d = decide(raw, trusting, lookup, now=NOW)
    assert d.action == "quarantined"
    assert d.reason == f"agent mail by {AGENT} names no ticket: start it with #new to open one"
    # `#new` opens one, the agent its requester, with the priority asked for and no receipt.
    raw = mail(f"{GOOD}\nFrom: {AGENT}\nSubject: VPN down", "#new\n#priority urgent\nAll of it.")
    d = decide(raw, replace(trusting, acknowledge=True), lookup, now=NOW)
    assert (d.action, d.requester.email, d.body) == ("created", AGENT, "All of it.")
    assert (d.fields.priority, d.acknowledge) == (Priority.URGENT, False)
    assert d.reason == f"new ticket opened by agent {AGENT} (#new)"
    # A forward of a customer's mail opens one for them; a forward naming nobody opens none.
    block = "---------- Forwarded message ---------\nFrom: Bob <bob@customer.test>\n\nx"
    fwd = mail(f"From: {AGENT}\nSubject: Fwd: broken printer", block)
    d = decide(fwd, trusting, lookup, now=NOW)
    assert (d.action, d.requester.email) == ("created", "bob@customer.test")
    fwd = mail(f"From: {AGENT}\nSubject: Fwd: broken printer", "---- Forwarded message ----\nx")
    assert decide(fwd, trusting, lookup, now=NOW).action == "quarantined"


def test_automatic_mail_from_an_agent_stays_machine_mail(trusting, desk) -> None:  # type: ignore[no-untyped-def]
    raw = agent_mail("I am out of office.", extra=f"{GOOD}\nAuto-Submitted: auto-replied")
    assert decide(raw, trusting, desk, now=NOW).action == "ignored"
