"""One ticket: its fields, the conversation and what an agent does to it (reply, note, assign,
status, priority, branch, queue, custom fields, save attachments, merge, split, tags), with the
requester's and their organisation's other tickets in a pane to open. Mail text is shown through
rich Text after strip_controls, never as markup; `e` swaps the visible text for the full one
(quotes).

Every change names the version the agent saw (`expected=`): a ticket someone else changed
meanwhile is reloaded, not overwritten. A thread worker asks for the ticket's version every
second (on PostgreSQL, when a notification says something changed), so the view follows
changes from any process; messages are updated in place, so the
scroll position stays."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static

from tuidesk.engine.parse import Address
from tuidesk.engine.text import clean_line, normalize_newlines, strip_controls
from tuidesk.paths import resolve_paths
from tuidesk.screens.attachments import SaveFilesScreen, SaveRequest, StoredFile, save_file
from tuidesk.screens.dialogs import ConfirmScreen, TextChoiceScreen
from tuidesk.screens.pickers import ChoiceScreen, FuzzyPickerScreen
from tuidesk.screens.related import RelatedTickets, merge_items, merge_search
from tuidesk.screens.reply import NoteScreen, ReplyScreen, ReplyTarget
from tuidesk.screens.ticket_fields import FieldsScreen, type_fields
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.changes import ChangeWaiter
from tuidesk.storage.console_queries import Filters, filters
from tuidesk.storage.db import DatabaseUnavailable, read_session, transaction
from tuidesk.storage.history import Event, by_agent, ticket_events
from tuidesk.storage.merge import MergeError, merge, split
from tuidesk.storage.models import PRIORITIES, TICKET_STATUSES, Agent
from tuidesk.storage.related import RelatedTicket, requester_tickets
from tuidesk.storage.tables import aware
from tuidesk.storage.tags import TagError, change_tags, parse_edit
from tuidesk.storage.ticket_actions import TicketChanged, TicketError, ticket_version, update_ticket
from tuidesk.storage.views import custom_field_rows, show_ticket
from tuidesk.widgets.highlight import mark
from tuidesk.widgets.history import HistoryPane
from tuidesk.widgets.ticket_list import Clock
from tuidesk.widgets.workers import ReportsWorkerFailures

POLL_S = 1.0  # another agent's change shows within this plus one read
RECHECK_S = 5.0  # on PostgreSQL a notification wakes the watch; this catches a missed one
_DIRECTION_STYLE = {"in": "cyan", "out": "green", "note": "yellow"}
_READ_ERRORS = (SQLAlchemyError, DatabaseUnavailable)
_GONE = object()  # the version of a ticket that no longer exists
_CHOICE_WIDTH = 38  # what one line of a ChoiceScreen (44 columns wide) shows
# Actions that change the ticket: offered once it is loaded.
_CHANGES = {
    "reply", "note", "assign_me", "assign", "status", "priority", "branch", "queue", "fields",
    "merge", "split", "tags",
}  # fmt: skip


def _person(who: dict[str, Any] | None) -> str:
    if not who:
        return "-"
    name, email = clean_line(who.get("name") or "", 80), clean_line(who.get("email") or "", 120)
    return f"{name} <{email}>" if name and email else name or email or "-"


def _when(iso: str | None, clock: Clock) -> str:
    if not iso:
        return "-"
    now = clock()
    return datetime.fromisoformat(iso).astimezone(now.tzinfo).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class TicketData:
    """One read: the ticket (None when gone), what the pickers offer, who is at the keys
    (an admin sees the restricted custom fields too) and the custom fields of its type."""

    ticket: dict[str, Any] | None
    choices: Filters
    me: Address | None
    admin: bool = False
    fields: tuple[dict[str, Any], ...] = ()
    related: tuple[RelatedTicket, ...] = ()  # the requester's and their organisation's


class TwoRowFooter(Footer):
    """A ticket's keys do not fit one line at 120 columns: they wrap into two rows."""

    DEFAULT_CSS = "TwoRowFooter { height: 2; layout: grid; grid-columns: 1fr; }"

    def compose(self) -> ComposeResult:
        yield from super().compose()
        columns = self.styles.grid_size_columns  # Footer sets one column per key
        if columns:
            self.styles.grid_size_columns = -(-columns // 2)


class TicketScreen(ReportsWorkerFailures, Screen[None]):
    CSS_PATH = "ticket.tcss"
    BINDINGS = [
        Binding("r", "reply", "Reply", id="ticket.reply", tooltip="Write a reply to the requester"),
        Binding("n", "note", "Note", id="ticket.note", tooltip="Add an internal note"),
        Binding("m", "assign_me", "Take", id="ticket.assign_me", tooltip="Assign to me"),
        Binding("a", "assign", "Assign", id="ticket.assign", tooltip="Assign to an agent"),
        Binding("s", "status", "Status", id="ticket.status", tooltip="Change the status"),
        Binding("p", "priority", "Priority", id="ticket.priority", tooltip="Change the priority"),
        Binding("b", "branch", "Branch", id="ticket.branch", tooltip="Move to another branch"),
        Binding("u", "queue", "Queue", id="ticket.queue", tooltip="Put in a queue, or a new one"),
        Binding("c", "fields", "Fields", id="ticket.fields",
                tooltip="Edit the custom fields of its ticket type"),
        Binding("o", "save_files", "Files", id="ticket.save_files",
                tooltip="Save attachments to a folder"),
        Binding("M", "merge", "Merge", id="ticket.merge",
                tooltip="Merge into another ticket: messages and history move there"),
        Binding("S", "split", "Split", id="ticket.split",
                tooltip="Split into a new ticket from a message on: those messages move there"),
        Binding("t", "tags", "Tags", id="ticket.tags", tooltip="Add or remove tags"),
        Binding("e", "toggle_full", "Quotes", id="ticket.full_text", tooltip="Show the full text"),
        Binding("h", "history", "History", id="ticket.history",
                tooltip="Show who changed what and when"),
        Binding("escape", "back", "Back", id="ticket.back"),
        Binding("j", "scroll('down')", "Scroll down", id="ticket.down", show=False),
        Binding("k", "scroll('up')", "Scroll up", id="ticket.up", show=False),
    ]  # fmt: skip

    class Changed(Message):
        """The ticket's version moved (or the ticket went): read it again."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TicketScreen.Changed)

    class Loaded(Message):
        def __init__(self, data: TicketData) -> None:
            super().__init__()
            self.data = data

    class HistoryRead(Message):
        def __init__(self, events: list[Event]) -> None:
            super().__init__()
            self.events = events

    class Told(Message):
        """Something for the agent to read: a change made or refused, files saved, an error."""

        def __init__(self, text: str, severity: SeverityLevel = "information") -> None:
            super().__init__()
            self.text = text
            self.severity = severity

    def __init__(
        self, engine: Engine, number: int, *, clock: Clock, highlight: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self.engine = engine
        self.number = number
        self.clock = clock
        self.highlight = highlight  # the words of the search it was opened from, marked
        self.ticket: dict[str, Any] | None = None
        self.choices = Filters([], [], [], [])
        self.agent_id: int | None = None  # who is at the keyboard: the console says, on mount
        self.me: Address | None = None
        self.admin = False
        self.type_fields: tuple[dict[str, Any], ...] = ()
        self.related: tuple[RelatedTicket, ...] = ()
        self.full = False
        self._stop = threading.Event()

    @property
    def version(self) -> datetime | None:
        """The `updated_at` the agent is looking at: what every change is checked against."""
        if self.ticket is None or not self.ticket["updated_at"]:
            return None
        return aware(datetime.fromisoformat(self.ticket["updated_at"]))

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="conversation"):
            yield Static(Text("Loading…", style="dim"), id="fields")
            yield RelatedTickets(id="related")
        yield HistoryPane(id="history")
        # Compact, without the palette key (ctrl+p still works), in two rows: every key shows.
        yield TwoRowFooter(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.agent_id = getattr(self.app, "agent_id", None)
        self.query_one("#conversation").focus()
        self._watch()

    def on_unmount(self) -> None:
        self._stop.set()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Changes wait for the ticket to load (shown greyed, not hidden); taking needs an
        agent."""
        if action in _CHANGES and self.ticket is None:
            return None
        if action == "assign_me" and self.me is None:
            return None
        return True

    # -- reading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def _watch(self) -> None:
        """Until the screen goes: the ticket's version whenever PostgreSQL says something
        changed (and every RECHECK_S besides), or every second on SQLite; say when it moved."""
        seen: Any = None
        failed: str | None = None
        with ChangeWaiter(self.engine, stop=self._stop) as changes:
            while not self._stop.is_set():
                try:
                    with self.engine.connect() as conn:
                        version: Any = ticket_version(conn, self.number)
                except TicketError:
                    version = _GONE
                except _READ_ERRORS as exc:
                    if str(exc) != failed:  # once per new error, not every second
                        failed = str(exc)
                        self.post_message(self.Told(f"Cannot read the ticket: {exc}", "error"))
                else:
                    failed = None
                    if version != seen:
                        seen = version
                        self.post_message(self.Changed())
                changes.wait(max(POLL_S, RECHECK_S) if changes.listening else POLL_S)

    @work(thread=True, exclusive=True, group="ticket", exit_on_error=False)
    def _read(self) -> None:
        try:
            with read_session(self.engine) as session:
                ticket = show_ticket(session, str(self.number))
                choices = filters(session.connection())
                agent = session.get(Agent, self.agent_id) if self.agent_id is not None else None
                fields = type_fields(session, ticket["type"]) if ticket and ticket["type"] else ()
                related = requester_tickets(session.connection(), self.number) if ticket else []
        except _READ_ERRORS as exc:
            self.post_message(self.Told(f"Cannot read the ticket: {exc}", "error"))
            return
        me = Address(agent.name, agent.email) if agent is not None else None
        admin = agent is not None and agent.role == "admin"
        data = TicketData(ticket, choices, me, admin, fields, tuple(related))
        self.post_message(self.Loaded(data))

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _read_history(self) -> None:
        try:
            with self.engine.connect() as conn:
                events = ticket_events(conn, self.number)
        except _READ_ERRORS as exc:
            self.post_message(self.Told(f"Cannot read the history: {exc}", "error"))
            return
        self.post_message(self.HistoryRead(events))

    def on_ticket_screen_changed(self, _message: Changed) -> None:
        self._read()
        if self.query_one(HistoryPane).display:
            self._read_history()

    def on_ticket_screen_history_read(self, message: HistoryRead) -> None:
        self.query_one(HistoryPane).show(message.events, self.clock)

    def on_ticket_screen_loaded(self, message: Loaded) -> None:
        self.ticket = message.data.ticket
        self.choices = message.data.choices
        self.me = message.data.me
        self.admin = message.data.admin
        self.type_fields = message.data.fields
        self.related = message.data.related
        self.query_one(RelatedTickets).show(self.related, self.clock())
        self._show()
        self.refresh_bindings()

    def on_ticket_screen_told(self, message: Told) -> None:
        self.notify(clean_line(message.text, 300), severity=message.severity, markup=False)

    # -- drawing ---------------------------------------------------------------------------

    def _fields(self, t: dict[str, Any]) -> Text:
        text = Text()
        text.append(f"{t['ref']}  ", style="bold")
        text.append(clean_line(t["title"], 400), style="bold")
        rows = [
            ("Status", t["status"]),
            ("Priority", t["priority"]),
            ("Requester", _person(t["requester"])),
            ("Assignee", _person(t["assignee"])),
            ("Branch", t["branch"] + (f" / {clean_line(t['queue'], 60)}" if t["queue"] else "")),
            ("Type", clean_line(t["type"] or "-", 60)),
            ("Channel", clean_line(t["channel"] or t["source"], 60)),
            ("Created", _when(t["created_at"], self.clock)),
            ("Updated", _when(t["updated_at"], self.clock)),
        ]
        if t["linked"]:  # a stranger's reply to that ticket opened this one
            rows.append(("Linked", f"reply to {t['linked']} from someone not taking part in it"))
        if t["linked_from"]:
            rows.append(("Linked", "replies from others opened " + ", ".join(t["linked_from"])))
        if t["merged_into"]:
            rows.append(("Merged", f"into {t['merged_into']}: its conversation is there"))
        if t["merged_from"]:
            rows.append(("Merged", "from " + ", ".join(t["merged_from"])))
        if t["tags"]:
            rows.append(("Tags", " ".join(f"#{clean_line(tag, 40)}" for tag in t["tags"])))
        for name, value in rows:
            text.append(f"\n{name:<10}", style="dim")
            text.append(value)
        for name, value, restricted in custom_field_rows(t, admin=self.admin):
            text.append(f"\n{clean_line(name, 40)}: ", style="dim")
            text.append(clean_line("-" if value is None else str(value), 200))
            if restricted:
                text.append("  (restricted: admins only)", style="dim italic")
        if t["needs"]:  # required fields still empty: `c` fills them in
            text.append(f"\nneeds: {clean_line(', '.join(t['needs']), 200)}", style="bold yellow")
        return text

    def _message(self, m: dict[str, Any]) -> tuple[Text, Text]:
        """A message's border title and text."""
        head = Text()
        head.append(m["direction"], style=_DIRECTION_STYLE.get(m["direction"], ""))
        head.append(f"  {_person(m['from'])}", style="bold")
        head.append(f"  {_when(m['created_at'], self.clock)}", style="dim")
        body = m["full_body"] if self.full and m["full_body"] else m["body"]
        text = Text(strip_controls(normalize_newlines(body)).expandtabs(4).rstrip())
        mark(text, self.highlight)
        for file in m["attachments"]:
            text.append(f"\n📎 {clean_line(file['filename'], 120)} ({file['size']:,} bytes)", "dim")
        if m["delivery"]:
            state = m["delivery"]["status"]
            text.append(f"\n[{state}]", style="red" if state == "failed" else "dim")
        return head, text

    def _show(self) -> None:
        """Update the message boxes in place and add new ones, so the scroll position holds."""
        scroll = self.query_one("#conversation", VerticalScroll)
        fields = self.query_one("#fields", Static)
        boxes = list(scroll.query(".message").results(Static))
        if self.ticket is None:
            fields.update(Text(f"Ticket {self.number} is gone.", style="red"))
            scroll.remove_children(".message")
            return
        fields.update(self._fields(self.ticket))
        messages = self.ticket["messages"]
        for box, m in zip(boxes, messages, strict=False):
            head, text = self._message(m)
            box.border_title = head
            box.update(text)
        for box in boxes[len(messages) :]:
            box.remove()
        new = []
        for m in messages[len(boxes) :]:
            head, text = self._message(m)
            box = Static(text, classes="message")
            box.border_title = head
            new.append(box)
        if new:
            scroll.mount_all(new)

    # -- changing the ticket ---------------------------------------------------------------

    def _change(self, **changes: Any) -> None:
        assert self.version is not None
        self._write(self.version, changes)

    @work(thread=True, group="write", exit_on_error=False)
    def _write(self, expected: datetime, changes: dict[str, Any]) -> None:
        try:
            with transaction(self.engine) as conn:
                done = update_ticket(
                    conn, str(self.number), expected=expected, actor=by_agent(self.agent_id),
                    **changes,
                )  # fmt: skip
        except TicketChanged as exc:
            at = exc.at.astimezone(self.clock().tzinfo).strftime("%H:%M:%S")
            text = f"{exc.ref} was changed at {at} by someone else: nothing written, reloaded"
            self.post_message(self.Told(text, "warning"))
        except (TicketError, *_READ_ERRORS) as exc:
            self.post_message(self.Told(str(exc), "error"))
        else:
            said = ", ".join(f"{k} {v or 'none'}" for k, v in done.changes.items())
            self.post_message(self.Told(f"{done.ref}: {said}"))
        self.post_message(self.Changed())

    def _pick(self, title: str, field: str, choices: list[tuple[str, str]], current: str) -> None:
        """A picker whose choice, when it differs, is written to `field` ("" clears it)."""

        def chosen(value: str | None) -> None:
            if value is not None and value != current:
                self._change(**{field: value or None})

        self.app.push_screen(ChoiceScreen(title, choices, current=current), chosen)

    def action_status(self) -> None:
        assert self.ticket is not None
        choices = [(s, s) for s in TICKET_STATUSES]
        self._pick("Status", "status", choices, self.ticket["status"])

    def action_priority(self) -> None:
        assert self.ticket is not None
        choices = [(p, p) for p in PRIORITIES]
        self._pick("Priority", "priority", choices, self.ticket["priority"])

    def action_branch(self) -> None:
        assert self.ticket is not None
        choices = [(key, f"{key} · {name}") for key, name in self.choices.branches]
        self._pick("Move to branch", "branch", choices, self.ticket["branch"])

    def action_assign(self) -> None:
        assert self.ticket is not None
        agents = [(email, f"{name} <{email}>") for email, name in self.choices.agents]
        current = (self.ticket["assignee"] or {}).get("email") or ""
        self._pick("Assign to", "assignee", [("", "Nobody"), *agents], current)

    def action_assign_me(self) -> None:
        assert self.me is not None
        self._change(assignee=self.me.email)

    def action_queue(self) -> None:
        assert self.ticket is not None
        current = self.ticket["queue"] or ""

        def chosen(value: str | None) -> None:
            if value is not None and value != current:
                self._change(queue=value or None)

        choices = [("", "No queue"), *((name, name) for name, _colour in self.choices.queues)]
        self.app.push_screen(
            TextChoiceScreen(
                "Queue", choices, current=current, placeholder="A new queue: type, Enter"
            ),
            chosen,
        )

    def action_fields(self) -> None:
        t = self.ticket
        assert t is not None and self.version is not None
        hidden = set() if self.admin else set(t["restricted"])
        fields = [f for f in self.type_fields if f["name"] not in hidden]
        if not fields:
            self.notify(f"{t['ref']} has no custom fields: its ticket type has none", markup=False)
            return
        screen = FieldsScreen(
            self.engine, self.number, t["ref"], self.version, fields, t["custom_fields"],
            actor=by_agent(self.agent_id),
        )  # fmt: skip

        def saved(said: str | None) -> None:
            if said is not None:
                self.notify(clean_line(said, 300), markup=False)
                self._read()

        self.app.push_screen(screen, saved)

    # -- writing ---------------------------------------------------------------------------

    def _target(self) -> ReplyTarget:
        t = self.ticket
        assert t is not None and self.version is not None
        return ReplyTarget(self.number, t["ref"], t["title"], _person(t["requester"]), self.version)

    def action_reply(self) -> None:
        screen = ReplyScreen(self.engine, self._target(), agent_id=self.agent_id, clock=self.clock)
        self.app.push_screen(screen, lambda stored: stored and self._read())

    def action_note(self) -> None:
        screen = NoteScreen(
            self.engine, self._target(), author=self.me, agent_id=self.agent_id, clock=self.clock
        )
        self.app.push_screen(screen, lambda stored: stored and self._read())

    # -- merging, tags, the requester's other tickets ----------------------------------------

    def action_merge(self) -> None:
        t = self.ticket
        assert t is not None
        if t["merged_into"]:
            self.notify(f"{t['ref']} was merged into {t['merged_into']} already", markup=False)
            return
        picker = FuzzyPickerScreen(
            f"Merge {t['ref']} into…", merge_items(self.related),
            empty="type a ref or words from its messages",
            search=merge_search(self.engine, self.number),
        )  # fmt: skip

        def picked(index: int | None) -> None:
            if index is None:
                return
            into = picker.items[index]
            target = into.name.split()[0]
            question = (
                f"Merge {t['ref']} into {clean_line(into.name, 80)}? Its messages and history "
                f"move there and {t['ref']} is closed."
            )
            self.app.push_screen(
                ConfirmScreen(question), lambda yes: yes and self._merge(int(into.value), target)
            )

        self.app.push_screen(picker, picked)

    @work(thread=True, group="write", exit_on_error=False)
    def _merge(self, number: int, target: str) -> None:
        try:
            with transaction(self.engine) as conn:
                done = merge(conn, str(self.number), str(number), by_agent(self.agent_id))
        except (MergeError, *_READ_ERRORS) as exc:
            self.post_message(self.Told(str(exc), "error"))
            self.post_message(self.Changed())
            return
        self.post_message(self.Told(f"Merged {done.source} into {done.into}"))
        self.post_message(self.Open(number, instead=True))

    class Open(Message):
        """Show ticket `number`: `instead` of this one (it went there), else over it."""

        def __init__(self, number: int, *, instead: bool) -> None:
            super().__init__()
            self.number = number
            self.instead = instead

    def on_ticket_screen_open(self, message: Open) -> None:
        screen = TicketScreen(self.engine, message.number, clock=self.clock)
        if message.instead:
            self.app.switch_screen(screen)
        else:
            self.app.push_screen(screen)

    def action_split(self) -> None:
        """Which message the new ticket starts from (the one at the top of the view offered
        first), then are you sure; the new ticket opens over this one."""
        t = self.ticket
        assert t is not None
        messages = t["messages"]
        if len(messages) < 2:  # a merged ticket has none: they went with it
            self.notify(f"{t['ref']} has {len(messages)} messages: nothing to split", markup=False)
            return
        choices = [(str(m["number"]), self._message_label(m)) for m in messages[1:]]
        current = str(max(2, self._message_on_top()))

        def chosen(value: str | None) -> None:
            if not value:
                return
            n = int(value)
            question = (
                f"Split {t['ref']} from message #{n}? {len(messages) - n + 1} of its "
                f"{len(messages)} messages move to a new ticket; nothing is deleted."
            )
            seen = messages[n - 1]["id"]
            self.app.push_screen(ConfirmScreen(question), lambda yes: yes and self._split(n, seen))

        title = f"Split {t['ref']} from message…"
        self.app.push_screen(ChoiceScreen(title, choices, current=current), chosen)

    def _message_label(self, m: dict[str, Any]) -> str:
        """`#2 2024-03-02 09:30 in alice@example.com`, numbered as `ticket show` does, cut to
        one line of the picker."""
        sender = clean_line((m["from"] or {}).get("email") or "-", 80)
        label = f"#{m['number']} {_when(m['created_at'], self.clock)} {m['direction']} {sender}"
        return label if len(label) <= _CHOICE_WIDTH else label[: _CHOICE_WIDTH - 1] + "…"

    def _message_on_top(self) -> int:
        """The number (from 1) of the first message showing at the top of the conversation."""
        scroll = self.query_one("#conversation", VerticalScroll)
        boxes = list(scroll.query(".message").results(Static))
        for number, box in enumerate(boxes, 1):
            if box.virtual_region.bottom > scroll.scroll_y:
                return number
        return len(boxes)

    @work(thread=True, group="write", exit_on_error=False)
    def _split(self, number: int, message_id: int) -> None:
        try:
            with transaction(self.engine) as conn:
                done = split(
                    conn, str(self.number), number, by_agent(self.agent_id), message_id=message_id
                )
        except (MergeError, *_READ_ERRORS) as exc:
            self.post_message(self.Told(str(exc), "error"))
            self.post_message(self.Changed())
            return
        said = f"Split {done.messages} messages of {done.original} into {done.ticket}"
        self.post_message(self.Told(said))
        self.post_message(self.Changed())
        self.post_message(self.Open(done.number, instead=False))

    def action_tags(self) -> None:
        t = self.ticket
        assert t is not None
        current = list(t["tags"])

        def typed(text: str | None) -> None:
            if text is None:
                return
            try:
                added, removed = parse_edit(text, current)
            except TagError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            if added or removed:
                self._tag(added, removed)

        screen = TextChoiceScreen(
            f"Tags of {t['ref']}", [], current="", value=" ".join(current),
            placeholder="The tags, or changes: +billing -urgent",
        )  # fmt: skip
        self.app.push_screen(screen, typed)

    @work(thread=True, group="write", exit_on_error=False)
    def _tag(self, added: list[str], removed: list[str]) -> None:
        try:
            with transaction(self.engine) as conn:
                done = change_tags(conn, str(self.number), added, removed, by_agent(self.agent_id))
        except (TagError, *_READ_ERRORS) as exc:
            self.post_message(self.Told(str(exc), "error"))
        else:
            self.post_message(self.Told(f"{done.ref}: tags {', '.join(done.tags) or 'none'}"))
        self.post_message(self.Changed())

    @on(OptionList.OptionSelected, "#related")
    def _open_related(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            number = int(event.option.id)
            self.app.push_screen(TicketScreen(self.engine, number, clock=self.clock))

    # -- attachments -----------------------------------------------------------------------

    def _files(self) -> list[StoredFile]:
        return [
            StoredFile(
                file["filename"],
                file["size"],
                file["sha256"],
                f"{_person(m['from'])}, {_when(m['created_at'], self.clock)}",
            )
            for m in (self.ticket or {}).get("messages", [])
            for file in m["attachments"]
        ]

    def action_save_files(self) -> None:
        files = self._files()
        if not files:
            self.notify("This ticket has no attachments")
            return
        self.app.push_screen(
            SaveFilesScreen(files), lambda request: request and self._save_files(request)
        )

    @work(thread=True, group="save_files", exit_on_error=False)
    def _save_files(self, request: SaveRequest) -> None:
        """Copy the blobs out; each file is written, never opened."""
        blobs = BlobStore(resolve_paths().blobs)
        saved: list[Path] = []
        for file in request.files:
            try:
                saved.append(save_file(blobs.get(file.sha256), file.filename, request.folder))
            except (OSError, ValueError) as exc:
                self.post_message(self.Told(f"{file.filename}: not saved: {exc}", "error"))
        if saved:
            names = ", ".join(path.name for path in saved)
            self.post_message(self.Told(f"Saved to {request.folder}: {names}"))

    # -- moving around ---------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_toggle_full(self) -> None:
        self.full = not self.full
        if self.ticket is not None:
            self._show()

    def action_history(self) -> None:
        """Show the History pane (read afresh) or hide it."""
        pane = self.query_one(HistoryPane)
        pane.display = not pane.display
        if pane.display:
            self._read_history()

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#conversation", VerticalScroll)
        scroll.scroll_relative(y=1 if direction == "down" else -1, animate=False)
