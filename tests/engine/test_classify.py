"""Machine mail never becomes a ticket: bounces, auto-replies, complaints and bulk are recognised.

The corpus tests run the classifier over real mail collected by other projects (see the corpus
README); the unit tests pin down each rule with a small hand-written message.
"""

from __future__ import annotations

import base64
import json
import textwrap
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tuidesk.engine.classify import (
    MachineVerdict,
    bounce_original_message_ids,
    classify_machine_mail,
)

SISIMAI = CORPUS / "sisimai"
FLANKER = CORPUS / "flanker"


def normalize_line_endings(raw: bytes) -> bytes:
    """CRLF and CR-only (old Mac) mail to LF, as the engine's parse step does before parsing."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def parse(raw: bytes) -> Message:
    return BytesParser(policy=compat32).parsebytes(normalize_line_endings(raw))


def parse_file(path: Path) -> Message:
    return parse(path.read_bytes())


def _labels(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _files(folder: Path, pattern: str = "*.eml") -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


# --- sisimai: bounces, complaint reports and vacation replies -------------------------------

SISIMAI_LABELS = _labels(SISIMAI / "labels.json")

# Label disagreements we accept, with the reason. sisimai counts these delay warnings as
# bounces ("expired"), but every recipient's DSN Action is "delayed": the mail is still queued
# and will be retried, so marking our reply as bounced would make an agent resend it needlessly.
DELAY_WARNINGS = {
    "maildir/bsd/lhost-messagingserver-07.eml": "DSN Action: delayed (still being retried)",
    "maildir/bsd/lhost-opensmtpd-13.eml": "DSN Action: delayed, subject 'delayed'",
    "maildir/bsd/lhost-opensmtpd-16.eml": "DSN Action: delayed, subject 'delayed'",
    "maildir/bsd/lhost-outlook-06.eml": "DSN Action: delayed (Exchange delay notice)",
    "maildir/bsd/lhost-sendmail-55.eml": "DSN Action: delayed (sendmail warning)",
}
# Unlabelled files we do not recognise, with the reason we leave them as tickets.
UNRECOGNISED_UNLABELLED = {
    "maildir/bsd/arf-22.eml": "Hotmail JMRP complaint: plain multipart/mixed from "
    "staff@hotmail.com, subject 'complaint about message from <ip>' (a customer could write that)",
    "maildir/bsd/arf-24.eml": "same Hotmail JMRP format as arf-22",
}

SISIMAI_KIND_BY_REASON = {
    "feedback": "complaint",
    "vacation": "auto-reply",
    "delivered": "delivery-report",
}


def _sisimai_params(paths: list[str], exceptions: dict[str, str]) -> list:
    return [
        pytest.param(
            rel,
            id=rel.removeprefix("maildir/"),
            marks=[pytest.mark.xfail(strict=True, reason=exceptions[rel])]
            if rel in exceptions
            else [],
        )
        for rel in paths
    ]


def _expected_sisimai_kind(rel: str) -> str:
    reasons = {r["reason"] for r in SISIMAI_LABELS[rel]["recipients"]}
    kinds = {SISIMAI_KIND_BY_REASON.get(reason, "bounce") for reason in reasons}
    assert len(kinds) == 1, f"mixed labels in {rel}: {reasons}"
    return kinds.pop()


@pytest.mark.parametrize("rel", _sisimai_params(sorted(SISIMAI_LABELS), {}))
def test_every_labelled_sisimai_mail_is_machine_mail(rel: str) -> None:
    verdict = classify_machine_mail(parse_file(SISIMAI / rel))
    assert isinstance(verdict, MachineVerdict), rel
    assert verdict.reason


@pytest.mark.parametrize("rel", _sisimai_params(sorted(SISIMAI_LABELS), DELAY_WARNINGS))
def test_labelled_sisimai_mail_gets_the_kind_its_label_implies(rel: str) -> None:
    verdict = classify_machine_mail(parse_file(SISIMAI / rel))
    assert verdict is not None
    assert verdict.kind == _expected_sisimai_kind(rel), verdict.reason


@pytest.mark.parametrize("rel", sorted(DELAY_WARNINGS))
def test_delay_warnings_are_delivery_reports_not_bounces(rel: str) -> None:
    verdict = classify_machine_mail(parse_file(SISIMAI / rel))
    assert verdict is not None
    assert verdict.kind == "delivery-report"
    assert "Action: delayed" in verdict.reason


UNLABELLED_LF = [
    str(p.relative_to(SISIMAI))
    for p in _files(SISIMAI / "maildir" / "bsd")
    if str(p.relative_to(SISIMAI)) not in SISIMAI_LABELS
]


@pytest.mark.parametrize("rel", _sisimai_params(UNLABELLED_LF, UNRECOGNISED_UNLABELLED))
def test_unlabelled_sisimai_bounces_are_machine_mail_too(rel: str) -> None:
    assert classify_machine_mail(parse_file(SISIMAI / rel)) is not None


LINE_ENDING_VARIANTS = [
    str(p.relative_to(SISIMAI))
    for variant in ("dos", "mac")
    for p in _files(SISIMAI / "maildir" / variant)
]


@pytest.mark.parametrize("rel", LINE_ENDING_VARIANTS)
def test_crlf_and_cr_only_variants_classify_like_the_lf_original(rel: str) -> None:
    raw = normalize_line_endings((SISIMAI / rel).read_bytes())
    verdict = classify_machine_mail(parse(raw))
    assert verdict is not None
    lf_original = SISIMAI / "maildir" / "bsd" / Path(rel).name
    if lf_original.is_file() and lf_original.read_bytes() == raw:
        assert verdict == classify_machine_mail(parse_file(lf_original))


@pytest.mark.parametrize("path", _files(SISIMAI / "maildir" / "not"), ids=lambda p: p.name)
def test_sisimai_non_bounces_are_a_persons_mail(path: Path) -> None:
    # is-not-bounce-01: a plain UTF-8 text mail sent through an HTTP-to-SMTP gateway (curl).
    assert classify_machine_mail(parse_file(path)) is None


# --- flanker: labelled bounces, complaints, a read receipt, non-bounces and spam ------------

FLANKER_LABELS = {k: v for k, v in _labels(FLANKER / "expected.json").items() if k != "_note"}


def _flanker_expected_kinds(label: dict) -> set[str] | None:
    """Kinds acceptable for a flanker label; None means "not machine mail"."""
    if label.get("is_bounce"):
        return {"bounce"}
    if label.get("is_bounce_by_folder"):
        # The bounce/ folder also holds delay warnings (no-mx.eml: Action: delayed).
        return {"bounce", "delivery-report"}
    if label.get("is_feedback_report_by_folder"):
        return {"complaint"}
    if "read receipt" in label.get("note", ""):
        return {"delivery-report"}
    # is_bounce false (an S/MIME signed mail) and spam: written to look like a person's mail.
    # Spam is a quarantine matter for the spam filter, not machine mail that could start a loop.
    return None


@pytest.mark.parametrize("rel", sorted(FLANKER_LABELS))
def test_flanker_labelled_mail(rel: str) -> None:
    expected = _flanker_expected_kinds(FLANKER_LABELS[rel])
    verdict = classify_machine_mail(parse_file(FLANKER / rel))
    if expected is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert verdict.kind in expected, verdict.reason


EVERY_CORPUS_FILE = (
    [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".json", ".md", ".txt")]
    + [p for p in CORPUS.rglob("msg_*.txt")]
    if CORPUS.is_dir()
    else []
)


@pytest.mark.parametrize(
    "path", sorted(EVERY_CORPUS_FILE), ids=lambda p: str(p.relative_to(CORPUS))
)
def test_classifying_never_crashes_on_corpus_mail(path: Path) -> None:
    verdict = classify_machine_mail(parse_file(path), keywords=["x"], sender_patterns=["*@x"])
    assert verdict is None or isinstance(verdict, MachineVerdict)


# --- which of our mails bounced: original Message-IDs (checked by hand in each file) ---------


ORIGINAL_IDS = [
    # Postfix DSN with the original as message/rfc822
    ("flanker/tests/fixtures/messages/bounce/zed.eml", "<20090708054735.GC7578@example.com>"),
    ("sisimai/maildir/bsd/lhost-postfix-05.eml", "<FFFFFFFF.0000000@example.co.jp>"),
    # DSN with only the original's headers (text/rfc822-headers)
    (
        "flanker/tests/fixtures/messages/bounce/no-mx.eml",
        "<19E44CA63F984902B7D654F8FF40F89D@bo>",
    ),
    (
        "flanker/tests/fixtures/messages/bounce/mailbox-full.eml",
        "<4E326A95.3010907@example.com>",
    ),
    # ARF complaints quote the reported mail
    ("flanker/tests/fixtures/messages/complaints/aol.eml", "<20101117174130.28884.55421@luna>"),
    (
        "flanker/tests/fixtures/messages/complaints/yahoo.eml",
        "<20120711015015.4A8BE2E088E@www.example.com>",
    ),
    # misspelt text/rfc822-header part, Message-ID without angle brackets
    ("sisimai/maildir/bsd/arf-12.eml", "<0000000000000000000000000@example.net>"),
    # Exchange Online puts the original's id in In-Reply-To (and attaches it)
    (
        "flanker/tests/fixtures/messages/bounce/office365.eml",
        "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>",
    ),
    # read receipt: Original-Message-ID field of the disposition notification
    (
        "flanker/tests/fixtures/messages/disposition-notification.eml",
        "<199509192301.23456@example.org>",
    ),
    # plain-text bounces that quote the original inline
    (
        "flanker/tests/fixtures/messages/bounce/gmail-invalid-address.eml",
        "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
    ),
    ("sisimai/maildir/bsd/lhost-exim-04.eml", "<E1P1ce6-000Egt-GZ@e1.example.org>"),
]


@pytest.mark.parametrize(
    ("rel", "expected"), [pytest.param(*case, id=Path(case[0]).name) for case in ORIGINAL_IDS]
)
def test_bounces_name_the_message_that_bounced(rel: str, expected: str) -> None:
    msg = parse_file(CORPUS / rel)
    verdict = classify_machine_mail(msg)
    assert verdict is not None
    assert verdict.original_message_ids[0] == expected
    assert bounce_original_message_ids(msg) == verdict.original_message_ids


def test_inline_copies_only_give_the_first_message_id() -> None:
    # The Exim bounce quotes the original, then an SMTP transcript containing another
    # Message-Id line; only the original's counts.
    msg = parse_file(SISIMAI / "maildir" / "bsd" / "lhost-exim-04.eml")
    assert bounce_original_message_ids(msg) == ("<E1P1ce6-000Egt-GZ@e1.example.org>",)


# --- one rule at a time ---------------------------------------------------------------------


def mail(
    extra: str = "",
    *,
    subject: str = "My printer is on fire",
    sender: str = "Alice Example <alice@example.com>",
    body: str = "Please help.\n",
) -> Message:
    """A person's mail, plus extra header lines."""
    headers = [
        f"From: {sender}",
        "To: support@example.net",
        f"Subject: {subject}",
        "Date: Mon, 3 Jun 2024 10:00:00 +0200",
        "Message-ID: <human-1@example.com>",
    ]
    raw = "\n".join(headers) + "\n" + extra + "\n" + body
    return parse(raw.encode("utf-8"))


