"""Parsing raw mail into the parts a helpdesk needs.

The legacy compat32 parser walks a mail about four times faster than `policy.default`, whose
time goes to re-parsing every header; we decode by hand only the headers and parts we use, with
fallbacks at every step so no charset, encoding or structure can raise past `parse_mail`.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses

from tuidesk.engine.charsets import decode_bytes, sniff
from tuidesk.engine.text import clean_line, html_to_text, normalize_newlines, strip_controls

TITLE_LIMIT = 250
FILENAME_LIMIT = 180
ADDRESS_LIMIT = 64 * 1024  # characters of one address header kind read: ~2,000 addresses
# Authentication-Results headers read, and characters of each: the receiving servers' own are
# at the top, and a mail with thousands of them is hostile.
AUTH_RESULTS_LIMIT = (20, 4000)
_MSGID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f]")


class ParseError(Exception):
    """The mail cannot be turned into a ticket: it is quarantined with this reason."""


@dataclass(frozen=True)
class Address:
    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class ParsedMail:
    # The parsed tree, for classification and headers; dropped (None) once the engine's
    # analysis is done, so the rest can cross a process boundary.
    message: Message | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_to: tuple[str, ...]
    text: str
    html: str | None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    # The text was made from the HTML (no plain part): its quote markers are in the HTML.
    text_from_html: bool = False
    part_count: int = 0
    # False while text, html and attachments are not read yet (`parse_mail(body=False)`).
    body_read: bool = True
    # Where the author asked for answers: a web form's customer, or a list's address.
    reply_to: tuple[Address, ...] = ()
    # The receiving servers' verdicts on the sender (engine.authres reads them), top first.
    authentication_results: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        return decode_header_value(self.message.get(name)) if self.message else ""

    @property
    def recipients_in_routing_order(self) -> tuple[str, ...]:
        """Delivered-To, X-Original-To, To, Cc: the first names the mailbox it reached."""
        return self.delivered_to + tuple(a.email for a in self.to + self.cc)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 40 * 1024 * 1024
    max_parts: int = 1000


def normalize_line_endings(raw: bytes) -> bytes:
    """Mail saved with bare CR line endings (old Mac) parses as one long header otherwise."""
    head = raw[:65536]
    if b"\r" in head and b"\n" not in head:
        return raw.replace(b"\r", b"\n")
    return raw


_HEADER_FIELD = re.compile(rb"[!-9;-~]+:")
# What a header that follows stray lines must look like: a hyphenated name (Message-ID,
# X-Mailer) or a one-word one mail uses; "Regards: Bob" in a body is neither.
_SURE_HEADER = re.compile(
    rb"([A-Za-z0-9]+-[!-9;-~]*|from|to|cc|bcc|subject|date|received|sender|references"
    rb"|comments|keywords|importance|priority|precedence|organization|sensitivity):",
    re.I,
)
_LINE_END = re.compile(rb"\r?\n")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
HEADER_REPAIR_LIMIT = 256 * 1024  # bytes of header block looked at


def repair_header_block(raw: bytes) -> bytes:
    """Fold stray lines of the header block (neither `Name:` nor a continuation, such as the
    base64 of an `X-Brightmail-Tracker:` written without its indent) into the header above.
    The parser would end the headers at the first and lose every header after it, the sender
    included. Repaired only when headers follow the strays up to the blank line that ends the
    block, so a mail whose body follows its headers without that line keeps its body."""
    head = raw[:HEADER_REPAIR_LIMIT]
    blank = _BLANK_LINE.search(head)
    if blank is None:
        return raw
    lines = _LINE_END.split(head[: blank.start()])
    start = 1 if lines[0].startswith(b"From ") else 0  # an mbox envelope line
    fold: list[int] = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line[:1] in (b" ", b"\t") or _HEADER_FIELD.match(line):
            if fold and fold[-1] == i - 1 and not _SURE_HEADER.match(line):
                return raw  # a stray run must end at a header beyond doubt
            continue
        fold.append(i)
    if not fold or fold[-1] == len(lines) - 1:
        return raw
    out, pos = [], 0
    for i, m in enumerate(_LINE_END.finditer(raw)):
        line = raw[pos : m.end()]
        out.append(b" " + line if i in fold else line)
        pos = m.end()
        if i >= fold[-1]:
            break
    return b"".join(out) + raw[pos:]


def content_hash(raw: bytes) -> str:
    """The identity of a mail across deliveries: headers that the transport adds (Received,
    Delivered-To, Return-Path...) and line endings differ between IMAP, pipe and import, so
    the hash covers the author's headers and the body only."""
    raw = normalize_line_endings(raw).replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    h = hashlib.sha256()
    wanted = (b"message-id", b"date", b"from", b"to", b"cc", b"subject")
    found = False
    for line in _unfolded_header_lines(head):
        name, _, value = line.partition(b":")
        if name.strip().lower() in wanted:
            h.update(name.strip().lower() + b":" + b" ".join(value.split()) + b"\n")
            found = True
    if not found:  # nothing that identifies an author: all of it identifies the mail
        h.update(head)
    h.update(b"\n\n")
    h.update(body)
    return h.hexdigest()


