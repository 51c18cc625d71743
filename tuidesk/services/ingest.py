"""One door-agnostic way in: pipe, import and IMAP all hand raw bytes to an Ingestor."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from tuidesk.engine.decision import (
    Commented,
    Created,
    Decision,
    Duplicate,
    Ignored,
    Quarantined,
)
from tuidesk.engine.parse import content_hash
from tuidesk.engine.process import (
    Analysis,
    analyse_chunk,
    analyse_safely,
    internal_error,
    resolve,
)
from tuidesk.engine.rules import ChannelRule, RuleSet
from tuidesk.storage.apply import LOG_ONLY, Outcome, apply_decision, log_only, log_rows
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import transaction
from tuidesk.storage.lookup import StorageLookup
from tuidesk.storage.settings import load_channel, load_rules
from tuidesk.storage.tables import tables

ANALYSIS_WORKERS = 2  # processes that analyse while this one fetches and writes


def dry_run(conn: Connection, raw: bytes, rules: RuleSet, channel: ChannelRule | None) -> Decision:
    """The decision for `raw` with nothing written: `pipe --dry-run`, and the admin preview
    with settings not saved yet. `rules` are the global rules with the channel's merged in
    (`RuleSet.for_channel`)."""
    analysis = analyse_safely(raw, rules, channel)
    return resolve(analysis, rules, StorageLookup(conn), now=datetime.now(UTC), channel=channel)


class UnknownChannel(LookupError):
    pass


class Ingestor:
    """Rules are loaded once per run; each mail is decided and applied in one transaction."""

    def __init__(
        self, engine: Engine, blobs: BlobStore, *, source: str, channel: str | None = None
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.source = source
        with transaction(engine) as conn:
            rules = load_rules(conn)
            self.channel: ChannelRule | None = load_channel(conn, channel) if channel else None
        if channel and self.channel is None:
            raise UnknownChannel(f"no channel named {channel!r}")
        self.rules: RuleSet = rules.for_channel(self.channel)
        if source == "import":  # old mail brought in: its senders wrote long ago
            self.rules = replace(self.rules, acknowledge=False)

    def analyse(self, raw: bytes, *, defer_body: bool = False) -> Analysis:
        return analyse_safely(raw, self.rules, self.channel, defer_body=defer_body)

    def decide(self, lookup: StorageLookup, analysis: Analysis) -> Decision:
        return resolve(analysis, self.rules, lookup, now=datetime.now(UTC), channel=self.channel)

    def dry_run(self, raw: bytes) -> Decision:
        with self.engine.connect() as conn:
            return dry_run(conn, raw, self.rules, self.channel)

    def ingest(self, raw: bytes) -> Outcome:
        return next(self.ingest_many([raw]))

    def ingest_many(
        self, raws: Iterable[bytes], batch: int = 1, *, parallel: bool = False
    ) -> Iterator[Outcome]:
        """Yield one Outcome per mail. With batch > 1 (import), mails share a transaction, each
        in its own savepoint, and outcomes are yielded only once that transaction committed.
        `parallel` analyses the next batches in other processes while this one is written."""
        mails = iter(raws)
        chunks = iter(lambda: list(islice(mails, batch)), [])
        if parallel and (os.cpu_count() or 1) > 1:
            analysed = self._analysed_in_workers(chunks)
        else:
            analysed = ((chunk, self._analyse_chunk(chunk)) for chunk in chunks)
        for chunk, analyses in analysed:
            with transaction(self.engine) as conn:
                lookup = StorageLookup(conn)
                lookup.prefetch_unseen([a.content_hash for a in analyses])
                lookup.prefetch_outbound([i for a in analyses for i in a.bounced_message_ids])
                outcomes = self._ingest_batch(lookup, chunk, analyses)
            yield from outcomes

    def _ingest_batch(
        self, lookup: StorageLookup, chunk: list[bytes], analyses: list[Analysis]
    ) -> list[Outcome]:
        """Most machine mail needs nothing written but its log row: those rows are held and
        written in one statement, before the next mail that needs more and at the end, instead
        of a savepoint and an INSERT each. Every other mail has a savepoint of its own."""
        outcomes: list[Outcome] = []
        held: list[tuple[bytes, Analysis, dict[str, Any]]] = []
        for raw, analysis in zip(chunk, analyses, strict=True):
            decision = self._log_only_decision(lookup, analysis)
            if decision is None:
                self._write_held(lookup, held, outcomes)
                outcomes.append(self.ingest_in(lookup, raw, analysis))
                continue
            row, outcome = log_only(decision, self.source)
            lookup.hold(analysis.content_hash, outcome.action)
            held.append((raw, analysis, row))
            outcomes.append(outcome)
        self._write_held(lookup, held, outcomes)
        return outcomes

    def _log_only_decision(
        self, lookup: StorageLookup, analysis: Analysis
    ) -> Ignored | Duplicate | None:
        """The decision on machine or filtered mail, when all it needs written is its log row.
        Its reads are ones that cannot fail (a content hash, a ticket number, or answered by
        the batch's prefetch), so no savepoint guards them."""
        if analysis.quarantine or not (analysis.verdict or analysis.ignore):
            return None
        if analysis.bounced_message_ids and not lookup.outbound_prefetched:
            return None
        decision = self.decide(lookup, analysis)
        return decision if isinstance(decision, LOG_ONLY) else None

    def _write_held(
        self,
        lookup: StorageLookup,
        held: list[tuple[bytes, Analysis, dict[str, Any]]],
        outcomes: list[Outcome],
    ) -> None:
        """Write the held rows; if one of them fails (another process wrote that mail
        meanwhile), none is written and each mail is ingested on its own instead, so the
        outcomes of the others stand."""
        if not held:
            return
        conn = lookup.conn
        try:
            with conn.begin_nested():
                log_rows(conn, [row for _raw, _analysis, row in held])
        except (OperationalError, OSError):
            raise
        except Exception:  # noqa: BLE001 - one at a time, each with its own outcome
            lookup.release_held()
            outcomes[-len(held) :] = [self.ingest_in(lookup, raw, a) for raw, a, _row in held]
        lookup.release_held()
        for _raw, analysis, _row in held:
            lookup.recorded(analysis.content_hash)
        held.clear()

    def _analysed_in_workers(
        self, chunks: Iterator[list[bytes]]
    ) -> Iterator[tuple[list[bytes], list[Analysis]]]:
        """Pipelining: the workers analyse the next chunks while the caller writes chunk n.
        Two workers beside this process keep two cores busy whichever side has more to do
        (analysing costs more than fetching and writing, but not always). They are spawned,
        not forked: a forked child would inherit this process's database and IMAP sockets
        and, outliving a killed parent, keep its transaction open."""
        import multiprocessing
        from concurrent.futures import Future, ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        def analysed(chunk: list[bytes], future: Future) -> tuple[list[bytes], list[Analysis]]:
            """A worker that died (out of memory, a crash) leaves its chunk to us."""
            try:
                return chunk, future.result()
            except BrokenProcessPool:
                return chunk, self._analyse_chunk(chunk)

        first = next(chunks, None)
        second = next(chunks, None)
        if second is None:  # one batch: starting a worker would cost more than it saves
            if first:
                yield first, self._analyse_chunk(first)
            return
        context = multiprocessing.get_context("spawn")
        workers = min(ANALYSIS_WORKERS, os.cpu_count() or 1)
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending: deque[tuple[list[bytes], Future]] = deque()
            for chunk in chain([first, second], chunks):
                pending.append((chunk, pool.submit(analyse_chunk, chunk, self.rules, self.channel)))
                if len(pending) > workers:
                    yield analysed(*pending.popleft())
            while pending:
                yield analysed(*pending.popleft())

    def _analyse_chunk(self, chunk: list[bytes]) -> list[Analysis]:
        return analyse_chunk(chunk, self.rules, self.channel)

    def ingest_in(self, lookup: StorageLookup, raw: bytes, analysis: Analysis) -> Outcome:
        """Decide and apply inside a savepoint of the caller's transaction, so one mail's
        database error (on PostgreSQL it aborts the transaction) never spoils the others."""
        conn = lookup.conn
        try:
            outcome = self._decide_and_apply(lookup, raw, analysis)
        except IntegrityError:
            # Another process committed the same mail first: it is a duplicate now.
            lookup.recorded(analysis.content_hash)
            outcome = self._decide_and_apply(lookup, raw, analysis)
        except (OperationalError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - no mail may stop an import: keep it aside
            quarantine = Quarantined(
                reason=internal_error(exc), content_hash=content_hash(raw), message_id=None,
                mail=None, steps=(), channel=self.channel.name if self.channel else None,
            )  # fmt: skip
            with conn.begin_nested():
                outcome = self._apply(conn, quarantine, raw)
        lookup.recorded(analysis.content_hash)
        return outcome

    def _decide_and_apply(self, lookup: StorageLookup, raw: bytes, analysis: Analysis) -> Outcome:
        with lookup.conn.begin_nested():
            decision = self.decide(lookup, analysis)
            if analysis.body_deferred and isinstance(decision, Created | Commented):
                # A bounce of our own mail becomes a note on its ticket: that needs the body.
                decision = self.decide(lookup, self.analyse(raw))
            return self._apply(lookup.conn, decision, raw)

    def _apply(self, conn: Connection, decision: Decision, raw: bytes) -> Outcome:
        return apply_decision(conn, decision, raw, source=self.source, blobs=self.blobs)


def retry_quarantined(engine: Engine, blobs: BlobStore, qid: int) -> Outcome | None:
    """Forget that this mail was seen and ingest it again, in one transaction: it leaves the
    quarantine only together with its new outcome (which may be a new quarantine row)."""
    with engine.connect() as conn:
        q = tables(conn).quarantine
        origin = conn.execute(select(q.c.source, q.c.channel).where(q.c.id == qid)).first()
    if origin is None:
        return None
    ingestor = Ingestor(engine, blobs, source=origin.source, channel=origin.channel)
    with transaction(engine) as conn:
        item = conn.execute(select(q.c.raw, q.c.sha256).where(q.c.id == qid)).first()
        if item is None:
            return None
        log = tables(conn).ingest_log
        conn.execute(update(log).where(log.c.dedupe_key == item.sha256).values(dedupe_key=None))
        conn.execute(delete(q).where(q.c.id == qid))
        return ingestor.ingest_in(StorageLookup(conn), item.raw, ingestor.analyse(item.raw))