def kind_of(msg: Message, **kwargs: object) -> str | None:
    verdict = classify_machine_mail(msg, **kwargs)
    return verdict.kind if verdict else None


def test_a_plain_human_mail_is_not_machine_mail() -> None:
    assert classify_machine_mail(mail()) is None


def test_auto_submitted_auto_replied_is_an_auto_reply() -> None:
    verdict = classify_machine_mail(mail("Auto-Submitted: auto-replied\n"))
    assert verdict == MachineVerdict("auto-reply", "Auto-Submitted: auto-replied")


@pytest.mark.parametrize("value", ["auto-generated", "auto-notified", "Auto-Generated (cron)"])
def test_any_other_auto_submitted_value_is_machine_mail(value: str) -> None:
    verdict = classify_machine_mail(mail(f"Auto-Submitted: {value}\n"))
    assert verdict is not None
    assert verdict.kind == "bulk"
    assert "Auto-Submitted" in verdict.reason


def test_auto_submitted_no_is_a_persons_mail() -> None:
    assert classify_machine_mail(mail("Auto-Submitted: no\n")) is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("bulk", "bulk"),
        ("junk", "bulk"),
        ("list", "bulk"),
        ("Bulk", "bulk"),
        ("auto_reply", "auto-reply"),
    ],
)
def test_precedence_bulk_junk_list_and_auto_reply_are_machine_mail(value: str, kind: str) -> None:
    verdict = classify_machine_mail(mail(f"Precedence: {value}\n"))
    assert verdict is not None
    assert verdict.kind == kind
    assert verdict.reason == f"Precedence: {value.lower()}"


