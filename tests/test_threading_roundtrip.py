"""Threading checked by implementations nobody here wrote: our reply goes out through a real SMTP
server, and Dovecot's IMAP `THREAD REFERENCES` (RFC 5256) must put it in the customer's thread;
the stdlib parser reads its headers. Then the customer's answers come back through
`tuidesk pipe` and must land on the same ticket, however much of the threading their mail
client kept."""

from __future__ import annotations

import email
import itertools
import json
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer

TITLE = "Printer on fire"
CUSTOMER_ID = "<first.a1@customer.test>"
_users = itertools.count()


@pytest.fixture
def desk(mailer: Cli) -> Cli:
    return mailer


def pipe(cli: Cli, raw: bytes) -> dict[str, Any]:
    return json.loads(cli("pipe", "--json", input=raw).stdout)


def customer_mail(message_id: str, subject: str, extra: str = "", body: str = "") -> bytes:
    """A mail Alice writes to support; `extra` adds header lines (In-Reply-To, References)."""
    headers = (
        f"From: Alice <alice@customer.test>\nTo: support@example.com\n"
        f"Message-ID: {message_id}\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n"
        f"Subject: {subject}\n{extra}"
    )
    return mail(headers, body or f"Text of {message_id}.\n")


def reply_and_send(cli: Cli, smtp: SmtpServer, text: str) -> bytes:
    """An agent's reply on SUP-1, sent; the bytes exactly as the SMTP server received them."""
    before = len(smtp.messages)
    cli("reply", "SUP-1", "--body-stdin", input=text.encode())
    cli("send")
    received = smtp.wait_for(before + 1)
    assert len(received) == before + 1
    assert received[-1].rcpt_tos == ["alice@customer.test"]
    return received[-1].data


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def flatten(node: Any) -> list[int]:
    """The message UIDs in one THREAD answer node (a tuple of UIDs and nested branches)."""
    if isinstance(node, int):
        return [node]
    return [uid for child in node for uid in flatten(child)]


def imap_threads(dovecot: DovecotServer, raws: list[bytes]) -> list[set[int]]:
    """APPEND the mails to a fresh folder of a user of our own, then ask Dovecot to thread them
    with REFERENCES: each thread as the set of its UIDs. UIDs are 1.. in APPEND order."""
    user = f"thread{next(_users)}"
    dovecot.add_user(user, "pw")
    client = dovecot.client(user)
    try:
        assert b"THREAD=REFERENCES" in client.capabilities()
        client.create_folder("Roundtrip")
        for raw in raws:
            client.append("Roundtrip", raw)
        client.select_folder("Roundtrip", readonly=True)
        uids = sorted(client.search("ALL"))
        assert uids == list(range(1, len(raws) + 1))
        threads = client.thread(algorithm="REFERENCES", criteria="ALL")
    finally:
        client.logout()
    return [set(flatten(t)) for t in threads]


def test_our_replies_thread_with_the_customer_in_dovecot(
    desk: Cli, smtp_starttls: SmtpServer, dovecot: DovecotServer
) -> None:
    """A mail client threads by Message-ID / In-Reply-To / References: if ours are wrong, the
    customer sees our answer as a stranger's mail, whatever our own database thinks."""
    first = customer_mail(CUSTOMER_ID, TITLE)
    assert pipe(desk, first)["ticket"] == "SUP-1"
    reply1 = reply_and_send(desk, smtp_starttls, "Please switch it off.\n")

    msg = parsed(reply1)
    assert msg["Subject"].startswith("Re: ") and msg["Subject"].endswith("[SUP-1]")
    assert msg["Subject"] == f"Re: {TITLE} [SUP-1]"
    assert msg["In-Reply-To"] == CUSTOMER_ID
    assert msg["References"].split()[-1] == CUSTOMER_ID
    our_id = msg["Message-ID"]
    assert our_id.startswith("<") and our_id.endswith(">")
    assert our_id[1:-1].rpartition("@")[2] == "example.com"
    assert str(msg["From"]) == "Support <support@example.com>"
    assert [a.addr_spec for a in msg["To"].addresses] == ["alice@customer.test"]
    assert msg["Auto-Submitted"] is None  # a person's reply, not an auto-reply

    assert imap_threads(dovecot, [first, reply1]) == [{1, 2}]
    # The control: without its threading headers our reply is a thread of its own, so the one
    # above is their doing (RFC 5256 also merges by base subject; "[SUP-1]" keeps it apart).
    del msg["In-Reply-To"], msg["References"]
    assert sorted(imap_threads(dovecot, [first, msg.as_bytes()]), key=min) == [{1}, {2}]

    # Alice answers our reply, we answer again: one thread of four.
    second = customer_mail(
        "<second.a2@customer.test>",
        f"Re: {TITLE} [SUP-1]",
        f"In-Reply-To: {our_id}\nReferences: {CUSTOMER_ID} {our_id}\n",
    )
    assert pipe(desk, second)["action"] == "commented"
    reply2 = reply_and_send(desk, smtp_starttls, "Then unplug it.\n")
    msg2 = parsed(reply2)
    assert msg2["In-Reply-To"] == "<second.a2@customer.test>"
    assert msg2["References"].split() == [CUSTOMER_ID, our_id, "<second.a2@customer.test>"]
    assert msg2["Message-ID"] != our_id

    # A control mail that shares nothing with the thread: threading is not "everything".
    other = mail(
        "From: bob@customer.test\nTo: support@example.com\nMessage-ID: <other@customer.test>\n"
        "Subject: Invoice question"
    )
    threads = imap_threads(dovecot, [first, reply1, second, reply2, other])
    assert sorted(threads, key=min) == [{1, 2, 3, 4}, {5}]


def test_customer_answers_land_on_the_ticket_however_threaded(
    desk: Cli, smtp_starttls: SmtpServer
) -> None:
    """Mail clients keep the headers, or only In-Reply-To, or only the subject: each of these
    alone must find SUP-1, and mail with none of them opens a new ticket."""
    assert pipe(desk, customer_mail(CUSTOMER_ID, TITLE))["ticket"] == "SUP-1"
    our_id = parsed(reply_and_send(desk, smtp_starttls, "Please switch it off.\n"))["Message-ID"]

    full = customer_mail(
        "<full@customer.test>",
        f"Re: Re: {TITLE} [SUP-1]",
        f"In-Reply-To: {our_id}\nReferences: {our_id}\n",
    )
    out = pipe(desk, full)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")

    # A client that rewrote the subject (no token) but kept In-Reply-To.
    headers_only = customer_mail(
        "<irt@customer.test>", "About the fire", f"In-Reply-To: {our_id}\n"
    )
    out = pipe(desk, headers_only)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")

    # A client that kept only the subject: no In-Reply-To, no References.
    token_only = customer_mail("<tok@customer.test>", "Still burning [SUP-1]")
    out = pipe(desk, token_only)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")

    # The control: neither a token nor a known reference is a new ticket.
    out = pipe(desk, customer_mail("<new@customer.test>", "About the fire"))
    assert (out["action"], out["ticket"]) == ("created", "SUP-2")

    ticket = json.loads(desk("ticket", "show", "SUP-1", "--json").stdout)
    ids = [m["message_id"] for m in ticket["messages"]]
    assert ids == [
        CUSTOMER_ID,
        our_id,
        "<full@customer.test>",
        "<irt@customer.test>",
        "<tok@customer.test>",
    ]
