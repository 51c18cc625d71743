"""Who the requester is: a web form's Reply-To, the customer behind an agent's forward, the sender
behind a forward that rewrote From to our own address."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import CORPUS
from tests.engine.conftest import NOW, MemoryLookup, mail
from tuidesk.engine.decision import Action, Decision
from tuidesk.engine.forwards import forwarded_sender
from tuidesk.engine.parse import Address, parse_mail
from tuidesk.engine.process import decide
from tuidesk.engine.rules import RuleSet

BOB = Address("Bob Customer", "bob@customer.test")
ADA = Address("Ada", "ada@example.com")


def run(raw: bytes, rules: RuleSet, lookup: MemoryLookup) -> Decision:
    return decide(raw, replace(rules, acknowledge=True), lookup, now=NOW)


def requester_steps(d: Decision) -> list[tuple[str, str]]:
    return [(s.outcome, s.rule) for s in d.steps if s.step == "requester"]


def ack(d: Decision) -> str:
    return next(f"{s.outcome}: {s.rule}" for s in d.steps if s.step == "acknowledge")


# --- web forms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["noreply@shop.test", "NoReply@Shop.test", "no-reply@shop.test",
             "contact@forms.shop.test", "wordpress@shop.test"]
)  # fmt: skip
def test_a_web_form_mail_is_the_reply_to_customers_ticket(rules, lookup, form):
    raw = mail(f"From: Shop <{form}>\nReply-To: Bob Customer <bob@customer.test>\nSubject: Quote")
    d = run(raw, rules, lookup)
    assert (d.action, d.requester) == (Action.CREATED, BOB)
    ((outcome, rule),) = requester_steps(d)
    assert outcome == "reply-to" and "is a web form (form_senders" in rule
    assert ack(d).startswith("yes: to bob@customer.test")  # the customer, not the form


def test_a_reply_to_from_anyone_else_leaves_the_from_as_requester(rules, lookup):
    raw = mail("From: Carol <carol@partner.test>\nReply-To: team@partner.test\nSubject: x")
    d = run(raw, rules, lookup)
    assert d.requester.email == "carol@partner.test"
    assert requester_steps(d) == [
        (
            "from",
            "From carol@partner.test matches no form_senders pattern: Reply-To team@partner.test"
            " not used",
        )
    ]
    d = run(raw, replace(rules, requester_from_reply_to=True), MemoryLookup())
    assert d.requester.email == "team@partner.test"
    assert requester_steps(d) == [
        ("reply-to", "requester_from_reply_to is on: Reply-To team@partner.test")
    ]


def test_a_phishing_mail_s_look_alike_reply_to_is_not_the_requester_by_default(rules, lookup):
    """A real one (mail-parser's corpus): Reply-To a look-alike of the name in From."""
    raw = (CORPUS / "mail-parser/tests/mails/mail_test_15").read_bytes()
    d = run(raw, rules, lookup)
    assert d.requester.email != "purchasing@aquiilaindustries.com"
    assert requester_steps(d)[0][0] == "from"
    d = run(raw, replace(rules, requester_from_reply_to=True), MemoryLookup())
    assert d.requester.email == "purchasing@aquiilaindustries.com"


def test_form_senders_are_a_setting(rules, lookup):
    raw = mail("From: contact@shop.test\nReply-To: bob@customer.test\nSubject: x")
    assert run(raw, rules, lookup).requester.email == "contact@shop.test"
    shop = replace(rules, form_senders=("contact@shop.*",))
    assert run(raw, shop, MemoryLookup()).requester.email == "bob@customer.test"
    none = replace(rules, form_senders=())
    form = mail("From: noreply@shop.test\nReply-To: bob@customer.test\nSubject: x")
    assert run(form, none, MemoryLookup()).requester.email == "noreply@shop.test"


def test_several_reply_to_addresses_or_our_own_keep_the_from(rules, lookup):
    several = mail("From: noreply@shop.test\nReply-To: bob@customer.test, eve@customer.test\n"
                   "Subject: x")  # fmt: skip
    d = run(several, rules, lookup)
    assert d.requester.email == "noreply@shop.test"
    assert "Reply-To names several addresses" in requester_steps(d)[0][1]
    ours = mail("From: noreply@shop.test\nReply-To: support@example.com\nSubject: x")
    d = run(ours, rules, lookup)
    assert d.requester.email == "noreply@shop.test"
    assert "is our own address" in requester_steps(d)[0][1]


def test_a_reply_to_that_is_the_from_says_nothing(rules, lookup):
    raw = mail("From: Bob <BOB@customer.test>\nReply-To: bob@customer.test\nSubject: x")
    d = run(raw, rules, lookup)
    assert d.requester.email == "bob@customer.test" and requester_steps(d) == []


def test_filters_judge_the_form_s_customer(rules, lookup):
    """A form on our own site lets anyone type any address: blocked senders and allowed domains
    apply to that address, and a blocked form sender blocks whatever its Reply-To says."""
    form = "From: noreply@shop.test\nReply-To: win@spam.test\nSubject: x"
    d = run(mail(form), replace(rules, blocked_senders=("*@spam.test",)), lookup)
    assert d.action is Action.IGNORED
    assert d.reason == "blocked requester win@spam.test (matches *@spam.test)"
    allowed = replace(rules, allowed_domains=("customer.test",))
    d = run(mail(form), allowed, lookup)
    assert (d.action, d.reason) == (
        Action.IGNORED,
        "requester domain spam.test is not in the allowed domains",
    )
    ok = mail("From: noreply@shop.test\nReply-To: bob@customer.test\nSubject: x")
    assert run(ok, allowed, lookup).action is Action.CREATED  # the form's own domain is no bar
    d = run(ok, replace(rules, blocked_senders=("*@shop.test",)), lookup)
    assert (d.action, d.reason) == (Action.IGNORED, "blocked sender (matches *@shop.test)")


def test_the_form_s_customer_domain_routes_it(rules, lookup):
    raw = mail("From: noreply@shop.test\nReply-To: ceo@bigcustomer.test\nSubject: x")
    d = run(raw, rules, lookup)
    assert d.branch.key == "SAL"
    assert next(s.rule for s in d.steps if s.step == "route") == "customer domain bigcustomer.test"


def test_a_form_mail_on_the_customer_s_ticket_joins_it(rules, lookup):
    """The form speaks for the customer: taking part is theirs, not the form's."""
    lookup.add_ticket(3, requester="bob@customer.test")
    raw = mail("From: noreply@shop.test\nReply-To: bob@customer.test\nSubject: More [SUP-3]")
    d = run(raw, rules, lookup)
    assert (d.action, d.ticket.ref, d.requester.email) == (
        Action.COMMENTED,
        "SUP-3",
        "bob@customer.test",
    )


# --- a forward that rewrote From to our own address ------------------------------------------


def test_a_forward_rewritten_to_our_address_is_the_reply_to_s_ticket(rules, lookup):
    """A Google group or a server rule resends the customer's mail From our address, with the
    customer in Reply-To: the customer wrote to us, so they get the acknowledgement."""
    raw = mail("From: Support <support@example.com>\nReply-To: Bob Customer <bob@customer.test>\n"
               "To: support@example.com\nSubject: Printer on fire")  # fmt: skip
    d = run(raw, rules, lookup)
    assert (d.action, d.requester, d.forwarded_by) == (Action.CREATED, BOB, None)
    ((outcome, rule),) = requester_steps(d)
    assert outcome == "reply-to" and "our own address support@example.com" in rule
    assert ack(d).startswith("yes: to bob@customer.test")


def test_a_forward_rewritten_to_our_address_with_a_forwarded_block_is_its_sender_s(rules, lookup):
    raw = mail("From: help@example.com\nTo: support@example.com\nSubject: Fwd: Printer on fire",
               f"FYI\n\n{GMAIL['en']}\nHello, my printer is on fire.\n")  # fmt: skip
    d = run(raw, rules, lookup)
    assert (d.action, d.requester) == (Action.CREATED, BOB)
    assert d.forwarded_by == Address("", "help@example.com")  # the first message is its
    assert requester_steps(d)[0][0] == "forwarded"
    assert ack(d) == "no: bob@customer.test did not write to us: it was forwarded"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("From: support@example.com", "Hello, my printer is on fire.\n"),
        ("From: support@example.com\nReply-To: noreply@example.com", "Hi\n"),
        (
            "From: support@example.com",
            "---------- Forwarded message ---------\nFrom: Sales <sales@example.com>\n\nHi\n",
        ),
    ],
    ids=["no-other-sender", "reply-to-ours", "forwarded-block-ours"],
)
def test_mail_from_our_own_address_naming_nobody_else_is_still_a_loop(rules, lookup, headers, body):
    d = run(mail(headers + "\nTo: support@example.com\nSubject: x", body), rules, lookup)
    assert d.action is Action.IGNORED and d.reason.startswith("mail loop: sent from our own")


