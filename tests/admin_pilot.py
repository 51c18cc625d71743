"""Driving the admin console in pilot tests: an admin at the keyboard, a section opened from
the sidebar, form fields filled and their errors read back as the admin sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from textual.screen import Screen
from textual.widgets import (
    Checkbox,
    DataTable,
    Footer,
    Input,
    OptionList,
    Select,
    Static,
    TextArea,
)

from tuidesk.screens.admin import AdminScreen
from tuidesk.screens.app import TuideskApp
from tuidesk.widgets.form import Form, widget_id

NOW = datetime(2024, 3, 2, 12, 0).astimezone()


def admin_app(engine: Engine, agent_id: int, secrets_dir: Path | None = None) -> TuideskApp:
    return TuideskApp(engine, agent_id=agent_id, clock=lambda: NOW, secrets_dir=secrets_dir)


async def until(pilot, condition: Callable[[], bool], what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for the workers to bring the console to `condition`, on a screen that is drawn.
    Generous (a minute, for a machine busy with other work), never a speed test."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await pilot.pause()
        if drawn(pilot.app.screen) and condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the console never showed {what}")


def drawn(screen: Screen[Any]) -> bool:
    """Whether the screen's widgets are mounted and its footer shows its keys. A screen pushed
    on a worker's answer is the app's screen before its widgets are there, and a footer gets
    its keys only after the screen's first refresh."""
    return screen.is_mounted and all(
        footer.children and all(key.is_mounted for key in footer.children)
        for footer in screen.query(Footer)
    )


async def open_section(pilot, title: str) -> AdminScreen:  # type: ignore[no-untyped-def]
    """From the ticket list: `A`, then the section picked in the sidebar by keyboard."""
    await pilot.press("A")
    await until(pilot, lambda: isinstance(pilot.app.screen, AdminScreen), "the admin screen")
    screen = pilot.app.screen
    sections = screen.query_one("#admin-sections", OptionList)
    titles = [s.title for s in screen.sections]
    sections.focus()
    await pilot.press("home")
    for _ in range(titles.index(title)):
        await pilot.press("down")
    await pilot.press("enter")
    await until(pilot, lambda: screen.current.title == title, f"the {title} section")
    return screen


def rows(screen: AdminScreen) -> list[list[str]]:
    table = screen.query_one("#admin-rows", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def form(app: TuideskApp) -> Form:
    return app.screen.query_one(Form)


def set_field(app: TuideskApp, name: str, value: Any) -> None:
    """Put a value in a field the way typing would leave it."""
    widget = form(app).query_one(f"#{widget_id(name)}")
    if isinstance(widget, Select):
        widget.value = value
    elif isinstance(widget, Checkbox):
        widget.value = bool(value)
    elif isinstance(widget, TextArea):
        widget.text = value
    elif isinstance(widget, Input):
        widget.value = value
    else:  # pragma: no cover - a new field kind needs a line here
        raise TypeError(type(widget))


def error_of(app: TuideskApp, name: str) -> str:
    """The message shown under a field ('' when none is shown)."""
    label = form(app).query_one(f"#error-{name}", Static)
    return str(label.render()) if label.has_class("-shown") else ""
