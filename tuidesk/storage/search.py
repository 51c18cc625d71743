"""Running a parsed search (engine.search_query) on the full-text index (storage.search_index):
tickets ranked by their best document, the newest first among equals, each with a snippet.

Design, for a million tickets and four million messages:
- One ranking statement per search, the same shape on SQLite (FTS5 MATCH, bm25) and
  PostgreSQL (tsvector @@ tsquery, ts_rank); no Python per matching row, only per ticket
  shown. PostgreSQL finds the documents to rank first, in a few windows of ids
  (`_pg_newest`), as its GIN index cannot give the newest matches first.
- A document is a message (id > 0) or a ticket's title and requester (id = -number; on
  PostgreSQL in search_title by number). A ticket matches when one of its documents holds
  every word, phrase, from: and to: of the query; a `-word` excludes the ticket when any of
  its documents holds it (checked for the ranked tickets only, from their own few documents).
  The message's ticket is joined at query time, so a merge re-indexes nothing. A `from:` with
  a whole address is that address (the message's From, the ticket's requester), checked on
  the message and the contact besides the index's words; alone, PostgreSQL reads the sender's
  mail by an index on the address instead (`_pg_by_sender`).
- Bounded ranking: the matching documents are read newest first (by id: FTS5 walks its
  doclists in rowid order; PostgreSQL reads windows of ids, newest first) and only the
  newest CANDIDATES messages and CANDIDATES tickets are ranked (scored after the bound,
  never for every match). A rare word ranks all of its matches; a common one ranks the
  recent ones, and the total it reports counts the tickets among those (`exact` is False
  then): counting every ticket a common word touches would read millions of rows on every
  keystroke.
- Ticket filters (status, assignee, branch, queue, tag, dates, has:attachment) are applied
  while the documents are read, before the bound, so a narrow filter still finds old matches.
- Words are split and folded in Python the way the indexes split them (runs of letters and
  digits, case and accents aside), then quoted: a query can never be a syntax error in FTS5 or
  to_tsquery. CJK words (no spaces) are matched as substrings in the trigram index instead.
- Snippets are made in Python from the best document of each ticket shown (engine's
  `snippet`), so they read the same on both databases."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Connection, bindparam, text

from tuidesk.engine.refs import ticket_ref
from tuidesk.engine.search_query import (
    Query,
    fold,
    highlight_terms,
    is_cjk,
    snippet,
    tokens,
    whole_address,
)
from tuidesk.storage.search_index import PG_WEIGHTS, SQLITE_WEIGHTS
from tuidesk.storage.tables import aware, tables

CANDIDATES = 1000
WINDOW = 1 << 11  # the ids PostgreSQL's first window of a search reads (_pg_newest)
_COLUMNS = ("body", "subject", "files", "sender", "recipients")  # where a snippet is looked for


@dataclass(frozen=True)
class FoundTicket:
    number: int
    ref: str
    title: str
    status: str
    updated_at: datetime
    snippet: str  # the matching words in [brackets]


@dataclass(frozen=True)
class SearchResult:
    tickets: list[FoundTicket]
    total: int  # tickets matching; a lower bound when not `exact`
    exact: bool
    terms: tuple[str, ...]  # the folded words to highlight (engine.search_query.match_spans)


def search(
    conn: Connection, query: Query, *, agent_id: int | None = None, limit: int | None = 50
) -> SearchResult:
    """The tickets `query` finds, best first; `agent_id` is who `assignee:me` means."""
    ranked, total, exact = _ranked(conn, query, agent_id, limit)
    terms = highlight_terms(query)
    if not ranked:
        return SearchResult([], total, exact, terms)
    numbers = [number for number, _ in ranked]
    t = tables(conn)
    ticket, branch = t.ticket, t.branch
    rows = {
        r.id: r
        for r in conn.execute(
            ticket.select()
            .with_only_columns(
                ticket.c.id, ticket.c.title, ticket.c.status, ticket.c.updated_at, branch.c.key
            )
            .join_from(ticket, branch, branch.c.id == ticket.c.branch_id)
            .where(ticket.c.id.in_(numbers))
        )
    }
    docs = _documents(conn, [doc for _, doc in ranked if doc is not None])
    found = []
    for number, doc in ranked:
        row = rows[number]
        found.append(
            FoundTicket(
                number=number,
                ref=ticket_ref(row.key, number),
                title=row.title,
                status=row.status,
                updated_at=aware(row.updated_at),
                snippet=_snippet(docs.get(doc, {}), terms) if doc is not None else "",
            )
        )
    return SearchResult(found, total, exact, terms)


def ranked_ids(conn: Connection, query: Query, *, agent_id: int | None = None) -> list[int]:
    """Every ticket number `query` finds (within the ranking bound), best first: the
    console's list of a search."""
    return [number for number, _ in _ranked(conn, query, agent_id, None)[0]]