def test_our_own_message_id_is_a_loop_whatever_its_reply_to(rules, lookup):
    lookup.ours.add("<out-1@example.com>")
    raw = mail("From: support@example.com\nReply-To: bob@customer.test\n"
               "Message-ID: <out-1@example.com>\nSubject: Re: x [SUP-1]")  # fmt: skip
    d = run(raw, rules, lookup)
    assert d.action is Action.IGNORED and d.reason.startswith("mail loop: our own message")


# --- an agent forwarding a customer's mail -----------------------------------------------------

# The header block each mail program writes above a forwarded mail, per language, as their
# plain-text parts have it (Gmail bolds the name with asterisks; French puts a no-break space
# before the colon; Thunderbird writes a tab after it).
GMAIL = {
    "en": "---------- Forwarded message ---------\nFrom: *Bob Customer* <bob@customer.test>\n"
    "Date: Mon, 23 Nov 2026 at 10:00\nSubject: Printer on fire\nTo: <ada@example.com>\n",
    "de": "---------- Weitergeleitete Nachricht ---------\nVon: Bob Customer <bob@customer.test>\n"
    "Date: Mo., 23. Nov. 2026 um 10:00 Uhr\nSubject: Printer on fire\nTo: <ada@example.com>\n",
    "fr": "---------- Message transféré ---------\nDe\u00a0: Bob Customer <bob@customer.test>\n"
    "Date: lun. 23 nov. 2026 à 10:00\nSubject: Printer on fire\nTo: <ada@example.com>\n",
    "es": "---------- Mensaje reenviado ---------\nDe: Bob Customer <bob@customer.test>\n"
    "Date: lun, 23 nov 2026 a las 10:00\nSubject: Printer on fire\nTo: <ada@example.com>\n",
}
OUTLOOK = {
    "en": "________________________________\nFrom: Bob Customer <bob@customer.test>\n"
    "Sent: Monday, November 23, 2026 10:00 AM\nTo: Ada <ada@example.com>\n"
    "Subject: Printer on fire\n",
    "de": "Von: Bob Customer <bob@customer.test>\nGesendet: Montag, 23. November 2026 10:00\n"
    "An: Ada <ada@example.com>\nBetreff: Printer on fire\n",
    "fr": "De\u00a0: Bob Customer <bob@customer.test>\nEnvoyé\u00a0: lundi 23 novembre 2026 10:00\n"
    "À\u00a0: Ada <ada@example.com>\nObjet\u00a0: Printer on fire\n",
    "es": "De: Bob Customer <bob@customer.test>\nEnviado: lunes, 23 de noviembre de 2026 10:00\n"
    "Para: Ada <ada@example.com>\nAsunto: Printer on fire\n",
}
ORIGINAL = {
    "en": "-----Original Message-----\nFrom: Bob Customer [mailto:bob@customer.test]\n"
    "Sent: Monday, November 23, 2026 10:00 AM\nSubject: Printer on fire\n",
    "de": "-----Ursprüngliche Nachricht-----\nVon: Bob Customer [mailto:bob@customer.test]\n"
    "Gesendet: Montag, 23. November 2026 10:00\nBetreff: Printer on fire\n",
    "fr": "-----Message d'origine-----\nDe : Bob Customer [mailto:bob@customer.test]\n"
    "Envoyé : lundi 23 novembre 2026 10:00\nObjet : Printer on fire\n",
    "es": "-----Mensaje original-----\nDe: Bob Customer [mailto:bob@customer.test]\n"
    "Enviado el: lunes, 23 de noviembre de 2026 10:00\nAsunto: Printer on fire\n",
}
APPLE = {
    "en": "Begin forwarded message:\n\nFrom: Bob Customer <bob@customer.test>\n"
    "Subject: Printer on fire\nDate: 23 November 2026 at 10:00:00 CET\nTo: ada@example.com\n",
    "de": "Anfang der weitergeleiteten Nachricht:\n\nVon: Bob Customer <bob@customer.test>\n"
    "Betreff: Printer on fire\nDatum: 23. November 2026 um 10:00:00 MEZ\nAn: ada@example.com\n",
    "fr": "Début du message réexpédié\u00a0:\n\nDe\u00a0: Bob Customer <bob@customer.test>\n"
    "Objet\u00a0: Printer on fire\nDate\u00a0: 23 novembre 2026 à 10:00:00 UTC+1\n"
    "À\u00a0: ada@example.com\n",
    "es": "Inicio del mensaje reenviado:\n\nDe: Bob Customer <bob@customer.test>\n"
    "Asunto: Printer on fire\nFecha: 23 de noviembre de 2026, 10:00:00 CET\n"
    "Para: ada@example.com\n",
}
THUNDERBIRD = {
    "en": "-------- Forwarded Message --------\nSubject: \tPrinter on fire\n"
    "Date: \tMon, 23 Nov 2026 10:00:00 +0100\nFrom: \tBob Customer <bob@customer.test>\n"
    "To: \tAda <ada@example.com>\n",
    "de": "-------- Weitergeleitete Nachricht --------\nBetreff: \tPrinter on fire\n"
    "Datum: \tMon, 23 Nov 2026 10:00:00 +0100\nVon: \tBob Customer <bob@customer.test>\n"
    "An: \tAda <ada@example.com>\n",
    "fr": "-------- Message transféré --------\nSujet : \tPrinter on fire\n"
    "Date : \tMon, 23 Nov 2026 10:00:00 +0100\nDe : \tBob Customer <bob@customer.test>\n"
    "Pour : \tAda <ada@example.com>\n",
    "es": "-------- Mensaje reenviado --------\nAsunto: \tPrinter on fire\n"
    "Fecha: \tMon, 23 Nov 2026 10:00:00 +0100\nDe: \tBob Customer <bob@customer.test>\n"
    "Para: \tAda <ada@example.com>\n",
}
# The forward prefix each language's mail programs put before the subject.
PREFIX = {"en": "Fwd: ", "de": "WG: ", "fr": "TR: ", "es": "RV: "}
BLOCKS = {"gmail": GMAIL, "outlook": OUTLOOK, "outlook-original": ORIGINAL, "apple": APPLE,
          "thunderbird": THUNDERBIRD}  # fmt: skip


