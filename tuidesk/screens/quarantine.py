"""The quarantine, read-only: what could not become a ticket, and why. Small by nature (mail
that failed), so a DataTable of every row is fine here; retry and drop stay on the CLI for now."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tuidesk.engine.text import clean_line
from tuidesk.storage.db import read_session
from tuidesk.storage.quarantine import list_quarantine
from tuidesk.widgets.ticket_list import Clock, short_time
from tuidesk.widgets.workers import ReportsWorkerFailures


class QuarantineScreen(ReportsWorkerFailures, Screen[None]):
    CSS_PATH = "quarantine.tcss"
    BINDINGS = [Binding("escape", "back", "Back", id="quarantine.back")]

    class Loaded(Message):
        def __init__(self, items: list[dict]) -> None:
            super().__init__()
            self.items = items

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Static(
            Text("Quarantine: retry with `tuidesk quarantine retry ID`", style="bold"),
            id="quarantine-title",
        )
        yield DataTable(id="quarantine", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ID", "When", "Source", "Size", "Reason", "Message-ID")
        table.focus()
        self._read()

    @work(thread=True, exclusive=True, group="quarantine", exit_on_error=False)
    def _read(self) -> None:
        with read_session(self.engine) as session:
            self.post_message(self.Loaded(list_quarantine(session)))

    def on_quarantine_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        now = self.clock()
        for item in message.items:
            table.add_row(
                str(item["id"]),
                short_time(datetime.fromisoformat(item["created_at"]), now),
                item["source"],
                f"{item['size']:,}",
                Text(clean_line(item["reason"], 200)),
                Text(clean_line(item["message_id"] or "", 120)),
            )

    def action_back(self) -> None:
        self.dismiss()
