"""Ingest throughput: how fast mail becomes tickets, next to what parsing alone costs.

    python -m bench.ingest [--n N] [--pipe-n M] [--skip-postgres] [--profile K]

Builds N messages from the shared corpus (each with a unique Message-ID) and prints mails per
second and peak memory for: the stdlib parser with `policy.default` (the ceiling the targets
use) and with compat32, tuidesk's own `parse_mail`, `tuidesk import` end to end into SQLite and
into PostgreSQL, and `tuidesk pipe` once per message with start-up included, next to
`python -c "import sqlalchemy"`. Every figure comes from a fresh subprocess; peak memory is that
process's ru_maxrss (os.wait4). Prints figures only: nothing here asserts.

Targets (ratios within one run):
  * import mails/s >= policy.default parse mails/s (never under half of it; two cores may be used)
  * pipe ms per mail <= 2 x `python -c "import sqlalchemy"` ms (start-up dominates)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from fnmatch import fnmatch
from importlib.metadata import version
from pathlib import Path

from bench.table import headline

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
PYTHON = sys.executable

# Folders holding whole messages (.eml or extension-less); cpython-email adds msg_*.txt.
# email_reply_parser/ holds bodies only, talon's *.html are snippets: neither is used.
MAIL_FOLDERS = ("talon", "django-helpdesk", "sisimai", "flanker", "mail-parser")

IMPORT_TARGET = 1.0
IMPORT_FLOOR = 0.5
PIPE_TARGET = 2.0
SQLALCHEMY_RUNS = 7

_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")


# --------------------------------------------------------------------------------------------
# The messages


_LINE = re.compile(rb"([^\r\n]*)(\r\n|\n|\r|\Z)")


def _strip_envelope(raw: bytes) -> bytes:
    """Drop an mbox `From ` envelope line: as a file it would make the import read an mbox."""
    if raw.startswith(b"From "):
        m = re.search(rb"\r\n|\n|\r", raw)
        return raw[m.end() :] if m else b""
    return raw


def looks_like_mail(raw: bytes) -> bool:
    """A header line first, then another header, a continuation or the blank line."""
    lines = [m.group(1) for m in itertools.islice(_LINE.finditer(_strip_envelope(raw)[:4096]), 2)]
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    second = lines[1] if len(lines) > 1 else b""
    return second == b"" or second[:1] in (b" ", b"\t") or bool(_HEADER_LINE.match(second))


def corpus_files(root: Path = CORPUS) -> tuple[list[Path], int]:
    """Whole messages in a stable order: every .eml and cpython-email msg_*.txt, and the
    extension-less files that start with a header block (talon's extension-less files are
    bodies and signatures; mail-parser has one Outlook .msg binary). Also how many
    extension-less files were skipped."""
    files: list[Path] = []
    skipped = 0
    for folder in MAIL_FOLDERS:
        for p in sorted((root / folder).rglob("*")):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix == ".eml":
                files.append(p)
            elif p.suffix == "":
                if looks_like_mail(p.read_bytes()):
                    files.append(p)
                else:
                    skipped += 1
    files += sorted((root / "cpython-email").rglob("msg_*.txt"))
    return files, skipped


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """Replace the Message-ID header (with its continuation lines) or prepend one."""
    return with_header(raw, "Message-ID", message_id)


def with_header(raw: bytes, name: str, value: str) -> bytes:
    """Replace the header `name` (with its continuation lines, every copy of it) or prepend
    it. Works on the header block only (up to the first empty line; CRLF, LF or bare CR),
    keeps each line's own ending and leaves every other byte as it was."""
    raw = _strip_envelope(raw)
    new = f"{name}: {value}".encode("ascii")
    prefix = f"{name.lower()}:".encode("ascii")
    out: list[bytes] = []
    first_eol = b""
    pos = 0
    replaced = skipping = False
    for m in _LINE.finditer(raw):
        content, eol = m.group(1), m.group(2)
        first_eol = first_eol or eol
        if not content:
            break  # the blank line that ends the header block, or the end of the data
        pos = m.end()
        if skipping and content[:1] in (b" ", b"\t"):
            continue
        skipping = False
        if content[: len(prefix)].lower() == prefix:
            skipping = True
            if not replaced:
                out.append(new + eol)
                replaced = True
            continue
        out.append(content + eol)
    if not replaced:
        out.insert(0, new + (first_eol or b"\n"))
    return b"".join(out) + raw[pos:]