def _unfolded_header_lines(head: bytes) -> list[bytes]:
    lines: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b" " + line.strip()
        else:
            lines.append(line)
    return lines


def decode_header_value(value: object, hints: Sequence[str] = ()) -> str:
    """RFC 2047 words and raw 8-bit bytes alike, into text; garbage stays as readable text.
    `hints`: the mail's declared charsets, for 8-bit bytes that declare none."""
    if value is None:
        return ""
    raw_str = str(value) if not isinstance(value, str) else value
    try:
        chunks = decode_header(value)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - malformed encoded-words: keep the raw text
        return _undo_surrogates(raw_str, hints)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            if charset in (None, "unknown-8bit"):
                charset = None
            out.append(decode_bytes(chunk, charset, hints))
        else:
            out.append(_undo_surrogates(chunk, hints))
    return "".join(out)


def _undo_surrogates(text: str, hints: Sequence[str] = ()) -> str:
    """compat32 keeps undecodable header bytes as surrogate escapes; decode them properly."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return decode_bytes(text.encode("ascii", "surrogateescape"), None, hints)


def _header_str(
    msg: Message, name: str, limit: int | None = None, hints: Sequence[str] = ()
) -> str:
    """Every `name` header, joined with commas; the values past `limit` characters are not
    even decoded."""
    out: list[str] = []
    size = 0
    for v in msg.get_all(name) or []:
        out.append(
            _undo_surrogates(v, hints) if isinstance(v, str) else decode_header_value(v, hints)
        )
        size += len(out[-1]) + 2
        if limit is not None and size > limit:
            break
    return ", ".join(out)


def parse_addresses(msg: Message, name: str, hints: Sequence[str] = ()) -> tuple[Address, ...]:
    """At most ADDRESS_LIMIT characters of them, cut after an address: a To line of tens of
    thousands of addresses is an attack or a blast, and parsing it all would take minutes."""
    raw = _header_str(msg, name, ADDRESS_LIMIT, hints)
    if len(raw) > ADDRESS_LIMIT:
        raw = raw[: max(raw.rfind(",", 0, ADDRESS_LIMIT), 0)]
    if not raw:
        return ()
    out: list[Address] = []
    for display, addr in mailboxes(raw):
        addr = clean_line(addr).strip("<>").lower() if "@" in addr else ""
        if addr:
            name_text = decode_header_value(display, hints)
            out.append(Address(name=clean_line(name_text, 200), email=addr))
    return tuple(out)


_MAILBOX_PIECE = re.compile(r'"(?:\\.|[^"\\])*"|<[^<>]*>|\((?:\\.|[^()\\])*\)|,|[^,"<(]+|[<(]')
_ANGLE_ADDR = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")


def mailboxes(value: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address list, as mail programs write them, not only
    as RFC 5322 allows: an unquoted name with a comma ("Müller, Jürgen <j@x>") or an address
    in it ("alice@example.com <bob@example.com>", where bob is who wrote) names the <address>
    that follows it, which the stdlib would split into two mailboxes or read as alice."""
    pieces: list[str] = []
    current = ""
    for token in _MAILBOX_PIECE.findall(value):
        if token == ",":
            pieces.append(current)
            current = ""
        else:
            current += token
    pieces.append(current)
    out: list[tuple[str, str]] = []
    pending: list[str] = []  # pieces with no address: the first part of a comma'd name
    for piece in pieces:
        angle = _ANGLE_ADDR.search(piece)
        if angle:
            name = piece[: angle.start()].strip()
            if name.startswith('"') and name.endswith('"') and len(name) > 1:
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out.append((", ".join([*pending, name]) if pending and name else name, angle[1]))
            pending = []
        elif "@" in piece:
            out += getaddresses([piece])
            pending = []
        elif piece.strip():
            pending.append(piece.strip())
    return out


