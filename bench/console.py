"""The console at scale: first paint of the ticket list and key presses, at N tickets.

    python -m bench.console [--n 100000] [--presses 30]

Builds a migrated SQLite database with N tickets by bulk INSERT (SQLAlchemy Core, spread over
two branches, three queues, a few agents, N/10 requesters, times over the last year), then runs
the console headless through Textual's pilot and times, from the frames the app hands to its
driver: app start to the first frame that shows the list's rows, and each key press to the first
frame that shows its result. Prints figures and the issue's targets; nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, update

from bench.table import headline

TARGET_FIRST_PAINT_S = 1.0
TARGET_KEY_MS = 100.0
SIZE = (120, 36)
_STATUSES = ("new", "open", "open", "pending", "resolved", "closed")
_PRIORITIES = ("normal", "normal", "normal", "high", "low", "urgent")
_WORDS = ("printer", "invoice", "refund", "login", "password", "shipping", "crash", "export",
          "upgrade", "billing")  # fmt: skip


def build_database(path: Path, n: int) -> Engine:
    """N tickets in a fresh, migrated database, in chunks of 10,000 rows per statement."""
    from tuidesk.storage.schema import open_database
    from tuidesk.storage.tables import tables

    engine = open_database(f"sqlite:///{path}", create=True)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        t = tables(conn)
        # The fresh database's default branch (Support, id 1) takes its address; Sales is 2.
        conn.execute(
            update(t.branch).where(t.branch.c.key == "SUP")
            .values(addresses=["support@example.com"], created_at=start)
        )  # fmt: skip
        conn.execute(
            insert(t.branch),
            {"name": "Sales", "key": "SAL", "addresses": ["sales@example.com"], "domains": [],
             "is_default": False, "created_at": start},
        )  # fmt: skip
        conn.execute(
            insert(t.queue),
            [{"name": q, "colour": c} for q, c in (("Billing", "magenta"), ("L2", "cyan"))],
        )
        conn.execute(
            insert(t.agent),
            [{"name": f"Agent {i}", "email": f"agent{i}@example.com", "role": "agent"}
             for i in range(1, 6)],
        )  # fmt: skip
        contacts = max(n // 10, 1)
        conn.execute(
            insert(t.contact),
            [{"email": f"c{i}@customer.test", "email_key": f"c{i}@customer.test",
              "name": f"Customer {i}", "created_at": start} for i in range(1, contacts + 1)],
        )  # fmt: skip
        step = timedelta(days=365) / max(n, 1)
        for first in range(0, n, 10_000):
            rows = []
            for i in range(first, min(first + 10_000, n)):
                when = start + step * i
                rows.append(
                    {"title": f"{_WORDS[i % 10]} problem number {i}",
                     "status": _STATUSES[i % 6], "priority": _PRIORITIES[i % 6 if i % 7 else 5],
                     "custom_fields": {}, "branch_id": 1 + (i % 5 == 0),
                     "queue_id": (None, 1, 2)[i % 3], "requester_id": 1 + i % contacts,
                     "assignee_id": None if i % 4 else 1 + i % 5, "source": "import",
                     "created_at": when, "updated_at": when}
                )  # fmt: skip
            conn.execute(insert(t.ticket), rows)
    return engine


class Frames:
    """Wraps the app's `_display` (every frame the driver would write, headless too) to note
    the time of the first frame at which `shown()` holds."""

    def __init__(self, app: Any) -> None:
        self._display = app._display
        self.shown: Callable[[], bool] = lambda: False
        self.at: float | None = None
        app._display = self._frame

    def _frame(self, screen: Any, renderable: Any) -> None:
        self._display(screen, renderable)
        if renderable is not None and self.at is None and self.shown():
            self.at = time.perf_counter()

    def expect(self, shown: Callable[[], bool]) -> None:
        self.shown, self.at = shown, None

    async def wait(self, since: float, timeout: float = 30.0) -> float:
        while self.at is None:
            if time.perf_counter() - since > timeout:
                raise TimeoutError("the console never showed it")
            await asyncio.sleep(0.0005)
        return self.at - since


async def _press(app: Any, frames: Frames, key: str, shown: Callable[[], bool]) -> float:
    """Seconds from the key reaching the app to the frame that shows `shown`."""
    from textual import events

    frames.expect(shown)
    t0 = time.perf_counter()
    app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
    elapsed = await frames.wait(t0)
    await asyncio.sleep(0.01)  # let the frame's tail (timers, idle) pass before the next key
    return elapsed


async def measure(engine: Engine, presses: int) -> tuple[float, dict[str, list[float]]]:
    from tuidesk.screens.app import TuideskApp
    from tuidesk.widgets.ticket_list import TicketList

    app = TuideskApp(engine)
    frames = Frames(app)

    def tickets() -> TicketList:
        return app.screen.query_one(TicketList)

    def painted() -> bool:
        found = app.screen.query(TicketList)
        return bool(found) and bool(found.first().ids) and bool(found.first()._rows)

    t0 = time.perf_counter()
    frames.expect(painted)
    times: dict[str, list[float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        first_paint = await frames.wait(t0)
        await pilot.pause()
        listed = tickets()

        def at(index: int) -> Callable[[], bool]:
            return lambda: listed.cursor == index

        async def timed(label: str, key: str, shown: Callable[[], bool]) -> None:
            times.setdefault(label, []).append(await _press(app, frames, key, shown))

        for _ in range(presses):
            await timed("j (down)", "j", at(listed.cursor + 1))
        for _ in range(presses):
            await timed("k (up)", "k", at(listed.cursor - 1))
        for _ in range(max(presses // 3, 3)):
            await timed("G (last)", "G", at(len(listed.ids) - 1))
            await timed("g (first)", "g", at(0))
        for _ in range(min(presses, (len(listed.ids) - 1) // listed._page_rows)):
            await timed("PgDn", "pagedown", at(listed.cursor + listed._page_rows))
        for i in range(max(presses // 3, 3)):
            word = f"number {1000 + i}"
            search = app.screen.query_one("#search")
            await timed("/ (open search)", "slash", lambda s=search: s.has_focus)
            search.value = word
            full = len(listed.ids)
            await timed("search Enter → results", "enter", lambda f=full: len(listed.ids) < f)
            await timed("/ (open search)", "slash", lambda s=search: s.has_focus)
            await timed("Esc (clear search)", "escape", lambda f=full: len(listed.ids) >= f)
        await pilot.press("q")
    return first_paint, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="tickets in the database")
    parser.add_argument("--presses", type=int, default=30, help="presses per key")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuidesk-bench-console-") as tmp:
        t0 = time.perf_counter()
        engine = build_database(Path(tmp) / "bench.sqlite3", args.n)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        import tuidesk.screens.app  # noqa: F401 - Textual's import, apart from the app's start

        imported = time.perf_counter() - t0
        first_paint, times = asyncio.run(measure(engine, args.presses))
        engine.dispose()
    print(f"console at {args.n:,} tickets (database built in {built:.1f} s, {SIZE[0]}x{SIZE[1]})")
    print(f"{'figure':<28} {'n':>4} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  target")
    print("-" * 72)
    verdict = "ok" if first_paint < TARGET_FIRST_PAINT_S else "MISSED"
    print(
        f"{'first paint of the list':<28} {1:>4} {first_paint * 1000:10.0f} {'':>8} {'':>8}"
        f"  < {TARGET_FIRST_PAINT_S * 1000:.0f} ms {verdict}"
    )
    for label, values in times.items():
        ms = sorted(v * 1000 for v in values)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        target = "" if "→" in label else f"< {TARGET_KEY_MS:.0f} ms"
        if target:
            target += " ok" if p95 < TARGET_KEY_MS else " MISSED"
        else:
            target = "(a query over the view, in a worker)"
        print(
            f"{label:<28} {len(ms):>4} {statistics.median(ms):10.1f} {p95:8.1f} {ms[-1]:8.1f}"
            f"  {target}"
        )
    print(f"(importing the console, before the first paint: {imported * 1000:.0f} ms)")
    at = f"console at {args.n:,} tickets"
    headline("console", f"{at}: first paint", f"{first_paint * 1000:.0f} ms",
             f"< {TARGET_FIRST_PAINT_S:.0f} s", first_paint < TARGET_FIRST_PAINT_S)  # fmt: skip
    for figure, labels in (
        ("j/k, g/G, PgDn", ("j (down)", "k (up)", "G (last)", "g (first)", "PgDn")),
        ("`/` and Esc (focus moves)", ("/ (open search)", "Esc (clear search)")),
    ):
        groups = [sorted(v * 1000 for v in times[k]) for k in labels if times.get(k)]
        if not groups:
            continue
        medians = [statistics.median(ms) for ms in groups]
        p95s = [ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] for ms in groups]
        headline(
            "console",
            f"{at}: {figure}",
            f"median {_span(medians)} ms, p95 {_span(p95s)} ms",
            f"< {TARGET_KEY_MS:.0f} ms",
            max(p95s) < TARGET_KEY_MS,
        )


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}-{high:.0f}"


if __name__ == "__main__":
    main()
