"""Tell machine mail (bounces, auto-replies, complaints, bulk) from mail a person wrote.

A helpdesk that answers an out-of-office with an acknowledgement, or opens a ticket for every
bounce, ends up in mail loops and buries agents in noise. The rules here are cheap: they read
headers and the content types of the MIME tree, and only open the small report and returned-
message parts when they need the Message-IDs of the mail that bounced.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses

# Walking a pathological MIME tree must stay cheap: only this many parts are looked at, a
# returned message that arrived as text is read up to this many characters, and only the start
# of a (possibly 200 KB) subject is decoded.
_MAX_PARTS = 64
_MAX_TEXT = 64_000
_MAX_SUBJECT = 2_000


@dataclass(frozen=True)
class MachineVerdict:
    """Why a mail was judged machine-generated; ``reason`` names the rule so agents can audit it.

    ``kind`` is one of "bounce", "auto-reply", "complaint", "bulk" (automated mail that answers
    nothing: lists, newsletters, notifications) or "delivery-report" (read receipts, delay
    warnings, "delivered" notices: about our mail, but not a failure). ``original_message_ids``
    lists, for bounces, complaints and reports, the Message-IDs of the mail they are about, so
    storage can tell which of our own sent mails failed.
    """

    kind: str
    reason: str
    original_message_ids: tuple[str, ...] = ()


_REPORT_KINDS = {
    "delivery-status": "bounce",
    "disposition-notification": "delivery-report",
    "feedback-report": "complaint",
}
_REPORT_PARTS = {f"message/{report}": kind for report, kind in _REPORT_KINDS.items()}
# A delivery-status report is only a bounce if some recipient failed; delay warnings, success
# notices and address verification ("deliverable") must not mark our sent mail as bounced.
_NOT_FAILED = {"delivered", "deliverable", "relayed", "expanded", "delayed"}
_DSN_ACTION = re.compile(r"^action:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)

# Local parts that only mail systems send from. "post_master" is what Verizon's gateways use.
_DAEMON_LOCALPARTS = {"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster", "post_master"}
_DAEMON_NAMES = {"mailer-daemon", "mail delivery subsystem", "mail delivery system"}

# Outlook/Exchange flags its non-delivery reports with this header, even when it is empty.
_BOUNCE_PRESENCE_HEADERS = ("X-Failed-Recipients", "X-MS-Exchange-Message-Is-Ndr")

# Vacation responders that predate RFC 3834 mark themselves with one of these; a value of "no"
# (or an empty value) means the sender explicitly says it is not an auto-reply.
_AUTOREPLY_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponse",
    "X-Autoresponder",
    "X-Autoreply-From",
    "X-Mail-Autoreply",
    "X-Vacation",
)
_FALSE_VALUES = {"", "no", "false", "0", "off"}

_PRECEDENCE_KINDS = {"bulk": "bulk", "junk": "bulk", "list": "bulk", "auto_reply": "auto-reply"}

# Subject prefixes, matched case-insensitively at the start of the subject (after any gateway
# tags such as "[EXTERNAL]"). Each entry is (label for the reason, regex). Phrases a customer
# could start a real request with ("Auto reply not working", "Delivery failure of order 123",
# "Undeliverable parcel", "Vacation request") only match in the form mail systems produce:
# followed by a colon or nothing at all. Modern responders also set headers; this is a fallback.
_SEP = r"[\s_-]*"
_END = r"\s*(?:[:：]|$)"
_BOUNCE_SUBJECTS = [
    ("Undeliverable", r"undeliverable(?:\s*[:：]|\s+mail\b|\s+message\b)"),
    ("Undelivered Mail Returned to Sender", r"undelivered mail returned to sender"),
    ("Undelivered", r"undelivered\s*[:：]"),
    ("Delivery Status Notification", r"delivery status notification"),
    ("Delivery Notification", r"delivery notification\s*[:：]"),
    ("Mail delivery failed", r"mail delivery failed"),
    ("Delivery Failure", r"(?:mail |message )?delivery failure" + _END),
    ("Returned mail", r"returned mail\s*[:：]"),
    ("failure notice", r"failure notice\b"),
    ("Nondeliverable", r"non[\s-]?deliverable(?:\s*[:：]|\s+mail\b|\s+message\b)"),
    ("Delayed Mail", r"delayed mail \(still being retried\)"),
    ("Warning: could not send message", r"warning: could not send message for past"),
    ("Unzustellbar", r"unzustellbar\s*[:：]"),
    ("Non remis", r"non remis\s*[:：]"),
    ("Non recapitabile", r"non recapitabile\s*[:：]"),
    ("No se puede entregar", r"no se puede entregar\s*[:：]"),
    ("Onbestelbaar", r"onbestelbaar\s*[:：]"),
    ("Não é possível entregar", r"não é possível entregar\s*[:：]"),
    ("Nie można dostarczyć", r"nie można dostarczyć\s*[:：]"),
    ("Недоставляемое", r"недоставляемое"),
    ("Ваше сообщение не доставлено", r"ваше сообщение не доставлено"),
    ("配信不能", r"配信不能"),
]
_AUTOREPLY_SUBJECTS = [
    ("Automatic reply", r"automatic reply"),
    ("Auto-reply", r"auto" + _SEP + r"reply"),
    ("Auto-response", r"auto" + _SEP + r"respon(?:se|der)"),
    ("Out of Office", r"out of (?:the )?office(?: auto" + _SEP + r"reply| reply)?"),
    ("Abwesenheitsnotiz", r"abwesenheitsnotiz"),
    ("Automatische Antwort", r"automatische antwort"),
    ("Réponse automatique", r"réponse automatique"),
    ("Respuesta automática", r"respuesta automática"),
    ("Risposta automatica", r"risposta automatica"),
    ("Automatisch antwoord", r"automatisch antwoord"),
    ("Resposta automática", r"resposta automática"),
    ("Automatyczna odpowiedź", r"automatyczna odpowiedź"),
    ("Автоматический ответ", r"автоматический ответ"),
    ("Automatiskt svar", r"automatiskt? svar"),
    ("Automaattinen vastaus", r"automaattinen vastaus"),
    ("自動応答", r"自動応答"),
    ("自动回复", r"自动回复"),
    ("自動回覆", r"自動回覆"),
    ("Vacation", r"(?:on )?vacation(?: (?:auto" + _SEP + r"reply|reply|notice|message))?"),
]
_GATEWAY_TAGS = re.compile(r"^(?:\s*\[[^\]]{0,40}\])+")


def _compile(rules: list[tuple[str, str]], end: str = "") -> list[tuple[str, re.Pattern[str]]]:
    return [(label, re.compile(pattern + end, re.IGNORECASE)) for label, pattern in rules]


_BOUNCE_SUBJECT_RES = _compile(_BOUNCE_SUBJECTS)
_AUTOREPLY_SUBJECT_RES = _compile(_AUTOREPLY_SUBJECTS, end=_END)

_RETURNED_MESSAGE_TYPES = {"message/rfc822", "message/global"}
# "text/rfc822-header" (singular) is a common misspelling in feedback reports.
_RETURNED_HEADERS_TYPES = {"text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers"}
_MSGID = re.compile(r"<([^<>\s]+)>")
_MSGID_LINE = re.compile(r"^(?:original-)?message-id:[ \t]*(\S.*)$", re.IGNORECASE | re.MULTILINE)
# Amazon SNS delivers SES bounce/complaint/delivery events as JSON mails; its header is unique.
_SNS_HEADER = "X-Amz-Sns-Message-Id"
_SNS_TYPE = re.compile(r'"notificationType"\s*:\s*"(\w+)"')
_SNS_KINDS = {"Bounce": "bounce", "Complaint": "complaint", "Delivery": "delivery-report"}


class _Headers:
    """Header lookup that never raises and never hands back Header objects.

    compat32 returns ``email.header.Header`` for values with raw 8-bit bytes and lets malformed
    values through; here every value is a plain, unfolded str (undecodable bytes replaced).
    """

    def __init__(self, msg: Message) -> None:
        self._values: dict[str, list[str]] = {}
        try:
            items = msg.raw_items()
            for name, value in items:
                self._values.setdefault(str(name).strip().lower(), []).append(_as_text(value))
        except Exception:  # a hand-built or damaged message: classify on what we have
            pass

    def get(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self._values.get(name.lower(), [])


def _as_text(value: object) -> str:
    """Unfold a raw header value; surrogate-escaped 8-bit bytes are read as UTF-8."""
    text = value if isinstance(value, str) else str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        text = text.encode("utf-8", "replace").decode("utf-8")
    return re.sub(r"\r?\n[ \t]*|\r[ \t]*", " ", text).strip()


def _decode_subject(raw: str) -> str:
    """The subject as a person reads it: RFC 2047 words decoded, NFC, never an exception."""
    try:
        text = str(make_header(decode_header(raw[:_MAX_SUBJECT])))
    except Exception:  # unknown charset, broken base64: match on the raw text instead
        text = raw[:_MAX_SUBJECT]
    return unicodedata.normalize("NFC", text)


def _addresses(headers: _Headers, *names: str) -> list[tuple[str, str]]:
    values = [value for name in names for value in headers.all(name)]
    try:
        return getaddresses(values)
    except Exception:
        return []


def _local_part(address: str) -> str:
    return address.rsplit("@", 1)[0].strip().strip('"').lower()


def _daemon_sender(headers: _Headers) -> str | None:
    """The From/Sender that only a mail system would use, e.g. MAILER-DAEMON@host."""
    for name, address in _addresses(headers, "From", "Sender"):
        if _local_part(address) in _DAEMON_LOCALPARTS:
            return address
        if name.strip().lower() in _DAEMON_NAMES:
            return name.strip()
    return None


def _null_sender(headers: _Headers) -> str | None:
    """The header carrying a null envelope sender (<>), which RFC 5321 reserves for notices."""
    for name in ("Return-Path", "X-Envelope-From"):
        for value in headers.all(name):
            if value.replace(" ", "") == "<>":
                return name
    return None


def _report_kind(msg: Message) -> tuple[str, str] | None:
    """Kind and reason from the MIME structure: multipart/report or a bare report part."""
    for part in _parts(msg):
        ctype = part.get_content_type()
        report = _report_type(part) if ctype == "multipart/report" else ""
        if report in _REPORT_KINDS:
            kind, reason = _REPORT_KINDS[report], f"multipart/report; report-type={report}"
        elif ctype in _REPORT_PARTS:
            kind, reason = _REPORT_PARTS[ctype], f"{ctype} part"
        else:
            continue
        if kind == "bounce":
            actions = {action for p in _parts(part) for action in _dsn_actions(p)}
            if actions and actions <= _NOT_FAILED:
                return "delivery-report", f"{reason}; Action: {', '.join(sorted(actions))}"
        return kind, reason
    return None


def _dsn_actions(part: Message) -> set[str]:
    """The per-recipient Action values of a message/delivery-status part (RFC 3464)."""
    if part.get_content_type() != "message/delivery-status":
        return set()
    payload = part.get_payload()
    if isinstance(payload, list):
        values = [str(block.get("Action", "")) for block in payload if isinstance(block, Message)]
    else:
        values = _DSN_ACTION.findall(payload if isinstance(payload, str) else "")
    return {v.split("(")[0].strip().lower() for v in values if v.strip()}


def _report_type(part: Message) -> str:
    try:
        value = part.get_param("report-type")
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231 encoded parameter
        value = value[2]
    return str(value or "").strip().strip('"').lower()


def _parts(msg: Message) -> Iterator[Message]:
    """The message and its multipart descendants, without entering attached messages.

    A forwarded bounce is a person's mail (often a ticket about that very bounce), so parts
    inside message/rfc822 attachments are never looked at.
    """
    queue = [msg]
    seen = 0
    while queue and seen < _MAX_PARTS:
        part = queue.pop(0)
        seen += 1
        yield part
        if part.get_content_maintype() == "multipart":
            payload = part.get_payload()
            if isinstance(payload, list):
                queue.extend(p for p in payload if isinstance(p, Message))


def _subject_rule(subject: str, rules: list[tuple[str, re.Pattern[str]]]) -> str | None:
    for label, pattern in rules:
        if pattern.match(subject):
            return label
    return None


def _sns_kind(msg: Message) -> str:
    found = _SNS_TYPE.search(_text_payload(msg))
    return _SNS_KINDS.get(found.group(1), "bulk") if found else "bulk"


def _first_rule(
    msg: Message,
    headers: _Headers,
    full_subject: str,
    keywords: Sequence[str],
    sender_patterns: Sequence[str],
) -> tuple[str, str] | None:
    """Rules in order of how sure and how specific they are; the first that fires wins.

    Subject prefixes are matched after gateway tags like "[EXTERNAL]"; admin keywords anywhere.
    """
    report = _report_kind(msg)
    if report:
        return report
    for name in _BOUNCE_PRESENCE_HEADERS:
        if headers.get(name) is not None:
            return "bounce", f"{name} header"
    daemon = _daemon_sender(headers)
    if daemon:
        return "bounce", f"sender {daemon}"
    subject = _GATEWAY_TAGS.sub("", full_subject).strip()
    label = _subject_rule(subject, _BOUNCE_SUBJECT_RES)
    if label:
        return "bounce", f"subject prefix {label!r}"

    auto_submitted = re.split(r"[;(\s]", (headers.get("Auto-Submitted") or "").lower())[0]
    if auto_submitted == "auto-replied":
        return "auto-reply", "Auto-Submitted: auto-replied"
    for name in _AUTOREPLY_HEADERS:
        value = headers.get(name)
        if value is not None and value.lower() not in _FALSE_VALUES:
            return "auto-reply", f"{name}: {value[:40]}"
    if (headers.get("X-Autogenerated") or "").lower() == "reply":
        return "auto-reply", "X-Autogenerated: Reply"
    if (headers.get("X-Apple-Action") or "").upper() == "VACATION":
        return "auto-reply", "X-Apple-Action: VACATION"
    label = _subject_rule(subject, _AUTOREPLY_SUBJECT_RES)
    if label:
        return "auto-reply", f"subject prefix {label!r}"
    if auto_submitted and auto_submitted != "no":
        return "bulk", f"Auto-Submitted: {auto_submitted[:40]}"

    precedence = (headers.get("Precedence") or "").strip().lower()
    if precedence in _PRECEDENCE_KINDS:
        return _PRECEDENCE_KINDS[precedence], f"Precedence: {precedence}"
    null = _null_sender(headers)
    if null:
        return "bounce", f"null {null} <>"
    if headers.get(_SNS_HEADER) is not None:
        return _sns_kind(msg), f"{_SNS_HEADER} (Amazon SNS notification)"

    senders = [address.lower() for _, address in _addresses(headers, "From", "Sender") if address]
    for pattern in sender_patterns:
        if pattern and any(fnmatch.fnmatchcase(a, pattern.strip().lower()) for a in senders):
            return "bulk", f"admin sender pattern {pattern!r}"
    folded = full_subject.casefold()
    for keyword in keywords:
        if keyword.strip() and keyword.strip().casefold() in folded:
            return "bulk", f"admin subject keyword {keyword!r}"
    return None


def classify_machine_mail(
    msg: Message,
    *,
    subject: str | None = None,
    keywords: Sequence[str] = (),
    sender_patterns: Sequence[str] = (),
) -> MachineVerdict | None:
    """A verdict if the mail was generated by a machine, None if a person (probably) wrote it.

    ``subject`` is the decoded subject when the caller already has it. ``keywords`` are extra
    subject substrings and ``sender_patterns`` shell-style globs on the sender address, both set
    by the admin and matched case-insensitively. ``X-Auto-Response-Suppress`` and
    ``List-Unsubscribe`` are deliberately ignored: Outlook sets the first on ordinary mail and
    people reply to newsletters.
    """
    headers = _Headers(msg)
    if subject is None:
        subject = _decode_subject(headers.get("Subject") or "")
    subject = unicodedata.normalize("NFC", subject)
    found = _first_rule(msg, headers, subject, keywords, sender_patterns)
    if found is None:
        return None
    kind, reason = found
    ids = bounce_original_message_ids(msg) if kind in _REPORT_KINDS.values() else ()
    return MachineVerdict(kind, reason, ids)


def bounce_original_message_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs of the mail a bounce or report is about, most reliable first, in <...> form.

    Taken from the returned message (message/rfc822 or text/rfc822-headers part), the
    Original-Message-ID of read receipts, then the bounce's own In-Reply-To and References.
    Plain-text bounces (qmail, Exim, Gmail) quote the original headers inline; the first
    Message-ID line there is used only when no structured part carried one.
    """
    headers = _Headers(msg)
    own = set(_ids_in(headers.get("Message-ID")))
    attached: list[str] = []
    inline: list[str] = []
    for part in _parts(msg):
        ctype = part.get_content_type()
        if ctype in _RETURNED_MESSAGE_TYPES or ctype in _REPORT_PARTS:
            for inner in _inner_messages(part):
                attached += _ids_in(inner.get("Message-ID"))
                attached += _ids_in(inner.get("Original-Message-ID"))
        elif ctype in _RETURNED_HEADERS_TYPES:
            inner = _parse_headers(_text_payload(part))
            attached += _ids_in(inner.get("Message-ID")) if inner else []
        elif ctype == "text/plain" and not inline:
            lines = _MSGID_LINE.findall(_text_payload(part))
            inline = [i for line in lines for i in _ids_in(line) if i not in own][:1]
    found = (attached or inline) + _ids_in(headers.get("In-Reply-To"))
    found += _ids_in(headers.get("References"))
    return tuple(dict.fromkeys(i for i in found if i not in own))


