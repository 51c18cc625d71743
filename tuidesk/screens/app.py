"""A minimal console until the console issue: the newest tickets, read-only."""

from __future__ import annotations

from sqlalchemy import Engine
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from tuidesk.storage.db import session_scope
from tuidesk.storage.views import list_tickets


class TuideskApp(App[None]):
    TITLE = "tuidesk"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="tickets", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Ref", "Status", "Priority", "Requester", "Title")
        self.action_refresh()

    def action_refresh(self) -> None:
        """Text cells are plain Text objects: mail content is never parsed as Rich markup."""
        from rich.text import Text

        from tuidesk.engine.text import clean_line

        table = self.query_one(DataTable)
        table.clear()
        with session_scope(self.engine) as session:
            tickets = list_tickets(session, limit=500)
        for t in tickets:
            who = t["requester"]["email"] if t["requester"] else ""
            table.add_row(
                t["ref"],
                t["status"],
                t["priority"],
                Text(clean_line(who, 60)),
                Text(clean_line(t["title"], 200)),
                key=t["ref"],
            )


def run_console(engine: Engine) -> None:
    TuideskApp(engine).run()