def message_ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MSGID.findall(value)))


def sanitize_filename(name: str, fallback: str) -> str:
    """A name that is safe to show and to keep: no folders, no controls, no leading dots.
    Characters only some file systems refuse (`:` `?` `*` `"` `<` `>` `|`) are kept, as the
    sender wrote them: saving maps them for the system it saves on."""
    name = strip_controls(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"^[\s.]+", "", _UNSAFE_FILENAME.sub("_", name)).strip()
    if name in ("", ".", ".."):
        name = fallback
    if len(name) > FILENAME_LIMIT:
        stem, dot, ext = name.rpartition(".")
        name = (
            (stem[: FILENAME_LIMIT - len(ext) - 1] + "." + ext) if dot and len(ext) < 10 else name
        )
        name = name[:FILENAME_LIMIT]
    return name


def _filename(part: Message, hints: Sequence[str] = ()) -> str | None:
    """The name the sender gave the part: Content-Disposition's filename, else Content-Type's
    name, RFC 2231 and RFC 2047 alike; raw 8-bit names (common from webmail) are decoded, not
    mangled."""
    headers = ("Content-Disposition", "Content-Type")
    if all(isinstance(part.get(h, ""), str) for h in headers):
        source = part
    else:
        source = Message()
        for h in headers:
            if part.get(h) is not None:
                source[h] = decode_header_value(part.get(h), hints)
    try:
        name = source.get_filename()
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        name = None
    return decode_header_value(name, hints) if name and name.strip() else None


def attachment_name(part: Message, ctype: str, n: int, hints: Sequence[str] = ()) -> str:
    """The part's own name, else the last path part of its Content-Location, else its
    Content-Description, else one made from its Content-ID (inline images) or its place and
    type; sanitized to be safe to show and to save."""
    ext = mimetypes.guess_extension(ctype) or ".bin"
    name = _filename(part, hints)
    if not name:
        location = clean_line(decode_header_value(part.get("Content-Location")), 1000)
        path = urllib.parse.urlsplit(location.strip()).path if location else ""
        name = urllib.parse.unquote(path.rstrip("/").rpartition("/")[2])
    if not name:
        description = decode_header_value(part.get("Content-Description"), hints)
        name = clean_line(description, FILENAME_LIMIT)
    if not name and part.get("Content-ID"):
        cid = clean_line(decode_header_value(part.get("Content-ID"))).strip().strip("<>")
        local = cid.partition("@")[0]
        name = local if mimetypes.guess_type(local)[0] == ctype else local + ext if local else ""
    return sanitize_filename(name or "", f"attachment-{n}{ext}")


def _part_payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


