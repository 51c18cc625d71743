"""The one summary table of `python -m bench`: headline rows from every bench, and the machine.

Each bench module calls `headline(...)` for its few headline figures. Run on its own it prints
what it always printed and the call does nothing; under `python -m bench` the environment
variable BENCH_SUMMARY names a file, and each row is appended to it as one JSON line, which the
runner reads back once every bench has finished.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SUMMARY_ENV = "BENCH_SUMMARY"


@dataclass
class Headline:
    bench: str  # the module: ingest, imap, outbound, console, peer
    figure: str
    result: str
    target: str  # "none set" when the issue sets none
    met: str  # "yes", "no", or "-" when there is no target


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "no")


def headline(bench: str, figure: str, result: str, target: str, ok: bool | None) -> None:
    """Record one headline row for the runner's table (a no-op without BENCH_SUMMARY)."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    row = Headline(bench, figure, result, target, verdict(ok))
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(row)) + "\n")


def read_headlines(path: Path) -> list[Headline]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(Headline(**json.loads(line)))
    return rows


# --------------------------------------------------------------------------------------------
# The machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_line() -> str:
    """CPU model, cores, RAM, OS, Python, date and the load average, as of now."""
    ram = _ram_gb()
    one, five, fifteen = os.getloadavg()
    return (
        f"{_cpu_model()}, {os.cpu_count()} cores, "
        f"{f'{ram:.1f} GB RAM' if ram is not None else 'RAM unknown'}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()} "
        f"({sys.implementation.name}), {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"load average {one:.2f} {five:.2f} {fifteen:.2f} at start"
    )


# --------------------------------------------------------------------------------------------
# The table


def _cells(row: Headline) -> list[str]:
    return [row.figure, row.result, row.target, row.met]


def print_summary(rows: list[Headline], machine: str, failed: list[str]) -> None:
    """The table as text (aligned columns), then as Markdown for the README."""
    head = ["figure", "result", "target", "met?"]
    widths = [max(len(h), *(len(_cells(r)[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]  # fmt: skip
    print(f"\nSummary ({machine})\n")
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line.rstrip())
    print("-" * len(line.rstrip()))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(_cells(r), widths, strict=True)).rstrip())
    for what in failed:
        print(f"(no figures: {what})")
    print("\nAs Markdown:\n")
    print(f"Machine: {machine}\n")
    print("| figure | result | target | met? |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    for what in failed:
        print(f"\n(no figures: {what})")
