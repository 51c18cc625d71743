"""The full-text index: one document per message (keyed by the message's id) and one per ticket
(its title and its requester; on SQLite in the same table, keyed by minus the ticket's number).

Database triggers keep it right in the writer's own transaction, whoever writes (the engine's
apply, replies and notes, new tickets, a title edit, a contact's name learnt later, attachments),
so the index never disagrees with the data. A message's ticket is joined at query time, never
stored here: a merge that moves messages to another ticket re-indexes nothing.

Columns, the same on both databases: `sender` (From name and address; a ticket's requester),
`recipients` (To and Cc), `subject` (a ticket's title), `body` (the full text, plus the visible
text only where it adds words) and `files` (attachment names).

- SQLite: `search_doc` is an FTS5 table (unicode61, diacritics removed) and `search_cjk` an FTS5
  trigram table holding only the documents with CJK text, whose words have no spaces between
  them: a trigram index of every document would double the index for the few that need it.
- PostgreSQL: `search_doc` (messages) and `search_title` (tickets, keyed by the number: a
  table of their own gives the planner their own statistics, so a word common in mail but
  absent from titles is not looked for through a million titles) are plain tables with a
  weighted `simple` tsvector (sender A, recipients B, subject and files C, body D; accents
  removed with unaccent) under a GIN index; `cjk` holds the text of CJK documents only, under
  a pg_trgm GIN index. Punctuation is turned into spaces before PostgreSQL's parser sees the
  text, so an address or `e-mail` splits into the same words unicode61 makes of it.

`backfill` indexes what a database already holds (the migration runs it; so does a bulk load)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from sqlalchemy import Connection, text

# A body beyond this is not indexed further: PostgreSQL caps a tsvector at 1 MB, and both
# databases must see the same words.
BODY_LIMIT = 200_000
BATCH = 20_000
# Hiragana, katakana, CJK ideographs (with extension A and the compatibility block), Hangul.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# Weights: bm25 per column (sender, recipients, subject, body, files) on SQLite; ts_rank per
# class {D body, C subject and files, B recipients, A sender} on PostgreSQL.
SQLITE_WEIGHTS = "2.0, 2.0, 4.0, 1.0, 4.0"
PG_WEIGHTS = "{0.1, 0.4, 0.2, 0.2}"


def _message_doc(r: str, message_id: str, pg: bool) -> str:
    """The columns of a message's document from row alias `r` (NEW, or a table alias)."""
    if pg:
        people = f"""(SELECT string_agg(coalesce(j->>'name', '') || ' '
                      || coalesce(j->>'email', ''), ' ')
                      FROM (SELECT json_array_elements({r}."to") AS j
                            UNION ALL SELECT json_array_elements({r}.cc)) AS people)"""
    else:
        people = f"""(SELECT group_concat(coalesce(json_extract(j.value, '$.name'), '') || ' '
                      || coalesce(json_extract(j.value, '$.email'), ''), ' ')
                      FROM (SELECT value FROM json_each({r}."to")
                            UNION ALL SELECT value FROM json_each({r}.cc)) AS j)"""
    inside = "strpos" if pg else "instr"
    return f"""
        {r}.id,
        coalesce({r}.from_name, '') || ' ' || coalesce({r}.from_email, ''),
        coalesce({people}, ''),
        coalesce({r}.subject, ''),
        substr(CASE WHEN {inside}({r}.full_body, {r}.body) > 0 THEN {r}.full_body
                    ELSE {r}.full_body || ' ' || {r}.body END, 1, {BODY_LIMIT}),
        {_files(message_id, pg)}"""


def _files(message_id: str, pg: bool) -> str:
    names = "string_agg(a.filename, ' ' ORDER BY a.id)" if pg else "group_concat(a.filename, ' ')"
    return f"coalesce((SELECT {names} FROM attachment AS a WHERE a.message_id = {message_id}), '')"


def _ticket_doc(r: str, sign: str = "-") -> str:
    """A ticket's document: its requester as the sender, its title as the subject."""
    return f"""
        {sign}{r}.id,
        coalesce((SELECT c.name || ' ' || c.email FROM contact AS c
                  WHERE c.id = {r}.requester_id), ''),
        '', coalesce({r}.title, ''), '', ''"""


