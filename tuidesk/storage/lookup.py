"""Storage's answers to the engine's questions (the engine's Lookup protocol), read-only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from tuidesk.engine.decision import AgentRef, SeenBefore, TicketRef
from tuidesk.engine.enums import Direction, TicketStatus
from tuidesk.engine.participants import TicketMail
from tuidesk.engine.refs import ticket_ref
from tuidesk.storage.tables import aware, tables

# Ticket numbers are 32-bit everywhere; larger numbers name no ticket (and PostgreSQL would
# refuse to compare them with an INTEGER column).
MAX_TICKET_NUMBER = 2**31 - 1
MAX_MERGE_HOPS = 64  # a longer chain of merges is taken for a loop (merge makes neither)


class StorageLookup:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.t = tables(conn)
        self._not_seen: set[str] = set()
        self._held: dict[str, SeenBefore] = {}
        # The Message-IDs asked for at once (None: not asked), and for those that name mail we
        # sent, the id and ticket of the newest such message.
        self._asked: set[str] | None = None
        self._outbound: dict[str, tuple[int, int | None]] = {}
        self._agents: dict[str, AgentRef] | None = None  # read once per lookup: agents are few

    def prefetch_unseen(self, hashes: Sequence[str]) -> None:
        """Ask once for a whole batch which mails are new, instead of once per mail."""
        log = self.t.ingest_log
        wanted = set(hashes)
        seen = self.conn.execute(select(log.c.dedupe_key).where(log.c.dedupe_key.in_(wanted)))
        self._not_seen = wanted - set(seen.scalars())

    def prefetch_outbound(self, message_ids: Sequence[str]) -> None:
        """Ask once for a batch which of the Message-IDs bounces name are mail we sent. The
        answer holds for the whole batch: a bounce names mail sent before it arrived, and
        ingest sends nothing. A Message-ID the database refuses (NUL on PostgreSQL) leaves
        each bounce to ask on its own, in its own savepoint."""
        message = self.t.message
        wanted = set(message_ids)
        if not wanted:
            self._asked = wanted
            return
        query = select(message.c.message_id, message.c.id, message.c.ticket_id).where(
            message.c.message_id.in_(wanted), message.c.direction == Direction.OUT
        )
        try:
            with self.conn.begin_nested():
                rows = self.conn.execute(query).all()
        except OperationalError:
            raise
        except DBAPIError:
            return
        for mid, row_id, ticket_id in rows:
            if row_id > self._outbound.get(mid, (0, None))[0]:
                self._outbound[mid] = (row_id, ticket_id)
        self._asked = wanted

    @property
    def outbound_prefetched(self) -> bool:
        """Bounces of this batch are answered without a query that could fail."""
        return self._asked is not None

    def recorded(self, content_hash: str) -> None:
        """A mail of the batch was written: the next copy of it must ask the database."""
        self._not_seen.discard(content_hash)

    def hold(self, content_hash: str, outcome: str) -> None:
        """A mail of the batch will be logged with `outcome` at the batch's end: the next copy
        of it is a duplicate of it already."""
        self._held[content_hash] = SeenBefore(outcome, None)
        self._not_seen.discard(content_hash)

    def release_held(self) -> None:
        """The held log rows were not written after all: ask the database again."""
        self._held.clear()

    def _ref(self, ticket_id: int | None) -> TicketRef | None:
        """The ticket, or the one it was merged into (along the chain): mail threading to a
        merged ticket lands where its conversation went."""
        if ticket_id is None or not 0 < ticket_id <= MAX_TICKET_NUMBER:
            return None
        ticket, branch, contact = self.t.ticket, self.t.branch, self.t.contact
        ttype = self.t.ticket_type
        query = (
            select(
                ticket.c.id,
                ticket.c.status,
                ticket.c.updated_at,
                ticket.c.merged_into_id,
                branch.c.key,
                contact.c.email,
                ttype.c.name.label("type_name"),
            )
            .join(branch, branch.c.id == ticket.c.branch_id)
            .outerjoin(contact, contact.c.id == ticket.c.requester_id)
            .outerjoin(ttype, ttype.c.id == ticket.c.ticket_type_id)
        )
        row = self.conn.execute(query.where(ticket.c.id == ticket_id)).first()
        if row is not None and row.merged_into_id is not None:  # one query when not merged
            final = final_ticket(self.conn, row.merged_into_id)
            row = (
                None
                if final is None
                else self.conn.execute(query.where(ticket.c.id == final)).first()
            )
        if row is None:
            return None
        return TicketRef(
            number=row.id,
            ref=ticket_ref(row.key, row.id),
            status=TicketStatus(row.status),
            requester_email=(row.email or "").lower(),
            updated_at=aware(row.updated_at),
            ticket_type=row.type_name,
        )

    def already_ingested(self, content_hash: str) -> SeenBefore | None:
        if content_hash in self._not_seen:
            return None
        if content_hash in self._held:
            return self._held[content_hash]
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
        asked = self._asked
        if outbound_only and asked is not None and all(m in asked for m in message_ids):
            found = [self._outbound[m] for m in message_ids if m in self._outbound]
            return self._ref(max(found, key=lambda f: f[0])[1]) if found else None
        message, outbox = self.t.message, self.t.outbox
        query = select(message.c.ticket_id).where(message.c.message_id.in_(list(message_ids)))
        if outbound_only:
            query = query.where(message.c.direction == Direction.OUT)
        found = self.conn.execute(query.order_by(message.c.id.desc()).limit(1)).scalar()
        if found is None and not outbound_only:
            # A reply to a notification to an agent: mail about the ticket, not one of its
            # messages. A bounce asks outbound_only: one of a notification is ignored.
            query = select(outbox.c.ticket_id).where(
                outbox.c.message_id.in_(list(message_ids)), outbox.c.ticket_id.is_not(None)
            )
            found = self.conn.execute(query.order_by(outbox.c.id.desc()).limit(1)).scalar()
        return self._ref(found)

    def is_agent(self, email: str) -> bool:
        return self.agent_for(email) is not None

    def agent_for(self, email: str) -> AgentRef | None:
        if self._agents is None:
            self._agents = agent_addresses(self.conn)
        return self._agents.get(email.lower())

    def ticket_mails(self, number: int) -> list[TicketMail]:
        return ticket_mails(self.conn, number)

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


def agent_addresses(conn: Connection) -> dict[str, AgentRef]:
    """Every agent's address and aliases, lower-cased, to the agent (the first one added, if
    two agents list the same alias)."""
    agent = tables(conn).agent
    found: dict[str, AgentRef] = {}
    rows = conn.execute(
        select(agent.c.id, agent.c.name, agent.c.email, agent.c.aliases).order_by(agent.c.id)
    )
    for row in rows:
        ref = AgentRef(row.id, row.name, row.email.lower())
        for address in [row.email, *(row.aliases or [])]:
            found.setdefault(address.lower(), ref)
    return found


def is_agent(conn: Connection, email: str) -> bool:
    """An agent's address or one of their aliases."""
    return email.lower() in agent_addresses(conn)


