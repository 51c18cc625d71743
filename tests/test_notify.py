"""Notifications to agents through real parts: mail comes in through `tuidesk pipe`, agents
change tickets with the CLI, the outbox goes out to the suite's aiosmtpd, and what that server
received is read back with the stdlib's parser. Customers' replies are real mail from the
corpus where one fits."""

from __future__ import annotations

import email
import json
import tomllib
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, SMTP_PASSWORD, Cli, dsn_bounce
from tests.engine.conftest import mail
from tests.servers.smtp import SmtpServer

CUSTOMER = mail(
    "From: Alice Smith <alice@customer.test>\nTo: support@example.com\n"
    "Message-ID: <m1@customer.test>\nSubject: Printer on fire",
    "Help, it burns.\n",
)


def customer_reply(n: int, text: str = "") -> bytes:
    return mail(
        f"From: Alice Smith <alice@customer.test>\nTo: support@example.com\n"
        f"Message-ID: <r{n}@customer.test>\nSubject: Re: Printer on fire [SUP-1]",
        text or f"Reply number {n}.\n",
    )


class Desk:
    """The Support branch, the outgoing channel `main` on the suite's SMTP server, and three
    agents: Ada (admin), Dana and Eve, each with the default events until a test says."""

    def __init__(self, cli: Cli, smtp: SmtpServer) -> None:
        self.cli, self.smtp = cli, smtp
        cli("agent", "add", "ada", "--email", "ada@example.com", "--admin")
        cli("agent", "add", "dana", "--email", "dana@example.com")
        cli("agent", "add", "eve", "--email", "eve@example.com")

    def __call__(self, *args: str, **kwargs: Any) -> Any:
        return self.cli(*args, **kwargs)

    def notify(self, agent: str, events: str) -> None:
        self.cli("agent", "edit", agent, "--notify", events)

    def pipe(self, raw: bytes) -> dict[str, Any]:
        return json.loads(self.cli("pipe", "--json", input=raw).stdout)

    def outbox(self, kind: str = "notify") -> list[dict[str, Any]]:
        rows = json.loads(self.cli("outbox", "list", "--json").stdout)
        return [r for r in reversed(rows) if r["kind"] == kind]

    def send(self) -> dict[str, Any]:
        return json.loads(self.cli("send", "--json", check=False).stdout)

    def sent_to(self, *, start: int = 0) -> list[tuple[str, EmailMessage]]:
        """Each mail the server received from the `start`th: its recipient and the mail."""
        return [
            (m.rcpt_tos[0], email.message_from_bytes(m.data, policy=policy.default))  # type: ignore[misc]
            for m in self.smtp.messages[start:]
        ]


@pytest.fixture
def desk(mailer: Cli, smtp_starttls: SmtpServer) -> Desk:
    return Desk(mailer, smtp_starttls)


