"""Storage's answers to the engine's questions (the engine's Lookup protocol), read-only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, select

from tuidesk.engine.decision import TicketRef
from tuidesk.storage.models import Agent, Branch, Contact, IngestLog, Message, Ticket


def ticket_ref(key: str, number: int) -> str:
    return f"{key}-{number}"


class StorageLookup:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _ref(self, ticket_id: int | None) -> TicketRef | None:
        if ticket_id is None:
            return None
        row = self.session.exec(
            select(Ticket, Branch.key, Contact.email)
            .join(Branch, Branch.id == Ticket.branch_id)
            .outerjoin(Contact, Contact.id == Ticket.requester_id)
            .where(Ticket.id == ticket_id)
        ).first()
        if row is None:
            return None
        ticket, key, email = row
        return TicketRef(
            number=ticket.id,
            ref=ticket_ref(key, ticket.id),
            status=ticket.status,
            requester_email=(email or "").lower(),
            updated_at=ticket.updated_at,
        )

    def already_ingested(self, content_hash: str) -> TicketRef | None | bool:
        row = self.session.exec(
            select(IngestLog.id, IngestLog.ticket_id).where(IngestLog.dedupe_key == content_hash)
        ).first()
        return False if row is None else self._ref(row[1])

    def ticket_by_number(self, number: int) -> TicketRef | None:
        return self._ref(number)

    def ticket_by_message_ids(
        self, message_ids: Sequence[str], *, outbound_only: bool = False
    ) -> TicketRef | None:
        query = select(Message.ticket_id).where(Message.message_id.in_(list(message_ids)))
        if outbound_only:
            query = query.where(Message.direction == "out")
        ticket_id = self.session.exec(query.order_by(Message.id.desc()).limit(1)).first()
        return self._ref(ticket_id)

    def is_agent(self, email: str) -> bool:
        return (
            self.session.exec(
                select(Agent.id).where(func.lower(Agent.email) == email.lower())
            ).first()
            is not None
        )
