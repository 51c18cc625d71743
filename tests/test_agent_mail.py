"""Agents working a ticket by replying to mail, through the real parts: the agent's mail comes in
through `tuidesk pipe` or the IMAP poll against the suite's Dovecot, and what it makes goes out
through `tuidesk send` to the suite's aiosmtpd, where the customer's mail client would read it.
On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import itertools
import json
from email import policy
from email.message import EmailMessage
from typing import Any, NamedTuple

import pytest
from sqlalchemy import insert, select, update

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tests.test_imap import add_channel, folder_uids, poll
from tests.test_threading_roundtrip import imap_threads
from tuidesk.storage.db import transaction
from tuidesk.storage.tables import tables, utcnow

ADA = "ada@example.com"
FIRST_ID, SECOND_ID = "<c1@customer.test>", "<c2@customer.test>"
# What a receiving server that checks the agents' domain writes on top of their mail.
PASSED = (
    "Authentication-Results: mx.example.com;\n"
    "       dkim=pass header.d=example.com header.s=s1 header.b=Qm9n;\n"
    "       spf=pass (mx.example.com: domain of ada@example.com designates 192.0.2.7 as"
    " permitted sender) smtp.mailfrom=ada@example.com;\n"
    "       dmarc=pass (p=REJECT) header.from=example.com"
)
FAILED = PASSED.replace("=pass", "=fail")
_ids = itertools.count()


def pipe(cli: Cli, raw: bytes) -> dict[str, Any]:
    return json.loads(cli("pipe", "--json", input=raw).stdout)


def show(cli: Cli, ref: str = "SUP-1") -> dict[str, Any]:
    return json.loads(cli("ticket", "show", ref, "--json").stdout)


def outbox(cli: Cli) -> list[dict[str, Any]]:
    return json.loads(cli("outbox", "list", "--json").stdout)


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def agent_mail(
    body: str,
    *,
    answers: str,
    subject: str = "Re: Printer on fire [SUP-1]",
    headers: str = PASSED,
    sender: str = f"Ada <{ADA}>",
    to: str = "support@example.com",
    cc: str | None = None,
    attachment: bytes | None = None,
) -> bytes:
    """A mail Ada writes from her own mail program, answering the message `answers` and
    quoting it below her text; `headers` are what the receiving server put on top."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Message-ID"] = f"<ada.{next(_ids)}@example.com>"
    msg["Date"] = "Tue, 24 Nov 2026 09:00:00 +0000"
    msg["In-Reply-To"], msg["References"] = answers, f"{FIRST_ID} {answers}"
    msg.set_content(
        f"{body}\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\n"
        "> We are looking into it.\n"
    )
    if attachment is not None:
        msg.add_attachment(attachment, maintype="image", subtype="png", filename="label.png")
    head = "".join(f"{line}\r\n" for line in headers.splitlines()) if headers else ""
    return head.encode() + msg.as_bytes(policy=policy.SMTP)


def customer_mail(message_id: str, extra: str = "", body: str = "It is on fire.\n") -> bytes:
    return mail(
        f"From: Alice <alice@customer.test>\nTo: support@example.com\nMessage-ID: {message_id}\n"
        f"Subject: Printer on fire\n{extra}",
        body,
    )


class Desk(NamedTuple):
    cli: Cli
    ours: str  # the Message-ID of our reply on SUP-1


@pytest.fixture
def desk(mailer: Cli, smtp_starttls: SmtpServer) -> Desk:
    """SUP-1 from Alice; our reply to it sent; her answer to that; Ada and Dana are agents."""
    cli = mailer
    cli("agent", "add", "Ada", "--email", ADA)
    cli("agent", "add", "Dana Agent", "--email", "dana@example.com", "--login", "dana")
    assert pipe(cli, customer_mail(FIRST_ID))["ticket"] == "SUP-1"
    cli("reply", "SUP-1", "--body-stdin", input=b"We are looking into it.\n")
    cli("send")
    ours = parsed(smtp_starttls.wait_for(1)[-1].data)["Message-ID"]
    answer = customer_mail(
        SECOND_ID, f"In-Reply-To: {ours}\nReferences: {FIRST_ID} {ours}\n", "Smoke now.\n"
    )
    assert pipe(cli, answer)["action"] == "commented"
    smtp_starttls.clear()
    return Desk(cli, ours)