def forward(
    block: str, subject: str = "Fwd: Printer on fire", sender: str = "Ada <ada@example.com>"
) -> bytes:
    """Ada's forward of Bob's mail: her note, then the block her mail program wrote."""
    return mail(
        f"From: {sender}\nTo: support@example.com\nSubject: {subject}",
        f"Bob wrote to me directly, can someone help?\n\nAda\n\n{block}\n"
        "Hello, my printer is on fire.\n",
    )


@pytest.fixture
def agents(lookup: MemoryLookup) -> MemoryLookup:
    lookup.agents |= {"ada@example.com", "ada.private@mail.test", "carl@example.com"}
    return lookup


@pytest.mark.parametrize("lang", sorted(PREFIX))
@pytest.mark.parametrize("client", sorted(BLOCKS))
def test_an_agent_s_forward_opens_the_ticket_for_the_original_sender(rules, agents, client, lang):
    raw = forward(BLOCKS[client][lang], PREFIX[lang] + "Printer on fire")
    d = run(raw, rules, agents)
    assert (d.action, d.requester, d.forwarded_by) == (Action.CREATED, BOB, ADA)
    ((outcome, rule),) = requester_steps(d)
    assert outcome == "forwarded" and rule.startswith("ada@example.com is an agent forwarding")
    assert ack(d) == "no: bob@customer.test did not write to us: it was forwarded"
    assert d.fields.title == "Printer on fire"
    assert "Bob wrote to me directly" in d.body and "my printer is on fire" in d.body  # all of it


