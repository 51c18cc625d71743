"""IMAP throughput and IDLE latency against a local Dovecot.

    python -m bench.imap [--n N] [--idle-n M] [--channels K] [--skip-idle] [--skip-pollers]
                         [--profile K]

Starts a private Dovecot (tests/servers/dovecot.py), APPENDs N messages built from the shared
corpus (each with a unique Message-ID) to INBOX in MULTIAPPEND chunks over one logged-in
connection, and copies them server-side to a second folder. Then prints, each from a fresh
subprocess with its peak memory (ru_maxrss through bench.ingest's launcher):

  * a raw imapclient session over IMAPS: SELECT INBOX read-only, SEARCH, FETCH BODY.PEEK[] in
    batches of tuidesk's FETCH_BATCH (twice: the first also warms Dovecot's index and cache);
  * `tuidesk poll --json` of the same INBOX into a fresh SQLite home (no move folders), then
    the same poll again with nothing new (the fixed cost: start-up, TLS, login, SELECT);
  * the same poll of the copied folder with `--success-folder Done`, for the cost of MOVE;
  * two pollers on PostgreSQL: INBOX split into K folders (default 4: 1,250 mails each at
    N=5000, copied server-side), one channel each, on one database of a private PostgreSQL
    (tests/servers/postgres.py); one `tuidesk poll --json` over all channels, then two started
    together on a fresh database (the channel leases split the channels between them), mails/s
    of each (first start to last exit), and what the database holds: one ingest_log row per
    mail, no Message-ID twice, no duplicate outcome, one ticket per `created` (printed);
  * IDLE latency: `tuidesk watch` running, M mails APPENDed one at a time, each timed from
    the start of its APPEND to the moment its ingest_log row is visible in the SQLite file
    (read-only connection, polled every 5 ms), next to a plain imapclient IDLE (the server's
    own share); then SIGTERM, exit code and time to exit. Each mail is sent once the previous
    one is committed and the watcher has had time to go back to IDLE: mail landing while it
    is busy is not timed here.

Prints figures only: nothing here asserts.

Targets (issue 3):
  * poll messages/s >= 0.5 x raw FETCH messages/s (tuidesk wall clock with start-up, against
    the faster raw session, connect to logout)
  * IDLE latency, APPEND to committed ticket: median under 1 s (p95 reported)
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.ingest import (
    PYTHON,
    ROOT,
    Row,
    _check,
    build_messages,
    print_table,
    run_measured,
    setup_home,
    tuidesk_cmd,
    tuidesk_env,
)
from bench.table import headline

POLL_TARGET = 0.5  # tuidesk poll messages/s over raw FETCH messages/s
IDLE_MEDIAN_TARGET = 1.0  # seconds, APPEND to committed ticket
APPEND_CHUNK = 100  # messages per MULTIAPPEND
PASSWORD_ENV = "BENCH_IMAP_PASSWORD"
USER = "bench"
PASSWORD = "bench-" + secrets.token_hex(6)
IDLE_USER = "idle"
IDLE_POLL_S = 0.005  # how often the database is read while waiting for a commit
IDLE_GAP_S = 0.25  # pause after each commit, so the watcher is back in IDLE
IDLE_TIMEOUT_S = 30.0  # one mail not committed by then: counted as lost
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MOVE_FOLDER = "Move"
DONE_FOLDER = "Done"
PROFILE_FOLDER = "Profile"
RAW_IDLE_FOLDER = "RawIdle"
RAW_IDLE_N = 10


# --------------------------------------------------------------------------------------------
# Filling the mailbox


@dataclass
class Appended:
    count: int
    rejected: int
    seconds: float
    first_error: str = ""


def append_all(client: Any, folder: str, raws: Iterable[bytes]) -> Appended:
    """MULTIAPPEND in chunks (about ten times faster than one APPEND per message); a chunk the
    server refuses is retried one message at a time, so only the bad ones are lost."""
    result = Appended(0, 0, 0.0)
    t0 = time.perf_counter()
    chunk: list[bytes] = []

    def flush() -> None:
        try:
            client.multiappend(folder, chunk)
            result.count += len(chunk)
        except Exception:  # noqa: BLE001 - find the message the server refuses
            for raw in chunk:
                try:
                    client.append(folder, raw)
                    result.count += 1
                except Exception as exc:  # noqa: BLE001 - count it, keep going
                    result.rejected += 1
                    result.first_error = result.first_error or str(exc)
        chunk.clear()

    for raw in raws:
        chunk.append(raw)
        if len(chunk) >= APPEND_CHUNK:
            flush()
    if chunk:
        flush()
    result.seconds = time.perf_counter() - t0
    return result


def folder_count(client: Any, folder: str) -> int:
    if not client.folder_exists(folder):
        return 0
    return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])


def copy_spread(client: Any, source: str, target: str, k: int | None = None) -> int:
    """Server-side COPY of all of `source` (or K messages spread over it) into `target`."""
    client.select_folder(source, readonly=True)
    uids = sorted(client.search())
    if k is not None and k < len(uids):
        uids = [uids[i * len(uids) // k] for i in range(k)]
    if not client.folder_exists(target):
        client.create_folder(target)
    for start in range(0, len(uids), 1000):
        client.copy(uids[start : start + 1000], target)
    client.unselect_folder()
    return len(uids)


# --------------------------------------------------------------------------------------------
# Raw imapclient FETCH (run as `python -m bench.imap --worker raw ...`)


def _raw_worker(port: int, ca_file: str, user: str, folder: str, batch: int) -> None:
    clock = time.perf_counter
    t_import = clock()
    from imapclient import IMAPClient

    import_s = clock() - t_import
    t0 = clock()
    context = ssl.create_default_context(cafile=ca_file)
    client = IMAPClient("127.0.0.1", port, ssl=True, ssl_context=context, timeout=60)
    client.login(user, os.environ[PASSWORD_ENV])
    client.select_folder(folder, readonly=True)
    t_search = clock()
    uids = sorted(client.search())
    t_fetch = clock()
    n = size = 0
    for start in range(0, len(uids), batch):
        fetched = client.fetch(uids[start : start + batch], ["BODY.PEEK[]"])
        for data in fetched.values():
            n += 1
            size += len(data[b"BODY[]"])
    t_done = clock()
    client.logout()
    t_end = clock()
    json.dump(
        {
            "n": n,
            "bytes": size,
            "import_s": import_s,
            "connect_s": t_search - t0,
            "search_s": t_fetch - t_search,
            "fetch_s": t_done - t_fetch,
            "session_s": t_end - t0,
        },
        sys.stdout,
    )


def measure_raw(label: str, port: int, ca_file: str, folder: str, batch: int) -> Row:
    env = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    cmd = [PYTHON, "-m", "bench.imap", "--worker", "raw", "--port", str(port), "--ca-file",
           ca_file, "--user", USER, "--folder", folder, "--batch", str(batch)]  # fmt: skip
    run = _check(run_measured(cmd, env=env, cwd=ROOT), label)
    data = json.loads(run.stdout)
    note = (
        f"{data['bytes'] / 1e6:.0f} MB; connect+login+select {1000 * data['connect_s']:.0f} ms, "
        f"FETCH {data['fetch_s']:.2f} s"
    )
    return Row(label, data["n"], run.wall, run.maxrss_kb, run.cpu, loop=data["session_s"],
               note=note, extra=data)  # fmt: skip


# --------------------------------------------------------------------------------------------
# tuidesk


def tuidesk_home(home: Path, port: int, ca_file: str, user: str, *extra: str) -> dict[str, str]:
    """A fresh SQLite home with the Support branch and one active channel named `bench`."""
    env = setup_home(home)
    env[PASSWORD_ENV] = PASSWORD
    cmd = [*tuidesk_cmd(), "channel", "add", "bench", "--host", "127.0.0.1", "--port", str(port),
           "--ssl", "--ca-file", ca_file, "--username", user, "--password-env", PASSWORD_ENV,
           "--status", "active", *extra]  # fmt: skip
    _check(run_measured(cmd, env=env, cwd=home), "tuidesk channel add")
    return env


def run_poll(label: str, env: dict[str, str]) -> tuple[Row, dict[str, Any]]:
    run = _check(
        run_measured([*tuidesk_cmd(), "poll", "--json"], env=env, cwd=Path(env["TUIDESK_HOME"])),
        label,
    )
    (result,) = json.loads(run.stdout)["channels"]
    keys = ("created", "commented", "ignored", "duplicates", "quarantined")
    note = ", ".join(f"{result[k]} {k}" for k in keys if result[k])
    return Row(label, int(result["fetched"]), run.wall, run.maxrss_kb, run.cpu, note=note), result


def measure_poll(label: str, env: dict[str, str]) -> tuple[Row, Row]:
    """The poll, then a second one with nothing new: its wall is the fixed cost, and the
    first poll's loop is its wall minus that."""
    row, _ = run_poll(label, env)
    fixed, _ = run_poll("    same again, nothing new (fixed cost)", env)
    row.loop = max(row.wall - fixed.wall, 1e-9)
    return row, fixed