@dataclass
class Built:
    corpus: int  # distinct corpus mails used
    skipped: int  # extension-less files that are not mail
    excluded: int  # corpus mails left out by --exclude
    size: int  # bytes written
    sources: list[str]  # corpus path (relative) of each built message, by index


def build_messages(folder: Path, n: int, exclude: Sequence[str] = ()) -> Built:
    files, skipped = corpus_files()
    kept = [p for p in files if not any(fnmatch(rel(p), pat) for pat in exclude)]
    if not kept:
        raise SystemExit(f"no mail found under {CORPUS}")
    excluded = len(files) - len(kept)
    files = kept
    token = secrets.token_hex(4)
    folder.mkdir(parents=True, exist_ok=True)
    cache: dict[Path, bytes] = {}
    total = 0
    sources: list[str] = []
    for i in range(n):
        src = files[i % len(files)]
        raw = cache.get(src)
        if raw is None:
            raw = cache[src] = src.read_bytes()
        data = with_message_id(raw, f"<bench-{i:05d}-{token}@bench.tuidesk.invalid>")
        (folder / f"{i:05d}.eml").write_bytes(data)
        total += len(data)
        sources.append(rel(src))
    return Built(min(n, len(files)), skipped, excluded, total, sources)


def rel(path: Path) -> str:
    return str(path.relative_to(CORPUS)) if path.is_relative_to(CORPUS) else str(path)


# --------------------------------------------------------------------------------------------
# Measuring a subprocess


@dataclass
class Run:
    wall: float
    maxrss_kb: int
    cpu: float
    rc: int
    stdout: str
    stderr: str


# A child's ru_maxrss never reads below the RSS of the process it was forked from (Linux
# carries the pre-exec high-water mark over), so a child of this bench, which holds the
# corpus, would report at least the bench's own size. A small launcher forks the command
# instead and reports its wait4() rusage: peaks read ~5 MB high at worst (the launcher's size).
_LAUNCHER = """\
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
rc = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    f.write(f"{wall} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime} {rc}")
"""


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: Path | None = None,
    cwd: Path | None = None,
) -> Run:
    """Wall time, peak RSS and CPU time (user + system) of one fresh process."""
    with ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile())
        err = stack.enter_context(tempfile.TemporaryFile())
        inp = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        fd, report = tempfile.mkstemp(prefix="tuidesk-bench-rusage-")
        os.close(fd)
        stack.callback(os.unlink, report)
        launcher = [PYTHON, "-I", "-S", "-c", _LAUNCHER, report, *cmd]
        subprocess.run(launcher, stdin=inp, stdout=out, stderr=err, env=env, cwd=cwd)
        wall, maxrss, cpu, rc = Path(report).read_text().split()
        out.seek(0)
        err.seek(0)
        return Run(
            wall=float(wall),
            maxrss_kb=int(maxrss),
            cpu=float(cpu),
            rc=int(rc),
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def _check(run: Run, what: str) -> Run:
    if run.rc != 0:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} exited {run.rc}:\n{tail}")
    return run


@dataclass
class Row:
    label: str
    mails: int
    wall: float
    peak_kb: int
    cpu: float
    loop: float | None = None  # seconds spent in the per-mail loop, when known
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.mails / self.wall if self.wall else 0.0

    @property
    def loop_rate(self) -> float | None:
        return self.mails / self.loop if self.loop else None


