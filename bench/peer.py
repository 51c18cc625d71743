"""tuidesk next to django-helpdesk's `get_email`: mails per second, side by side in one run.

    python -m bench.peer [--n N] [--runs R] [--keep-venv]

The peer is installed in a venv of its own (never the project's) under
~/.cache/tuidesk-bench/, keyed by the pinned versions, with a minimal Django site in a temporary
folder: SQLite, one Queue with email_box_type='local' reading a folder of .eml files. N mails are
built from the shared corpus as bench/ingest.py builds them (unique Message-IDs).

get_email stops for good on some real mails: an exception in its per-file loop ends the queue's
run, and the file stays where it was to stop the next run the same way. Every mail is first
tried by the peer's own code (one process, each mail in a rolled-back transaction); every copy of
a corpus mail that stops it is split off, and the reason printed. Then, R times (default 3),
interleaved so that load falls on all alike, each from a fresh database and a fresh copy of the
folder (get_email deletes what it imports):

  * `manage.py get_email --quiet` over the reduced set (wall time of the command)
  * `tuidesk import FOLDER --json` over the same reduced set and over the full set
  * both over the part of the reduced set that tuidesk makes tickets of: tuidesk records
    machine mail (bounces, auto-replies) without making a ticket of it, the peer makes a ticket
    (and sends an acknowledgement, here to Django's dummy mail backend) of every mail

The table shows the best of the R runs. Ticket counts are read back from each database and
checked against what each tool should have made (printed, not asserted).

Without --keep-venv a peer venv that this run created is removed at the end; one kept by an
earlier --keep-venv run is reused (pip is not run again). If pip cannot install the peer, the
bench says why and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from bench.ingest import (
    PYTHON,
    ROOT,
    Run,
    build_messages,
    run_measured,
    setup_home,
    tuidesk_cmd,
)
from bench.table import headline

HELPDESK_VERSION = "2.6.1"
DJANGO_VERSION = "5.2.19"  # django-helpdesk 2.6.1 requires Django >= 5.2
PINS = (f"django-helpdesk=={HELPDESK_VERSION}", f"Django=={DJANGO_VERSION}")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuidesk-bench"
QUEUE_SLUG = "tdbench"
TARGET = 10.0
PIP_TIMEOUT = 900


# --------------------------------------------------------------------------------------------
# The peer's venv


class PeerUnavailable(Exception):
    """The peer could not be installed: the bench says why and exits 2."""


def venv_dir() -> Path:
    py = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return CACHE / f"peer-venv-helpdesk{HELPDESK_VERSION}-django{DJANGO_VERSION}-{py}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> bool:
    """Create the venv and pip-install the pinned peer, unless a complete one is there.
    True when this call created it."""
    marker = venv / ".tuidesk-bench-complete"
    if marker.exists() and venv_python(venv).exists():
        return False
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"creating the peer's venv in {venv} (pip install {' '.join(PINS)}) ...", flush=True)
    steps = (
        ([PYTHON, "-m", "venv", str(venv)], "python -m venv"),
        (
            [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
             "--no-input", "-q", *PINS],
            "pip install",
        ),
    )  # fmt: skip
    for cmd, what in steps:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise PeerUnavailable(f"{what} failed: {exc}") from None
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            lines = [
                line
                for line in (proc.stderr + proc.stdout).strip().splitlines()
                if "is ignored: it is neither a file nor a directory" not in line
            ]
            tail = "\n".join(lines[-12:])
            raise PeerUnavailable(f"{what} exited {proc.returncode}:\n{tail}")
    marker.write_text(" ".join(PINS) + "\n")
    return True


# --------------------------------------------------------------------------------------------
# The Django site


SETTINGS = """\
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
SECRET_KEY = "tuidesk-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
ROOT_URLCONF = "benchsite.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "django_cleanup.apps.CleanupConfig",
    "helpdesk",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE / "db.sqlite3"}}
STATIC_URL = "/static/"
MEDIA_ROOT = BASE / "media"
MEDIA_URL = "/media/"
# The acknowledgements get_email sends are rendered, then dropped.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
DEFAULT_FROM_EMAIL = "helpdesk@example.com"
HELPDESK_TEAMS_MODE_ENABLED = False  # no pinax-teams
LOGGING = {"version": 1, "disable_existing_loggers": False}
"""

URLS = """\
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

