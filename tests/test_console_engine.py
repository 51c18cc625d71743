"""The console's own engine: while it runs it reads the active mailboxes (IMAP IDLE on the
suite's Dovecot) and says when it last read them, talking to the UI through messages only."""

from __future__ import annotations

import asyncio

import pytest

from tests.engine.conftest import mail
from tests.test_imap import add_channel
from tuidesk.paths import resolve_paths
from tuidesk.screens.app import TuideskApp
from tuidesk.storage.db import make_engine
from tuidesk.widgets.ticket_list import TicketList


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_console_reads_mail_itself_and_shows_the_last_poll(
    cli,
    dovecot,
    mailbox,
    db_url,
    monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setenv("TUIDESK_TEST_PW", cli.env["TUIDESK_TEST_PW"])  # the engine runs here
    add_channel(cli, dovecot, mailbox)
    dovecot.append(mailbox, "INBOX", mail("From: erin@customer.test\nSubject: Fax is down"))
    engine = make_engine(db_url)
    app = TuideskApp(engine, config_dir=resolve_paths().config)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            status = ""
            for _ in range(600):  # generous: the engine connects, polls, commits
                await pilot.pause()
                tickets = app.screen.query(TicketList)
                status = str(app.screen.query_one("#status").render()) if tickets else ""
                if tickets and tickets.first().ids == [1] and "support read" in status:
                    break
                await asyncio.sleep(0.05)
            assert app.screen.query_one(TicketList).ids == [1], status
            assert "support read" in status
            await pilot.press("q")
    finally:
        engine.dispose()
