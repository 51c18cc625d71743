"""Outbound mail end to end: `tuidesk` as a subprocess, a real aiosmtpd server on 127.0.0.1,
and the bytes that server received read back with the stdlib's parser."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import SMTP_PASSWORD as PASSWORD
from tests.conftest import Cli, add_outgoing, dsn_bounce
from tests.engine.conftest import mail
from tests.servers.smtp import SmtpServer


class Desk:
    """A database with a Support branch and an outgoing channel on the suite's SMTP server."""

    def __init__(self, cli: Cli, smtp: SmtpServer, tmp_path: Path) -> None:
        self.cli, self.smtp, self.tmp = cli, smtp, tmp_path
        cli.env["SMTP_PW"] = PASSWORD
        cli("branch", "edit", "Support", "--address", "support@example.com")

    def outgoing(self, name: str = "main", *extra: str, server: SmtpServer | None = None) -> None:
        add_outgoing(self.cli, server or self.smtp, name, *extra)

    def settings(self, **values: object) -> None:
        lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        path = self.tmp / "settings.toml"
        path.write_text("[settings]\n" + "\n".join(lines) + "\n")
        self.cli("config", "import", str(path))

    def pipe(self, raw: bytes, *args: str) -> dict:
        return json.loads(self.cli("pipe", "--json", *args, input=raw).stdout)

    def reply(self, ref: str, text: str, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return self.cli("reply", ref, "--body-stdin", *args, input=text.encode(), check=check)

    def send(self) -> tuple[int, dict]:
        proc = self.cli("send", "--json", check=False)
        return proc.returncode, json.loads(proc.stdout)

    def show(self, ref: str) -> dict:
        return json.loads(self.cli("ticket", "show", ref, "--json").stdout)

    def outbox(self) -> list[dict]:
        return json.loads(self.cli("outbox", "list", "--json").stdout)


@pytest.fixture
def desk(cli: Cli, smtp_starttls: SmtpServer, tmp_path: Path) -> Desk:
    smtp_starttls.clear()
    return Desk(cli, smtp_starttls, tmp_path)


def received(server: SmtpServer, n: int = -1) -> EmailMessage:
    return email.message_from_bytes(server.messages[n].data, policy=policy.default)  # type: ignore[return-value]


CUSTOMER = mail(
    "From: Alice Smith <alice@customer.test>\nTo: support@example.com\nCc: bob@customer.test\n"
    "Message-ID: <m1@customer.test>\nSubject: Printer on fire",
    "Help, it burns.\n",
)


# --- outgoing channels -----------------------------------------------------------------------


def test_outgoing_channels_from_the_command_line(desk: Desk) -> None:
    cli = desk.cli
    cli(
        "outgoing", "add", "stored", "--host", "smtp.example.com", "--port", "465", "--username",
        "u", "--password-stdin", "--from", "Help@Example.com", input=b"hunter2\n",
    )  # fmt: skip
    shown = cli("outgoing", "show", "stored").stdout.decode()
    assert "hunter2" not in shown and "stored encrypted" in shown
    data = json.loads(cli("outgoing", "show", "stored", "--json").stdout)
    assert (data["security"], data["from_address"], data["is_default"]) == (
        "ssl",
        "help@example.com",
        True,
    )  # fmt: skip  (port 465 means implicit TLS; the first channel is the default)
    desk.outgoing("main", "--default")
    listed = {
        o["name"]: o["is_default"] for o in json.loads(cli("outgoing", "list", "--json").stdout)
    }
    assert listed == {"main": True, "stored": False}
    refused = cli("outgoing", "remove", "main", check=False)
    assert refused.returncode == 2 and b"default" in refused.stderr
    cli("outgoing", "edit", "stored", "--name", "Help desk", "--starttls", "--port", "587")
    data = json.loads(cli("outgoing", "show", "stored", "--json").stdout)
    assert (data["from_name"], data["security"], data["port"]) == ("Help desk", "starttls", 587)
    for bad in (["--port", "0"], ["--from", "not an address"], ["--host", "bad host"]):
        proc = cli("outgoing", "edit", "stored", *bad, check=False)
        assert proc.returncode == 2, bad
    assert (
        cli(
            "outgoing",
            "add",
            "x",
            "--host",
            "h",
            "--port",
            "25",
            "--username",
            "u",
            "--from",
            "a@b.test",
            check=False,
        ).returncode
        == 2
    )  # fmt: skip  (no password)

    exported = cli("config", "export").stdout.decode()
    assert "[[outgoing]]" in exported and "hunter2" not in exported
    assert 'secret_ref = "SMTP_PW"' in exported  # an env reference travels; a stored one not
    cli("outgoing", "remove", "stored")
    path = desk.tmp / "config.toml"
    path.write_text(exported)
    cli("config", "import", str(path))
    names = [o["name"] for o in json.loads(cli("outgoing", "list", "--json").stdout)]
    assert names == ["main", "stored"]


def test_outgoing_test_names_the_failing_step(desk: Desk) -> None:
    desk.outgoing()
    ok = json.loads(desk.cli("outgoing", "test", "main", "--json").stdout)
    assert ok["ok"] and [s["step"] for s in ok["steps"]] == ["dns", "connect", "tls", "login"]
    desk.cli("outgoing", "test", "main", "--send-to", "admin@example.com")
    test_mail = received(desk.smtp)
    assert test_mail["To"] == "admin@example.com" and "tuidesk test mail" in test_mail["Subject"]
    desk.cli.env["SMTP_PW"] = "wrong"
    proc = desk.cli("outgoing", "test", "main", "--json", check=False)
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and result["failed_step"] == "login"
    assert "wrong" not in proc.stdout.decode()


# --- replies ---------------------------------------------------------------------------------


def test_a_reply_goes_out_in_the_customers_thread(desk: Desk) -> None:
    desk.outgoing()
    assert desk.pipe(CUSTOMER)["ticket"] == "SUP-1"
    attachment = desk.tmp / "invoice.pdf"
    attachment.write_bytes(b"%PDF-1.4 not really\x00\xff")
    proc = desk.reply(
        "SUP-1", "We are on it.\n", "--cc", "carol@customer.test", "--attach", str(attachment),
        "--status", "pending", "--quote", "--reply-all", "--json",
    )  # fmt: skip
    queued = json.loads(proc.stdout)
    assert queued["ticket"] == "SUP-1" and queued["status"] == "pending"
    assert queued["recipients"] == [
        "alice@customer.test",
        "carol@customer.test",
        "bob@customer.test",
    ]
    assert desk.smtp.messages == []  # stored first, sent by `tuidesk send`

    code, report = desk.send()
    assert code == 0 and (report["sent"], report["queued"], report["failed"]) == (1, 0, 0)
    got = desk.smtp.messages[0]
    assert got.mail_from == "support@example.com" and got.tls and got.auth_user == "support"
    assert sorted(got.rcpt_tos) == sorted(queued["recipients"])
    msg = received(desk.smtp)
    assert str(msg["From"]) == "Support <support@example.com>"
    assert str(msg["To"]) == "Alice Smith <alice@customer.test>"
    assert {a.addr_spec for a in msg["Cc"].addresses} == {
        "carol@customer.test",
        "bob@customer.test",
    }
    assert msg["Subject"] == "Re: Printer on fire [SUP-1]"
    assert msg["Message-ID"] == queued["message_id"] and msg["Message-ID"].endswith("@example.com>")
    assert msg["In-Reply-To"] == "<m1@customer.test>"
    assert msg["References"] == "<m1@customer.test>"
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body.startswith("We are on it.\n") and "> Help, it burns." in body
    (part,) = msg.iter_attachments()
    assert part.get_filename() == "invoice.pdf" and part.get_content() == attachment.read_bytes()

    ticket = desk.show("SUP-1")
    out = ticket["messages"][-1]
    assert ticket["status"] == "pending"
    assert (out["direction"], out["message_id"], out["body"]) == (
        "out", queued["message_id"], "We are on it.\n",
    )  # fmt: skip
    assert [a["filename"] for a in out["attachments"]] == ["invoice.pdf"]
    assert out["delivery"] == {"status": "sent", "error": None, "tries": 1}
    assert ticket["messages"][0]["delivery"] is None  # the customer's mail
    assert desk.outbox()[0]["status"] == "sent"

    html = desk.tmp / "fixed.html"
    html.write_text("<p>Fixed.</p>")
    desk.reply("SUP-1", "Fixed.\n", "--html-file", str(html))
    desk.send()
    second = received(desk.smtp)
    assert second.get_body(("html",)).get_content().strip() == "<p>Fixed.</p>"
    assert second["In-Reply-To"] == "<m1@customer.test>"  # still the customer's last message
    assert second["Subject"] == "Re: Printer on fire [SUP-1]"  # no "Re: Re:" growth


def test_a_stranger_cannot_reply_into_a_ticket_nor_be_copied_by_reply_all(desk: Desk) -> None:
    """A guessed token opens a new ticket linked to the real one (participants, the default);
    with replies unrestricted the stranger's mail joins, but --reply-all copies nobody it
    brought along."""
    desk.outgoing()
    assert desk.pipe(CUSTOMER)["ticket"] == "SUP-1"
    stranger = mail(
        "From: mallory@evil.test\nTo: support@example.com\nCc: eve@evil.test\n"
        "Subject: Re: Printer on fire [SUP-1]",
        "Please send the invoice to my address instead.\n",
    )
    dry = json.loads(desk.cli("pipe", "--dry-run", "--json", input=stranger).stdout)
    assert (dry["action"], dry["ticket"], dry["linked"]) == ("created", None, "SUP-1")
    out = desk.pipe(stranger)
    assert (out["action"], out["ticket"]) == ("created", "SUP-2")
    assert out["reason"] == "reply from a non-participant to SUP-1"
    assert desk.show("SUP-2")["linked"] == "SUP-1"
    assert desk.show("SUP-1")["linked_from"] == ["SUP-2"]
    assert b"opened by a reply to SUP-1" in desk.cli("ticket", "show", "SUP-2").stdout
    bob = mail(
        "From: bob@customer.test\nTo: support@example.com\nIn-Reply-To: <m1@customer.test>\n"
        "Subject: Re: Printer on fire", "Same here.\n",
    )  # fmt: skip
    joined = desk.pipe(bob)
    assert (joined["action"], joined["ticket"]) == ("commented", "SUP-1")

    desk.cli("config", "set", "restrict_replies", "false")
    again = stranger.replace(b"instead.", b"instead!")
    joined = desk.pipe(again)
    assert (joined["action"], joined["ticket"]) == ("commented", "SUP-1")
    queued = json.loads(desk.reply("SUP-1", "Noted.\n", "--reply-all", "--json").stdout)
    assert queued["recipients"] == ["alice@customer.test"]  # not eve, whom mallory copied

    for word, stored in (("participants", "participants"), ("TRUE", True), ("no", False)):
        desk.cli("config", "set", "restrict_replies", word)
        got = desk.cli("config", "get", "restrict_replies", "--json").stdout
        assert json.loads(got) == stored
    refused = desk.cli("config", "set", "restrict_replies", "maybe", check=False)
    assert refused.returncode == 2 and b"participants, true or false" in refused.stderr


def test_a_reply_is_refused_whole_when_a_header_would_break(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    for cc in ("eve@evil.test\r\nBcc: victim@example.net", "eve@evil.test\nBcc: x@y.test", "nope"):
        proc = desk.reply("SUP-1", "hi\n", "--cc", cc, check=False)
        assert proc.returncode == 2
        assert b"refused" in proc.stderr or b"not a plain" in proc.stderr
    assert desk.outbox() == [] and len(desk.show("SUP-1")["messages"]) == 1


def test_without_an_outgoing_channel_nothing_is_stored(desk: Desk) -> None:
    desk.pipe(CUSTOMER)
    proc = desk.reply("SUP-1", "hi\n", check=False)
    assert proc.returncode == 2 and b"outgoing add" in proc.stderr
    assert desk.outbox() == [] and len(desk.show("SUP-1")["messages"]) == 1
    missing = desk.reply("SUP-99", "hi\n", check=False)
    assert missing.returncode == 2 and b"no ticket SUP-99" in missing.stderr
    usage = desk.cli("reply", "SUP-1", check=False)  # no text given
    assert usage.returncode == 2


def test_a_note_is_stored_and_never_mailed(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    desk.cli("note", "SUP-1", "--body-stdin", input=b"Customer is a VIP.\n")
    note = desk.show("SUP-1")["messages"][-1]
    assert (note["direction"], note["body"]) == ("note", "Customer is a VIP.\n")
    desk.send()
    assert desk.smtp.messages == [] and desk.outbox() == []


def test_implicit_tls(desk: Desk, smtp_ssl: SmtpServer) -> None:
    smtp_ssl.clear()
    desk.outgoing("tls", server=smtp_ssl)
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "Over implicit TLS.\n")
    assert desk.send()[0] == 0
    assert smtp_ssl.messages[0].tls and smtp_ssl.messages[0].auth_user == "support"


# --- the outbox ------------------------------------------------------------------------------


def test_a_wrong_password_keeps_the_mail_queued(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "hi\n")
    desk.cli.env["SMTP_PW"] = "wrong"
    code, report = desk.send()
    assert code == 1 and report["queued"] == 1 and "login refused" in report["mails"][0]["error"]
    assert "wrong" not in json.dumps(report)
    (row,) = desk.outbox()
    assert (row["status"], row["tries"]) == ("queued", 1)
    listed = json.loads(desk.cli("outgoing", "list", "--json").stdout)[0]
    assert "login refused" in listed["last_error"]


def test_a_temporary_refusal_is_retried_then_sent(desk: Desk) -> None:
    desk.outgoing()
    desk.settings(outbox_retry_seconds=[0])
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "hi\n")
    desk.smtp.fail_next(1, 451, "4.3.0 try again later")
    code, report = desk.send()
    assert code == 1 and report["mails"][0]["status"] == "queued"
    assert "451" in report["mails"][0]["error"]
    code, report = desk.send()
    assert code == 0 and report["sent"] == 1
    assert len(desk.smtp.messages) == 1 and desk.outbox()[0]["tries"] == 2


def test_a_temporary_refusal_waits_its_backoff(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "hi\n")
    desk.smtp.fail_next(1, 421, "4.7.0 slow down")
    desk.send()
    code, report = desk.send()  # the default first wait is a minute: nothing is due yet
    assert code == 0 and report["mails"] == [] and desk.smtp.messages == []


def test_a_permanent_refusal_fails_at_once_with_the_answer_on_the_ticket(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "hi\n")
    desk.smtp.fail_next(1, 550, "5.1.1 mailbox unknown")
    code, report = desk.send()
    assert code == 1 and report["failed"] == 1
    (row,) = desk.outbox()
    assert row["status"] == "failed" and "550" in row["error"]
    assert "[failed: " in desk.cli("ticket", "show", "SUP-1").stdout.decode()
    note = desk.show("SUP-1")["messages"][-1]
    assert (
        note["direction"] == "note" and "550" in note["body"] and "mailbox unknown" in note["body"]
    )
    desk.cli("outbox", "retry", str(row["id"]))
    assert desk.send()[0] == 0 and len(desk.smtp.messages) == 1


def test_after_the_last_try_the_mail_is_failed(desk: Desk) -> None:
    desk.outgoing()
    desk.settings(outbox_retry_seconds=[0], outbox_max_tries=2)
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "hi\n")
    desk.smtp.fail_next(5, 451)
    assert desk.send()[1]["queued"] == 1
    assert desk.send()[1]["failed"] == 1
    assert "failed 2 times" in desk.show("SUP-1")["messages"][-1]["body"]
    assert desk.send()[1]["mails"] == []