# Runs in the peer's venv: `python peertool.py setup INBOX | probe FOLDER | count | versions`.
PEERTOOL = """\
import json
import logging
import os
import sys
import traceback

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
cmd = sys.argv[1]
if cmd == "versions":
    from importlib.metadata import distributions

    names = {d.metadata["Name"]: d.version for d in distributions()}
    json.dump(dict(sorted(names.items(), key=lambda kv: kv[0].lower())), sys.stdout)
    sys.exit()

import django

django.setup()
from django.db import transaction

from helpdesk.models import FollowUp, Queue, Ticket

SLUG = %(slug)r

if cmd == "setup":
    Queue.objects.create(
        title="Bench",
        slug=SLUG,
        email_address="support@example.com",
        allow_email_submission=True,
        email_box_type="local",
        email_box_local_dir=sys.argv[2],
        email_box_interval=0,
        logging_type="none",
    )
elif cmd == "count":
    json.dump({"tickets": Ticket.objects.count(), "followups": FollowUp.objects.count()},
              sys.stdout)
elif cmd == "probe":
    # The body of helpdesk.email.process_queue's local-folder loop, each mail in a
    # transaction that is rolled back: what raises here ends get_email's run for good.
    from django.utils import encoding

    from helpdesk import email as hd
    from helpdesk.exceptions import DeleteIgnoredTicketException, IgnoreTicketException

    class Rollback(Exception):
        pass

    def where(exc):
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/helpdesk/" in f.filename] or frames
        f = ours[-1]
        return f"{f.name}() in helpdesk/{f.filename.split('/helpdesk/')[-1]}:{f.lineno}"

    queue = Queue.objects.get(slug=SLUG)
    logger = logging.getLogger("tuidesk.bench.probe")
    logger.disabled = True
    folder = sys.argv[2]
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            with open(path, "r") as f:
                full = encoding.force_str(f.read(), errors="replace")
        except Exception as exc:
            out[name] = {"kind": "stops", "error": type(exc).__name__, "where":
                         "open(path, 'r').read() in process_queue, outside its try",
                         "detail": str(exc)[:160]}
            continue
        ticket = None
        try:
            with transaction.atomic():
                ticket = hd.extract_email_metadata(message=full, queue=queue, logger=logger)
                raise Rollback
        except Rollback:
            if not ticket:
                out[name] = {"kind": "left", "error": "no ticket", "where": "", "detail": ""}
        except (IgnoreTicketException, DeleteIgnoredTicketException) as exc:
            out[name] = {"kind": "ignored", "error": type(exc).__name__, "where": "",
                         "detail": ""}
        except Exception as exc:
            out[name] = {"kind": "stops", "error": type(exc).__name__, "where": where(exc),
                         "detail": str(exc)[:160]}
    json.dump(out, sys.stdout)
"""


@dataclass
class Site:
    dir: Path
    python: Path
    inbox: Path
    template_db: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHON"))}
        env["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
        return env

    def tool(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.python), "peertool.py", *args],
            cwd=self.dir, env=self.env(), capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"peertool {args[0]} exited {proc.returncode}:\n{tail}")
        return proc.stdout

    def fresh(self, mails: Path) -> None:
        """A fresh database (migrated, with the queue) and a fresh copy of the folder."""
        shutil.copyfile(self.template_db, self.dir / "db.sqlite3")
        shutil.rmtree(self.dir / "media", ignore_errors=True)
        shutil.rmtree(self.inbox, ignore_errors=True)
        shutil.copytree(mails, self.inbox)