def sent_to_customer(cli: Cli, smtp: SmtpServer) -> EmailMessage:
    """`tuidesk send`, and the one mail the SMTP server then received for Alice (agents'
    notifications may go with it)."""
    cli("send")
    (got,) = [m for m in smtp.wait_for(1) if m.rcpt_tos == ["alice@customer.test"]]
    smtp.clear()
    return parsed(got.data)


def assert_in_the_customers_thread(msg: EmailMessage, ours: str) -> None:
    assert str(msg["From"]) == "Support <support@example.com>"
    assert msg["Subject"] == "Re: Printer on fire [SUP-1]"
    assert msg["In-Reply-To"] == SECOND_ID  # the customer's last message
    assert msg["References"].split() == [FIRST_ID, ours, SECOND_ID]


def test_an_agents_reply_by_mail_reaches_the_customer_in_her_thread(
    desk: Desk, smtp_starttls: SmtpServer, dovecot: DovecotServer
) -> None:
    """Ada answers our own earlier reply from her mail program; the receiving server vouches
    for her domain. The customer gets the visible text, From us, in her thread."""
    desk.cli("config", "set", "trusted_authserv_ids", "mx.example.com")
    raw = agent_mail("The part ships Monday.", answers=desk.ours, attachment=b"\x89PNG label")
    out = pipe(desk.cli, raw)
    assert out == {
        "action": "worked",
        "ticket": "SUP-1",
        "reason": f"agent reply by {ADA} on SUP-1: queued to alice@customer.test; status open",
    }

    msg = sent_to_customer(desk.cli, smtp_starttls)
    assert_in_the_customers_thread(msg, desk.ours)
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body == "The part ships Monday.\n"  # her quote of our mail stripped
    (part,) = msg.iter_attachments()
    assert (part.get_filename(), part.get_content()) == ("label.png", b"\x89PNG label")
    assert ADA not in str(msg)  # the customer sees us, not the agent's own address

    ticket = show(desk.cli)
    reply = ticket["messages"][-1]
    assert [m["direction"] for m in ticket["messages"]] == ["in", "out", "in", "out"]
    assert (reply["body"], reply["agent"]) == (
        "The part ships Monday.", {"name": "Ada", "email": ADA},
    )  # fmt: skip
    assert reply["delivery"]["status"] == "sent" and reply["message_id"] == msg["Message-ID"]
    assert [a["filename"] for a in reply["attachments"]] == ["label.png"]
    # A mail client threads it with the rest of her conversation.
    first, second = customer_mail(FIRST_ID), customer_mail(SECOND_ID)
    assert imap_threads(dovecot, [first, second, msg.as_bytes()]) == [{1, 2, 3}]
    # The same mail again (the MTA retried) does nothing more.
    assert pipe(desk.cli, raw)["action"] == "duplicate"
    assert len(outbox(desk.cli)) == 2


def test_through_the_imap_poll(
    desk: Desk, smtp_starttls: SmtpServer, dovecot: DovecotServer, mailbox: str
) -> None:
    """The same from a mailbox the poller reads; the admin accepts agents' mail unproven."""
    desk.cli("config", "set", "agent_mail_commands", "true")
    add_channel(desk.cli, dovecot, mailbox, "--success-folder", "Done")
    raw = agent_mail("#priority high\nThe part ships Monday.", answers=desk.ours, headers="")
    dovecot.append(mailbox, "INBOX", raw)
    result = poll(desk.cli)["support"]
    assert (result["fetched"], result["worked"], result["commented"]) == (1, 1, 0)
    assert len(folder_uids(dovecot, mailbox, "Done")) == 1

    msg = sent_to_customer(desk.cli, smtp_starttls)
    assert_in_the_customers_thread(msg, desk.ours)
    assert msg.get_body(("plain",)).get_content().strip() == "The part ships Monday."
    assert show(desk.cli)["priority"] == "high"