# --------------------------------------------------------------------------------------------
# Optional: cProfile of a poll (--profile K)

_STDLIB = re.compile(r"^.*?/lib/python3\.\d+/")


def _short(filename: str) -> str:
    """tuidesk/..., imapclient/..., stdlib/email/...: the package first, for grouping."""
    if "/site-packages/" in filename:  # first: the venv may sit in the repository
        return filename.rsplit("/site-packages/", 1)[1]
    if filename.startswith(str(ROOT) + "/"):
        return filename[len(str(ROOT)) + 1 :]
    m = _STDLIB.match(filename)
    return "stdlib/" + filename[m.end() :] if m else filename


def profile_poll(server: Any, client: Any, k: int, work: Path) -> None:
    """cProfile `tuidesk poll` of K messages spread over INBOX (copied server-side to a folder
    of their own) into a fresh SQLite home; print where the time goes."""
    copied = copy_spread(client, "INBOX", PROFILE_FOLDER, k)
    home = work / "home-profile"
    env = tuidesk_home(home, server.imaps_port, server.ca_file, USER, "--folder", PROFILE_FOLDER)
    out = work / "poll.prof"
    cmd = [PYTHON, "-m", "cProfile", "-o", str(out), "-m", "tuidesk", "poll", "--json"]
    run = _check(run_measured(cmd, env=env, cwd=home), "cProfile poll")
    import pstats

    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in stats.values())
    by_package: dict[str, list[tuple[float, float, int, str]]] = {}
    own: list[tuple[float, float, int, str]] = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.items():
        short = _short(filename)
        name = f"{short}:{line}({func})" if line else func
        own.append((tt, ct, nc, name))
        package = short.split("/", 1)[0]
        if package in ("tuidesk", "imapclient", "sqlalchemy"):
            by_package.setdefault(package, []).append((ct, tt, nc, name))
    print(
        f"\ncProfile: tuidesk poll of {copied} messages into SQLite (exit {run.rc}, "
        f"{total:.2f} s under cProfile, {run.wall:.2f} s wall)"
    )
    for package, count in (("tuidesk", 24), ("imapclient", 6), ("sqlalchemy", 8)):
        entries = sorted(by_package.get(package, []), reverse=True)
        print(f"  top {count} by cumulative time in {package}/:")
        print(f"  {'cum s':>7} {'cum %':>6} {'self s':>7} {'calls':>8}  function")
        for ct, tt, nc, name in entries[:count]:
            print(f"  {ct:7.2f} {100 * ct / total:5.1f}% {tt:7.2f} {nc:8d}  {name}")
    own.sort(reverse=True)
    print("  top 15 by own time, any module:")
    print(f"  {'self s':>7} {'self %':>6} {'cum s':>7} {'calls':>8}  function")
    for tt, ct, nc, name in own[:15]:
        print(f"  {tt:7.2f} {100 * tt / total:5.1f}% {ct:7.2f} {nc:8d}  {name}")