class _Walker:
    """One pass over the MIME tree: body text, the HTML part and the attachments."""

    def __init__(self, limits: Limits, nested: bool = False, hints: Sequence[str] = ()) -> None:
        self.limits = limits
        self.hints = hints
        self.nested = nested
        self.parts = 0
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[ParsedAttachment] = []

    def walk(self, part: Message) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise ParseError(f"more than {self.limits.max_parts} MIME parts")
        ctype = clean_line(part.get_content_type(), 200)
        if part.is_multipart():
            children = part.get_payload()
            if not isinstance(children, list):
                return
            if ctype == "message/rfc822":
                self._forwarded(children)
                return
            if ctype == "multipart/alternative":
                self._alternative(children)
                return
            for child in children:
                if isinstance(child, Message):
                    self.walk(child)
            return
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = _filename(part, self.hints)
        is_body = disposition != "attachment" and not filename
        if ctype.startswith("multipart/"):
            # A multipart whose boundary never appears: its text is the best body we have.
            self.texts.append(self._text(part))
        elif is_body and ctype == "text/plain":
            self.texts.append(self._text(part))
        elif is_body and ctype == "text/html":
            self.htmls.append(self._text(part))
        else:
            self._attachment(part, ctype, disposition)

    def _alternative(self, children: list) -> None:
        """Prefer the plain part for text; keep the richest HTML part as data."""
        before = len(self.texts)
        for child in children:
            if isinstance(child, Message):
                self.walk(child)
        if len(self.texts) > before + 1:
            self.texts[before:] = [self.texts[before]]

    def _forwarded(self, children: list) -> None:
        inner = children[0] if children else None
        if not isinstance(inner, Message):
            return
        if not self.nested:
            # Serialized once, at the top: a forward inside a forward is inside this .eml.
            subject = clean_line(decode_header_value(inner.get("Subject"))) or "forwarded message"
            self.attachments.append(
                ParsedAttachment(
                    filename=sanitize_filename(subject, "forwarded") + ".eml",
                    content_type="message/rfc822",
                    data=_as_bytes(inner),
                )
            )
        sub = _Walker(self.limits, nested=True, hints=declared_charsets(inner) + self.hints)
        sub.parts = self.parts
        sub.walk(inner)
        self.parts = sub.parts
        header = "\n".join(
            f"{name}: {clean_line(decode_header_value(inner.get(name)))}"
            for name in ("From", "Date", "Subject", "To")
            if inner.get(name)
        )
        inner_text = "\n\n".join(sub.texts) or html_to_text("\n".join(sub.htmls))
        self.texts.append(f"---------- Forwarded message ----------\n{header}\n\n{inner_text}")
        self.attachments.extend(sub.attachments)

    def _text(self, part: Message) -> str:
        text = decode_bytes(_part_payload(part), part.get_content_charset())
        return normalize_newlines(text)

    def _attachment(self, part: Message, ctype: str, disp: str) -> None:
        name = attachment_name(part, ctype, len(self.attachments) + 1, self.hints)
        cid = part.get("Content-ID")
        self.attachments.append(
            ParsedAttachment(
                filename=name,
                content_type=ctype,
                data=_part_payload(part),
                content_id=clean_line(str(cid)).strip("<>") or None if cid else None,
                inline=disp == "inline" or (disp == "" and bool(cid)),
            )
        )


def _as_bytes(msg: Message) -> bytes:
    try:
        return msg.as_bytes(policy=compat32)
    except Exception:  # noqa: BLE001 - a broken inner mail is still shown as text
        return b""


_HINT_PARTS = 50


def declared_charsets(msg: Message) -> tuple[str, ...]:
    """The charsets the mail's first parts declare, breadth first: what its unlabelled 8-bit
    headers are most likely written in (a mail client writes both in one)."""
    found: list[str] = []
    queue = [msg]
    for part in queue[:_HINT_PARTS]:
        with contextlib.suppress(Exception):  # a hostile parameter must not stop the parse
            charset = part.get_content_charset()
            if charset and charset not in found:
                found.append(charset)
        children = part.get_payload() if part.is_multipart() else None
        if isinstance(children, list):
            queue += [c for c in children if isinstance(c, Message)][:_HINT_PARTS]
    return tuple(found)


