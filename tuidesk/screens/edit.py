"""The add/edit form of one admin section: save with Ctrl+S, each refusal shown next to its
field; a test (Test connection, Send test mail) runs in a worker and reports step by step;
a preview shows the engine's decision for a mail under the values not yet saved; an OAuth2
channel's device-code sign-in runs in a worker too, its code shown until the admin is done.
The form's values are read before the screen opens, and saving runs in a worker as well."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Select, Static
from textual.worker import Worker, WorkerState

from tuidesk.engine.text import clean_line
from tuidesk.screens.section import FormSpec, Row, Section
from tuidesk.storage.checks import Invalid
from tuidesk.storage.db import read_session, session_scope
from tuidesk.widgets.form import Form
from tuidesk.widgets.workers import ReportsWorkerFailures


@dataclass(frozen=True)
class Saved:
    """What a save left: the key saved and the section's rows read after it."""

    key: str
    rows: list[Row]


class EditScreen(ReportsWorkerFailures, Screen[Saved | None]):
    """Dismisses with what was saved, or None when left without saving."""

    CSS_PATH = "edit.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="edit.save", tooltip="Check and save the form"),
        Binding("escape", "cancel", "Back", id="edit.cancel", tooltip="Leave without saving"),
        Binding("ctrl+t", "test", "Test", id="edit.test", tooltip="Test with these values"),
        Binding(
            "ctrl+r",
            "preview",
            "Preview",
            id="edit.preview",
            tooltip="What these values would do to a mail",
        ),  # fmt: skip
        Binding(
            "ctrl+o",
            "sign_in",
            "Sign in",
            id="edit.sign_in",
            tooltip="Sign in with a device code (OAuth2, the saved settings); tokens are kept",
        ),  # fmt: skip
    ]

    class Refused(Message):
        """The save was refused: these fields to fix (nothing was written)."""

        def __init__(self, errors: dict[str, str]) -> None:
            super().__init__()
            self.errors = errors

    class Done(Message):
        def __init__(self, saved: Saved) -> None:
            super().__init__()
            self.saved = saved

    def __init__(self, engine: Engine, section: Section, key: str | None, spec: FormSpec) -> None:
        """`spec`: the form, read by the opener in a worker (`section.form`)."""
        super().__init__()
        self.engine = engine
        self.section = section
        self.key = key
        self.spec = spec
        self._lines: list[Text] = []  # the running test's or sign-in's report
        self._saved: dict[str, Any] | None = None  # the form as it was opened
        self._sign_in = section.can_sign_in(self.spec.values)
        self._stop = threading.Event()  # ends a sign-in's wait
        self._saving = False  # a save is under way, or done and the form closing

    def compose(self) -> ComposeResult:
        with Vertical(id="edit"):
            yield Static(Text(clean_line(self.spec.title)), id="edit-title")
            yield Form(self.spec.fields, self.spec.values, id="edit-form")
            yield Static("", id="edit-result")
        yield Footer()

    def on_mount(self) -> None:
        self._saved, _ = self.form.read()

    def on_unmount(self) -> None:
        self._stop.set()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "test":
            return self.section.test_label is not None
        if action == "preview":
            return self.section.can_preview
        if action == "sign_in":
            return self._sign_in
        return True

    @on(Select.Changed)
    def _choice_changed(self, _event: Select.Changed) -> None:
        """The Sign in key comes and goes with the auth type chosen."""
        values, _ = self.form.read()
        offered = self.section.can_sign_in(values)
        if offered != self._sign_in:
            self._sign_in = offered
            self.refresh_bindings()

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    def _report(self, line: str) -> None:
        self._lines = [Text(clean_line(part)) for part in line.split("\n")]
        self._show()

    def _show(self) -> None:
        if not self.is_attached:  # a worker's line after the admin left
            return
        result = self.query_one("#edit-result", Static)
        result.display = True
        result.update(Text("\n").join(self._lines))

    def action_save(self) -> None:
        if self._saving:  # Ctrl+S again before the answer: a new one would be added twice
            return
        self._saving = True
        values, unreadable = self.form.read()
        self._save(values, unreadable)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, values: dict[str, Any], unreadable: dict[str, str]) -> None:
        try:
            with session_scope(self.engine) as session:
                saved = self.section.save(session, self.key, values)
                if unreadable:
                    raise Invalid.of(unreadable)  # rolls the save back
        except Invalid as exc:
            self.post_message(self.Refused({**unreadable, **exc.errors}))
            return
        with read_session(self.engine) as session:
            rows = self.section.rows(session)
        self.post_message(self.Done(Saved(saved, rows)))

    def on_edit_screen_refused(self, message: Refused) -> None:
        self._saving = False
        self.form.show_errors(message.errors)
        self._report(f"Not saved: {len(message.errors)} to fix, marked in red")

    def on_edit_screen_done(self, message: Done) -> None:
        if self.is_current:
            self.dismiss(message.saved)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Beside ReportsWorkerFailures' handler (Textual calls both): a save that failed is
        shown by the app, and the admin may save again."""
        if event.worker.group == "save" and event.state is WorkerState.ERROR:
            self._saving = False

    def action_cancel(self) -> None:
        self._stop.set()
        self.dismiss(None)

    def action_test(self) -> None:
        if self.section.test_label is None:
            return
        values, unreadable = self.form.read()
        if unreadable:
            self.form.show_errors(unreadable)
            return
        self.form.show_errors({})
        self._report(f"{self.section.test_label}...")
        self._run_test(values)

    @work(thread=True, exclusive=True, group="test", exit_on_error=False)
    def _run_test(self, values: dict[str, Any]) -> None:
        def report(line: str) -> None:
            self.app.call_from_thread(self._add_line, line)

        try:
            with read_session(self.engine) as session:
                passed = self.section.test(session, self.key, values, report)
        except Invalid as exc:
            self.app.call_from_thread(self.form.show_errors, exc.errors)
            passed = False
        self.app.call_from_thread(self._add_line, "PASSED" if passed else "FAILED")

    def _add_line(self, line: str, style: str = "") -> None:
        self._lines.append(Text(clean_line(line), style=style))
        self._show()

    def action_preview(self) -> None:
        if not self.section.can_preview:
            return
        from tuidesk.screens.preview import PreviewScreen

        values, unreadable = self.form.read()
        if unreadable:
            self.form.show_errors(unreadable)
            return
        self.app.push_screen(PreviewScreen(self.engine, self.section, self.key, values))

    def action_sign_in(self) -> None:
        """The device-code sign-in, with the settings as saved: changes not saved yet would
        not be what the tokens are kept for."""
        if not self._sign_in:
            return
        values, _ = self.form.read()
        if self.key is None or self._changed(values):
            self._report("Save first: signing in uses the saved settings and keeps its tokens")
            return
        self._stop.set()  # a sign-in already waiting gives way
        self._stop = threading.Event()
        self._report("Sign in with a device code...")
        self._run_sign_in(self.key, self._stop)

    def _changed(self, values: dict[str, Any]) -> bool:
        def saved(form: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in form.items() if k not in self.section.not_saved}

        return self._saved is not None and saved(values) != saved(self._saved)

    @work(thread=True, exclusive=True, group="sign-in", exit_on_error=False)
    def _run_sign_in(self, key: str, stop: threading.Event) -> None:
        def later(show: Callable[..., None], *args: Any) -> None:
            if not stop.is_set():  # cancelled: the admin left or started again
                self.app.call_from_thread(show, *args)

        def say(text: str) -> None:  # the code and the page: what the admin must read
            later(self._add_line, text, "bold reverse")
            later(self._add_line, "Waiting for the sign-in; Escape leaves and cancels it.")

        try:
            signed_in, text = self.section.sign_in(self.engine, key, say, stop.is_set)
        except Invalid as exc:  # e.g. removed or renamed meanwhile
            signed_in, text = False, f"Not signed in: {exc}"
        later(self._add_line, text, "bold" if signed_in else "bold red")
