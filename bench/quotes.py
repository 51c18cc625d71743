"""The quote stripper on a megabyte reply, plain text and HTML (new text over 2,000 copies of
the quoted history): the time one strip takes, best of a few, against a target of one second
each. Tests keep what it returns; the time is measured here, not asserted in a test.

    python -m bench.quotes [--runs N]
"""

from __future__ import annotations

import argparse
import time

from bench.table import headline, verdict
from tuidesk.engine.quotes import strip_quoted_html, strip_quoted_reply

GMAIL_QUOTE = (
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, 2 Nov 2026 at 09:14,'
    ' Alice &lt;alice@customer.test&gt; wrote:<br></div><blockquote class="gmail_quote">'
    "Printer on fire<br></blockquote></div>"
)
OWN = "<p>The export fails at 12:30 with error 0x80070005 on the second run.</p>"
LINE = "The export fails at 12:30 with error 0x80070005 on the second run, see log.\n"
QUOTED = "> Does the export fail every time, or only on the second run?\n"
TARGET_S = 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quotes", description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    plain = LINE * (1_000_000 // len(LINE)) + "\nOn Mon, Apr 2, 2012, Bob wrote:\n" + QUOTED * 2000
    markup = f"<div>{OWN * 7000}</div>{GMAIL_QUOTE * 2000}"
    for what, strip, mail in (
        ("plain text", strip_quoted_reply, plain),
        ("HTML", strip_quoted_html, markup),
    ):
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            stripped = strip(mail)
            times.append(time.perf_counter() - started)
        assert stripped.startswith("The export fails"), stripped[:80]
        best = min(times)
        ok = best < TARGET_S
        size = f"{len(mail) / 2**20:.1f} MB of {what}"
        print(f"{strip.__name__}, {size}: best {best * 1000:.0f} ms of {args.runs} runs"
              f" (target < {TARGET_S * 1000:.0f} ms: {verdict(ok)})")  # fmt: skip
        headline("quotes", f"strip a 1 MB {what} reply", f"{best * 1000:.0f} ms", "< 1000 ms", ok)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
