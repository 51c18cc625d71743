"""Tickets agents open (`tuidesk ticket new`), the signatures under our mail, and the Reply-To
of mail about a channel's tickets: through the real CLI, the database (SQLite and PostgreSQL)
and the suite's aiosmtpd, the mail read back with the stdlib's parser."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.servers.smtp import SmtpServer
from tuidesk.storage.db import transaction
from tuidesk.storage.outbox import signature_for_reply
from tuidesk.storage.tables import tables

AGENT_SIGNATURE = "{agent_name}\nSecond-level support"
CHANNEL_SIGNATURE = "Example Ltd, {branch} team\nhttps://help.example.com (ticket {ref})"


@pytest.fixture
def desk(mailer: Cli, smtp_starttls: SmtpServer, db_engine, tmp_path: Path) -> Cli:  # type: ignore[no-untyped-def]
    """`mailer`, plus the agent Ann (login ann) with a signature, and the outgoing channel's
    signature. Ann's is set in the database: `agent edit --signature-file` is another part's."""
    mailer("agent", "add", "Ann Agent", "--email", "ann@example.com", "--login", "ann")
    with transaction(db_engine) as conn:
        agent = tables(conn).agent
        conn.execute(update(agent).values(signature=AGENT_SIGNATURE))
    signature = tmp_path / "signature.txt"
    signature.write_text(CHANNEL_SIGNATURE + "\n")
    mailer("outgoing", "edit", "main", "--signature-file", str(signature))
    return mailer


def received(server: SmtpServer, n: int = -1) -> EmailMessage:
    return email.message_from_bytes(server.messages[n].data, policy=policy.default)  # type: ignore[return-value]


def text_of(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def show(cli: Cli, ref: str) -> dict:
    return json.loads(cli("ticket", "show", ref, "--json").stdout)


def new(cli: Cli, text: str, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    return cli("--agent", "ann", "ticket", "new", *args, "--body-stdin", input=text.encode(),
               check=check)  # fmt: skip


def quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.rstrip("\n").split("\n"))


# --- a conversation an agent opens --------------------------------------------------------


def test_an_agent_opens_a_ticket_and_the_customers_answer_joins_it(
    desk: Cli, smtp_starttls: SmtpServer, db_engine
) -> None:
    opened = json.loads(
        new(
            desk, "Hello Carol,\n\nyour printer ships today.\n", "--to",
            "Carol Customer <carol@customer.test>", "--cc", "dave@customer.test", "--subject",
            "Your printer order", "--json",
        ).stdout
    )  # fmt: skip
    assert (opened["ref"], opened["status"]) == ("SUP-1", "open")
    assert opened["recipients"] == ["carol@customer.test", "dave@customer.test"]
    assert smtp_starttls.messages == []  # stored first, sent by `tuidesk send`
    desk("send")

    msg = received(smtp_starttls)
    assert str(msg["From"]) == "Support <support@example.com>"
    assert str(msg["To"]) == "Carol Customer <carol@customer.test>"
    assert str(msg["Cc"]) == "dave@customer.test"
    assert msg["Subject"] == "Your printer order [SUP-1]"  # the ref, no "Re:"
    assert msg["Message-ID"] == opened["message_id"] and msg["In-Reply-To"] is None
    ours = text_of(msg)
    assert ours == (
        "Hello Carol,\n\nyour printer ships today.\n\n-- \nAnn Agent\nSecond-level support\n"
        "Example Ltd, Support team\nhttps://help.example.com (ticket SUP-1)\n"
    )

    ticket = show(desk, "SUP-1")
    assert (ticket["source"], ticket["status"], ticket["title"]) == (
        "cli", "open", "Your printer order",
    )  # fmt: skip
    assert ticket["requester"] == {"name": "Carol Customer", "email": "carol@customer.test"}
    (first,) = ticket["messages"]
    assert (first["direction"], first["message_id"]) == ("out", opened["message_id"])
    assert first["body"] == "Hello Carol,\n\nyour printer ships today.\n"  # what Ann wrote
    assert first["full_body"] == ours and first["delivery"]["status"] == "sent"
    with db_engine.connect() as conn:
        t = tables(conn)
        ann = conn.execute(select(t.agent.c.id)).scalar_one()
        assert conn.execute(select(t.message.c.agent_id)).scalar_one() == ann

    # Carol answers inline in her mail program: her reply threads by In-Reply-To, and our
    # signature, quoted between her answers, is not what she wrote.
    body, signature = ours.split("\n\n-- \n")
    answer = f"{quoted(body)}\nGreat, thank you!\n>\n> -- \n{quoted(signature)}\n\nCarol\n"
    reply = mail(
        f"From: Carol Customer <carol@customer.test>\nTo: support@example.com\n"
        f"Message-ID: <answer@customer.test>\nIn-Reply-To: {msg['Message-ID']}\n"
        f"References: {msg['Message-ID']}\nSubject: Re: Your printer order",
        answer,
    )
    out = json.loads(desk("pipe", "--json", input=reply).stdout)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")
    stored = show(desk, "SUP-1")["messages"][-1]
    assert (
        stored["body"]
        == "> Hello Carol,\n>\n> your printer ships today.\nGreat, thank you!\n\nCarol"
    )
    assert "Second-level support" in stored["full_body"]  # the mail as sent stays whole


def test_a_phone_call_is_a_note_and_nothing_is_sent(
    desk: Cli, smtp_starttls: SmtpServer, tmp_path: Path
) -> None:
    photo = tmp_path / "serial.png"
    photo.write_bytes(b"\x89PNG not really")
    opened = json.loads(
        new(
            desk, "Carol called: the printer jams on page 2.\n", "--to", "carol@customer.test",
            "--subject", "Printer jams", "--attach", str(photo), "--note-only", "--json",
        ).stdout
    )  # fmt: skip
    assert opened == {
        "ref": "SUP-1", "status": "open", "outbox_id": None, "message_id": None,
        "recipients": [],
    }  # fmt: skip
    assert json.loads(desk("outbox", "list", "--json").stdout) == []
    ticket = show(desk, "SUP-1")
    (note,) = ticket["messages"]
    assert (note["direction"], note["from"]) == (
        "note", {"name": "Ann Agent", "email": "ann@example.com"},
    )  # fmt: skip
    assert [a["filename"] for a in note["attachments"]] == ["serial.png"]
    # Ann's first answer to a ticket that began with a call is the conversation's first mail.
    desk("--agent", "ann", "reply", "SUP-1", "--body-stdin", input=b"Try the rear tray.\n")
    desk("send")
    assert received(smtp_starttls)["Subject"] == "Printer jams [SUP-1]"


def test_the_other_agents_hear_of_a_ticket_an_agent_opens(
    desk: Cli, smtp_starttls: SmtpServer
) -> None:
    """A ticket an agent opens is a new ticket like any: the agents who chose `new` are told,
    in a mail signed like all of ours; the agent who opened it is not."""
    desk("agent", "add", "Bob Agent", "--email", "bob@example.com", "--login", "bob")
    for who in ("ann", "bob"):
        desk("agent", "edit", who, "--notify", "new")
    new(desk, "Carol called: the printer jams.\n", "--to", "carol@customer.test", "--subject",
        "Printer jams", "--note-only")  # fmt: skip
    desk("send")
    (told,) = smtp_starttls.messages
    assert told.rcpt_tos == ["bob@example.com"]
    msg = received(smtp_starttls)
    assert msg["Subject"] == "[SUP-1] Printer jams"
    text = text_of(msg)
    assert "Carol called: the printer jams." in text
    assert text.rstrip().endswith(
        "-- \nExample Ltd, Support team\nhttps://help.example.com (ticket SUP-1)"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--to", "not an address"], "not a mail address"),
        (["--to", "carol@customer.test\r\nBcc: all@victim.test"], "line breaks"),
        (["--to", "x@y.test", "--cc", "dave@customer.test\nBcc: all@victim.test"], "line breaks"),
        (["--to", "x@y.test", "--subject", "Hi\r\nBcc: all@victim.test"], "line breaks"),
        (["--to", "x@y.test", "--branch", "Nope"], "no branch 'Nope'"),
        (["--to", "x@y.test", "--queue", "Nope"], "no queue named 'Nope'"),
        (["--to", "x@y.test", "--cc", "d@y.test", "--note-only"], "nobody to copy"),
    ],
)
def test_a_ticket_that_cannot_be_opened_as_given_is_refused_whole(
    desk: Cli, args: list[str], said: str
) -> None:
    if "--subject" not in args:
        args = [*args, "--subject", "Hello"]
    proc = new(desk, "Hello.\n", *args, check=False)
    assert proc.returncode == 2 and said in proc.stderr.decode()
    assert json.loads(desk("ticket", "list", "--json").stdout) == []
    assert json.loads(desk("outbox", "list", "--json").stdout) == []


def test_who_opens_it_must_be_an_agent_and_a_mail_needs_a_way_out(cli: Cli) -> None:
    cli("agent", "add", "Ann Agent", "--email", "ann@example.com", "--login", "ann")
    args = ["ticket", "new", "--to", "c@customer.test", "--subject", "Hi", "--body-stdin"]
    stranger = cli("--agent", "mallory", *args, input=b"Hello.\n", check=False)
    assert stranger.returncode == 2 and "tuidesk agent add 'mallory'" in stranger.stderr.decode()
    unsent = cli("--agent", "ann", *args, input=b"Hello.\n", check=False)  # no outgoing channel
    assert unsent.returncode == 2 and "no outgoing channel" in unsent.stderr.decode()
    assert json.loads(cli("ticket", "list", "--json").stdout) == []  # nothing half-made
    empty = cli("--agent", "ann", *args, input=b"  \n", check=False)
    assert empty.returncode == 2 and "must not be empty" in empty.stderr.decode()
    phone = cli("--agent", "ann", *args, "--note-only", input=b"Called.\n")
    assert phone.stdout.decode() == "opened SUP-1 with a note; nothing sent\n"


# --- signatures -----------------------------------------------------------------------------

CUSTOMER = mail(
    "From: Alice Smith <alice@customer.test>\nTo: support@example.com\n"
    "Message-ID: <m1@customer.test>\nSubject: Printer on fire",
    "Help, it burns.\n",
)


def test_a_reply_is_signed_by_its_agent_above_the_channel(
    desk: Cli, smtp_starttls: SmtpServer, tmp_path: Path, db_engine
) -> None:
    desk("pipe", input=CUSTOMER)
    desk("--agent", "ann", "reply", "SUP-1", "--body-stdin", "--quote", input=b"On it.\n")
    html = tmp_path / "done.html"
    html.write_text("<html><body><p>Done.</p></body></html>")
    desk("reply", "SUP-1", "--body-stdin", "--html-file", str(html), input=b"Done.\n")
    desk("send")
    signed = text_of(received(smtp_starttls, 0))
    assert signed.startswith(
        "On it.\n\n-- \nAnn Agent\nSecond-level support\nExample Ltd, Support team\n"
        "https://help.example.com (ticket SUP-1)\n\nOn "
    )  # the signature above the quoted mail
    assert signed.endswith("wrote:\n> Help, it burns.\n")
    second = received(smtp_starttls, 1)  # by nobody known as an agent: the channel's only
    assert text_of(second) == (
        "Done.\n\n-- \nExample Ltd, Support team\nhttps://help.example.com (ticket SUP-1)\n"
    )
    html_part = second.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert '<div class="signature">-- <br>\nExample Ltd, Support team<br>' in html_part
    assert html_part.rstrip().endswith("</div>\n</body></html>")
    messages = show(desk, "SUP-1")["messages"]
    assert [m["body"] for m in messages[1:]] == ["On it.\n", "Done.\n"]
    with db_engine.connect() as conn:  # what the reply editor shows under Ann's text
        ann = conn.execute(select(tables(conn).agent.c.id)).scalar_one()
        assert signature_for_reply(conn, "SUP-1", ann) == (
            "Ann Agent\nSecond-level support\nExample Ltd, Support team\n"
            "https://help.example.com (ticket SUP-1)"
        )


def test_a_signature_is_checked_like_every_template_and_travels_with_the_config(
    desk: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    for text, said in [
        ("Thanks, {requester_name}\n", "{requester_name} is not a placeholder"),
        ("Example\x1b[31m Ltd\n", "must not contain control characters"),
    ]:
        bad.write_text(text)
        proc = desk("outgoing", "edit", "main", "--signature-file", str(bad), check=False)
        assert proc.returncode == 2 and said in proc.stderr.decode()
    shown = json.loads(desk("outgoing", "show", "main", "--json").stdout)
    assert shown["signature"] == CHANNEL_SIGNATURE  # unchanged, the blank line dropped
    exported = desk("config", "export").stdout.decode()
    assert 'signature = "Example Ltd, {branch} team\\nhttps://' in exported
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    desk("outgoing", "edit", "main", "--signature-file", str(empty))  # an empty file: none
    assert json.loads(desk("outgoing", "show", "main", "--json").stdout)["signature"] == ""
    conf = tmp_path / "config.toml"
    conf.write_text(exported)
    desk("config", "import", str(conf))
    shown = json.loads(desk("outgoing", "show", "main", "--json").stdout)
    assert shown["signature"] == CHANNEL_SIGNATURE


# --- Reply-To -------------------------------------------------------------------------------


def test_mail_about_a_channels_tickets_asks_for_answers_at_its_reply_to(
    desk: Cli, smtp_starttls: SmtpServer, tmp_path: Path
) -> None:
    conf = tmp_path / "channels.toml"
    conf.write_text(
        '[settings]\nacknowledge = true\n\n[[channel]]\nname = "help"\n'
        'reply_to = "help@example.com"\n\n[[channel]]\nname = "plain"\n'
    )
    desk("config", "import", str(conf))
    desk("pipe", "--channel", "help", input=CUSTOMER)
    other = mail("From: bob@customer.test\nTo: support@example.com\nSubject: Toner")
    desk("pipe", "--channel", "plain", input=other)
    desk("reply", "SUP-1", "--body-stdin", input=b"On it.\n")
    desk("reply", "SUP-2", "--body-stdin", input=b"On it.\n")
    desk("outgoing", "edit", "main", "--reply-to", "answers@example.com")
    desk("reply", "SUP-2", "--body-stdin", input=b"Still on it.\n")
    desk("send")
    got = [received(smtp_starttls, n) for n in range(len(smtp_starttls.messages))]
    by_subject = [(m["Subject"], m["Reply-To"]) for m in got]
    assert by_subject == [
        ("Received: Printer on fire [SUP-1]", "help@example.com"),  # the acknowledgement
        ("Received: Toner [SUP-2]", None),
        ("Re: Printer on fire [SUP-1]", "help@example.com"),
        ("Re: Toner [SUP-2]", None),
        ("Re: Toner [SUP-2]", "answers@example.com"),  # no channel's: the outgoing channel's
    ]
