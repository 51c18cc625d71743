"""The reply editor, as terminal mail clients have it: the body in a TextArea or in $EDITOR
with the console suspended, Cc, attachments by path, an optional quote of the last message.

A reply is a draft until it is queued: saved on every close and every few seconds, loaded
when the editor opens again. Sending checks, in the sending transaction, that the ticket has not
changed since the agent saw it, and asks first when it has. Ctrl+K inserts a canned reply, and
the signature that will go under the reply is shown below the text. Notes use the same screen."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import threading
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static, TextArea

from tuidesk.engine.compose import SIGNATURE_DELIMITER, HeaderInjection
from tuidesk.engine.parse import Address
from tuidesk.engine.text import clean_line
from tuidesk.paths import resolve_paths
from tuidesk.screens.dialogs import ConfirmScreen
from tuidesk.screens.pickers import FuzzyPickerScreen, PickItem
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.canned import CannedError, canned_for_ticket
from tuidesk.storage.db import DatabaseUnavailable, read_session, transaction
from tuidesk.storage.drafts import DraftText, discard_draft, load_draft, save_draft
from tuidesk.storage.outbox import (
    MAX_ATTACHMENT_BYTES,
    OutboundError,
    add_note,
    queue_reply,
    read_attachment,
    signature_for_reply,
)
from tuidesk.storage.ticket_actions import TicketError, ticket_version
from tuidesk.widgets.ticket_list import Clock
from tuidesk.widgets.workers import ReportsWorkerFailures

AUTOSAVE_S = 5.0  # a crash or a dropped SSH session loses at most this much typing
_SEND_ERRORS = (OutboundError, HeaderInjection, TicketError, DatabaseUnavailable, SQLAlchemyError)


@dataclass(frozen=True)
class ReplyTarget:
    """The ticket being answered, as the ticket view showed it."""

    number: int
    ref: str
    title: str
    requester: str
    seen: datetime  # the ticket's version when the agent opened it


def split_list(value: str) -> list[str]:
    """`a@x, b@y,` as ["a@x", "b@y"]."""
    return [part.strip() for part in value.split(",") if part.strip()]


def describe_file(path: str) -> Text:
    """What an attachment path will send: its size, or why it cannot be sent."""
    found = Path(path).expanduser()
    line = Text(f"📎 {clean_line(path, 80)}  ")
    if not found.is_file():
        line.append("no such file", style="red")
    elif found.stat().st_size > MAX_ATTACHMENT_BYTES:
        line.append(f"over {MAX_ATTACHMENT_BYTES // 2**20} MB", style="red")
    else:
        line.append(f"{found.stat().st_size:,} bytes", style="dim")
    return line


class EditorScreen(ReportsWorkerFailures, Screen[bool]):
    """What a reply and a note share: the body, $EDITOR, the send button and its errors.
    Dismisses with True once the text is stored, False when closed without it."""

    CSS_PATH = "reply.tcss"
    kind = "reply"
    send_label = "Send"

    class Done(Message):
        def __init__(self, what: str) -> None:
            super().__init__()
            self.what = what

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, engine: Engine, target: ReplyTarget, *, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.target = target
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Static(self._head(), id="editor-head")
            yield from self._fields()
            yield TextArea(id="body", show_line_numbers=False, soft_wrap=True)
            yield from self._below()
            with Horizontal(id="send-row"):
                yield Button(f"{self.send_label} (ctrl+s)", id="send", variant="primary")
                yield Label(id="send-error")
        yield Footer()

    def _head(self) -> Text:
        return Text(f"{self.target.ref}  ", style="bold").append(clean_line(self.target.title, 200))

    def _fields(self) -> ComposeResult:
        yield from ()

    def _below(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one("#body", TextArea).focus()

    @property
    def body(self) -> str:
        return self.query_one("#body", TextArea).text

    def action_edit(self) -> None:
        """Hand the terminal to $VISUAL/$EDITOR on a temporary file, then read it back."""
        editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        area = self.query_one("#body", TextArea)
        with tempfile.TemporaryDirectory(prefix="tuidesk-") as folder:
            path = Path(folder) / f"{self.target.ref}.txt"
            path.write_text(area.text, encoding="utf-8")
            try:
                with self._terminal_for_editor():
                    done = subprocess.run([*editor, str(path)], check=False)
            except OSError as exc:
                self._fail(f"cannot run {editor[0]}: {exc.strerror}")
                return
            except SuspendNotSupported:  # e.g. served in a browser: no terminal to hand over
                self._fail("this console cannot hand the terminal to an editor")
                return
            if done.returncode != 0:  # vi's :cq, a crashed editor: keep the text as it was
                self.notify(f"The editor exited with {done.returncode}: text unchanged")
                return
            area.text = path.read_text(encoding="utf-8", errors="replace")
        area.focus()

    def _terminal_for_editor(self) -> AbstractContextManager[None]:
        """Suspend the console around the editor. A headless app (tests) has no terminal to
        hand over and Textual refuses to suspend it, so there the editor simply runs."""
        return nullcontext() if self.app.is_headless else self.app.suspend()

    @on(Button.Pressed, "#send")
    def action_send(self) -> None:
        self.query_one("#send-error", Label).update("")
        self._store()

    def _store(self) -> None:
        """Queue the reply or add the note, in a worker that answers with Done or Failed."""
        raise NotImplementedError

    def on_editor_screen_done(self, message: Done) -> None:
        self.notify(clean_line(message.what, 200), markup=False)
        self.dismiss(True)

    def on_editor_screen_failed(self, message: Failed) -> None:
        self._fail(message.error)

    def _fail(self, error: str) -> None:
        shown = clean_line(error, 200)
        self.query_one("#send-error", Label).update(Text(shown, style="bold red"))
        title = f"{self.kind.capitalize()} not stored"
        self.notify(shown, severity="error", title=title, markup=False)


class ReplyScreen(EditorScreen):
    """A reply to the requester, kept as a draft until it is queued."""

    # Priority: the TextArea and Inputs use ctrl+e/ctrl+d/ctrl+x for line editing themselves.
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", id="reply.send", priority=True,
                tooltip="Queue the reply in the outbox"),
        Binding("ctrl+e", "edit", "Edit in $EDITOR", id="reply.editor", priority=True,
                tooltip="Write the body in your own editor"),
        Binding("ctrl+d", "postpone", "Postpone", id="reply.postpone", priority=True,
                tooltip="Save the draft and close"),
        Binding("ctrl+x", "discard", "Discard", id="reply.discard", priority=True,
                tooltip="Throw the draft away"),
        Binding("ctrl+k", "canned", "Canned", id="reply.canned", priority=True,
                tooltip="Insert a canned reply at the cursor"),
        Binding("escape", "close", "Close", id="reply.close", tooltip="Close; the draft is kept"),
    ]  # fmt: skip

    class Changed(Message):
        """The ticket changed since the agent saw it: nothing was sent."""

        def __init__(self, at: datetime) -> None:
            super().__init__()
            self.at = at

    class DraftRead(Message):
        def __init__(self, draft: DraftText | None) -> None:
            super().__init__()
            self.draft = draft

    class SignatureRead(Message):
        def __init__(self, signature: str) -> None:
            super().__init__()
            self.signature = signature

    class CannedRead(Message):
        """The canned replies offered on this ticket, rendered for it (or why there are none)."""

        def __init__(self, items: list[dict[str, Any]], error: str | None = None) -> None:
            super().__init__()
            self.items = items
            self.error = error

    class Closed(Message):
        """The draft is kept (or thrown away): the editor may close."""

    class NotClosed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self, engine: Engine, target: ReplyTarget, *, agent_id: int | None, clock: Clock
    ) -> None:
        super().__init__(engine, target, clock=clock)
        self.agent_id = agent_id
        self.saved = DraftText()
        self.written = DraftText()  # kept up to date for on_unmount, when the widgets are gone
        self.settled = False  # sent, closed or discarded: no draft left to keep
        # One draft write at a time, and none once settled: an autosave finishing after a
        # discard or a send would bring the draft back.
        self._draft_lock = threading.Lock()

    def _head(self) -> Text:
        head = Text("Reply to ", style="bold").append_text(super()._head())
        return head.append(f"\nTo {clean_line(self.target.requester, 200)}", style="dim")

    def _fields(self) -> ComposeResult:
        yield Input(placeholder="Cc: addresses, comma-separated", id="cc")
        yield Input(placeholder="Attach: file paths, comma-separated", id="attach")
        yield Static(id="files")
        yield Checkbox("Quote the last message", id="quote")

    def _below(self) -> ComposeResult:
        yield Static(id="signature")  # filled in by _read_signature

    def on_mount(self) -> None:
        """Runs before EditorScreen's (Textual calls each class's handler, subclass first)."""
        self.query_one("#signature", Static).display = False
        self._read_signature()
        if self.agent_id is None:
            return
        self._read_draft(self.agent_id)

    @work(thread=True, exclusive=True, group="draft-read", exit_on_error=False)
    def _read_draft(self, agent_id: int) -> None:
        with self.engine.connect() as conn:  # one row by key
            draft = load_draft(conn, self.target.number, agent_id)
        text = DraftText(draft.body, draft.cc, draft.attachments) if draft is not None else None
        self.post_message(self.DraftRead(text))

    @work(thread=True, exclusive=True, group="signature", exit_on_error=False)
    def _read_signature(self) -> None:
        with self.engine.connect() as conn:
            try:
                signature = signature_for_reply(conn, str(self.target.number), self.agent_id)
            except OutboundError:  # the ticket is gone: sending will say so
                signature = ""
        self.post_message(self.SignatureRead(signature))

    def on_reply_screen_signature_read(self, message: SignatureRead) -> None:
        """Dim and read-only below the text: queue_reply adds it, the agent does not type it."""
        shown = self.query_one("#signature", Static)
        signature = message.signature.strip("\n")
        lines = [SIGNATURE_DELIMITER, *(clean_line(line, 200) for line in signature.splitlines())]
        shown.update(Text("\n".join(lines), style="dim"))
        shown.display = bool(signature.strip())

    def action_canned(self) -> None:
        self._read_canned()

    @work(thread=True, exclusive=True, group="canned", exit_on_error=False)
    def _read_canned(self) -> None:
        try:
            with read_session(self.engine) as session:
                items = canned_for_ticket(session, str(self.target.number), self.agent_id)
        except CannedError as exc:
            self.post_message(self.CannedRead([], str(exc)))
            return
        self.post_message(self.CannedRead(items))

    def on_reply_screen_canned_read(self, message: CannedRead) -> None:
        if not self.is_current:  # Ctrl+K pressed twice, or the editor already left
            return
        if message.error is not None or not message.items:
            why = message.error or "no canned replies for this ticket: `tuidesk canned add`"
            self.notify(clean_line(why, 200), severity="warning", markup=False)
            return
        items = message.items
        picks = [
            PickItem(item["name"], (item["text"].strip() or " ").splitlines()[0]) for item in items
        ]

        def chosen(index: int | None) -> None:
            area = self.query_one("#body", TextArea)
            if index is not None:
                area.insert(items[index]["text"])
            area.focus()

        self.app.push_screen(FuzzyPickerScreen("Insert a canned reply", picks), chosen)

    def on_reply_screen_draft_read(self, message: DraftRead) -> None:
        """The stored draft, unless the agent has started typing meanwhile; autosave starts
        now, so it never overwrites a draft not yet read."""
        draft = message.draft
        if draft is not None and self._text() == DraftText():
            self.saved = draft
            self.query_one("#body", TextArea).text = draft.body
            self.query_one("#cc", Input).value = ", ".join(draft.cc)
            self.query_one("#attach", Input).value = ", ".join(draft.attachments)
        elif draft is not None:
            self.saved = draft  # what is stored: the next autosave replaces it
        self.set_interval(AUTOSAVE_S, self._autosave)

    def on_unmount(self) -> None:
        with self._draft_lock:
            if not self.settled:  # the console quitting with the editor open
                self._save_draft(self.written)

    # -- the draft -------------------------------------------------------------------------

    def _text(self) -> DraftText:
        return DraftText(
            self.body,
            split_list(self.query_one("#cc", Input).value),
            split_list(self.query_one("#attach", Input).value),
        )

    @on(TextArea.Changed)
    @on(Input.Changed)
    def _track(self) -> None:
        self.written = self._text()

    def _save_draft(self, text: DraftText) -> None:
        """With the draft lock held."""
        if self.agent_id is None or text == self.saved:
            return
        with transaction(self.engine) as conn:
            save_draft(conn, self.target.number, self.agent_id, text)
        self.saved = text

    def _autosave(self) -> None:
        text = self._text()
        if text != self.saved:
            self._write_draft(text)

    @work(thread=True, exclusive=True, group="draft", exit_on_error=False)
    def _write_draft(self, text: DraftText) -> None:
        with self._draft_lock, suppress(DatabaseUnavailable, SQLAlchemyError):
            if not self.settled:  # else sent or closed meanwhile: nothing more to keep
                self._save_draft(text)  # failing, the next autosave or closing tries again

    @on(Input.Changed, "#attach")
    def _show_files(self, event: Input.Changed) -> None:
        lines = [describe_file(path) for path in split_list(event.value)]
        self.query_one("#files", Static).update(Text("\n").join(lines))

    def action_close(self) -> None:
        self._close(self._text(), discard=False)

    @work(thread=True, exclusive=True, group="close", exit_on_error=False)
    def _close(self, text: DraftText, *, discard: bool) -> None:
        """Keep the draft (or throw it away), then say the editor may close."""
        try:
            with self._draft_lock:
                if self.settled:
                    pass  # sent meanwhile, or closed by the key pressed before: nothing to keep
                elif not discard:
                    self._save_draft(text)
                elif self.agent_id is not None:
                    with transaction(self.engine) as conn:
                        discard_draft(conn, self.target.number, self.agent_id)
                self.settled = True
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            what = "thrown away" if discard else "saved"
            self.post_message(self.NotClosed(f"the draft was not {what}: {exc}"))
            return
        self.post_message(self.Closed())

    def on_reply_screen_closed(self, _message: Closed) -> None:
        if self.is_current:
            self.dismiss(False)

    def on_reply_screen_not_closed(self, message: NotClosed) -> None:
        self._fail(message.error)

    def action_postpone(self) -> None:
        """Esc's twin under its own name, so the footer shows both keys."""
        self.action_close()

    def action_discard(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._close(self._text(), discard=True)

        self.app.push_screen(ConfirmScreen("Throw this reply away?"), answered)

    # -- sending ---------------------------------------------------------------------------

    def _store(self, *, force: bool = False) -> None:
        self._send(self._text(), self.query_one("#quote", Checkbox).value, force=force)

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def _send(self, text: DraftText, quote: bool, *, force: bool) -> None:
        """Check the ticket's version and queue the reply in one transaction, so no change can
        slip in between; the draft goes in the same transaction."""
        t = self.target
        try:
            files = [read_attachment(Path(p).expanduser()) for p in text.attachments]
            with self._draft_lock:
                if self.settled:  # Ctrl+S twice: the first one sent it
                    return
                with transaction(self.engine) as conn:
                    current = ticket_version(conn, t.number)
                    if current != t.seen and not force:
                        self.post_message(self.Changed(current))
                        return
                    queued = queue_reply(
                        conn, BlobStore(resolve_paths().blobs), str(t.number), text.body,
                        cc=text.cc, attachments=files, quote=quote, agent_id=self.agent_id,
                    )  # fmt: skip
                    if self.agent_id is not None:
                        discard_draft(conn, t.number, self.agent_id)
                self.settled = True
        except _SEND_ERRORS as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(
            self.Done(f"{queued.ticket}: reply queued for {', '.join(queued.recipients)}")
        )

    def on_reply_screen_changed(self, message: Changed) -> None:
        at = message.at.astimezone(self.clock().tzinfo).strftime("%H:%M")
        question = f"{self.target.ref} changed at {at} since you opened it: send anyway?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._store(force=True)
            else:
                self.notify("Not sent; the draft is kept")

        self.app.push_screen(ConfirmScreen(question), answered)

    def on_editor_screen_failed(self, _message: EditorScreen.Failed) -> None:
        """Keep what was written (in a worker); EditorScreen's handler shows the error."""
        text = self._text()
        if text != self.saved:
            self._write_draft(text)


class NoteScreen(EditorScreen):
    """An internal note on the ticket, never mailed; no draft, so Esc asks before dropping."""

    BINDINGS = [
        Binding("ctrl+s", "send", "Add note", id="note.add", priority=True,
                tooltip="Add the note to the ticket"),
        Binding("ctrl+e", "edit", "Edit in $EDITOR", id="note.editor", priority=True,
                tooltip="Write the note in your own editor"),
        Binding("escape", "close", "Close", id="note.close", tooltip="Close without adding"),
    ]  # fmt: skip
    kind = "note"
    send_label = "Add note"

    def __init__(
        self,
        engine: Engine,
        target: ReplyTarget,
        *,
        author: Address | None,
        agent_id: int | None,
        clock: Clock,
    ) -> None:
        super().__init__(engine, target, clock=clock)
        self.author = author
        self.agent_id = agent_id

    def _head(self) -> Text:
        return Text("Note on ", style="bold").append_text(super()._head())

    def action_close(self) -> None:
        if not self.body.strip():
            self.dismiss(False)
            return
        self.app.push_screen(
            ConfirmScreen("Drop this note?"), lambda yes: yes and self.dismiss(False)
        )

    def _store(self) -> None:
        self._add(self.body)

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def _add(self, body: str) -> None:
        try:
            with transaction(self.engine) as conn:
                ref = add_note(
                    conn, str(self.target.number), body, author=self.author, agent_id=self.agent_id
                )
        except _SEND_ERRORS as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Done(f"{ref}: note added"))