def test_the_whole_round_through_a_notification(
    desk: Desk, smtp_starttls: SmtpServer, dovecot: DovecotServer, mailbox: str
) -> None:
    """Alice writes again; Ada, her ticket's assignee, is mailed about it (aiosmtpd); Ada
    answers that notification from her mail program; the poll reads her answer from the
    suite's Dovecot; Alice receives it in her own conversation."""
    cli = desk.cli
    cli("config", "set", "trusted_authserv_ids", "mx.example.com")
    cli("ticket", "set", "SUP-1", "--assign", "Ada")
    third = customer_mail("<c3@customer.test>", f"In-Reply-To: {SECOND_ID}\n", "Still smoking.\n")
    assert pipe(cli, third)["action"] == "commented"
    cli("send")  # one mail: her reply folded into the assignment's, still waiting
    (told,) = [parsed(m.data) for m in smtp_starttls.wait_for(1) if m.rcpt_tos == [ADA]]
    smtp_starttls.clear()
    assert told["Subject"] == "[SUP-1] Printer on fire" and "Still smoking." in str(told)
    assert (told["Reply-To"], told["Auto-Submitted"]) == ("support@example.com", "auto-generated")

    answer = EmailMessage()
    answer["From"], answer["To"] = f"Ada <{ADA}>", told["Reply-To"]
    answer["Subject"] = f"Re: {told['Subject']}"
    answer["Message-ID"], answer["Date"] = "<ada.round@example.com>", told["Date"]
    answer["In-Reply-To"] = told["Message-ID"]
    answer["References"] = f"{told['References']} {told['Message-ID']}"
    quoted = "\n".join(f"> {line}" for line in told.get_content().splitlines())
    answer.set_content(
        "The part ships Monday.\n\nOn Tue, 24 Nov 2026 at 09:00, Support <support@example.com>"
        f" wrote:\n{quoted}\n"
    )
    raw = "".join(f"{line}\r\n" for line in PASSED.splitlines()).encode()
    add_channel(cli, dovecot, mailbox, "--success-folder", "Done")
    dovecot.append(mailbox, "INBOX", raw + answer.as_bytes(policy=policy.SMTP))
    assert poll(cli)["support"]["worked"] == 1

    msg = sent_to_customer(cli, smtp_starttls)
    assert msg["Subject"] == "Re: Printer on fire [SUP-1]"
    assert msg["In-Reply-To"] == "<c3@customer.test>"  # her latest message
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
        "The part ships Monday.\n"
    )  # neither the notification quoted nor Ada's address
    first, second = customer_mail(FIRST_ID), customer_mail(SECOND_ID)
    assert imap_threads(dovecot, [first, second, third, msg.as_bytes()]) == [{1, 2, 3, 4}]


def test_notes_and_commands(desk: Desk, smtp_starttls: SmtpServer) -> None:
    desk.cli("config", "set", "trusted_authserv_ids", "mx.example.com")
    ours = desk.ours
    out = pipe(desk.cli, agent_mail("#note\nShe prefers phone calls.", answers=ours))
    assert out["reason"] == f"agent note by {ADA} on SUP-1"
    note = show(desk.cli)["messages"][-1]
    assert (note["direction"], note["body"], note["from"]["email"], note["agent"]["name"]) == (
        "note", "She prefers phone calls.", ADA, "Ada",
    )  # fmt: skip
    assert len(outbox(desk.cli)) == 1  # only our first reply: a note is never mailed

    out = pipe(
        desk.cli, agent_mail("#status pending\n#assign Dana Agent\n#priority urgent", answers=ours)
    )
    assert out["reason"] == (
        f"agent commands by {ADA} on SUP-1: priority urgent; assigned to Dana Agent; status pending"
    )
    ticket = show(desk.cli)
    assert (ticket["status"], ticket["priority"], ticket["assignee"]["name"]) == (
        "pending", "urgent", "Dana Agent",
    )  # fmt: skip
    assert len(ticket["messages"]) == 4  # nothing to store, nothing for the customer...
    (reply, told) = sorted(outbox(desk.cli), key=lambda r: r["id"])
    assert (reply["kind"], told["kind"], told["recipients"]) == (
        "reply", "notify", ["dana@example.com"],
    )  # fmt: skip  # ...and Dana hears she has it (Ada, who assigned it, does not)

    # Pending is waiting for the customer: an agent's word does not reopen it...
    out = pipe(desk.cli, agent_mail("Any news?", answers=ours))
    assert out["reason"].endswith("status pending")
    assert show(desk.cli)["status"] == "pending"
    sent_to_customer(desk.cli, smtp_starttls)
    # ...the customer's does (the control).
    pipe(desk.cli, customer_mail("<c3@customer.test>", f"In-Reply-To: {SECOND_ID}\n"))
    assert show(desk.cli)["status"] == "open"

    # A command it cannot apply is said where the agent will look: on the ticket.
    out = pipe(desk.cli, agent_mail("#assign me\n#assign nobody\n#status maybe", answers=ours))
    assert out["reason"] == (
        f"agent commands by {ADA} on SUP-1: not applied: #status maybe: not one of open,"
        " pending, resolved, closed; #assign nobody: no agent 'nobody'"
    )
    ticket = show(desk.cli)
    assert ticket["assignee"]["name"] == "Dana Agent"
    assert ticket["messages"][-1]["body"].startswith("Not applied from the mail of Ada:\n")


