"""A ticket the agent opens from the console (N on the list): a conversation the agent starts,
its first mail queued like any reply, or a phone call kept as a note. The same open_ticket as
`tuidesk ticket new`, so a refusal names its field and is shown under it; branches and queues
are read, and the ticket is written, in workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Select, Static

from tuidesk.engine.refs import parse_ref
from tuidesk.engine.text import clean_line
from tuidesk.paths import resolve_paths
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.console_queries import filters
from tuidesk.storage.db import DatabaseUnavailable, transaction
from tuidesk.storage.new_ticket import NewTicketError, open_ticket
from tuidesk.widgets.form import FieldSpec, Form, widget_id
from tuidesk.widgets.workers import ReportsWorkerFailures

FIELDS = (
    FieldSpec("to", "To", placeholder="alice@example.com or Alice Smith <alice@example.com>"),
    FieldSpec("cc", "Cc", "list", placeholder="addresses, comma-separated"),
    FieldSpec("subject", "Subject"),
    FieldSpec("body", "Body", "block"),
    FieldSpec("branch", "Branch", "choice", help="None chosen: the default branch"),
    FieldSpec("queue", "Queue", "choice"),
    FieldSpec(
        "note_only", "Note only", "flag",
        help="A phone call: the text is kept as an internal note, nothing is mailed",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class NewTicket:
    """What the screen dismisses with: the ticket opened and what to tell the agent."""

    number: int
    notice: str


class NewTicketScreen(ReportsWorkerFailures, Screen[NewTicket | None]):
    """Dismisses with the ticket opened, or None when left without opening one."""

    CSS_PATH = "new_ticket.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Open ticket", id="new_ticket.save", priority=True,
                tooltip="Open the ticket and queue its first mail (or add the note)"),
        Binding("escape", "cancel", "Back", id="new_ticket.cancel",
                tooltip="Leave without opening a ticket"),
    ]  # fmt: skip

    class Choices(Message):
        def __init__(self, branches: list[tuple[str, str]], queues: list[tuple[str, str]]) -> None:
            super().__init__()
            self.branches = branches
            self.queues = queues

    class Refused(Message):
        """Nothing was written: these fields to fix ("" for what names none)."""

        def __init__(self, errors: dict[str, str]) -> None:
            super().__init__()
            self.errors = errors

    class Done(Message):
        def __init__(self, opened: NewTicket) -> None:
            super().__init__()
            self.opened = opened

    def __init__(self, engine: Engine, *, agent_id: int) -> None:
        super().__init__()
        self.engine = engine
        self.agent_id = agent_id
        self._saving = False  # a save under way: Ctrl+S again would open a second ticket

    def compose(self) -> ComposeResult:
        with Vertical(id="new-ticket"):
            yield Static(Text("New ticket"), id="new-ticket-title")
            yield Form(FIELDS, {}, id="new-ticket-form")
            yield Static("", id="new-ticket-result")
        yield Footer()

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    def on_mount(self) -> None:
        self.query_one(f"#{widget_id('to')}").focus()
        self._read_choices()

    @work(thread=True, exclusive=True, group="choices", exit_on_error=False)
    def _read_choices(self) -> None:
        with self.engine.connect() as conn:
            found = filters(conn)
        branches = [(f"{name} ({key})", key) for key, name in found.branches]
        self.post_message(self.Choices(branches, [(name, name) for name, _ in found.queues]))

    def on_new_ticket_screen_choices(self, message: Choices) -> None:
        self.query_one(f"#{widget_id('branch')}", Select).set_options(message.branches)
        self.query_one(f"#{widget_id('queue')}", Select).set_options(message.queues)

    def action_save(self) -> None:
        if self._saving:
            return
        self._saving = True
        self._report("Opening...")
        values, _ = self.form.read()  # no field of this form can be unreadable
        self._save(values)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, values: dict[str, Any]) -> None:
        try:
            with transaction(self.engine) as conn:
                opened = open_ticket(
                    conn, BlobStore(resolve_paths().blobs), agent_id=self.agent_id,
                    to=values["to"], subject=values["subject"], body=values["body"],
                    cc=values["cc"], branch=values["branch"], queue=values["queue"],
                    note_only=values["note_only"], source="console",
                )  # fmt: skip
        except NewTicketError as exc:
            self.post_message(self.Refused(exc.errors))
            return
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            self.post_message(self.Refused({"": f"not opened: {exc}"}))
            return
        parsed = parse_ref(opened.ref)
        assert parsed is not None  # a ref we made
        if opened.mail is None:
            notice = f"{opened.ref} opened with a note"
        else:
            notice = f"{opened.ref} opened: mail queued for {', '.join(opened.mail.recipients)}"
        self.post_message(self.Done(NewTicket(parsed[1], notice)))

    def on_new_ticket_screen_refused(self, message: Refused) -> None:
        self._saving = False
        self.form.show_errors(message.errors)
        self._report(f"Not opened: {len(message.errors)} to fix, marked in red")

    def on_new_ticket_screen_done(self, message: Done) -> None:
        if self.is_current:
            self.dismiss(message.opened)

    def _report(self, line: str) -> None:
        result = self.query_one("#new-ticket-result", Static)
        result.update(Text(clean_line(line, 200)))
        result.display = True

    def action_cancel(self) -> None:
        self.dismiss(None)
