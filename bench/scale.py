"""tuidesk at a million tickets: the console, search, mail in, and the size of it all.

    python -m bench.scale [--tickets 1000000] [--databases sqlite,postgresql] [--cache DIR]
                          [--presses 20] [--mails 30]

Builds (once, then reuses from --cache, default ../scale-cache beside the checkout) a migrated
database of N tickets with about 4 messages each, of text drawn from the shared corpus's mail
bodies and varied (sentences shuffled, names and numbers swapped, a greeting and a signature of
the people on the ticket), from N/3 requesters (a few with many tickets; company domains shared
by several), over three branches, four queues, twelve agents, a few tags and four years. Loaded
in bulk: SQLite through executemany in batches of BATCH rows, one transaction each, with the
journal and syncs off for the load only; PostgreSQL (a cluster started as the suite starts it,
tests/servers/postgres.py, kept in the cache) through COPY, with triggers and foreign-key checks
off for the load. Secondary indexes are dropped for the load and made again after it. A cached
database is keyed by N, the seed, the loader's version and the schema's HEAD_REVISION.

Then prints, per database, each figure next to the issue's target and the ratio to it:
console first paint (and the whole list), j/k, `/` and Esc (Textual's pilot, from the frames
the app draws, as bench.console times them); the list's queries by view (the first screen, every
id, the sidebar's counts, the change token); full-text search of a rare word, a common word, a
phrase and a `from:` (as `ticket search` and the console's `/` run them); `pipe` and `import` per
mail at N against an empty database (in-process, through services.pipe.deliver and the CLI's
Ingestor.ingest_many); `tuidesk report` over 30 and 365 days, every branch and one (the
service-level columns filled by fill_sla); and the size of every table next to its indexes.
Nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from bench.table import headline, machine_line

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_CACHE = ROOT.parent / "scale-cache"
LOADER_VERSION = 1  # bump when the generated data changes: cached databases are rebuilt
SEED = 18
BATCH = 50_000  # rows per executemany / per transaction on SQLite
START = datetime(2022, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=4 * 365)
SIZE = (120, 36)
BASELINE = 1000  # tickets of the small desk the console's figures are set beside

TARGET_FIRST_PAINT_MS = 1000.0
TARGET_MOVE_MS = 50.0
TARGET_FOCUS_MS = 100.0
TARGET_SEARCH_MS = 150.0
TARGET_REPORT_MS = 2000.0
TARGET_MAIL_RATIO = 1.2

# Words the search figures look for, planted at known rates in the generated text.
RARE_WORD = "xylophonist"  # about one message in 200,000
RARE_RATE = 1 / 200_000
PHRASE = "printer is offline"  # about one message in 500
PHRASE_RATE = 1 / 500
COMMON_WORD = "please"  # in the corpus's own sentences and the templates: most tickets

# fmt: off
_FIRST = ("Anna", "Ben", "Carla", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas",
          "Kasia", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
          "Umar", "Vera", "Wen", "Yusuf", "Zoe", "Mateo", "Priya", "Kenji", "Amara", "Lukas")
_LAST = ("Smith", "Müller", "García", "Kowalski", "Nguyen", "Okafor", "Rossi", "Dubois", "Jensen",
         "Silva", "Tanaka", "Novak", "Haddad", "Larsen", "Costa", "Berg", "Kaya", "Moreau",
         "Fischer", "Santos", "Ivanova", "Chen", "Patel", "O'Brien", "Horvat")
_FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "gmx.de", "icloud.com")
_COMPANY = ("acme", "globex", "initech", "umbrella", "stark", "wayne", "hooli", "vandelay",
            "tyrell", "cyberdyne", "soylent", "wonka", "oscorp", "aperture", "massive")
# fmt: on
_TLD = ("com", "de", "co.uk", "fr", "io", "nl", "pl", "es")
_TOPICS = (
    "Printer offline after the update",
    "Invoice {n} charged twice",
    "Refund for order {n}",
    "Cannot log in since yesterday",
    "Password reset link expired",
    "Shipping delay on order {n}",
    "App crashes when exporting",
    "Upgrade to the {p} plan",
    "Billing address change",
    "VPN drops every few minutes",
    "Question about invoice {n}",
    "Missing items in delivery {n}",
    "Two-factor codes not arriving",
    "Data export for {p} account",
    "Wrong VAT on invoice {n}",
    "Laptop will not boot",
    "Cancel subscription {n}",
    "Email bounces from your domain",
    "Licence key for {p}",
    "Slow dashboard since Monday",
    "Return label for order {n}",
    "Account locked after three attempts",
    "Feature request: dark mode in {p}",
    "Calendar sync stopped working",
    "Damaged parcel, order {n}",
)
_PRODUCTS = ("Basic", "Pro", "Team", "Enterprise", "Studio", "Cloud", "Edge")
_TEMPLATES = (
    "Could you please check order {n} again?",
    "The reference on my last invoice is {n}.",
    "I tried it again this morning at {h}:{m:02d} and it still fails.",
    "Please find the details below, the case number is {n}.",
    "We have {k} users affected at the moment.",
    "My colleague {name} reported the same thing last week.",
    "Thanks for the quick reply, that helped a lot.",
    "Can you please call me back on +44 20 {n}?",
    "I restarted the device twice, no change.",
    "Is there any update on this? It has been {k} days.",
)
_GREETINGS = ("Hi {name},", "Hello {name},", "Dear {name},", "Hi,", "Hello,", "Good morning,")
_CLOSINGS = (
    "Thanks,\n{name}",
    "Best regards,\n{name}",
    "Cheers,\n{name}",
    "Kind regards,\n{name}",
    "{name}",
    "Thank you!\n{name}",
)
_TAGS = ("vip", "refund", "bug", "hardware", "follow-up", "escalated", "gdpr", "outage")
_QUEUES = (("Billing", "magenta"), ("L2", "cyan"), ("Hardware", "yellow"), ("Returns", "green"))
_PRIORITIES = ("normal",) * 14 + ("high",) * 3 + ("low",) * 2 + ("urgent",)
_MESSAGES_PER_TICKET = (1,) + (2,) * 2 + (3,) * 3 + (4,) * 4 + (5,) * 3 + (6,) * 2 + (7,)  # mean 4
_DIGITS = re.compile(r"\d{2,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

# --------------------------------------------------------------------------------------------
# The text


def corpus_sentences(root: Path = CORPUS) -> list[str]:
    """Plain sentences from the corpus's human mail: email_reply_parser's bodies and the text
    parts of talon's and django-helpdesk's mails (not the bounces, spam or MIME torture tests),
    without quoted lines, headers or anything that is not mostly words."""
    texts: list[str] = []
    for path in sorted((root / "email_reply_parser").rglob("*.txt")):
        texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for folder in ("talon", "django-helpdesk"):
        for path in sorted((root / folder).rglob("*.eml")):
            msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            with contextlib.suppress(Exception):
                part = msg.get_body(preferencelist=("plain",))
                if part is not None:
                    texts.append(part.get_content())
    sentences: set[str] = set()
    for text in texts:
        kept = [ln.strip() for ln in text.splitlines() if ln.strip() and ln[:1] not in ">|-_=*"]
        for sentence in _SENTENCE.split(" ".join(kept)):
            sentence = sentence.strip()
            letters = sum(ch.isalpha() or ch == " " for ch in sentence)
            if (
                20 <= len(sentence) <= 220
                and letters > 0.85 * len(sentence)
                and ":" not in sentence
            ):
                sentences.add(sentence)
    return sorted(sentences)


class Text:
    """Message bodies: a greeting, three to six sentences (the corpus's, numbers swapped, and
    templates with names and numbers filled in), now and then a planted word, a closing."""

    def __init__(self, rng: random.Random, sentences: Sequence[str]) -> None:
        self.rng = rng
        self.sentences = list(sentences)

    def _number(self, match: re.Match[str]) -> str:
        return str(self.rng.randrange(10 ** (len(match.group()) - 1), 10 ** len(match.group())))

    def body(self, writer: str, reader: str) -> str:
        rng = self.rng
        parts = [rng.choice(_GREETINGS).format(name=reader.split()[0])]
        said = []
        for _ in range(rng.randint(3, 6)):
            if rng.random() < 0.3:
                said.append(
                    rng.choice(_TEMPLATES).format(
                        n=rng.randrange(10_000, 999_999),
                        h=rng.randrange(7, 20),
                        m=rng.randrange(60),
                        k=rng.randrange(2, 40),
                        name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    )
                )
            else:
                said.append(_DIGITS.sub(self._number, rng.choice(self.sentences)))
        if rng.random() < PHRASE_RATE:
            said.insert(rng.randrange(len(said) + 1), f"The {PHRASE} again since this morning.")
        if rng.random() < RARE_RATE:
            said.append(f"Our {RARE_WORD} cannot print the score either.")
        parts.append(" ".join(said))
        parts.append(rng.choice(_CLOSINGS).format(name=writer))
        return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------
# The rows


@dataclass
class Plan:
    """What gets built: N tickets and the people around them; every row comes from `rows`."""

    tickets: int
    seed: int = SEED
    contacts: int = field(init=False)
    domains: int = field(init=False)

    def __post_init__(self) -> None:
        self.contacts = max(self.tickets // 3, 10)
        self.domains = max(self.contacts // 25, 3)

    @property
    def key(self) -> str:
        from tuidesk.storage.schema import HEAD_REVISION

        return f"t{self.tickets}-s{self.seed}-v{LOADER_VERSION}-r{HEAD_REVISION}"

    def contact(self, i: int) -> tuple[str, str]:
        """Contact i's name and address (stable: the search figures ask for contact 1's)."""
        rng = random.Random(self.seed * 7919 + i)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        if rng.random() < 0.35:
            domain = rng.choice(_FREE_MAIL)
        else:
            d = rng.randrange(self.domains)
            domain = f"{_COMPANY[d % len(_COMPANY)]}{d // len(_COMPANY) or ''}.{_TLD[d % 8]}"
        local = ".".join(re.sub(r"[^a-z]", "", w.lower().replace("ü", "u")) for w in (first, last))
        return f"{first} {last}", f"{local}{i}@{domain}"

    def requester(self, rng: random.Random) -> int:
        """Contact ids, skewed: the first few requesters write a lot, most write once or twice."""
        return 1 + int(self.contacts * rng.random() ** 2.5)


AGENTS = [
    (f"{first} {last}", f"{first.lower()}.{last.lower().replace(chr(39), '')}@example.com")
    for first, last in zip(_FIRST[:12], _LAST[12:24], strict=True)
]


def _stamp(when: datetime) -> str:
    """As SQLAlchemy writes an aware datetime to SQLite (UTC, no offset); PostgreSQL reads it
    as UTC too (the bench's sessions run in UTC)."""
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def people_rows(plan: Plan) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Branches, queues, agents and contacts: the small tables, and the contact table."""
    start = _stamp(START)
    contacts = []
    for i in range(1, plan.contacts + 1):
        name, email = plan.contact(i)
        contacts.append((i, email, email.lower(), name, start))
    return {
        "branch": (
            ["id", "name", "key", "addresses", "domains", "is_default", "created_at"],
            [
                (2, "Sales", "SAL", '["sales@example.com"]', "[]", False, start),
                (3, "Operations", "OPS", '["ops@example.com"]', "[]", False, start),
            ],
        ),
        "queue": (
            ["id", "name", "colour"],
            [(i, name, colour) for i, (name, colour) in enumerate(_QUEUES, 1)],
        ),
        "agent": (
            ["id", "name", "email", "role", "notify", "aliases", "signature"],
            [
                (i, name, email, "agent", '["assigned"]', "[]", f"-- \n{name}")
                for i, (name, email) in enumerate(AGENTS, 1)
            ],
        ),
        "contact": (["id", "email", "email_key", "name", "created_at"], contacts),
    }


TICKET_COLUMNS = [
    "id",
    "title",
    "status",
    "priority",
    "custom_fields",
    "branch_id",
    "queue_id",
    "requester_id",
    "assignee_id",
    "source",
    "created_at",
    "updated_at",
]
MESSAGE_COLUMNS = [
    "id",
    "ticket_id",
    "direction",
    "message_id",
    "in_reply_to",
    "from_name",
    "from_email",
    "to",
    "cc",
    "subject",
    "body",
    "full_body",
    "agent_id",
    "created_at",
]
TAG_COLUMNS = ["ticket_id", "tag"]


def ticket_rows(
    plan: Plan, first: int, last: int, text: Text, message_id: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Tickets first..last-1 with their messages (ids from `message_id`) and tags. Old tickets
    are mostly resolved or closed; the newest few percent are still being worked on."""
    rng = text.rng
    tickets, messages, tags = [], [], []
    step = SPAN / plan.tickets
    for i in range(first, last):
        created = START + step * i + timedelta(seconds=rng.randrange(3600))
        age = 1 - i / plan.tickets  # 0 for the newest
        if age < 0.04 or rng.random() < 0.01:
            status = rng.choice(("new", "open", "open", "open", "pending"))
        else:
            status = "closed" if rng.random() < 0.7 else "resolved"
        assignee = None if status == "new" or rng.random() < 0.1 else 1 + rng.randrange(12)
        requester = plan.requester(rng)
        name, email = plan.contact(requester)
        branch = 1 if rng.random() < 0.7 else 2 + (rng.random() < 0.33)
        queue = None if rng.random() < 0.5 else 1 + rng.randrange(len(_QUEUES))
        title = rng.choice(_TOPICS).format(
            n=rng.randrange(10_000, 999_999), p=rng.choice(_PRODUCTS)
        )
        agent_name, agent_email = AGENTS[(assignee or 1) - 1]
        domain = email.rsplit("@", 1)[1]
        when, previous = created, None
        for k in range(rng.choice(_MESSAGES_PER_TICKET)):
            inbound = k % 2 == 0
            note = not inbound and rng.random() < 0.15
            writer, reader = (name, agent_name) if inbound else (agent_name, name)
            body = text.body(writer, reader)
            full = body
            if previous is not None and not note:
                quoted = "\n".join("> " + ln for ln in previous.splitlines()[:6])
                full = f"{body}\n\nOn {when:%a, %d %b %Y} {reader} wrote:\n{quoted}"
            mid = f"<{i}.{k}.{rng.getrandbits(40):x}@{domain if inbound else 'example.com'}>"
            sender = (name, email) if inbound else (agent_name, agent_email)
            to = email if not inbound else "support@example.com"
            messages.append(
                (
                    message_id,
                    i,
                    "note" if note else ("in" if inbound else "out"),
                    mid,
                    None if k == 0 else f"<{i}.{k - 1}@x>",
                    sender[0],
                    sender[1],
                    json.dumps([{"name": "", "email": to}]),
                    "[]",
                    title if k == 0 else f"Re: {title}",
                    body,
                    full,
                    None if inbound else (assignee or 1),
                    _stamp(when),
                )
            )
            message_id += 1
            previous = body
            when += timedelta(minutes=rng.randrange(5, 60 * 48))
        updated = min(when, START + SPAN)
        tickets.append(
            (
                i,
                title,
                status,
                rng.choice(_PRIORITIES),
                "{}",
                branch,
                queue,
                requester,
                assignee,
                "email",
                _stamp(created),
                _stamp(max(updated, created)),
            )
        )
        if rng.random() < 0.08:
            for tag in rng.sample(_TAGS, rng.randint(1, 2)):
                tags.append((i, tag))
    return tickets, messages, tags


# --------------------------------------------------------------------------------------------
# Loading


class Loader:
    """Bulk rows into one database, secondary indexes dropped for the load and made after."""

    tables = ("ticket", "message", "contact", "ticket_tag")

    def rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError


class SqliteLoader(Loader):
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = OFF")  # for the load only: WAL again after it
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -262144")  # 256 MiB while the indexes are made
        marks = ",".join("?" * len(self.tables))
        self.indexes = [
            (name, sql)
            for name, sql in self.db.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                f" AND tbl_name IN ({marks})",
                self.tables,
            )
        ]
        for name, _sql in self.indexes:
            self.db.execute(f'DROP INDEX "{name}"')

    def rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        self.db.execute("BEGIN")
        self.db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        self.db.execute("COMMIT")

    def finish(self) -> None:
        for _name, sql in self.indexes:
            self.db.execute(sql)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.close()


