"""Outbound throughput: how fast queued replies leave, next to what the SMTP session costs alone.

    python -m bench.outbound [--n N]

Starts the suite's aiosmtpd (tests/servers/smtp.py, STARTTLS with AUTH) in this process, makes
N tickets (one `tuidesk import` of N generated mails into a fresh SQLite home), queues one reply
on each (in-process, through the same queue_reply the CLI uses: replies queued per second), then
prints, each from a fresh subprocess: `tuidesk send --json` of the N replies, and a raw smtplib
session sending the same N stored messages over one connection (the ceiling: no database, no
marking). Prints figures only: nothing here asserts. No target is set by the issue; the sender
is meant to keep up with agents by orders of magnitude, and this shows by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.ingest import (
    PYTHON,
    ROOT,
    Row,
    _check,
    print_table,
    run_measured,
    setup_home,
    tuidesk_cmd,
)
from bench.table import headline

PASSWORD_ENV = "BENCH_SMTP_PASSWORD"
PASSWORD = "bench-pw"


def _raw_worker(port: int, ca_file: str, db: str) -> None:
    """Send every queued outbox mail over one STARTTLS session, marking nothing."""
    import smtplib
    import sqlite3
    import ssl

    rows = sqlite3.connect(db).execute("SELECT mail_from, recipients, raw FROM outbox").fetchall()
    t0 = time.perf_counter()
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    client.starttls(context=ssl.create_default_context(cafile=ca_file))
    client.login("support", os.environ[PASSWORD_ENV])
    for mail_from, recipients, raw in rows:
        client.sendmail(mail_from, json.loads(recipients), raw)
    client.quit()
    json.dump({"n": len(rows), "session_s": time.perf_counter() - t0}, sys.stdout)


def _mails(n: int, folder: Path) -> None:
    for i in range(n):
        (folder / f"{i:06d}.eml").write_bytes(
            (
                f"From: Customer {i} <c{i}@customer.test>\r\nTo: support@example.com\r\n"
                f"Message-ID: <bench-{i}@customer.test>\r\nSubject: Printer {i} on fire\r\n\r\n"
                f"Hello, printer {i} is on fire.\r\n"
            ).encode()
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ca-file", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "raw":
        _raw_worker(args.port, args.ca_file, args.db)
        return
    sys.path.insert(0, str(ROOT))
    from tests.servers.smtp import SmtpServer

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tuidesk-bench-out-") as tmp, SmtpServer() as smtp:
        work = Path(tmp)
        smtp.add_user("support", PASSWORD)
        home = work / "home"
        env = setup_home(home) | {PASSWORD_ENV: PASSWORD}
        tuidesk = tuidesk_cmd()
        _check(run_measured([*tuidesk, "outgoing", "add", "main", "--host", "127.0.0.1",
                             "--port", str(smtp.port), "--starttls", "--username", "support",
                             "--password-env", PASSWORD_ENV, "--from", "support@example.com",
                             "--ca-file", smtp.ca_file], env=env), "outgoing add")  # fmt: skip
        mails = work / "mails"
        mails.mkdir()
        _mails(args.n, mails)
        _check(run_measured([*tuidesk, "import", str(mails)], env=env), "import")
        db = home / "tuidesk.sqlite3"
        queue_s = _queue_replies(env, args.n)

        send = _check(run_measured([*tuidesk, "send", "--json"], env=env), "tuidesk send")
        report = json.loads(send.stdout)
        received = len(smtp.messages)
        raw = _check(
            run_measured(
                [PYTHON, "-m", "bench.outbound", "--worker", "raw", "--port", str(smtp.port),
                 "--ca-file", smtp.ca_file, "--db", str(db)], env=env, cwd=ROOT,
            ),
            "raw smtplib",
        )  # fmt: skip
        raw_data = json.loads(raw.stdout)
        rows = [
            Row(
                "queue_reply (in-process, one transaction each)",
                args.n,
                queue_s,
                0,
                queue_s,
                note="reply stored on the ticket + outbox row",
            ),  # fmt: skip
            Row(
                "tuidesk send -> aiosmtpd (STARTTLS, AUTH)",
                report["sent"],
                send.wall,
                send.maxrss_kb,
                send.cpu,
                note=f"{received} received; start-up included",
            ),  # fmt: skip
            Row(
                "raw smtplib, same mails, one session",
                raw_data["n"],
                raw.wall,
                raw.maxrss_kb,
                raw.cpu,
                loop=raw_data["session_s"],
                note="no database, no marking",
            ),  # fmt: skip
        ]
    print(f"{args.n} tickets, one reply each; aiosmtpd in the bench process on 127.0.0.1\n")
    print_table(rows)
    ratio = (report["sent"] / send.wall) / (raw_data["n"] / raw.wall)
    print(f"\nsend / raw smtplib: {ratio:.2f} (wall clocks, start-up included)")
    headline(
        "outbound",
        f"`tuidesk send` of {args.n:,} replies vs raw smtplib",
        f"{report['sent'] / send.wall:,.0f} vs {raw_data['n'] / raw.wall:,.0f} mails/s "
        f"({ratio:.2f})",
        "none set",
        None,
    )
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


def _queue_replies(env: dict[str, str], n: int) -> float:
    """Queue one reply per ticket with the CLI's own function; seconds taken."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("TUIDESK_")})
    from tuidesk.paths import resolve_paths
    from tuidesk.storage.blobs import BlobStore
    from tuidesk.storage.db import transaction
    from tuidesk.storage.outbox import queue_reply
    from tuidesk.storage.schema import open_database

    paths = resolve_paths()
    engine = open_database(paths.database_url)
    blobs = BlobStore(paths.blobs)
    t0 = time.perf_counter()
    for number in range(1, n + 1):
        with transaction(engine) as conn:
            queue_reply(conn, blobs, str(number), f"Reply {number}: we are on it.\n")
    engine.dispose()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
