"""A minimal console until the console issue: the newest tickets, read-only, and the outbox
sent in a worker thread while it runs."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

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

    def __init__(self, engine: Engine, *, config_dir: Path | None = None) -> None:
        """With `config_dir` (where the channels' secrets are), the outbox is sent while the
        console runs, as `tuidesk watch` does."""
        super().__init__()
        self.engine = engine
        self.config_dir = config_dir
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="tickets", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Ref", "Status", "Priority", "Requester", "Title")
        self.action_refresh()
        if self.config_dir is not None:
            self.run_worker(self._send_outbox, thread=True, group="engine", name="outbox")

    def on_unmount(self) -> None:
        self._stop.set()

    def _send_outbox(self) -> None:
        from tuidesk.outbound.worker import run_sender

        holder = f"{socket.gethostname()}:{os.getpid()}:console"
        run_sender(self.engine, self.config_dir, holder, self._stop, self.log)  # type: ignore[arg-type]

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


def run_console(engine: Engine, config_dir: Path) -> None:
    TuideskApp(engine, config_dir=config_dir).run()
