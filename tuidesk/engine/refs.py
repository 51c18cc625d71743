"""The one grammar of ticket refs. A branch key is a letter then up to 15 letters or digits;
`SUP-42` is ticket 42 of branch SUP, and the number alone names the ticket too. In a subject a
ref's number has at most nine digits, which keeps it inside a 32-bit ticket number."""

from __future__ import annotations

import re
from collections.abc import Iterator

KEY = r"[A-Za-z][A-Za-z0-9]{0,15}"
_KEY = re.compile(rf"^{KEY}$")
_REF = re.compile(rf"^\s*(?:({KEY})-)?(\d+)\s*$")
_IN_TEXT = re.compile(rf"\b({KEY})-(\d{{1,9}})\b")


def ticket_ref(key: str, number: int) -> str:
    return f"{key}-{number}"


def is_key(text: str) -> bool:
    return _KEY.match(text) is not None


def parse_ref(text: str) -> tuple[str | None, int] | None:
    """`SUP-42` (any case; the key comes back upper-case) or `42`."""
    match = _REF.match(text)
    if match is None:
        return None
    return (match.group(1).upper() if match.group(1) else None), int(match.group(2))


def refs_in(text: str) -> Iterator[tuple[str, int]]:
    """Every `KEY-N` in a subject, the right-most first (the newest ref a reply carries)."""
    for match in reversed(list(_IN_TEXT.finditer(text))):
        yield match.group(1), int(match.group(2))
