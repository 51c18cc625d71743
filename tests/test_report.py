"""`tuidesk report` on both databases, at a fixed clock: exact counts per day, nearest-rank
medians and p90s, attainment, the backlog's status and age boundaries, per agent and branch,
the branch filter, and the text, CSV and JSON outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import update

from tests.conftest import Cli

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# ref, created, To, status, assignee, SLA policy, first response minutes, resolved, minutes
TICKETS = [
    ("SUP-1", _at(12, 1, 10), "support", "resolved", "Ada", "Std", 30, _at(12, 2, 10), 600),
    ("SUP-2", _at(12, 1, 11), "support", "resolved", "Ada", "Std", 10, _at(12, 2, 11), 1500),
    ("SUP-3", _at(12, 1, 12), "support", "closed", "Bob", "Std", 50, _at(12, 3, 12), 2000),
    ("SUP-4", _at(12, 3, 10), "support", "resolved", "Bob", "Std", 20, _at(12, 7, 10), 30),
    ("SUP-5", _at(12, 3, 11), "support", "pending", None, "Std", 40, None, None),
    ("SUP-6", _at(12, 4, 12), "support", "open", None, None, 100, None, None),  # 3 days old
    ("SAL-7", _at(12, 6, 12), "sales", "open", "Ada", "Std", 90, None, None),  # 1 day old
    ("SAL-8", _at(12, 6, 20), "sales", "new", None, "Std", 60, None, None),  # met at the target
    ("SUP-9", _at(12, 7, 8), "support", "open", "Bob", None, 80, None, None),
    ("SUP-10", _at(12, 7, 8, 30), "support", "open", None, "Std", 70, None, None),
    ("SUP-11", _at(11, 1, 10), "support", "resolved", "Ada", "Std", None, _at(12, 2, 9), 900),
    ("SUP-12", _at(11, 20, 10), "support", "open", None, None, None, None, None),
]


def _json(cli: Cli, *args: str):  # type: ignore[no-untyped-def]
    return json.loads(cli("report", *args, "--json").stdout)


def _desk(cli: Cli, clock, db_engine) -> None:  # type: ignore[no-untyped-def]
    """TICKETS as mail and `ticket set` make them; then their stored service-level columns set
    to the table's values by SQL: the report reads only those columns, and exact business
    minutes through the events would take an agent's reply at each chosen minute."""
    from tuidesk.storage.tables import tables

    cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
    cli("agent", "add", "Ada", "--email", "ada@example.com")
    cli("agent", "add", "Bob", "--email", "bob@example.com")
    cli("sla", "add", "Std", "--first-response", "1h", "--resolution", "1d")
    for n, (ref, created, to, status, agent, *_) in enumerate(TICKETS, 1):
        clock(created)
        head = f"From: c{n}@customer.example\r\nTo: {to}@example.com\r\nSubject: Case {n}\r\n"
        cli("pipe", input=f"{head}Message-ID: <r{n}@c>\r\n\r\nHello\r\n".encode())
        if agent:
            cli("ticket", "set", ref, "--assign", agent)
        if status != "new":
            cli("ticket", "set", ref, "--status", status)
    clock(NOW)
    with db_engine.begin() as conn:
        ticket = tables(conn).ticket
        for n, (*_, policy, first, resolved, minutes) in enumerate(TICKETS, 1):
            conn.execute(
                update(ticket).where(ticket.c.id == n).values(
                    sla_policy=policy, first_response_minutes=first, resolved_at=resolved,
                    resolution_minutes=minutes,
                )
            )  # fmt: skip
    assert json.loads(cli("ticket", "show", "SAL-8", "--json").stdout)["ref"] == "SAL-8"


