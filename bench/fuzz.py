"""A time-boxed fuzz campaign over the engine's hostile-input targets (issue 8).

    python -m bench.fuzz [--seconds N] [--targets parse,classify,...]

Runs the property checks of tests/mime_strategies.py (the ones tests/test_properties.py runs a
few hundred examples of) for N seconds in all (default 60), split evenly between the targets:
parse_mail, the machine-mail classifier, the plain-text and HTML quote strippers, the whole
engine decision, and the Ingestor into a throw-away SQLite database with its blobs in a data
folder (checking that nothing is written anywhere else). Each execution draws a fresh example
from the strategies through hypothesis's `fuzz_one_input`, fed with random bytes: arbitrary
bytes, mutated corpus mail, generated MIME with hostile attachment names, reply-like text.

Prints one table: target, executions, executions/s, the slowest execution, findings (distinct
exception types with their first line). Each finding's first example follows the table. Exits 1
if there is any finding; nothing is asserted otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Finding:
    kind: str  # exception type and first line
    count: int
    example: object
    trace: str


@dataclass
class Stats:
    target: str
    executions: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    findings: dict[str, Finding] = field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:120]


def _targets(tmp: Path) -> dict[str, tuple[Callable[..., object], tuple, Callable[[], None]]]:
    """name -> (check, strategies, cleanup)."""
    from tests import mime_strategies as ms
    from tuidesk.storage.db import make_engine
    from tuidesk.storage.schema import upgrade_schema

    template = tmp / "template.sqlite3"
    engine = make_engine(f"sqlite:///{template}")
    upgrade_schema(engine)
    engine.dispose()
    home = tmp / "home"
    home.mkdir()
    box = ms.IngestSandbox(tmp / "ingest", template, watch=[home])
    any_mail = (ms.any_mail,)
    return {
        "parse": (ms.check_parse, any_mail, lambda: None),
        "classify": (ms.check_classify, any_mail, lambda: None),
        "quotes": (ms.check_quotes, (ms.reply_text(), ms.separator_lists), lambda: None),
        "quotes-html": (ms.check_quotes_html, (ms.reply_html, ms.separator_lists), lambda: None),
        "decide": (ms.check_decide, any_mail, lambda: None),
        "ingest": (box.check, any_mail, box.close),
    }


def run_target(
    name: str, check: Callable[..., object], strategies: tuple, seconds: float, rng: random.Random
) -> Stats:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    stats = Stats(name)

    @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.tuples(*strategies))
    def one(args: tuple) -> None:
        t0 = time.perf_counter()
        try:
            check(*args)
        except Exception as exc:  # noqa: BLE001 - every exception is a finding, kept aside
            kind = f"{exc.__class__.__name__}: {_first_line(exc)}"
            found = stats.findings.get(kind)
            if found:
                found.count += 1
            else:
                stats.findings[kind] = Finding(kind, 1, args, traceback.format_exc(limit=-4))
        finally:
            elapsed = time.perf_counter() - t0
            stats.executions += 1
            stats.seconds += elapsed
            stats.slowest = max(stats.slowest, elapsed)

    fuzz = one.hypothesis.fuzz_one_input
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fuzz(rng.randbytes(rng.choice((64, 512, 4096, 16384))))
    return stats


def print_table(rows: list[Stats], wall: dict[str, float]) -> None:
    header = f"{'target':<12} {'executions':>10} {'exec/s':>9} {'slowest':>9}  findings"
    print(header)
    print("-" * len(header))
    for s in rows:
        rate = s.executions / wall[s.target] if wall[s.target] else 0.0
        kinds = "; ".join(f"{f.kind} (x{f.count})" for f in s.findings.values()) or "none"
        print(f"{s.target:<12} {s.executions:>10} {rate:>9.1f} {s.slowest:>8.2f}s  {kinds}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="the whole campaign (default 60)")
    ap.add_argument("--targets", help="comma-separated subset of the targets")
    ap.add_argument("--seed", type=int, help="seed for the random input bytes")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    import hypothesis  # noqa: F401 - before the chdir: its cache stays in ./.hypothesis

    with tempfile.TemporaryDirectory(prefix="tuidesk-fuzz-") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # anything written relative to the working folder lands in tmp
        os.environ["TUIDESK_HOME"] = str(Path(tmp) / "home")
        try:
            targets = _targets(Path(tmp))
            names = args.targets.split(",") if args.targets else list(targets)
            unknown = set(names) - set(targets)
            if unknown:
                ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
            per_target = args.seconds / len(names)
            print(f"fuzzing {len(names)} targets for {per_target:.1f} s each (seed {seed})\n")
            rows: list[Stats] = []
            wall: dict[str, float] = {}
            for name in names:
                check, strategies, _ = targets[name]
                t0 = time.perf_counter()
                rows.append(run_target(name, check, strategies, per_target, rng))
                wall[name] = time.perf_counter() - t0
            for _, _, cleanup in targets.values():
                cleanup()
        finally:
            os.chdir(cwd)
    print_table(rows, wall)
    findings = [f for s in rows for f in s.findings.values()]
    for s in rows:
        for f in s.findings.values():
            print(f"\n[{s.target}] {f.kind}\n  example: {repr(f.example)[:600]}\n{f.trace}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