def make_site(where: Path, python: Path) -> Site:
    (where / "benchsite").mkdir(parents=True)
    (where / "benchsite" / "__init__.py").write_text("")
    (where / "benchsite" / "settings.py").write_text(SETTINGS)
    (where / "benchsite" / "urls.py").write_text(URLS)
    (where / "manage.py").write_text(MANAGE)
    (where / "peertool.py").write_text(PEERTOOL % {"slug": QUEUE_SLUG})
    site = Site(where, python, where / "inbox", where / "db.template.sqlite3")
    site.inbox.mkdir()
    proc = subprocess.run(
        [str(python), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=where, env=site.env(), capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"manage.py migrate exited {proc.returncode}:\n{tail}")
    site.tool("setup", str(site.inbox))
    shutil.copyfile(where / "db.sqlite3", site.template_db)
    return site


# --------------------------------------------------------------------------------------------
# Splitting off what stops the peer


@dataclass
class Split:
    reduced: Path
    kept: int
    # reason -> corpus mails (relative path) -> copies in the set
    stops: dict[str, dict[str, int]] = field(default_factory=dict)
    # mails the peer takes without stopping but makes no ticket of (left in its folder)
    other: dict[str, dict[str, int]] = field(default_factory=dict)
    detail: dict[str, str] = field(default_factory=dict)  # reason -> one example message

    @property
    def excluded(self) -> int:
        return sum(sum(v.values()) for v in self.stops.values())

    @property
    def expect_tickets(self) -> int:
        return self.kept - sum(sum(v.values()) for v in self.other.values())


def split_off(site: Site, full: Path, sources: list[str], reduced: Path) -> Split:
    probe = json.loads(site.tool("probe", str(full)))
    bad_sources: dict[str, str] = {}
    split = Split(reduced, 0)
    other_sources: dict[str, str] = {}
    for name, res in probe.items():
        src = sources[int(Path(name).stem)]
        reason = f"{res['error']}" + (f" at {res['where']}" if res["where"] else "")
        if res["kind"] == "stops":
            bad_sources.setdefault(src, reason)
            split.detail.setdefault(reason, res["detail"])
        else:
            other_sources.setdefault(src, f"{res['kind']}: {reason}")
    reduced.mkdir(parents=True)
    for path in sorted(full.iterdir()):
        src = sources[int(path.stem)]
        if src in bad_sources:
            split.stops.setdefault(bad_sources[src], defaultdict(int))[src] += 1
            continue
        if src in other_sources:
            split.other.setdefault(other_sources[src], defaultdict(int))[src] += 1
        shutil.copyfile(path, reduced / path.name)
        split.kept += 1
    return split


# --------------------------------------------------------------------------------------------
# Timing


@dataclass
class Result:
    tool: str
    set: str
    mails: int
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def rate(self) -> float:
        return self.mails / self.best if self.walls else 0.0

    @property
    def cpu_pct(self) -> float:
        i = self.walls.index(self.best)
        return 100 * self.cpus[i] / self.best if self.best else 0.0


def _fail(run: Run, what: str) -> str:
    tail = " | ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
    return f"{what} exited {run.rc}: {tail}"


def run_peer(site: Site, mails: Path, expect: int, res: Result) -> None:
    site.fresh(mails)
    run = run_measured(
        [str(site.python), "manage.py", "get_email", "--quiet"], env=site.env(), cwd=site.dir
    )
    res.walls.append(run.wall)
    res.cpus.append(run.cpu)
    if run.rc != 0:
        res.checks.append(_fail(run, "get_email"))
        return
    counts = json.loads(site.tool("count"))
    left = sum(1 for _ in site.inbox.iterdir())
    ok = counts["tickets"] == expect and left == 0
    res.checks.append(
        f"{counts['tickets']} tickets, {counts['followups']} follow-ups, {left} mails left in "
        f"the folder (expected {expect} tickets, 0 left): {'OK' if ok else 'MISMATCH'}"
    )


def run_tuidesk(work: Path, tag: str, mails: Path, expect: int, res: Result) -> None:
    home = work / f"home-{tag}"
    shutil.rmtree(home, ignore_errors=True)
    env = setup_home(home)
    run = run_measured([*tuidesk_cmd(), "import", str(mails), "--json"], env=env, cwd=home)
    res.walls.append(run.wall)
    res.cpus.append(run.cpu)
    if run.rc != 0:
        res.checks.append(_fail(run, "tuidesk import"))
        return
    summary = json.loads(run.stdout)
    db = home / "tuidesk.sqlite3"
    with sqlite3.connect(db) as con:
        tickets = con.execute("SELECT count(*) FROM ticket").fetchone()[0]
        logged = con.execute("SELECT count(*) FROM ingest_log").fetchone()[0]
    con.close()
    ok = summary.get("total") == expect and logged == expect and tickets == summary.get("created")
    parts = ", ".join(f"{v} {k}" for k, v in summary.items() if k != "total" and v)
    res.checks.append(
        f"{summary.get('total')} read ({parts}); {tickets} tickets and {logged} ingest-log rows "
        f"in the DB (expected {expect} read and logged, tickets = created): "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    shutil.rmtree(home, ignore_errors=True)


def ticketed_subset(work: Path, mails: Path, dest: Path) -> int:
    """Copy to dest the mails that tuidesk makes a ticket of (an untimed import): it reads
    machine mail (bounces, auto-replies) on its headers and makes no ticket of it, while the
    peer makes a ticket of every mail. Returns how many."""
    home = work / "home-subset"
    env = setup_home(home)
    run = run_measured([*tuidesk_cmd(), "import", str(mails), "--json"], env=env, cwd=home)
    if run.rc != 0:
        raise RuntimeError(_fail(run, "tuidesk import (picking the ticketed subset)"))
    with sqlite3.connect(home / "tuidesk.sqlite3") as con:
        ids = [
            r[0] for r in con.execute("SELECT message_id FROM ingest_log WHERE outcome = 'created'")
        ]
    con.close()
    dest.mkdir(parents=True)
    for mid in ids:
        m = re.match(r"<bench-(\d+)-", mid or "")
        if m:
            name = f"{m.group(1)}.eml"
            shutil.copyfile(mails / name, dest / name)
    shutil.rmtree(home, ignore_errors=True)
    return sum(1 for _ in dest.iterdir())


# --------------------------------------------------------------------------------------------
# Report


def machine_line() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {os.getloadavg()[0]:.1f}"
    )


def print_table(results: list[Result], peer: Result, runs: int) -> None:
    peers = {r.set: r for r in results if r.tool.startswith("django")}
    head = (
        f"{'tool':<34} {'set':<26} {'mails':>6} {'best s':>7} {'mails/s':>8} "
        f"{'x peer':>7} {'CPU %':>6}  all runs (s)"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        base = peers.get(r.set, peer)
        ratio = r.rate / base.rate if base.rate else 0.0
        walls = " ".join(f"{w:.2f}" for w in r.walls)
        print(
            f"{r.tool:<34} {r.set:<26} {r.mails:>6} {r.best:7.2f} {r.rate:8.0f} "
            f"{ratio:7.1f} {r.cpu_pct:6.0f}  {walls}"
        )
    print(
        f"best of {runs} runs (interleaved); wall clock of one fresh process, start-up "
        "included; x peer = mails/s over the peer's mails/s on the same set (the full set:\n"
        "over the peer on the reduced set); CPU % = user+sys over wall, best run"
    )


def print_markdown(results: list[Result], peer: Result, machine: str, excluded: int) -> None:
    peers = {r.set: r for r in results if r.tool.startswith("django")}
    print("\nAs Markdown:\n")
    print(f"Machine: {machine}\n")
    print("| tool | set | mails | seconds | mails/s | x peer |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        base = peers.get(r.set, peer)
        ratio = r.rate / base.rate if base.rate else 0.0
        print(f"| {r.tool} | {r.set} | {r.mails:,} | {r.best:.2f} | {r.rate:,.0f} | {ratio:.1f} |")
    print(
        f"\n{excluded} mails the peer stops on are left out of the reduced set; tuidesk also "
        "took the full set."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--n", type=int, default=1000, help="mails to build (default 1000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each, best kept (default 3)")
    ap.add_argument("--keep-venv", action="store_true",
                    help="keep the peer's venv in the cache for the next run")  # fmt: skip
    args = ap.parse_args(argv)
    if args.n < 1 or args.runs < 1:
        ap.error("--n and --runs must be at least 1")

    started = time.perf_counter()
    venv = venv_dir()
    try:
        created = ensure_venv(venv)
    except PeerUnavailable as exc:
        print(f"bench.peer: cannot install the peer ({' '.join(PINS)}): {exc}", file=sys.stderr)
        headline("peer", "`tuidesk import` vs django-helpdesk get_email",
                 "not run: the peer could not be installed", f">= {TARGET:.0f}x", None)  # fmt: skip
        return 2
    work = Path(tempfile.mkdtemp(prefix="tuidesk-bench-peer-"))
    try:
        site = make_site(work / "site", venv_python(venv))
        peer_versions = json.loads(site.tool("versions"))
        full = work / "full"
        built = build_messages(full, args.n)
        split = split_off(site, full, built.sources, work / "reduced")

        machine = machine_line()
        print(f"tuidesk vs django-helpdesk get_email: {machine}")
        print(
            f"tuidesk {version('tuidesk')}, SQLAlchemy {version('sqlalchemy')}; peer: "
            + ", ".join(f"{k} {v}" for k, v in peer_versions.items() if k not in ("pip",))
        )
        print(
            f"{args.n} mails cycling {built.corpus} corpus mails, {built.size / 1e6:.1f} MB, "
            f"unique Message-IDs; reduced set for the peer: {split.kept} "
            f"({split.excluded} split off)\n"
        )

        subset = work / "ticketed"
        n_sub = ticketed_subset(work, split.reduced, subset)
        print(
            f"of the reduced set, tuidesk makes tickets of {n_sub} mails (the rest is machine "
            "mail it records and leaves out); the peer makes a ticket of every mail, so both "
            "also run on those alone\n"
        )

        reduced_label, sub_label = "reduced", "reduced, ticketed by tuidesk"
        peer = Result("django-helpdesk get_email", reduced_label, split.kept)
        same = Result("tuidesk import", reduced_label, split.kept)
        whole = Result("tuidesk import", "full", args.n)
        peer_sub = Result("django-helpdesk get_email", sub_label, n_sub)
        same_sub = Result("tuidesk import", sub_label, n_sub)
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs} ...", flush=True)
            run_peer(site, split.reduced, split.expect_tickets, peer)
            run_tuidesk(work, f"reduced-{i}", split.reduced, split.kept, same)
            run_tuidesk(work, f"full-{i}", full, args.n, whole)
            run_peer(site, subset, n_sub, peer_sub)
            run_tuidesk(work, f"subset-{i}", subset, n_sub, same_sub)
        results = [peer, same, whole, peer_sub, same_sub]

        print()
        print_table(results, peer, args.runs)
        print(f"\nSplit off for the peer: {split.excluded} mails (every copy of a corpus mail on")
        print("which get_email stops for good: the queue's run ends there and the file stays):")
        for reason, srcs in split.stops.items():
            print(f"  {sum(srcs.values())} mails, {len(srcs)} corpus mails: {reason}")
            if split.detail.get(reason):
                print(f"    e.g. {split.detail[reason]}")
            for src, count in sorted(srcs.items()):
                print(f"    {src} x{count}")
        for reason, srcs in split.other.items():
            print(f"  kept, but the peer makes no ticket ({sum(srcs.values())} mails): {reason}")
        print("\nChecks (tickets read back from each database):")
        for r in results:
            for i, check in enumerate(r.checks, 1):
                print(f"  {r.tool}, {r.set}, run {i}: {check}")

        same_ratio = same.rate / peer.rate if peer.rate else 0.0
        verdict = "PASS" if same_ratio >= TARGET else "MISS"
        print(
            f"\nTarget: tuidesk / peer on the same set: {same.rate:.0f} / {peer.rate:.0f} "
            f"mails/s = {same_ratio:.1f}x (target >= {TARGET:.0f}x)  {verdict}"
        )
        sub_ratio = same_sub.rate / peer_sub.rate if peer_sub.rate else 0.0
        print(
            f"        on the mails tuidesk makes tickets of: {same_sub.rate:.0f} / "
            f"{peer_sub.rate:.0f} mails/s = {sub_ratio:.1f}x"
        )
        print_markdown(results, peer, machine, split.excluded)
        headline(
            "peer",
            f"`tuidesk import` vs django-helpdesk get_email ({split.kept:,} mails, best of "
            f"{args.runs})",
            f"{same.rate:,.0f} vs {peer.rate:,.1f} mails/s ({same_ratio:.1f}x); on the "
            f"{n_sub:,} both make tickets of {sub_ratio:.1f}x",
            f">= {TARGET:.0f}x",
            same_ratio >= TARGET,
        )
        print(f"\nbench took {time.perf_counter() - started:.0f} s")
    except RuntimeError as exc:
        print(f"bench.peer: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created and not args.keep_venv:
            shutil.rmtree(venv, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