# --------------------------------------------------------------------------------------------
# IDLE latency


@dataclass
class Idle:
    skipped: str = ""
    latencies: list[float] = field(default_factory=list)
    appends: list[float] = field(default_factory=list)
    warmup: list[float] = field(default_factory=list)  # first mail (after start), second mail
    lost: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    tickets: int = 0
    exit_code: int | None = None
    exit_s: float | None = None
    stop_note: str = ""
    peak_kb: int = 0
    cpu: float = 0.0
    watch_s: float = 0.0
    lease_free: bool | None = None
    failure: str = ""
    raw: list[float] = field(default_factory=list)  # plain imapclient IDLE, APPEND to EXISTS


def idle_mail(i: int, token: str) -> tuple[bytes, str]:
    mid = f"<idle-{i:03d}-{token}@bench.tuidesk.invalid>"
    raw = (
        f"From: Customer {i} <idle{i}-{token}@customer.test>\r\n"
        "To: support@example.com\r\n"
        f"Subject: IDLE bench {i:03d} {token}\r\n"
        f"Date: {email.utils.formatdate(localtime=True)}\r\n"
        f"Message-ID: {mid}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Printer {i} on the third floor is out of toner again.\r\n"
    )
    return raw.encode(), mid


# bench.ingest's launcher, for a daemon: forks the command from a small process (so its peak
# memory is its own, not this bench's), passes SIGTERM on, and reports exit code and rusage.
_WATCH_LAUNCHER = """\
import os, signal, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}")
"""


class Watcher:
    """`tuidesk watch bench` under the launcher, in a process group of its own."""

    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.err_path = work / "watch.err"
        self.report = work / "watch.rusage"
        self.err = self.err_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [PYTHON, "-I", "-S", "-c", _WATCH_LAUNCHER, str(self.report), *tuidesk_cmd(),
             "watch", "bench"],
            env=env, cwd=env["TUIDESK_HOME"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.err, start_new_session=True,
        )  # fmt: skip
        self.exit_code: int | None = None
        self.peak_kb = 0
        self.cpu = 0.0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float) -> float | None:
        """SIGTERM; seconds until it exited, or None when it had to be killed."""
        if not self.alive():
            return None
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        return time.perf_counter() - t0

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the launcher and the watcher
            self.proc.wait()

    def stderr_tail(self, lines: int = 10) -> str:
        self.err.flush()
        text = self.err_path.read_text(errors="replace").strip()
        return "\n    ".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self.kill()
        self.err.close()
        with contextlib.suppress(OSError, ValueError):
            code, peak, cpu = self.report.read_text().split()
            self.exit_code, self.peak_kb, self.cpu = int(code), int(peak), float(cpu)


def watch_available(env: dict[str, str]) -> str:
    """Empty when `tuidesk watch --help` works, else why not."""
    proc = subprocess.run([*tuidesk_cmd(), "watch", "--help"], env=env, capture_output=True,
                          text=True, cwd=env["TUIDESK_HOME"])  # fmt: skip
    if proc.returncode == 0:
        return ""
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    last = next((ln.strip(" │╭╰─") for ln in reversed(lines) if ln.strip(" │╭╰─")), "")
    return f"`tuidesk watch --help` exited {proc.returncode}: {last}"