@pytest.mark.parametrize("value", ["normal", "first-class", "urgent"])
def test_other_precedence_values_are_a_persons_mail(value: str) -> None:
    assert classify_machine_mail(mail(f"Precedence: {value}\n")) is None


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: yes",
        "X-Autorespond: Vacation",
        "X-Autoresponse: yes",
        "X-Autoresponder: 1",
        "X-Autoreply-From: alice@example.com",
        "X-Mail-Autoreply: yes",
        "X-Autogenerated: Reply",
        "X-Apple-Action: VACATION",
    ],
)
def test_autoreply_headers_mark_an_auto_reply(header: str) -> None:
    verdict = classify_machine_mail(mail(header + "\n"))
    assert verdict is not None
    assert verdict.kind == "auto-reply"
    assert header.split(":")[0] in verdict.reason


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: no",
        "X-Autorespond: false",
        # Exchange sets these on mail a person's inbox rule forwarded: still a person's words.
        "X-Autogenerated: Forward",
        "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
    ],
)
def test_autoreply_headers_that_say_no_are_a_persons_mail(header: str) -> None:
    assert classify_machine_mail(mail(header + "\n")) is None


@pytest.mark.parametrize("header", ["Return-Path: <>", "Return-Path: < >", "X-Envelope-From: <>"])
def test_null_return_path_is_a_bounce(header: str) -> None:
    verdict = classify_machine_mail(mail(header + "\n"))
    assert verdict is not None
    assert verdict.kind == "bounce"
    assert header.split(":")[0] in verdict.reason


