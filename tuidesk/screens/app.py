"""The console: the main screen of tickets over a welcome screen on first run, the outbox sent
in a worker thread while it runs, and every key in the footer, the help and the palette.

The UI thread never waits on the database: the role and the first-run check are read by thread
workers that answer with messages, and any worker's unexpected failure is shown by one handler
(`_worker_state_changed`) instead of closing the console."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tuidesk.engine.text import clean_line
from tuidesk.screens.help import HelpScreen, key_rows
from tuidesk.screens.main import FirstTicket, MainScreen
from tuidesk.screens.welcome import WelcomeScreen
from tuidesk.storage.console_queries import is_admin, is_first_run
from tuidesk.widgets.ticket_list import Clock
from tuidesk.widgets.workers import first_line

if TYPE_CHECKING:
    from tuidesk.screens.section import Row, Section
    from tuidesk.services.daemon import Daemon


class EngineLog(Message):
    """A line from the background engine (a poll, a sent mail, an error)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class EnginePolled(Message):
    """A channel was read successfully just now."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class Started(Message):
    """What start-up read: whether the agent is an admin, whether this is a first run."""

    def __init__(self, admin: bool, first_run: bool) -> None:
        super().__init__()
        self.admin = admin
        self.first_run = first_run


class RoleChecked(Message):
    """The agent's role, asked again at the admin console's door; for an admin, the sections
    and the first one's rows, so the console opens drawn."""

    def __init__(self, admin: bool, sections: list[Section], rows: list[Row]) -> None:
        super().__init__()
        self.admin = admin
        self.sections = sections
        self.rows = rows


def local_now() -> datetime:
    return datetime.now().astimezone()


class TuideskApp(App[None]):
    TITLE = "tuidesk"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", id="app.help", tooltip="Every key"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding(
            "A",
            "admin",
            "Admin",
            id="app.admin",
            tooltip="Channels, branches, queues, ticket types, rules and agents (admins)",
        ),  # fmt: skip
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        config_dir: Path | None = None,
        agent_id: int | None = None,
        clock: Clock = local_now,
        secrets_dir: Path | None = None,
    ) -> None:
        """With `config_dir` (where the channels' secrets are), the outbox is sent while the
        console runs, as `tuidesk watch` does. `agent_id` is whose tickets "My tickets" shows;
        `clock` gives the time zone and "today" of the time columns (tests pin it);
        `secrets_dir` is where the admin forms keep passwords (the config folder)."""
        super().__init__()
        self.engine = engine
        self.config_dir = config_dir
        self.agent_id = agent_id
        self.clock = clock
        self.daemon: Daemon | None = None
        self.engine_line: str | None = None
        # None until read: the Admin key is offered meanwhile, and the door asks again.
        self.is_admin: bool | None = False if agent_id is None else None
        self.secrets_dir = secrets_dir or config_dir

    def on_mount(self) -> None:
        import gc

        gc.freeze()  # what start-up built lives as long as the app: keep it out of GC passes
        self.push_screen(MainScreen(self.engine, agent_id=self.agent_id, clock=self.clock))
        self._read_start()
        if self.config_dir is not None:
            self.run_worker(
                self._start_engine, thread=True, group="engine", name="engine", exit_on_error=False
            )

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def _read_start(self) -> None:
        with self.engine.connect() as conn:
            admin = is_admin(conn, self.agent_id)
            first_run = is_first_run(conn)
        self.post_message(Started(admin, first_run))

    def on_started(self, message: Started) -> None:
        self.is_admin = message.admin
        self.refresh_bindings()
        if message.first_run and isinstance(self.screen, MainScreen):
            self.push_screen(WelcomeScreen(admin=message.admin))

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's unexpected failure, the app's own and those screens pass on: the
        agent reads its first line, and the console stays up."""
        if event.state is not WorkerState.ERROR:
            return
        what = clean_line(event.worker.name or event.worker.group, 40)
        self.notify(
            clean_line(first_line(event.worker.error), 300),
            title=f"Failed: {what}",
            severity="error",
            markup=False,
            timeout=10,
        )

    def on_unmount(self) -> None:
        if self.daemon is not None:
            self.daemon.stop_event.set()  # its threads finish the mail in hand and end

    def _start_engine(self) -> None:
        """Watch the IMAP channels and send the outbox behind the UI; a channel another
        process holds the lease of is left to it. The engine speaks only through messages."""
        from tuidesk.paths import resolve_paths
        from tuidesk.services.daemon import Daemon
        from tuidesk.sources.imap import load_imap_channels
        from tuidesk.storage.blobs import BlobStore

        holder = f"{socket.gethostname()}:{os.getpid()}:console"
        self.daemon = Daemon(
            self.engine, BlobStore(resolve_paths().blobs), self.config_dir,  # type: ignore[arg-type]
            holder, lambda line: self.post_message(EngineLog(line)),
            polled=lambda name: self.post_message(EnginePolled(name)),
        )  # fmt: skip
        self.daemon.start([ch.name for ch in load_imap_channels(self.engine)])

    def on_engine_polled(self, message: EnginePolled) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.show_poll(message.name, self.clock())

    def on_engine_log(self, message: EngineLog) -> None:
        self.engine_line = message.line
        self.log(message.line)
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.show_engine(message.line)

    def on_first_ticket(self, _message: FirstTicket) -> None:
        if isinstance(self.screen, WelcomeScreen):
            self.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "admin":  # agents do not see the key at all; admins see it once
            # No admin screen is open before its module is imported: importing it here (the
            # forms, sqlmodel, pydantic) held the first frame back by 0.3 to 0.7 s.
            admin = sys.modules.get("tuidesk.screens.admin")
            return self.is_admin is not False and not (
                admin and any(isinstance(s, admin.AdminScreen) for s in self.screen_stack)
            )
        return True

    def action_admin(self) -> None:
        """Asked again at the door, in a worker: a role taken away since start-up counts."""
        self._check_role()

    @work(thread=True, exclusive=True, group="role", exit_on_error=False)
    def _check_role(self) -> None:
        from tuidesk.screens.admin import admin_sections, read_rows

        with self.engine.connect() as conn:
            admin = is_admin(conn, self.agent_id)
        if not admin:
            self.post_message(RoleChecked(False, [], []))
            return
        sections = admin_sections(self.secrets_dir)
        self.post_message(RoleChecked(True, sections, read_rows(self.engine, sections[0])))

    def on_role_checked(self, message: RoleChecked) -> None:
        from tuidesk.screens.admin import AdminScreen

        self.is_admin = message.admin
        self.refresh_bindings()
        if not self.is_admin:
            self.notify("Only admins can change the configuration.", severity="error")
            return
        if not any(isinstance(s, AdminScreen) for s in self.screen_stack):
            self.push_screen(AdminScreen(self.engine, message.sections, message.rows))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(key_rows(self.screen)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the screen is in the palette too, by its description."""
        yield from super().get_system_commands(screen)
        for row in key_rows(screen):
            yield SystemCommand(
                f"{row.description} ({row.key_display})",
                row.tooltip or row.description,
                partial(row.node.run_action, row.action),
            )


def run_console(engine: Engine, config_dir: Path, agent_id: int, *, run_engine: bool) -> None:
    """Raises KeymapError before anything is drawn when keys.toml is wrong."""
    from tuidesk.screens.keymap import load_keymap

    keymap = load_keymap(config_dir)
    app = TuideskApp(
        engine, config_dir=config_dir if run_engine else None, agent_id=agent_id,
        secrets_dir=config_dir,
    )  # fmt: skip
    app.set_keymap(keymap)
    app.run()
