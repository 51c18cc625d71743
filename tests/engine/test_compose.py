"""Outgoing mail as the engine builds it, read back with the stdlib's modern parser (not ours)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from tuidesk.engine.compose import (
    MAX_REFERENCES,
    HeaderInjection,
    OutgoingFile,
    OutgoingMail,
    build_mail,
    new_message_id,
    quote_history,
    references_chain,
    render,
    reply_subject,
    sign,
    sign_html,
    with_ref,
)
from tuidesk.engine.parse import Address
from tuidesk.engine.thread import subject_token

from .conftest import NOW

SUPPORT = Address("Support", "support@example.com")
ALICE = Address("Alice Émile", "alice@customer.test")


def outgoing(**changes: object) -> OutgoingMail:
    values: dict[str, object] = dict(
        sender=SUPPORT,
        to=(ALICE,),
        subject="Re: Printer [SUP-42]",
        body="We are on it.\n",
        message_id="<1.abc.sup-42@example.com>",
        date=NOW,
        in_reply_to="<m2@customer.test>",
        references=("<m1@customer.test>", "<m2@customer.test>"),
    )
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def text_of(part: email.message.EmailMessage) -> str:
    """Decoded text with the wire's CRLF as LF."""
    return part.get_content().replace("\r\n", "\n")


def parsed(mail: OutgoingMail) -> email.message.EmailMessage:
    raw = build_mail(mail)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, as on the wire
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Printer on fire", "Re: Printer on fire [SUP-42]"),
        ("Re: Printer on fire", "Re: Printer on fire [SUP-42]"),
        ("RE: AW: Fwd: Printer", "Re: Printer [SUP-42]"),
        ("Printer [SUP-42]", "Re: Printer [SUP-42]"),
        ("Re: [SUP-42] Printer", "Re: Printer [SUP-42]"),
        ("About SUP-7 and more", "Re: About SUP-7 and more [SUP-42]"),
        ("", "Re: (no subject) [SUP-42]"),
    ],
)
def test_reply_subject_ends_with_the_ref(title: str, expected: str, rules) -> None:
    subject = reply_subject(title, "SUP-42")
    assert subject == expected
    assert subject_token(subject, rules) == ("SUP", 42)  # our own threading finds it


def test_template_subject_gets_the_ref_at_the_end() -> None:
    assert with_ref("[SUP-42] received", "SUP-42") == "[SUP-42] received [SUP-42]"
    assert with_ref("Received: x [SUP-42]", "SUP-42") == "Received: x [SUP-42]"


def test_render_fills_known_placeholders_only() -> None:
    text = render(
        "Hi {requester_name}, {ref}: {title} {unknown} {",
        {"ref": "SUP-1", "title": "{ref}", "requester_name": "Al"},
    )
    assert text == "Hi Al, SUP-1: {ref} {unknown} {"  # a value is never read as a template


def test_references_keep_the_root_and_the_newest() -> None:
    ids = [f"<{n}@x>" for n in range(40)]
    chain = references_chain(ids, "<parent@x>")
    assert len(chain) == MAX_REFERENCES
    assert chain[0] == "<0@x>" and chain[-1] == "<parent@x>"
    assert references_chain(["<a@x>", "<a@x>"], "<a@x>") == ["<a@x>"]
    assert references_chain([], None) == []


def test_message_id_is_ours_and_unique() -> None:
    first, second = (new_message_id("Example.COM", "SUP-42", NOW) for _ in range(2))
    assert first != second
    assert first.startswith("<") and first.endswith("@example.com>") and "sup-42" in first
    assert len(first) < 78 - len("Message-ID: ")


def test_headers_threading_and_body() -> None:
    msg = parsed(outgoing())
    assert str(msg["From"]) == "Support <support@example.com>"
    assert msg["To"].addresses[0].display_name == "Alice Émile"
    assert msg["Subject"] == "Re: Printer [SUP-42]"
    assert msg["Message-ID"] == "<1.abc.sup-42@example.com>"
    assert msg["In-Reply-To"] == "<m2@customer.test>"
    assert msg["References"].split() == ["<m1@customer.test>", "<m2@customer.test>"]
    assert email.utils.parsedate_to_datetime(msg["Date"]) == NOW
    assert msg.get_content_type() == "text/plain"
    assert text_of(msg) == "We are on it.\n"


