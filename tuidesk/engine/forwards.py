"""Whose mail a forward carries: the From of the forwarded message, so a ticket an agent forwards
on a customer's behalf can be the customer's.

Mail programs write the forwarded mail's header block under a marker line: Gmail's
"---------- Forwarded message ---------", Thunderbird's "-------- Forwarded Message --------",
Apple Mail's "Begin forwarded message:" (each translated), Outlook's "-----Original Message-----"
or just its From:/Sent:/To:/Subject: block; or they attach the whole mail (message/rfc822)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import compat32

from tuidesk.engine.parse import Address, ParsedMail, parse_addresses
from tuidesk.engine.quotes import FORWARD_MARKER, ORIGINAL_MESSAGE
from tuidesk.engine.text import clean_line, strip_controls

# Subjects that say "forward" (Fwd:, FW:, WG:, TR:, RV:, Italian I:, Dutch Doorst:) and "reply".
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|wg|tr|rv|i|doorst)\s*:", re.I)
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|sv|vs|antw|rif|r|odp|res)\s*(\[\d+\])?\s*:", re.I)

_SPACE = r"[ \t\u00a0\u202f]*"  # French typography puts a (narrow) no-break space before ':'
# Lines worth a closer look; one search over the whole text finds them without a Python loop
# over every line of a long mail.
_CANDIDATE = re.compile(
    rf"^[ \t*]*(?:-{{2,}}|begin\s|anfang\s|début\s|inicio\s|(?:from|von|de|da){_SPACE}:)",
    re.I | re.M,
)
_FROM = re.compile(rf"^(?:from|von|de|da){_SPACE}:{_SPACE}(?P<value>.+)$", re.I)
# Outlook's second line of the block: when it was sent ("Enviado el:" in Spanish Outlook).
_SENT = re.compile(
    rf"^(?:sent|date|gesendet|datum|envoyé|enviado(?:\s+el)?|fecha|inviato|data){_SPACE}:", re.I
)
_ORIGINAL = re.compile(ORIGINAL_MESSAGE, re.I)
_EMAIL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# Outlook's real address is the mailto: one ("Name [mailto:a@b]", "Name <a@b<mailto:a@b>>");
# else the one in angle brackets, else the first one written.
_ADDRESSES = (
    re.compile(rf"mailto:({_EMAIL})", re.I),
    re.compile(rf"<({_EMAIL})>"),
    re.compile(rf"({_EMAIL})"),
)
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_HEAD_LIMIT = 64 * 1024  # of an attached message: its header block, however long its body
_BLOCK_LINES = 12  # a forwarded header block: From, Date, Subject, To and Cc, wrapped
_VALUE_LIMIT = 1000


def is_forward_subject(subject: str) -> bool:
    return _FORWARD_SUBJECT.match(subject) is not None


def is_forward(mail: ParsedMail) -> bool:
    """A forward by its subject, or a whole mail attached (Outlook's "Forward as attachment"),
    whether or not the forwarded mail names its sender."""
    return is_forward_subject(mail.subject) or any(
        a.content_type == "message/rfc822" for a in mail.attachments
    )


@dataclass(frozen=True)
class Forwarded:
    """The author of the forwarded mail, and where it was found (for the decision's step)."""

    sender: Address
    how: str


def forwarded_sender(mail: ParsedMail) -> Forwarded | None:
    """The sender of the mail this one forwards; None when it forwards none, or names no
    address for it. An attached message (Outlook's "Forward as attachment") comes first, else
    the first forwarded block of the text: anything below that block is older history.
    Outlook writes the very same block above a mail it answers, so its blocks count only
    when the subject is not a reply's (Re:, AW:...)."""
    for part in mail.attachments:
        if part.content_type == "message/rfc822" and part.data:
            head = _HEAD_END.split(part.data[:_HEAD_LIMIT], maxsplit=1)[0]  # the body waits
            inner = BytesParser(policy=compat32).parsebytes(head, headersonly=True)
            senders = parse_addresses(inner, "From")
            if senders:
                return Forwarded(senders[0], f"the attached message {part.filename}")
    return _inline(mail.text, outlook=not _REPLY_SUBJECT.match(mail.subject))


def _inline(text: str, *, outlook: bool) -> Forwarded | None:
    lines: list[str] = []
    number, counted = 0, 0  # the candidate's line number: newlines counted up to it
    for match in _CANDIDATE.finditer(text):
        lines = lines or text.split("\n")
        number += text.count("\n", counted, match.start())
        counted = match.start()
        line = _probe(lines[number])
        if FORWARD_MARKER.match(line) or (outlook and _ORIGINAL.match(line)):
            block = lines[number + 1 : number + 1 + _BLOCK_LINES]
            return _block_sender(block, f"the mail under {line!r}")
        below = lines[number + 1 : number + 4]
        if outlook and _FROM.match(line) and any(_SENT.match(_probe(n)) for n in below):
            return _address_of(line, "an Outlook header block (From:, Sent:)")
    return None


def _probe(line: str) -> str:
    """A line as its label is matched: no edges, controls or bold asterisks."""
    return strip_controls(line[:_VALUE_LIMIT]).replace("*", "").strip()


def _block_sender(block: list[str], how: str) -> Forwarded | None:
    """The From line of the header block under a marker (Apple Mail leaves a blank line first;
    Thunderbird writes Subject and Date before From)."""
    probes = [_probe(line) for line in block]
    while probes and not probes[0]:
        probes.pop(0)
    for line in probes:
        if not line:
            break
        if _FROM.match(line):
            return _address_of(line, how)
    return None


def _address_of(line: str, how: str) -> Forwarded | None:
    match = _FROM.match(line)
    if match is None:
        return None
    value = match["value"]
    for pattern in _ADDRESSES:
        found = pattern.search(value)
        if found:
            name = re.split(r"[<\[(]|" + re.escape(found[1]), value, maxsplit=1)[0]
            name = clean_line(name, 200).strip(" \"'")
            return Forwarded(Address("" if "@" in name else name, found[1].lower()), how)
    return None  # Outlook names some senders only: no address to answer