def test_a_spoofed_agent_mail_is_quarantined(desk: Desk, smtp_starttls: SmtpServer) -> None:
    desk.cli("config", "set", "trusted_authserv_ids", "mx.example.com")
    before = show(desk.cli)
    raw = agent_mail("#status closed\nRefund approved.", answers=desk.ours, headers=FAILED)
    out = pipe(desk.cli, raw)
    reason = f"spoofed agent mail: from {ADA} (Ada), but mx.example.com: dmarc=fail for example.com"
    assert out == {"action": "quarantined", "ticket": None, "reason": reason}
    (kept,) = json.loads(desk.cli("quarantine", "list", "--json").stdout)
    assert kept["reason"] == reason
    assert show(desk.cli) == before and len(outbox(desk.cli)) == 1

    # Anyone can write that header: one from a server not trusted counts for nothing, and
    # without a trusted pass the mail is a note only.
    forged = FAILED.replace("mx.example.com;", "mx.evil.test;")
    out = pipe(desk.cli, agent_mail("Refund approved!", answers=desk.ours, headers=forged))
    assert out["action"] == "worked" and "kept as a note" in out["reason"]
    assert show(desk.cli)["messages"][-1]["direction"] == "note"
    assert len(outbox(desk.cli)) == 1


def test_unproven_agent_mail_is_only_a_note(desk: Desk) -> None:
    """No trusted server and agent_mail_commands off (the defaults): a stranger could have
    written it, so nothing goes to the customer and nothing on the ticket changes."""
    before = show(desk.cli)
    raw = agent_mail("#status closed\nRefund approved.", answers=desk.ours, headers="")
    out = pipe(desk.cli, raw)
    assert out["reason"] == (
        f"agent mail by {ADA} on SUP-1 kept as a note: not shown to be the agent's (no"
        " trusted_authserv_ids set) and agent_mail_commands is off"
    )
    ticket = show(desk.cli)
    assert (ticket["status"], ticket["assignee"]) == (before["status"], None)
    note = ticket["messages"][-1]
    # Anyone's, for all we know: the note names the address it came from, not the agent.
    assert (note["direction"], note["from"]["email"], note["agent"]) == ("note", ADA, None)
    assert note["body"].endswith("agent_mail_commands is off.\n\n#status closed\nRefund approved.")
    assert len(outbox(desk.cli)) == 1


def test_a_reply_that_cannot_be_sent_waits_in_the_quarantine(cli: Cli) -> None:
    """No outgoing channel yet: the mail is kept whole, and a retry after the fix sends it."""
    cli("branch", "edit", "Support", "--address", "support@example.com")
    cli("agent", "add", "Ada", "--email", ADA)
    cli("config", "set", "agent_mail_commands", "true")
    pipe(cli, customer_mail(FIRST_ID))
    out = pipe(cli, agent_mail("Ships Monday.", answers=FIRST_ID))
    assert out["action"] == "quarantined"
    assert out["reason"] == (
        f"agent reply by {ADA} on SUP-1: sent to the requester: not done: no outgoing channel:"
        " add one with `tuidesk outgoing add ... --default`"
    )
    assert [m["direction"] for m in show(cli)["messages"]] == ["in"]
    (kept,) = json.loads(cli("quarantine", "list", "--json").stdout)
    cli.env["SMTP_PW"] = "pw"
    cli(
        "outgoing", "add", "main", "--host", "127.0.0.1", "--port", "2525", "--starttls",
        "--username", "support", "--password-env", "SMTP_PW", "--from", "support@example.com",
    )  # fmt: skip
    retried = cli("quarantine", "retry", str(kept["id"])).stdout.decode()
    assert retried.startswith("worked SUP-1 agent reply by")
    assert [m["direction"] for m in show(cli)["messages"]] == ["in", "out"]