def _documents(conn: Connection, ids: list[int]) -> dict[int, dict[str, str]]:
    """The indexed text of these documents (a ticket's by minus its number)."""
    if not ids:
        return {}
    columns = ", ".join(_COLUMNS)
    if conn.dialect.name == "postgresql":
        statement = (
            f"SELECT id, {columns} FROM search_doc WHERE id IN :ids "
            f"UNION ALL SELECT -id, {columns} FROM search_title WHERE id IN :titles"
        )
    else:
        statement = f"SELECT rowid AS id, {columns} FROM search_doc WHERE rowid IN :ids"
    query = text(statement).bindparams(
        *(bindparam(name, expanding=True) for name in ("ids", "titles") if f":{name}" in statement)
    )
    values = {"ids": ids, "titles": [-i for i in ids if i < 0] or [0]}
    return {r.id: dict(r._mapping) for r in conn.execute(query, values)}


def _snippet(doc: dict[str, str], terms: tuple[str, ...]) -> str:
    """From the first column with a match (each looked through once: a body is long)."""
    for column in _COLUMNS:
        found = snippet(doc.get(column) or "", terms, or_start=False)
        if found:
            return found
    return snippet(doc.get("subject") or doc.get("body") or "", terms)


class _Sql:
    """A statement being put together: its text pieces and bound values."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.types: dict[str, Any] = {}  # a bound value's column type, where it matters

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def value(self, bound: str) -> Any:
        """The value `bind` gave the name `bound` (`:p3`)."""
        return self.params[bound.removeprefix(":")]

    def values(self, values: tuple[str, ...]) -> str:
        return "(" + ", ".join(self.bind(v) for v in values) + ")"


def _ranked(
    conn: Connection, query: Query, agent_id: int | None, limit: int | None
) -> tuple[list[tuple[int, int | None]], int, bool]:
    """(ticket number, the document to quote or None) best first, the total, whether exact.
    A ticket ranks by its best document; the quote is from its best message, the title
    being shown anyway."""
    pg = conn.dialect.name == "postgresql"
    sql = _Sql()
    query = _with_ref(conn, query)
    filters = _filters(conn, query, agent_id, sql)
    fts, cjk = _text_terms(query, pg, sql)
    sender = _sender(query, pg, sql)
    negation = _negation(query.excluded, pg, sql)
    ticket_filters = "".join(f" AND {f}" for f in filters)
    end = f" LIMIT {int(limit)}" if limit is not None else ""
    if not fts and not cjk:
        statement = (
            f"SELECT t.id AS ticket_id, NULL AS doc, count(*) OVER () AS total, "
            f"0 AS message_docs, 0 AS ticket_docs FROM ticket AS t WHERE 1 = 1{ticket_filters}"
            f"{negation.replace('{tid}', 't.id')} ORDER BY t.updated_at DESC, t.id DESC{end}"
        )
    else:
        hits = _hits(conn, fts, cjk, pg, sql, ticket_filters, sender)
        if hits is None:
            return [], 0, True
        statement = f"""
            WITH hits AS ({hits}),
            best AS (SELECT ticket_id, doc, max(score) OVER (PARTITION BY ticket_id) AS score,
                     row_number() OVER (PARTITION BY ticket_id ORDER BY
                         CASE WHEN doc > 0 THEN 0 ELSE 1 END, score DESC, doc DESC) AS n
                     FROM hits)
            SELECT b.ticket_id, b.doc, count(*) OVER () AS total,
                (SELECT count(*) FROM hits WHERE doc > 0) AS message_docs,
                (SELECT count(*) FROM hits WHERE doc < 0) AS ticket_docs
            FROM best AS b JOIN ticket AS t ON t.id = b.ticket_id
            WHERE b.n = 1{negation.replace("{tid}", "b.ticket_id")}
            ORDER BY b.score DESC, t.updated_at DESC, t.id DESC{end}"""
    typed = [bindparam(name, type_=kind) for name, kind in sql.types.items()]
    rows = conn.execute(text(statement).bindparams(*typed), sql.params).all()
    if not rows:
        return [], 0, True
    first = rows[0]
    exact = first.message_docs < CANDIDATES and first.ticket_docs < CANDIDATES
    return [(r.ticket_id, r.doc) for r in rows], int(first.total), exact


def _with_ref(conn: Connection, query: Query) -> Query:
    """A lone `SUP-42` or `42` names the ticket, when SUP is a branch's key: no text then."""
    if not query.refs:
        return query
    key, number = query.refs[0]
    if key is not None:
        branch = tables(conn).branch
        known = conn.execute(
            branch.select().with_only_columns(branch.c.id).where(branch.c.key == key.upper())
        ).first()
        if known is None:
            return replace(query, refs=())
    return replace(query, words=())


