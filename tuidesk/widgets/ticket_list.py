"""The ticket list as a Line-API scroll view (toolong's shape): it holds only the ordered ticket
numbers of a view and draws the visible rows, kept in a small LRU, so 100,000 tickets cost one
list of integers and a few dozen rows.

`render_line` never reads the database: a row not in the cache is drawn as a placeholder and
asked of the reader, a thread worker that fetches it with the rest of its page and posts the rows
back; the list redraws when they arrive. Whoever loads the ids may hand the rows of the window
along (`set_ids(rows=...)`), so a loaded view is drawn whole at once."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rich.color import Color, ColorParseError
from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tuidesk.clock import utcnow
from tuidesk.engine.text import clean_line
from tuidesk.storage.ticket_list import TicketLine
from tuidesk.widgets.highlight import mark
from tuidesk.widgets.workers import ReportsWorkerFailures, first_line

Fetch = Callable[[Sequence[int]], dict[int, TicketLine]]
Clock = Callable[[], datetime]

PAGE = 64  # rows fetched per query: a screen and a half, so a PgDn rarely waits on a page
CACHE_ROWS = 4096  # rows kept across pages; the oldest pages are dropped first
RETRY_S = 1.0  # rows that could not be read are asked again this much later

_STATUS_STYLE = {
    "new": Style(color="bright_yellow", bold=True),
    "open": Style(color="green"),
    "pending": Style(color="cyan"),
    "resolved": Style(dim=True),
    "closed": Style(dim=True),
}
_PRIORITY_STYLE = {"urgent": Style(color="red", bold=True), "high": Style(color="red")}
_DIM = Style(dim=True)
_BREACHED, _NEAR = Style(color="red", bold=True), Style(color="yellow")


def window(ids: Sequence[int], around: int | None) -> list[int]:
    """The ticket numbers worth reading with a list of `ids`: the first page, or the page
    centred on ticket `around` (the selection, where a scrolled list stays)."""
    try:
        start = max(ids.index(around) - PAGE // 2, 0) if around is not None else 0
    except ValueError:
        start = 0
    return list(ids[start : start + PAGE])


def short_time(when: datetime, now: datetime) -> str:
    """HH:MM today, day and month this year, with the year before: what an agent scans for.
    Shown in the clock's time zone, so a pinned clock pins the column too."""
    local = when.astimezone(now.tzinfo)
    if local.date() == now.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b" if local.year == now.year else "%d %b %y")


def span(minutes: float) -> str:
    """A length of time in the two largest units an agent needs: "2h 10m", "3d 4h", "35m"
    (whole minutes, rounded down; 24-hour days)."""
    left = int(minutes)
    days, hours, mins = left // 1440, left // 60 % 24, left % 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def due_in(due: datetime, now: datetime) -> str:
    """Time to a due point (`span`), with a minus once it is breached: "-35m"."""
    minutes = (due - now).total_seconds() // 60
    return f"-{span(-minutes)}" if minutes < 0 else span(minutes)


def due_cell(due: datetime | None, now: datetime, near: timedelta) -> Text:
    """The "Due in" cell: blank with no target, red once breached, yellow within `near`."""
    if due is None:
        return Text("")
    style = _BREACHED if due <= now else _NEAR if due - now <= near else Style()
    return Text(due_in(due, now), style=style)


def queue_style(name: str | None) -> Style:
    """A queue's colour as set by an admin; one Rich cannot read is shown plain."""
    if not name or name == "default":
        return Style()
    try:
        return Style(color=Color.parse(name))
    except ColorParseError:
        return Style()


def _cell(value: str | Text, width: int, style: Style | None = None) -> Text:
    text = value if isinstance(value, Text) else Text(value, style=style or "")
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