def body(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def test_a_new_ticket_mails_the_agents_who_chose_it_and_an_answer_threads_back(
    desk: Desk,
) -> None:
    desk.notify("ada", "new,reply")
    desk.notify("eve", "none")  # dana keeps the defaults: reply, assigned, failed
    assert desk.pipe(CUSTOMER)["ticket"] == "SUP-1"
    (queued,) = desk.outbox()
    assert (queued["ticket"], queued["recipients"]) == ("SUP-1", ["ada@example.com"])
    listed = desk("outbox", "list").stdout.decode()
    assert "notify" in listed and "ada@example.com" in listed
    ticket = json.loads(desk("ticket", "show", "SUP-1", "--json").stdout)
    assert [m["direction"] for m in ticket["messages"]] == ["in"]  # not part of the ticket

    assert desk.send()["sent"] == 1
    ((to, msg),) = desk.sent_to()
    assert to == "ada@example.com" and str(msg["To"]) == "ada <ada@example.com>"
    assert msg["Subject"] == "[SUP-1] Printer on fire"
    assert str(msg["From"]) == "Support <support@example.com>"
    assert str(msg["Reply-To"]) == "support@example.com"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == queued["message_id"]
    assert msg["In-Reply-To"] == "<m1@customer.test>" and msg["References"] == "<m1@customer.test>"
    text = body(msg)
    assert "New ticket from Alice Smith <alice@customer.test>, " in text
    assert "Help, it burns." in text
    assert "Status: new. Assignee: nobody. Requester: Alice Smith <alice@customer.test>." in text

    # Answered in a mail client that dropped the ticket's token: In-Reply-To names our
    # notification, which is no message of the ticket, and it still finds its ticket.
    answer = mail(
        "From: Alice Smith <alice@customer.test>\nTo: support@example.com\n"
        f"Message-ID: <a1@customer.test>\nIn-Reply-To: {msg['Message-ID']}\n"
        "Subject: my printer",
        "It is out now.\n",
    )
    assert desk.pipe(answer) | {"reason": ""} == {
        "action": "commented", "ticket": "SUP-1", "reason": ""
    }  # fmt: skip
    # Our notification delivered back to us (an agent forwarding everything): a loop.
    back = desk.pipe(desk.smtp.messages[0].data)
    assert back["action"] == "ignored" and "our own message" in back["reason"]


def test_nobody_is_told_of_their_own_mail(desk: Desk) -> None:
    desk.notify("ada", "new")
    desk.notify("dana", "new,reply")
    desk("agent", "edit", "dana", "--alias", "dana.private@home.test")
    opened = mail(
        "From: Dana <dana.private@home.test>\nTo: support@example.com\nSubject: VPN down",
        "#new\nNothing connects.\n",
    )
    assert desk.pipe(opened)["ticket"] == "SUP-1"
    assert [r["recipients"] for r in desk.outbox()] == [["ada@example.com"]]
    # The agent's own mail on the ticket is no customer's reply: nobody hears of it.
    again = mail("From: dana@example.com\nTo: support@example.com\nSubject: Re: VPN down [SUP-1]")
    assert desk.pipe(again)["action"] == "worked"
    assert len(desk.outbox()) == 1


def test_a_customers_reply_mails_the_assignee_with_what_they_wrote(desk: Desk) -> None:
    desk("config", "set", "notify_min_interval_seconds", "0")
    desk.notify("ada", "new,reply")
    opened = mail("From: Megan One <xxx@gmail.com>\nTo: support@example.com\nSubject: Test", "Hi\n")
    assert desk.pipe(opened)["ticket"] == "SUP-1"
    desk("--agent", "ada", "ticket", "set", "SUP-1", "--assign", "dana")
    desk.send()
    assert [to for to, _ in desk.sent_to()] == ["ada@example.com", "dana@example.com"]

    # A real Gmail reply (talon's corpus), with the ticket's token added to its subject.
    gmail = (CORPUS / "talon/tests/fixtures/standard_replies/gmail.eml").read_bytes()
    reply = gmail.replace(b"Subject: Re: Test", b"Subject: Re: Test [SUP-1]")
    assert desk.pipe(reply)["action"] == "commented"
    assert [r["recipients"] for r in desk.outbox()[2:]] == [["dana@example.com"]]
    desk.send()
    ((to, msg),) = desk.sent_to(start=2)
    text = body(msg)
    assert to == "dana@example.com" and "Reply from Megan One <xxx@gmail.com>, " in text
    assert "Hello" in text and "wrote:" not in text and "> Hi" not in text  # visible text only
    assert "Status: new. Assignee: dana." in text
    gmail_id = "<CAKsfaBW4hj0Gek6TwbR3erng4P1y0CZzJ0d=pXtCNnYnbe7PLg@mail.gmail.com>"
    assert msg["In-Reply-To"].strip() == gmail_id  # folded: it is a long one

    # A real vacation auto-reply (sisimai's corpus) on the ticket is machine mail: no news.
    vacation = (CORPUS / "sisimai/maildir/bsd/rfc3834-03.eml").read_bytes()
    vacation = vacation.replace(b"Subject: Auto reply: Nyaan", b"Subject: Auto reply: [SUP-1]")
    assert desk.pipe(vacation)["action"] == "ignored"
    assert len(desk.outbox()) == 3


def test_assignment_mails_the_assignee_unless_they_took_it_themselves(desk: Desk) -> None:
    desk("config", "set", "notify_min_interval_seconds", "0")
    desk.pipe(CUSTOMER)
    assert desk.outbox() == []  # nobody chose `new`
    desk("--agent", "dana", "ticket", "set", "SUP-1", "--assign", "dana")
    assert desk.outbox() == []
    desk("--agent", "dana", "ticket", "set", "SUP-1", "--assign", "eve")
    desk("--agent", "ada", "ticket", "set", "SUP-1", "--assign", "eve", "--status", "pending")
    desk.notify("ada", "none")
    desk("--agent", "eve", "ticket", "set", "SUP-1", "--assign", "ada")
    desk("agent", "add", "root", "--email", "root@localhost")  # as the first user gets
    desk("--agent", "eve", "ticket", "set", "SUP-1", "--assign", "root")
    assert [r["recipients"] for r in desk.outbox()] == [["eve@example.com"]]  # once, by dana
    desk.send()
    ((to, msg),) = desk.sent_to()
    assert to == "eve@example.com" and "Assigned to you by dana, " in body(msg)


def test_a_mail_that_fails_or_bounces_mails_the_assignee(desk: Desk) -> None:
    desk("config", "set", "notify_min_interval_seconds", "0")
    desk.pipe(CUSTOMER)
    desk("--agent", "ada", "ticket", "set", "SUP-1", "--assign", "dana")
    desk.send()
    desk("reply", "SUP-1", "--body-stdin", input=b"Unplug it.\n")
    desk.smtp.fail_next(1, 550, "5.1.1 mailbox unknown")
    report = desk.send()
    assert report["failed"] == 1
    failed = desk.outbox()[-1]
    assert (failed["recipients"], failed["status"]) == (["dana@example.com"], "queued")
    desk.send()
    ((_, msg),) = desk.sent_to(start=1)
    text = body(msg)
    assert "Our mail to alice@customer.test was not delivered, " in text and "550" in text

    second = json.loads(
        desk("reply", "SUP-1", "--body-stdin", "--json", input=b"Try this.\n").stdout
    )
    desk.send()
    assert desk.pipe(dsn_bounce(second["message_id"]))["action"] == "commented"
    told = desk.outbox()[-1]
    assert told["recipients"] == ["dana@example.com"] and told["status"] == "queued"
    # The notification itself refused: it tells nobody, and is no note on the ticket.
    desk.smtp.refuse_recipient("dana@example.com")
    desk.send()
    assert desk.outbox()[-1]["status"] == "failed" and len(desk.outbox()) == 3
    messages = json.loads(desk("ticket", "show", "SUP-1", "--json").stdout)["messages"]
    assert not any("dana@example.com" in m["body"] for m in messages)


def test_events_within_the_interval_are_one_mail_and_a_later_one_waits_for_it(
    desk: Desk, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuidesk.outbound.sender import flush
    from tuidesk.paths import resolve_paths
    from tuidesk.storage.db import make_engine

    desk("config", "set", "notify_min_interval_seconds", "3600")
    desk.notify("ada", "new,reply")
    desk.pipe(CUSTOMER)
    desk.pipe(customer_reply(1))  # before the first mail went: folded into it
    (first,) = desk.outbox()
    desk.send()
    ((_, msg),) = desk.sent_to()
    assert msg["Message-ID"] == first["message_id"]
    text = body(msg)
    assert text.index("New ticket from Alice") < text.index("Reply from Alice")
    assert "Reply number 1." in text

    desk.pipe(customer_reply(2))
    desk.pipe(customer_reply(3))  # folded into the mail that waits
    sent, waiting = desk.outbox()
    assert waiting["status"] == "queued"
    gap = _at(waiting["next_attempt_at"]) - _at(sent["sent_at"])
    assert gap == timedelta(hours=1)
    assert desk.send()["mails"] == [] and len(desk.smtp.messages) == 1  # not due yet

    monkeypatch.setenv("SMTP_PW", SMTP_PASSWORD)  # this sender runs in this process
    engine = make_engine(db_url)
    report = flush(engine, resolve_paths().config, "test:1", now=_at(waiting["next_attempt_at"]))
    engine.dispose()
    assert [m["status"] for m in report.mails] == ["sent"]
    ((_, later),) = desk.sent_to(start=1)
    text = body(later)
    assert "Reply number 2." in text and "Reply number 3." in text and "New ticket" not in text


def _at(iso: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(iso)


def test_the_interval_counts_from_when_the_last_mail_went(cli: Cli, db_engine) -> None:  # type: ignore[no-untyped-def]
    """Storage's own times, given: no clock is read, nothing waits."""
    from sqlalchemy import select, update

    from tests.conftest import route_support
    from tuidesk.engine.parse import Address
    from tuidesk.storage import notify
    from tuidesk.storage.agents import save_agent
    from tuidesk.storage.db import session_scope, transaction
    from tuidesk.storage.models import OutgoingChannel
    from tuidesk.storage.outbox import claim_due, mark_sent
    from tuidesk.storage.tables import aware, tables, utcnow

    with session_scope(db_engine) as s:
        route_support(s)
    cli("pipe", input=CUSTOMER)
    with session_scope(db_engine) as s:
        save_agent(s, name="ada", email="ada@example.com", notify="new,reply")
        s.add(
            OutgoingChannel(
                name="main", host="h.test", port=25, from_address="s@example.com", is_default=True
            )
        )
    alice = Address("Alice", "alice@customer.test")
    t0 = utcnow()

    def reply(at: timedelta) -> None:
        with transaction(db_engine) as conn:
            notify.customer_replied(conn, 1, sender=alice, text=f"at {at}", now=t0 + at)

    def rows() -> list[Any]:
        with db_engine.connect() as conn:
            outbox = tables(conn).outbox
            return conn.execute(select(outbox).order_by(outbox.c.id)).all()

    with transaction(db_engine) as conn:
        notify.ticket_opened(conn, 1, sender=alice, requester=alice, text="hi", now=t0)
        (claimed,) = claim_due(conn, "h", t0)
        mark_sent(conn, claimed, "h", {}, t0 + timedelta(seconds=5))
    reply(timedelta(seconds=30))
    reply(timedelta(seconds=60))
    first, second = rows()
    assert aware(second.next_attempt_at) == t0 + timedelta(seconds=125)
    assert b"at 0:00:30" in second.raw and b"at 0:01:00" in second.raw
    with transaction(db_engine) as conn:  # it failed for good: it was never read
        outbox = tables(conn).outbox
        conn.execute(update(outbox).where(outbox.c.id == second.id).values(status="failed"))
    reply(timedelta(seconds=70))
    assert aware(rows()[2].next_attempt_at) == t0 + timedelta(seconds=70)


def test_notify_aliases_and_signature_from_the_command_line_and_the_config_file(
    desk: Desk, tmp_path: Path
) -> None:
    signature = tmp_path / "sig.txt"
    signature.write_text("Dana\r\nSecond line support\n")
    desk(
        "agent", "edit", "dana", "--notify", "failed, NEW", "--alias", "Dana@Home.test",
        "--alias", "d@work.test", "--signature-file", str(signature),
    )  # fmt: skip
    agents = {a["name"]: a for a in json.loads(desk("agent", "list", "--json").stdout)}
    assert agents["dana"]["notify"] == ["new", "failed"]
    assert agents["dana"]["aliases"] == ["dana@home.test", "d@work.test"]
    assert agents["eve"]["notify"] == ["reply", "assigned", "failed"]
    assert "new,failed" in desk("agent", "list").stdout.decode()
    for bad, words in (
        (["--notify", "new,everything"], b"'everything' is not an event"),
        (["--alias", "ada@example.com"], b"ada@example.com is already ada"),
        (["--alias", "dana@example.com"], b"the agent's own address"),
        (["--alias", "not an address"], b"not a mail address"),
        (["--alias", "x@y.test", "--no-aliases"], b"choose one of"),
    ):
        proc = desk("agent", "edit", "dana", *bad, check=False)
        assert proc.returncode == 2 and words in proc.stderr, (bad, proc.stderr)

    exported = desk("config", "export").stdout.decode()
    entry = {a["name"]: a for a in tomllib.loads(exported)["agent"]}["dana"]
    assert entry["notify"] == ["new", "failed"] and entry["aliases"] == agents["dana"]["aliases"]
    assert entry["signature"] == "Dana\nSecond line support"  # blank lines around it dropped
    desk("agent", "edit", "dana", "--notify", "", "--no-aliases", "--signature-file", "/dev/null")
    dana = {a["name"]: a for a in json.loads(desk("agent", "list", "--json").stdout)}["dana"]
    assert (dana["notify"], dana["aliases"]) == ([], [])
    config = tmp_path / "desk.toml"
    config.write_text(exported)
    desk("config", "import", str(config))
    assert desk("config", "export").stdout.decode() == exported
    dana = {a["name"]: a for a in json.loads(desk("agent", "list", "--json").stdout)}["dana"]
    assert (dana["notify"], dana["aliases"]) == (["new", "failed"], entry["aliases"])
    config.write_text('[[agent]]\nname = "dana"\nemail = "dana@example.com"\nnotify = "new,bad"\n')
    proc = desk("config", "import", str(config), check=False)
    assert proc.returncode == 2 and b"'bad' is not an event" in proc.stderr