def wait_committed(
    db: sqlite3.Connection, message_id: str, timeout: float, alive: Callable[[], bool]
) -> tuple[float | None, str]:
    """perf_counter when the mail's ingest_log row is first seen, and its outcome."""
    deadline = time.perf_counter() + timeout
    checks = 0
    while True:
        row = db.execute(
            "SELECT outcome FROM ingest_log WHERE message_id = ? LIMIT 1", (message_id,)
        ).fetchone()
        now = time.perf_counter()
        if row:
            return now, row[0]
        if now > deadline:
            return None, ""
        checks += 1
        if checks % 20 == 0 and not alive():
            return None, "watcher exited"
        time.sleep(IDLE_POLL_S)


def raw_idle_latency(server: Any, appender: Any, n: int, token: str) -> list[float]:
    """The server's share: a plain imapclient IDLE over IMAPS on a folder of its own, timed
    from the start of each APPEND to the EXISTS it announces (Dovecot holds change
    notifications back for NOTIFY_DELAY_MSECS, 500 ms, to combine them)."""
    from imapclient import IMAPClient

    context = ssl.create_default_context(cafile=server.ca_file)
    idler = IMAPClient(server.host, server.imaps_port, ssl=True, ssl_context=context, timeout=30)
    latencies: list[float] = []
    try:
        idler.login(IDLE_USER, PASSWORD)
        idler.create_folder(RAW_IDLE_FOLDER)
        idler.select_folder(RAW_IDLE_FOLDER, readonly=True)
        idler.idle()
        for i in range(n):
            raw, _mid = idle_mail(1000 + i, token)
            t0 = time.perf_counter()
            appender.append(RAW_IDLE_FOLDER, raw)
            deadline = t0 + IDLE_TIMEOUT_S
            while time.perf_counter() < deadline:
                responses = idler.idle_check(timeout=1)
                if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                    latencies.append(time.perf_counter() - t0)
                    break
            time.sleep(IDLE_GAP_S)
        idler.idle_done()
    finally:
        with contextlib.suppress(Exception):
            idler.logout()
    return latencies


def measure_idle(server: Any, n: int, work: Path) -> Idle:
    result = Idle()
    home = work / "home-idle"
    home.mkdir()
    why = watch_available(tuidesk_env(home))
    if why:
        result.skipped = why
        return result
    server.add_user(IDLE_USER, PASSWORD)
    env = tuidesk_home(home, server.imaps_port, server.ca_file, IDLE_USER)
    token = secrets.token_hex(3)
    client = server.client(IDLE_USER, timeout=30)
    try:
        result.raw = raw_idle_latency(server, client, RAW_IDLE_N, token)
    except Exception:
        with contextlib.suppress(Exception):
            client.logout()
        raise
    watcher = Watcher(env, work)
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(f"file:{home / 'tuidesk.sqlite3'}?mode=ro", uri=True,
                             isolation_level=None)  # fmt: skip
        # Two warm-up mails, not counted: the first proves the watcher is up (it may be taken
        # by its first poll rather than IDLE), the second that IDLE brings new mail in.
        for i in range(n + 2):
            raw, mid = idle_mail(i, token)
            t0 = time.perf_counter()
            client.append("INBOX", raw)
            t_appended = time.perf_counter()
            timeout = STARTUP_TIMEOUT_S if i == 0 else IDLE_TIMEOUT_S
            seen, outcome = wait_committed(db, mid, timeout, watcher.alive)
            if outcome == "watcher exited":
                result.failure = "tuidesk watch exited early"
                break
            if seen is None:
                result.lost += 1
                if i < 2 or result.lost >= 3:
                    what = "first mail" if i == 0 else f"{result.lost} mails"
                    result.failure = f"{what} not committed within {timeout:.0f} s"
                    break
                continue
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
            if i < 2:
                result.warmup.append(seen - (watcher.started if i == 0 else t0))
            else:
                result.latencies.append(seen - t0)
                result.appends.append(t_appended - t0)
            time.sleep(IDLE_GAP_S)
        result.tickets = db.execute("SELECT count(*) FROM ticket").fetchone()[0]
    finally:
        if db is not None:
            db.close()
        with contextlib.suppress(Exception):
            client.logout()
        result.watch_s = time.perf_counter() - watcher.started
        if watcher.alive():
            result.exit_s = watcher.stop(STOP_TIMEOUT_S)
            result.stop_note = "" if result.exit_s is not None else "did not exit, killed"
        else:
            result.stop_note = "had exited before SIGTERM"
        if result.failure:
            result.failure += f"; stderr:\n    {watcher.stderr_tail()}"
        watcher.close()
        result.exit_code = watcher.exit_code
        result.peak_kb, result.cpu = watcher.peak_kb, watcher.cpu
    # A watcher that stopped cleanly left the channel's lease free: a poll takes it at once.
    probe = run_measured([*tuidesk_cmd(), "poll", "bench"], env=env, cwd=home)
    result.lease_free = probe.rc == 0 and "lease" not in probe.stdout
    return result


# --------------------------------------------------------------------------------------------
# Two pollers on PostgreSQL

POLLERS_FOLDER = "Pollers"