@pytest.mark.parametrize(
    ("name", "agent", "requester"),
    [
        ("django-helpdesk/tests/test_files/utf-nondecodable.eml", "john.smith@example.cz",
         Address("Nikola", "nikola@example.cz")),
        ("django-helpdesk/tests/test_files/forwarded-message.eml", "sender@domain.tld",
         Address("GitHub", "noreply@github.com")),
        ("flanker/tests/fixtures/messages/enclosed.eml", "bob@example.net",
         Address("Kirk Douglas", "dan@example.com")),
        # Italian Outlook: its [mailto:] address is the real one, not the name shown.
        ("mail-parser/tests/mails/mail_test_7", "geronazzo@voidstudicom.it",
         Address("", "chiarodiluce@gmail.com")),
    ],
    ids=["thunderbird", "outlook-original-message", "attached-message", "outlook-mailto"],
)  # fmt: skip
def test_real_forwards_by_an_agent_are_their_original_senders(
    rules, lookup, name, agent, requester
):
    lookup.agents.add(agent)
    d = run((CORPUS / name).read_bytes(), rules, lookup)
    assert (d.action, d.requester, d.forwarded_by.email) == (Action.CREATED, requester, agent)
    assert not d.acknowledge


def test_the_first_forwarded_block_decides(rules, lookup):
    """A real Gmail forward of a forward (flanker's corpus): the first block is the forwarder's
    own mail, so it forwards no customer's (the older sender deeper down is history), and an
    agent's mail naming no ticket opens none without #new: it waits in the quarantine."""
    lookup.agents.add("hello@example.com")
    raw = (CORPUS / "flanker/tests/fixtures/messages/multi-received-headers.eml").read_bytes()
    d = run(raw, rules, lookup)
    assert d.action == Action.QUARANTINED and "names no ticket" in d.reason
    assert d.requester is None
    lookup.agents.clear()  # anyone else's forward is their own mail
    assert run(raw, rules, lookup).requester.email == "hello@example.com"


