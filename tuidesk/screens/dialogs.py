"""Small modals the ticket view and the reply editor ask with: a yes/no question, and a pick
from a list that also takes a new value typed in (a queue that does not exist yet)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from tuidesk.engine.text import clean_line


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True for yes; n, Esc and the No button mean no."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Label(Text(self.question), id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", id="yes", variant="primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter on a surprise question does the safe thing

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextChoiceScreen(ModalScreen[str | None]):
    """A list to pick from and an input for a value not in it; None when cancelled. The empty
    value is a choice too (\"no queue\"). Without choices it is an input alone, filled with
    `value`, and an emptied input is an answer ("no tags")."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="text_choice.cancel")]

    def __init__(
        self,
        title: str,
        choices: list[tuple[str, str]],
        *,
        current: str,
        placeholder: str,
        value: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.current = current
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="text-choice-input")
            if self.choices:
                yield OptionList(
                    *(Option(Text(clean_line(label, 60)), id=v) for v, label in self.choices),
                    id="text-choice-list",
                )

    def on_mount(self) -> None:
        if not self.choices:
            self.query_one(Input).focus()
            return
        options = self.query_one(OptionList)
        values = [value for value, _ in self.choices]
        options.highlighted = values.index(self.current) if self.current in values else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or "")

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip() or not self.choices:
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