def _filters(conn: Connection, query: Query, agent_id: int | None, sql: _Sql) -> list[str]:
    """Conditions on the ticket (alias t)."""
    out: list[str] = []
    if query.refs and not query.words:
        out.append(f"t.id = {sql.bind(query.refs[0][1])}")
    if query.statuses:
        out.append(f"t.status IN {sql.values(query.statuses)}")
    if query.assignees:
        either = []
        for who in query.assignees:
            if who.lower() == "none":
                either.append("t.assignee_id IS NULL")
            elif who.lower() == "me":
                either.append(f"t.assignee_id = {sql.bind(agent_id or -1)}")
            else:
                name = sql.bind(who.lower())
                either.append(
                    f"t.assignee_id IN (SELECT id FROM agent WHERE lower(name) = {name} "
                    f"OR lower(email) = {name} OR lower(login) = {name})"
                )
        out.append("(" + " OR ".join(either) + ")")
    if query.branches:
        keys = sql.values(tuple(b.upper() for b in query.branches))
        names = sql.values(tuple(b.lower() for b in query.branches))
        out.append(
            f"t.branch_id IN (SELECT id FROM branch WHERE key IN {keys} OR lower(name) IN {names})"
        )
    if query.queues:
        names = sql.values(tuple(q.lower() for q in query.queues))
        out.append(f"t.queue_id IN (SELECT id FROM queue WHERE lower(name) IN {names})")
    if query.channels:
        out.append(
            f"t.channel_id IN (SELECT id FROM channel WHERE name IN {sql.values(query.channels)})"
        )
    for tag in query.tags:
        out.append(
            "EXISTS (SELECT 1 FROM ticket_tag AS g WHERE g.ticket_id = t.id "
            f"AND lower(g.tag) = {sql.bind(tag.lower())})"
        )
    if query.has_attachment:
        out.append(
            "EXISTS (SELECT 1 FROM message AS ma JOIN attachment AS a ON a.message_id = ma.id "
            "WHERE ma.ticket_id = t.id)"
        )
    updated = tables(conn).ticket.c.updated_at.type
    for day, op in ((query.after, ">="), (query.before, "<")):
        if day is not None:
            name = sql.bind(_midnight(day))
            sql.types[name[1:]] = updated  # so SQLite compares its stored form of a time
            out.append(f"t.updated_at {op} {name}")
    return out


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class _Sender:
    """`from:` with whole addresses (engine's `whole_address`): conditions on a message (alias m)
    and on a ticket (alias t), each empty when there are none; and on PostgreSQL the match
    expression left once they hold (their words are in those documents by definition; None
    when nothing is left)."""

    messages: str = ""
    tickets: str = ""
    rest: str | None = None