def test_the_report_counts_exactly_on_both_databases(cli: Cli, clock, db_engine) -> None:  # type: ignore[no-untyped-def]
    """Nearest-rank percentiles (a value that occurred: the 5th of 10 for the median, the 9th
    for p90, never an interpolation), met at the target itself, ages at their boundaries."""
    assert cli("report").stdout.decode().splitlines() == [
        "Report 2026-11-08 to 2026-12-07 (30 days)",
        "opened 0, closed 0, open now 0",
        "",
        "                count  median  p90  SLA met",
        "first response      0       -    -        -",
        "resolution          0       -    -        -",
    ]
    _desk(cli, clock, db_engine)

    report = _json(cli)
    # the JSON's fields are a contract (the console's dashboard reads them too)
    assert list(report) == [
        "since", "until", "branch", "per_day", "first_response", "resolution", "sla", "backlog",
        "per_agent", "per_branch",
    ]  # fmt: skip
    assert (report["since"], report["until"], report["branch"]) == (
        "2026-11-08",
        "2026-12-07",
        None,
    )
    moved = {
        d["day"]: (d["opened"], d["closed"])
        for d in report["per_day"]
        if d["opened"] or d["closed"]
    }
    assert len(report["per_day"]) == 30 and moved == {
        "2026-11-20": (1, 0), "2026-12-01": (3, 0), "2026-12-02": (0, 3), "2026-12-03": (2, 1),
        "2026-12-04": (1, 0), "2026-12-06": (2, 0), "2026-12-07": (2, 1),
    }  # fmt: skip
    assert report["first_response"] == {"count": 10, "median_minutes": 50, "p90_minutes": 90}
    assert report["resolution"] == {"count": 5, "median_minutes": 900, "p90_minutes": 2000}
    assert report["sla"] == {
        "first_response": {"judged": 8, "met": 6, "percent": 75.0},
        "resolution": {"judged": 5, "met": 3, "percent": 60.0},
    }
    assert report["backlog"] == {
        "open": 7,
        "by_status": {"new": 1, "open": 5, "pending": 1},
        "by_age": {"under 1 day": 3, "1-3 days": 1, "3-7 days": 2, "over 7 days": 1},
    }

    def groups(section: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
        return [(g["name"], g["opened"], g["closed"], g["open_now"],
                 *g["first_response"].values()) for g in section]  # fmt: skip

    assert groups(report["per_agent"]) == [
        ("Ada", 3, 3, 1, 3, 30, 90), ("Bob", 3, 2, 1, 3, 50, 80), (None, 5, 0, 5, 4, 60, 100),
    ]  # fmt: skip
    assert groups(report["per_branch"]) == [
        ("SAL", 2, 0, 2, 2, 60, 90),
        ("SUP", 9, 5, 5, 8, 40, 100),
    ]

    sales = _json(cli, "--branch", "sales")  # by name as by key
    assert sales["first_response"] == {"count": 2, "median_minutes": 60, "p90_minutes": 90}
    assert sales["sla"]["first_response"] == {"judged": 2, "met": 1, "percent": 50.0}
    assert sales["resolution"]["count"] == 0 and sales["backlog"]["open"] == 2
    assert groups(sales["per_agent"]) == [("Ada", 1, 0, 1, 1, 90, 90), (None, 1, 0, 1, 1, 60, 60)]
    assert [g["name"] for g in sales["per_branch"]] == ["SAL"]
    nowhere = _json(cli, "--branch", "nope")
    assert nowhere["backlog"]["open"] == 0 and nowhere["per_branch"] == []
    two = _json(cli, "--since", "2026-12-02", "--until", "2026-12-03")
    assert [(d["opened"], d["closed"]) for d in two["per_day"]] == [(0, 3), (2, 1)]

    csv_lines = cli("report", "--csv").stdout.decode().splitlines()
    assert csv_lines[0] == "section,name,metric,value"
    assert {"per_day,2026-12-02,closed,3", "first_response,,p90_minutes,90.0",
            "sla,first_response,percent,75.0", "backlog,age,1-3 days,1",
            "per_agent,(unassigned),open_now,5",
            "per_branch,SUP,first_response_median_minutes,40.0"} <= set(csv_lines)  # fmt: skip

    text = cli("report").stdout.decode().splitlines()
    assert text[:2] == [
        "Report 2026-11-08 to 2026-12-07 (30 days)",
        "opened 11, closed 5, open now 7",
    ]
    at = text.index("                count   median      p90      SLA met")
    assert text[at + 1 : at + 3] == [
        "first response     10      50m   1h 30m  75.0% (6/8)",
        "resolution          5  15h 00m  33h 20m  60.0% (3/5)",
    ]
    at = text.index("day         opened  closed")  # only the days something happened
    assert text[at + 1 : at + 4] == [
        "2026-11-20       1       0", "2026-12-01       3       0", "2026-12-02       0       3",
    ]  # fmt: skip
    assert text[at + 8] == "" and len([line for line in text if line.startswith("2026-")]) == 7
    at = text.index("backlog    new  open  pending")
    assert text[at + 1 : at + 5] == [
        "by status    1     5        1", "",
        "        under 1 day  1-3 days  3-7 days  over 7 days",
        "by age            3         1         2            1",
    ]  # fmt: skip
    at = text.index("agent         opened  closed  open now  response median     p90")
    assert text[at + 1 : at + 5] == [
        "Ada                3       3         1              30m  1h 30m",
        "Bob                3       2         1              50m  1h 20m",
        "(unassigned)       5       0         5           1h 00m  1h 40m",
        "",
    ]
    assert text[-3:] == [
        "branch  opened  closed  open now  response median     p90",
        "SAL          2       0         2           1h 00m  1h 30m",
        "SUP          9       5         5              40m  1h 40m",
    ]
    weeks = cli("report", "--since", "2026-10-01").stdout.decode().splitlines()
    at = weeks.index("week                opened  closed")  # over 31 days: by the week
    assert weeks[at + 1 : at + 5] == [
        "week of 2026-10-26       1       0", "week of 2026-11-16       1       0",
        "week of 2026-11-30       8       4", "week of 2026-12-07       2       1",
    ]  # fmt: skip