def test_threads_by_our_notification_and_by_an_alias(desk: Desk, db_engine) -> None:  # type: ignore[no-untyped-def]
    """A notification is a mail we sent that is no message of the ticket; Ada answers it from
    another address of hers, without the ticket's token in the subject."""
    desk.cli("config", "set", "agent_mail_commands", "true")
    with transaction(db_engine) as conn:
        t = tables(conn)
        conn.execute(
            insert(t.outbox),
            dict(
                ticket_id=1, kind="notify", outgoing="main", mail_from="support@example.com",
                recipients=[ADA], recipient_key=ADA, message_id="<n1@example.com>", raw=b"x",
                status="sent", tries=1, next_attempt_at=utcnow(), created_at=utcnow(),
            ),
        )  # fmt: skip
        conn.execute(
            update(t.agent).where(t.agent.c.email == ADA).values(aliases=["ada@home.test"])
        )
    raw = agent_mail(
        "#note\nChecked with the vendor.", answers="<n1@example.com>", subject="Re: New reply",
        sender="Ada <Ada@Home.test>", headers="",
    )  # fmt: skip
    out = pipe(desk.cli, raw)
    assert (out["action"], out["ticket"]) == ("worked", "SUP-1")
    assert out["reason"] == f"agent note by {ADA} on SUP-1"
    note = show(desk.cli)["messages"][-1]
    assert (note["direction"], note["agent"]["email"]) == ("note", ADA)
    with db_engine.connect() as conn:
        message = tables(conn).message
        by_ada = conn.execute(select(message.c.direction).where(message.c.agent_id.is_not(None)))
        assert list(by_ada.scalars()) == ["note"]  # her mail itself is no message of the ticket


def test_agent_mail_that_names_no_ticket(desk: Desk) -> None:
    desk.cli("config", "set", "agent_mail_commands", "true")
    lunch = mail(f"From: {ADA}\nTo: support@example.com\nSubject: Lunch?", "At noon?\n")
    out = pipe(desk.cli, lunch)
    assert out["action"] == "quarantined"
    assert out["reason"] == f"agent mail by {ADA} names no ticket: start it with #new to open one"
    opened = mail(
        f"From: Ada <{ADA}>\nTo: support@example.com\nSubject: VPN down",
        "#new\n#priority urgent\nNobody can connect.\n",
    )
    out = pipe(desk.cli, opened)
    assert (out["action"], out["ticket"]) == ("created", "SUP-2")
    ticket = show(desk.cli, "SUP-2")
    assert (ticket["requester"]["email"], ticket["priority"]) == (ADA, "urgent")
    assert ticket["messages"][0]["body"] == "Nobody can connect."


def test_a_reply_the_agent_sent_the_customer_herself_is_kept_not_sent_again(
    desk: Desk, smtp_starttls: SmtpServer
) -> None:
    """Ada answered Alice's mail in her own mail program, copying support: Alice has it."""
    desk.cli("config", "set", "agent_mail_commands", "true")
    raw = agent_mail(
        "Try the other tray.", answers=SECOND_ID, headers="", to="alice@customer.test",
        cc="support@example.com",
    )  # fmt: skip
    out = pipe(desk.cli, raw)
    assert out["reason"] == (
        f"agent reply by {ADA} on SUP-1: the requester was among its recipients: kept on the"
        " ticket, not sent again; status open"
    )
    assert len(outbox(desk.cli)) == 1
    kept = show(desk.cli)["messages"][-1]
    assert (kept["direction"], kept["from"]["email"], kept["body"]) == (
        "out", ADA, "Try the other tray.",
    )  # fmt: skip
    # Alice answers Ada's mail: it joins the ticket by Ada's Message-ID.
    answer = customer_mail("<c4@customer.test>", f"In-Reply-To: {kept['message_id']}\n")
    assert pipe(desk.cli, answer)["ticket"] == "SUP-1"