def _sender(query: Query, pg: bool, sql: _Sql) -> _Sender:
    addresses = [a for a in map(whole_address, query.senders) if a is not None]
    if not addresses:
        return _Sender()
    bound = [sql.bind(a) for a in addresses]
    words = tuple(s for s in query.senders if whole_address(s) is None)
    return _Sender(
        messages="".join(f" AND lower(m.from_email) = {a}" for a in bound),
        tickets="".join(
            f" AND t.requester_id IN (SELECT id FROM contact WHERE email_key = {a})" for a in bound
        ),
        rest=_text_terms(replace(query, senders=words), pg, sql)[0] if pg else None,
    )


def _text_terms(query: Query, pg: bool, sql: _Sql) -> tuple[str | None, list[str]]:
    """The bound match expression every document must satisfy (None: no words outside CJK),
    and the CJK substrings it must hold too."""
    parts: list[str] = []
    cjk: list[str] = []
    for column, values, prefix in (
        (None, query.words + query.phrases, False),
        (None, query.prefixes, True),
        ("sender", query.senders, False),
        ("recipients", query.recipients, False),
    ):
        found, substrings = _phrases(values, column, pg, prefix)
        parts += found
        cjk += substrings
    if not parts:
        return None, cjk
    return sql.bind((" & " if pg else " AND ").join(parts)), cjk


def _phrases(
    values: tuple[str, ...], column: str | None, pg: bool, prefix: bool = False
) -> tuple[list[str], list[str]]:
    """Each text's words outside CJK as a phrase of the index's syntax (its last word a
    prefix when `prefix`); its CJK words."""
    phrases: list[str] = []
    cjk: list[str] = []
    for value in values:
        words = tokens(value)
        cjk += [w for w in words if is_cjk(w)]
        plain = [w for w in words if not is_cjk(w)]
        if plain:
            phrases.append(_phrase(plain, column, pg, prefix))
    return phrases, cjk


def _phrase(words: list[str], column: str | None, pg: bool, prefix: bool = False) -> str:
    """Words in this order, quoted (they are letters and digits only), in one column or any;
    with `prefix`, the last word matches any word it begins."""
    if pg:
        weight = {"sender": "A", "recipients": "B"}.get(column or "", "")
        labels = [weight] * len(words)
        if prefix:
            labels[-1] = "*" + weight
        terms = (
            f"'{w}'" + (f":{label}" if label else "")
            for w, label in zip(words, labels, strict=True)
        )
        return "(" + " <-> ".join(terms) + ")"
    quoted = '"' + " ".join(words) + '"' + (" *" if prefix else "")
    return f"{column} : {quoted}" if column else quoted


_PG_QUERY = "to_tsquery('simple', unaccent({}))"
_PG_TERM = re.compile(r"'([^']+)'(:\*)?")  # a word of a tsquery _phrase wrote; `:*` a prefix


