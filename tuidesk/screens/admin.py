"""The admin console: the sections an admin configures on the left, the chosen section's list
on the right. `n` adds, Enter edits, `d` removes, `t` tests; every form saves through the
storage functions the CLI and `config import` use. Agents who are not admins never get here.

The database is read and written by thread workers that answer with messages: a section's rows
replace the list when they arrive (until then the list and the keys stay with the section shown),
and a form opens once its values are read."""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from sqlalchemy import Engine
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from tuidesk.engine.text import clean_line
from tuidesk.screens.dialogs import ConfirmScreen
from tuidesk.screens.edit import EditScreen, Saved
from tuidesk.screens.section import FormSpec, Row, Section
from tuidesk.storage.checks import Invalid
from tuidesk.storage.db import read_session, session_scope
from tuidesk.widgets.workers import ReportsWorkerFailures


def admin_sections(config_dir: Path | None) -> list[Section]:
    """Every section, in the order the sidebar shows them."""
    from tuidesk.screens.admin_channels import ChannelsSection, OutgoingSection
    from tuidesk.screens.admin_org import (
        AgentsSection,
        BranchesSection,
        CannedSection,
        QueuesSection,
    )
    from tuidesk.screens.admin_rules import RulesSection, TicketTypesSection

    return [
        ChannelsSection(config_dir),
        OutgoingSection(config_dir),
        QueuesSection(),
        BranchesSection(),
        AgentsSection(),
        CannedSection(),
        TicketTypesSection(),
        RulesSection(),
    ]


def read_rows(engine: Engine, section: Section) -> list[Row]:
    """A section's rows; for a worker thread."""
    with read_session(engine) as session:
        return section.rows(session)


def column_widths(labels: tuple[str, ...], cells: list[list[Text]]) -> list[int]:
    """Each column as wide as its header or its widest cell. Set with the rows, because a
    DataTable measures a column of its own only when it next goes idle: a list drawn before
    that (rows arriving from a worker) showed every cell cut to its header's width."""
    return [
        max([cell_len(label), *(line[i].cell_len for line in cells if i < len(line))])
        for i, label in enumerate(labels)
    ]


class AdminScreen(ReportsWorkerFailures, Screen[None]):
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

    class RowsRead(Message):
        def __init__(self, section: Section, rows: list[Row], select: str | None) -> None:
            super().__init__()
            self.section = section
            self.rows = rows
            self.select = select

    class FormRead(Message):
        def __init__(self, section: Section, key: str | None, spec: FormSpec, test: bool) -> None:
            super().__init__()
            self.section = section
            self.key = key
            self.spec = spec
            self.test = test

    class Told(Message):
        def __init__(self, text: str, error: bool = False) -> None:
            super().__init__()
            self.text = text
            self.error = error

    def __init__(
        self, engine: Engine, sections: list[Section], rows: list[Row] | None = None
    ) -> None:
        """`rows`: the first section's, read by whoever opened the screen (in a worker)."""
        super().__init__()
        self.engine = engine
        self.sections = sections
        self.current = sections[0]  # the section shown: the keys act on it
        self._wanted = sections[0]  # the section whose rows are being read
        self._first_rows = rows

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
        if self._first_rows is not None:
            self._show_rows(self.current, self._first_rows)
        else:
            self.load()
        self.query_one("#admin-rows", DataTable).focus()

    @on(OptionList.OptionHighlighted, "#admin-sections")
    def _section_chosen(self, event: OptionList.OptionHighlighted) -> None:
        section = self.sections[int(event.option.id or 0)]
        if section is self.current and section is self._wanted:
            return  # the mount's own highlight: its rows are there or on their way
        self._wanted = section
        self.load()

    @on(DataTable.RowSelected, "#admin-rows")
    def _row_entered(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._open(event.row_key.value)

    @on(OptionList.OptionSelected, "#admin-sections")
    def _section_entered(self, _event: OptionList.OptionSelected) -> None:
        self.action_focus_rows()

    def load(self, select: str | None = None) -> None:
        """Read the wanted section's rows; the list shows them when they arrive."""
        self._read_rows(self._wanted, select)

    @work(thread=True, exclusive=True, group="admin-rows", exit_on_error=False)
    def _read_rows(self, section: Section, select: str | None) -> None:
        self.post_message(self.RowsRead(section, read_rows(self.engine, section), select))

    def on_admin_screen_rows_read(self, message: RowsRead) -> None:
        if message.section is self._wanted:  # else overtaken by a later choice
            self._show_rows(message.section, message.rows, message.select)

    def on_admin_screen_told(self, message: Told) -> None:
        self._say(message.text, message.error)

    def _show_rows(self, section: Section, rows: list[Row], select: str | None = None) -> None:
        self.current = section
        table = self.query_one("#admin-rows", DataTable)
        cells = [[Text(clean_line(c)) for c in row.cells] for row in rows]
        table.clear(columns=True)
        widths = column_widths(section.columns, cells)
        for label, width in zip(section.columns, widths, strict=True):
            table.add_column(Text(label), width=width)
        for row, line in zip(rows, cells, strict=True):
            table.add_row(*line, key=row.key)
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
        """The form opens once its values are read."""
        self._read_form(self.current, key, test)

    @work(thread=True, group="admin-form", exit_on_error=False)
    def _read_form(self, section: Section, key: str | None, test: bool) -> None:
        with read_session(self.engine) as session:
            spec = section.form(session, key)
        self.post_message(self.FormRead(section, key, spec, test))

    def on_admin_screen_form_read(self, message: FormRead) -> None:
        section, key = message.section, message.key
        if self.app.screen is not self or section is not self.current:
            return  # the admin moved on meanwhile

        def done(saved: Saved | None) -> None:
            if saved is None:
                self.load(select=key)
                return
            self._say(f"Saved {saved.key}.")
            if section is self._wanted:
                self._show_rows(section, saved.rows, saved.key)

        screen = EditScreen(self.engine, section, key, message.spec)
        self.app.push_screen(screen, done)
        if message.test:
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
            if yes:
                self._remove(section, key)

        self.app.push_screen(ConfirmScreen(f"Remove {clean_line(key)}?"), answer)

    @work(thread=True, group="admin-remove", exit_on_error=False)
    def _remove(self, section: Section, key: str) -> None:
        try:
            with session_scope(self.engine) as session:
                section.remove(session, key)
        except Invalid as exc:
            self.post_message(self.Told(f"Not removed: {exc}", error=True))
            return
        rows = read_rows(self.engine, section)
        self.post_message(self.Told(f"Removed {key}."))
        self.post_message(self.RowsRead(section, rows, None))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_focus_sections(self) -> None:
        self.query_one("#admin-sections", OptionList).focus()

    def action_focus_rows(self) -> None:
        self.query_one("#admin-rows", DataTable).focus()
