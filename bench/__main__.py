"""Every bench in turn, then one summary table: `make bench`.

    python -m bench [--keep-venv] [--quick] [--only NAME]... [--skip NAME]...

Runs bench.ingest, bench.imap, bench.outbound, bench.console, bench.quotes, bench.fidelity,
bench.peer, bench.sla and bench.scale one after the other, each in a subprocess of its own,
printing what each prints on its own. Each records its headline figures (bench/table.py) in a
file named by BENCH_SUMMARY; at the end the runner prints them as one table (figure | result |
target | met?), as text and as Markdown, with a line on the machine (CPU model, cores, RAM,
Python, date, load average at the start).

--keep-venv is passed on to bench.peer (keep the peer's venv for the next run). --quick runs
every bench with small counts: a check that everything runs, not figures to publish. A bench
that fails is reported under the table; the others still run. Exit 1 when any bench failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.table import SUMMARY_ENV, machine_line, print_summary, read_headlines

ROOT = Path(__file__).resolve().parents[1]

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # name: (arguments for the full run, arguments for --quick)
    "ingest": ([], ["--n", "300", "--pipe-n", "10"]),
    "imap": ([], ["--n", "800", "--idle-n", "5"]),
    "outbound": ([], ["--n", "200"]),
    "console": ([], ["--n", "10000", "--presses", "5"]),
    "quotes": ([], ["--runs", "1"]),
    "fidelity": ([], ["--only", "django-helpdesk", "--only", "email_reply_parser"]),
    "peer": ([], ["--n", "200", "--runs", "1"]),
    "sla": ([], ["--open", "500"]),
    # a million tickets, built once into ../scale-cache (outside the repository) and reused
    "scale": ([], ["--tickets", "2000", "--presses", "5", "--runs", "3", "--mails", "5"]),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--keep-venv", action="store_true",
                    help="passed to bench.peer: keep its venv for the next run")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="small counts: check, not publish")
    ap.add_argument("--only", action="append", choices=list(BENCHES), default=[],
                    help="run only this bench (repeatable)")  # fmt: skip
    ap.add_argument("--skip", action="append", choices=list(BENCHES), default=[],
                    help="leave this bench out (repeatable)")  # fmt: skip
    args = ap.parse_args(argv)

    machine = machine_line()  # the load average before any bench adds to it
    print(f"tuidesk benches: {machine}", flush=True)
    started = time.perf_counter()
    failed: list[str] = []
    fd, summary = tempfile.mkstemp(prefix="tuidesk-bench-summary-", suffix=".jsonl")
    os.close(fd)
    try:
        env = dict(os.environ, **{SUMMARY_ENV: summary})
        for name, (full, quick) in BENCHES.items():
            if (args.only and name not in args.only) or name in args.skip:
                continue
            extra = list(quick if args.quick else full)
            if name == "peer" and args.keep_venv:
                extra.append("--keep-venv")
            cmd = [sys.executable, "-m", f"bench.{name}", *extra]
            print(f"\n{'=' * 100}\n$ python -m bench.{name} {' '.join(extra)}".rstrip(), flush=True)
            t0 = time.perf_counter()
            rc = subprocess.run(cmd, env=env, cwd=ROOT).returncode
            took = time.perf_counter() - t0
            print(f"[bench.{name}: exit {rc}, {took:.0f} s]", flush=True)
            if rc != 0:
                failed.append(f"bench.{name} exited {rc} after {took:.0f} s")
        rows = read_headlines(Path(summary))
    finally:
        os.unlink(summary)
    if args.quick:
        machine += "; --quick (small counts, not for publishing)"
    print(f"\n{'=' * 100}")
    print_summary(rows, machine, failed)
    print(f"\nall benches took {(time.perf_counter() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
