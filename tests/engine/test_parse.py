"""Parsing: every charset and structure becomes readable text, never an exception."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from tests.conftest import CORPUS
from tests.engine.conftest import mail
from tuidesk.engine.parse import (
    Address,
    Limits,
    ParseError,
    content_hash,
    decode_bytes,
    mailboxes,
    parse_mail,
    read_body,
    repair_header_block,
    sanitize_filename,
)


def multipart(kind: str, subject: str = "x") -> str:
    return (
        f"From: a@b.test\nSubject: {subject}\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/{kind}; boundary="b"'
    )


def test_rfc2047_subject_and_sender_name_are_decoded():
    parsed = parse_mail(
        mail(
            """From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@kunde.test>
            To: support@example.com
            Subject: =?iso-8859-1?Q?Drucker_f=E4llt_aus?="""
        )
    )
    assert parsed.subject == "Drucker fällt aus"
    assert parsed.sender is not None
    assert parsed.sender.name == "Jürgen Müller"
    assert parsed.sender.email == "juergen@kunde.test"


def test_sender_address_is_lower_cased_but_name_kept():
    parsed = parse_mail(mail("From: Alice Smith <Alice.Smith@Customer.TEST>\nSubject: x"))
    assert parsed.sender is not None and parsed.sender.email == "alice.smith@customer.test"


def test_body_in_a_wrongly_declared_charset_falls_back_to_utf8():
    raw = mail(
        "From: a@b.test\nSubject: x\nContent-Type: text/plain; charset=us-ascii",
        "Grüße aus Köln\n",
    )
    assert "Grüße aus Köln" in parse_mail(raw).text


def test_unknown_charset_names_never_crash():
    assert decode_bytes("naïve".encode(), "unknown-8bit") == "naïve"
    assert decode_bytes("naïve".encode("cp1252"), "x-no-such-charset") == "naïve"


def test_raw_8bit_headers_are_read_as_utf8():
    raw = "From: Zoë <zoe@b.test>\r\nSubject: Ärger mit Rechnung\r\n\r\nbody\r\n".encode()
    parsed = parse_mail(raw)
    assert parsed.subject == "Ärger mit Rechnung"
    assert parsed.sender is not None and parsed.sender.name == "Zoë"


def test_html_only_mail_becomes_readable_text_and_html_is_kept():
    raw = mail(
        "From: a@b.test\nSubject: x\nContent-Type: text/html; charset=utf-8",
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><p>First&nbsp;line</p><p>Second <b>line</b></p></body></html>",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "First line\n\nSecond line"
    assert parsed.html is not None and "<b>line</b>" in parsed.html


def test_multipart_alternative_prefers_the_plain_part():
    raw = mail(
        multipart("alternative", "x"),
        "--b\nContent-Type: text/plain\n\nplain words\n--b\nContent-Type: text/html\n\n"
        "<p>html words</p>\n--b--\n",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "plain words"
    assert parsed.html is not None and "html words" in parsed.html


def test_inline_images_and_attachments_are_separated_from_the_body():
    png = base64.b64encode(b"\x89PNG fake").decode()
    raw = mail(
        multipart("related", "x"),
        f"--b\nContent-Type: text/plain\n\nsee picture\n--b\nContent-Type: image/png\n"
        f"Content-Transfer-Encoding: base64\nContent-ID: <img1@x>\n\n{png}\n"
        f'--b\nContent-Type: application/pdf; name="invoice.pdf"\n'
        f'Content-Disposition: attachment; filename="invoice.pdf"\n'
        f"Content-Transfer-Encoding: base64\n\n{base64.b64encode(b'%PDF').decode()}\n--b--\n",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "see picture"
    image, pdf = parsed.attachments
    assert (image.content_id, image.inline, image.data) == ("img1@x", True, b"\x89PNG fake")
    assert image.filename.endswith(".png")
    assert (pdf.filename, pdf.inline, pdf.data) == ("invoice.pdf", False, b"%PDF")


def test_forwarded_message_is_kept_as_text_and_as_an_eml_attachment():
    raw = mail(
        multipart("mixed", "Fwd: order"),
        "--b\nContent-Type: text/plain\n\nSee below.\n--b\nContent-Type: message/rfc822\n\n"
        "From: Bob <bob@c.test>\nSubject: order 1234\n\nWhere is my order?\n--b--\n",
    )
    parsed = parse_mail(raw)
    assert "See below." in parsed.text and "Where is my order?" in parsed.text
    assert "From: Bob <bob@c.test>" in parsed.text
    assert [a.filename for a in parsed.attachments] == ["order 1234.eml"]


def test_winmail_dat_is_kept_as_an_attachment():
    raw = mail(
        multipart("mixed", "x"),
        "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/ms-tnef; "
        'name="winmail.dat"\nContent-Transfer-Encoding: base64\n\nAAAA\n--b--\n',
    )
    (att,) = parse_mail(raw).attachments
    assert (att.filename, att.content_type) == ("winmail.dat", "application/ms-tnef")


def test_control_characters_and_escapes_leave_titles_and_names():
    name = base64.b64encode("Eve\x1b[31m \u202eevil".encode()).decode()
    raw = mail(f"From: =?utf-8?b?{name}?= <eve@b.test>\nSubject: \x1b[2Jhi\x07 there")
    parsed = parse_mail(raw)
    assert parsed.subject == "hi there"
    assert parsed.sender is not None and parsed.sender.name == "Eve evil"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../etc/passwd", "passwd"), ("C:\\Windows\\evil.exe", "evil.exe"), ("..", "fallback"),
     (".bashrc", "bashrc"), ("a\x1b[31mb.txt", "ab.txt"), ("", "fallback"),
     ('Q3 <draft> "v2" 10:30?.pdf', 'Q3 <draft> "v2" 10:30?.pdf')],
)  # fmt: skip
def test_attachment_names_are_sanitized(name, expected):
    assert sanitize_filename(name, "fallback") == expected


def test_a_mail_over_the_size_limit_is_refused_with_the_reason():
    with pytest.raises(ParseError, match="over the 100-byte limit"):
        parse_mail(mail("From: a@b.test", "x" * 200), Limits(max_bytes=100))


def test_a_mail_with_too_many_parts_is_refused_with_the_reason():
    parts = "".join("--b\nContent-Type: text/plain\n\npart\n" for _ in range(20))
    raw = mail(
        'From: a@b.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        parts + "--b--\n",
    )
    with pytest.raises(ParseError, match="more than 10 MIME parts"):
        parse_mail(raw, Limits(max_parts=10))
    with pytest.raises(ParseError, match="more than 10 MIME parts"):
        parse_mail(raw, Limits(max_parts=10), body=False)  # counted, though not read


def test_a_body_left_unread_is_read_later_exactly_as_at_once():
    raw = mail(
        'From: a@b.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nhello\n--b\nContent-Type: message/rfc822\n\n"
        "From: c@d.test\nSubject: inner\n\ninner text\n--b--\n",
    )
    later = parse_mail(raw, body=False)
    assert (later.body_read, later.text, later.attachments, later.part_count) == (False, "", [], 4)
    assert replace(read_body(later), message=None) == replace(parse_mail(raw), message=None)


def test_text_without_headers_is_not_an_email():
    with pytest.raises(ParseError):
        parse_mail(b"\n\njust some words\n")


def test_mac_cr_line_endings_parse_like_lf():
    raw = b"From: a@b.test\rSubject: old mac\r\rbody line\r"
    parsed = parse_mail(raw)
    assert (parsed.subject, parsed.text) == ("old mac", "body line")


def test_content_hash_ignores_transport_headers_and_line_endings():
    base = "Message-ID: <1@x>\nFrom: a@b.test\nSubject: s\n\nbody\n"
    via_pipe = ("Received: from mx by us\nDelivered-To: support@example.com\n" + base).encode()
    via_imap = base.replace("\n", "\r\n").encode()
    assert content_hash(via_pipe) == content_hash(via_imap)
    assert content_hash(base.encode()) != content_hash(base.replace("body", "other").encode())


def test_message_ids_are_collected_from_reply_headers():
    parsed = parse_mail(
        b"From: a@b.test\nMessage-ID: <m3@x>\nIn-Reply-To: <m2@x>\n"
        b"References: <m1@x>\n <m2@x>\n\nhi"
    )
    assert parsed.message_id == "<m3@x>"
    assert parsed.in_reply_to == ("<m2@x>",)
    assert parsed.references == ("<m1@x>", "<m2@x>")


def test_a_tree_too_deep_to_count_safely_is_read_at_once():
    """Only reading tells how a very deep tree ends (nested too deeply, or fine)."""
    head = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b{0}"\n\n--b{0}\n'
    raw = "From: a@b.test\n" + "".join(head.format(i) for i in range(100)) + "\ninner\n"
    assert parse_mail(raw.encode(), body=False).body_read


def test_counting_parts_without_reading_them_agrees_with_reading_every_corpus_mail():
    """Ingest counts the parts of machine mail instead of reading them: the count, the part
    limit and every quarantine reason must be what reading the body gives."""

    def outcome(raw: bytes, body: bool) -> int | str:
        try:
            return parse_mail(raw, Limits(max_parts=40), body=body).part_count
        except ParseError as exc:
            return str(exc)

    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".json", ".md")]
    assert len(files) > 400
    for path in files:
        raw = path.read_bytes()
        assert outcome(raw, body=False) == outcome(raw, body=True), path


def test_a_to_line_of_60000_addresses_is_read_up_to_its_cap_and_cut_between_addresses():
    many = "".join(
        "To: " + ", ".join(f"user{i * 30 + j}@example.com" for j in range(30)) + "\n"
        for i in range(2000)
    )
    parsed = parse_mail(mail(f"From: a@x.test\n{many}Subject: blast"))
    addresses = [a.email for a in parsed.to]
    assert 1000 < len(addresses) < 5000
    assert addresses == [f"user{i}@example.com" for i in range(len(addresses))]


BRIGHTMAIL = (
    b"Received: from mx.customer.example by mx.example.com\r\n"
    b"X-Brightmail-Tracker: H4sIAAAAAAAAA+NgFprKLsWRWlGSWpSXmKPExsVyM2J7qsj8Zu+8sLC2tiMnTYGBgYE\r\n"
    b"H4sIAAAAAAAAA+NgFprKLsWRWlGSWpSXmKPExsVyM2J7qsj8Zu+8sLC2tiMnTYGBgYE=\r\n"
    b"AAAAAA==\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@customer.example>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Printer offline\r\n"
    b"Message-ID: <brightmail@customer.example>\r\n"
    b"\r\n"
    b"It is offline again.\r\n"
)


def test_stray_lines_in_the_header_block_are_folded_and_the_headers_after_them_kept():
    parsed = parse_mail(BRIGHTMAIL)
    assert parsed.sender == Address("Jürgen Müller", "juergen@customer.example")
    assert parsed.subject == "Printer offline"
    assert parsed.message_id == "<brightmail@customer.example>"
    assert [a.email for a in parsed.to] == ["support@example.com"]
    assert parsed.text == "It is offline again."
    tracker = parsed.header("X-Brightmail-Tracker")
    assert tracker.startswith("H4sI") and tracker.endswith("AAAAAA==")


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@customer.example\nSubject: Hi\nThe body starts here\nNote: this is body\n",
        b"From: a@customer.example\nSubject: Hi\nHello team,\nRegards: Bob\n\nPS\n",
        b"From: a@customer.example\nSubject: Hi\nHello team,\n\nX-Not: a header\n",
    ],
)
def test_headers_followed_by_the_body_without_a_blank_line_keep_the_body(raw: bytes):
    assert repair_header_block(raw) == raw
    parsed = parse_mail(b"From: a@customer.example\nSubject: Hi\nThe body, no blank line\n")
    assert parsed.subject == "Hi"
    assert "The body, no blank line" in parsed.text


def test_header_repair_leaves_an_mbox_envelope_line_and_the_body_alone():
    raw = b"From a@customer.example Mon Jan  1 00:00:00 2026\nFrom: a@customer.example\n"
    raw += b"stray\nSubject: Hi\n\nbody\nnot a header\nX-Not: a header either\n"
    repaired = repair_header_block(raw)
    assert repaired == raw.replace(b"\nstray\n", b"\n stray\n")
    assert parse_mail(raw).subject == "Hi"


NAMED_PARTS = (
    "From: a@customer.example\nSubject: Files\nMIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="b"\n\n'
    "--b\nContent-Type: text/plain\n\nSee the files.\n"
    '--b\nContent-Type: application/pdf; name="scan 10:30.pdf"\n\n%PDF\n'
    "--b\nContent-Type: image/jpeg\nContent-Location: https://cdn.example/a/photo%20one.jpg?x=1\n\nJ\n"
    "--b\nContent-Type: application/pdf\nContent-Description: Invoice March.pdf\n\n%PDF\n"
    "--b\nContent-Type: image/png\nContent-ID: <image001.png@01DA2B3C.4D5E6F70>\n\nP\n"
    "--b\nContent-Type: image/gif\nContent-ID: <_1_0B4E24640B4E1564>\n\nG\n"
    "--b\nContent-Type: text/plain\n"
    "Content-Disposition: attachment; filename*=utf-8''%C3%BCber%3A1.txt\n\nt\n"
    "--b\nContent-Type: text/plain; name==?utf-8?q?R=C3=A9sum=C3=A9?=.txt\n"
    "Content-Disposition: attachment\n\nr\n"
    "--b\nContent-Type: image/png\nContent-Disposition: inline\n\nP\n"
    "--b--\n"
)


def test_attachment_names_come_from_every_header_that_carries_one():
    parsed = parse_mail(NAMED_PARTS.encode())
    assert parsed.text == "See the files."
    assert [a.filename for a in parsed.attachments] == [
        "scan 10:30.pdf",  # Content-Type name, the colon kept
        "photo one.jpg",  # Content-Location's last path part, unquoted, no query
        "Invoice March.pdf",  # Content-Description
        "image001.png",  # Content-ID's local part, already named for its type
        "_1_0B4E24640B4E1564.gif",  # Content-ID and type
        "über:1.txt",  # RFC 2231
        "Résumé.txt",  # RFC 2047
        "attachment-8.png",  # nothing names it: its place and type
    ]


def test_corpus_inline_images_and_long_encoded_names_keep_their_names():
    folder = CORPUS / "mail-parser" / "tests" / "mails"
    cids = [a.filename for a in parse_mail((folder / "mail_test_10").read_bytes()).attachments]
    assert cids[:3] == [
        "_1_0B4E24640B4E1564005C1243C12580DD.gif",
        "_1_0B4E420C0B4E3DD0005C1243C12580DD.gif",
        "_1_0B4E44A80B15F6FC005C1243C12580DD.gif",
    ]
    assert cids[3] == "Move To Eight ZWEP6227F.pdf"
    (polish,) = parse_mail((folder / "mail_test_11").read_bytes()).attachments
    assert polish.filename.startswith("Prokuratura Rejonowa Warszawa-Śródmieście północ")
    assert polish.filename.endswith(".pdf") and len(polish.filename) <= 180


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("alice@example.com <bob@example.com>", [("alice@example.com", "bob@example.com")]),
        ("Müller, Jürgen <j@customer.example>", [("Müller, Jürgen", "j@customer.example")]),
        ('"Doe, John" <j@d.example>, x@y.example (Ops, night)',
         [("Doe, John", "j@d.example"), ("Ops, night", "x@y.example")]),
        ("a@b.example, Alice <alice@x.example>",
         [("", "a@b.example"), ("Alice", "alice@x.example")]),
        ("undisclosed-recipients:;", []),
    ],
)  # fmt: skip
def test_address_lists_are_read_as_mail_programs_write_them(header: str, expected: list) -> None:
    assert [(n, a) for n, a in mailboxes(header) if a] == expected


def test_corpus_display_names_with_commas_and_addresses_name_the_real_sender() -> None:
    """mail-parser's mail_test_18 and _19: the stdlib made two mailboxes of 'Last, First <x>'
    and took the display name 'alice@example.com' of '<bob@example.com>' for the sender."""
    folder = CORPUS / "mail-parser" / "tests" / "mails"
    nineteen = parse_mail((folder / "mail_test_19").read_bytes())
    assert nineteen.sender == Address("alice@example.com", "bob@example.com")
    assert nineteen.reply_to == (Address("henry@example.com", "ivan@example.com"),)
    assert [a.email for a in nineteen.cc] == ["frank@example.com"]
    eighteen = parse_mail((folder / "mail_test_18").read_bytes())
    assert eighteen.sender == Address("LastßlName, FirstName", "comma.name@example.com")
    assert [(a.name, a.email) for a in eighteen.cc] == [
        ("", "simple@example.net"),
        ('John "Johnny" Doe', "john.doe@example.com"),
    ]
