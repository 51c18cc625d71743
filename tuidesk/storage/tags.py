"""A ticket's tags: short lower-case words agents put on tickets to find and group them. One
spelling per tag (normalized here), so `Billing ` and `billing` are one tag."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from tuidesk.storage.history import Actor, record
from tuidesk.storage.outbox import OutboundError, find_ticket
from tuidesk.storage.tables import tables, utcnow

TAG_LIMIT = 40
_FORBIDDEN = re.compile(r"[\s,\x00-\x1f\x7f-\x9f]")


class TagError(ValueError):
    pass


@dataclass(frozen=True)
class Tagged:
    ref: str
    tags: tuple[str, ...]  # all of them now, sorted
    added: tuple[str, ...]
    removed: tuple[str, ...]


def normalize_tag(text: str) -> str:
    """`Billing` → `billing`. Refused: empty, spaces, commas or control characters inside (a tag
    is one word, and a comma separates tags where they are listed), longer than TAG_LIMIT."""
    tag = text.strip().lower()
    if not tag:
        raise TagError("a tag is not empty")
    if _FORBIDDEN.search(tag):
        raise TagError(f"tag {tag!r}: one word, without spaces, commas or control characters")
    if len(tag) > TAG_LIMIT:
        raise TagError(f"tag {tag[:TAG_LIMIT]}…: at most {TAG_LIMIT} characters")
    return tag


def parse_changes(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """(added, removed) from `+a -b c` (a bare word adds it); words may also be separated by
    commas. A tag both added and removed is refused."""
    added: list[str] = []
    removed: list[str] = []
    for given in words:
        for word in given.replace(",", " ").split():
            into = removed if word.startswith("-") else added
            tag = normalize_tag(word[1:] if word[0] in "+-" else word)
            if tag not in into:
                into.append(tag)
    both = set(added) & set(removed)
    if both:
        raise TagError(f"both added and removed: {', '.join(sorted(both))}")
    return added, removed


def parse_edit(text: str, current: Sequence[str]) -> tuple[list[str], list[str]]:
    """(added, removed) from what an agent typed: changes (`+a -b`, as `ticket tag` takes
    them) when any word starts with + or -, else the whole list the ticket is to have."""
    words = text.replace(",", " ").split()
    if any(word[0] in "+-" for word in words):
        return parse_changes(words)
    wanted = [normalize_tag(word) for word in words]
    return sorted(set(wanted) - set(current)), sorted(set(current) - set(wanted))


def ticket_tags(conn: Connection, numbers: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each of these tickets' tags, sorted (a ticket without any is left out)."""
    if not numbers:
        return {}
    tag = tables(conn).ticket_tag
    found: dict[int, list[str]] = defaultdict(list)
    rows = conn.execute(
        select(tag.c.ticket_id, tag.c.tag)
        .where(tag.c.ticket_id.in_(list(numbers)))
        .order_by(tag.c.ticket_id, tag.c.tag)
    )
    for number, name in rows:
        found[number].append(name)
    return {number: tuple(names) for number, names in found.items()}


def change_tags(
    conn: Connection, ref: str, added: Sequence[str], removed: Sequence[str], actor: Actor
) -> Tagged:
    """Add and remove tags on the ticket `ref` names, in the caller's transaction; a `tags`
    event with what actually changed (none when nothing did)."""
    try:
        found = find_ticket(conn, ref)
    except OutboundError as exc:
        raise TagError(str(exc)) from exc
    number = found.number
    before = set(ticket_tags(conn, [number]).get(number, ()))
    adding = sorted({normalize_tag(a) for a in added} - before)
    removing = sorted({normalize_tag(r) for r in removed} & before)
    write_tags(conn, number, adding, removing, actor, utcnow())
    now_tags = tuple(sorted((before | set(adding)) - set(removing)))
    return Tagged(found.ref, now_tags, tuple(adding), tuple(removing))


def write_tags(
    conn: Connection,
    number: int,
    adding: Sequence[str],
    removing: Sequence[str],
    actor: Actor,
    at: datetime,
) -> None:
    """Store a change already checked against the ticket's tags (`adding` it has not,
    `removing` it has, both normalized) with its `tags` event; nothing when there is none.
    Also what a merge calls to carry the source's tags over."""
    if not adding and not removing:
        return
    t = tables(conn)
    if adding:
        conn.execute(insert(t.ticket_tag), [{"ticket_id": number, "tag": a} for a in adding])
    if removing:
        conn.execute(
            delete(t.ticket_tag).where(
                t.ticket_tag.c.ticket_id == number, t.ticket_tag.c.tag.in_(removing)
            )
        )
    conn.execute(t.ticket.update().where(t.ticket.c.id == number).values(updated_at=at))
    data = {"added": list(adding), "removed": list(removing)}
    record(conn, number, "tags", actor, data, at=at)
