"""Storage's answers to the engine's questions (the engine's Lookup protocol), read-only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select

from tuidesk.engine.decision import SeenBefore, TicketRef
from tuidesk.storage.tables import aware, tables

# Ticket numbers are 32-bit everywhere; larger numbers name no ticket (and PostgreSQL would
# refuse to compare them with an INTEGER column).
MAX_TICKET_NUMBER = 2**31 - 1


_REF = re.compile(r"^\s*(?:([A-Za-z][A-Za-z0-9]*)-)?(\d+)\s*$")


def ticket_ref(key: str, number: int) -> str:
    return f"{key}-{number}"


def parse_ref(ref: str) -> tuple[str | None, int] | None:
    """`SUP-42` or `42`."""
    match = _REF.match(ref)
    return (
        (match.group(1).upper() if match.group(1) else None, int(match.group(2))) if match else None
    )


class StorageLookup:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.t = tables(conn)
        self._not_seen: set[str] = set()

    def prefetch_unseen(self, hashes: Sequence[str]) -> None:
        """Ask once for a whole batch which mails are new, instead of once per mail."""
        log = self.t.ingest_log
        wanted = set(hashes)
        seen = self.conn.execute(select(log.c.dedupe_key).where(log.c.dedupe_key.in_(wanted)))
        self._not_seen = wanted - set(seen.scalars())

    def recorded(self, content_hash: str) -> None:
        """A mail of the batch was written: the next copy of it must ask the database."""
        self._not_seen.discard(content_hash)

    def _ref(self, ticket_id: int | None) -> TicketRef | None:
        if ticket_id is None or not 0 < ticket_id <= MAX_TICKET_NUMBER:
            return None
        ticket, branch, contact = self.t.ticket, self.t.branch, self.t.contact
        row = self.conn.execute(
            select(ticket.c.id, ticket.c.status, ticket.c.updated_at, branch.c.key, contact.c.email)
            .join(branch, branch.c.id == ticket.c.branch_id)
            .outerjoin(contact, contact.c.id == ticket.c.requester_id)
            .where(ticket.c.id == ticket_id)
        ).first()
        if row is None:
            return None
        return TicketRef(
            number=row.id,
            ref=ticket_ref(row.key, row.id),
            status=row.status,
            requester_email=(row.email or "").lower(),
            updated_at=aware(row.updated_at),
        )

    def already_ingested(self, content_hash: str) -> SeenBefore | None:
        if content_hash in self._not_seen:
            return None
        log = self.t.ingest_log
        row = self.conn.execute(
            select(log.c.outcome, log.c.ticket_id).where(log.c.dedupe_key == content_hash)
        ).first()
        return None if row is None else SeenBefore(row.outcome, self._ref(row.ticket_id))

    def ticket_by_number(self, number: int) -> TicketRef | None:
        return self._ref(number)

    def ticket_by_message_ids(
        self, message_ids: Sequence[str], *, outbound_only: bool = False
    ) -> TicketRef | None:
        message = self.t.message
        query = select(message.c.ticket_id).where(message.c.message_id.in_(list(message_ids)))
        if outbound_only:
            query = query.where(message.c.direction == "out")
        return self._ref(self.conn.execute(query.order_by(message.c.id.desc()).limit(1)).scalar())

    def is_agent(self, email: str) -> bool:
        agent = self.t.agent
        query = select(agent.c.id).where(func.lower(agent.c.email) == email.lower())
        return self.conn.execute(query).first() is not None

    def is_our_message(self, message_id: str) -> bool:
        outbox = self.t.outbox
        query = select(outbox.c.id).where(outbox.c.message_id == message_id).limit(1)
        return self.conn.execute(query).first() is not None

    def acknowledgements_since(self, email: str, since: datetime) -> int:
        outbox = self.t.outbox
        query = select(func.count()).where(
            outbox.c.kind == "ack",
            outbox.c.recipient_key == email.lower(),
            outbox.c.created_at >= since,
        )
        return int(self.conn.execute(query).scalar_one())