@dataclass
class PollerRun:
    processes: int
    expected: int  # mails in the channels' folders
    wall: float = 0.0  # first start to last exit
    fetched: int = 0
    cpu: float = 0.0  # all poll processes, user + sys
    peak_kb: int = 0  # the largest of them
    split: list[dict[str, int]] = field(default_factory=list)  # per process: channel -> fetched
    skipped: list[int] = field(default_factory=list)  # per process: channels it found leased
    walls: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rows: int = 0  # ingest_log rows
    ids: int = 0  # distinct Message-IDs among them
    no_id: int = 0
    repeated_ids: int = 0  # Message-IDs with more than one ingest_log row
    outcomes: dict[str, int] = field(default_factory=dict)
    tickets: int = 0
    repeated_messages: int = 0  # stored inbound messages beyond one per Message-ID

    @property
    def rate(self) -> float:
        return self.fetched / self.wall if self.wall else 0.0

    @property
    def exactly_once(self) -> bool:
        return (
            not self.failures
            and self.fetched == self.expected
            and self.rows == self.expected
            and self.ids + self.no_id == self.rows
            and self.repeated_ids == 0
            and self.outcomes.get("duplicate", 0) == 0
            and self.tickets == self.outcomes.get("created", 0)
            and self.repeated_messages == 0
        )


def spread_into_folders(client: Any, k: int, per: int) -> list[str]:
    """Server-side COPY of K disjoint runs of PER messages of INBOX into folders of their own."""
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search())
    names = []
    for i in range(k):
        name = f"{POLLERS_FOLDER}{i + 1}"
        if not client.folder_exists(name):
            client.create_folder(name)
        part = uids[i * per : (i + 1) * per]
        for start in range(0, len(part), 1000):
            client.copy(part[start : start + 1000], name)
        names.append(name)
    client.unselect_folder()
    return names


def pollers_home(
    home: Path, url: str, port: int, ca_file: str, folders: list[str]
) -> dict[str, str]:
    """A home on the PostgreSQL database `url` with one active channel per folder (ch1...)."""
    env = setup_home(home, url)
    env[PASSWORD_ENV] = PASSWORD
    for i, folder in enumerate(folders, 1):
        cmd = [*tuidesk_cmd(), "channel", "add", f"ch{i}", "--host", "127.0.0.1", "--port",
               str(port), "--ssl", "--ca-file", ca_file, "--username", USER, "--password-env",
               PASSWORD_ENV, "--status", "active", "--folder", folder]  # fmt: skip
        _check(run_measured(cmd, env=env, cwd=home), f"tuidesk channel add ch{i}")
    return env


def run_pollers(env: dict[str, str], processes: int, expected: int, url: str) -> PollerRun:
    """PROCESSES `tuidesk poll --json` over all channels, started together; then what the
    database holds."""
    import threading

    result = PollerRun(processes, expected)
    runs: list[Any] = [None] * processes
    cmd = [*tuidesk_cmd(), "poll", "--json"]
    home = Path(env["TUIDESK_HOME"])

    def one(i: int) -> None:
        runs[i] = run_measured(cmd, env=env, cwd=home)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(processes)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - t0
    for i, run in enumerate(runs, 1):
        result.cpu += run.cpu
        result.peak_kb = max(result.peak_kb, run.maxrss_kb)
        result.walls.append(run.wall)
        try:
            channels = json.loads(run.stdout)["channels"]
        except (ValueError, KeyError):
            tail = " | ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
            result.failures.append(f"poll {i} exited {run.rc}: {tail}")
            result.split.append({})
            result.skipped.append(0)
            continue
        if run.rc != 0:
            errors = "; ".join(f"{c['name']}: {c['error']}" for c in channels if c["error"])
            result.failures.append(f"poll {i} exited {run.rc}: {errors}")
        result.split.append({c["name"]: c["fetched"] for c in channels if c["fetched"]})
        result.skipped.append(sum(1 for c in channels if c["ok"] and not c["fetched"]))
        result.fetched += sum(c["fetched"] for c in channels)

    import psycopg

    with psycopg.connect(url) as conn:
        result.rows, result.ids, result.no_id = conn.execute(
            "SELECT count(*), count(DISTINCT message_id), count(*) - count(message_id) "
            "FROM ingest_log"
        ).fetchone()
        (result.repeated_ids,) = conn.execute(
            "SELECT count(*) FROM (SELECT message_id FROM ingest_log WHERE message_id IS NOT "
            "NULL GROUP BY message_id HAVING count(*) > 1) AS repeated"
        ).fetchone()
        result.outcomes = dict(
            conn.execute("SELECT outcome, count(*) FROM ingest_log GROUP BY outcome").fetchall()
        )
        (result.tickets,) = conn.execute("SELECT count(*) FROM ticket").fetchone()
        (result.repeated_messages,) = conn.execute(
            "SELECT count(message_id) - count(DISTINCT message_id) FROM message "
            "WHERE message_id LIKE '%bench.tuidesk.invalid%'"
        ).fetchone()
    return result


@dataclass
class Pollers:
    skipped: str = ""
    channels: int = 0
    per_channel: int = 0
    runs: list[PollerRun] = field(default_factory=list)