def test_a_real_return_path_is_a_persons_mail() -> None:
    assert classify_machine_mail(mail("Return-Path: <alice@example.com>\n")) is None


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.org",
        "Mail Delivery System <Mailer-Daemon@mx.example.org>",
        "MAILER-DAEMON@mx.example.org (Mail Delivery System)",
        "postmaster@example.org",
        "POSTMASTER <PostMaster@example.org>",
        "MAILER-DAEMON <>",
        "Mail Delivery Subsystem <bounces@example.org>",
    ],
)
def test_mailer_daemon_and_postmaster_senders_are_bounces(sender: str) -> None:
    verdict = classify_machine_mail(mail(sender=sender, subject="Hello"))
    assert verdict is not None
    assert verdict.kind == "bounce"
    assert verdict.reason.startswith("sender ")


def test_a_mailer_daemon_sender_header_is_a_bounce() -> None:
    verdict = classify_machine_mail(mail("Sender: mailer-daemon@example.org\n"))
    assert verdict is not None
    assert verdict.kind == "bounce"
    assert verdict.reason.startswith("sender ")


def test_a_local_part_merely_containing_postmaster_is_a_persons_mail() -> None:
    assert classify_machine_mail(mail(sender="Jo <postmaster-jobs@example.com>")) is None


def test_x_failed_recipients_is_a_bounce() -> None:
    verdict = classify_machine_mail(mail("X-Failed-Recipients: bob@example.org\n"))
    assert verdict == MachineVerdict("bounce", "X-Failed-Recipients header", ())


def test_exchange_ndr_flag_is_a_bounce_even_when_empty() -> None:
    assert kind_of(mail("X-MS-Exchange-Message-Is-Ndr:\n")) == "bounce"


REPORT_TEMPLATE = textwrap.dedent(
    """\
    From: reports@example.org
    To: support@example.net
    Subject: Report
    Message-ID: <report-1@example.org>
    MIME-Version: 1.0
    Content-Type: {top}; report-type={report_type}; boundary="b"

    --b
    Content-Type: text/plain

    Human readable part.

    --b
    {report_part}
    --b
    Content-Type: message/rfc822

    From: support@example.net
    Message-ID: <OurReply-42@Example.NET>
    Subject: Re: My printer

    We are on it.

    --b--
    """
)


