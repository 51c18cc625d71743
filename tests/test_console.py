"""The minimal console: the newest tickets, with mail content shown as text, never markup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import mail
from tests.snapshots import assert_snapshot
from tuidesk.ingest import Ingestor
from tuidesk.screens.app import TuideskApp
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.branches import save_branch
from tuidesk.storage.db import make_engine, session_scope


@pytest.fixture
def engine(_isolated_home: Path, sqlite_template: Path):  # type: ignore[no-untyped-def]
    import shutil

    path = _isolated_home / "tuidesk.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_scope(engine) as s:
        save_branch(s, name="Support", key="SUP", addresses=["support@example.com"], domains=[])
    ingestor = Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import")
    ingestor.ingest(mail("From: alice@customer.test\nSubject: Printer on fire"))
    ingestor.ingest(
        mail("From: eve@evil.test\nSubject: [bold red]not bold[/] \x1b[31m[link=http://x]y")
    )
    yield engine
    engine.dispose()


async def test_the_console_lists_tickets_newest_first_as_plain_text(engine):
    app = TuideskApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        await pilot.pause()
        table = app.query_one("#tickets")
        assert table.row_count == 2
        first = [str(c) for c in table.get_row_at(0)]
        assert first[0] == "SUP-2" and first[4] == "[bold red]not bold[/] [link=http://x]y"
        await pilot.press("r")
        assert table.row_count == 2
        assert_snapshot(app.export_screenshot(), "console_ticket_list")