class PostgresLoader(Loader):
    def __init__(self, url: str) -> None:
        import psycopg

        self.db = psycopg.connect(url, autocommit=True)
        self.db.execute("SET session_replication_role = replica")  # no triggers, no FK checks
        self.db.execute("SET maintenance_work_mem = '512MB'")
        self.indexes = self.db.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public'"
            " AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
            " WHERE c.conname = i.indexname)",
            (list(self.tables),),
        ).fetchall()
        for name, _sql in self.indexes:
            self.db.execute(f'DROP INDEX "{name}"')

    def rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with self.db.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        for _name, sql in self.indexes:
            self.db.execute(sql)
        for table in ("branch", "queue", "agent", "contact", "ticket", "message"):
            self.db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f' (SELECT max(id) FROM "{table}"))'
            )
        self.db.execute("VACUUM ANALYZE")  # what autovacuum would have done by the next day
        self.db.close()


def load(loader: Loader, plan: Plan, say: Callable[[str], None]) -> int:
    """Every row of the plan through `loader`; the number of messages."""
    people = people_rows(plan)
    for table in ("branch", "queue", "agent", "contact"):
        columns, rows = people[table]
        for first in range(0, len(rows), BATCH):
            loader.rows(table, columns, rows[first : first + BATCH])
    text = Text(random.Random(plan.seed), corpus_sentences())
    message_id, started = 1, time.perf_counter()
    chunk = max(BATCH // 4, 1)  # tickets per round: about BATCH messages
    for first in range(1, plan.tickets + 1, chunk):
        last = min(first + chunk, plan.tickets + 1)
        tickets, messages, tags = ticket_rows(plan, first, last, text, message_id)
        message_id += len(messages)
        loader.rows("ticket", TICKET_COLUMNS, tickets)
        loader.rows("message", MESSAGE_COLUMNS, messages)
        if tags:
            loader.rows("ticket_tag", TAG_COLUMNS, tags)
        if (last - 1) % (chunk * 20) == 0 or last > plan.tickets:
            rate = (last - 1) / (time.perf_counter() - started)
            say(f"  {last - 1:,} tickets, {message_id - 1:,} messages ({rate:,.0f} tickets/s)")
    say("  indexes…")
    loader.finish()
    return message_id - 1


# --------------------------------------------------------------------------------------------
# The databases


@dataclass
class Database:
    kind: str  # sqlite or postgresql
    url: str
    messages: int
    built_s: float | None  # None: reused from the cache
    server: Any = None

    def empty_url(self, work: Path) -> str:
        """A fresh database beside this one, for the per-mail figures' baseline."""
        if self.kind == "sqlite":
            return f"sqlite:///{work / 'empty.sqlite3'}"
        name = f"empty_{secrets.token_hex(4)}"
        self.server.execute(f"CREATE DATABASE {name}")
        return self.server.url(name)


def _say(line: str) -> None:
    print(line, flush=True)


def open_cached(kind: str, plan: Plan, cache: Path) -> Database:
    """The plan's database from the cache, built first when it is not there (or half-built)."""
    from tuidesk.storage.schema import open_database

    folder = cache / f"{kind}-{plan.key}"
    done = folder / "built.json"
    older = None if done.exists() else _older_build(cache, kind, plan)
    if older is not None:
        _say(f"upgrading {older.name} to {folder.name}, as `tuidesk db upgrade` would …")
        shutil.rmtree(folder, ignore_errors=True)
        older.rename(folder)
    server = None
    if kind == "postgresql":
        sys.path.insert(0, str(ROOT))
        from tests.servers.postgres import PostgresServer

        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
        server = PostgresServer(root=folder).start()
        url = server.url("scale")
    else:
        url = f"sqlite:///{folder / 'scale.sqlite3'}"
    if done.exists():
        facts = json.loads(done.read_text())
        if older is not None:
            started = time.perf_counter()
            open_database(url).dispose()  # the migrations since, backfills included
            _say(f"upgraded in {time.perf_counter() - started:.0f} s")
        if facts.get("sla") != SLA_FILL:  # built before schema 0014 (or an older fill)
            fill_sla(url, _say)
            done.write_text(json.dumps({**facts, "sla": SLA_FILL}))
        return Database(kind, url, facts["messages"], None, server)
    _say(f"building {kind} at {plan.tickets:,} tickets in {folder} …")
    started = time.perf_counter()
    if kind == "postgresql":
        server.execute("CREATE DATABASE scale")
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    open_database(url, create=True).dispose()  # the schema, by the migrations
    without_search_index(url)
    loader = PostgresLoader(url) if server else SqliteLoader(Path(url.removeprefix("sqlite:///")))
    messages = load(loader, plan, _say)
    index_for_search(url, _say)
    fill_sla(url, _say)
    built = time.perf_counter() - started
    done.write_text(json.dumps({"messages": messages, "built_s": built, "sla": SLA_FILL}))
    _say(f"built in {built:.0f} s")
    return Database(kind, url, messages, built, server)


def _older_build(cache: Path, kind: str, plan: Plan) -> Path | None:
    """The plan's database built at an earlier schema revision, the latest of them: upgrading
    it takes minutes where building anew takes most of an hour."""
    same, _, revision = f"{kind}-{plan.key}".rpartition("-r")
    built = [
        p
        for p in cache.glob(f"{same}-r*")
        if (p / "built.json").exists() and p.name.rpartition("-r")[2] < revision
    ]
    return max(built, key=lambda p: p.name.rpartition("-r")[2], default=None)


def without_search_index(url: str) -> None:
    """The bulk load goes faster without the index's triggers: `index_for_search` makes the
    index whole afterwards."""
    from tuidesk.storage.schema import open_database
    from tuidesk.storage.search_index import drop_search_index

    engine = open_database(url)
    with engine.begin() as conn:
        drop_search_index(conn)
    engine.dispose()


def index_for_search(url: str, say: Callable[[str], None]) -> None:
    """The full-text index over everything loaded, as the upgrade to schema 0013 builds it."""
    from tuidesk.storage.schema import open_database
    from tuidesk.storage.search_index import backfill, create_search_index

    engine = open_database(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        create_search_index(conn)
        documents = backfill(conn)
    engine.dispose()
    say(f"  search index: {documents:,} documents in {time.perf_counter() - started:.0f} s")


SLA_FILL = 2  # bump when fill_sla's values change: cached databases are filled again
SLA_POLICIES = (  # name, priority, first response, resolution (24/7: no calendar)
    ("Urgent", "urgent", "1h", "8h"),
    ("High", "high", "4h", "1d"),
    ("Standard", None, "8h", "3d"),
)


def fill_sla(url: str, say: Callable[[str], None]) -> None:
    """The service-level columns storage.due keeps on each ticket, for the report's figures:
    three policies by priority on nine tickets in ten, a first response on every ticket past
    `new` (minutes skewed by a hash of the id: most fast, some late, priority-scaled), resolved
    and closed tickets resolved at their last change, open ones due (a `new` one by its first
    response, the others by their resolution: the due sort and views have ids to read).
    Deterministic, one UPDATE: the cached databases built before schema 0014 get it too,
    without a rebuild."""
    from sqlalchemy import text

    from tuidesk.storage.schema import open_database

    engine = open_database(url)
    sqlite = engine.dialect.name == "sqlite"
    started = time.perf_counter()
    h = "(CAST(id AS BIGINT) * 2654435761 % 1000)"
    scale = "CASE priority WHEN 'urgent' THEN 0.1 WHEN 'high' THEN 0.4 ELSE 1 END"
    first = f"ROUND(2 + {h} * {h} / 1700.0 * {scale}, 1)"
    if sqlite:
        first_at = f"datetime(created_at, '+' || CAST({first} AS INTEGER) || ' minutes')"
        spent = "ROUND((julianday(updated_at) - julianday(created_at)) * 1440, 1)"
    else:
        first_at = f"created_at + make_interval(mins => CAST({first} AS INTEGER))"
        spent = "ROUND(CAST(EXTRACT(EPOCH FROM updated_at - created_at) / 60 AS NUMERIC), 1)"
    policy = "CASE priority WHEN 'urgent' THEN 'Urgent' WHEN 'high' THEN 'High' ELSE 'Standard' END"
    first_target = "CASE priority WHEN 'urgent' THEN 60 WHEN 'high' THEN 240 ELSE 480 END"
    whole_target = "CASE priority WHEN 'urgent' THEN 480 WHEN 'high' THEN 1440 ELSE 4320 END"

    def after(minutes: str) -> str:
        if sqlite:
            return f"datetime(created_at, '+' || ({minutes}) || ' minutes')"
        return f"created_at + make_interval(mins => {minutes})"

    kept = "id % 10 <> 0"
    answered = f"{kept} AND status <> 'new'"
    done = f"{kept} AND status IN ('resolved', 'closed')"
    waiting = f"{kept} AND status IN ('new', 'open')"
    unanswered = f"{kept} AND status = 'new'"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sla_policy"))
        for name, priority, first_response, resolution in SLA_POLICIES:
            conn.execute(
                text(
                    "INSERT INTO sla_policy (name, priority, first_response, resolution)"
                    " VALUES (:name, :priority, :first, :resolution)"
                ),
                {"name": name, "priority": priority, "first": first_response,
                 "resolution": resolution},
            )  # fmt: skip
        conn.execute(
            text(
                f"UPDATE ticket SET sla_policy = CASE WHEN {kept} THEN {policy} END,"
                f" first_response_minutes = CASE WHEN {answered} THEN {first} END,"
                f" first_response_at = CASE WHEN {answered} THEN {first_at} END,"
                f" resolved_at = CASE WHEN {done} THEN updated_at END,"
                f" resolution_minutes = CASE WHEN {done} THEN {spent} END,"
                f" first_response_due = CASE WHEN {unanswered} THEN {after(first_target)} END,"
                f" resolution_due = CASE WHEN {waiting} THEN {after(whole_target)} END,"
                f" due_at = CASE WHEN {unanswered} THEN {after(first_target)}"
                f" WHEN {waiting} THEN {after(whole_target)} END"
            )
        )
    if not sqlite:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE ticket"))
    engine.dispose()
    say(f"  service levels filled in {time.perf_counter() - started:.0f} s")


# --------------------------------------------------------------------------------------------
# The figures


@dataclass
class Figure:
    database: str
    name: str
    values_ms: list[float]  # one per run; empty when `text` says it all
    target_ms: float | None = None
    text: str = ""  # a figure that is not a time (sizes, ratios)
    ratio: float | None = None  # to the target, when it is not value/target (the mail ratios)

    @property
    def median(self) -> float:
        return statistics.median(self.values_ms)

    @property
    def p95(self) -> float:
        ms = sorted(self.values_ms)
        return ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def _ms(fn: Callable[[], Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def _console(engine: Any, presses: int) -> dict[str, list[float]]:
    """First paint, the whole list, j/k, `/` and Esc, timed from the frames the app draws."""
    from bench.console import Frames, _press
    from tuidesk.screens.app import TuideskApp
    from tuidesk.screens.main import MainScreen
    from tuidesk.widgets.ticket_list import TicketList

    app = TuideskApp(engine)
    frames = Frames(app)

    def listed() -> TicketList | None:
        found = app.screen.query(TicketList)
        return found.first() if found else None

    def painted() -> bool:
        tickets = listed()
        return tickets is not None and bool(tickets.ids) and bool(tickets._rows)

    def whole() -> bool:
        screen = app.screen
        return isinstance(screen, MainScreen) and bool(screen.snapshot and screen.snapshot.complete)

    times: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    frames.expect(painted)
    async with app.run_test(size=SIZE) as pilot:
        times["first paint"] = [await frames.wait(t0) * 1000]
        frames.expect(whole)
        # A short view is whole at its first paint: no frame comes after to tell.
        drawn = time.perf_counter() - t0 if whole() else await frames.wait(t0, timeout=600)
        times["whole list"] = [drawn * 1000]
        await pilot.pause()
        tickets = listed()
        assert tickets is not None

        async def timed(label: str, key: str, shown: Callable[[], bool]) -> None:
            times.setdefault(label, []).append(await _press(app, frames, key, shown) * 1000)

        for _ in range(presses):
            await timed("j", "j", lambda c=tickets.cursor + 1: tickets.cursor == c)
        for _ in range(presses):
            await timed("k", "k", lambda c=tickets.cursor - 1: tickets.cursor == c)
        search = app.screen.query_one("#search")
        full = len(tickets.ids)
        for _ in range(max(presses // 2, 3)):
            await timed("/", "slash", lambda: search.has_focus)
            await timed("Esc", "escape", lambda: tickets.has_focus and len(tickets.ids) >= full)
        await pilot.press("q")
    return times


def list_figures(db: Database, engine: Any, runs: int) -> list[Figure]:
    """The list's queries as the console's workers run them, by view."""
    from tuidesk.storage.ticket_list import TicketFilter, change_token, ticket_ids, view_counts
    from tuidesk.widgets.ticket_list import PAGE

    figures = []
    with engine.connect() as conn:
        for view in ("all", "open", "closed", "every"):
            spec = TicketFilter(view=view, agent_id=1)
            figures.append(
                Figure(
                    db.kind,
                    f"view {view}: first screen of ids",
                    _ms(lambda s=spec: ticket_ids(conn, s, limit=2 * PAGE), runs),
                )
            )
            count = len(ticket_ids(conn, spec))
            figures.append(
                Figure(
                    db.kind,
                    f"view {view}: all {count:,} ids",
                    _ms(lambda s=spec: ticket_ids(conn, s), max(runs // 3, 1)),
                )
            )
        for view, sort in (("all", "due"), ("breached", "due"), ("due_today", "due")):
            spec = TicketFilter(view=view, agent_id=1, sort=sort)
            figures.append(
                Figure(
                    db.kind,
                    f"view {view} by due: first screen of ids",
                    _ms(lambda s=spec: ticket_ids(conn, s, limit=2 * PAGE), runs),
                )
            )
        figures.append(
            Figure(db.kind, "sidebar counts (view_counts)", _ms(lambda: view_counts(conn, 1), runs))
        )
        figures.append(
            Figure(db.kind, "change token (every second)", _ms(lambda: change_token(conn), runs))
        )
    return figures


def search_figures(db: Database, engine: Any, plan: Plan, runs: int) -> list[Figure]:
    """Search as `ticket search` runs it (50 tickets with their snippets) and as the console's
    `/` does (every ranked id of the view)."""
    from tuidesk.engine.search_query import parse_query
    from tuidesk.storage.search import search
    from tuidesk.storage.ticket_list import TicketFilter, ticket_ids

    queries = {
        "rare word": RARE_WORD,
        "common word": COMMON_WORD,
        "phrase": f'"{PHRASE}"',
        "from:": f"from:{plan.contact(1)[1]}",
    }
    figures = []
    with engine.connect() as conn:
        for label, query in queries.items():
            parsed = parse_query(query)
            found = search(conn, parsed, limit=50).total
            figures.append(
                Figure(
                    db.kind,
                    f"ticket search {label} ({found:,} found), 50 with snippets",
                    _ms(lambda q=parsed: search(conn, q, limit=50), runs),
                    TARGET_SEARCH_MS,
                )
            )
            spec = TicketFilter(view="every", search=query)
            figures.append(
                Figure(
                    db.kind,
                    f"console / {label}: the ranked ids",
                    _ms(lambda s=spec: ticket_ids(conn, s), runs),
                    TARGET_SEARCH_MS,
                )
            )
    return figures


def _mails(count: int) -> list[bytes]:
    """Corpus mails, spread over every folder, each with a Message-ID of its own (a mail seen
    before would only be counted as a duplicate)."""
    from bench.ingest import corpus_files, with_message_id

    files, _skipped = corpus_files()
    step = max(len(files) / count, 1)
    picked = [files[int(i * step) % len(files)] for i in range(count)]
    return [
        with_message_id(p.read_bytes(), f"<scale-{secrets.token_hex(8)}@bench>") for p in picked
    ]


def _per_mail_ms(
    url: str, home: Path, pipe_mails: int, import_mails: int
) -> tuple[list[float], float]:
    """Ms of each mail through `tuidesk pipe` (services.pipe.deliver, a new engine each, as a
    process per mail has), and per mail of one `tuidesk import` (the CLI's Ingestor call)."""
    import os

    was = os.environ.get("TUIDESK_HOME")
    os.environ["TUIDESK_HOME"] = str(home)  # where the pipe keeps attachments, as an MTA's would
    try:
        return _timed_mails(url, home, pipe_mails, import_mails)
    finally:
        if was is None:
            del os.environ["TUIDESK_HOME"]
        else:
            os.environ["TUIDESK_HOME"] = was


def _timed_mails(
    url: str, home: Path, pipe_mails: int, import_mails: int
) -> tuple[list[float], float]:
    import io

    from tuidesk.services.ingest import Ingestor
    from tuidesk.services.pipe import deliver
    from tuidesk.storage.blobs import BlobStore
    from tuidesk.storage.schema import open_database

    walls = []
    for raw in _mails(pipe_mails):
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = deliver(raw, db_url=url, channel=None, as_json=False, dry_run=False)
        walls.append((time.perf_counter() - t0) * 1000)
        if code != 0:
            raise SystemExit(f"tuidesk pipe exited {int(code)} on {url}")
    engine = open_database(url)
    raws = _mails(import_mails)
    t0 = time.perf_counter()
    ingestor = Ingestor(engine, BlobStore(home / "blobs"), source="import")
    done = sum(1 for _ in ingestor.ingest_many(raws, batch=200, parallel=True))
    imported = (time.perf_counter() - t0) * 1000 / max(done, 1)
    engine.dispose()
    return walls, imported


@contextlib.contextmanager
def restored(engine: Any) -> Iterator[None]:
    """Rows the block adds to tuidesk's own tables are deleted after it, so the cached database
    stays as built (an index's tables, full-text ones included, follow by their triggers)."""
    from sqlalchemy import delete, func, select
    from sqlmodel import SQLModel

    import tuidesk.storage.models  # noqa: F401 - declares the tables on SQLModel.metadata

    declared = [t for t in SQLModel.metadata.sorted_tables if "id" in t.c]
    with engine.connect() as conn:
        ids = {t.name: conn.execute(select(func.max(t.c.id))).scalar() or 0 for t in declared}
    try:
        yield
    finally:
        with engine.begin() as conn:
            for table in reversed(declared):
                conn.execute(delete(table).where(table.c.id > ids[table.name]))


MAIL_ROUNDS = 3


def mail_figures(db: Database, engine: Any, work: Path, pipe_mails: int) -> list[Figure]:
    from tuidesk.storage.schema import open_database

    empty = db.empty_url(work)
    open_database(empty, create=True).dispose()
    # Empty and full take turns, a round each at a time: a moment of the machine's (a
    # checkpoint, another process) falls on both sides instead of making one of them slow.
    per_round = max(pipe_mails // MAIL_ROUNDS, 1)
    import_mails = max(per_round * 4, 20)
    pipes: dict[str, list[float]] = {"empty": [], "full": []}
    imports: dict[str, list[float]] = {"empty": [], "full": []}
    with restored(engine):
        for _ in range(MAIL_ROUNDS):
            for side, url in (("empty", empty), ("full", db.url)):
                walls, imported = _per_mail_ms(url, work / f"home-{side}", per_round, import_mails)
                pipes[side] += walls
                imports[side].append(imported)
    figures = []
    for label, at_n, at_empty in (
        ("pipe", statistics.median(pipes["full"]), statistics.median(pipes["empty"])),
        ("import", statistics.median(imports["full"]), statistics.median(imports["empty"])),
    ):
        ratio = at_n / at_empty
        figures.append(
            Figure(
                db.kind,
                f"{label} per mail, full vs empty database",
                [],
                text=f"{at_n:.1f} ms vs {at_empty:.1f} ms = {ratio:.2f}x",
                target_ms=TARGET_MAIL_RATIO,
                ratio=ratio / TARGET_MAIL_RATIO,
            )
        )
    return figures


def report_figures(db: Database, engine: Any, runs: int) -> list[Figure]:
    """`tuidesk report` (storage.report.build_report, as the command calls it) over the last 30
    and 365 days of the data, for every branch and for the biggest one, the backlog as of the
    data's end."""
    from sqlalchemy import text

    from tuidesk.storage.report import build_report

    now = START + SPAN
    until = (now - timedelta(days=1)).date()
    figures = []
    with engine.connect() as conn:
        biggest = conn.execute(text("SELECT key FROM branch WHERE id = 1")).scalar_one()
        for days in (30, 365):
            since = until - timedelta(days=days - 1)
            for branch in (None, biggest):
                figures.append(
                    Figure(
                        db.kind,
                        f"report, {days} days, {f'branch {branch}' if branch else 'all branches'}",
                        _ms(lambda s=since, b=branch: build_report(conn, s, until, b, now), runs),
                        TARGET_REPORT_MS,
                    )
                )
    return figures


def size_figures(db: Database, engine: Any) -> list[Figure]:
    """Bytes per table next to its indexes' (SQLite: dbstat; PostgreSQL: pg_relation_size with
    TOAST, pg_indexes_size)."""
    from sqlalchemy import text

    sizes: dict[str, list[int]] = {}  # table: [data, indexes]
    with engine.connect() as conn:
        if db.kind == "sqlite":
            owner = dict(conn.execute(text("SELECT name, tbl_name FROM sqlite_master")).all())
            try:
                rows = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
            except Exception:  # noqa: BLE001 - a SQLite built without dbstat: the file only
                path = Path(db.url.removeprefix("sqlite:///"))
                return [
                    Figure(db.kind, "file size", [], text=f"{path.stat().st_size / 2**20:,.0f} MiB")
                ]
            for name, size in rows:
                table = owner.get(name, name)
                sizes.setdefault(table, [0, 0])[name != table] += int(size)
        else:
            for table, data, indexes in conn.execute(
                text(
                    "SELECT relname, pg_total_relation_size(oid) - pg_indexes_size(oid),"
                    " pg_indexes_size(oid) FROM pg_class WHERE relkind = 'r'"
                    " AND relnamespace = 'public'::regnamespace"
                )
            ):
                sizes[table] = [int(data), int(indexes)]
    # The full-text index (FTS5's tables and their shadows; PostgreSQL's tables and GIN) apart.
    search = sum(sum(sizes.pop(t)) for t in [t for t in sizes if t.startswith("search_")])
    figures = []
    mib = 2**20
    for table, (data, indexes) in sorted(sizes.items(), key=lambda kv: -sum(kv[1])):
        if table in ("ticket", "message", "contact") or data + indexes >= 4 * mib:
            figures.append(
                Figure(
                    db.kind,
                    f"size of {table}",
                    [],
                    text=f"data {data / mib:,.0f} MiB, indexes {indexes / mib:,.0f} MiB",
                )
            )
    data = sum(d for d, _ in sizes.values())
    indexes = sum(i for _, i in sizes.values())
    figures += [
        Figure(
            db.kind,
            "size of the full-text index (search_*)",
            [],
            text=f"{search / mib:,.0f} MiB ({search / max(data, 1):.0%} of the data)",
        ),
        Figure(
            db.kind,
            "size of everything",
            [],
            text=f"data {data / mib:,.0f} MiB, indexes {indexes / mib:,.0f} MiB"
            f" ({indexes / max(data, 1):.0%} of the data), full-text {search / mib:,.0f} MiB",
        ),
    ]
    return figures


def console_figures(db: Database, engine: Any, presses: int, at: str = "") -> list[Figure]:
    """The console's figures; `at` names a baseline's size (the same console on a small desk:
    what the machine's load makes of the drawing alone, whatever the tickets)."""
    times = asyncio.run(_console(engine, presses))
    targets = {
        "first paint": TARGET_FIRST_PAINT_MS,
        "j": TARGET_MOVE_MS,
        "k": TARGET_MOVE_MS,
        "/": TARGET_FOCUS_MS,
        "Esc": TARGET_FOCUS_MS,
    }
    names = {
        "first paint": "console first paint",
        "whole list": "console: every id of the view",
        "j": "console j (down)",
        "k": "console k (up)",
        "/": "console / (search opens)",
        "Esc": "console Esc (back to the whole view)",
    }
    if at:
        return [Figure(db.kind, f"{names[k]} {at}", v) for k, v in times.items()]
    return [Figure(db.kind, names[k], v, targets.get(k)) for k, v in times.items()]


def baseline_figures(kind: str, cache: Path, presses: int) -> list[Figure]:
    """The console on a desk of BASELINE tickets, built like the big one."""
    from tuidesk.storage.schema import open_database

    small = open_cached(kind, Plan(BASELINE), cache)
    try:
        engine = open_database(small.url)
        figures = console_figures(small, engine, presses, at=f"(at {BASELINE:,} tickets)")
        engine.dispose()
    finally:
        if small.server is not None:
            small.server.stop()
    return [f for f in figures if "every id" not in f.name]


# --------------------------------------------------------------------------------------------
# The table


def print_figures(figures: list[Figure], plan: Plan, messages: dict[str, int]) -> None:
    print()
    built = ", ".join(f"{k}: {v:,} messages" for k, v in messages.items())
    print(f"tuidesk at {plan.tickets:,} tickets ({built})")
    print(
        f"{'database':<10} {'figure':<46} {'runs':>4} {'median':>9} {'p95':>9}  {'target':<9} "
        f"{'ratio':>6}  met"
    )
    print("-" * 108)
    for f in figures:
        if f.values_ms:
            ratio = f.p95 / f.target_ms if f.target_ms else None
            cells = f"{len(f.values_ms):>4} {f.median:7.1f}ms {f.p95:7.1f}ms"
        else:
            ratio = f.ratio
            cells = f"{'':>4} {f.text:>19}" if len(f.text) <= 19 else f"     {f.text}"
        if f.target_ms is None:
            target = ""
        elif f.values_ms:
            target = f"< {f.target_ms:.0f} ms"
        else:
            target = f"< {f.target_ms:.1f}x"
        met = "" if ratio is None else ("yes" if ratio < 1 else "NO")
        ratio_text = "" if ratio is None else f"{ratio:.2f}"
        if len(cells) > 33:
            print(f"{f.database:<10} {f.name:<46} {cells.strip()}")
            if target:
                print(f"{'':<10} {'':<46} {'':>33}  {target:<9} {ratio_text:>6}  {met}")
        else:
            print(f"{f.database:<10} {f.name:<46} {cells}  {target:<9} {ratio_text:>6}  {met}")
        if f.target_ms is not None and ratio is not None:
            result = f"p95 {f.p95:.0f} ms" if f.values_ms else f.text
            target_text = target.replace("< ", "< ")
            headline(
                "scale",
                f"{f.database} at {plan.tickets:,}: {f.name}",
                result,
                target_text,
                ratio < 1,
            )
    print("(ratio: p95 / target, or the full/empty ratio / 1.2; under 1 meets the target)")


GROUPS = ("console", "list", "search", "mail", "report", "size")  # the figures `--only` can pick


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets in the database")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help="where built databases are kept (outside the repository)",
    )
    parser.add_argument("--presses", type=int, default=20, help="presses per console key")
    parser.add_argument("--runs", type=int, default=10, help="runs per query figure")
    parser.add_argument("--mails", type=int, default=30, help="mails piped per database")
    parser.add_argument("--build-only", action="store_true", help="build the databases, no figures")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated figure groups to measure: {', '.join(GROUPS)}",
    )
    args = parser.parse_args(argv)
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    if only - set(GROUPS):
        parser.error(f"unknown figure group: {', '.join(sorted(only - set(GROUPS)))}")
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    unknown = set(kinds) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database: {', '.join(sorted(unknown))}")
    from tuidesk.storage.schema import open_database

    plan = Plan(args.tickets)
    _say(f"bench.scale: {machine_line()}")
    figures: list[Figure] = []
    messages: dict[str, int] = {}
    for kind in kinds:
        db = open_cached(kind, plan, args.cache)
        messages[kind] = db.messages
        if args.build_only:
            if db.server is not None:
                db.server.stop()
            continue
        try:
            engine = open_database(db.url)
            with tempfile.TemporaryDirectory(prefix="tuidesk-bench-scale-") as tmp:
                if "console" in only:
                    _say(f"{kind}: the console …")
                    figures += console_figures(db, engine, args.presses)
                    if plan.tickets > BASELINE:
                        figures += baseline_figures(kind, args.cache, args.presses)
                if "list" in only:
                    _say(f"{kind}: the list's queries …")
                    figures += list_figures(db, engine, args.runs)
                if "search" in only:
                    _say(f"{kind}: search …")
                    figures += search_figures(db, engine, plan, args.runs)
                if "mail" in only:
                    _say(f"{kind}: pipe and import …")
                    figures += mail_figures(db, engine, Path(tmp), args.mails)
                if "report" in only:
                    _say(f"{kind}: the report …")
                    figures += report_figures(db, engine, args.runs)
                if "size" in only:
                    _say(f"{kind}: sizes …")
                    figures += size_figures(db, engine)
            engine.dispose()
        finally:
            if db.server is not None:
                db.server.stop()
    if not args.build_only:
        print_figures(figures, plan, messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