def test_a_sender_that_died_mid_send_leaves_the_mail_to_be_sent_again(
    desk: Desk, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash edge the docs describe: claimed, maybe sent, never marked. Once the dead
    sender's lease runs out, the next pass sends it (again, with the same Message-ID)."""
    from datetime import timedelta

    from tuidesk.outbound.sender import flush
    from tuidesk.paths import resolve_paths
    from tuidesk.storage.db import make_engine, transaction
    from tuidesk.storage.outbox import CLAIM_S, claim_due
    from tuidesk.storage.tables import utcnow

    monkeypatch.setenv("SMTP_PW", PASSWORD)  # this test's sender runs in-process
    desk.outgoing()
    desk.pipe(CUSTOMER)
    queued = json.loads(desk.reply("SUP-1", "hi\n", "--json").stdout)
    engine = make_engine(db_url)
    now = utcnow()
    with transaction(engine) as conn:
        assert len(claim_due(conn, "dead-host:1", now)) == 1
    config = resolve_paths().config
    assert flush(engine, config, "alive:2", now=now + timedelta(seconds=CLAIM_S - 5)).mails == []
    report = flush(engine, config, "alive:2", now=now + timedelta(seconds=CLAIM_S + 5))
    engine.dispose()
    assert [m["status"] for m in report.mails] == ["sent"]
    assert received(desk.smtp)["Message-ID"] == queued["message_id"]


# --- acknowledgements, bounces and loops -----------------------------------------------------


def test_a_new_ticket_is_acknowledged(desk: Desk) -> None:
    desk.outgoing()
    desk.settings(acknowledge=True, ack_subject="We got it: {title}", ack_max_per_hour=3)
    desk.pipe(CUSTOMER)
    (ack,) = desk.outbox()
    assert (ack["kind"], ack["ticket"], ack["recipients"]) == (
        "ack",
        "SUP-1",
        ["alice@customer.test"],
    )
    desk.send()
    msg = received(desk.smtp)
    assert msg["Subject"] == "We got it: Printer on fire [SUP-1]"
    assert msg["Auto-Submitted"] == "auto-replied" and msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<m1@customer.test>"
    assert "Alice Smith" in msg.get_content() and "SUP-1" in msg.get_content()
    assert [m["direction"] for m in desk.show("SUP-1")["messages"]] == ["in", "out"]

    desk.pipe(mail("From: noreply@shop.test\nTo: support@example.com\nSubject: Your order"))
    desk.pipe(mail("From: alice@customer.test\nSubject: Re: Printer on fire [SUP-1]", "more\n"))
    assert len(desk.outbox()) == 1  # no ack to no-reply, none for a comment
    odd = mail('From: "odd one"@customer.test\nTo: support@example.com\nSubject: Quoted local')
    assert desk.pipe(odd)["action"] == "created"  # no address to answer: a ticket, no ack
    assert len(desk.outbox()) == 1
    eml = desk.tmp / "old.eml"
    eml.write_bytes(mail("From: dave@customer.test\nTo: support@example.com\nSubject: Old"))
    desk.cli("import", str(eml))
    assert len(desk.outbox()) == 1  # imported mail is history: never acknowledged


def test_a_bounce_of_our_reply_marks_it_failed_and_notes_the_ticket(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    queued = json.loads(desk.reply("SUP-1", "hi\n", "--json").stdout)
    desk.send()
    out = desk.pipe(dsn_bounce(queued["message_id"]))
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")
    (row,) = desk.outbox()
    assert row["status"] == "failed" and "bounce" in row["error"]
    assert desk.show("SUP-1")["messages"][-1]["direction"] == "note"


def test_our_own_mail_coming_back_opens_no_ticket(desk: Desk) -> None:
    desk.outgoing()
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "hi\n")
    desk.send()
    ours = desk.smtp.messages[0].data
    out = desk.pipe(ours)  # a misconfigured alias delivers our reply to our own inbox
    assert out["action"] == "ignored" and "loop" in out["reason"]
    forwarded = ours.replace(b"From: Support <support@example.com>", b"From: fwd@customer.test")
    out = desk.pipe(forwarded)  # resent by a forwarder that rewrote From: same Message-ID
    assert out["action"] == "ignored" and "our own message" in out["reason"]
    assert len(json.loads(desk.cli("ticket", "list", "--json").stdout)) == 1


# --- mapping incoming to outgoing ------------------------------------------------------------


def test_replies_go_out_through_the_channel_the_ticket_came_in_on(desk: Desk) -> None:
    cli = desk.cli
    desk.outgoing("main")
    cli(
        "outgoing", "add", "sales", "--host", "127.0.0.1", "--port", str(desk.smtp.port),
        "--starttls", "--username", "support", "--password-env", "SMTP_PW",
        "--from", "sales@example.com", "--name", "Sales", "--ca-file", desk.smtp.ca_file,
    )  # fmt: skip
    cli(
        "channel", "add", "sales-box", "--host", "127.0.0.1", "--port", "993", "--username",
        "sales@example.com", "--password-env", "SMTP_PW",
    )  # fmt: skip
    cli(
        "channel", "add", "other-box", "--host", "127.0.0.1", "--port", "993", "--username",
        "other@example.com", "--password-env", "SMTP_PW",
    )  # fmt: skip
    first = mail("From: a@customer.test\nMessage-ID: <a@c>\nSubject: one")
    second = mail("From: b@customer.test\nMessage-ID: <b@c>\nSubject: two")
    third = mail("From: c@customer.test\nMessage-ID: <c@c>\nSubject: three")
    desk.pipe(first, "--channel", "sales-box")  # same address as the `sales` outgoing
    desk.pipe(second, "--channel", "other-box")  # no match: the default
    desk.pipe(third, "--channel", "other-box")
    assert cli("channel", "edit", "other-box", "--outgoing", "nope", check=False).returncode == 2
    for ref in ("SUP-1", "SUP-2"):
        desk.reply(ref, "hi\n")
    cli("channel", "edit", "other-box", "--outgoing", "sales")
    desk.reply("SUP-3", "hi\n")
    desk.send()
    senders = {received(desk.smtp, n)["To"].addresses[0].addr_spec: received(desk.smtp, n)["From"]
               for n in range(3)}  # fmt: skip
    assert senders == {
        "a@customer.test": "Sales <sales@example.com>",
        "b@customer.test": "Support <support@example.com>",
        "c@customer.test": "Sales <sales@example.com>",
    }


def test_watch_sends_what_is_queued_while_it_runs(desk: Desk) -> None:
    import signal
    import subprocess
    import sys

    desk.outgoing()
    desk.pipe(CUSTOMER)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "watch"], env=desk.cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        desk.reply("SUP-1", "Sent by the daemon.\n")
        (got,) = desk.smtp.wait_for(1, timeout=30)
        assert b"Sent by the daemon." in got.data
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert b"sending the outbox" in err and b"stopped" in err
    assert desk.outbox()[0]["status"] == "sent"


async def test_the_console_sends_the_outbox_while_it_runs(
    desk: Desk, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from tuidesk.paths import resolve_paths
    from tuidesk.screens.app import TuideskApp
    from tuidesk.storage.db import make_engine

    monkeypatch.setenv("SMTP_PW", PASSWORD)  # the console's sender runs in this process
    desk.outgoing()
    desk.pipe(CUSTOMER)
    desk.reply("SUP-1", "Sent from the console's worker.\n")
    engine = make_engine(db_url)
    app = TuideskApp(engine, config_dir=resolve_paths().config)
    async with app.run_test() as pilot:
        for _ in range(200):
            if desk.smtp.messages:
                break
            await asyncio.sleep(0.05)
        await pilot.press("q")
    engine.dispose()
    assert b"Sent from the console's worker." in desk.smtp.messages[0].data
