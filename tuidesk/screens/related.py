"""Beside a ticket: the pane of the requester's (and their organisation's) other tickets, and
the picker's items for merging it into another. Titles and addresses come from mail: shown as
rich Text after clean_line, never as markup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from sqlalchemy import Engine
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.engine.text import clean_line
from tuidesk.screens.pickers import PickItem
from tuidesk.storage.related import RelatedTicket, merge_candidates


class RelatedTickets(OptionList):
    """The requester's other tickets, then their organisation's; Enter opens one."""

    BINDINGS = [
        Binding("enter", "select", "Open ticket", id="ticket.related.open",
                tooltip="Open the highlighted ticket"),
    ]  # fmt: skip

    def show(self, tickets: Sequence[RelatedTicket], now: datetime) -> None:
        """Refilled on every read of the ticket, keeping the highlighted row."""
        was = self.highlighted or 0
        self.clear_options()
        for ticket in tickets:
            self.add_option(Option(_line(ticket, now), id=str(ticket.number)))
        self.highlighted = min(was, len(tickets) - 1) if tickets else None
        self.display = bool(tickets)
        mine = sum(t.same_requester for t in tickets)
        self.border_title = f"Requester's other tickets: {mine}" + (
            f", their organisation's: {len(tickets) - mine}" if len(tickets) > mine else ""
        )


def _line(ticket: RelatedTicket, now: datetime) -> Text:
    text = Text()
    text.append(f"{ticket.ref:<10} ", style="bold")
    text.append(f"{ticket.status:<8} ", style="dim")
    text.append(ticket.updated_at.astimezone(now.tzinfo).strftime("%Y-%m-%d "), style="dim")
    text.append(clean_line(ticket.title, 80))
    if not ticket.same_requester:
        text.append(f"  {clean_line(ticket.requester, 80)}", style="dim")
    return text


def _item(ticket: RelatedTicket) -> PickItem:
    detail = f"{ticket.status} · {ticket.requester}"
    return PickItem(f"{ticket.ref}  {ticket.title}", detail, str(ticket.number))


def merge_items(related: Sequence[RelatedTicket]) -> list[PickItem]:
    """What the merge picker offers before anything is typed: the requester's other tickets
    still being worked on (the pane's own, so no query on the UI thread)."""
    return [_item(t) for t in related if t.same_requester and t.status in OPEN_STATUSES]


def merge_search(engine: Engine, number: int) -> Callable[[str], list[PickItem]]:
    """The picker's look-up beyond those: tickets by ref or by words of their titles and
    messages (the search index, as `/`). Run by the picker in a thread worker."""

    def search(text: str) -> list[PickItem]:
        with engine.connect() as conn:
            return [_item(t) for t in merge_candidates(conn, number, text)]

    return search