def _hits(
    conn: Connection,
    fts: str | None,
    cjk: list[str],
    pg: bool,
    sql: _Sql,
    ticket_filters: str,
    sender: _Sender,
) -> str | None:
    """The matching documents with their ticket and score: the newest CANDIDATES messages
    and CANDIDATES tickets (their titles), read in id order so the bound stops the scan."""
    if pg:
        return _pg_hits(conn, fts, cjk, sql, ticket_filters, sender)
    # CROSS JOIN keeps SQLite reading the index first, never the message table.
    if fts:
        driver = "search_doc"
        match = [f"search_doc MATCH {fts}"]
        score = f"-bm25(search_doc, {SQLITE_WEIGHTS})"
    else:
        driver = "search_cjk"
        match = [_sqlite_cjk_match(cjk.pop(0), sql)]
        score = "0.0"
    key = f"{driver}.rowid"
    match += [
        f"{key} IN (SELECT rowid FROM search_cjk WHERE {_sqlite_cjk_match(c, sql)})" for c in cjk
    ]
    where = " AND ".join(match)
    messages = (
        f"SELECT m.ticket_id AS ticket_id, {key} AS doc, {score} AS score FROM {driver} "
        f"CROSS JOIN message AS m ON m.id = {key} CROSS JOIN ticket AS t ON t.id = m.ticket_id "
        f"WHERE {where} AND {key} > 0{ticket_filters}{sender.messages} "
        f"ORDER BY {key} DESC LIMIT {CANDIDATES}"
    )
    titles = (
        f"SELECT t.id AS ticket_id, {key} AS doc, {score} AS score FROM {driver} "
        f"CROSS JOIN ticket AS t ON t.id = -{key} "
        f"WHERE {where} AND {key} < 0{ticket_filters}{sender.tickets} "
        f"ORDER BY {key} LIMIT {CANDIDATES}"
    )
    return f"SELECT * FROM ({messages}) AS hm UNION ALL SELECT * FROM ({titles}) AS ht"


def _pg_hits(
    conn: Connection,
    fts: str | None,
    cjk: list[str],
    sql: _Sql,
    ticket_filters: str,
    sender: _Sender,
) -> str | None:
    """PostgreSQL's: the newest CANDIDATES matching messages (search_doc) and titles
    (search_title), found first (`_pg_newest`, or by the sender when a whole address is all
    there is to find) and scored as they are read, outside each statement's bound (inside,
    a rank would be computed for every match before the sort); the statement returned ranks
    them by those scores. None when nothing matches."""
    find = sender.rest if sender.messages else fts
    like = [sql.bind(f"%{c}%") for c in cjk]
    match = ["{query}"] if find else []
    where = " AND ".join(match + [f"d.cjk ILIKE {p}" for p in like]) + ticket_filters
    query = _PG_QUERY.format(fts)
    # Without ticket filters the joins only cost: every document has its message and ticket.
    messages_from = "FROM search_doc AS d"
    joined = " JOIN message AS m ON m.id = d.id JOIN ticket AS t ON t.id = m.ticket_id"
    if ticket_filters or sender.messages:
        messages_from += joined
    titles_from = "FROM search_title AS d" + (
        " JOIN ticket AS t ON t.id = d.id" if ticket_filters or sender.tickets else ""
    )
    # A window's few documents are read in far less time than parallel workers take to
    # start or JIT takes to compile (14 ms of a 14 ms statement): neither, while they run;
    # and with the memory to keep a window's bitmap exact (at 4 MB, part of a 300,000-id
    # window's goes by page, and every document on those pages is re-checked: 10-20% more).
    # Set for the transaction: should a probe fail, the rollback sets them back (a finally
    # could not, in a failed transaction, and would hide the error).
    was = _pg_settings(
        conn, {"max_parallel_workers_per_gather": "0", "jit": "off", "work_mem": "32MB"}
    )
    # Each document found is scored where it is read (alias w), the query as a subquery:
    # computed once, not (unaccent and all) for every document; reading the thousand
    # documents again in the ranking statement was 8 of its 14 ms for the bench's phrase.
    score = f"ts_rank(CAST('{PG_WEIGHTS}' AS float4[]), w.doc, (SELECT {query}))" if fts else "0"
    if sender.messages and find is None and not cjk:
        messages, titles = _pg_by_sender(conn, sender, ticket_filters, sql, score)
    else:
        words = _PG_TERM.findall(sql.value(find)) if find else []
        messages = _pg_newest(
            conn, f"{messages_from} WHERE {where}{sender.messages}", _PG_QUERY.format(find),
            "search_doc", sql, words, score,
        )  # fmt: skip
        titles = _pg_newest(
            conn, f"{titles_from} WHERE {where}{sender.tickets}", _PG_QUERY.format(find),
            "search_title", sql, words, score,
        )  # fmt: skip
    _pg_settings(conn, was)
    if not messages and not titles:
        return None
    found = [
        f"unnest(CAST({sql.bind([i for i, _ in docs])} AS bigint[]), "
        f"CAST({sql.bind([s for _, s in docs])} AS float8[])) AS r(id, score)"
        for docs in (messages, titles)
    ]
    return (
        f"SELECT m.ticket_id, r.id AS doc, r.score FROM {found[0]} "
        f"JOIN message AS m ON m.id = r.id UNION ALL SELECT r.id, -r.id, r.score FROM {found[1]}"
    )