def measure_pollers(server: Any, client: Any, k: int, work: Path) -> Pollers:
    """K channels (folders of INBOX/K messages each) on one PostgreSQL database: one `tuidesk
    poll` over all of them, then, on a fresh database, two started together."""
    from tests.servers.postgres import PostgresServer

    result = Pollers(channels=k)
    result.per_channel = folder_count(client, "INBOX") // k
    if result.per_channel < 1:
        result.skipped = f"fewer messages in INBOX than channels ({k})"
        return result
    pg: PostgresServer | None = None
    try:
        pg = PostgresServer()
        pg.start()
    except Exception as exc:  # noqa: BLE001 - no server here: say so, measure the rest
        result.skipped = f"PostgreSQL unavailable: {exc.__class__.__name__}: {exc}"
        if pg is not None:
            with contextlib.suppress(Exception):
                pg.stop()
        return result
    try:
        folders = spread_into_folders(client, k, result.per_channel)
        for folder in folders:  # warm Dovecot's index and cache for both runs alike
            measure_raw(f"warm {folder}", server.imaps_port, server.ca_file, folder, 500)
        for processes in (1, 2):
            database = f"pollers{processes}"
            pg.execute(f"CREATE DATABASE {database}")
            env = pollers_home(work / f"home-{database}", pg.url(database), server.imaps_port,
                               server.ca_file, folders)  # fmt: skip
            expected = k * result.per_channel
            result.runs.append(run_pollers(env, processes, expected, pg.url(database)))
    finally:
        try:
            pg.stop()
        except Exception as exc:  # noqa: BLE001 - report, go on
            print(f"could not stop PostgreSQL: {exc}", file=sys.stderr)
    return result


def print_pollers(pollers: Pollers) -> None:
    print(
        f"\nTwo pollers on PostgreSQL: {pollers.channels} channels (folders of "
        f"{pollers.per_channel:,} INBOX mails each, copied server-side) on one database; one "
        "`tuidesk poll --json` over all of them, then two started together on a fresh "
        "database (channel leases split the channels)"
    )
    if pollers.skipped:
        print(f"  skipped: {pollers.skipped}")
        headline("imap", "two pollers on PostgreSQL", f"not run: {pollers.skipped}",
                 "every mail once", None)  # fmt: skip
        return
    rows = []
    for run in pollers.runs:
        label = f"(e) {run.processes} tuidesk poll -> PostgreSQL"
        split = "; ".join(
            f"p{i}: " + (", ".join(f"{n} {c}" for n, c in sorted(ch.items())) or "nothing")
            for i, ch in enumerate(run.split, 1)
        )
        rows.append(Row(label, run.fetched, run.wall, run.peak_kb, run.cpu, note=split))
    print_table(rows)
    print(
        "wall: first start to last exit, start-up included; CPU %: all poll processes (their\n"
        "analysis workers included), over wall; Dovecot's and PostgreSQL's CPU not counted."
    )
    for run in pollers.runs:
        outcomes = ", ".join(f"{v} {k}" for k, v in sorted(run.outcomes.items()))
        walls = " / ".join(f"{w:.2f}" for w in run.walls)
        print(
            f"  {run.processes} process{'es' if run.processes > 1 else ''} (each {walls} s; "
            f"channels found leased and left: {'/'.join(map(str, run.skipped))}): "
            f"{run.fetched:,} fetched of {run.expected:,}; ingest_log {run.rows:,} rows, "
            f"{run.ids:,} distinct Message-IDs ({run.no_id} without), {run.repeated_ids} "
            f"Message-IDs logged twice; {outcomes}; {run.tickets:,} tickets, "
            f"{run.repeated_messages} messages stored twice: every mail exactly once: "
            f"{'yes' if run.exactly_once else 'NO'}"
        )
        for failure in run.failures:
            print(f"    {failure}")
    if len(pollers.runs) == 2:
        one, two = pollers.runs
        speedup = two.rate / one.rate if one.rate else 0.0
        print(
            f"  two pollers / one: {two.rate:,.0f} / {one.rate:,.0f} mails/s = {speedup:.2f} "
            f"on {os.cpu_count()} CPUs (no target set)"
        )
        total = one.expected
        headline(
            "imap",
            f"two pollers on PostgreSQL, {pollers.channels} channels x "
            f"{pollers.per_channel:,} mails",
            f"1 poller {one.rate:,.0f}, 2 pollers {two.rate:,.0f} mails/s ({speedup:.2f}x)",
            "none set",
            None,
        )
        headline(
            "imap",
            "two pollers on PostgreSQL: every mail exactly once",
            f"{two.rows:,} ingest rows for {total:,} mails, {two.repeated_ids} repeated, "
            f"{two.outcomes.get('duplicate', 0)} duplicates, {two.tickets:,} tickets",
            "each mail one row, no duplicates",
            one.exactly_once and two.exactly_once,
        )


# --------------------------------------------------------------------------------------------
# Report