def test_non_ascii_body_is_quoted_printable_and_html_is_an_alternative() -> None:
    msg = parsed(outgoing(body="Grüße, zürich\n", html="<p>Grüße</p>"))
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert text_of(plain) == "Grüße, zürich\n"
    assert html.get_content_type() == "text/html"


def test_attachments_keep_data_and_get_safe_names() -> None:
    files = (
        OutgoingFile("report.pdf", "application/pdf", b"%PDF-1.4 data"),
        OutgoingFile("../../etc/pass\x1bwd", "text/plain", b"root:x"),
        OutgoingFile("weird", "multipart/mixed", b"\x00\x01"),
    )
    msg = parsed(outgoing(attachments=files))
    parts = list(msg.iter_attachments())
    assert [p.get_filename() for p in parts] == ["report.pdf", "passwd", "weird"]
    assert [p.get_content_type() for p in parts] == [
        "application/pdf",
        "text/plain",
        "application/octet-stream",
    ]
    assert parts[0].get_content() == b"%PDF-1.4 data"


def test_extra_headers_for_acknowledgements() -> None:
    headers = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))
    msg = parsed(outgoing(headers=headers))
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hello\r\nBcc: victim@example.net"},
        {"subject": "Hello\nBcc: victim@example.net"},
        {"to": (Address("Eve\r\nBcc: x@y.test", "eve@customer.test"),)},
        {"to": (Address("Eve", "eve@customer.test\r\nBcc: x@y.test"),)},
        {"cc": (Address("", "a@b.test, c@d.test"),)},
        {"cc": (Address("", "not-an-address"),)},
        {"in_reply_to": "<a@b>\r\nX-Evil: 1"},
        {"headers": (("X-Note", "a\nb"),)},
        {"to": ()},
    ],
)
def test_line_breaks_in_person_given_values_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(HeaderInjection):
        build_mail(outgoing(**changes))


def test_reply_subject_refuses_a_title_with_a_line_break() -> None:
    with pytest.raises(HeaderInjection):
        reply_subject("Printer\r\nBcc: x@y.test", "SUP-1")


def test_quote_history_quotes_every_line() -> None:
    text = quote_history("Help!\n\nIt burns.\n", "Alice", datetime(2026, 11, 23, 9, 5, tzinfo=UTC))
    assert text == "On Mon, 23 Nov 2026 at 09:05, Alice wrote:\n> Help!\n>\n> It burns.\n"


def test_long_lines_survive_transport() -> None:
    body = "x" * 5000 + "\n"
    msg = parsed(outgoing(body=body))
    assert all(len(line) <= 998 for line in build_mail(outgoing(body=body)).split(b"\r\n"))
    assert text_of(msg) == body


def test_render_fills_the_signature_and_canned_placeholders_it_is_given() -> None:
    values = {"agent_name": "Ann", "branch": "Support", "ref": "SUP-1"}
    assert (
        render("{agent_name}, {branch} ({ref}) {title}", values) == "Ann, Support (SUP-1) {title}"
    )


def test_a_signature_goes_below_the_text_after_the_delimiter_line() -> None:
    assert sign("Fixed.\n\n", "Ann\nSupport\n") == "Fixed.\n\n-- \nAnn\nSupport\n"
    assert sign("Fixed.\n", "  \n") == "Fixed.\n"  # none: the text as it was


def test_the_html_version_is_signed_with_the_text_escaped() -> None:
    signed = sign_html("<html><body><p>Fixed.</p></body></html>", "Ann <ann@x>\nR&D")
    assert signed == (
        '<html><body><p>Fixed.</p><div class="signature">-- <br>\n'
        "Ann &lt;ann@x&gt;<br>\nR&amp;D</div>\n</body></html>"
    )
    assert sign_html("<p>Fixed.</p>", "Ann").startswith("<p>Fixed.</p>\n<div")
