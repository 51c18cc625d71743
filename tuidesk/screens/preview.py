"""Preview: the engine's dry-run decision for one mail under settings not yet saved. Choose an
.eml file by path or paste the mail; nothing is written, nothing is sent. The mail is read and
decided in a worker, which answers with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static, TextArea

from tuidesk.engine.decision import Decision
from tuidesk.engine.text import clean_line
from tuidesk.screens.section import Section
from tuidesk.storage.checks import Invalid
from tuidesk.storage.db import read_session
from tuidesk.widgets.workers import ReportsWorkerFailures

MAX_PREVIEW_BYTES = 25 * 1024 * 1024  # the largest mail worth previewing; import caps too


def read_mail(path_text: str, pasted: str) -> bytes:
    """The file named, else the pasted text; raises Invalid naming which to fix."""
    if path_text.strip():
        path = Path(path_text.strip()).expanduser()
        if not path.is_file():
            raise Invalid(f"{path}: no such file", "path")
        if path.stat().st_size > MAX_PREVIEW_BYTES:
            raise Invalid(f"{path}: larger than {MAX_PREVIEW_BYTES // 2**20} MB", "path")
        return path.read_bytes()
    if not pasted.strip():
        raise Invalid("give a file's path or paste a mail", "path")
    return pasted.encode("utf-8", "surrogateescape")


def describe(decision: Decision) -> Text:
    """The decision as an admin reads it: the outcome, then every step and the rule that
    settled it. Every value comes from the mail: each line is cleaned before it is shown."""
    out = Text()
    ticket = decision.ticket.ref if decision.ticket else "a new ticket"
    outcome = {
        "created": f"opens {ticket}",
        "commented": f"adds to {ticket}",
        "ignored": "is ignored",
        "duplicate": "was seen before",
        "quarantined": "is quarantined",
    }.get(decision.action.value, decision.action.value)
    out.append(f"This mail {outcome}: ", style="bold")
    out.append(clean_line(decision.reason) + "\n")
    if decision.branch:
        out.append(f"Branch: {clean_line(decision.branch.name)} ({decision.branch.key})\n")
    if decision.fields:
        fields = decision.fields
        out.append(f"Title: {clean_line(fields.title)}\n")
        out.append(f"Priority: {fields.priority}\n")
        if fields.queue:
            out.append(f"Queue: {clean_line(fields.queue)}\n")
        if fields.ticket_type:
            out.append(f"Ticket type: {clean_line(fields.ticket_type)}\n")
        for name, value in fields.custom_fields.items():
            out.append(f"{clean_line(name)}: {clean_line(str(value))[:200]}\n")
    if decision.requester:
        who = decision.requester
        out.append(f"Requester: {clean_line(who.name)} <{clean_line(who.email)}>\n")
    out.append("\nWhy, step by step:\n", style="bold")
    for step in decision.steps:
        out.append(f"  {step.step:<10} {clean_line(step.outcome):<12} {clean_line(step.rule)}\n")
    return out


class PreviewScreen(ReportsWorkerFailures, Screen[None]):
    CSS_PATH = "preview.tcss"
    BINDINGS = [
        Binding("ctrl+r", "run", "Preview", id="preview.run", tooltip="Decide this mail"),
        Binding("escape", "back", "Back", id="preview.back"),
    ]

    class Decided(Message):
        """The preview's answer: the decision described, or why there is none."""

        def __init__(self, text: Text) -> None:
            super().__init__()
            self.text = text

    def __init__(
        self, engine: Engine, section: Section, key: str | None, values: dict[str, Any]
    ) -> None:
        super().__init__()
        self.engine = engine
        self.section = section
        self.key = key
        self.values = values

    def compose(self) -> ComposeResult:
        with Vertical(id="preview"):
            yield Static(
                "Preview with the settings as they are in the form (not saved)", id="preview-title"
            )
            yield Label("An .eml file")
            yield Input(placeholder="~/mail/sample.eml", id="preview-path")
            yield Label("or paste a mail (headers, blank line, body)")
            yield TextArea(id="preview-paste", tab_behavior="focus")
            with VerticalScroll(id="preview-result-box"):
                yield Static("", id="preview-result")
        yield Footer()

    def action_back(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_run()

    def action_run(self) -> None:
        path = self.query_one("#preview-path", Input).value
        pasted = self.query_one("#preview-paste", TextArea).text
        self._decide(path, pasted)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _decide(self, path: str, pasted: str) -> None:
        try:
            raw = read_mail(path, pasted)
            with read_session(self.engine) as session:
                decision = self.section.preview(session, self.key, self.values, raw)
        except Invalid as exc:
            text = Text("Cannot preview: " + clean_line(str(exc)), style="bold red")
        else:
            text = describe(decision)
        self.post_message(self.Decided(text))

    def on_preview_screen_decided(self, message: Decided) -> None:
        self.query_one("#preview-result", Static).update(message.text)