# --------------------------------------------------------------------------------------------
# Parse-only workers (run as `python -m bench.ingest --worker KIND --folder DIR`)


def _worker(kind: str, folder: Path) -> None:
    t_import = time.perf_counter()
    refused: list[int] = []
    if kind == "default":
        from email import policy
        from email.parser import BytesParser

        parser = BytesParser(policy=policy.default)

        def one(raw: bytes) -> None:
            msg = parser.parsebytes(raw)
            for part in msg.walk():
                if part.get_content_maintype() == "text" and not part.is_multipart():
                    part.get_content()

    elif kind == "compat32":
        from email.parser import BytesParser
        from email.policy import compat32

        parser = BytesParser(policy=compat32)

        def one(raw: bytes) -> None:
            msg = parser.parsebytes(raw)
            for part in msg.walk():
                part.get_content_type()

    elif kind == "tuidesk":
        from tuidesk.engine.parse import ParseError, parse_mail

        def one(raw: bytes) -> None:
            try:
                parse_mail(raw)
            except ParseError:
                refused.append(1)  # a quarantine reason: a normal outcome, counted apart

    else:
        raise SystemExit(f"unknown worker {kind!r}")
    import_s = time.perf_counter() - t_import
    files = sorted(folder.iterdir())
    errors = 0
    each: list[float] = []
    clock = time.perf_counter
    t0 = clock()
    for path in files:
        t = clock()
        try:
            one(path.read_bytes())
        except Exception:  # noqa: BLE001 - count what the stdlib refuses, keep going
            errors += 1
        each.append(clock() - t)
    loop_s = clock() - t0
    json.dump(
        {
            "n": len(files),
            "errors": errors,
            "refused": len(refused),
            "loop_s": loop_s,
            "import_s": import_s,
            "each": [round(x, 6) for x in each],
        },
        sys.stdout,
    )


def measure_parse(kind: str, label: str, folder: Path, sources: list[str]) -> Row:
    run = _check(
        run_measured([PYTHON, "-m", "bench.ingest", "--worker", kind, "--folder", str(folder)],
                     cwd=ROOT),
        f"parse worker {kind}",
    )  # fmt: skip
    data = json.loads(run.stdout)
    notes = []
    if data["errors"]:
        notes.append(f"{data['errors']} raised")
    if data["refused"]:
        notes.append(f"{data['refused']} ParseError (quarantine)")
    note = ", ".join(notes)
    by_source: dict[str, list[float]] = defaultdict(list)
    for i, seconds in enumerate(data["each"]):
        by_source[sources[i] if i < len(sources) else str(i)].append(seconds)
    slowest = sorted(by_source.items(), key=lambda kv: sum(kv[1]), reverse=True)[:3]
    return Row(
        label,
        data["n"],
        run.wall,
        run.maxrss_kb,
        run.cpu,
        loop=data["loop_s"],
        note=note,
        extra={"slowest": [(src, len(t), sum(t)) for src, t in slowest]},
    )


# --------------------------------------------------------------------------------------------
# tuidesk itself


def tuidesk_cmd() -> list[str]:
    script = Path(PYTHON).parent / "tuidesk"
    return [str(script)] if script.exists() else [PYTHON, "-m", "tuidesk"]