def report(report_type: str, report_part: str, *, top: str = "multipart/report") -> Message:
    """A report about our reply <OurReply-42@Example.NET>, with the given report part."""
    raw = REPORT_TEMPLATE.format(top=top, report_type=report_type, report_part=report_part)
    return parse(raw.encode())


DSN_FAILED = (
    "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
    "Final-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.1.1\n"
)
DSN_DELAYED = DSN_FAILED.replace("Action: failed", "Action: delayed").replace("5.1.1", "4.4.7")
MDN = (
    "Content-Type: message/disposition-notification\n\n"
    "Disposition: manual-action/MDN-sent-manually; displayed\n"
)
ARF = "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: Gen/1.0\n"


@pytest.mark.parametrize(
    ("report_type", "part", "kind"),
    [
        ("delivery-status", DSN_FAILED, "bounce"),
        ("delivery-status", DSN_DELAYED, "delivery-report"),
        ("disposition-notification", MDN, "delivery-report"),
        ("feedback-report", ARF, "complaint"),
        ('"Delivery-Status"', DSN_FAILED, "bounce"),
    ],
    ids=["failed-dsn", "delayed-dsn", "read-receipt", "arf", "quoted-mixed-case"],
)
def test_multipart_report_kinds(report_type: str, part: str, kind: str) -> None:
    verdict = classify_machine_mail(report(report_type, part))
    assert verdict is not None
    assert verdict.kind == kind
    assert verdict.reason.startswith("multipart/report; report-type=")
    assert verdict.original_message_ids == ("<OurReply-42@Example.NET>",)


def test_a_delivery_status_part_without_multipart_report_is_still_a_bounce() -> None:
    verdict = classify_machine_mail(report("x-unknown", DSN_FAILED, top="multipart/mixed"))
    assert verdict is not None
    assert (verdict.kind, verdict.reason) == ("bounce", "message/delivery-status part")


def test_a_forwarded_bounce_is_a_persons_mail() -> None:
    # A customer forwarding the bounce they got is asking us something: never look inside
    # attached messages for report parts.
    bounce = report("delivery-status", DSN_FAILED).as_string()
    extra = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="outer"\n'
    body = "--outer\nContent-Type: text/plain\n\nWhy did my mail to you bounce?\n\n"
    body += "--outer\nContent-Type: message/rfc822\n\n" + bounce + "\n--outer--\n"
    assert classify_machine_mail(mail(extra, subject="Fwd: bounce", body=body)) is None


@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        ("Automatic reply: My printer is on fire", "auto-reply"),
        ("Auto-Reply: your request", "auto-reply"),
        ("AutoReply", "auto-reply"),
        ("Auto reply: Nyaan", "auto-reply"),
        ("Autoresponse: ticket", "auto-reply"),
        ("Out of Office: My printer", "auto-reply"),
        ("Out of the office: back on Monday", "auto-reply"),
        ("Out of Office AutoReply: printer", "auto-reply"),
        ("自動応答: プリンター", "auto-reply"),
        ("Abwesenheitsnotiz: Drucker", "auto-reply"),
        ("Automatische Antwort: Drucker", "auto-reply"),
        ("Réponse automatique : imprimante", "auto-reply"),
        ("Respuesta automática: impresora", "auto-reply"),
        ("Risposta automatica: stampante", "auto-reply"),
        ("Automatisch antwoord: printer", "auto-reply"),
        ("Resposta automática: impressora", "auto-reply"),
        ("Automatyczna odpowiedź: drukarka", "auto-reply"),
        ("Автоматический ответ: принтер", "auto-reply"),
        ("On vacation", "auto-reply"),
        ("Vacation reply: your mail", "auto-reply"),
        ("[EXTERNAL] Automatic reply: printer", "auto-reply"),
        ("Undeliverable: My printer is on fire", "bounce"),
        ("Undelivered Mail Returned to Sender", "bounce"),
        ("Delivery Status Notification (Failure)", "bounce"),
        ("Mail delivery failed: returning message to sender", "bounce"),
        ("Returned mail: see transcript for details", "bounce"),
        ("DELIVERY FAILURE: User bob not listed", "bounce"),
        ("failure notice", "bounce"),
        ("Nondeliverable mail", "bounce"),
        ("Unzustellbar: Drucker", "bounce"),
        ("Non remis : imprimante", "bounce"),
    ],
)
def test_localised_subject_prefixes(subject: str, kind: str) -> None:
    verdict = classify_machine_mail(mail(subject=subject))
    assert verdict is not None
    assert verdict.kind == kind
    assert verdict.reason.startswith("subject prefix ")


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Automatic reply: My printer is on fire",  # a person answering an auto-reply
        "My out of office reply is broken",  # not at the start
        "Auto reply not working in my account",  # about the feature, not from it
        "Out of office replies are not sent",
        "Automatische Antwort funktioniert nicht",
        "Non-deliverable parcel",
        "Delivery failure of order 1234",  # a parcel, not a mail
        "Undeliverable parcel, please help",
        "Vacation request for next week",
        "Returned mail never arrived",
        "Delivery status of my order?",
    ],
)
def test_subjects_a_customer_might_write_are_a_persons_mail(subject: str) -> None:
    assert classify_machine_mail(mail(subject=subject)) is None


