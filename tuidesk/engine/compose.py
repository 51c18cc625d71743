"""Outgoing mail from plain values: threading headers that keep the customer's thread, the
ticket's ref as the subject's right-most token, and no header a person's text can break.

Pure: bytes out, nothing sent or stored. Values that came from a person (a title, a name, a Cc
address) are refused, not cleaned, when they hold CR or LF: a line break there is an attempt to
add headers, and silently repairing it would hide that."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from tuidesk.engine.parse import Address, sanitize_filename
from tuidesk.engine.text import strip_controls

# RFC 5322 asks for the parent's References plus its Message-ID; a ticket that goes on for
# months must not grow a header without end. Keep the first (the thread's root) and the last.
MAX_REFERENCES = 20
_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|vs|antw|wg|tr|rv)\s*(\[\d+\])?\s*:\s*)+", re.I)
_PLACEHOLDER = re.compile(r"\{(ref|title|requester_name|agent_name|branch)\}")
_ADDR_SPEC = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9.-]+$")


class HeaderInjection(ValueError):
    """A header value held a line break (or another control character)."""


def checked(value: str, what: str) -> str:
    """The value itself, or HeaderInjection when it holds CR, LF or NUL."""
    if any(c in value for c in "\r\n\x00"):
        raise HeaderInjection(f"{what} contains a line break: refused")
    return value


def checked_address(address: Address, what: str) -> Address:
    """A single, plain addr-spec and a display name without line breaks."""
    checked(address.name, f"{what} name")
    checked(address.email, what)
    if not _ADDR_SPEC.match(address.email):
        raise HeaderInjection(f"{what} {address.email!r} is not a plain email address")
    return address


def reply_subject(title: str, ref: str) -> str:
    """`Re: <title> [SUP-42]`: earlier prefixes and copies of the ref dropped, so the ref is
    the right-most token and the subject does not grow with every reply."""
    checked(title, "title")
    bare = _PREFIX.sub("", title).replace(f"[{ref}]", "").strip() or "(no subject)"
    return f"Re: {bare} [{ref}]"


def with_ref(subject: str, ref: str) -> str:
    """A subject (from a template) that ends with the ref, whatever the template says."""
    checked(subject, "subject")
    subject = subject.strip()
    return subject if subject.endswith(f"[{ref}]") else f"{subject} [{ref}]".strip()


def render(template: str, values: dict[str, str]) -> str:
    """Fill the placeholders `values` gives (of `{ref}`, `{title}`, `{requester_name}`,
    `{agent_name}`, `{branch}`); any other brace stays as written, so a template is never an
    error and a value is never read as a template."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


SIGNATURE_DELIMITER = "-- "  # RFC 3676 4.3: mail clients recognise (and dim) what follows


def sign(body: str, signature: str) -> str:
    """The text with the signature below it, after the conventional "-- " line; as it was
    when there is no signature."""
    signature = signature.strip("\n")
    if not signature.strip():
        return body
    return f"{body.rstrip()}\n\n{SIGNATURE_DELIMITER}\n{signature}\n"


def sign_html(markup: str, signature: str) -> str:
    """The HTML version signed like the plain one: the signature as escaped text, before
    </body> when there is one."""
    if not signature.strip():
        return markup
    lines = "<br>\n".join(html.escape(line) for line in signature.strip("\n").split("\n"))
    block = f'<div class="signature">{SIGNATURE_DELIMITER}<br>\n{lines}</div>\n'
    end = markup.lower().rfind("</body>")
    return markup[:end] + block + markup[end:] if end != -1 else markup + "\n" + block


def new_message_id(domain: str, ref: str, now: datetime) -> str:
    """Unique, under our own domain, short enough for one header line; the ref inside makes a
    log line easy to place."""
    return f"<{now:%Y%m%d%H%M%S}.{secrets.token_hex(6)}.{ref.lower()}@{domain.lower()}>"


def references_chain(parent_references: Sequence[str], parent_id: str | None) -> list[str]:
    chain = list(dict.fromkeys([*parent_references, *([parent_id] if parent_id else [])]))
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return chain


def quote_history(text: str, author: str, when: datetime) -> str:
    """The text a reply quotes, the way mail clients do it."""
    lines = text.rstrip("\n").splitlines() or [""]
    quoted = "\n".join(f"> {line}" if line else ">" for line in lines)
    return f"On {when:%a, %d %b %Y at %H:%M}, {author} wrote:\n{quoted}\n"


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    sender: Address
    to: tuple[Address, ...]
    subject: str
    body: str
    message_id: str
    date: datetime
    cc: tuple[Address, ...] = ()
    reply_to: Address | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    html: str | None = None
    attachments: tuple[OutgoingFile, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def recipients(self) -> list[str]:
        """The envelope: every To and Cc address once."""
        return list(dict.fromkeys(a.email for a in (*self.to, *self.cc)))


def _header_address(address: Address, what: str) -> HeaderAddress:
    checked_address(address, what)
    try:
        return HeaderAddress(display_name=address.name, addr_spec=address.email)
    except (ValueError, MessageError) as exc:  # e.g. a non-ASCII local part (needs SMTPUTF8)
        raise HeaderInjection(f"{what} {address.email!r} cannot be written in a header") from exc


def _cte(text: str) -> str:
    """7bit when it can be; otherwise quoted-printable, which every server relays (8bit needs
    the server to offer 8BITMIME)."""
    return (
        "7bit"
        if text.isascii() and all(len(x) < 990 for x in text.splitlines())
        else ("quoted-printable")
    )


def build_mail(mail: OutgoingMail) -> bytes:
    """The message as it goes on the wire (CRLF, folded, RFC 2047 where needed)."""
    if not mail.to:
        raise HeaderInjection("no recipient")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _header_address(mail.sender, "From")
    msg["To"] = [_header_address(a, "To") for a in mail.to]
    if mail.cc:
        msg["Cc"] = [_header_address(a, "Cc") for a in mail.cc]
    if mail.reply_to:
        msg["Reply-To"] = _header_address(mail.reply_to, "Reply-To")
    msg["Subject"] = checked(mail.subject, "subject")
    msg["Date"] = format_datetime(mail.date)
    msg["Message-ID"] = checked(mail.message_id, "Message-ID")
    if mail.in_reply_to:
        msg["In-Reply-To"] = checked(mail.in_reply_to, "In-Reply-To")
    if mail.references:
        msg["References"] = checked(" ".join(mail.references), "References")
    for name, value in mail.headers:
        msg[name] = checked(value, name)
    msg.set_content(mail.body, subtype="plain", charset="utf-8", cte=_cte(mail.body))
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8", cte=_cte(mail.html))
    for item in mail.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        name = sanitize_filename(strip_controls(item.filename), "attachment")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=SMTP)
