"""Hostile mail through `tuidesk pipe --json`, exactly as an MTA delivers it.

Every case has one clear outcome (a ticket or a quarantine reason), exits 0 so the MTA does not
retry it forever, and writes nothing outside TUIDESK_HOME: an autouse fixture runs each test
from a working folder inside tmp_path (so a relative `../../etc/passwd` would land there) and
afterwards checks that tmp_path holds no new file outside TUIDESK_HOME, that TUIDESK_HOME holds
only the database and content-addressed blobs (hex names), and that no file is named `passwd`.

The 20 MB attachment and the 5,000-part mail run on SQLite and PostgreSQL; the rest on SQLite,
except the cases that found PostgreSQL-only bugs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

HEX64 = re.compile(r"^[0-9a-f]{64}$")
DATABASE_FILES = re.compile(r"^tuidesk\.sqlite3(-wal|-shm|-journal)?$")
MB = 1024 * 1024


# --- the sandbox: nothing may be written outside TUIDESK_HOME --------------------------------


class Sandbox:
    """Files the test itself writes (TOML configs) are declared, so they are not flagged."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.declared: set[Path] = set()

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.declared.add(path)
        return path


def _files_outside(root: Path, home: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and home not in p.parents}


@pytest.fixture(autouse=True)
def sandbox(
    tmp_path: Path, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    workdir = tmp_path / "cwd" / "a" / "b"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)  # the subprocess inherits it: `../../etc` is tmp_path/cwd/etc
    box = Sandbox(tmp_path, _isolated_home)
    before = _files_outside(tmp_path, _isolated_home)
    yield box
    new = _files_outside(tmp_path, _isolated_home) - before - box.declared
    assert not new, f"written outside TUIDESK_HOME: {sorted(map(str, new))}"
    for path in _isolated_home.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(_isolated_home)
        is_db = len(rel.parts) == 1 and DATABASE_FILES.match(rel.name)
        is_blob = (
            len(rel.parts) == 3
            and rel.parts[0] == "blobs"
            and HEX64.match(rel.name) is not None
            and rel.parts[1] == rel.name[:2]
        )
        assert is_db or is_blob, f"unexpected file in TUIDESK_HOME: {rel}"
    named_passwd = list(tmp_path.rglob("passwd"))
    assert not named_passwd, f"a file named passwd was written: {named_passwd}"


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def desk(cli: Cli) -> Cli:
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    return cli


def pipe(cli: Cli, raw: bytes) -> dict[str, Any]:
    proc = cli("pipe", "--json", input=raw, check=False)
    assert proc.returncode == 0, f"pipe exited {proc.returncode}: {proc.stderr.decode()[-2000:]}"
    return json.loads(proc.stdout)


def show(cli: Cli, ref: str) -> dict[str, Any]:
    return json.loads(cli("ticket", "show", ref, "--json").stdout)


def tickets(cli: Cli) -> list[dict[str, Any]]:
    return json.loads(cli("ticket", "list", "--json").stdout)


def quarantine(cli: Cli) -> list[dict[str, Any]]:
    return json.loads(cli("quarantine", "list", "--json").stdout)


def created(cli: Cli, raw: bytes) -> dict[str, Any]:
    """Pipe a mail that must become a ticket; return `ticket show --json`."""
    outcome = pipe(cli, raw)
    assert outcome["action"] == "created", outcome
    return show(cli, outcome["ticket"])


def quarantined(cli: Cli, raw: bytes) -> str:
    """Pipe a mail that must be quarantined; return its reason (also on the quarantine list)."""
    outcome = pipe(cli, raw)
    assert outcome["action"] == "quarantined", outcome
    assert outcome["ticket"] is None
    reason = outcome["reason"]
    assert isinstance(reason, str) and reason.strip()
    assert [q["reason"] for q in quarantine(cli)] == [reason]
    assert tickets(cli) == []
    return reason


def mail(subject: str = "Printer on fire", body: str = "Hello, my printer is on fire.\n"):
    msg = EmailMessage()
    msg["From"] = "Alice Smith <alice@customer.test>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = "<hostile-1@customer.test>"
    msg.set_content(body)
    return msg


def raw_mail(headers: bytes, body: bytes) -> bytes:
    """Bytes exactly as given: stdlib email would refuse or re-encode what these tests need."""
    base = b"From: Alice Smith <alice@customer.test>\r\nTo: support@example.com\r\n"
    return base + headers + b"\r\n" + body


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON document (json.dumps would escape a NUL as \\u0000)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def control_chars(text: str) -> list[str]:
    """C0/C1 controls (TAB and LF allowed in bodies) and format characters (bidi, zero-width)."""
    return [repr(c) for c in text if c not in "\t\n" and unicodedata.category(c) in ("Cc", "Cf")]


# --- big and many -------------------------------------------------------------------------------


def test_a_20_mb_attachment_is_stored_whole_under_its_sha256(desk: Cli, _isolated_home: Path):
    data = os.urandom(20 * MB)
    msg = mail()
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="disk.img")

    ticket = created(desk, msg.as_bytes())

    [attachment] = ticket["messages"][0]["attachments"]
    digest = hashlib.sha256(data).hexdigest()
    assert attachment["filename"] == "disk.img"
    assert attachment["size"] == 20 * MB
    assert attachment["sha256"] == digest
    blob = _isolated_home / "blobs" / digest[:2] / digest
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest


def test_a_mail_with_5000_mime_parts_is_quarantined_for_the_part_limit(desk: Cli):
    msg = MIMEMultipart()
    msg["From"] = "alice@customer.test"
    msg["To"] = "support@example.com"
    msg["Subject"] = "five thousand parts"
    for i in range(5000):
        msg.attach(MIMEText(f"part {i}\n"))

    reason = quarantined(desk, msg.as_bytes())

    assert "MIME parts" in reason
    assert "1000" in reason  # the default max_mime_parts


# --- headers ------------------------------------------------------------------------------------


def test_a_1_mb_subject_line_gives_a_ticket_with_a_capped_title(desk: Cli):
    subject = b"printer on fire " * (MB // 16)
    ticket = created(desk, raw_mail(b"Subject: " + subject + b"\r\n", b"See subject.\r\n"))

    assert ticket["title"].startswith("printer on fire printer on fire")
    assert len(ticket["title"]) <= 250
    assert len(ticket["messages"][0]["subject"]) <= 250


def test_a_1_mb_header_that_is_not_the_subject_does_not_stop_the_ticket(desk: Cli):
    ticket = created(
        desk, raw_mail(b"Subject: short\r\nX-Padding: " + b"x" * MB + b"\r\n", b"Body.\r\n")
    )
    assert ticket["title"] == "short"
    assert ticket["messages"][0]["body"] == "Body."


def test_nul_bytes_in_subject_sender_name_and_body_are_dropped(desk: Cli):
    raw = (
        b"From: Ali\x00ce <alice@customer.test>\r\nTo: support@example.com\r\n"
        b"Subject: Printer\x00 on fire\r\n\r\nline one\x00\r\nline two\r\n"
    )
    ticket = created(desk, raw)

    message = ticket["messages"][0]
    assert ticket["title"] == "Printer on fire"
    assert message["from"] == {"name": "Alice", "email": "alice@customer.test"}
    for value in (ticket["title"], message["subject"], message["body"], message["full_body"]):
        assert "\x00" not in value
    assert message["body"] == "line one\nline two"


def test_nul_bytes_in_message_ids_html_and_content_type_still_make_a_clean_ticket(desk: Cli):
    raw = raw_mail(
        b"Subject: ids with NUL\r\nMessage-ID: <a\x00b@customer.test>\r\n"
        b"References: <r\x00f@customer.test>\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n",
        b"--XX\r\nContent-Type: text/html\r\n\r\n<p>hi \x00 there</p>\r\n"
        b"--XX\r\nContent-Type: application/oc\x00tet; name=a.bin\r\n\r\nzzz\r\n--XX--\r\n",
    )
    outcome = pipe(desk, raw)
    assert outcome["action"] == "created", outcome
    with_nul = [s for s in strings(show(desk, outcome["ticket"])) if "\x00" in s]
    assert with_nul == []


@pytest.mark.parametrize(
    "raw_subject",
    [
        "\x1b[31mRED\x1b[0m \u202eevil\u202c \u2066iso\u2069 zero\u200bwidth \x07bell "
        "[bold red]x[/] [link=http://evil]click[/link]".encode(),
        b"=?utf-8?b?"
        + base64.b64encode(
            "\x1b[31mRED\x1b[0m \u202eevil\u202c \u2066iso\u2069 zero\u200bwidth \x07bell "
            "[bold red]x[/] [link=http://evil]click[/link]".encode()
        )
        + b"?=",
    ],
    ids=["raw-bytes", "rfc2047-encoded"],
)
def test_ansi_escapes_and_bidi_overrides_leave_the_title_and_rich_markup_stays_literal(
    desk: Cli, raw_subject: bytes
):
    outcome = pipe(desk, raw_mail(b"Subject: " + raw_subject + b"\r\n", b"Body.\r\n"))
    assert outcome["action"] == "created", outcome
    ticket = show(desk, outcome["ticket"])

    title = ticket["title"]
    assert control_chars(title) == []
    assert control_chars(ticket["messages"][0]["subject"]) == []
    assert "RED" in title and "evil" in title and "zerowidth" in title
    assert "[bold red]x[/]" in title  # kept as text: the console escapes markup
    assert "[link=http://evil]click[/link]" in title
    for args in (("ticket", "show", outcome["ticket"]), ("ticket", "list")):
        out = desk(*args).stdout.decode()
        assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out


# --- bodies and charsets ------------------------------------------------------------------------


def test_broken_base64_in_the_body_and_an_attachment_still_makes_a_ticket(desk: Cli):
    raw = raw_mail(
        b"Subject: broken base64\r\nContent-Type: multipart/mixed; boundary=XX\r\n",
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"SGVsbG8gd29ybGQ!!!@@@===%%%\r\nnot*base64\r\n"
        b"--XX\r\nContent-Type: application/pdf; name=invoice.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK=JVBER\r\n--XX--\r\n",
    )
    ticket = created(desk, raw)

    message = ticket["messages"][0]
    assert ticket["title"] == "broken base64"
    assert message["body"].startswith("Hello world")
    assert [a["filename"] for a in message["attachments"]] == ["invoice.pdf"]


@pytest.mark.parametrize(
    ("charset", "subject", "body"),
    [
        ("unknown-8bit", b"=?unknown-8bit?q?Gr=C3=BC=C3=9Fe?=", "Grüße aus Köln".encode()),
        (
            "x-no-such-charset",
            b"=?x-no-such-charset?q?Gr=FC=DFe?=",
            "Grüße aus Köln".encode("cp1252"),
        ),
    ],
    ids=["unknown-8bit", "bogus-charset-name"],
)
def test_unknown_and_bogus_charsets_are_read_as_text(
    desk: Cli, charset: str, subject: bytes, body: bytes
):
    raw = raw_mail(
        b"Subject: " + subject + b"\r\nContent-Type: text/plain; charset=" + charset.encode()
        + b"\r\n",
        body + b"\r\n",
    )  # fmt: skip
    ticket = created(desk, raw)

    assert ticket["title"] == "Grüße"
    assert ticket["messages"][0]["body"] == "Grüße aus Köln"


@pytest.mark.parametrize(
    "disposition",
    [
        b'attachment; filename="../../etc/passwd"',
        b'attachment; filename="/etc/passwd"',
        b'attachment; filename="..\\..\\etc\\passwd"',
        b"attachment; filename*=utf-8''..%2F..%2Fetc%2Fpasswd",
        b'attachment; filename="=?utf-8?q?=2E=2E=2F=2E=2E=2Fetc=2Fpasswd?="',
    ],
    ids=["dot-dot-slash", "absolute", "backslashes", "rfc2231-encoded", "rfc2047-encoded"],
)
def test_an_attachment_named_with_dot_dot_slash_is_stored_under_its_base_name(
    desk: Cli, disposition: bytes
):
    raw = raw_mail(
        b"Subject: see attachment\r\nContent-Type: multipart/mixed; boundary=XX\r\n",
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b"--XX\r\nContent-Type: text/plain\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
        b"root:x:0:0:root:/root:/bin/sh\r\n--XX--\r\n",
    )
    ticket = created(desk, raw)

    [attachment] = ticket["messages"][0]["attachments"]
    assert attachment["filename"] == "passwd"
    # The sandbox fixture then checks that no file named passwd exists anywhere in tmp_path.


# --- refused mail -------------------------------------------------------------------------------


def test_empty_stdin_is_quarantined_as_an_empty_message(desk: Cli):
    assert quarantined(desk, b"") == "empty message"


def test_a_mail_without_from_is_quarantined_for_having_no_sender(desk: Cli):
    raw = b"To: support@example.com\r\nSubject: who am I\r\n\r\nNobody signed this.\r\n"
    assert quarantined(desk, raw) == "no sender address"


def test_mime_nested_3000_levels_deep_is_quarantined_not_crashed(desk: Cli):
    depth = 3000
    body = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(depth)
    )
    body += f"--b{depth}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
    body += "".join(f"--b{i}--\r\n" for i in range(depth, -1, -1))
    raw = raw_mail(
        b"Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n", body.encode()
    )

    reason = quarantined(desk, raw)
    assert "recursion" in reason.lower() or "nested" in reason.lower()


