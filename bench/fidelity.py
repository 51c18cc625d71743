"""Mail fidelity on labelled corpora: what `tuidesk pipe --json` makes of real mail nobody here
wrote, against what each corpus's own project expects.

    python -m bench.fidelity [--corpus DIR] [--only FOLDER]... [--show-misses]

Every labelled mail of ../shared/corpus goes through the pipe (services.pipe.deliver with
`--json`, as an MTA runs it) into a fresh SQLite database of its own, so no mail threads onto
another; the ticket it made is read back as `ticket show --json` gives it. Per corpus it prints:
mails, tickets made, machine mail recognised (labelled bounces, complaints and auto-replies not
made tickets) and human mail ignored, agreement of title, sender address, sender name and
attachments with the fixture's expectation, reply trimming exact and loose, and titles that
look like mojibake. Prints figures only: nothing here asserts.

Targets (issue 19): machine-mail recall >= 99% with no human mail ignored; trimming exact >= 85%
and loose >= 97%; no mojibake in any title.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ingest import CORPUS, corpus_files, with_header
from bench.table import headline
from tuidesk.engine.text import html_to_text

MACHINE_RECALL = 0.99
TRIM_EXACT = 0.85
TRIM_LOOSE = 0.97

# UTF-8 read as Latin-1/cp1252 ("Ã©", "â€™", "æ—¥"), and the replacement character.
_MOJIBAKE = re.compile(
    "\ufffd|[\u00c2-\u00c3][\u0080-\u00bf]|\u00e2\u20ac|[\u00e3-\u00e9][\u0080-\u00bf]{2}"
)
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_CJK_CHARSET = re.compile(
    rb"(?:charset=\"?|=\?)(gb2312|gbk|gb18030|big5|iso-2022-jp|shift_jis|euc-jp|euc-kr|ks_c_5601)",
    re.I,
)


@dataclass
class Tally:
    """One corpus's counts; a ratio's denominator is the number of mails it applied to."""

    corpus: str
    mails: int = 0
    tickets: int = 0
    quarantined: int = 0
    machine: int = 0
    machine_recognised: int = 0
    human: int = 0
    human_ignored: int = 0
    checks: dict[str, list[int]] = field(default_factory=dict)  # name -> [agreed, checked]
    trim_exact: int = 0
    trim_loose: int = 0
    trimmed: int = 0
    mojibake: int = 0
    misses: list[str] = field(default_factory=list)

    def check(self, name: str, agreed: bool, what: str) -> None:
        counts = self.checks.setdefault(name, [0, 0])
        counts[0] += agreed
        counts[1] += 1
        if not agreed:
            self.misses.append(f"{name}: {what}")


@dataclass(frozen=True)
class Case:
    """One mail and what its corpus says about it."""

    path: Path
    raw: bytes
    machine: bool | None  # True: labelled machine mail; False: a person wrote it; None: unknown
    expect: dict[str, Any]

    @property
    def reply(self) -> bool:
        """A reply whose trimming the fixture judges: piped as an answer on a ticket, since
        the mail that opens a ticket keeps its quoted history whole."""
        return trimming("", self.expect) is not None


# --------------------------------------------------------------------------------------------
# The corpora and their labels


def _labels(folder: str, name: str = "expected.json") -> dict[str, Any]:
    path = CORPUS / folder / name
    if not path.is_file():
        return {}
    return {k: v for k, v in json.loads(path.read_text("utf-8")).items() if not k.startswith("_")}


def _reply_body(path: Path) -> bytes:
    """email_reply_parser's files and talon's .html are bodies only: a customer's mail around
    one."""
    body = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    kind = "html" if path.suffix == ".html" else "plain"
    head = (
        f"From: Customer <customer@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: Re: your ticket\r\nMessage-ID: <{path.stem}@fidelity.bench>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/{kind}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + body


def _flanker_machine(label: dict[str, Any]) -> bool | None:
    """Bounces, complaints and read receipts are machine mail; spam is a person's to judge."""
    if label.get("spam_by_folder"):
        return None
    if "is_bounce" in label:
        return bool(label["is_bounce"])
    return True


