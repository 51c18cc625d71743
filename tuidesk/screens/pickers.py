"""Small modals to pick one value (a status, an assignee, a canned reply): keyboard first, Esc
leaves it be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tuidesk.engine.text import clean_line
from tuidesk.widgets.workers import ReportsWorkerFailures


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


@dataclass(frozen=True)
class PickItem:
    """One entry of a fuzzy picker: matched on `name`, `detail` shown dim beside it; `value`
    is the caller's (a ticket number, say)."""

    name: str
    detail: str = ""
    value: str = ""


class FuzzyPickerScreen(ReportsWorkerFailures, ModalScreen[int | None]):
    """Type a few letters to narrow a list, as in the command palette (Textual's Matcher),
    Enter to take the best match or the one moved to. Dismisses with the chosen item's index
    in `items`, or None when cancelled.

    With `search`, what is typed is also looked up beyond the list (in a thread worker: it may
    ask the database): items it finds are appended to `items`, so an index names them too,
    and shown after the list's own matches."""

    CSS_PATH = "pickers.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="fuzzy.cancel"),
        Binding("down", "move(1)", "Next", id="fuzzy.next", show=False),
        Binding("up", "move(-1)", "Previous", id="fuzzy.previous", show=False),
    ]

    class Found(Message):
        def __init__(self, query: str, items: list[PickItem]) -> None:
            super().__init__()
            self.query = query
            self.items = items

    def __init__(
        self,
        title: str,
        items: list[PickItem],
        *,
        empty: str = "nothing matches",
        search: Callable[[str], list[PickItem]] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.items = items
        self.empty = empty
        self.search = search
        self._found: list[int] = []  # indexes of what `search` found for the current query

    def compose(self) -> ComposeResult:
        with Vertical(id="fuzzy"):
            yield Label(self.title_text, id="fuzzy-title")
            yield Input(placeholder="Type to filter", id="fuzzy-filter")
            yield OptionList(id="fuzzy-list")

    def on_mount(self) -> None:
        self._show("")
        self.query_one("#fuzzy-filter", Input).focus()

    @on(Input.Changed, "#fuzzy-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._found = []
        self._show(event.value)
        if self.search is not None and event.value.strip():
            self._look_up(event.value)

    @work(thread=True, exclusive=True, group="fuzzy-search", exit_on_error=False)
    def _look_up(self, query: str) -> None:
        assert self.search is not None
        self.post_message(self.Found(query, self.search(query)))

    @on(Found)
    def _add_found(self, message: Found) -> None:
        if message.query != self.query_one("#fuzzy-filter", Input).value:
            return  # typed on since: a newer search is coming
        names = {item.name: index for index, item in enumerate(self.items)}
        for item in message.items:
            if item.name not in names:
                names[item.name] = len(self.items)
                self.items.append(item)
        self._found = [names[item.name] for item in message.items]
        self._show(message.query)

    def _show(self, query: str) -> None:
        """The items matching `query`, best first (all of them, in order, for no query), then
        what `search` found for it."""
        matcher = Matcher(query.strip())
        scored = [
            (matcher.match(item.name) if query.strip() else 1.0, index)
            for index, item in enumerate(self.items)
            if index not in self._found
        ]
        found = sorted((pair for pair in scored if pair[0] > 0), key=lambda p: -p[0])
        found += [(0.0, index) for index in self._found]
        options = self.query_one("#fuzzy-list", OptionList)
        options.clear_options()
        for _, index in found:
            item = self.items[index]
            name = clean_line(item.name, 60)
            label = matcher.highlight(name) if query.strip() else Content(name)
            if item.detail:
                label += Content.styled(f"  {clean_line(item.detail, 60)}", "dim")
            options.add_option(Option(label, id=str(index)))
        if not found:
            options.add_option(Option(Text(self.empty, style="dim italic"), disabled=True))
        options.highlighted = 0 if found else None

    def action_move(self, step: int) -> None:
        options = self.query_one("#fuzzy-list", OptionList)
        if options.option_count and options.highlighted is not None:
            options.highlighted = max(0, min(options.option_count - 1, options.highlighted + step))

    @on(Input.Submitted, "#fuzzy-filter")
    def _take(self) -> None:
        options = self.query_one("#fuzzy-list", OptionList)
        if options.highlighted is not None:
            self._choose(options.get_option_at_index(options.highlighted))

    @on(OptionList.OptionSelected, "#fuzzy-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option)

    def _choose(self, option: Option) -> None:
        if option.id is not None:
            self.dismiss(int(option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
