"""The History pane of the ticket view: who changed what and when, oldest first, as the
screen's worker read it (this widget never reads the database). Every name and value is shown
as plain Text (describe has taken the control characters out), never as markup: a title, an
address or a queue name may come from mail."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tuidesk.storage.history import Event, describe
from tuidesk.widgets.ticket_list import Clock

_KIND_STYLE = {"agent": "bold", "engine": "cyan", "cli": "magenta", "system": "dim"}


def history_text(events: Sequence[Event], clock: Clock) -> Text:
    """Two lines an event: when and who, then what."""
    if not events:
        return Text("Nothing recorded yet.", style="dim")
    tz = clock().tzinfo
    text = Text()
    for n, event in enumerate(events):
        if n:
            text.append("\n")
        text.append(f"{event.at.astimezone(tz):%Y-%m-%d %H:%M}  ", style="dim")
        text.append(event.who, style=_KIND_STYLE.get(event.actor_kind, ""))
        text.append(f"\n  {describe(event)}")
    return text


class HistoryPane(VerticalScroll):
    """Hidden until the agent asks (`h`); `show` puts a fresh read in it."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Loading…", style="dim"), id="history-events")

    def on_mount(self) -> None:
        self.border_title = "History"

    def show(self, events: Sequence[Event], clock: Clock) -> None:
        self.query_one("#history-events", Static).update(history_text(events, clock))
        self.scroll_end(animate=False)  # the newest at hand
