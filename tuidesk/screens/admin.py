"""The admin console: the sections an admin configures on the left, the chosen section's list
on the right. `n` adds, Enter edits, `d` removes, `t` tests; every form saves through the
storage functions the CLI and `config import` use. Agents who are not admins never get here."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from tuidesk.engine.text import clean_line
from tuidesk.screens.dialogs import ConfirmScreen
from tuidesk.screens.edit import EditScreen
from tuidesk.screens.section import Section
from tuidesk.storage.checks import Invalid
from tuidesk.storage.db import read_session, session_scope


def admin_sections(config_dir: Path | None) -> list[Section]:
    """Every section, in the order the sidebar shows them."""
    from tuidesk.screens.admin_channels import ChannelsSection, OutgoingSection
    from tuidesk.screens.admin_org import AgentsSection, BranchesSection, QueuesSection
    from tuidesk.screens.admin_rules import RulesSection, TicketTypesSection

    return [
        ChannelsSection(config_dir),
        OutgoingSection(config_dir),
        QueuesSection(),
        BranchesSection(),
        AgentsSection(),
        TicketTypesSection(),
        RulesSection(),
    ]


class AdminScreen(Screen[None]):
    CSS_PATH = "admin.tcss"
    BINDINGS = [
        Binding("n", "add", "New", id="admin.new", tooltip="Add one to this section"),
        Binding("enter,e", "edit", "Edit", id="admin.edit", tooltip="Edit the selected one"),
        Binding("d", "remove", "Remove", id="admin.remove", tooltip="Remove the selected one"),
        Binding("t", "test", "Test", id="admin.test", tooltip="Edit the selected one and test it"),
        Binding("escape", "back", "Back", id="admin.back", tooltip="Back to the tickets"),
        Binding("left,h", "focus_sections", "Sections", id="admin.sections", show=False),
        Binding("right,l", "focus_rows", "List", id="admin.list", show=False),
    ]

    def __init__(self, engine: Engine, sections: list[Section]) -> None:
        super().__init__()
        self.engine = engine
        self.sections = sections
        self.current = sections[0]

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(
                *(Option(s.title, id=str(i)) for i, s in enumerate(self.sections)),
                id="admin-sections",
            )
            with Vertical(id="admin-main"):
                yield Static("", id="admin-title")
                yield DataTable(id="admin-rows", cursor_type="row", zebra_stripes=True)
                yield Static("", id="admin-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#admin-sections", OptionList).highlighted = 0
        self.load()
        self.query_one("#admin-rows", DataTable).focus()

    @on(OptionList.OptionHighlighted, "#admin-sections")
    def _section_chosen(self, event: OptionList.OptionHighlighted) -> None:
        self.current = self.sections[int(event.option.id or 0)]
        self.load()

    @on(DataTable.RowSelected, "#admin-rows")
    def _row_entered(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._open(event.row_key.value)

    @on(OptionList.OptionSelected, "#admin-sections")
    def _section_entered(self, _event: OptionList.OptionSelected) -> None:
        self.action_focus_rows()

    def load(self, select: str | None = None) -> None:
        table = self.query_one("#admin-rows", DataTable)
        table.clear(columns=True)
        table.add_columns(*self.current.columns)
        with read_session(self.engine) as session:
            rows = self.current.rows(session)
        for row in rows:
            table.add_row(*(Text(clean_line(c)) for c in row.cells), key=row.key)
        if select is not None and select in {r.key for r in rows}:
            table.move_cursor(row=table.get_row_index(select))
        self.query_one("#admin-title", Static).update(
            Text(f"{self.current.title} ({len(rows)})", style="bold")
        )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "test":
            return self.current.test_label is not None
        return True

    def _selected(self) -> str | None:
        table = self.query_one("#admin-rows", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return key.value

    def _say(self, message: str, error: bool = False) -> None:
        self.query_one("#admin-message", Static).update(
            Text(clean_line(message), style="bold red" if error else "")
        )

    def _open(self, key: str | None, test: bool = False) -> None:
        def done(saved: str | None) -> None:
            if saved is not None:
                self._say(f"Saved {saved}.")
            self.load(select=saved or key)

        screen = EditScreen(self.engine, self.current, key)
        self.app.push_screen(screen, done)
        if test:
            screen.call_after_refresh(screen.action_test)

    def action_add(self) -> None:
        self._open(None)

    def action_edit(self) -> None:
        if self.query_one("#admin-sections", OptionList).has_focus:
            self.action_focus_rows()
            return
        key = self._selected()
        if key is not None:
            self._open(key)

    def action_test(self) -> None:
        key = self._selected()
        if key is not None and self.current.test_label:
            self._open(key, test=True)

    def action_remove(self) -> None:
        key = self._selected()
        if key is None:
            return
        section = self.current

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                with session_scope(self.engine) as session:
                    section.remove(session, key)
            except Invalid as exc:
                self._say(f"Not removed: {exc}", error=True)
                return
            self._say(f"Removed {key}.")
            self.load()

        self.app.push_screen(ConfirmScreen(f"Remove {clean_line(key)}?"), answer)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_focus_sections(self) -> None:
        self.query_one("#admin-sections", OptionList).focus()

    def action_focus_rows(self) -> None:
        self.query_one("#admin-rows", DataTable).focus()