def tuidesk_env(home: Path, db_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUIDESK_")}
    env["TUIDESK_HOME"] = str(home)
    if db_url:
        env["TUIDESK_DATABASE_URL"] = db_url
    return env


def setup_home(home: Path, db_url: str | None = None) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = tuidesk_env(home, db_url)
    _check(run_measured([*tuidesk_cmd(), "db", "upgrade"], env=env, cwd=home), "tuidesk db upgrade")
    _check(
        run_measured(
            [*tuidesk_cmd(), "branch", "edit", "Support", "--address", "support@example.com"],
            env=env, cwd=home,
        ),
        "tuidesk branch edit",
    )  # fmt: skip
    return env


def measure_import(label: str, folder: Path, empty: Path, env: dict[str, str]) -> list[Row]:
    """The fixed cost (an empty folder) first, then the whole folder, in the same database."""
    cwd = Path(env["TUIDESK_HOME"])
    fixed = _check(
        run_measured([*tuidesk_cmd(), "import", str(empty), "--json"], env=env, cwd=cwd),
        f"{label} (empty folder)",
    )
    run = _check(
        run_measured([*tuidesk_cmd(), "import", str(folder), "--json"], env=env, cwd=cwd), label
    )
    summary = json.loads(run.stdout)
    mails = int(summary.get("total", 0))
    counts = ", ".join(f"{v} {k}" for k, v in summary.items() if k != "total" and v)
    loop = max(run.wall - fixed.wall, 1e-9)
    return [
        Row(label, mails, run.wall, run.maxrss_kb, run.cpu, loop=loop, note=counts),
        Row("    same, empty folder (fixed cost)", 0, fixed.wall, fixed.maxrss_kb, fixed.cpu),
    ]


def sqlalchemy_row(walls: list[float], peaks: list[int], cpus: list[float]) -> Row:
    return Row(
        '    python -c "import sqlalchemy"',
        0,
        statistics.median(walls),
        max(peaks),
        statistics.median(cpus),
        note=f"median of {len(walls)} runs, interleaved with the pipe runs",
    )


def pick_spread(folder: Path, m: int) -> list[Path]:
    files = sorted(folder.iterdir())
    if m >= len(files):
        return files
    step = len(files) / m
    return [files[int(i * step)] for i in range(m)]


def measure_pipe(mails: list[Path], env: dict[str, str]) -> tuple[Row, list[float], str, Row]:
    """One `tuidesk pipe` per mail, sequentially, start-up included. `python -c "import
    sqlalchemy"` runs interleaved (every tenth mail, at least SQLALCHEMY_RUNS times) so both
    medians see the same machine load."""
    cmd = [*tuidesk_cmd(), "pipe"]
    sqla_cmd = [PYTHON, "-c", "import sqlalchemy"]
    _check(run_measured(sqla_cmd), "python -c 'import sqlalchemy'")  # warm the page cache
    every = max(1, min(10, len(mails) // SQLALCHEMY_RUNS))
    cwd = Path(env["TUIDESK_HOME"])
    walls: list[float] = []
    sqla: list[Run] = []
    peak = 0
    cpu = 0.0
    failed = 0
    first_failure = ""
    for i, path in enumerate(mails):
        if i % every == 0:
            sqla.append(_check(run_measured(sqla_cmd), "import sqlalchemy"))
        run = run_measured(cmd, env=env, stdin=path, cwd=cwd)
        walls.append(run.wall)
        peak = max(peak, run.maxrss_kb)
        cpu += run.cpu
        if run.rc != 0:
            failed += 1
            if not first_failure:
                tail = "\n    ".join((run.stderr or run.stdout).strip().splitlines()[-5:])
                first_failure = f"{path.name} exited {run.rc}:\n    {tail}"
    while len(sqla) < SQLALCHEMY_RUNS:
        sqla.append(_check(run_measured(sqla_cmd), "import sqlalchemy"))
    note = f"median {1000 * statistics.median(walls):.0f} ms per mail" if walls else ""
    if failed:
        note += f", {failed} exited non-zero"
    row = Row("(f) tuidesk pipe, one process per mail", len(mails), sum(walls), peak, cpu,
              note=note)  # fmt: skip
    sqla_row = sqlalchemy_row([r.wall for r in sqla], [r.maxrss_kb for r in sqla],
                              [r.cpu for r in sqla])  # fmt: skip
    return row, walls, first_failure, sqla_row


# --------------------------------------------------------------------------------------------
# Import-time profile of the pipe

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S.*)$")


@dataclass
class Imp:
    level: int
    self_us: int
    cum_us: int
    name: str
    children: list[Imp] = field(default_factory=list)


def parse_importtime(stderr: str) -> list[Imp]:
    """The `-X importtime` tree, parents first. The output lists children before their parent,
    one nesting level per two spaces of indent."""
    flat: list[Imp] = []
    for line in stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            level = (len(m.group(3)) - 1) // 2
            flat.append(Imp(level, int(m.group(1)), int(m.group(2)), m.group(4).strip()))
    ordered: list[Imp] = []
    stack: list[Imp] = []
    for imp in reversed(flat):  # parent first, children in reverse order
        del stack[imp.level :]
        if stack:
            stack[-1].children.insert(0, imp)
        ordered.append(imp)
        stack.append(imp)
    return ordered  # pre-order, but siblings reversed; order only matters for display


def importtime_by_package(entries: list[Imp]) -> tuple[list[tuple[str, int, int, int]], int]:
    """Per top-level package: inclusive microseconds (cumulative of its outermost imports,
    so what pulling it in costs, dependencies included), exclusive microseconds (self time
    of its own modules only) and module count. Also the total of all top-level imports."""
    inclusive: dict[str, int] = defaultdict(int)
    exclusive: dict[str, int] = defaultdict(int)
    modules: dict[str, int] = defaultdict(int)
    total = 0
    stack: list[str] = []  # top-level packages of the ancestors of the current entry
    for imp in entries:
        del stack[imp.level :]
        pkg = imp.name.split(".")[0]
        if imp.level == 0:
            total += imp.cum_us
        if pkg not in stack:
            inclusive[pkg] += imp.cum_us
        exclusive[pkg] += imp.self_us
        modules[pkg] += 1
        stack.append(pkg)
    rows = [(p, inclusive[p], exclusive[p], modules[p]) for p in inclusive]
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows, total


def tuidesk_chain(roots: list[Imp], min_us: int = 5000) -> list[str]:
    """tuidesk's own modules costing at least `min_us` (their imports included), as a tree in
    import order, each with the biggest packages it is the first to pull in."""
    lines: list[str] = []

    def visit(imp: Imp, depth: int) -> None:
        if imp.name.startswith("tuidesk") and imp.cum_us >= min_us:
            others = sorted(
                (c for c in imp.children if not c.name.startswith("tuidesk")),
                key=lambda c: c.cum_us,
                reverse=True,
            )
            pulls = ", ".join(f"{c.name} {c.cum_us / 1000:.0f}" for c in others[:3])
            label = "  " * depth + imp.name
            lines.append(
                f"  {label:<34} {imp.cum_us / 1000:8.1f} {imp.self_us / 1000:8.1f}  {pulls}"
            )
            depth += 1
        for child in imp.children:
            visit(child, depth)

    for root in roots:
        visit(root, 0)
    return lines


def pipe_importtime(mail: Path, env: dict[str, str]) -> tuple[Run, list[Imp]]:
    cmd = [PYTHON, "-X", "importtime", "-m", "tuidesk", "pipe", "--dry-run"]
    run = run_measured(cmd, env=env, stdin=mail, cwd=Path(env["TUIDESK_HOME"]))
    return run, parse_importtime(run.stderr)


# --------------------------------------------------------------------------------------------
# Optional: cProfile of an import (--profile K)


def profile_import(folder: Path, k: int, work: Path) -> None:
    """cProfile `tuidesk import` of K mails spread over the built set (so the corpus mix is
    kept) into a fresh SQLite home; print where the time goes."""
    sub = work / "profile-mails"
    sub.mkdir()
    for path in pick_spread(folder, k):
        shutil.copy(path, sub / path.name)
    env = setup_home(work / "profile-home")
    out = work / "import.prof"
    _check(
        run_measured(
            [PYTHON, "-m", "cProfile", "-o", str(out), "-m", "tuidesk", "import", str(sub),
             "--json"],
            env=env, cwd=work,
        ),
        "cProfile import",
    )  # fmt: skip
    import pstats

    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in stats.values())
    ours: list[tuple[float, float, int, str]] = []
    own: list[tuple[float, float, int, str]] = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.items():
        short = filename
        for marker in ("/tuidesk/", "/sqlalchemy/", "/sqlmodel/", "/python3.11/", "/lib/python"):
            if marker in filename:
                short = marker.strip("/").split("/")[-1] + "/" + filename.split(marker, 1)[1]
                break
        name = f"{short}:{line}({func})"
        own.append((tt, ct, nc, name))
        if "/tuidesk/" in filename or "/sqlalchemy/" in filename:
            ours.append((ct, tt, nc, name))
    ours.sort(reverse=True)
    own.sort(reverse=True)
    print(f"\ncProfile: tuidesk import of {k} mails into SQLite ({total:.2f} s under cProfile)")
    print("  top 15 by cumulative time, in tuidesk/ and sqlalchemy/:")
    print(f"  {'cum s':>7} {'cum %':>6} {'self s':>7} {'calls':>8}  function")
    for ct, tt, nc, name in ours[:15]:
        print(f"  {ct:7.2f} {100 * ct / total:5.1f}% {tt:7.2f} {nc:8d}  {name}")
    print("  top 10 by own time, any module:")
    print(f"  {'self s':>7} {'self %':>6} {'cum s':>7} {'calls':>8}  function")
    for tt, ct, nc, name in own[:10]:
        print(f"  {tt:7.2f} {100 * tt / total:5.1f}% {ct:7.2f} {nc:8d}  {name}")


# --------------------------------------------------------------------------------------------
# Report


def _mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def print_table(rows: list[Row]) -> None:
    print(
        f"{'figure':<44} {'mails':>6} {'wall s':>7} {'mails/s':>8} {'loop/s':>8} "
        f"{'peak MB':>8} {'CPU %':>6}  note"
    )
    print("-" * 100)
    for r in rows:
        rate = f"{r.rate:8.0f}" if r.mails else f"{'':>8}"
        loop = f"{r.loop_rate:8.0f}" if r.loop_rate else f"{'':>8}"
        cpu = 100 * r.cpu / r.wall if r.wall else 0
        print(
            f"{r.label:<44} {r.mails or '':>6} {r.wall:7.2f} {rate} {loop} "
            f"{_mb(r.peak_kb):>8} {cpu:6.0f}  {r.note}"
        )


def _verdict_import(ratio: float) -> str:
    if ratio >= IMPORT_TARGET:
        return "PASS"
    if ratio >= IMPORT_FLOOR:
        return "MISS (above the 0.5 floor)"
    return "MISS (under the 0.5 floor)"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--n", type=int, default=2000, help="messages to build (default 2000)")
    ap.add_argument("--pipe-n", type=int, default=100, help="pipe runs (default 100)")
    ap.add_argument("--skip-postgres", action="store_true", help="leave PostgreSQL out")
    ap.add_argument("--profile", type=int, default=0, metavar="K",
                    help="also cProfile `tuidesk import` of K mails into SQLite")  # fmt: skip
    ap.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                    help="leave out corpus mails whose path (relative to the corpus) matches, "
                    "e.g. '*/enclosed-endless.eml'; repeatable")  # fmt: skip
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.n < 1 or args.pipe_n < 1 or args.profile < 0:
        ap.error("--n and --pipe-n must be at least 1, --profile not negative")
    if args.worker:
        _worker(args.worker, args.folder)
        return

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tuidesk-bench-"))
    server = None
    try:
        mails_dir = work / "mails"
        empty = work / "empty"
        empty.mkdir()
        built = build_messages(mails_dir, args.n, args.exclude)
        print(
            f"tuidesk ingest bench: Python {sys.version.split()[0]}, SQLAlchemy "
            f"{version('sqlalchemy')}, {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f} (other work on this machine skews wall-clock figures)"
        )
        left_out = f", {built.excluded} left out by --exclude" if built.excluded else ""
        print(
            f"{args.n} messages cycling {built.corpus} corpus mails "
            f"({built.skipped} extension-less non-mails skipped{left_out}), "
            f"{built.size / 1e6:.1f} MB, unique Message-IDs"
        )
        print()

        rows: list[Row] = []
        for kind, label in (
            ("default", "(a) stdlib parse, policy.default"),
            ("compat32", "(b) stdlib parse, compat32, walk once"),
            ("tuidesk", "(c) tuidesk parse_mail"),
        ):
            rows.append(measure_parse(kind, label, mails_dir, built.sources))
        parse_rows = list(rows)

        sqlite_env = setup_home(work / "home-sqlite")
        sqlite_rows = measure_import("(d) tuidesk import -> SQLite", mails_dir, empty, sqlite_env)
        rows += sqlite_rows

        pg_rows: list[Row] = []
        pg_note = ""
        if args.skip_postgres:
            pg_note = "(e) PostgreSQL skipped: --skip-postgres"
        else:
            try:
                sys.path.insert(0, str(ROOT))
                from tests.servers.postgres import PostgresServer

                server = PostgresServer()
                server.start()
                server.execute("CREATE DATABASE bench")
            except Exception as exc:  # noqa: BLE001 - no server here: say so, measure the rest
                pg_note = f"(e) PostgreSQL skipped: {exc.__class__.__name__}: {exc}"
                if server is not None:
                    with contextlib.suppress(Exception):
                        server.stop()
                    server = None
            else:
                pg_env = setup_home(work / "home-pg", server.url("bench"))
                pg_rows = measure_import(
                    "(e) tuidesk import -> PostgreSQL", mails_dir, empty, pg_env
                )
                rows += pg_rows
                server.stop()  # idle, but not part of the pipe figures
                server = None

        pipe_env = setup_home(work / "home-pipe")
        pipe_mails = pick_spread(mails_dir, args.pipe_n)
        pipe_row, walls, pipe_failure, sqla_row = measure_pipe(pipe_mails, pipe_env)
        sqla_s = sqla_row.wall
        rows += [pipe_row, sqla_row]

        print_table(rows)
        if pg_note:
            print(pg_note)
        if pipe_failure:
            print(f"(f) first failing pipe: {pipe_failure}")
        print("Where the parse loops spend their time (corpus mail, copies, seconds, share):")
        for row in parse_rows:
            loop = row.loop or 1.0
            top = "; ".join(
                f"{Path(src).name} x{count} {secs:.2f} s {100 * secs / loop:.0f}%"
                for src, count, secs in row.extra["slowest"]  # type: ignore[union-attr]
            )
            print(f"  {row.label[:3]} {top}")
        print(
            "mails/s: wall clock of the whole process, start-up included; loop/s: without it\n"
            "(parse: the timed loop; import: wall minus the empty-folder run). peak MB: the\n"
            "process's ru_maxrss (+~5 MB launcher floor). CPU %: user+sys over wall, this\n"
            "process only (the PostgreSQL server's own CPU is not counted)."
        )

        pipe_med = statistics.median(walls)
        pipe_p90 = sorted(walls)[int(0.9 * (len(walls) - 1))]
        print(
            f"\npipe per mail: median {1000 * pipe_med:.0f} ms, mean "
            f"{1000 * statistics.fmean(walls):.0f} ms, p90 {1000 * pipe_p90:.0f} ms, "
            f"max {1000 * max(walls):.0f} ms; "
            f'python -c "import sqlalchemy": median {1000 * sqla_s:.0f} ms'
        )

        parse_rate = rows[0].rate
        print("\nTargets (same run; mails/s are wall clock, start-up included)")
        parse_cpu_rate = rows[0].mails / rows[0].cpu if rows[0].cpu else 0.0
        for label, import_rows in (("SQLite", sqlite_rows), ("PostgreSQL", pg_rows)):
            if not import_rows:
                continue
            imp = import_rows[0]
            ratio = imp.rate / parse_rate if parse_rate else 0.0
            print(
                f"  import {label} / parse policy.default: {imp.rate:.0f} / "
                f"{parse_rate:.0f} mails/s = {ratio:.2f}  (target >= {IMPORT_TARGET}, floor >= "
                f"{IMPORT_FLOOR})  {_verdict_import(ratio)}"
            )
            headline(
                "ingest",
                f"`tuidesk import` -> {label} vs stdlib parse ({imp.mails:,} mails)",
                f"{imp.rate:,.0f} vs {parse_rate:,.0f} mails/s ({ratio:.2f})",
                f">= {IMPORT_TARGET} (floor {IMPORT_FLOOR})",
                ratio >= IMPORT_TARGET,
            )
            if imp.cpu and parse_cpu_rate:
                cpu_rate = imp.mails / imp.cpu
                print(
                    f"    per CPU-second instead (less sensitive to other load; the server's "
                    f"CPU not counted): {cpu_rate:.0f} / {parse_cpu_rate:.0f} = "
                    f"{cpu_rate / parse_cpu_rate:.2f}"
                )
        if not pg_rows:
            headline("ingest", "`tuidesk import` -> PostgreSQL vs stdlib parse",
                     f"not run: {pg_note.removeprefix('(e) PostgreSQL skipped: ')}",
                     f">= {IMPORT_TARGET} (floor {IMPORT_FLOOR})", None)  # fmt: skip
        pipe_ratio = pipe_med / sqla_s if sqla_s else float("inf")
        print(
            f"  pipe per mail / import sqlalchemy: {1000 * pipe_med:.0f} / "
            f"{1000 * sqla_s:.0f} ms = {pipe_ratio:.2f}  (target <= {PIPE_TARGET})  "
            f"{'PASS' if pipe_ratio <= PIPE_TARGET else 'MISS'}"
        )
        headline(
            "ingest",
            f'`tuidesk pipe` per mail vs `python -c "import sqlalchemy"` ({len(walls)} mails)',
            f"median {1000 * pipe_med:.0f} vs {1000 * sqla_s:.0f} ms ({pipe_ratio:.2f})",
            f"<= {PIPE_TARGET:.0f}x",
            pipe_ratio <= PIPE_TARGET,
        )

        if pipe_mails:
            run, entries = pipe_importtime(pipe_mails[0], pipe_env)
            prof, total_us = importtime_by_package(entries)
            print(
                f"\nImport-time profile: python -X importtime -m tuidesk pipe --dry-run "
                f"(exit {run.rc}, {1000 * run.wall:.0f} ms wall, {total_us / 1000:.0f} ms in "
                f"imports)"
            )
            print("  top 10 top-level packages; incl = what importing it costs, dependencies")
            print("  included (overlaps: sqlmodel includes sqlalchemy); self = its own modules")
            print(f"  {'package':<34} {'incl ms':>8} {'self ms':>8} {'modules':>8}")
            for pkg, inc, exc, count in prof[:10]:
                print(f"  {pkg[:34]:<34} {inc / 1000:8.1f} {exc / 1000:8.1f} {count:8d}")
            print("\n  tuidesk modules over 5 ms, and what each is first to import (ms)")
            print(f"  {'module':<34} {'incl ms':>8} {'self ms':>8}  first to import")
            roots = [e for e in entries if e.level == 0]
            for line in tuidesk_chain(list(reversed(roots))):
                print(line)

        if args.profile:
            profile_import(mails_dir, args.profile, work)

        print(f"\nbench took {time.perf_counter() - started:.0f} s")
    finally:
        if server is not None:
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - still remove our folders
                print(f"could not stop PostgreSQL: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