def cases(only: set[str]) -> Iterator[tuple[str, Case]]:
    """Every mail, by corpus folder, in a stable order, with its labels where it has any."""
    files, _skipped = corpus_files()
    by_folder: dict[str, list[Path]] = {}
    for path in files:
        by_folder.setdefault(path.relative_to(CORPUS).parts[0], []).append(path)
    sisimai = _labels("sisimai", "labels.json")
    flanker = _labels("flanker")
    labelled = {
        "sisimai": lambda rel: (True, sisimai[rel]) if rel in sisimai else (None, None),
        "flanker": lambda rel: (
            (_flanker_machine(flanker[rel]), flanker[rel]) if rel in flanker else (None, None)
        ),
        "talon": lambda rel: (False, _labels("talon").get(rel)),
        "django-helpdesk": lambda rel: (False, _labels("django-helpdesk").get(rel)),
        "mail-parser": lambda rel: (None, _labels("mail-parser").get(rel)),
        "cpython-email": lambda rel: (None, {}),
    }
    for folder, label in labelled.items():
        if only and folder not in only:
            continue
        for path in by_folder.get(folder, []):
            rel = path.relative_to(CORPUS / folder).as_posix()
            machine, expect = label(rel)  # unlabelled mail still counts for mojibake
            yield folder, Case(path, path.read_bytes(), machine, expect or {})
    if not only or "talon" in only:
        for rel, expect in sorted(_labels("talon").items()):
            path = CORPUS / "talon" / rel
            if path.suffix == ".html":
                yield "talon", Case(path, _reply_body(path), False, expect)
    if not only or "email_reply_parser" in only:
        for rel, expect in sorted(_labels("email_reply_parser").items()):
            path = CORPUS / "email_reply_parser" / rel
            yield "email_reply_parser", Case(path, _reply_body(path), False, expect)


# --------------------------------------------------------------------------------------------
# Through the pipe

QUESTION_ID = "<question@fidelity.bench>"


def _question(sender: str) -> bytes:
    """The mail a reply in the corpus answers, from the reply's own sender."""
    return (
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: A question\r\n"
        f"Message-ID: {QUESTION_ID}\r\n\r\nHow do I export my data?\r\n"
    ).encode()