def test_only_an_agent_s_forward_changes_the_requester(rules, lookup):
    """A customer forwarding someone's mail is asking us themselves."""
    d = run(forward(GMAIL["en"], sender="Carol <carol@customer.test>"), rules, lookup)
    assert d.requester.email == "carol@customer.test" and requester_steps(d) == []
    assert d.acknowledge


def test_an_agent_s_reply_quoting_a_customer_is_no_forward(rules, agents):
    """Outlook writes the same From:/Sent: block above a mail it answers: with a reply's
    subject it is quoted history."""
    for subject in ("RE: Printer on fire", "AW: Printer on fire"):
        d = run(forward(OUTLOOK["en"], subject), rules, agents)
        assert (d.action, d.requester) == (Action.QUARANTINED, None), subject
        assert "names no ticket" in d.reason
    agents.agents.add("xxx@aol.com")  # a real AOL reply with "-----Original Message-----"
    raw = (CORPUS / "talon/tests/fixtures/standard_replies/aol.eml").read_bytes()
    assert run(raw, rules, agents).action == Action.QUARANTINED


def test_a_forward_naming_no_address_opens_no_ticket(rules, agents):
    block = "From: Bob Customer\nSent: Monday, November 23, 2026 10:00 AM\nSubject: Printer\n"
    d = run(forward(block), rules, agents)
    assert (d.action, d.requester) == (Action.QUARANTINED, None)


