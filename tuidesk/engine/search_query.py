"""The search language of the console's `/` and `tuidesk ticket search`, parsed into values,
and the matching of its words in a text (for highlighting and snippets). Pure: no database.

    printer "paper jam" -toner from:jane@example.com to:billing status:open assignee:me
    branch:SUP queue:Billing tag:vip has:attachment after:2026-01-01 before:2026-02-01 SUP-42

Words must all match, `-word` must not, `"a phrase"` matches its words in order, `word*` any
word that starts so (the merge picker makes the word being typed one); `key:value`
with a key not below is a plain word. A ref (`SUP-42`, or a number alone) names a ticket when
it is the only text of the query (storage decides whether `COVID-19` is a ref: only a branch's
key makes one)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from tuidesk.engine.enums import TicketStatus
from tuidesk.engine.refs import parse_ref

CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# An optional `-`, an optional `key:`, then a quoted phrase (the closing quote may be missing)
# or a run of non-space characters.
_TERM = re.compile(r'(-)?(?:([A-Za-z]+):)?(?:"([^"]*)"?|(\S+))')
# One ASCII address with a dotted domain: `from:` then means that address, not its words.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_LIST_KEYS = ("status", "branch", "queue", "tag")
_TEXT_KEYS = ("from", "to")


class QueryError(ValueError):
    """A query that cannot mean anything: a bad date, status or `has:`."""


@dataclass(frozen=True)
class Query:
    words: tuple[str, ...] = ()  # each must match; a word of several tokens is a phrase
    phrases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()  # `word*`: its last word may go on (`pass*` finds password)
    excluded: tuple[str, ...] = ()  # words or phrases no document of the ticket may hold
    senders: tuple[str, ...] = ()  # from: (the sender of a message, or the requester; a whole
    # address is that address exactly, any case: `whole_address`)
    recipients: tuple[str, ...] = ()  # to: (To and Cc)
    statuses: tuple[str, ...] = ()  # any of them
    assignees: tuple[str, ...] = ()  # any of: "me", "none", an agent's name or address
    branches: tuple[str, ...] = ()  # any, by key or name
    queues: tuple[str, ...] = ()  # any
    channels: tuple[str, ...] = ()  # any; the console's filter, not in the language
    tags: tuple[str, ...] = ()  # every one
    has_attachment: bool = False
    after: date | None = None  # updated on or after
    before: date | None = None  # updated before
    refs: tuple[tuple[str | None, int], ...] = field(default=())

    @property
    def texts(self) -> tuple[str, ...]:
        """Everything the full-text index must find in one document."""
        return self.words + self.phrases + self.prefixes + self.senders + self.recipients

    @property
    def empty(self) -> bool:
        return self == Query()


def parse_query(text: str) -> Query:
    """The query `text` asks for; QueryError when a known key has a value it cannot take."""
    found: dict[str, list[object]] = {}
    after = before = None
    has_attachment = False
    for match in _TERM.finditer(text):
        negated, key, quoted, bare = match.groups()
        value = quoted if quoted is not None else bare
        name = key.lower() if key else None
        if name in (*_LIST_KEYS, *_TEXT_KEYS, "assignee", "has", "before", "after"):
            if not value.strip():
                raise QueryError(f"{name}: needs a value")
            if negated:
                raise QueryError(f"-{name}: is not supported; only words can be excluded")
        if name == "status":
            if value.lower() not in tuple(TicketStatus):
                raise QueryError(
                    f"status:{value}: no such status ({', '.join(tuple(TicketStatus))})"
                )
            found.setdefault("statuses", []).append(value.lower())
        elif name in ("branch", "queue", "tag"):
            found.setdefault(f"{name}{'es' if name == 'branch' else 's'}", []).append(value)
        elif name == "from":
            found.setdefault("senders", []).append(value)
        elif name == "to":
            found.setdefault("recipients", []).append(value)
        elif name == "assignee":
            found.setdefault("assignees", []).append(value)
        elif name == "has":
            if value.lower() not in ("attachment", "attachments"):
                raise QueryError(f"has:{value}: only has:attachment is known")
            has_attachment = True
        elif name in ("before", "after"):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise QueryError(f"{name}:{value}: give a date as YYYY-MM-DD") from None
            if name == "before":
                before = day
            else:
                after = day
        else:
            whole = match.group(0).removeprefix("-") if quoted is None else value
            prefix = quoted is None and whole.endswith("*") and not is_cjk(whole)
            whole = whole.rstrip("*") if quoted is None else whole
            if not tokens(whole):
                continue  # nothing a document could hold, such as `-` or `""`
            bucket = (
                "excluded" if negated
                else "phrases" if quoted is not None
                else "prefixes" if prefix
                else "words"
            )  # fmt: skip
            found.setdefault(bucket, []).append(whole)
    refs: list[tuple[str | None, int]] = []
    words = found.get("words", [])
    if len(words) == 1 and not found.get("phrases"):
        ref = parse_ref(str(words[0]))
        if ref is not None:
            refs.append(ref)
    return Query(
        **{name: tuple(values) for name, values in found.items()},  # type: ignore[arg-type]
        has_attachment=has_attachment,
        after=after,
        before=before,
        refs=tuple(refs),
    )


_TYPED_WORD = re.compile(r'(?:^|\s)([^\s:"*-][^\s:"*]*)$')


def as_typed(text: str) -> str:
    """A query being typed: the word at its end, not yet finished, matches as a prefix
    (`print` finds printer). Not after a space, nor a `-word`, `key:value`, phrase or ref."""
    last = _TYPED_WORD.search(text)
    if last is None or parse_ref(last[1]) is not None or not _WORD.fullmatch(last[1]):
        return text
    return text + "*"


def fold(text: str) -> str:
    """Case and accents gone, as the index compares words (`Crème` is `creme`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """The words of `text` as the index splits it: runs of letters and digits."""
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def is_cjk(token: str) -> bool:
    """CJK text has no spaces between words: it is matched as a substring, not a word."""
    return CJK.search(token) is not None


def whole_address(value: str) -> str | None:
    """`value` lower-cased when it is one whole ASCII address (`from:jane@example.com`): it
    finds her mail and tickets only, not `mary.jane@example.com`'s, and storage looks it up by
    address. Anything else (`from:jane`, `from:"Jane Doe"`) matches as words."""
    return value.lower() if _ADDRESS.fullmatch(value) else None


def highlight_terms(query: Query) -> tuple[str, ...]:
    """The words to mark in what a search found, folded; a prefix's last word ends in `*`."""
    found = [fold(t) for text in query.texts for t in tokens(text)]
    for prefix in query.prefixes:
        last = fold(tokens(prefix)[-1])
        found = [t for t in found if t != last] + [f"{last}*"]
    return tuple(dict.fromkeys(t for t in found if t))


def match_spans(text: str, terms: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where in `text` the terms (from highlight_terms) occur: whole words, any case and
    accents, or anywhere for CJK; sorted, not overlapping."""
    if not terms or not text:
        return []
    folded, origin = _folded_with_origin(text)
    spans: list[tuple[int, int]] = []
    # The word first, then that no letter or digit is before it: with the look-behind first,
    # re tries it at every character (17 of the 18 µs a word took in a 700-character body).
    for term in terms:
        word = re.escape(term.removesuffix("*"))
        if is_cjk(term):
            pattern = re.escape(term)
        elif term.endswith("*"):
            pattern = rf"{word}(?<![^\W_]{word})[^\W_]*"
        else:
            pattern = rf"{word}(?<![^\W_]{word})(?![^\W_])"
        for found in re.finditer(pattern, folded):
            start, end = origin[found.start()], origin[found.end() - 1] + 1
            spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _folded_with_origin(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index in `text` it came from.
    ASCII folds to its lower case, character for character, so only the runs outside ASCII
    are folded one character at a time (a long mail body has few)."""
    parts: list[str] = []
    origin: list[int] = []
    at = 0
    for run in _NON_ASCII.finditer(text):
        start, end = run.span()
        parts.append(text[at:start].lower())
        origin.extend(range(at, start))
        for index in range(start, end):
            folded = fold(text[index])
            parts.append(folded)
            origin.extend([index] * len(folded))
        at = end
    parts.append(text[at:].lower())
    origin.extend(range(at, len(text)))
    return "".join(parts), origin


def snippet(text: str, terms: tuple[str, ...], width: int = 160, *, or_start: bool = True) -> str:
    """A line of `text` around its first match, the matching words in [brackets]; white space
    collapsed. When nothing matches, the start of the text (`or_start`) or ""."""
    flat = " ".join(text.split())
    spans = match_spans(flat, terms)
    if not spans:
        return flat[:width] + ("…" if len(flat) > width else "") if or_start else ""
    start = max(0, spans[0][0] - width // 3)
    if start:
        space = flat.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start - space < 20 else start
    end = min(len(flat), start + width)
    out: list[str] = ["…" if start else ""]
    cursor = start
    for s, e in spans:
        if s < start or e > end:
            continue
        out += [flat[cursor:s], "[", flat[s:e], "]"]
        cursor = e
    out += [flat[cursor:end], "…" if end < len(flat) else ""]
    return "".join(out)