def _pg_by_sender(
    conn: Connection, sender: _Sender, ticket_filters: str, sql: _Sql, score: str
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """`from:` a whole address and nothing else to find: the newest CANDIDATES of the
    sender's messages (an index on the address and id gives them in order, 1.5 ms for the
    busiest sender at a million tickets, where the words of an address are re-checked in every
    document holding them) and of the tickets the address requested, each with its `score`
    (an expression on its document, alias w)."""
    join = " JOIN ticket AS t ON t.id = m.ticket_id" if ticket_filters else ""
    typed = [bindparam(name, type_=kind) for name, kind in sql.types.items()]
    found = []
    for table, statement in (
        ("search_doc", f"SELECT m.id FROM message AS m{join} WHERE 1 = 1{sender.messages}"
         f"{ticket_filters} ORDER BY m.id DESC LIMIT {CANDIDATES}"),
        # `+ 0`: from the requester's few tickets, never walking every ticket by number.
        ("search_title", f"SELECT t.id FROM ticket AS t WHERE 1 = 1{sender.tickets}"
         f"{ticket_filters} ORDER BY t.id + 0 DESC LIMIT {CANDIDATES}"),
    ):  # fmt: skip
        scored = f"SELECT x.id, {score} FROM ({statement}) AS x JOIN {table} AS w ON w.id = x.id"
        found.append(
            [(r[0], r[1]) for r in conn.execute(text(scored).bindparams(*typed), sql.params)]
        )
    return found[0], found[1]


def _pg_settings(conn: Connection, settings: dict[str, str]) -> dict[str, str]:
    """Set these for the rest of the transaction (or until set back); their values before."""
    names = list(settings)
    columns = ", ".join(
        f"current_setting(:n{i}), set_config(:n{i}, :v{i}, true)" for i in range(len(names))
    )
    values = {f"n{i}": name for i, name in enumerate(names)}
    values |= {f"v{i}": settings[name] for i, name in enumerate(names)}
    row = conn.execute(text(f"SELECT {columns}"), values).one()
    return {name: row[2 * i] for i, name in enumerate(names)}


def _pg_newest(
    conn: Connection,
    source: str,
    query: str,
    table: str,
    sql: _Sql,
    words: list[tuple[str, str]],
    score: str,
) -> list[tuple[int, float]]:
    """The newest CANDIDATES documents `source` (FROM ... WHERE on alias d, with `{query}`
    where the tsquery's match goes) finds, newest first, read in windows of ids: each id with
    its `score` (an expression on the document, alias w), computed for those kept only.

    The GIN index gives its matches in no order: unbounded, PostgreSQL reads every document
    holding the words (for a phrase or a from:, re-checking their word positions) before it
    can keep the newest: 156,000 documents hold `printer`, `is` and `offline` at a million
    tickets, 1.6 s. In a window it reads only the window's, the GIN and primary-key bitmaps
    ANDed, if the planner sees that as cheaper; but its estimate of a tsquery's matches can
    be far off (one row for the 24,000 documents naming a busy sender), and it costs a match
    as nearly free, so it would also walk a wide window backwards one document at a time.
    - The first window is small (WINDOW ids) and walked backwards by the primary key, the
      match written as the function no index serves: enough for a common word, and the
      next is walked too while the density seen says it needs at most 8 WINDOWs.
    - The others hide the query in a subquery, planned at the default estimate of a match
      (0.5%), which makes the ANDed bitmaps the cheaper plan, and sort by `d.id + 0` so the
      planner cannot walk the key. Each is as wide as the density seen so far says is
      needed, at most 256 times the one before (a few matches are a poor sample); with none
      seen, 16 times the one before.
    - In those, the index is asked only for the query's rarest `words` ((word, `:*` or '')
      from the tsquery), the whole query checked in the documents it gives: reading a common
      word's list costs more than it saves (the phrase `printer is offline` at a million
      tickets: `is` is in 90% of the documents, `printer` and `offline` in the same 4.4%; its
      window took 120-140 ms asking for all three words, 75-90 for `offline`, under load).
    - Once a window is ten times as wide as the documents holding the words can be (pg_stats
      says how many at most), the index alone reads the rest, in one statement: ANDing a
      rare word's few documents with the key's bitmap of 500,000 ids cost 34 of 50 ms."""
    bottom, top = conn.execute(text(f"SELECT min(id), max(id) FROM {table}")).one()
    if top is None:
        return []
    typed = [bindparam(name, type_=kind) for name, kind in sql.types.items()]
    indexed: tuple[str, float | None] | None = None  # (match, most) once a window needs them
    found: list[tuple[int, float]] = []
    hi, width, walk = top, WINDOW, True
    while hi >= bottom and len(found) < CANDIDATES:
        lo = hi - width
        key = "d.id"
        if walk:  # the query as a subquery: computed once, not for every document
            match, order = f"ts_match_vq(d.doc, (SELECT {query}))", "d.id"
        else:
            indexed = indexed or _pg_indexed(conn, query, table, sql, words, top - bottom + 1)
            (match, most), order = indexed, "d.id + 0"
            if most is not None and width >= 10 * most:  # the index alone, to the bottom
                key, lo = "d.id + 0", bottom - 1
        # Numbers in the text, not bound: a statement run often is prepared by the driver,
        # and PostgreSQL then plans it once for any window, which for some is a slow plan.
        above = f" AND d.id > {lo}" if lo >= bottom else ""
        statement = text(
            f"SELECT w.id, {score} FROM (SELECT d.id, d.doc {source.format(query=match)}{above} "
            f"AND {key} <= {hi} ORDER BY {order} DESC LIMIT {CANDIDATES - len(found)}) AS w"
        ).bindparams(*typed)
        found += [(r[0], r[1]) for r in conn.execute(statement, sql.params)]
        hi = lo
        if found:  # the density seen so far, with a quarter to spare
            needed = (top - lo) * (CANDIDATES - len(found)) * 5 // (4 * len(found)) + 1
            walk = walk and needed <= 8 * WINDOW  # a common word: walking on is cheaper
            width = min(needed, 256 * width)  # a few matches are a poor sample
        else:  # a rare match (or a narrow filter): ever wider windows
            width, walk = 16 * width, False
    return found


def _pg_indexed(
    conn: Connection,
    query: str,
    table: str,
    sql: _Sql,
    words: list[tuple[str, str]],
    size: int,
) -> tuple[str, float | None]:
    """A window's match through the GIN index, asked for the rarest of `words` only: the words
    pg_stats does not list among the most common (a list of a few documents each) and the
    prefixes, or else the least common word; and the most documents of `size` those can all be
    in (None: not known). pg_stats says which words it lists, their share, and the least
    share among them (what a word not listed has at most). That decides only how fast, never
    what is found."""
    if not words:  # CJK substrings only
        return f"d.doc @@ (SELECT {query})", None
    rows = conn.execute(
        text(
            "SELECT x.e, x.f, s.most_common_elem_freqs[array_length(s.most_common_elems, 1) + 1] "
            "AS least FROM pg_stats AS s LEFT JOIN LATERAL unnest(CAST(CAST("
            "s.most_common_elems AS text) AS text[]), s.most_common_elem_freqs) AS x(e, f) "
            "ON x.e = ANY(:words) WHERE s.schemaname = current_schema() "
            f"AND s.tablename = '{table}' AND s.attname = 'doc'"
        ),
        {"words": [fold(w) for w, _ in words]},
    ).all()
    share = {r.e: r.f for r in rows if r.e is not None}
    rare = [(w, p) for w, p in words if p or fold(w) not in share]
    listed = [(w, p) for w, p in words if not p and fold(w) in share]
    if listed and not any(not p for _, p in rare):
        rare.append(min(listed, key=lambda word: share[fold(word[0])]))
    most = None
    if rows and rows[0].least is not None and rare and not any(p for _, p in rare):
        most = min(share.get(fold(w), rows[0].least) for w, _ in rare) * size
    if len(rare) == len(words):
        return f"d.doc @@ (SELECT {query})", most
    tsquery = " & ".join(f"'{w}'{p}" for w, p in dict.fromkeys(rare))
    return (
        f"d.doc @@ (SELECT {_PG_QUERY.format(sql.bind(tsquery))}) "
        f"AND ts_match_vq(d.doc, (SELECT {query}))"
    ), most


def _negation(excluded: tuple[str, ...], pg: bool, sql: _Sql) -> str:
    """A condition on `{tid}`, the ticket: none of its documents holds an excluded text."""
    if not excluded:
        return ""
    phrases, cjk = _phrases(excluded, None, pg)
    if pg:
        either = [f"x.cjk ILIKE {sql.bind(f'%{c}%')}" for c in cjk]
        if phrases:
            either.append(f"x.doc @@ {_PG_QUERY.format(sql.bind(' | '.join(phrases)))}")
        holds = " OR ".join(either)
        # Scalar subqueries, run for each ticket ranked: as NOT EXISTS, PostgreSQL would
        # anti-join every document the excluded word is in.
        return (
            " AND (SELECT count(*) FROM message AS mx JOIN search_doc AS x ON x.id = mx.id "
            f"WHERE mx.ticket_id = {{tid}} AND ({holds})) + (SELECT count(*) "
            f"FROM search_title AS x WHERE x.id = {{tid}} AND ({holds})) = 0"
        )
    docs = "(SELECT mx.id FROM message AS mx WHERE mx.ticket_id = {tid} UNION ALL SELECT -{tid})"
    out = ""
    if phrases:
        # From the ticket's few messages to the index by rowid: FTS5 then seeks each one,
        # never reading every document a common excluded word is in.
        words = sql.bind(" OR ".join(phrases))
        out += (
            " AND NOT EXISTS (SELECT 1 FROM message AS mx CROSS JOIN search_doc "
            "WHERE mx.ticket_id = {tid} AND search_doc.rowid = mx.id "
            f"AND search_doc MATCH {words}) AND NOT EXISTS (SELECT 1 FROM search_doc "
            f"WHERE search_doc.rowid = -{{tid}} AND search_doc MATCH {words})"
        )
    for c in cjk:
        out += (
            f" AND NOT EXISTS (SELECT 1 FROM search_cjk WHERE {_sqlite_cjk_match(c, sql)} "
            f"AND search_cjk.rowid IN {docs})"
        )
    return out


def _sqlite_cjk_match(term: str, sql: _Sql) -> str:
    """The trigram index takes LIKE for three characters or more; SQLite 3.40 finds nothing
    for a shorter pattern, so a two-character word reads the (CJK-only) table instead."""
    if len(term) >= 3:
        return f"search_cjk.text LIKE {sql.bind(f'%{term}%')}"
    return f"instr(search_cjk.text, {sql.bind(term)}) > 0"
