"""One ticket, read-only: its fields and the conversation. Mail text is shown through rich Text
after strip_controls, never as markup; `e` swaps the visible text for the full one (quotes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from tuidesk.engine.text import clean_line, normalize_newlines, strip_controls
from tuidesk.storage.db import read_session
from tuidesk.storage.views import show_ticket
from tuidesk.widgets.ticket_list import Clock

_DIRECTION_STYLE = {"in": "cyan", "out": "green", "note": "yellow"}


def _person(who: dict[str, Any] | None) -> str:
    if not who:
        return "-"
    name, email = clean_line(who.get("name") or "", 80), clean_line(who.get("email") or "", 120)
    return f"{name} <{email}>" if name and email else name or email or "-"


def _when(iso: str | None, clock: Clock) -> str:
    if not iso:
        return "-"
    now = clock()
    return datetime.fromisoformat(iso).astimezone(now.tzinfo).strftime("%Y-%m-%d %H:%M")


class TicketScreen(Screen[None]):
    CSS_PATH = "ticket.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="ticket.back"),
        Binding("e", "toggle_full", "Full text", id="ticket.full_text", tooltip="Show quoted text"),
        Binding("j", "scroll('down')", "Scroll down", id="ticket.down", show=False),
        Binding("k", "scroll('up')", "Scroll up", id="ticket.up", show=False),
    ]

    class Loaded(Message):
        def __init__(self, ticket: dict[str, Any] | None) -> None:
            super().__init__()
            self.ticket = ticket

    def __init__(self, engine: Engine, number: int, *, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.number = number
        self.clock = clock
        self.ticket: dict[str, Any] | None = None
        self.full = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="conversation"):
            yield Static(Text("Loading…", style="dim"), id="fields")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conversation").focus()
        self._read()

    @work(thread=True, exclusive=True, group="ticket")
    def _read(self) -> None:
        with read_session(self.engine) as session:
            self.post_message(self.Loaded(show_ticket(session, str(self.number))))

    def on_ticket_screen_loaded(self, message: Loaded) -> None:
        self.ticket = message.ticket
        self._show()

    def _fields(self, t: dict[str, Any]) -> Text:
        text = Text()
        text.append(f"{t['ref']}  ", style="bold")
        text.append(clean_line(t["title"], 400), style="bold")
        rows = [
            ("Status", t["status"]),
            ("Priority", t["priority"]),
            ("Requester", _person(t["requester"])),
            ("Assignee", _person(t["assignee"])),
            ("Branch", t["branch"] + (f" / {clean_line(t['queue'], 60)}" if t["queue"] else "")),
            ("Type", clean_line(t["type"] or "-", 60)),
            ("Channel", clean_line(t["channel"] or t["source"], 60)),
            ("Created", _when(t["created_at"], self.clock)),
            ("Updated", _when(t["updated_at"], self.clock)),
        ]
        for name, value in rows:
            text.append(f"\n{name:<10}", style="dim")
            text.append(value)
        return text

    def _message(self, m: dict[str, Any]) -> Static:
        head = Text()
        head.append(m["direction"], style=_DIRECTION_STYLE.get(m["direction"], ""))
        head.append(f"  {_person(m['from'])}", style="bold")
        head.append(f"  {_when(m['created_at'], self.clock)}", style="dim")
        body = m["full_body"] if self.full and m["full_body"] else m["body"]
        text = Text(strip_controls(normalize_newlines(body)).expandtabs(4).rstrip())
        for file in m["attachments"]:
            text.append(f"\n📎 {clean_line(file['filename'], 120)} ({file['size']:,} bytes)", "dim")
        if m["delivery"]:
            state = m["delivery"]["status"]
            text.append(f"\n[{state}]", style="red" if state == "failed" else "dim")
        box = Static(text, classes="message")
        box.border_title = head
        return box

    def _show(self) -> None:
        scroll = self.query_one("#conversation", VerticalScroll)
        fields = self.query_one("#fields", Static)
        scroll.remove_children(".message")
        if self.ticket is None:
            fields.update(Text(f"Ticket {self.number} is gone.", style="red"))
            return
        fields.update(self._fields(self.ticket))
        scroll.mount_all(self._message(m) for m in self.ticket["messages"])

    def action_back(self) -> None:
        self.dismiss()

    def action_toggle_full(self) -> None:
        self.full = not self.full
        if self.ticket is not None:
            self._show()

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#conversation", VerticalScroll)
        scroll.scroll_relative(y=1 if direction == "down" else -1, animate=False)