_SQLITE_COLUMNS = "rowid, sender, recipients, subject, body, files"


def _sqlite_cjk(rowids: str) -> str:
    """Statements that bring `search_cjk` in line with `search_doc` for these documents."""
    return f"DELETE FROM search_cjk WHERE rowid IN ({rowids}); {_sqlite_cjk_insert(rowids)};"


def _sqlite_cjk_insert(rowids: str) -> str:
    """Only documents with CJK text go into the trigram table."""
    whole = "sender || ' ' || recipients || ' ' || subject || ' ' || body || ' ' || files"
    return (
        f"INSERT INTO search_cjk (rowid, text) SELECT rowid, {whole} FROM search_doc "
        f"WHERE rowid IN ({rowids}) AND ({whole}) GLOB '*[{CJK_RANGES}]*'"
    )


def _sqlite_ddl() -> list[str]:
    message_doc = f"INSERT INTO search_doc ({_SQLITE_COLUMNS}) SELECT {{}};"
    ticket_doc = f"INSERT INTO search_doc ({_SQLITE_COLUMNS}) SELECT {_ticket_doc('new')};"
    files = "UPDATE search_doc SET files = {} WHERE rowid = {};"
    return [
        "CREATE VIRTUAL TABLE search_doc USING fts5(sender, recipients, subject, body, files, "
        'tokenize="unicode61 remove_diacritics 2")',
        'CREATE VIRTUAL TABLE search_cjk USING fts5(text, tokenize="trigram")',
        f"""CREATE TRIGGER search_message_insert AFTER INSERT ON message BEGIN
            {message_doc.format(_message_doc("new", "new.id", False))}
            {_sqlite_cjk("new.id")} END""",
        f"""CREATE TRIGGER search_message_update AFTER UPDATE OF from_name, from_email, "to", cc,
            subject, body, full_body ON message BEGIN
            DELETE FROM search_doc WHERE rowid = old.id;
            {message_doc.format(_message_doc("new", "new.id", False))}
            {_sqlite_cjk("old.id, new.id")} END""",
        """CREATE TRIGGER search_message_delete AFTER DELETE ON message BEGIN
            DELETE FROM search_doc WHERE rowid = old.id;
            DELETE FROM search_cjk WHERE rowid = old.id; END""",
        f"""CREATE TRIGGER search_attachment_insert AFTER INSERT ON attachment BEGIN
            {files.format(_files("new.message_id", False), "new.message_id")}
            {_sqlite_cjk("new.message_id")} END""",
        f"""CREATE TRIGGER search_attachment_update AFTER UPDATE OF filename, message_id
            ON attachment BEGIN
            {files.format(_files("old.message_id", False), "old.message_id")}
            {files.format(_files("new.message_id", False), "new.message_id")}
            {_sqlite_cjk("old.message_id, new.message_id")} END""",
        f"""CREATE TRIGGER search_attachment_delete AFTER DELETE ON attachment BEGIN
            {files.format(_files("old.message_id", False), "old.message_id")}
            {_sqlite_cjk("old.message_id")} END""",
        f"""CREATE TRIGGER search_ticket_insert AFTER INSERT ON ticket BEGIN
            {ticket_doc} {_sqlite_cjk("-new.id")} END""",
        f"""CREATE TRIGGER search_ticket_update AFTER UPDATE OF title, requester_id ON ticket BEGIN
            DELETE FROM search_doc WHERE rowid = -old.id;
            {ticket_doc} {_sqlite_cjk("-old.id, -new.id")} END""",
        """CREATE TRIGGER search_ticket_delete AFTER DELETE ON ticket BEGIN
            DELETE FROM search_doc WHERE rowid = -old.id;
            DELETE FROM search_cjk WHERE rowid = -old.id; END""",
        f"""CREATE TRIGGER search_contact_update AFTER UPDATE OF name, email ON contact BEGIN
            UPDATE search_doc SET sender = new.name || ' ' || new.email
                WHERE rowid IN (SELECT -id FROM ticket WHERE requester_id = new.id);
            {_sqlite_cjk("SELECT -id FROM ticket WHERE requester_id = new.id")} END""",
    ]