def _inner_messages(part: Message) -> list[Message]:
    """The parsed sub-messages of a message/* part (report fields parse as header blocks)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    parsed = _parse_headers(payload if isinstance(payload, str) else "")
    return [parsed] if parsed else []


def _text_payload(part: Message) -> str:
    """The start of a leaf part's decoded text; huge bodies are cut before decoding. A body
    the email package cannot even read (a charset like idna, a NUL in its name) is no text."""
    try:
        raw = part.get_payload()
    except Exception:
        return ""
    if not isinstance(raw, str):
        return ""
    if len(raw) > _MAX_TEXT:  # cut at a line end so base64 quads stay whole
        part = _with_payload(part, raw[: raw.rfind("\n", 0, _MAX_TEXT) + 1])
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return ""
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _with_payload(part: Message, payload: str) -> Message:
    clone = Message()
    clone["Content-Transfer-Encoding"] = str(part.get("Content-Transfer-Encoding", "7bit"))
    clone.set_payload(payload)
    return clone


def _parse_headers(text: str) -> Message | None:
    if not text.strip():
        return None
    try:
        return HeaderParser(policy=compat32).parsestr(text[:_MAX_TEXT].lstrip())
    except Exception:
        return None


def _ids_in(value: object) -> list[str]:
    """Message-IDs in a header value, each as "<id>" with its case kept."""
    if value is None:
        return []
    text = _as_text(value)
    found = _MSGID.findall(text)
    if not found and text and " " not in text and "@" in text:  # a bare id without brackets
        found = [text.strip("<>")]
    return [f"<{i}>" for i in found if i]
