"""What an SLA admin change costs on a busy desk: refresh_open, as `sla add`, `sla edit`,
`calendar edit` and `config import` run it, over N open tickets.

    python -m bench.sla [--open 40000] [--databases sqlite,postgresql]

Per database (SQLite in a temporary file; PostgreSQL in a throwaway cluster, as the suite
starts it) a migrated desk gets N open tickets of four events each (opened, the customer's
mail, open, our answer), written with one INSERT ... SELECT per table; then, each in its own
transaction: the first policy, for every ticket (all are worked out); an edit of it (all
again); a narrow policy no ticket fits (none is); the broad one removed (all lose it). No
target is set by the issue: a change of policy should not hold the admin's shell for minutes
(it took 87 to 99 s at 40,000 open tickets when each ticket was read on its own). Prints
figures only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from bench.table import headline

# (what the admin did, the change to the policies in SQL, the policies it touches)
STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("sla add (all tickets)", "INSERT INTO sla_policy (name, first_response, resolution) "
     "VALUES ('Std', '4h', '3d')", ("Std",)),
    ("sla edit (all tickets)", "UPDATE sla_policy SET resolution = '2d' WHERE name = 'Std'",
     ("Std",)),
    ("sla add (no ticket fits)", "INSERT INTO sla_policy (name, first_response, priority) "
     "VALUES ('Urgent', '1h', 'urgent')", ("Urgent",)),
    ("sla remove (all tickets)", "DELETE FROM sla_policy WHERE name = 'Std'", ()),
)  # fmt: skip

EVENTS = (
    ("created", "{}", 0),
    ("message", '{"direction": "in"}', 0),
    ("status", '{"from": "new", "to": "open"}', 30),
    ("message", '{"direction": "out"}', 31),
)


def build(engine: Engine, n: int) -> None:
    """N open tickets in the default branch, a minute apart, with their events."""
    from tuidesk.storage.db import transaction

    sqlite = engine.dialect.name == "sqlite"
    numbers = (
        f"WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {n}) "
        "SELECT i FROM k"
        if sqlite
        else f"SELECT i FROM generate_series(1, {n}) AS i"
    )
    opened = (
        "datetime('2026-11-01', '+' || i || ' minutes')"
        if sqlite
        else "timestamptz '2026-11-01' + i * interval '1 minute'"
    )
    with transaction(engine) as conn:
        conn.execute(text(
            "INSERT INTO ticket (id, title, status, priority, custom_fields, branch_id, source,"
            " created_at, updated_at) "
            f"SELECT i, 'Ticket ' || i, CASE WHEN i % 2 = 0 THEN 'open' ELSE 'new' END,"
            f" 'normal', '{{}}', (SELECT min(id) FROM branch), 'mail', {opened}, {opened}"
            f" FROM ({numbers}) AS numbers"
        ))  # fmt: skip
        for kind, data, minutes in EVENTS:
            at = (
                f"datetime(created_at, '+{minutes} minutes')"
                if sqlite
                else f"created_at + interval '{minutes} minutes'"
            )
            conn.execute(text(
                "INSERT INTO ticket_event (ticket_id, at, kind, actor_kind, actor, data) "
                f"SELECT id, {at}, '{kind}', 'system', 'system', '{data}' FROM ticket"
            ))  # fmt: skip
        if not sqlite:
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('ticket', 'id'), :n)"), {"n": n}
            )


def timed(engine: Engine, change: Callable[[Connection], int]) -> tuple[float, int]:
    from tuidesk.storage.db import transaction

    start = time.perf_counter()
    with transaction(engine) as conn:
        worked = change(conn)
    return time.perf_counter() - start, worked


def run(name: str, url: str, n: int) -> None:
    from tuidesk.storage.db import make_engine
    from tuidesk.storage.due import refresh_open
    from tuidesk.storage.schema import upgrade_schema

    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        build(engine, n)
        for what, sql, touched in STEPS:

            def change(conn: Connection, sql: str = sql, touched: tuple[str, ...] = touched) -> int:
                conn.execute(text(sql))
                return refresh_open(conn, touched)

            seconds, worked = timed(engine, change)
            print(f"  {name:<10} {what:<26} {seconds:7.2f} s  ({worked} worked out)", flush=True)
            headline("sla", f"{what}, {n:,} open ({name})", f"{seconds:.1f} s", "-", None)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.sla", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--open", type=int, default=40_000, help="open tickets")
    ap.add_argument("--databases", default="sqlite,postgresql")
    args = ap.parse_args(argv)
    print(f"refresh_open after SLA changes, {args.open:,} open tickets")
    for name in args.databases.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                run(name, f"sqlite:///{Path(folder) / 'sla.sqlite3'}", args.open)
        else:
            from tests.servers.postgres import PostgresServer

            server = PostgresServer().start()
            try:
                server.execute("CREATE DATABASE bench_sla")
                run(name, server.url("bench_sla"), args.open)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
