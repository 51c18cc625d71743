"""Hostile mail for property tests and the fuzz campaign: hypothesis strategies, and the checks
(targets) that must hold for whatever they generate.

Shared by tests/test_properties.py (bounded, derandomized runs in CI) and bench/fuzz.py (a
time-boxed campaign). A target returns a short label for what happened (an outcome) and raises
AssertionError when a property fails; any other exception is a crash, itself a finding.

Strategies:
- `raw_bytes`: arbitrary bytes, sometimes behind a plausible header block;
- `mutated_mail`: a real corpus mail (or a generated one) under 1-6 mutations: flipped,
  inserted and deleted bytes, truncation, duplicated and broken MIME boundaries, bogus charsets
  and Content-Transfer-Encodings, header folding junk, huge header lines, NUL bytes, wrapping
  in nested multiparts, line-ending changes, spliced-in pieces of other mails;
- `built_mail`: a generated MIME tree with hostile attachment names, charsets and encodings;
- `reply_text` / `reply_html`: reply-like text for the quote stripper.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from tests.engine.conftest import NOW, MemoryLookup
from tests.test_corpus import corpus_mail_files
from tuidesk.engine.classify import MachineVerdict, classify_machine_mail
from tuidesk.engine.decision import Action
from tuidesk.engine.parse import FILENAME_LIMIT, TITLE_LIMIT, ParsedMail, ParseError, parse_mail
from tuidesk.engine.process import decide
from tuidesk.engine.quotes import strip_quoted_html, strip_quoted_reply
from tuidesk.engine.rules import BranchRule, RuleSet
from tuidesk.engine.text import normalize_newlines, strip_controls

SEED_MAX_BYTES = 20_000  # corpus mails used as seeds; bigger ones only slow each example down
MACHINE_KINDS = {"bounce", "auto-reply", "complaint", "bulk", "delivery-report"}
OUTCOMES = {a.value for a in Action}
# An absolute path a hostile attachment name points at: it must never come to exist.
ESCAPE_PATH = "/tmp/tuidesk-fuzz-escape-must-not-exist"


# --- seeds --------------------------------------------------------------------------------------


def _corpus_seeds() -> list[bytes]:
    try:
        files = corpus_mail_files()
    except OSError:
        return []
    return [data for path in files if len(data := path.read_bytes()) <= SEED_MAX_BYTES]


_SYNTHETIC_SEEDS = [
    b"From: Alice <alice@customer.test>\r\nTo: support@example.com\r\nSubject: Printer\r\n"
    b"Message-ID: <seed-1@customer.test>\r\n\r\nHello, my printer is on fire.\r\n",
    b"From: alice@customer.test\r\nTo: support@example.com\r\nSubject: Re: [SUP-1] Printer\r\n"
    b"In-Reply-To: <x@example.com>\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nStill broken.\r\n\r\n"
    b"On Mon, 1 Jan 2024 at 10:00, Support <support@example.com> wrote:\r\n> old\r\n"
    b"--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="../../etc/x"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n'
    b"--XX--\r\n",
    b"From: MAILER-DAEMON@mx.test\r\nTo: support@example.com\r\nSubject: Undelivered Mail\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n"
    b"--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R\r\n"
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
    b"Action: failed\r\n--R\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Message-ID: <ours@example.com>\r\nFrom: support@example.com\r\n\r\nhi\r\n--R--\r\n",
]
SEEDS: list[bytes] = _corpus_seeds() + _SYNTHETIC_SEEDS


# --- pieces -------------------------------------------------------------------------------------

HOSTILE_FILENAMES = [
    "../../etc/x",
    "../../../../../../../../tmp/tuidesk-fuzz-escape-must-not-exist",
    ESCAPE_PATH,
    "..\\..\\windows\\x",
    "C:\\Windows\\System32\\x.dll",
    "x\x00y.txt",
    "\x00",
    "a" * 600 + ".txt",
    "b" * 300,
    "CON",
    "NUL.txt",
    "aux",
    "COM1",
    "LPT1.log",
    ".",
    "..",
    "...",
    "",
    " . .x",
    ".bashrc",
    "~/.ssh/authorized_keys",
    "%2e%2e%2fetc%2fx",
    "\u202etxt.exe",
    "dir/",
    "/",
    "x/../../y",
    "\x1b[31mred.txt",
    "é" * 200 + ".pdf",
]
BOGUS_CHARSETS = [
    b"x-no-such-charset",
    b"unknown-8bit",
    b"utf-7",
    b"utf-16",
    b"utf-32",
    b"iso-2022-jp",
    b'"',
    b"",
    b"'",
    b"utf-8''",
    b"a" * 300,
    b"\xff\xfe",
    b"=?utf-8?q?x?=",
    b"idna",
    b"rot13",
    b"base64",
    b"zlib",
    b"cp65001",
    b"us-ascii",
    b"punycode",
]
BOGUS_CTES = [
    b"base64",
    b"quoted-printable",
    b"x-uuencode",
    b"uuencode",
    b"x-uue",
    b"8bit",
    b"binary",
    b"7bit",
    b"bogus",
    b"base64 base64",
    b"",
    b"BASE64",
    b"=?utf-8?b?YmFzZTY0?=",
]
JUNK = [
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\r\n ",
    b"\r\n\t\r\n ",
    b":",
    b";",
    b"--",
    b"=?",
    b"?=",
    b"=?utf-8?b?",
    b"=?x-bogus?q?=FF=FE?=",
    b"=?utf-8?q?=C3?=",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xae",
    b"<",
    b">",
    b'"',
    b"boundary=",
    b'Content-Type: multipart/mixed; boundary=""\r\n',
    b"Content-Type: message/rfc822\r\n",
    b"From: \r\n",
    b"From: <>\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fetc%2Fx\r\n",
    b"begin 644 ../../x\r\n",
    b"=\r\n",
    b"=XX",
]

_BOUNDARY_LINE = re.compile(rb"^--[^\r\n]*", re.MULTILINE)
_BOUNDARY_PARAM = re.compile(rb'boundary="?([^";\r\n]*)"?', re.IGNORECASE)
_CHARSET_PARAM = re.compile(rb'charset="?([^";\s]*)"?', re.IGNORECASE)
_CTE_HEADER = re.compile(rb"^(content-transfer-encoding:[ \t]*)([^\r\n]*)", re.I | re.M)
_LINE_START = re.compile(rb"^", re.MULTILINE)


def _position(draw: Callable, data: bytes) -> int:
    return draw(st.integers(0, len(data)))


def _pick(draw: Callable, pattern: re.Pattern[bytes], data: bytes) -> re.Match[bytes] | None:
    found = list(pattern.finditer(data))
    return draw(st.sampled_from(found)) if found else None


def _header_end(data: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = data.find(sep)
        if end != -1:
            return end + len(sep) // 2
    return len(data)


def _nest(draw: Callable, data: bytes) -> bytes:
    """Wrap the mail in `depth` multiparts (sometimes as a message/rfc822 part)."""
    depth = draw(st.integers(1, 90))
    forwarded = draw(st.booleans())
    out = data
    for level in range(depth):
        b = f"nest{level}".encode()
        inner = b"Content-Type: message/rfc822\r\n\r\n" + out if forwarded else out
        out = (
            b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n"
            + inner + b"\r\n--" + b + b"--\r\n"
        )  # fmt: skip
    return b"From: nest@customer.test\r\nTo: support@example.com\r\nSubject: nested\r\n" + out


@st.composite
def mutation(draw: Callable, data: bytes, seeds: list[bytes]) -> bytes:
    """One mutation of `data`."""
    op = draw(
        st.sampled_from(
            [
                "flip", "insert", "junk", "delete", "truncate", "nul", "dup_boundary",
                "break_boundary", "charset", "cte", "folding", "huge_header", "nest",
                "line_endings", "splice", "dup_headers", "encoded_words",
            ]
        )
    )  # fmt: skip
    if op == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    if op == "insert":
        i = _position(draw, data)
        return data[:i] + draw(st.binary(min_size=1, max_size=32)) + data[i:]
    if op == "junk":
        i = _position(draw, data)
        return data[:i] + draw(st.sampled_from(JUNK)) + data[i:]
    if op == "delete" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + data[i + draw(st.integers(1, 256)) :]
    if op == "truncate":
        return data[: _position(draw, data)]
    if op == "nul":
        i = _position(draw, data)
        return data[:i] + b"\x00" * draw(st.integers(1, 4)) + data[i:]
    if op == "dup_boundary" and (m := _pick(draw, _BOUNDARY_LINE, data)):
        times = draw(st.integers(1, 20))
        return data[: m.end()] + (b"\r\n" + m.group()) * times + data[m.end() :]
    if op == "break_boundary" and (m := _pick(draw, _BOUNDARY_LINE, data)):
        how = draw(st.sampled_from([b"", b"-", b"--", b"x", b"\x00", m.group()[:-1]]))
        return data[: m.start()] + how + data[m.end() :]
    if op == "break_boundary" and (m := _pick(draw, _BOUNDARY_PARAM, data)):
        value = draw(st.sampled_from([b"", b'"', b"-", b" ", b"x" * 200, b"\x00", b"--"]))
        return data[: m.start(1)] + value + data[m.end(1) :]
    if op == "charset":
        value = draw(st.sampled_from(BOGUS_CHARSETS))
        if m := _pick(draw, _CHARSET_PARAM, data):
            return data[: m.start(1)] + value + data[m.end(1) :]
        return b"Content-Type: text/plain; charset=" + value + b"\r\n" + data
    if op == "cte":
        value = draw(st.sampled_from(BOGUS_CTES))
        if m := _pick(draw, _CTE_HEADER, data):
            return data[: m.start(2)] + value + data[m.end(2) :]
        return b"Content-Transfer-Encoding: " + value + b"\r\n" + data
    if op == "folding":
        i = draw(st.integers(0, _header_end(data)))
        junk = draw(st.sampled_from([b"\r\n ", b"\r\n\t", b"\r\n \r\n", b"\n\t\n ", b" \r\n"]))
        return data[:i] + junk * draw(st.integers(1, 50)) + data[i:]
    if op == "huge_header":
        size = draw(st.sampled_from([998, 999, 5000, 70_000, 250_000]))
        name = draw(st.sampled_from([b"X-Long", b"Subject", b"From", b"References", b"To"]))
        char = draw(st.sampled_from([b"a", b" ", b"<a@b> ", b"=?utf-8?q?=C3=A9?= ", b"\xff"]))
        line = name + b": " + (char * (size // len(char) + 1))[:size] + b"\r\n"
        return line + data
    if op == "nest":
        return _nest(draw, data)
    if op == "line_endings":
        norm = data.replace(b"\r\n", b"\n")
        return draw(
            st.sampled_from([norm, norm.replace(b"\n", b"\r"), norm.replace(b"\n", b"\r\n")])
        )
    if op == "splice" and seeds:
        other = draw(st.sampled_from(seeds))
        start = draw(st.integers(0, len(other)))
        piece = other[start : start + draw(st.integers(0, 2000))]
        i = _position(draw, data)
        return data[:i] + piece + data[i:]
    if op == "dup_headers":
        head = data[: _header_end(data)]
        line = draw(st.sampled_from(head.splitlines(keepends=True) or [b"From: x@y.test\r\n"]))
        times = min(draw(st.integers(2, 200)), max(2, 300_000 // max(len(line), 1)))
        return line * times + data
    if op == "encoded_words":
        word = draw(
            st.sampled_from(
                [
                    b"=?utf-8?b?" + base64.b64encode("\x1b[31m\u202e".encode()) + b"?=",
                    b"=?utf-8?b?!!!?=",
                    b"=?x-bogus?q?=FF?=",
                    b"=?utf-8?q?=00=0A?=",
                    b"=?iso-2022-jp?b?GyRCJCIbKEI=?=",
                    b"=?utf-8*en?q?x?=",
                    b"=??q?x?=",
                ]
            )
        )
        name = draw(st.sampled_from([b"Subject", b"From", b"To", b"Content-Type"]))
        return name + b": " + word + b" <a@b.test>\r\n" + data
    return data + draw(st.binary(max_size=16))


@st.composite
def _mutated(draw: Callable, base: st.SearchStrategy[bytes], max_mutations: int) -> bytes:
    data = draw(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        data = draw(mutation(data, SEEDS))
    return data


def filename_param(name: str) -> st.SearchStrategy[bytes]:
    """A Content-Disposition carrying `name` plainly, quoted, RFC 2231 or RFC 2047 encoded."""
    utf8 = name.encode("utf-8", "surrogatepass")
    quoted_2231 = "".join(f"%{b:02X}" for b in utf8).encode()
    encoded_2047 = b"=?utf-8?b?" + base64.b64encode(utf8) + b"?="
    return st.sampled_from(
        [
            b"attachment; filename=" + utf8,
            b'attachment; filename="' + utf8.replace(b'"', b'\\"') + b'"',
            b"attachment; filename*=utf-8''" + quoted_2231,
            b'attachment; filename="' + encoded_2047 + b'"',
            b"inline; filename*0=" + utf8[:20] + b"; filename*1=" + utf8[20:],
            b'attachment; name="' + utf8 + b'"',
        ]
    )


_names = st.one_of(st.sampled_from(HOSTILE_FILENAMES), st.text(max_size=40))
_charsets = st.sampled_from([b"utf-8", b"iso-8859-1", b"cp1252", *BOGUS_CHARSETS[:8]])


@st.composite
def _leaf(draw: Callable) -> bytes:
    ctype = draw(
        st.sampled_from([b"text/plain", b"text/html", b"application/octet-stream", b"image/png"])
    )
    payload = draw(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
    cte = draw(st.sampled_from([None, b"base64", b"quoted-printable", b"8bit", b"x-uuencode"]))
    if cte == b"base64" and draw(st.booleans()):
        payload = base64.encodebytes(payload)
    headers = b"Content-Type: " + ctype + b"; charset=" + draw(_charsets) + b"\r\n"
    if cte:
        headers += b"Content-Transfer-Encoding: " + cte + b"\r\n"
    if draw(st.booleans()):
        headers += b"Content-Disposition: " + draw(filename_param(draw(_names))) + b"\r\n"
    if draw(st.booleans()):
        headers += (
            b"Content-ID: <" + draw(st.sampled_from([b"img1", b"", b"a>b", b"\x00"])) + b">\r\n"
        )
    return headers + b"\r\n" + payload


def _multipart(children: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: Callable) -> bytes:
        parts = draw(children)
        boundary = draw(st.sampled_from([b"B", b"=_x", b"b" * 70, b"--", b"a b"]))
        subtype = draw(
            st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"digest"])
        )
        body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
        closing = draw(st.sampled_from([b"--" + boundary + b"--\r\n", b""]))
        return (
            b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n\r\n'
            + draw(st.sampled_from([b"", b"preamble\r\n"])) + body + closing
        )  # fmt: skip

    return build()


def _forward(inner: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return inner.map(
        lambda part: (
            b"Content-Type: message/rfc822\r\n\r\nFrom: fwd@x.test\r\nSubject: fwd\r\n" + part
        )
    )


_tree = st.recursive(
    _leaf(),
    lambda kids: st.one_of(_multipart(st.lists(kids, min_size=0, max_size=4)), _forward(kids)),
    max_leaves=8,
)

_header_text = st.one_of(
    st.sampled_from(["Printer on fire", "Re: [SUP-1] x", "Automatic reply: away", ""]),
    st.text(max_size=60),
)


@st.composite
def built_mail(draw: Callable) -> bytes:
    """A generated mail: hostile headers over a random MIME tree with hostile attachments."""
    sender = draw(
        st.sampled_from(
            [
                b"From: Alice <alice@customer.test>\r\n",
                b"From: =?utf-8?q?=1B[31mEve?= <eve@evil.test>\r\n",
                b"From: \x00 <a\x00b@customer.test>\r\n",
                b"From: MAILER-DAEMON@mx.test\r\n",
                b"",
                b"From: <>\r\n",
                b"From: " + b"x" * 3000 + b"@customer.test\r\n",
            ]
        )
    )
    subject = draw(_header_text).encode("utf-8", "surrogatepass")
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    b"Message-ID: <m1@customer.test>\r\n",
                    b"In-Reply-To: <m1@customer.test>\r\n",
                    b"References: <a@b> <c@d>\r\n",
                    b"Auto-Submitted: auto-replied\r\n",
                    b"Precedence: bulk\r\n",
                    b"X-Failed-Recipients: a@b\r\n",
                    b"Return-Path: <>\r\n",
                    b"MIME-Version: 1.0\r\n",
                ]
            ),
            max_size=3,
        )
    )
    head = sender + b"To: support@example.com\r\nSubject: " + subject + b"\r\n" + b"".join(extra)
    return head + draw(_tree)


raw_bytes = st.one_of(
    st.binary(max_size=2000),
    st.binary(max_size=500).map(lambda b: b"From: a@b.test\r\nSubject: x\r\n\r\n" + b),
    st.binary(max_size=500).map(lambda b: b"From: a@b.test\r\n" + b),
)
_seed = st.sampled_from(SEEDS)
mutated_mail = st.one_of(_mutated(_seed, 6), _mutated(built_mail(), 3))
any_mail = st.one_of(raw_bytes, mutated_mail, built_mail())


# --- reply-like text ----------------------------------------------------------------------------

_REPLY_LINES = [
    "Thanks, that fixed it.",
    "Yes, Tuesday works.",
    "",
    "   ",
    "> quoted line",
    ">> deeper quote",
    ">",
    "> On Mon, 1 Jan 2024 at 10:00, Bob <bob@x.test> wrote:",
    "On Mon, 1 Jan 2024 at 10:00, Bob <bob@x.test> wrote:",
    "On Mon, 1 Jan 2024 at 10:00, Bob Someone",
    "<bob@x.test> wrote:",
    "On second thought, as I wrote:",
    "Am 01.01.2024 um 10:00 schrieb Bob:",
    "-----Original Message-----",
    "From: Bob <bob@x.test>",
    "Sent: Monday, January 1, 2024 10:00 AM",
    "From: Bob Sent: Monday 10:00",
    "_" * 32,
    "Sent from my iPhone",
    "Get Outlook for iOS",
    "-- ",
    "--",
    "---",
    "---------- Forwarded message ----------",
    "Begin forwarded message:",
    "\u200b",
    "\x00",
    "\x1b[31m> red quote",
    " " * 1200 + "text after a long indent",
    "x" * 1500 + " wrote:",
]
_reply_line = st.one_of(st.sampled_from(_REPLY_LINES), st.text(max_size=60))


@st.composite
def reply_text(draw: Callable) -> str:
    lines = draw(st.lists(_reply_line, max_size=25))
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


_HTML_PIECES = [
    "<div>Thanks!</div>",
    "<p>Yes</p>",
    '<div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>',
    '<blockquote type="cite">cited</blockquote>',
    "<blockquote>plain</blockquote>",
    '<div id="divRplyFwdMsg">From: Bob</div>',
    '<div id="appendonsend"></div>',
    '<hr id="stopSpelling">',
    "<br>",
    "<script>alert(1)</script>",
    "<style>p{}</style>",
    "</div>",
    "</blockquote>",
    "<div",
    "<!--",
    "<![CDATA[",
    "&#0;",
    "&#x110000;",
    "&amp;",
    '<div class="yahoo_quoted">---------- Forwarded message ----------</div>',
]
reply_html = st.lists(
    st.one_of(st.sampled_from(_HTML_PIECES), st.text(max_size=30)), max_size=20
).map("".join)
separator_lists = st.one_of(
    st.none(),
    st.lists(
        st.one_of(
            st.sampled_from(["^>", "(", "[", "(?i)x", "a{99999999999}", "", " ", r"\d+", "(a)\\1"]),
            st.text(max_size=10),
        ),
        max_size=4,
    ),
)


# --- targets ------------------------------------------------------------------------------------

RULES = RuleSet(
    branches=(
        BranchRule("Support", "SUP", ("support@example.com",), (), True),
        BranchRule("Sales", "SAL", ("sales@example.com",), ("bigcustomer.test",)),
    ),
    aliases={"help@example.com": "support@example.com"},
    outgoing_addresses=("noreply@example.com",),
)


def _check_mail(mail: ParsedMail) -> None:
    assert isinstance(mail, ParsedMail)
    assert len(mail.subject) <= TITLE_LIMIT and "\n" not in mail.subject
    assert "\x00" not in mail.text and "\x00" not in mail.subject
    assert mail.html is None or "\x00" not in mail.html
    for a in mail.attachments:
        assert isinstance(a.data, bytes)
        name = a.filename
        assert name and not name.startswith("."), name
        assert not any(c in name for c in "/\\\x00"), name
        assert len(name) <= FILENAME_LIMIT + len(".eml"), len(name)


def check_parse(raw: bytes) -> str:
    """parse_mail never raises anything but ParseError, which always carries a reason."""
    try:
        mail = parse_mail(raw)
    except ParseError as exc:
        assert str(exc).strip(), "a ParseError without a reason"
        return "refused"
    _check_mail(mail)
    return "parsed"


def check_classify(raw: bytes) -> str:
    """On what parses, the classifier gives None or a verdict of a known kind with a reason."""
    try:
        mail = parse_mail(raw, body=False)
    except ParseError:
        return "refused"
    assert mail.message is not None
    verdicts = [
        classify_machine_mail(mail.message, subject=mail.subject),
        classify_machine_mail(
            mail.message, keywords=["invoice", " "], sender_patterns=["*@evil.test", "["]
        ),
    ]
    for verdict in verdicts:
        if verdict is None:
            continue
        assert isinstance(verdict, MachineVerdict)
        assert verdict.kind in MACHINE_KINDS, verdict.kind
        assert isinstance(verdict.reason, str) and verdict.reason
        assert all(i.startswith("<") and i.endswith(">") for i in verdict.original_message_ids)
    return verdicts[0].kind if verdicts[0] else "human"


def check_quotes(text: str, separators: list[str] | None = None) -> str:
    """The stripped reply is a piece of the input (whole lines, kept in order, trailing blanks
    cut), so never longer; it is empty only for a blank input."""
    out = strip_quoted_reply(text, separators)
    assert isinstance(out, str)
    assert out in normalize_newlines(text), (text, out)
    if strip_controls(text).strip():
        assert out.strip(), "a non-blank reply was stripped to nothing"
    return "same" if out == normalize_newlines(text).strip() else "stripped"


def check_quotes_html(markup: str, separators: list[str] | None = None) -> str:
    out = strip_quoted_html(markup, separators)
    assert isinstance(out, str)
    return "text" if out else "empty"


def check_decide(raw: bytes) -> str:
    """The whole engine: one of the known actions; a quarantine keeps its reason."""
    decision = decide(raw, RULES, MemoryLookup(), now=NOW)
    assert decision.action in Action
    assert decision.reason.strip() or decision.action is Action.CREATED
    if decision.action is Action.QUARANTINED:
        assert decision.reason.strip()
        assert not decision.reason.startswith("internal error"), decision.reason
        assert any(s.outcome == "quarantined" for s in decision.steps), decision.steps
    if decision.action is Action.CREATED:
        assert decision.fields is not None and decision.requester is not None
    json.dumps(decision.as_dict())
    return decision.action.value


# --- end to end: the Ingestor into SQLite, blobs under a data folder ---------------------------

DB_FILES = re.compile(r"^db\.sqlite3(-wal|-shm|-journal)?$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _snapshot(root: Path) -> set[str]:
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


@dataclass
class IngestSandbox:
    """A migrated SQLite file (`db.sqlite3`) and a data folder (`data/`, the BlobStore) inside
    `root`; the Ingestor runs with its working folder at root/cwd/a/b, so a relative
    `../../etc/x` would land inside root. `check` ingests one mail and asserts that it left
    exactly one committed outcome and wrote nothing but the database and hash-named blobs."""

    root: Path
    template: Path
    watch: list[Path] = field(default_factory=list)  # more folders that must not change

    def __post_init__(self) -> None:
        import shutil

        from tests.conftest import route_support
        from tuidesk.services.ingest import Ingestor
        from tuidesk.storage.blobs import BlobStore
        from tuidesk.storage.db import make_engine, session_scope

        self.root.mkdir(parents=True, exist_ok=True)
        self.db = self.root / "db.sqlite3"
        shutil.copy(self.template, self.db)
        self.data = self.root / "data"
        self.workdir = self.root / "cwd" / "a" / "b"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(f"sqlite:///{self.db}")
        with session_scope(self.engine) as s:
            route_support(s)
        self.ingestor = Ingestor(self.engine, BlobStore(self.data), source="import")
        self.before = self._outside()
        self.watched = {p: _snapshot(p) for p in self.watch}

    def _outside(self) -> set[str]:
        return {
            p
            for p in _snapshot(self.root)
            if not (p == "data" or p.startswith("data" + os.sep) or DB_FILES.match(p))
        }

    def _counts(self) -> tuple[int, int]:
        with sqlite3.connect(self.db) as conn:
            log = conn.execute("SELECT COUNT(*) FROM ingest_log").fetchone()[0]
            quarantine = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        return log, quarantine

    def check(self, raw: bytes) -> str:
        log, quarantined = self._counts()
        cwd = os.getcwd()
        os.chdir(self.workdir)
        try:
            outcome = self.ingestor.ingest(raw)
        finally:
            os.chdir(cwd)
        assert outcome.action in OUTCOMES, outcome
        assert outcome.action != "quarantined" or outcome.reason.strip()
        assert not outcome.reason.startswith("internal error"), outcome.reason
        after_log, after_quarantined = self._counts()
        assert after_log == log + 1, f"{after_log - log} ingest-log rows for one mail"
        with sqlite3.connect(self.db) as conn:
            last = conn.execute("SELECT outcome FROM ingest_log ORDER BY id DESC LIMIT 1")
            assert last.fetchone()[0] == outcome.action
        expected_quarantine = quarantined + (outcome.action == "quarantined")
        assert after_quarantined == expected_quarantine, "quarantine rows do not match"
        self.assert_nothing_written_elsewhere()
        return outcome.action

    def assert_nothing_written_elsewhere(self) -> None:
        new = self._outside() - self.before
        assert not new, f"written outside the data folder and the database: {sorted(new)}"
        for rel in _snapshot(self.data) if self.data.exists() else ():
            parts = Path(rel).parts
            is_dir = len(parts) == 1 and re.fullmatch(r"[0-9a-f]{2}", parts[0])
            is_blob = len(parts) == 2 and HEX64.match(parts[1]) and parts[1][:2] == parts[0]
            assert is_dir or is_blob, f"unexpected file in the data folder: {rel}"
        for path, before in self.watched.items():
            assert _snapshot(path) == before, f"{path} changed"
        assert not os.path.lexists(ESCAPE_PATH), f"{ESCAPE_PATH} was written"

    def close(self) -> None:
        self.engine.dispose()
