"""The add/edit form of one admin section: save with Ctrl+S, each refusal shown next to its
field; a test (Test connection, Send test mail) runs in a worker and reports step by step;
a preview shows the engine's decision for a mail under the values not yet saved."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from tuidesk.engine.text import clean_line
from tuidesk.screens.section import Section
from tuidesk.storage.checks import Invalid
from tuidesk.storage.db import read_session, session_scope
from tuidesk.widgets.form import Form


class EditScreen(Screen[str | None]):
    """Dismisses with the saved key, or None when left without saving."""

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
    ]

    def __init__(self, engine: Engine, section: Section, key: str | None) -> None:
        super().__init__()
        self.engine = engine
        self.section = section
        self.key = key
        with read_session(engine) as session:
            self.spec = section.form(session, key)
        self._lines: list[str] = []  # the running test's report

    def compose(self) -> ComposeResult:
        with Vertical(id="edit"):
            yield Static(Text(clean_line(self.spec.title)), id="edit-title")
            yield Form(self.spec.fields, self.spec.values, id="edit-form")
            yield Static("", id="edit-result")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "test":
            return self.section.test_label is not None
        if action == "preview":
            return self.section.can_preview
        return True

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    def _report(self, line: str) -> None:
        result = self.query_one("#edit-result", Static)
        result.display = True
        result.update(Text("\n".join(clean_line(part) for part in line.split("\n"))))

    def action_save(self) -> None:
        values, unreadable = self.form.read()
        try:
            with session_scope(self.engine) as session:
                saved = self.section.save(session, self.key, values)
                if unreadable:
                    raise Invalid.of(unreadable)  # rolls the save back
        except Invalid as exc:
            errors = {**unreadable, **exc.errors}
            self.form.show_errors(errors)
            self._report(f"Not saved: {len(errors)} to fix, marked in red")
            return
        self.dismiss(saved)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_test(self) -> None:
        if self.section.test_label is None:
            return
        values, unreadable = self.form.read()
        if unreadable:
            self.form.show_errors(unreadable)
            return
        self.form.show_errors({})
        self._lines = [f"{self.section.test_label}..."]
        self._report(self._lines[0])
        self._run_test(values)

    @work(thread=True, exclusive=True, group="test")
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

    def _add_line(self, line: str) -> None:
        self._lines.append(clean_line(line))
        self._report("\n".join(self._lines))

    def action_preview(self) -> None:
        if not self.section.can_preview:
            return
        from tuidesk.screens.preview import PreviewScreen

        values, unreadable = self.form.read()
        if unreadable:
            self.form.show_errors(unreadable)
            return
        self.app.push_screen(PreviewScreen(self.engine, self.section, self.key, values))
