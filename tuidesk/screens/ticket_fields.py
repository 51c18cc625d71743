"""`c` on a ticket: its custom fields (those of its ticket type) in a small form. Ctrl+S saves
what changed through update_ticket, as `ticket set --field` does, in a worker; each refused
value is shown under its field and nothing is written. Like every change on the ticket view it
names the version the agent saw, so a ticket changed meanwhile is not overwritten."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from sqlmodel import Session, select
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from tuidesk.engine.text import clean_line
from tuidesk.storage.db import transaction
from tuidesk.storage.history import Actor
from tuidesk.storage.models import TicketType
from tuidesk.storage.ticket_actions import (
    FieldsRefused,
    TicketChanged,
    TicketError,
    update_ticket,
)
from tuidesk.storage.ticket_types import fields_of
from tuidesk.widgets.form import FieldSpec, Form
from tuidesk.widgets.workers import ReportsWorkerFailures

_HOW = {"number": "a number", "date": "a date, YYYY-MM-DD", "choice": "text", "text": "text"}


def type_fields(session: Session, type_name: str) -> tuple[dict[str, Any], ...]:
    """The fields of the ticket type named so (none when it went meanwhile); for a worker."""
    found = session.exec(select(TicketType).where(TicketType.name == type_name)).first()
    return tuple(fields_of(session, found)) if found is not None else ()


def field_specs(fields: list[dict[str, Any]]) -> tuple[FieldSpec, ...]:
    """One line of text per custom field; its help says the kind and whether it is required."""
    return tuple(
        FieldSpec(
            f["name"],
            clean_line(f["name"], 24) + (" *" if f["required"] else ""),
            help=_HOW.get(f["kind"], f["kind"])
            + ("; required" if f["required"] else "; empty clears it"),
        )
        for f in fields
    )


class FieldsScreen(ReportsWorkerFailures, Screen[str | None]):
    """Dismisses with what to tell the agent once saved, or None when left unsaved."""

    CSS_PATH = "edit.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="fields.save", tooltip="Check and save the fields"),
        Binding("escape", "cancel", "Back", id="fields.cancel", tooltip="Leave without saving"),
    ]

    class Refused(Message):
        def __init__(self, errors: dict[str, str]) -> None:
            super().__init__()
            self.errors = errors

    class Done(Message):
        def __init__(self, said: str) -> None:
            super().__init__()
            self.said = said

    def __init__(
        self,
        engine: Engine,
        number: int,
        ref: str,
        expected: datetime,
        fields: list[dict[str, Any]],
        values: dict[str, Any],
        *,
        actor: Actor,
    ) -> None:
        """`fields`: the ticket type's fields the agent may see; `values`: the ticket's."""
        super().__init__()
        self.engine = engine
        self.number = number
        self.ref = ref
        self.expected = expected
        self.specs = field_specs(fields)
        self.values = {f["name"]: _text(values.get(f["name"])) for f in fields}
        self.actor = actor
        self._saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="edit"):
            yield Static(Text(f"Custom fields of {clean_line(self.ref)}"), id="edit-title")
            yield Form(self.specs, self.values, id="fields-form")
        yield Footer()

    def action_save(self) -> None:
        if self._saving:
            return
        values, _ = self.query_one(Form).read()
        changed = {k: v for k, v in values.items() if v != self.values[k]}
        if not changed:
            self.dismiss(None)
            return
        self._saving = True
        self._save(changed)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, changed: dict[str, str]) -> None:
        try:
            with transaction(self.engine) as conn:
                done = update_ticket(
                    conn, str(self.number), expected=self.expected, actor=self.actor,
                    fields=changed,
                )  # fmt: skip
        except FieldsRefused as exc:
            self.post_message(self.Refused(exc.errors))
        except TicketChanged as exc:
            self.post_message(self.Done(f"{exc}: nothing written, reloaded"))
        except TicketError as exc:
            self.post_message(self.Refused({"": str(exc)}))  # shown above the fields
        else:
            said = ", ".join(f"{k} {v or 'cleared'}" for k, v in done.changes["fields"].items())
            self.post_message(self.Done(f"{done.ref}: {said}"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Beside ReportsWorkerFailures' handler: a save that failed (the database gone) is
        shown by the app, and the agent may save again."""
        if event.worker.group == "save" and event.state is WorkerState.ERROR:
            self._saving = False

    def on_fields_screen_refused(self, message: Refused) -> None:
        self._saving = False
        self.query_one(Form).show_errors(message.errors)

    def on_fields_screen_done(self, message: Done) -> None:
        if self.is_current:
            self.dismiss(message.said)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
