"""SVG snapshots of the console, kept under snapshots/ at the top of the repo.

A missing or different snapshot fails; run with TUIDESK_UPDATE_SNAPSHOTS=1 to write them, then
look at the SVG before committing it."""

from __future__ import annotations

import os
import re
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
# Textual names SVG elements after a hash of the terminal content; keep the comparison about
# what is drawn, not about those generated ids.
_IDS = re.compile(r"terminal-\d+")


def assert_snapshot(svg: str, name: str) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("TUIDESK_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with TUIDESK_UPDATE_SNAPSHOTS=1"
    expected = path.read_text(encoding="utf-8")
    assert _IDS.sub("terminal", svg) == _IDS.sub("terminal", expected), (
        f"console differs from {path.name}; update with TUIDESK_UPDATE_SNAPSHOTS=1 if intended"
    )