def _pct(values: Sequence[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def print_idle(idle: Idle, n: int) -> None:
    print(
        f"\nIDLE latency: APPEND start to the mail's ingest_log row (same transaction as its "
        f"ticket) visible in SQLite, {n} mails, each {1000 * IDLE_GAP_S:.0f} ms after the last "
        "commit (the watcher idle again)"
    )
    if idle.skipped:
        print(f"  skipped: {idle.skipped}")
        return
    if idle.warmup:
        line = f"  watcher start to first mail committed: {idle.warmup[0]:.2f} s"
        if len(idle.warmup) > 1:
            line += f"; second mail (first by IDLE): {1000 * idle.warmup[1]:.0f} ms"
        print(line + " (warm-ups, not counted)")
    lat = idle.latencies
    if lat:
        ms = [1000 * x for x in lat]
        print(
            f"  {len(lat)} measured: median {statistics.median(ms):.0f} ms, mean "
            f"{statistics.fmean(ms):.0f} ms, p95 {_pct(ms, 95):.0f} ms, min {min(ms):.0f} ms, "
            f"max {max(ms):.0f} ms; APPEND itself median "
            f"{1000 * statistics.median(idle.appends):.1f} ms"
        )
        median = statistics.median(lat)
        print(
            f"  target: median {1000 * median:.0f} ms < {1000 * IDLE_MEDIAN_TARGET:.0f} ms  "
            f"{'PASS' if median < IDLE_MEDIAN_TARGET else 'MISS'}"
        )
        if idle.raw:
            raw_ms = [1000 * x for x in idle.raw]
            print(
                f"  server's share: plain imapclient IDLE, APPEND to EXISTS, {len(raw_ms)} "
                f"mails: median {statistics.median(raw_ms):.0f} ms, max {max(raw_ms):.0f} ms; "
                f"tuidesk adds {statistics.median(ms) - statistics.median(raw_ms):.0f} ms at the "
                "median"
            )
        buckets = [(0.1, "<100 ms"), (0.5, "<500 ms"), (1.0, "<1 s"), (2.0, "<2 s")]
        spread = ", ".join(f"{sum(x < b for x in lat)} {label}" for b, label in buckets)
        print(f"  distribution: {spread}, {sum(x >= 2.0 for x in lat)} >= 2 s")
    outcomes = ", ".join(f"{v} {k}" for k, v in sorted(idle.outcomes.items()))
    print(
        f"  outcomes: {outcomes or 'none'}; {idle.lost} not committed in time; "
        f"{idle.tickets} tickets in the database"
    )
    if idle.failure:
        print(f"  stopped early: {idle.failure}")
    exit_s = idle.stop_note or f"exited in {1000 * (idle.exit_s or 0):.0f} ms"
    cpu = 100 * idle.cpu / idle.watch_s if idle.watch_s else 0.0
    lease = {True: "yes", False: "NO", None: "?"}[idle.lease_free]
    print(
        f"  SIGTERM: exit code {idle.exit_code}, {exit_s}; watcher peak "
        f"{idle.peak_kb / 1024:.0f} MB, CPU {cpu:.0f}% over {idle.watch_s:.0f} s; a poll right "
        f"after could take the channel (lease released): {lease}"
    )


def headline_idle(idle: Idle, n: int) -> None:
    figure = f"IDLE, APPEND to committed ticket ({n} mails)"
    target = f"median < {IDLE_MEDIAN_TARGET:.0f} s"
    if idle.skipped or not idle.latencies:
        why = idle.skipped or idle.failure.split(";")[0] or "no mail committed"
        headline("imap", figure, f"not measured: {why}", target, None if idle.skipped else False)
        return
    ms = [1000 * x for x in idle.latencies]
    median = statistics.median(idle.latencies)
    lost = f", {idle.lost} lost" if idle.lost else ""
    headline("imap", figure, f"median {statistics.median(ms):.0f} ms, p95 {_pct(ms, 95):.0f} ms"
             f"{lost}", target, median < IDLE_MEDIAN_TARGET and not idle.failure)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.imap", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--n", type=int, default=5000, help="messages to poll (default 5000)")
    ap.add_argument("--idle-n", type=int, default=50, help="IDLE mails timed (default 50)")
    ap.add_argument("--skip-idle", action="store_true", help="leave the IDLE latency out")
    ap.add_argument("--channels", type=int, default=4,
                    help="channels for the two-pollers figure (default 4)")  # fmt: skip
    ap.add_argument("--skip-pollers", action="store_true",
                    help="leave the two-pollers-on-PostgreSQL figure out")  # fmt: skip
    ap.add_argument("--profile", type=int, default=0, metavar="K",
                    help="also cProfile `tuidesk poll` of K messages into SQLite")  # fmt: skip
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ca-file", help=argparse.SUPPRESS)
    ap.add_argument("--user", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "raw":
        _raw_worker(args.port, args.ca_file, args.user, args.folder, args.batch)
        return
    if args.worker:
        raise SystemExit(f"unknown worker {args.worker!r}")
    if args.n < 1 or args.idle_n < 1 or args.channels < 1 or args.profile < 0:
        ap.error("--n, --idle-n and --channels must be at least 1, --profile not negative")

    sys.path.insert(0, str(ROOT))
    from tests.servers.dovecot import DovecotServer
    from tuidesk.sources.imap import FETCH_BATCH

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tuidesk-bench-imap-"))
    server: DovecotServer | None = None
    client = None
    try:
        built = build_messages(work / "mails", args.n)
        server = DovecotServer()
        server.start()
        server.add_user(USER, PASSWORD)
        client = server.client(USER, timeout=120)
        files = sorted((work / "mails").iterdir())
        appended = append_all(client, "INBOX", (p.read_bytes() for p in files))
        shutil.rmtree(work / "mails")
        t_copy = time.perf_counter()
        copy_spread(client, "INBOX", MOVE_FOLDER)
        copy_s = time.perf_counter() - t_copy
        in_inbox = folder_count(client, "INBOX")

        print(
            f"tuidesk IMAP bench: Python {sys.version.split()[0]}, imapclient "
            f"{version('imapclient')}, SQLAlchemy {version('sqlalchemy')}, Dovecot "
            f"{server.version}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
            f"(other work on this machine skews wall-clock figures)"
        )
        rejected = (
            f", {appended.rejected} refused by the server ({appended.first_error})"
            if appended.rejected
            else ""
        )
        print(
            f"{args.n} messages cycling {built.corpus} corpus mails, {built.size / 1e6:.1f} MB, "
            f"unique Message-IDs: MULTIAPPEND to INBOX over one connection in "
            f"{appended.seconds:.1f} s ({appended.count / appended.seconds:.0f} msg/s){rejected}; "
            f"INBOX holds {in_inbox}; server-side COPY to {MOVE_FOLDER} {copy_s:.1f} s"
        )
        print(
            f"FETCH batches of {FETCH_BATCH} (tuidesk.sources.imap.FETCH_BATCH), IMAPS on 127.0.0.1"
        )
        print()

        port, ca = server.imaps_port, server.ca_file
        raw_rows = [
            measure_raw("(a) raw imapclient FETCH, first", port, ca, "INBOX", FETCH_BATCH),
            measure_raw("(b) raw imapclient FETCH, again", port, ca, "INBOX", FETCH_BATCH),
        ]
        env = tuidesk_home(work / "home-poll", port, ca, USER)
        poll_row, poll_fixed = measure_poll("(c) tuidesk poll -> SQLite, no move", env)
        env_move = tuidesk_home(work / "home-move", port, ca, USER, "--folder", MOVE_FOLDER,
                                "--success-folder", DONE_FOLDER)  # fmt: skip
        move_row, move_fixed = measure_poll(f"(d) tuidesk poll + MOVE to {DONE_FOLDER}", env_move)
        moved = folder_count(client, DONE_FOLDER)
        left = folder_count(client, MOVE_FOLDER)
        move_row.note += f"; {moved} moved, {left} left in {MOVE_FOLDER}"

        print_table([*raw_rows, poll_row, poll_fixed, move_row, move_fixed])
        print(
            "mails/s: messages over the process's wall clock, start-up included; loop/s: raw,\n"
            "the IMAP session (connect to logout); tuidesk, wall minus the nothing-new poll.\n"
            "peak MB: ru_maxrss (+~5 MB launcher floor). CPU %: this process only, Dovecot's\n"
            "imap process (the other side of every FETCH) is not counted. (c) reads INBOX after\n"
            f"(a) and (b) warmed Dovecot's index; (d) reads {MOVE_FOLDER}, a server-side copy."
        )

        raw = max(raw_rows, key=lambda r: r.loop_rate or 0.0)
        raw_rate = raw.loop_rate or 0.0
        ratio = poll_row.rate / raw_rate if raw_rate else 0.0
        print("\nTargets (same run)")
        print(
            f"  poll / raw FETCH: {poll_row.rate:.0f} / {raw_rate:.0f} msg/s = {ratio:.2f}  "
            f"(target >= {POLL_TARGET})  {'PASS' if ratio >= POLL_TARGET else 'MISS'}"
        )
        print(
            f"    tuidesk wall clock with start-up, over the faster raw session ({raw.label[:3]});"
            f" loops only {(poll_row.loop_rate or 0) / (raw_rate or 1):.2f}, both wall clocks "
            f"{poll_row.rate / (raw.rate or 1):.2f}"
        )
        if poll_row.cpu and raw.cpu:
            print(
                f"    CPU per message: tuidesk {1000 * poll_row.cpu / poll_row.mails:.2f} ms, raw "
                f"{1000 * raw.cpu / raw.mails:.3f} ms (client side only)"
            )
        extra = move_row.wall - move_fixed.wall - (poll_row.wall - poll_fixed.wall)
        print(
            f"  MOVE cost: {move_row.rate:.0f} msg/s with MOVE against {poll_row.rate:.0f} "
            f"without; {extra:+.2f} s over the loop, {1000 * extra / max(moved, 1):+.2f} ms per "
            f"moved message ({moved} moved)"
        )
        headline(
            "imap",
            f"`tuidesk poll` of {poll_row.mails:,} corpus mails vs raw FETCH",
            f"{poll_row.rate:,.0f} vs {raw_rate:,.0f} mails/s ({ratio:.2f})",
            f">= {POLL_TARGET}",
            ratio >= POLL_TARGET,
        )

        if args.skip_pollers:
            print("\nTwo pollers on PostgreSQL: skipped (--skip-pollers)")
        else:
            print_pollers(measure_pollers(server, client, args.channels, work))

        if args.profile:
            profile_poll(server, client, args.profile, work)

        if args.skip_idle:
            print("\nIDLE latency: skipped (--skip-idle)")
        else:
            client.logout()
            client = None
            idle = measure_idle(server, args.idle_n, work)
            print_idle(idle, args.idle_n)
            headline_idle(idle, args.idle_n)

        print(f"\nbench took {time.perf_counter() - started:.0f} s")
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
        if server is not None:
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - still remove our folders
                print(f"could not stop Dovecot: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
