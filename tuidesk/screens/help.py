"""`?` and F1: every key of the screen underneath, from its bindings, so it never goes stale,
with the id that keys.toml uses to remap it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


@dataclass
class KeyRow:
    """One action of a screen and every key that runs it."""

    description: str
    tooltip: str
    keys: list[str]
    node: DOMNode
    action: str
    binding_id: str | None = None  # what keys.toml names to remap it

    @property
    def key_display(self) -> str:
        return " ".join(self.keys)


def key_rows(screen: Screen) -> list[KeyRow]:
    """The screen's active bindings that have a description, one row per action."""
    rows: dict[str, KeyRow] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description:
            continue
        row = rows.setdefault(
            binding.description,
            KeyRow(
                binding.description, binding.tooltip, [], active.node, binding.action, binding.id
            ),
        )
        row.keys.append(screen.app.get_key_display(Binding(key, binding.action)))
    return list(rows.values())


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close", id="help.close")]

    def __init__(self, rows: list[KeyRow]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        table.add_column(style="dim", no_wrap=True)
        for row in self.rows:
            table.add_row(row.key_display, row.description, row.binding_id or "")
        table.add_row("", "", "")
        table.add_row("ctrl+p", "Command palette: every action by name", "")
        table.add_row("", 'Remap a key in keys.toml: [keys] then id = "ctrl+f"', "")
        with VerticalScroll(id="help"):
            yield Static("Keys", id="help-title")
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss()
