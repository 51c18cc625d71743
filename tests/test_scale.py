"""At scale: bench.scale runs end to end at a tiny size and prints every figure (a check that it
runs, never a speed test), and the console paints a long view from its first screen of ids
before it holds every ticket of it, on a desk built by the bench's own loader."""

from __future__ import annotations

import json
from pathlib import Path

from textual.message import Message
from textual.widgets import Static

from bench.scale import Plan, SqliteLoader, load, main
from tests.admin_pilot import until
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.main import FIRST_IDS, MainScreen
from tuidesk.storage.schema import open_database
from tuidesk.storage.ticket_list import SORTS, TicketFilter, ticket_ids
from tuidesk.widgets.ticket_list import TicketList


def test_the_scale_bench_prints_every_figure(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--tickets", "300", "--databases", "sqlite", "--cache", str(tmp_path)]
    assert main([*args, "--presses", "2", "--runs", "1", "--mails", "2"]) == 0
    out = capsys.readouterr().out
    figures = [
        "console first paint",
        "console: every id of the view",
        "console j (down)",
        "console k (up)",
        "console / (search opens)",
        "console Esc (back to the whole view)",
        "view all: first screen of ids",
        "view every: all 300 ids",
        "view all by due: first screen of ids",
        "view breached by due: first screen of ids",
        "view due_today by due: first screen of ids",
        "sidebar counts (view_counts)",
        "change token (every second)",
        "pipe per mail, full vs empty database",
        "import per mail, full vs empty database",
        "size of message",
        "size of everything",
        "size of the full-text index (search_*)",
    ]
    for query in ("rare word", "common word", "phrase", "from:"):
        figures += [f"ticket search {query} (", f"console / {query}: the ranked ids"]
    for days in (30, 365):
        figures += [f"report, {days} days, all branches", f"report, {days} days, branch SUP"]
    missing = [figure for figure in figures if figure not in out]
    assert not missing, out
    assert "tuidesk at 300 tickets (sqlite: " in out
    # built once into the cache, then reused as it is
    assert main([*args, "--build-only"]) == 0
    assert "building" not in capsys.readouterr().out
    # a build at an earlier schema revision is upgraded, not built anew
    [built] = tmp_path.glob("sqlite-t300-*")
    built.rename(tmp_path / (built.name.rpartition("-r")[0] + "-r0000"))
    assert main([*args, "--build-only"]) == 0
    out = capsys.readouterr().out
    assert "upgrading sqlite-t300-" in out and "building" not in out
    assert [p.name for p in tmp_path.glob("sqlite-t300-*")] == [built.name]
    # a cache built before the service-level columns were filled gets them, once
    done = built / "built.json"
    done.write_text(
        json.dumps({k: v for k, v in json.loads(done.read_text()).items() if k != "sla"})
    )
    assert main([*args, "--build-only"]) == 0
    assert "service levels filled" in capsys.readouterr().out
    assert main([*args, "--build-only"]) == 0
    assert "service levels filled" not in capsys.readouterr().out
    # the fill leaves open tickets due (a `new` one by its first response), none other
    engine = open_database(f"sqlite:///{built / 'scale.sqlite3'}")
    with engine.connect() as conn:
        due = {
            status: (n, n_due, n_first)
            for status, n, n_due, n_first in conn.exec_driver_sql(
                "SELECT status, count(*), count(due_at), count(first_response_due) FROM ticket"
                " WHERE id % 10 <> 0 GROUP BY status"
            )
        }
    engine.dispose()
    assert due["new"][0] == due["new"][1] == due["new"][2] > 0
    assert due["open"][0] == due["open"][1] > 0 and due["open"][2] == 0
    assert all(n_due == 0 for s, (_, n_due, _) in due.items() if s not in ("new", "open"))


async def test_a_long_view_paints_its_first_screen_then_holds_every_ticket(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite3"
    url = f"sqlite:///{path}"
    open_database(url, create=True).dispose()
    load(SqliteLoader(path), Plan(4000), lambda _line: None)
    engine = open_database(url)
    with engine.connect() as conn:
        every = ticket_ids(conn, TicketFilter(view="all"))
        for sort in SORTS:  # a first screen is the head of the whole view, in every order
            for descending in (True, False):
                spec = TicketFilter(view="every", sort=sort, descending=descending)
                assert ticket_ids(conn, spec, limit=50) == ticket_ids(conn, spec)[:50], spec
    assert len(every) > FIRST_IDS  # long enough to come in two

    app = TuideskApp(engine)
    shown: list[tuple[bool, int, str]] = []  # per load: complete?, ids the list held, its row 1

    def before(message: Message) -> None:
        if isinstance(message, MainScreen.Loaded):
            held = app.screen.query(TicketList)
            first = held.first().render_line(1).text if held else ""
            shown.append((message.snapshot.complete, len(held.first().ids) if held else 0, first))

    async with app.run_test(size=(120, 36), message_hook=before) as pilot:
        await until(pilot, lambda: app.screen.query_one(TicketList).ids == every, "every ticket")
        tickets = app.screen.query_one(TicketList)
        status = str(app.screen.query_one("#status", Static).render())
        assert f"{len(every):,} tickets" in status
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.snapshot is not None
        assert screen.snapshot.counts is not None and screen.snapshot.counts["all"] == len(every)
        assert f"-{every[0]} " in tickets.render_line(1).text

    # The first load was the first screen, drawn before every id came: when the whole view
    # arrived, the list already held the first ids and showed the first ticket's row.
    whole = [complete for complete, _held, _row in shown].index(True)
    assert whole > 0 and not shown[0][0]
    _complete, held, row = shown[whole]
    assert held == FIRST_IDS and f"-{every[0]} " in row
    engine.dispose()