_PG_COLUMNS = "id, sender, recipients, subject, body, files"
_PG_UPSERT = (
    "ON CONFLICT (id) DO UPDATE SET sender = EXCLUDED.sender, recipients = EXCLUDED.recipients, "
    "subject = EXCLUDED.subject, body = EXCLUDED.body, files = EXCLUDED.files"
)
# ASCII punctuation, which unicode61 splits words on, turned into spaces (translate is far
# cheaper than a regular expression; % goes in as chr(37), the driver's placeholder sign).
_PUNCTUATION = "!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"
_PG_PUNCTUATION = "'" + _PUNCTUATION.replace("'", "''") + "' || chr(37)"
_PG_SPACES = "'" + " " * (len(_PUNCTUATION) + 1) + "'"


def _pg_words(column: str) -> str:
    return (
        f"to_tsvector('simple', translate(unaccent(NEW.{column}), {_PG_PUNCTUATION}, {_PG_SPACES}))"
    )


def _pg_table(name: str) -> list[str]:
    return [
        f"""CREATE TABLE {name} (
            id bigint PRIMARY KEY,
            sender text NOT NULL DEFAULT '',
            recipients text NOT NULL DEFAULT '',
            subject text NOT NULL DEFAULT '',
            body text NOT NULL DEFAULT '',
            files text NOT NULL DEFAULT '',
            doc tsvector NOT NULL DEFAULT ''::tsvector,
            cjk text)""",
        f"CREATE INDEX {name}_words ON {name} USING gin (doc)",
        f"CREATE INDEX {name}_cjk ON {name} USING gin (cjk gin_trgm_ops) WHERE cjk IS NOT NULL",
    ]


def _pg_ddl() -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        *_pg_table("search_doc"),
        *_pg_table("search_title"),
        f"""CREATE FUNCTION search_doc_vector() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE whole text := concat_ws(' ', NEW.sender, NEW.recipients, NEW.subject, NEW.body,
                                        NEW.files);
        BEGIN
            NEW.doc := setweight({_pg_words("sender")}, 'A')
                || setweight({_pg_words("recipients")}, 'B')
                || setweight({_pg_words("subject")}, 'C') || setweight({_pg_words("files")}, 'C')
                || setweight({_pg_words("body")}, 'D');
            NEW.cjk := CASE WHEN whole ~ '[{CJK_RANGES}]' THEN whole END;
            RETURN NEW;
        END $$""",
        *(
            f"""CREATE TRIGGER {table}_vector BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION search_doc_vector()"""
            for table in ("search_doc", "search_title")
        ),
        f"""CREATE FUNCTION search_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM search_doc WHERE id = OLD.id;
                RETURN OLD;
            END IF;
            INSERT INTO search_doc ({_PG_COLUMNS})
                SELECT {_message_doc("NEW", "NEW.id", True)} {_PG_UPSERT};
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER search_index_message AFTER INSERT OR DELETE
            OR UPDATE OF from_name, from_email, "to", cc, subject, body, full_body ON message
            FOR EACH ROW EXECUTE FUNCTION search_index_message()""",
        f"""CREATE FUNCTION search_index_attachment() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                UPDATE search_doc SET files = {_files("OLD.message_id", True)}
                    WHERE id = OLD.message_id;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                UPDATE search_doc SET files = {_files("NEW.message_id", True)}
                    WHERE id = NEW.message_id;
            END IF;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER search_index_attachment AFTER INSERT OR DELETE
            OR UPDATE OF filename, message_id ON attachment
            FOR EACH ROW EXECUTE FUNCTION search_index_attachment()""",
        f"""CREATE FUNCTION search_index_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM search_title WHERE id = OLD.id;
                RETURN OLD;
            END IF;
            INSERT INTO search_title ({_PG_COLUMNS}) SELECT {_ticket_doc("NEW", "")} {_PG_UPSERT};
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER search_index_ticket AFTER INSERT OR DELETE
            OR UPDATE OF title, requester_id ON ticket
            FOR EACH ROW EXECUTE FUNCTION search_index_ticket()""",
        """CREATE FUNCTION search_index_contact() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE search_title SET sender = NEW.name || ' ' || NEW.email
                WHERE id IN (SELECT t.id FROM ticket AS t WHERE t.requester_id = NEW.id);
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER search_index_contact AFTER UPDATE OF name, email ON contact
            FOR EACH ROW EXECUTE FUNCTION search_index_contact()""",
    ]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: the index's tables (FTS5's and their shadow tables on SQLite) are
    made and kept here, with triggers no model describes, so autogenerate leaves them be."""
    return not (type_ == "table" and name is not None and name.startswith("search_"))


def create_search_index(conn: Connection) -> None:
    """The index's tables and triggers (empty: `backfill` fills them)."""
    ddl = _pg_ddl() if conn.dialect.name == "postgresql" else _sqlite_ddl()
    for statement in ddl:
        conn.exec_driver_sql(statement)