class TicketList(ReportsWorkerFailures, ScrollView, can_focus=True):
    """Row 0 is a fixed header; data row i is drawn at screen row i - scroll_y + 1."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", id="list.down", show=False),
        Binding("k,up", "cursor_up", "Up", id="list.up", show=False),
        Binding("g,home", "first", "First ticket", id="list.first", show=False),
        Binding("G,end", "last", "Last ticket", id="list.last", show=False),
        Binding("pagedown", "page_down", "Page down", id="list.page_down", show=False),
        Binding("pageup", "page_up", "Page up", id="list.page_up", show=False),
        Binding("enter", "open", "Open", id="list.open", tooltip="Open the ticket"),
    ]
    COMPONENT_CLASSES = {"ticket-list--header", "ticket-list--cursor"}
    DEFAULT_CSS = """
    TicketList { overflow-x: hidden; }
    TicketList > .ticket-list--header { text-style: bold; color: $text-muted; }
    TicketList > .ticket-list--cursor { background: $surface-lighten-1; }
    TicketList:focus > .ticket-list--cursor { background: $accent 40%; }
    """

    class Opened(Message):
        """Enter on a ticket."""

        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    class RowsRead(Message):
        """The reader's answer for rows asked in `generation` (None: a ticket gone)."""

        def __init__(self, generation: int, rows: dict[int, TicketLine | None]) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows

    class ReadFailed(Message):
        """The reader could not read rows; they are asked again a second later. Bubbles up to
        the screen, which says why."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, fetch: Fetch, clock: Clock, *, id: str | None = None) -> None:
        """`fetch` reads rows by ticket number; it runs on the reader's thread."""
        super().__init__(id=id)
        self._fetch = fetch
        self._clock = clock
        self._ids: list[int] = []
        self._ref_width = 7
        self._rows: OrderedDict[int, TicketLine | None] = OrderedDict()
        # Each drawn row's strip, with what it was drawn from: a focus move, the search bar
        # opening (the list one row shorter) or a cursor step redraws every visible row, and
        # building 35 rows of Text took most of such a frame.
        self._strips: dict[int, tuple[tuple[Any, ...], Strip]] = {}
        self._asked: set[int] = set()  # numbers the reader has been asked for, not yet read
        self._generation = 0  # bumped when the cached rows may be out of date
        self._requests: queue.SimpleQueue[tuple[int, list[int]] | None] = queue.SimpleQueue()
        self.cursor = 0
        self.loaded = False
        self.highlight: tuple[str, ...] = ()  # the search's words, marked in the titles
        self.near = timedelta(0)  # a due time this close shows as near (the loader sets it)
        self.show_due = False  # the "Due in" column: only on a desk with service levels
        self._drawn: threading.Event | None = None
        # see render_lines: the width, the style, the clock and the one clock's minute
        self._frame: tuple[int, Style, datetime, datetime] | None = None

    def on_mount(self) -> None:
        self._reader()

    def on_unmount(self) -> None:
        self._requests.put(None)

    # -- data ------------------------------------------------------------------------------

    @property
    def ids(self) -> list[int]:
        return self._ids

    @property
    def selected(self) -> int | None:
        """The ticket number under the cursor."""
        return self._ids[self.cursor] if self._ids else None

    @property
    def around(self) -> int | None:
        """The ticket whose page a reload should read along: the selection, unless the list is
        at the top (where it stays, to show new tickets)."""
        return None if self.scroll_y == 0 else self.selected

    def set_ids(
        self,
        ids: list[int],
        *,
        rows: Mapping[int, TicketLine | None] | None = None,
        rows_current: bool = False,
        widest: int | None = None,
    ) -> None:
        """A new list for the view: the cursor stays on the same ticket and, unless the list
        was scrolled to the top (where new tickets should show), on the same screen row.
        `rows`: rows read with the ids (see `window`), drawn without asking the reader.
        `rows_current`: nothing changed in the database since the cached rows were read (only
        the view did), so they are shown without asking again.
        `widest`: the largest number in `ids`, when the loader knows it (a million ids take
        the UI thread tens of milliseconds to look through)."""
        selected, offset = self.selected, self.cursor - int(self.scroll_y)
        at_top = self.scroll_y == 0
        self._ids = ids
        widest = max(ids, default=0) if widest is None else widest
        self._ref_width = max(7, 5 + len(str(widest)))  # a 4-letter key, the number
        if not rows_current:
            self._rows.clear()  # any shown row may have changed
            self._strips.clear()
            self._asked.clear()
            self._generation += 1  # what the reader still brings is older: dropped
        for number, line in (rows or {}).items():
            if number not in self._rows:
                self._rows[number] = line
                self._asked.discard(number)
        self._trim()
        self.loaded = True
        try:
            self.cursor = ids.index(selected)  # type: ignore[arg-type]
        except ValueError:
            self.cursor = min(self.cursor, max(len(ids) - 1, 0))
        self.virtual_size = Size(0, len(ids) + 1)  # rows fit the width: no sideways scrolling
        if not at_top:
            self.scroll_to(y=max(self.cursor - offset, 0), animate=False, immediate=True)
        self._follow()
        self.refresh()

    def _line(self, index: int) -> TicketLine | None | bool:
        """The cached row; False when it is not read yet (the reader is asked for its page)."""
        number = self._ids[index]
        if number in self._rows:
            self._rows.move_to_end(number)
            return self._rows[number]
        if number not in self._asked:
            start = index - index % PAGE
            page = [
                n
                for n in self._ids[start : start + PAGE]
                if n not in self._rows and n not in self._asked
            ]
            self._asked.update(page)
            self._requests.put((self._generation, page))
        return False

    def _trim(self) -> None:
        while len(self._rows) > CACHE_ROWS:
            self._rows.popitem(last=False)

    @work(thread=True, group="ticket-rows", name="ticket rows", exit_on_error=False)
    def _reader(self) -> None:
        """The list's reader thread: pages of rows, in the order they were asked for; a page
        asked before the rows were dropped is not read at all."""
        while (request := self._requests.get()) is not None:
            generation, numbers = request
            if generation != self._generation:
                continue
            try:
                found = self._fetch(numbers)
            except Exception as exc:  # noqa: BLE001 - said, and the reader lives on
                self.post_message(self.ReadFailed(first_line(exc)))
                continue
            # a ticket gone since the ids were read stays blank until the next load
            self.post_message(self.RowsRead(generation, {n: found.get(n) for n in numbers}))

    def on_ticket_list_read_failed(self, _message: ReadFailed) -> None:
        """Forget what was asked, and draw (so ask) again in a second: once a second while the
        database is away, as the screen's watch does."""
        self._asked.clear()
        self.set_timer(RETRY_S, self.refresh)

    def on_ticket_list_rows_read(self, message: RowsRead) -> None:
        message.stop()
        if message.generation != self._generation:
            return  # read before the rows were dropped: asked again when drawn
        for number, line in message.rows.items():
            self._asked.discard(number)
            if number not in self._rows:
                self._rows[number] = line
        self._trim()
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------

    def when_drawn(self, event: threading.Event) -> None:
        """Set `event` once the list's lines have next been drawn for a frame: a loader holds
        back its heavy reading until then, so the rows it brought show first."""
        self._drawn = event
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        """The frame's lines, with what every line shares found once (the widget's style
        walks its ancestors: two thirds of drawing a cached row)."""
        self._frame = (
            self.scrollable_content_region.width, self.rich_style, self._clock(), _minute()
        )  # fmt: skip
        try:
            lines = super().render_lines(crop)
        finally:
            self._frame = None
        if self._drawn is not None:  # set once this frame is written, not while it is drawn
            self.call_later(self._drawn.set)
            self._drawn = None
        return lines

    @property
    def _page_rows(self) -> int:
        """Data rows on screen, under the header."""
        return max(self.scrollable_content_region.height - 1, 1)

    def _columns(self, width: int) -> list[tuple[str, int]]:
        due = [("Due in", 8)] if self.show_due else []
        fixed = [("Ref", self._ref_width), ("Status", 7), ("Prio", 6), *due, ("Requester", 14)]
        # narrower terminals: the title matters more than who, then where
        for tail in (
            [("Branch/Queue", 11), ("Updated", 9), ("Assignee", 10)],
            [("Branch/Queue", 11), ("Updated", 9)],
            [("Updated", 9)],
        ):
            title = width - sum(w + 1 for _, w in fixed + tail)
            if title >= 20:
                break
        return [*fixed, ("Title", max(title, 10)), *tail]

    def _render_ticket(
        self,
        line: TicketLine,
        columns: list[tuple[str, int]],
        now: datetime | None = None,
        due_now: datetime | None = None,
    ) -> Text:
        """Everything from mail goes in as plain Text after clean_line: never markup.
        `now`: the frame's clock (the list's own when not given); `due_now`: the one clock,
        which due times count from."""
        now = now or self._clock()
        where = Text(line.branch)
        if line.queue:
            where.append("/")
            where.append(clean_line(line.queue, 40), style=queue_style(line.queue_colour))
        values: dict[str, Text] = {
            "Ref": Text(line.ref),
            "Status": Text(line.status, style=_STATUS_STYLE.get(line.status, "")),
            "Prio": Text(line.priority, style=_PRIORITY_STYLE.get(line.priority, _DIM)),
            "Due in": due_cell(line.due_at, due_now or _minute(), self.near),
            "Requester": Text(clean_line(line.requester, 200)),
            "Title": _title(line, self.highlight),
            "Branch/Queue": where,
            "Updated": Text(short_time(line.updated_at, now)),
            "Assignee": Text(
                clean_line(line.assignee or "-", 80), style="" if line.assignee else _DIM
            ),
        }
        return Text(" ").join(_cell(values[name], width) for name, width in columns)

    def render_line(self, y: int) -> Strip:
        width, base, now, due_now = self._frame or (
            self.scrollable_content_region.width,
            self.rich_style,
            self._clock(),
            _minute(),
        )
        columns = self._columns(width)
        if y == 0:
            header = Text(" ").join(_cell(name, w) for name, w in columns)
            style = base + self.get_component_rich_style("ticket-list--header")
            return self._strip(header, width, style)
        index = int(self.scroll_y) + y - 1
        if not self._ids:
            note = "" if y != 1 else ("No tickets in this view" if self.loaded else "Loading…")
            return self._strip(Text(note, style=_DIM), width, base)
        if index >= len(self._ids):
            return Strip.blank(width, base)
        line = self._line(index)  # only the cache: a row not read yet is a placeholder
        if index == self.cursor:
            base = base + self.get_component_rich_style("ticket-list--cursor")
        if not line:
            return self._strip(Text("…", style=_DIM), width, base)
        drawn_from = (line, width, self._ref_width, self.highlight, now.date(), now.utcoffset(),
                      due_now if line.due_at else None, self.near, self.show_due)  # fmt: skip
        cached = self._strips.get(line.number)
        if cached is None or cached[0][0] is not line or cached[0][1:] != drawn_from[1:]:
            if len(self._strips) >= CACHE_ROWS:
                self._strips.clear()
            strip = self._strip(self._render_ticket(line, columns, now, due_now), width)
            cached = self._strips[line.number] = (drawn_from, strip)
        return cached[1].apply_style(base)  # Strip keeps the styled copies it made

    def _strip(self, text: Text, width: int, style: Style | None = None) -> Strip:
        segments = list(text.render(self.app.console, end=""))
        strip = Strip(segments).adjust_cell_length(width)
        return strip if style is None else strip.apply_style(style)

    # -- moving ----------------------------------------------------------------------------

    def _move(self, cursor: int) -> None:
        if not self._ids:
            return
        self.cursor = max(0, min(cursor, len(self._ids) - 1))
        self._follow()
        self.refresh()

    def _follow(self) -> None:
        """Scroll just enough to keep the cursor row on screen."""
        top, rows = int(self.scroll_y), self._page_rows
        if self.cursor < top:
            top = self.cursor
        elif self.cursor >= top + rows:
            top = self.cursor - rows + 1
        if top != int(self.scroll_y):
            self.scroll_to(y=top, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self._ids) - 1)

    def action_page_down(self) -> None:
        self.scroll_to(y=self.scroll_y + self._page_rows, animate=False, immediate=True)
        self._move(self.cursor + self._page_rows)

    def action_page_up(self) -> None:
        self.scroll_to(y=max(self.scroll_y - self._page_rows, 0), animate=False, immediate=True)
        self._move(self.cursor - self._page_rows)

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.Opened(self.selected))

    def on_click(self, event: Click) -> None:
        """A click selects the row; a second click on it opens the ticket."""
        index = int(self.scroll_y) + event.y - 1
        if event.y == 0 or not 0 <= index < len(self._ids):
            return
        if index == self.cursor and event.chain >= 2:
            self.action_open()
        self._move(index)


def _minute() -> datetime:
    """The one clock to the minute: what "Due in" counts from, so a row is drawn again once a
    minute, not every frame."""
    return utcnow().replace(second=0, microsecond=0)


def _title(line: TicketLine, highlight: tuple[str, ...] = ()) -> Text:
    """The title, after the required fields still empty: before it, so a long title does not
    hide them."""
    title = Text()
    if line.needs:
        title.append(f"needs {clean_line(', '.join(line.needs), 40)} ", style="yellow")
    title.append(mark(Text(clean_line(line.title, 400)), highlight))
    if line.tags:  # after the title, compact: the title is what an agent reads first
        title.append(" " + " ".join(f"#{clean_line(tag, 40)}" for tag in line.tags), "dim cyan")
    return title