@pytest.mark.parametrize(
    "sender",
    ["Support <support@example.com>", "Carl <carl@example.com>", "Ada <ada@example.com>"],
    ids=["our-own-address", "another-agent", "the-forwarder"],
)
def test_a_forward_of_our_own_or_an_agent_s_mail_opens_no_ticket(rules, agents, sender):
    """No customer wrote it: without #new, the agent's mail waits in the quarantine."""
    block = GMAIL["en"].replace("*Bob Customer* <bob@customer.test>", sender)
    d = run(forward(block), rules, agents)
    assert (d.action, d.requester) == (Action.QUARANTINED, None)
    assert (
        d.reason == "agent mail by ada@example.com names no ticket: start it with #new to open one"
    )


def test_an_agent_alias_forwards_too(rules, agents):
    d = run(forward(GMAIL["en"], sender="ada.private@mail.test"), rules, agents)
    assert (d.requester, d.forwarded_by) == (BOB, Address("", "ada.private@mail.test"))


def test_a_forward_that_threads_into_a_ticket_is_a_note_on_it(rules, agents):
    """Not a new ticket for the forwarded sender: colleagues' reading on the ticket it names."""
    agents.add_ticket(42)
    d = run(forward(GMAIL["en"], "Fwd: Printer on fire [SUP-42]"), rules, agents)
    assert (d.action, d.ticket.ref) == (Action.WORKED, "SUP-42")
    assert d.as_dict()["direction"] == "note"


# --- reading the forwarded block -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("From: Bob Customer [mailto:bob@customer.test]", BOB),
        ("From: Bob Customer <bob@customer.test<mailto:bob@customer.test>>", BOB),
        ('From: "Bob Customer" <Bob@Customer.test>', BOB),
        ('From: "bob@customer.test" <bob@customer.test>', Address("", "bob@customer.test")),
        ("From: bob@customer.test", Address("", "bob@customer.test")),
        ("*From:* *Bob Customer* <bob@customer.test>", BOB),
        ("From: Bob Customer (bob@customer.test)", BOB),
        ("From: Bob Customer", None),
    ],
)
def test_the_sender_is_read_from_the_ways_mail_programs_write_it(line, found):
    raw = mail("From: ada@example.com\nSubject: Fwd: x",
               f"---------- Forwarded message ---------\n{line}\nDate: today\n\nHi\n")  # fmt: skip
    forwarded = forwarded_sender(parse_mail(raw))
    assert (forwarded.sender if forwarded else None) == found


def test_an_html_only_forward_is_read_from_its_text():
    raw = mail(
        "From: ada@example.com\nSubject: Fwd: x\nMIME-Version: 1.0\nContent-Type: text/html",
        '<div>FYI</div><div class="gmail_quote">---------- Forwarded message ---------<br>'
        '<b>From:</b> <strong class="gmail_sendername">Bob Customer</strong> '
        "&lt;bob@customer.test&gt;<br>Date: today<br></div><p>Hi</p>",
    )
    forwarded = forwarded_sender(parse_mail(raw))
    assert forwarded is not None and forwarded.sender == BOB