def drop_search_index(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP TABLE IF EXISTS search_doc, search_title")
        for name in ("message", "attachment", "ticket", "contact"):
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS search_index_{name}() CASCADE")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS search_doc_vector() CASCADE")
        return
    for name in ("message", "attachment", "ticket"):
        for event in ("insert", "update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS search_{name}_{event}")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS search_contact_update")
    conn.exec_driver_sql("DROP TABLE IF EXISTS search_cjk")
    conn.exec_driver_sql("DROP TABLE IF EXISTS search_doc")


def backfill(conn: Connection, progress: Callable[[int, int], None] | None = None) -> int:
    """Index every ticket and message already stored, in batches of ids (no one giant
    statement), replacing any document already there; `progress(done, total)` after each batch
    (default: a bar on stderr when it is a terminal). Returns the documents written.
    A bulk load is faster without the triggers: drop_search_index, load, create_search_index,
    then backfill."""
    report = progress or (_bar if sys.stderr.isatty() else None)
    pg = conn.dialect.name == "postgresql"
    # (source table, the document's columns, the index's table, its key, the key from `id`)
    sources = [
        ("ticket", _ticket_doc("r", "" if pg else "-"), "search_title" if pg else "search_doc",
         "id" if pg else "rowid", "id" if pg else "-id"),
        ("message", _message_doc("r", "r.id", pg), "search_doc", "id" if pg else "rowid", "id"),
    ]  # fmt: skip
    bounds = {
        name: conn.execute(text(f"SELECT min(id), max(id), count(*) FROM {name}")).one()
        for name, *_ in sources
    }
    total = sum(count for _, _, count in bounds.values())
    done = 0
    for name, columns, table, key, of_id in sources:
        low, high, _ = bounds[name]
        if low is None:
            continue
        ids = f"SELECT {of_id} FROM {name} WHERE id >= :lo AND id < :hi"
        for start in range(low, high + 1, BATCH):
            window = {"lo": start, "hi": start + BATCH}
            conn.execute(text(f"DELETE FROM {table} WHERE {key} IN ({ids})"), window)
            if not pg:
                conn.execute(text(f"DELETE FROM search_cjk WHERE rowid IN ({ids})"), window)
            written = conn.execute(
                text(
                    f"INSERT INTO {table} ({_PG_COLUMNS if pg else _SQLITE_COLUMNS}) "
                    f"SELECT {columns} FROM {name} AS r WHERE r.id >= :lo AND r.id < :hi"
                ),
                window,
            ).rowcount
            if not pg:
                conn.execute(text(_sqlite_cjk_insert(ids)), window)
            done += max(written, 0)
            if report is not None:
                report(done, total)
    if pg:  # the planner's choice between the GIN index and the newest-first scan needs these
        conn.exec_driver_sql("ANALYZE search_doc, search_title")
    else:  # one b-tree per index instead of a segment per batch
        for table in ("search_doc", "search_cjk"):
            conn.exec_driver_sql(f"INSERT INTO {table} ({table}) VALUES ('optimize')")
    if report is _bar and total:
        sys.stderr.write("\n")
    return done


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(
        f"\rindexing for search [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
    )
    sys.stderr.flush()
