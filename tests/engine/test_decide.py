"""The engine's decisions, step by step, as the seeds describe them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.engine.conftest import NOW, MemoryLookup, mail
from tuidesk.engine.decision import Action
from tuidesk.engine.fields import FALLBACK_TITLE, title_from_subject
from tuidesk.engine.parse import content_hash
from tuidesk.engine.process import analyse, decide, resolve
from tuidesk.engine.quotes import OwnSignatures
from tuidesk.engine.rules import BranchRule, ChannelRule, CustomFieldRule, ReplyMode, RuleSet


def run(raw: bytes, rules: RuleSet, lookup: MemoryLookup, **kw):  # type: ignore[no-untyped-def]
    return decide(raw, rules, lookup, now=NOW, **kw)


# --- route ---------------------------------------------------------------------------------


def test_mail_to_a_branch_support_address_goes_to_that_branch(rules, lookup):
    d = run(mail("From: bob@anywhere.test\nTo: sales@example.com\nSubject: quote"), rules, lookup)
    assert (d.action, d.branch.key) == (Action.CREATED, "SAL")
    assert next(s.rule for s in d.steps if s.step == "route") == "sent to sales@example.com"


def test_delivered_to_wins_over_to_and_cc(rules, lookup):
    raw = mail(
        "Delivered-To: sales@example.com\nFrom: bob@anywhere.test\n"
        "To: support@example.com\nSubject: x"
    )
    assert run(raw, rules, lookup).branch.key == "SAL"


def test_an_alias_routes_like_its_primary_address(rules, lookup):
    d = run(mail("From: bob@anywhere.test\nTo: help@example.com\nSubject: x"), rules, lookup)
    route = next(s for s in d.steps if s.step == "route")
    assert d.branch.key == "SUP" and "alias of support@example.com" in route.rule


def test_customer_domain_routes_when_no_support_address_matches(rules, lookup):
    d = run(mail("From: ceo@bigcustomer.test\nTo: someone@else.test\nSubject: x"), rules, lookup)
    assert d.branch.key == "SAL"


def test_anything_else_goes_to_the_default_branch(rules, lookup):
    d = run(mail("From: bob@anywhere.test\nTo: x@else.test\nSubject: x"), rules, lookup)
    route = next(s for s in d.steps if s.step == "route")
    assert d.branch.key == "SUP" and "default branch (marked default)" in route.rule


def test_with_no_default_marked_the_first_branch_created_is_the_default(lookup):
    rules = RuleSet(branches=(BranchRule("First", "ONE"), BranchRule("Second", "TWO")))
    d = run(mail("From: bob@anywhere.test\nSubject: x"), rules, lookup)
    assert d.branch.key == "ONE"
    assert "first branch created" in next(s.rule for s in d.steps if s.step == "route")


# --- filter --------------------------------------------------------------------------------


def test_mail_from_our_own_address_is_a_loop_and_ignored(rules, lookup):
    for sender in ("support@example.com", "help@example.com", "noreply@example.com"):
        d = run(mail(f"From: {sender}\nSubject: x"), rules, lookup)
        assert d.action is Action.IGNORED and d.reason.startswith("mail loop"), sender


def test_allowed_domains_ignore_every_other_sender(rules, lookup):
    rules = replace(rules, allowed_domains=("customer.test",))
    assert run(mail("From: a@customer.test\nSubject: x"), rules, lookup).action is Action.CREATED
    assert run(mail("From: a@eu.customer.test\nSubject: y"), rules, lookup).action is Action.CREATED
    d = run(mail("From: a@stranger.test\nSubject: x"), rules, lookup)
    assert d.action is Action.IGNORED and "not in the allowed domains" in d.reason


def test_a_channel_allowed_domain_list_overrides_the_global_one(rules, lookup):
    channel = ChannelRule("partners", allowed_domains=("partner.test",))
    d = run(mail("From: a@customer.test\nSubject: x"), rules, lookup, channel=channel)
    assert d.action is Action.IGNORED


def test_blocked_senders_are_ignored(rules, lookup):
    rules = replace(rules, blocked_senders=("*@spam.test",))
    d = run(mail("From: Spammer <win@SPAM.test>\nSubject: x"), rules, lookup)
    assert d.action is Action.IGNORED and "*@spam.test" in d.reason


def test_machine_mail_never_opens_a_ticket(rules, lookup):
    d = run(mail("From: a@b.test\nAuto-Submitted: auto-replied\nSubject: x"), rules, lookup)
    assert d.action is Action.IGNORED and d.reason.startswith("machine mail")


def test_a_bounce_of_a_mail_we_sent_becomes_a_note_on_its_ticket(rules, lookup):
    lookup.add_ticket(7)
    lookup.message_ids["<out-1@example.com>"] = (7, "out")
    raw = mail(
        "From: MAILER-DAEMON@mx.test\nSubject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        "--b\nContent-Type: text/plain\n\nmailbox unavailable\n"
        "--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; x@y.test\n"
        "Action: failed\nStatus: 5.1.1\n"
        "--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <out-1@example.com>\n"
        "Subject: Re: help [SUP-7]\n--b--\n",
    )
    d = run(raw, rules, lookup)
    assert (d.action, d.direction, d.ticket.ref) == (Action.COMMENTED, "note", "SUP-7")
    assert d.bounced_message_ids == ("<out-1@example.com>",)  # storage marks that mail failed


# --- loops and acknowledgements ------------------------------------------------------------


def test_our_own_mail_coming_back_never_opens_a_ticket(rules, lookup):
    """An alias or a forward that sends our reply back to us: its Message-ID is ours."""
    lookup.ours.add("<20261123.ab.sup-1@example.com>")
    raw = mail(
        "From: Alice <alice@customer.test>\nTo: support@example.com\n"
        "Message-ID: <20261123.ab.sup-1@example.com>\nSubject: Re: help [SUP-1]"
    )
    d = run(raw, rules, lookup)
    assert d.action is Action.IGNORED and d.reason.startswith("mail loop: our own message")


def test_mail_from_an_outgoing_address_is_a_loop(rules, lookup):
    d = run(mail("From: noreply@example.com\nTo: support@example.com\nSubject: x"), rules, lookup)
    assert d.action is Action.IGNORED and d.reason.startswith("mail loop")


def ack_rules(rules: RuleSet) -> RuleSet:
    return replace(rules, acknowledge=True, ack_max_per_hour=2)


def test_a_new_ticket_is_acknowledged_when_asked(rules, lookup):
    d = run(mail("From: Alice <alice@customer.test>\nSubject: x"), ack_rules(rules), lookup)
    step = d.steps[-1]
    assert d.action is Action.CREATED and d.acknowledge
    assert (step.step, step.outcome) == ("acknowledge", "yes")
    assert not run(mail("From: a@customer.test\nSubject: x"), rules, lookup).acknowledge  # off


def test_comments_and_machine_mail_are_never_acknowledged(rules, lookup):
    lookup.add_ticket(5)
    reply = run(mail("From: alice@customer.test\nSubject: Re: x [SUP-5]"), ack_rules(rules), lookup)
    assert reply.action is Action.COMMENTED and not reply.as_dict()["acknowledge"]
    auto = mail("From: alice@customer.test\nAuto-Submitted: auto-replied\nSubject: Away")
    assert not run(auto, ack_rules(rules), lookup).as_dict()["acknowledge"]


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@customer.test",
        "no-reply@customer.test",
        "do_not_reply@customer.test",
        "DoNotReply@customer.test",
        "no-reply+tag@customer.test",
        "bounces@customer.test",
    ],
)
def test_no_reply_and_system_addresses_get_no_acknowledgement(rules, lookup, sender):
    d = run(mail(f"From: {sender}\nSubject: Your invoice"), ack_rules(rules), lookup)
    assert d.action is Action.CREATED and not d.acknowledge
    assert "no-reply or system" in d.steps[-1].rule


@pytest.mark.parametrize("sender", ["mailer-daemon@customer.test", "postmaster@customer.test"])
def test_mailer_daemons_are_machine_mail_before_any_acknowledgement(rules, lookup, sender):
    d = run(mail(f"From: {sender}\nSubject: Your invoice"), ack_rules(rules), lookup)
    assert d.action is Action.IGNORED and not d.as_dict()["acknowledge"]


def test_acknowledgements_stop_at_the_hourly_limit_per_recipient(rules, lookup):
    lookup.acks += [("alice@customer.test", NOW - timedelta(minutes=m)) for m in (5, 30)]
    lookup.acks.append(("bob@customer.test", NOW))
    lookup.acks.append(("carol@customer.test", NOW - timedelta(minutes=61)))
    ack = ack_rules(rules)
    alice = run(mail("From: ALICE@customer.test\nSubject: x"), ack, lookup)
    assert not alice.acknowledge and "had 2 in the last hour (max 2)" in alice.steps[-1].rule
    assert run(mail("From: bob@customer.test\nSubject: x"), ack, lookup).acknowledge
    assert run(mail("From: carol@customer.test\nSubject: x"), ack, lookup).acknowledge  # window


def test_deferring_the_body_of_machine_mail_changes_no_decision(rules, lookup):
    """Ingest leaves the body of machine mail unread; the steps and outcome stay the same, and
    a caller can tell when the body is needed after all."""
    auto = mail("From: a@b.test\nAuto-Submitted: auto-replied\nSubject: away", "back Monday")
    human = mail("From: a@b.test\nSubject: help", "the printer")
    for raw, deferred in ((auto, True), (human, False)):
        eager, lazy = analyse(raw, rules), analyse(raw, rules, defer_body=True)
        assert lazy.body_deferred is deferred and not eager.body_deferred
        assert lazy.steps == eager.steps and lazy.verdict == eager.verdict
        assert (lazy.mail.text == eager.mail.text) is not deferred
        decisions = [resolve(a, rules, lookup, now=NOW) for a in (eager, lazy)]
        assert (
            decisions[0].action == decisions[1].action and decisions[0].steps == decisions[1].steps
        )


# --- dedupe and quarantine -----------------------------------------------------------------


def test_the_same_mail_delivered_twice_is_a_duplicate(rules, lookup):
    raw = mail("From: a@b.test\nMessage-ID: <1@b.test>\nSubject: x")
    lookup.add_ticket(3)
    lookup.seen[content_hash(raw)] = 3
    d = run(raw, rules, lookup)
    assert (d.action, d.ticket.ref) == (Action.DUPLICATE, "SUP-3")


def test_two_different_mails_sharing_a_message_id_are_both_kept(rules, lookup):
    first = mail("From: a@b.test\nMessage-ID: <same@b.test>\nSubject: x", "one")
    second = mail("From: a@b.test\nMessage-ID: <same@b.test>\nSubject: x", "two")
    lookup.seen[content_hash(first)] = None
    assert run(second, rules, lookup).action is Action.CREATED


def test_a_mail_without_a_sender_is_quarantined(rules, lookup):
    d = run(mail("To: support@example.com\nSubject: who?"), rules, lookup)
    assert (d.action, d.reason) == (Action.QUARANTINED, "no sender address")


def test_unparseable_input_is_quarantined_with_the_reason(rules, lookup):
    d = run(b"", rules, lookup)
    assert (d.action, d.reason) == (Action.QUARANTINED, "empty message")


# --- thread --------------------------------------------------------------------------------


def test_a_reply_with_the_ticket_token_in_its_subject_joins_that_ticket(rules, lookup):
    lookup.add_ticket(42)
    raw = mail(
        "From: alice@customer.test\nSubject: Re: printer [SUP-43] fire [SUP-42]",
        "Still broken.\n\nOn Mon, 2 Nov 2026 at 10:00, Support <support@example.com> wrote:\n"
        "> What model is it?\n",
    )
    d = run(raw, rules, lookup)
    assert (d.action, d.ticket.ref) == (Action.COMMENTED, "SUP-42")
    assert d.body == "Still broken."
    assert "What model is it?" in d.mail.text


def test_a_token_with_a_key_that_is_not_ours_is_ignored(rules, lookup):
    lookup.add_ticket(9001)
    d = run(mail("From: alice@customer.test\nSubject: ISO-9001 audit"), rules, lookup)
    assert d.action is Action.CREATED


def test_a_token_naming_a_ticket_that_does_not_exist_gives_a_new_ticket(rules, lookup):
    d = run(mail("From: alice@customer.test\nSubject: Re: [SUP-999] help"), rules, lookup)
    assert d.action is Action.CREATED
    assert any("no such ticket" in s.rule for s in d.steps)


def test_in_reply_to_joins_the_ticket_of_that_message(rules, lookup):
    lookup.add_ticket(5)
    lookup.message_ids["<agent-reply@example.com>"] = (5, "out")
    raw = mail("From: alice@customer.test\nIn-Reply-To: <agent-reply@example.com>\nSubject: Re: x")
    assert run(raw, rules, lookup).ticket.ref == "SUP-5"


def test_a_reply_quoting_our_signature_is_stored_without_it(rules, lookup):
    """Our reply's signature comes back under the customer's inline answer: not their text."""
    lookup.add_ticket(5)
    ours = OwnSignatures(("{agent_name}\nExample Ltd {branch} team, ticket {ref}",), ("Ann",))
    rules = replace(rules, own_signatures=replace(ours, branch_names=("Support",)))
    body = (
        "> Does it print now?\nYes, thanks.\n>\n> -- \n> Ann\n"
        "> Example Ltd Support team, ticket SUP-5\n\nCarol\n"
    )
    raw = mail("From: alice@customer.test\nSubject: Re: toner [SUP-5]", body)
    d = run(raw, rules, lookup)
    assert d.action is Action.COMMENTED
    assert d.body == "> Does it print now?\nYes, thanks.\n\nCarol"
    assert "Ann" in d.mail.text  # the full text keeps it


def test_references_join_the_ticket_too(rules, lookup):
    lookup.add_ticket(5)
    lookup.message_ids["<first@customer.test>"] = (5, "in")
    raw = mail("From: alice@customer.test\nReferences: <zzz@x> <first@customer.test>\nSubject: x")
    assert run(raw, rules, lookup).ticket.ref == "SUP-5"


def test_restricted_replies_from_a_stranger_open_a_new_ticket(rules, lookup):
    rules = replace(rules, restrict_replies=ReplyMode.REQUESTER)
    lookup.add_ticket(42, requester="alice@customer.test")
    lookup.agents.add("agent@example.com")
    stranger = run(mail("From: mallory@x.test\nSubject: Re: [SUP-42]"), rules, lookup)
    assert stranger.action is Action.CREATED
    requester = run(mail("From: Alice@Customer.test\nSubject: Re: [SUP-42]"), rules, lookup)
    assert requester.action is Action.COMMENTED
    agent = run(mail("From: agent@example.com\nSubject: Re: [SUP-42] a"), rules, lookup)
    assert (agent.action, agent.ticket.ref) == (Action.WORKED, "SUP-42")


def test_a_reply_to_a_closed_ticket_reopens_it(rules, lookup):
    lookup.add_ticket(42, status="closed", updated=NOW - timedelta(days=3))
    d = run(mail("From: alice@customer.test\nSubject: Re: [SUP-42]"), rules, lookup)
    assert (d.action, d.reopen) == (Action.COMMENTED, True)


def test_a_reply_to_a_ticket_closed_too_long_ago_opens_a_new_one(rules, lookup):
    rules = replace(rules, reopen_max_age_days=30)
    lookup.add_ticket(42, status="closed", updated=NOW - timedelta(days=31))
    d = run(mail("From: alice@customer.test\nSubject: Re: [SUP-42]"), rules, lookup)
    assert d.action is Action.CREATED


def test_a_new_ticket_keeps_its_whole_body(rules, lookup):
    body = "New problem.\n\nOn Mon, Bob wrote:\n> older text\n"
    d = run(mail("From: alice@customer.test\nSubject: Fwd: problem", body), rules, lookup)
    assert d.action is Action.CREATED and "older text" in d.body


# --- map -----------------------------------------------------------------------------------


def test_subject_becomes_the_title_without_reply_prefixes():
    assert title_from_subject("RE: AW: Fwd: Printer on fire") == "Printer on fire"
    assert title_from_subject("   ") == FALLBACK_TITLE


def test_an_empty_subject_gets_a_fallback_title(rules, lookup):
    d = run(mail("From: a@b.test\nSubject:"), rules, lookup)
    assert d.fields.title == FALLBACK_TITLE


def test_importance_and_x_priority_map_to_priority(rules, lookup):
    cases = {
        "X-Priority: 1 (Highest)": "high",
        "X-Priority: 5": "low",
        "Importance: High": "high",
        "Importance: low": "low",
        "Priority: urgent": "high",
        "X-Other: 1": "normal",
    }
    for n, (header, expected) in enumerate(cases.items()):
        d = run(mail(f"From: a@b.test\n{header}\nSubject: p{n}"), rules, lookup)
        assert d.fields.priority == expected, header


def test_channel_defaults_fill_queue_type_and_custom_fields(rules, lookup):
    rules = replace(
        rules,
        default_queue="General",
        ticket_types={"Incident": (CustomFieldRule("impact", default="low"),)},
    )
    channel = ChannelRule(
        "main", queue="Tier 1", ticket_type="Incident", field_defaults={"product": "Printer"}
    )
    d = run(mail("From: a@b.test\nSubject: x"), rules, lookup, channel=channel)
    assert (d.fields.queue, d.fields.ticket_type) == ("Tier 1", "Incident")
    assert d.fields.custom_fields == {"impact": "low", "product": "Printer"}


def test_the_sender_becomes_the_requester_with_the_name_kept(rules, lookup):
    d = run(mail('From: "Smith, Alice" <alice@customer.test>\nSubject: x'), rules, lookup)
    assert (d.requester.name, d.requester.email) == ("Smith, Alice", "alice@customer.test")


def test_dry_run_output_names_the_rule_behind_every_step(rules, lookup):
    d = run(mail("From: a@b.test\nTo: sales@example.com\nSubject: x"), rules, lookup).as_dict()
    assert [s["step"] for s in d["steps"]] == [
        "dedupe", "parse", "classify", "filter", "route", "thread", "map", "acknowledge"
    ]  # fmt: skip
    assert all(s["rule"] for s in d["steps"])


def test_a_forward_onto_a_ticket_keeps_the_forwarded_mail_visible(rules, lookup):
    lookup.add_ticket(42)
    body = "See below.\n\nFrom: Bob <bob@x.test>\nSent: Monday, 2 Nov 2026 10:00\nTo: a\n\nthe log"
    d = run(mail("From: alice@customer.test\nSubject: FW: logs [SUP-42]", body), rules, lookup)
    assert d.action is Action.COMMENTED and "the log" in d.body
