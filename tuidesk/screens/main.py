"""The console's main screen: the sidebar of views and filters, the ticket list, a status line.

Reading happens in thread workers that report back with messages: one watches the change token
(any process, any host: woken by PostgreSQL's notifications, every second on SQLite), one
loads the ordered ticket numbers of the view with the rows of the window shown (a long view's
first screen of them first, then every one with the counts), and the list's own reader thread
fetches the rows scrolled to. The UI thread never waits on the database."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from rich.style import Style
from rich.text import Text
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tuidesk.clock import utcnow
from tuidesk.engine.search_query import QueryError, highlight_terms, parse_query
from tuidesk.engine.text import clean_line
from tuidesk.screens.pickers import ChoiceScreen
from tuidesk.storage.changes import ChangeWaiter
from tuidesk.storage.console_queries import (
    Filters,
    failing_channels,
    filters,
    has_policies,
    outbox_counts,
)
from tuidesk.storage.db import DatabaseUnavailable
from tuidesk.storage.escalate import near_window
from tuidesk.storage.ticket_list import (
    DUE_VIEWS,
    SORTS,
    Moment,
    TicketFilter,
    TicketLine,
    change_token,
    ticket_ids,
    ticket_lines,
    view_counts,
)
from tuidesk.widgets.footer import KeysFooter
from tuidesk.widgets.ticket_list import PAGE, Clock, TicketList, queue_style, window
from tuidesk.widgets.workers import ReportsWorkerFailures

KEPT_VIEWS = 8  # loaded views kept until the next change: lists of ints, 8 MB at a million
FIRST_IDS = 2 * PAGE  # the ids read first, to paint before a long view's every id is read
POLL_S = 1.0  # new mail shows within this plus one load, under the 2 s the issue asks
RECHECK_S = 5.0  # on PostgreSQL a notification wakes the watch; this catches a missed one
PAINT_WAIT_S = 1.0  # the longest a long view's every id waits for its first screen's frame
TICK_S = 60.0  # time alone moves "Due in" and the due views: read again this often
# The sidebar's views, in the order; "quarantine" opens its own screen.
VIEW_LABELS = {
    "mine": "My tickets",
    "unassigned": "Unassigned",
    "open": "Open",
    "pending": "Pending",
    "all": "All",
    "breached": "Breached",
    "due_today": "Due today",
    "quarantine": "Quarantine",
}
STATUSES = ("new", "open", "pending", "resolved", "closed")
_READ_ERRORS = (SQLAlchemyError, DatabaseUnavailable)
_NO, _BOLD = Style(), Style(bold=True)
SEARCH_HINT = (
    'Search: words "a phrase" -word from: to: status: assignee:me branch: queue: tag: '
    "has:attachment before:/after:YYYY-MM-DD SUP-42"
)


@dataclass(frozen=True)
class Snapshot:
    """One load: the view's ticket numbers and what the sidebar and status line count.
    A long view comes in two: its first FIRST_IDS ids (not counted yet: not `complete`),
    painted at once, then every id with the counts."""

    ids: list[int]
    rows: dict[int, TicketLine]  # the window's rows, read with the ids
    counts: dict[str, int] | None  # None: not counted yet
    outbox: dict[str, int]
    failing: list[str]
    filters: Filters
    widest: int | None = None  # the largest ticket number in `ids`, found off the UI thread
    near: timedelta = timedelta(0)  # a due time this close shows as near
    service_levels: bool = False  # any SLA policy: the list shows "Due in"

    @property
    def complete(self) -> bool:
        """Every id of the view is here: it was counted in the same load."""
        return self.counts is not None


class SearchInput(Input):
    """`/` opens it; Enter applies, Esc clears the search."""

    BINDINGS = [Binding("escape", "cancel", "Clear search", id="search.clear")]

    class Cancelled(Message):
        pass

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())


class MainScreen(ReportsWorkerFailures, Screen[None]):
    CSS_PATH = "main.tcss"
    BINDINGS = [
        Binding("slash", "search", "Search", id="main.search",
                tooltip='Search what was said: words, "phrases", -word, from:, status:, SUP-42'),
        Binding("s", "cycle_sort", "Sort", id="main.sort", tooltip="Next sort order"),
        Binding("S", "reverse", "Reverse", id="main.reverse", tooltip="Flip the sort direction"),
        Binding("f", "filter_status", "Status", id="main.status", tooltip="Filter by status"),
        Binding("a", "filter_assignee", "Assignee", id="main.assignee", tooltip="Filter by agent"),
        Binding("c", "filter_channel", "Channel", id="main.channel",
                tooltip="Filter by the incoming channel the ticket came in by"),
        Binding("x", "clear_filters", "Clear", id="main.clear", tooltip="Clear filters and search"),
        Binding("N", "new_ticket", "New", id="main.new", tooltip="Open a ticket: a mail or a call"),
        Binding("r", "reload", "Reload", id="main.reload", show=False),
        Binding("1", "view('all')", "View: All", id="main.view_all", show=False),
        Binding("2", "view('mine')", "View: My tickets", id="main.view_mine", show=False),
        Binding("3", "view('unassigned')", "View: Unassigned", id="main.view_free", show=False),
        Binding("4", "view('open')", "View: Open", id="main.view_open", show=False),
        Binding("5", "view('pending')", "View: Pending", id="main.view_pending", show=False),
        Binding("6", "quarantine", "View: Quarantine", id="main.quarantine", show=False),
        Binding("7", "view('breached')", "View: Breached", id="main.view_breached", show=False),
        Binding("8", "view('due_today')", "View: Due today", id="main.view_due_today",
                show=False),
        Binding("D", "sort_due", "Sort by due", id="main.sort_due", show=False,
                tooltip="Sort by the next due time: soonest (breached) first, none last"),
        Binding("R", "dashboard", "SLA", id="main.dashboard",
                tooltip="Service levels: the report's figures as tables and plots, live"),
    ]  # fmt: skip

    class Changed(Message):
        """The database changed (or could not be read); replaces an unhandled predecessor."""

        def __init__(self, error: str | None) -> None:
            super().__init__()
            self.error = error

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MainScreen.Changed)

    class Loaded(Message):
        """`completes`: the whole view after its first screen, read in the same load (the
        rows already shown still hold). `painted`: set once the first screen is drawn."""

        def __init__(
            self,
            spec: TicketFilter,
            snapshot: Snapshot,
            completes: bool = False,
            painted: threading.Event | None = None,
        ) -> None:
            super().__init__()
            self.spec = spec
            self.snapshot = snapshot
            self.completes = completes
            self.painted = painted

    def __init__(self, engine: Engine, *, agent_id: int | None, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.spec = TicketFilter(view="all", agent_id=agent_id)
        self.snapshot: Snapshot | None = None
        self.refreshed_at: datetime | None = None
        self.error: str | None = None
        self.engine_line: str | None = None
        self.last_poll: str | None = None
        self._stop = threading.Event()
        # Views already loaded since the last change: going back to one (Esc out of a search,
        # a filter toggled off) shows it at once instead of asking the database again.
        self._loaded: OrderedDict[TicketFilter, Snapshot] = OrderedDict()
        self._counts: dict[str, int] = {}  # the sidebar's, from the last load that counted
        # Published when the database changed (or a minute passed): the dashboard reads again.
        self.changed_signal: Signal[None] = Signal(self, "changed")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(id="sidebar")
            with Vertical():
                yield SearchInput(placeholder=SEARCH_HINT, id="search")
                yield TicketList(self._fetch, self.clock, id="tickets")
        yield Static(id="status")
        yield KeysFooter()

    @property
    def tickets(self) -> TicketList:
        return self.query_one(TicketList)

    def on_mount(self) -> None:
        """The first load starts at once, beside the console's own start-up, instead of on the
        watch's first answer (that cold first connection came a few hundred ms in)."""
        self.tickets.focus()
        first_token: Future[Any] = Future()
        self._watch(first_token)
        self._load(self.spec, None, first_token)
        self.set_interval(TICK_S, self._tick)

    def _tick(self) -> None:
        """A minute on: the due times count down and tickets fall due with nothing written.
        Only on a desk with service levels (without, time alone changes nothing: a million
        tickets' view is not read again each minute for nothing), and not while the database
        cannot be read: the watch says so, and loads once it can."""
        if self.error is None and self.snapshot is not None and self.snapshot.service_levels:
            self.post_message(self.Changed(None))

    def on_unmount(self) -> None:
        self._stop.set()

    # -- reading ---------------------------------------------------------------------------

    def _fetch(self, numbers: Sequence[int]) -> dict[int, TicketLine]:
        """The list's rows, on its reader thread: one primary-key query for a page."""
        with self.engine.connect() as conn:
            return ticket_lines(conn, numbers)

    @on(TicketList.ReadFailed)
    def _rows_failed(self, message: TicketList.ReadFailed) -> None:
        self.error = message.error
        self._show_status()

    @work(thread=True, exclusive=True, group="watch", name="watch", exit_on_error=False)
    def _watch(self, first_token: Future[Any]) -> None:
        """Until the screen goes: ask for the change token whenever PostgreSQL says something
        changed (and every RECHECK_S besides), or every POLL_S on SQLite; say when it moved.
        It starts from the token the first load read before the view (None when it could not):
        a change made after that read loads the view again."""
        seen: Any = first_token.result()
        with ChangeWaiter(self.engine, stop=self._stop) as changes:
            while not self._stop.is_set():
                try:
                    with self.engine.connect() as conn:
                        token = change_token(conn)
                except _READ_ERRORS as exc:
                    self.post_message(self.Changed(f"{exc.__class__.__name__}: {exc}"))
                else:
                    if token != seen:
                        seen = token
                        self.post_message(self.Changed(None))
                changes.wait(RECHECK_S if changes.listening else POLL_S)

    @work(thread=True, exclusive=True, group="load", name="load", exit_on_error=False)
    def _load(
        self, spec: TicketFilter, around: int | None, token: Future[Any] | None = None
    ) -> None:
        """The view's ids and, in the same transaction, the rows of the window the list will
        show (around the selection when scrolled), so it is drawn whole at once. A long view
        is painted from its first ids (when the selection is among them) before every id and
        the counts are read: a million ids take seconds, the first screen milliseconds; they
        are read once that screen is drawn (reading them took the UI thread's turns and held
        the frame back a tenth of a second). `token`: the change token is read first, into it,
        for the watch to start from; when it cannot be read, the watch's first read loads the
        view (or says in the status line why it cannot), as before the first load."""
        try:
            with self.engine.connect() as conn:
                if token is not None:
                    token.set_result(change_token(conn))
                self._read_view(conn, spec, around)
        except _READ_ERRORS:
            if token is None or token.done():
                raise
        finally:
            if token is not None and not token.done():
                token.set_result(None)

    def _read_view(self, conn: Connection, spec: TicketFilter, around: int | None) -> None:
        """`_load`'s reading, on its thread."""
        moment = Moment.at(utcnow(), self.clock().tzinfo)
        ids = ticket_ids(conn, spec, limit=FIRST_IDS, moment=moment)
        shown = around is None or around in ids
        snapshot = Snapshot(
            ids=ids,
            rows=ticket_lines(conn, window(ids, around)) if shown else {},
            counts=None,
            outbox=outbox_counts(conn),
            failing=failing_channels(conn),
            filters=filters(conn),
            near=near_window(conn),
            service_levels=has_policies(conn),
        )
        completes = len(ids) == FIRST_IDS and shown
        if completes:
            painted = threading.Event()
            self.post_message(self.Loaded(spec, snapshot, painted=painted))
            painted.wait(PAINT_WAIT_S)
            if get_current_worker().is_cancelled:
                return  # a newer load took over: its view is what is wanted now
        if len(ids) == FIRST_IDS:
            ids = ticket_ids(conn, spec, moment=moment)
        rows = snapshot.rows if shown else ticket_lines(conn, window(ids, around))
        counts = view_counts(conn, spec.agent_id, moment)
        whole = replace(snapshot, ids=ids, rows=rows, counts=counts, widest=max(ids, default=0))
        self.post_message(self.Loaded(spec, whole, completes=completes))

    def on_main_screen_changed(self, message: Changed) -> None:
        self.error = message.error
        if message.error is None:
            self._loaded.clear()
            self._load(self.spec, self.tickets.around)
            self.changed_signal.publish(None)
        else:
            self._show_status()

    def on_main_screen_loaded(self, message: Loaded) -> None:
        if message.painted is not None:
            self.tickets.when_drawn(message.painted)
        if message.snapshot.complete:  # a first screen is not the view to go back to
            self._loaded[message.spec] = message.snapshot
        while len(self._loaded) > KEPT_VIEWS:
            self._loaded.popitem(last=False)
        if message.spec == self.spec:  # else an older filter's answer, overtaken by a newer one
            self.refreshed_at = self.clock()
            self._show_snapshot(message.snapshot, rows_current=message.completes)

    def _show_snapshot(self, snapshot: Snapshot, *, rows_current: bool = False) -> None:
        self.snapshot = snapshot
        self.tickets.highlight = _terms(self.spec.search)
        self.tickets.near, self.tickets.show_due = snapshot.near, snapshot.service_levels
        self.tickets.set_ids(
            snapshot.ids, rows=snapshot.rows, rows_current=rows_current, widest=snapshot.widest
        )
        self._show_sidebar()
        self._show_status()
        if snapshot.ids or any((snapshot.counts or {}).values()):
            self.app.post_message(FirstTicket())

    def _apply(self, **changes: Any) -> None:
        self.spec = replace(self.spec, **changes)
        if self.spec in self._loaded:  # no change since it was loaded: its rows hold too
            self._loaded.move_to_end(self.spec)
            self._show_snapshot(self._loaded[self.spec], rows_current=True)
        else:
            self._show_status()
            self._load(self.spec, self.tickets.around)

    # -- drawing ---------------------------------------------------------------------------

    def _show_sidebar(self) -> None:
        assert self.snapshot is not None
        sidebar = self.query_one("#sidebar", OptionList)
        highlighted = sidebar.highlighted
        counts, found = self.snapshot.counts, self.snapshot.filters
        if counts is None:  # a first screen: the counts of the last load, until counted
            counts = self._counts
        self._counts = counts

        def entry(label: str, active: bool, count: int | None = None, style: Style = _NO) -> Text:
            text = Text("▸ " if active else "  ", style="bold" if active else "")
            text.append(clean_line(label, 16).ljust(13), style=style + _BOLD if active else style)
            if count is not None:
                text.append(f"{count:>7,}", style="" if count else "dim")
            return text

        options: list[Option | None] = [Option(Text("Views", style="bold dim"), disabled=True)]
        for view, label in VIEW_LABELS.items():
            active = view == self.spec.view
            options.append(Option(entry(label, active, counts.get(view)), id=f"view:{view}"))
        if found.branches:
            options += [None, Option(Text("Branches", style="bold dim"), disabled=True)]
            for key, _name in found.branches:
                active = key == self.spec.branch
                options.append(Option(entry(key, active), id=f"branch:{key}"))
        if found.queues:
            options += [None, Option(Text("Queues", style="bold dim"), disabled=True)]
            for name, colour in found.queues:
                active = name == self.spec.queue
                options.append(
                    Option(entry(name, active, style=queue_style(colour)), id=f"queue:{name}")
                )
        sidebar.set_options(options)
        if highlighted is not None and highlighted < sidebar.option_count:
            sidebar.highlighted = highlighted

    def show_poll(self, channel: str, when: datetime) -> None:
        """The last successful read of a mailbox by the console's own engine."""
        self.last_poll = f"{channel} read {when:%H:%M:%S}"
        self._show_status()

    def show_engine(self, line: str) -> None:
        """The background engine's latest word, at the end of the status line."""
        self.engine_line = line
        self._show_status()

    def _show_status(self) -> None:
        spec = self.spec
        line = Text()
        line.append(VIEW_LABELS[spec.view], style="bold")
        if self.snapshot is not None:
            more = "" if self.snapshot.complete else "+"  # a first screen: more are coming
            line.append(f" · {len(self.snapshot.ids):,}{more} tickets")
        line.append(f" · sort {spec.sort} {'↓' if spec.descending else '↑'}")
        narrowed = [
            f"{name} {value}"
            for name, value in (
                ("status", spec.status),
                ("branch", spec.branch),
                ("queue", spec.queue),
                ("assignee", spec.assignee),
                ("channel", spec.channel),
            )
            if value
        ]
        if spec.search:
            narrowed.append(f"search “{clean_line(spec.search, 40)}”")
        if narrowed:
            line.append(" · " + ", ".join(narrowed), style="yellow")
        if self.snapshot is not None:
            outbox = self.snapshot.outbox
            waiting = outbox.get("queued", 0) + outbox.get("sending", 0)
            line.append(f" · outbox {waiting} to send")
            if outbox.get("failed"):
                line.append(f", {outbox['failed']} failed", style="red")
            if self.snapshot.failing:
                line.append(" · failing: " + ", ".join(self.snapshot.failing), style="red")
        if self.last_poll:
            line.append(f" · {clean_line(self.last_poll, 40)}")
        if self.engine_line:
            line.append(f" · {clean_line(self.engine_line, 60)}", style="dim")
        if self.error:
            line.append(f" · ⚠ {clean_line(self.error, 120)}", style="bold red")
        elif self.refreshed_at is not None:
            line.append(" · ")
            line.append("● live", style="green")
            line.append(f" {self.refreshed_at.strftime('%H:%M:%S')}", style="dim")
        self.query_one("#status", Static).update(line)

    # -- actions ---------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#sidebar")
    def _sidebar_chosen(self, event: OptionList.OptionSelected) -> None:
        kind, _, value = (event.option.id or "").partition(":")
        if kind == "view":
            if value == "quarantine":
                self.action_quarantine()
            else:
                self.action_view(value)
        elif kind == "branch":
            self._apply(branch=None if self.spec.branch == value else value)
        elif kind == "queue":
            self._apply(queue=None if self.spec.queue == value else value)

    @on(TicketList.Opened)
    def _open(self, event: TicketList.Opened) -> None:
        from tuidesk.screens.ticket import TicketScreen

        self.app.push_screen(
            TicketScreen(
                self.engine, event.number, clock=self.clock, highlight=self.tickets.highlight
            )
        )

    def action_new_ticket(self) -> None:
        """Opened, the new ticket's view comes up, as Enter on it in the list would show it."""
        from tuidesk.screens.new_ticket import NewTicket, NewTicketScreen
        from tuidesk.screens.ticket import TicketScreen

        if self.spec.agent_id is None:
            self.notify("Only an agent can open tickets", severity="warning")
            return

        def opened(new: NewTicket | None) -> None:
            if new is not None:
                self.notify(clean_line(new.notice, 200), markup=False)
                self.app.push_screen(TicketScreen(self.engine, new.number, clock=self.clock))

        self.app.push_screen(NewTicketScreen(self.engine, agent_id=self.spec.agent_id), opened)

    def action_view(self, view: str) -> None:
        """The due views come soonest due first: what to answer next."""
        if view in DUE_VIEWS:
            self._apply(view=view, sort="due", descending=True)
        else:
            self._apply(view=view)

    def action_sort_due(self) -> None:
        self._apply(sort="due", descending=True)

    def action_dashboard(self) -> None:
        from tuidesk.screens.dashboard import DashboardScreen

        self.app.push_screen(DashboardScreen(self.engine, self.changed_signal))

    def action_quarantine(self) -> None:
        from tuidesk.screens.quarantine import QuarantineScreen

        self.app.push_screen(QuarantineScreen(self.engine, clock=self.clock))

    def action_search(self) -> None:
        search = self.query_one(SearchInput)
        search.value = self.spec.search
        search.add_class("open")
        search.focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        try:
            parse_query(event.value)
        except QueryError as exc:  # left open, to be put right
            self.notify(clean_line(str(exc), 200), severity="error", markup=False)
            return
        self._close_search(event.value.strip())

    @on(SearchInput.Cancelled)
    def _search_cancelled(self) -> None:
        self._close_search("")

    def _close_search(self, text: str) -> None:
        self.query_one(SearchInput).remove_class("open")
        self.tickets.focus()
        if text != self.spec.search:
            self._apply(search=text)

    def action_cycle_sort(self) -> None:
        self._apply(sort=SORTS[(SORTS.index(self.spec.sort) + 1) % len(SORTS)])

    def action_reverse(self) -> None:
        self._apply(descending=not self.spec.descending)

    def action_filter_status(self) -> None:
        choices = [("", "Any status"), *((s, s) for s in STATUSES)]
        self.app.push_screen(
            ChoiceScreen("Filter by status", choices, current=self.spec.status or ""),
            lambda value: value is not None and self._apply(status=value or None),
        )

    def action_filter_assignee(self) -> None:
        agents = self.snapshot.filters.agents if self.snapshot else []
        choices = [("", "Anyone"), ("none", "Nobody (unassigned)"), *agents]
        self.app.push_screen(
            ChoiceScreen("Filter by assignee", choices, current=self.spec.assignee or ""),
            lambda value: value is not None and self._apply(assignee=value or None),
        )

    def action_filter_channel(self) -> None:
        channels = self.snapshot.filters.channels if self.snapshot else []
        choices = [("", "Any channel"), *((name, name) for name in channels)]
        self.app.push_screen(
            ChoiceScreen("Filter by channel", choices, current=self.spec.channel or ""),
            lambda value: value is not None and self._apply(channel=value or None),
        )

    def action_clear_filters(self) -> None:
        self._apply(status=None, branch=None, queue=None, assignee=None, channel=None, search="")

    def action_reload(self) -> None:
        """Everything read again: the views kept since the last change too (time alone moves
        the due views)."""
        self._loaded.clear()
        self._load(self.spec, self.tickets.around)


def _terms(search: str) -> tuple[str, ...]:
    """The words a search marks in the titles and the ticket view."""
    try:
        return highlight_terms(parse_query(search))
    except QueryError:
        return ()


class FirstTicket(Message):
    """Tickets exist: the welcome screen has done its job."""