class Desk:
    """A fresh database per mail (a copy of one migrated empty database) and the pipe."""

    def __init__(self, work: Path) -> None:
        from tuidesk.storage.schema import open_database

        self.work = work
        self.template = work / "empty.sqlite3"
        self.made = 0
        open_database(f"sqlite:///{self.template}", create=True).dispose()
        os.environ["TUIDESK_HOME"] = str(work / "home")

    def pipe(self, raw: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The pipe's JSON outcome and the ticket it made, as `ticket show --json` has it."""
        return self._deliver(self._fresh(), raw)

    def reply(self, raw: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The mail as its sender's answer on a ticket they opened: the pipe's outcome for
        the answer and the ticket."""
        from email.parser import BytesHeaderParser
        from email.utils import parseaddr

        sender = parseaddr(str(BytesHeaderParser().parsebytes(raw).get("From", "")))[1]
        url = self._fresh()
        opened, _ticket = self._deliver(url, _question(sender or "customer@example.org"))
        if opened.get("action") != "created":
            return opened, None
        answer = with_header(
            with_header(raw, "In-Reply-To", QUESTION_ID), "References", QUESTION_ID
        )
        return self._deliver(url, answer)

    def _fresh(self) -> str:
        """A copy of the empty database under a new name (the last one's WAL would otherwise
        be read into it)."""
        for old in self.work.glob("mail-*"):
            old.unlink()
        self.made += 1
        db = self.work / f"mail-{self.made}.sqlite3"
        shutil.copyfile(self.template, db)
        return f"sqlite:///{db}"

    def _deliver(self, url: str, raw: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
        from tuidesk.services.pipe import deliver
        from tuidesk.storage.schema import open_database
        from tuidesk.storage.views import show_ticket

        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = deliver(raw, db_url=url, channel=None, as_json=True, dry_run=False)
        outcome = json.loads(out.getvalue()) if code == 0 else {"action": f"exit {int(code)}"}
        ticket = None
        if outcome.get("ticket"):
            from sqlmodel import Session

            engine = open_database(url)
            with Session(engine) as session:
                ticket = show_ticket(session, outcome["ticket"])
            engine.dispose()
        return outcome, ticket


# --------------------------------------------------------------------------------------------
# Judging one mail


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


LOOSE_TAIL_LINES = 3  # lines of signature or footer that loose agreement lets differ


def _same_but_the_tail(got: str, want: str) -> bool:
    """The two texts agree line by line (whitespace aside) but for a few lines at the end of
    one of them: a sign-off, signature or footer kept or trimmed."""
    a = [_squash(line) for line in got.splitlines() if line.strip()]
    b = [_squash(line) for line in want.splitlines() if line.strip()]
    short, long = sorted((a, b), key=len)
    tail = len(long) - len(short)
    return bool(short) and long[: len(short)] == short and tail <= LOOSE_TAIL_LINES


def trimming(visible: str, expect: dict[str, Any]) -> tuple[bool, bool] | None:
    """(exact, loose) for a fixture that says what the new text is; None when it says nothing.
    Loose: no `>`-quoted line was left and the text agrees with the expected one but for
    LOOSE_TAIL_LINES at its end (whitespace aside)."""
    bare = expect.get("expected_reply_text_whitespace_insensitive")
    if "expected_html_whitespace_removed" in expect:
        bare = html_to_text(expect["expected_html_whitespace_removed"])
    if bare is not None:
        got, want_bare = re.sub(r"\s+", "", visible), re.sub(r"\s+", "", bare)
        return got == want_bare, got.startswith(want_bare) or _same_but_the_tail(visible, bare)
    want = expect.get("expected_reply_text", expect.get("visible_text"))
    starts = expect.get("visible_starts_with")
    hidden = list(expect.get("hidden_contains", ())) + list(expect.get("visible_not_contains", ()))
    if want is None and starts is None and not hidden:
        return None
    quoted_left = any(line.lstrip().startswith(">") for line in visible.splitlines())
    none_hidden_shown = not any(part in visible for part in hidden)
    if want is not None:
        exact = visible.strip() == want.strip() and none_hidden_shown
        loose = _same_but_the_tail(visible, want) and not quoted_left
    else:
        exact = (starts is None or visible.startswith(starts)) and none_hidden_shown
        loose = exact or (
            (starts is None or _squash(visible).startswith(_squash(starts))) and not quoted_left
        )
    return exact, loose or exact


def looks_garbled(title: str, raw: bytes) -> bool:
    """A replacement character or UTF-8 read as Latin-1; in mail declaring a CJK charset, a
    title with Latin-1 letters and no CJK character at all."""
    if _MOJIBAKE.search(title):
        return True
    if _CJK_CHARSET.search(raw[:65536]) and not _CJK.search(title):
        return bool(re.search("[\u0080-\u00ff]", title))
    return False


def judge(tally: Tally, case: Case, outcome: dict[str, Any], ticket: dict[str, Any] | None) -> None:
    name = case.path.relative_to(CORPUS).as_posix()
    action = outcome.get("action", "")
    tally.mails += 1
    tally.tickets += action in ("created", "commented")
    tally.quarantined += action == "quarantined"
    if case.machine is True:
        tally.machine += 1
        recognised = action in ("ignored", "duplicate") or (
            action == "commented" and ticket is not None
        )
        tally.machine_recognised += recognised
        if not recognised:
            tally.misses.append(f"machine mail made {action}: {name}")
    elif case.machine is False:
        tally.human += 1
        if action == "ignored":
            tally.human_ignored += 1
            tally.misses.append(f"human mail ignored ({outcome.get('reason')}): {name}")
    expect = case.expect
    if ticket is None:
        if expect.get("title") or "attachments_count" in expect:
            tally.misses.append(f"no ticket ({action}: {outcome.get('reason')}): {name}")
        return
    messages = ticket["messages"]
    first = messages[0] if messages else {}
    title = ticket["title"]
    if looks_garbled(title, case.raw):
        tally.mojibake += 1
        tally.misses.append(f"mojibake title {title!r}: {name}")
    if "title" in expect:
        tally.check("title", title == expect["title"], f"{title!r} != {expect['title']!r}: {name}")
    if "subject" in expect:
        want = expect["subject"]
        tally.check("title", title == want, f"{title!r} != {want!r}: {name}")
    if isinstance(expect.get("from"), list) and expect["from"]:
        want_name, want_addr = expect["from"][0]
        got = first.get("from", {})
        tally.check("from", got.get("email") == want_addr, f"{got.get('email')!r}: {name}")
        tally.check("name", got.get("name") == want_name, f"{got.get('name')!r}: {name}")
    if "from" in expect and "<" in str(expect["from"]):
        want_name, want_addr = re.match(r"\s*(.*?)\s*<([^>]+)>", expect["from"]).groups()
        got = first.get("from", {})
        tally.check("from", got.get("email") == want_addr, f"{got.get('email')!r}: {name}")
        tally.check("name", got.get("name") == want_name, f"{got.get('name')!r}: {name}")
    attachments = first.get("attachments", [])
    if "attachments_count" in expect:
        got = len(attachments)
        want = expect["attachments_count"]
        tally.check("attachments", got == want, f"{got} attachments, {want} expected: {name}")
    judged = trimming(messages[-1].get("body", ""), expect) if case.reply else None
    if judged is not None:
        exact, loose = judged
        tally.trimmed += 1
        tally.trim_exact += exact
        tally.trim_loose += loose
        if not exact:
            tally.misses.append(f"trim {'loose' if loose else 'miss'}: {name}")


# --------------------------------------------------------------------------------------------
# The table


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}% ({part}/{whole})" if whole else "-"


def print_table(tallies: list[Tally]) -> None:
    cols = ["corpus", "mails", "tickets", "quar.", "machine recognised", "human ignored", "title",
            "from", "name", "attachments", "trim exact", "trim loose", "mojibake"]  # fmt: skip
    rows = []
    for t in tallies:
        agree = {k: _pct(*v) for k, v in t.checks.items()}
        rows.append([
            t.corpus, str(t.mails), str(t.tickets), str(t.quarantined),
            _pct(t.machine_recognised, t.machine),
            f"{t.human_ignored}/{t.human}" if t.human else "-",
            agree.get("title", "-"), agree.get("from", "-"), agree.get("name", "-"),
            agree.get("attachments", "-"), _pct(t.trim_exact, t.trimmed),
            _pct(t.trim_loose, t.trimmed), str(t.mojibake),
        ])  # fmt: skip
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def headlines(tallies: list[Tally]) -> None:
    machine = sum(t.machine for t in tallies)
    recognised = sum(t.machine_recognised for t in tallies)
    ignored = sum(t.human_ignored for t in tallies)
    trimmed = sum(t.trimmed for t in tallies)
    exact = sum(t.trim_exact for t in tallies)
    loose = sum(t.trim_loose for t in tallies)
    garbled = sum(t.mojibake for t in tallies)
    recall = recognised / machine if machine else 1.0
    rows: list[tuple[str, str, str, bool]] = [
        ("machine mail recognised", f"{recall:.1%}", f">= {MACHINE_RECALL:.0%}",
         recall >= MACHINE_RECALL),
        ("human mail ignored", str(ignored), "0", ignored == 0),
        ("reply trimming exact", f"{exact / max(trimmed, 1):.1%}", f">= {TRIM_EXACT:.0%}",
         exact >= TRIM_EXACT * trimmed),
        ("reply trimming loose", f"{loose / max(trimmed, 1):.1%}", f">= {TRIM_LOOSE:.0%}",
         loose >= TRIM_LOOSE * trimmed),
        ("titles with mojibake", str(garbled), "0", garbled == 0),
    ]  # fmt: skip
    print()
    for figure, result, target, ok in rows:
        print(f"{figure}: {result} (target {target}: {'yes' if ok else 'no'})")
        headline("fidelity", figure, result, target, ok)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fidelity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--only", action="append", default=[], help="only this corpus folder")
    ap.add_argument("--show-misses", action="store_true", help="list every mail that missed")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    tallies: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(prefix="tuidesk-bench-fidelity-") as tmp:
        desk = Desk(Path(tmp))
        for folder, case in cases(set(args.only)):
            tally = tallies.setdefault(folder, Tally(folder))
            outcome, ticket = (desk.reply if case.reply else desk.pipe)(case.raw)
            judge(tally, case, outcome, ticket)
    print_table(list(tallies.values()))
    headlines(list(tallies.values()))
    if args.show_misses:
        for t in tallies.values():
            for miss in t.misses:
                print(f"  {t.corpus}: {miss}")
    print(
        f"({sum(t.mails for t in tallies.values())} mails in {time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
