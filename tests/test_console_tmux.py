"""The real console under tmux, end to end: another process pipes a mail in, it appears in the
list without a key press, the agent opens it and replies, and the reply reaches the suite's
SMTP server."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.servers.smtp import SmtpServer
from tests.servers.tmux import Tmux


@pytest.fixture
def console(mailer: Cli):  # type: ignore[no-untyped-def]
    tmux = Tmux(mailer.env | {"TUIDESK_AGENT": "alice"})
    yield tmux
    tmux.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_piped_mail_appears_and_the_reply_reaches_the_customer(
    mailer: Cli, console: Tmux, smtp_starttls: SmtpServer
) -> None:
    console.start()
    console.wait_for("Welcome to tuidesk")  # no channel, no ticket yet
    raw = mail(
        "From: Carol <carol@customer.test>\nTo: support@example.com\n"
        "Message-ID: <tmux-1@customer.test>\nSubject: Scanner jams [bold]twice[/]",
    )
    mailer("pipe", input=raw)  # another process, while the console runs
    screen = console.wait_for("Scanner jams [bold]")  # markup shown as text, not applied
    assert "SUP-1" in screen
    console.keys("Enter")
    console.wait_for("Scanner jams [bold]twice[/]")  # the ticket view, whole title
    console.keys("r")
    console.wait_for("Quote the last message")
    console.type("Please clean the rollers.")
    console.wait_for("Please clean the rollers.")  # typed, as the agent sees it
    console.keys("C-s")
    (sent,) = smtp_starttls.wait_for(1, timeout=30)  # the console's own engine sent it
    assert sent.rcpt_tos == ["carol@customer.test"]
    assert b"Please clean the rollers." in sent.data
    assert b"Subject: Re: Scanner jams [bold]twice[/] [SUP-1]" in sent.data
