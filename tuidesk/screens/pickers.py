"""A small modal to pick one value (a status, an assignee): keyboard first, Esc leaves it be."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tuidesk.engine.text import clean_line


class ChoiceScreen(ModalScreen[str | None]):
    """Dismisses with the chosen value, or None when cancelled."""

    CSS_PATH = "pickers.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], *, current: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="choice"):
            yield Label(self.title_text, id="choice-title")
            yield OptionList(
                *(Option(Text(clean_line(label, 60)), id=value) for value, label in self.choices),
                id="choice-list",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        values = [value for value, _ in self.choices]
        options.highlighted = values.index(self.current) if self.current in values else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or "")

    def action_cancel(self) -> None:
        self.dismiss(None)