def agent_id_by_email(conn: Connection, email: str) -> int | None:
    """The agent who mails from this address: their own or one of their aliases."""
    agent = agent_addresses(conn).get(email.lower())
    return agent.id if agent else None


def ticket_mails(conn: Connection, number: int) -> list[TicketMail]:
    """Who sent and received each mail of a ticket, oldest first: what decides who takes part
    in it (engine.participants), for the engine and for a reply to all. The requesters of
    tickets merged into it come first, as if we had written to them: they take part here as
    they did in theirs, and so do the people they copied."""
    merged = [TicketMail(Direction.OUT, "", (email,)) for email in merged_requesters(conn, number)]
    message = tables(conn).message
    rows = conn.execute(
        select(message.c.direction, message.c.from_email, message.c.to, message.c.cc)
        .where(message.c.ticket_id == number)
        .order_by(message.c.id)
    )
    return merged + [
        TicketMail(
            Direction(row.direction), row.from_email, tuple(a["email"] for a in [*row.to, *row.cc])
        )
        for row in rows
    ]


def final_ticket(conn: Connection, number: int) -> int | None:
    """Where mail for ticket `number` goes: the ticket itself, or the last of the chain it was
    merged along. None for a missing ticket or a loop."""
    ticket = tables(conn).ticket
    seen: set[int] = set()
    while number not in seen and len(seen) < MAX_MERGE_HOPS:
        seen.add(number)
        row = conn.execute(select(ticket.c.merged_into_id).where(ticket.c.id == number)).first()
        if row is None:
            return None
        if row.merged_into_id is None:
            return number
        number = row.merged_into_id
    return None


def merged_requesters(conn: Connection, number: int) -> list[str]:
    """The requesters of every ticket merged into this one, directly or along a chain."""
    t = tables(conn)
    found: list[str] = []
    frontier, seen = [number], {number}
    while frontier and len(seen) < MAX_MERGE_HOPS:
        rows = conn.execute(
            select(t.ticket.c.id, t.contact.c.email)
            .outerjoin(t.contact, t.contact.c.id == t.ticket.c.requester_id)
            .where(t.ticket.c.merged_into_id.in_(frontier))
            .order_by(t.ticket.c.id)
        ).all()
        frontier = [r.id for r in rows if r.id not in seen]
        seen.update(frontier)
        found += [r.email for r in rows if r.email]
    return found