def test_a_mail_over_the_size_limit_is_quarantined_then_retried_once_the_limit_is_raised(
    desk: Cli, sandbox: Sandbox
):
    small = sandbox.write("small.toml", b"[settings]\nmax_message_bytes = 100000\n")
    desk("config", "import", str(small))
    big = mail(subject="Logs attached", body="log line\n" * 25_000)
    raw = big.as_bytes()
    assert len(raw) > 200_000

    reason = quarantined(desk, raw)
    assert "100000" in reason and "limit" in reason
    [item] = quarantine(desk)

    default = sandbox.write("default.toml", b"[settings]\nmax_message_bytes = 41943040\n")
    desk("config", "import", str(default))
    retried = json.loads(desk("quarantine", "retry", str(item["id"]), "--json").stdout)

    assert retried["action"] == "created", retried
    assert quarantine(desk) == []
    [ticket] = tickets(desk)
    assert ticket["ref"] == retried["ticket"] and ticket["title"] == "Logs attached"


# --- found while testing: hostile input that PostgreSQL turns into an endless MTA retry --------


def test_a_ticket_token_too_big_for_any_ticket_opens_a_new_ticket(desk: Cli):
    raw = raw_mail(b"Subject: Re: [SUP-99999999999] printer\r\n", b"Still broken.\r\n")
    ticket = created(desk, raw)
    assert ticket["title"] == "[SUP-99999999999] printer"


def test_a_references_header_with_90000_message_ids_still_makes_a_ticket(desk: Cli):
    refs = " ".join(f"<r{i}@elsewhere.test>" for i in range(90_000)).encode()
    raw = raw_mail(b"Subject: long thread\r\nReferences: " + refs + b"\r\n", b"Hi.\r\n")
    assert created(desk, raw)["title"] == "long thread"