def test_x_auto_response_suppress_alone_is_a_persons_mail() -> None:
    # Outlook sets this on ordinary mail written by people.
    assert classify_machine_mail(mail("X-Auto-Response-Suppress: All\n")) is None


def test_list_unsubscribe_alone_is_a_persons_mail() -> None:
    # People reply to newsletters, and some transactional senders add it to everything.
    extra = "List-Unsubscribe: <mailto:unsub@example.com>, <https://example.com/u>\n"
    assert classify_machine_mail(mail(extra)) is None


def test_admin_subject_keywords_match_anywhere_case_insensitively() -> None:
    msg = mail(subject="[Ops] AUTOMATIC Notification: disk full")
    verdict = classify_machine_mail(msg, keywords=["automatic notification"])
    assert verdict == MachineVerdict("bulk", "admin subject keyword 'automatic notification'")
    assert classify_machine_mail(msg, keywords=["[ops]"]) is not None
    assert classify_machine_mail(msg, keywords=["nightly build"]) is None


def test_an_empty_admin_keyword_matches_nothing() -> None:
    assert classify_machine_mail(mail(), keywords=["", "  "], sender_patterns=[""]) is None


@pytest.mark.parametrize(
    ("sender", "machine"),
    [
        ("NoReply@shop.example.com", True),
        ("alerts@Notifications.Example.com", True),
        ("alice@example.com", False),
        ("noreply-not@example.com", False),
    ],
)
def test_admin_sender_patterns_are_case_insensitive_globs(sender: str, machine: bool) -> None:
    patterns = ["noreply@*", "*@notifications.example.com"]
    verdict = classify_machine_mail(mail(sender=sender), sender_patterns=patterns)
    assert (verdict is not None) is machine
    if verdict:
        assert verdict.kind == "bulk"
        assert verdict.reason.startswith("admin sender pattern ")


@pytest.mark.parametrize(
    "encoded",
    [
        "=?utf-8?q?Automatische_Antwort=3A_Ihre_Anfrage?=",
        "=?ISO-8859-1?B?QXV0b21hdGlzY2hlIEFudHdvcnQ6IElocmUgQW5mcmFnZQ==?=",
        "=?utf-8?q?Automatische?= =?utf-8?q?_Antwort=3A_Ihre_Anfrage?=",
    ],
)
def test_rfc2047_encoded_subjects_are_decoded(encoded: str) -> None:
    verdict = classify_machine_mail(mail(subject=encoded))
    assert verdict is not None
    assert verdict.reason == "subject prefix 'Automatische Antwort'"


def test_raw_8bit_subject_is_read_as_utf8() -> None:
    verdict = classify_machine_mail(mail(subject="Réponse automatique : absent"))
    assert verdict is not None
    assert verdict.kind == "auto-reply"


def test_the_callers_decoded_subject_wins() -> None:
    msg = mail(subject="=?x-unknown?q?garbage?=")
    verdict = classify_machine_mail(msg, subject="Out of Office: back Monday")
    assert verdict is not None
    assert verdict.kind == "auto-reply"