def parse_mail(raw: bytes, limits: Limits | None = None, *, body: bool = True) -> ParsedMail:
    """Raw RFC 5322 bytes to a ParsedMail, or ParseError with a reason for the quarantine.
    With body=False the MIME tree is checked against the limits but not read (`read_body`
    does that): machine mail is ignored on its headers and structure, and reading its body,
    the bulk of parsing it, would be wasted."""
    limits = limits or Limits()
    if len(raw) > limits.max_bytes:
        raise ParseError(f"message is {len(raw)} bytes, over the {limits.max_bytes}-byte limit")
    if not raw.strip():
        raise ParseError("empty message")
    raw = repair_header_block(normalize_line_endings(raw))
    try:
        msg = BytesParser(policy=compat32).parsebytes(raw)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient; anything else is a bug
        raise ParseError(f"unparseable: {exc.__class__.__name__}: {exc}") from exc
    if not msg.keys():
        raise ParseError("no headers: not an email message")
    hints = declared_charsets(msg) or sniff(raw)
    senders = parse_addresses(msg, "From", hints) or parse_addresses(msg, "Sender", hints)
    delivered = tuple(
        a.email for name in ("Delivered-To", "X-Original-To") for a in parse_addresses(msg, name)
    )
    mid = message_ids(_header_str(msg, "Message-ID"))
    mail = ParsedMail(
        message=msg,
        message_id=mid[0] if mid else None,
        in_reply_to=message_ids(_header_str(msg, "In-Reply-To")),
        references=message_ids(_header_str(msg, "References")),
        subject=clean_line(decode_header_value(msg.get("Subject"), hints), TITLE_LIMIT),
        sender=senders[0] if senders else None,
        to=parse_addresses(msg, "To", hints),
        cc=parse_addresses(msg, "Cc", hints),
        delivered_to=delivered,
        text="",
        html=None,
        body_read=False,
        reply_to=parse_addresses(msg, "Reply-To", hints),
        authentication_results=_authentication_results(msg),
    )
    part_count = _part_count(msg, limits) if not body else None
    if part_count is None:
        return read_body(mail, limits)
    mail.part_count = part_count
    return mail


def _authentication_results(msg: Message) -> tuple[str, ...]:
    count, size = AUTH_RESULTS_LIMIT
    values = (msg.get_all("Authentication-Results") or [])[:count]
    return tuple(
        (_undo_surrogates(v) if isinstance(v, str) else decode_header_value(v))[:size]
        for v in values
    )


def read_body(mail: ParsedMail, limits: Limits | None = None) -> ParsedMail:
    """Text, HTML and attachments from the parsed tree of a mail read with body=False."""
    if mail.body_read or mail.message is None:
        return mail
    walker = _Walker(limits or Limits(), hints=declared_charsets(mail.message))
    try:
        walker.walk(mail.message)
    except RecursionError as exc:
        raise ParseError("MIME structure nested too deeply") from exc
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - never crash on hostile input: quarantine it
        raise ParseError(f"MIME structure not understood: {exc.__class__.__name__}") from exc

    # Kept as data, never rendered; NUL is the one character no database column takes.
    html = "\n".join(walker.htmls).replace("\x00", "") if walker.htmls else None
    text = "\n\n".join(t for t in walker.texts if t.strip())
    from_html = not text.strip() and bool(html)
    if from_html:
        text = html_to_text(html)
    return replace(
        mail,
        text=strip_controls(text).strip("\n"),
        html=html,
        text_from_html=from_html,
        attachments=walker.attachments,
        part_count=walker.parts,
        body_read=True,
    )


_SHALLOW = 64  # deeper trees are walked for real: only the walk can tell how it ends


def _part_count(msg: Message, limits: Limits) -> int | None:
    """The parts `_Walker` would visit, counted without reading them, with its part limit;
    None when the tree is too deep to be sure the walk would not fail on it."""
    count = 0
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > limits.max_parts:
            raise ParseError(f"more than {limits.max_parts} MIME parts")
        if depth > _SHALLOW:
            return None
        if not part.is_multipart():
            continue
        children = part.get_payload()
        if not isinstance(children, list):
            continue
        if clean_line(part.get_content_type(), 200) == "message/rfc822":
            children = children[:1]  # the walk reads the forwarded message, nothing after it
        stack.extend((c, depth + 1) for c in children if isinstance(c, Message))
    return count
