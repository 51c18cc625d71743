"""One door-agnostic way in: pipe, import and IMAP all hand raw bytes to an Ingestor."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from tuidesk.engine.decision import Action, Decision
from tuidesk.engine.parse import content_hash
from tuidesk.engine.process import decide
from tuidesk.engine.rules import ChannelRule, RuleSet
from tuidesk.storage.apply import Outcome, apply_decision
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import transaction
from tuidesk.storage.lookup import StorageLookup
from tuidesk.storage.settings import load_channel, load_rules


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
            self.rules: RuleSet = load_rules(conn)
            self.channel: ChannelRule | None = load_channel(conn, channel) if channel else None
        if channel and self.channel is None:
            raise UnknownChannel(f"no channel named {channel!r}")

    def decide(self, conn: Connection, raw: bytes) -> Decision:
        return decide(
            raw, self.rules, StorageLookup(conn), now=datetime.now(UTC), channel=self.channel
        )

    def dry_run(self, raw: bytes) -> Decision:
        with self.engine.connect() as conn:
            return self.decide(conn, raw)

    def ingest(self, raw: bytes) -> Outcome:
        return next(self.ingest_many([raw]))

    def ingest_many(self, raws: Iterable[bytes], batch: int = 1) -> Iterator[Outcome]:
        """Yield one Outcome per mail. With batch > 1 (import), mails share a transaction, each
        in its own savepoint, and outcomes are yielded only once that transaction committed."""
        mails = iter(raws)
        while chunk := list(islice(mails, batch)):
            with transaction(self.engine) as conn:
                outcomes = [self.ingest_in(conn, raw) for raw in chunk]
            yield from outcomes

    def ingest_in(self, conn: Connection, raw: bytes) -> Outcome:
        """Decide and apply inside a savepoint of the caller's transaction, so one mail's
        database error (on PostgreSQL it aborts the transaction) never spoils the others."""
        try:
            return self._decide_and_apply(conn, raw)
        except IntegrityError:
            # Another process committed the same mail first: it is a duplicate now.
            return self._decide_and_apply(conn, raw)
        except (OperationalError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - no mail may stop an import: keep it aside
            first_line = (str(exc).splitlines() or [""])[0][:200]
            reason = f"internal error: {exc.__class__.__name__}: {first_line}"
            quarantine = Decision(Action.QUARANTINED, reason, content_hash(raw))
            with conn.begin_nested():
                return self._apply(conn, quarantine, raw)

    def _decide_and_apply(self, conn: Connection, raw: bytes) -> Outcome:
        with conn.begin_nested():
            return self._apply(conn, self.decide(conn, raw), raw)

    def _apply(self, conn: Connection, decision: Decision, raw: bytes) -> Outcome:
        return apply_decision(conn, decision, raw, source=self.source, blobs=self.blobs)