GARBAGE = {
    "empty": b"",
    "only-newlines": b"\n\n\n",
    "no-headers": b"garbage without any colon\n\nbody",
    "8bit-and-bad-charset": b"From: \xff\xfe\x00 <\xc3(@x>\nSubject: \xe9t\xe9 =?bad?q?x?=\n\nbody",
    "bad-base64-word": b"Subject: =?utf-8?b?!!!not-base64?=\nFrom: <>\nReturn-Path:\n\nbody",
    "broken-addresses": b'From: @@@,,,<<<>>>\nSender: "unterminated\nTo: ;;;\n\nbody',
    "report-without-boundary": b"Content-Type: multipart/report; report-type=delivery-status\n\nx",
    "rfc2231-report-type": b"Content-Type: multipart/report; report-type*=utf-8''delivery-status;"
    b" boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nAction failed\n--b--\n",
    "bad-base64-rfc822": b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n!!!!",
    "binary-rfc822-headers": b"Content-Type: text/rfc822-headers\nFrom: MAILER-DAEMON\n\n\x00\x01",
    "empty-values": b"Auto-Submitted:\nPrecedence:\nX-Autoreply:\nIn-Reply-To: <<<>>>\n\n",
    "huge-subject": b"Subject: " + b"=?utf-8?q?a?= " * 50_000 + b"\n\nhuge subject",
}


@pytest.mark.parametrize("raw", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_headers_do_not_crash(raw: bytes) -> None:
    msg = parse(raw)
    verdict = classify_machine_mail(msg, keywords=["a"], sender_patterns=["*"])
    assert verdict is None or isinstance(verdict, MachineVerdict)
    assert isinstance(bounce_original_message_ids(msg), tuple)


def test_a_hand_built_message_with_header_objects_works() -> None:
    from email.header import Header

    msg = Message()
    msg["From"] = "MAILER-DAEMON@example.org"
    msg["Subject"] = Header("Unzustellbar: Drucker", "utf-8")
    assert kind_of(msg) == "bounce"


# --- original Message-IDs, by hand ---------------------------------------------------------


def test_original_ids_keep_case_add_brackets_and_follow_in_reply_to_and_references() -> None:
    raw = textwrap.dedent(
        """\
        From: MAILER-DAEMON@mx.example.org
        Subject: failure notice
        Message-ID: <bounce-self@mx.example.org>
        In-Reply-To:  <Reply-2@Example.NET>
        References: <Root-1@Example.NET>
         <Reply-2@Example.NET>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="b"

        --b
        Content-Type: text/plain

        Sorry.

        --b
        Content-Type: text/rfc822-headers

        From: support@example.net
        Message-ID:   Reply-2@Example.NET

        --b--
        """
    )
    verdict = classify_machine_mail(parse(raw.encode()))
    assert verdict is not None
    assert verdict.original_message_ids == ("<Reply-2@Example.NET>", "<Root-1@Example.NET>")


def test_auto_replies_carry_no_original_ids() -> None:
    verdict = classify_machine_mail(mail("Auto-Submitted: auto-replied\nIn-Reply-To: <a@b>\n"))
    assert verdict is not None
    assert verdict.original_message_ids == ()


def test_a_huge_inline_copy_is_read_only_at_its_start() -> None:
    # qmail returns the whole original inline; a 3 MB attachment in it must not be decoded.
    original = "Message-ID: <Big-1@example.net>\nSubject: big\n\n" + "A" * 3_000_000
    body = base64.encodebytes(("Hi. This is the qmail-send program.\n\n" + original).encode())
    raw = (
        textwrap.dedent(
            """\
        From: MAILER-DAEMON@mx.example.org
        Subject: failure notice
        Content-Type: text/plain
        Content-Transfer-Encoding: base64

        """
        ).encode()
        + body
    )
    verdict = classify_machine_mail(parse(raw))
    assert verdict is not None
    assert verdict.original_message_ids == ("<Big-1@example.net>",)


def test_amazon_sns_notifications_are_typed_by_their_json() -> None:
    extra = "X-Amz-Sns-Message-Id: 1af9f4b7\n"
    bounce = mail(extra, body='{"notificationType":"Bounce","bounce":{}}\n')
    delivered = mail(extra, body='{"notificationType":"Delivery"}\n')
    other = mail(extra, body="CloudWatch alarm\n")
    assert [kind_of(m) for m in (bounce, delivered, other)] == [
        "bounce",
        "delivery-report",
        "bulk",
    ]
