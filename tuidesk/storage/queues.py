"""Queues: where agents look for work. One save function behind the admin form, the CLI and
`config import`, so the three accept exactly the same names and colours."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Channel, Queue, Ticket
from tuidesk.storage.settings import get_settings, set_setting

MAX_NAME = 40


class QueueError(Invalid):
    pass


def list_queues(session: Session) -> list[Queue]:
    return list(session.exec(select(Queue).order_by(col(Queue.name))))


def get_queue(session: Session, name: str) -> Queue:
    queue = session.exec(select(Queue).where(Queue.name == name)).first()
    if queue is None:
        raise QueueError(f"no queue named {name!r}", field="name")
    return queue


def check_name(value: str | None, what: str = "a name") -> str:
    """A name as the ticket list shows it: one short line."""
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{what} must be text")
    name = checks.text(value, what)
    if len(name) > MAX_NAME:
        raise Invalid(f"{what} must be at most {MAX_NAME} characters, not {len(name)}")
    return name


def check_colour(value: str | None) -> str:
    """Whatever the ticket list can draw (widgets.ticket_list.queue_style parses it with Rich):
    a colour name such as green or bright_red, #rrggbb, or default."""
    from rich.color import Color, ColorParseError

    if value is not None and not isinstance(value, str):
        raise Invalid("a colour must be text")
    colour = checks.text(value, "colour", required=False).lower() or "default"
    try:
        Color.parse(colour)
    except ColorParseError:
        raise Invalid(
            f"{colour!r} is not a colour: use a name such as green or bright_red, or #rrggbb"
        ) from None
    return colour


def save_queue(
    session: Session, *, name: str, colour: str | None = "default", queue: Queue | None = None
) -> Queue:
    """Add a queue, or change `queue`. A rename follows into the channels and the
    default_queue setting that name it, so nothing is left pointing at the old name."""
    c = Collector()
    clean_name = c.check("name", check_name, name)
    clean_colour = c.check("colour", check_colour, colour)
    if clean_name is not None:
        same = session.exec(
            select(Queue).where(
                func.lower(Queue.name) == clean_name.lower(),
                Queue.id != (queue.id if queue else None),
            )
        ).first()
        if same is not None:
            c.add("name", f"a queue named {same.name!r} exists already")
    c.raise_if_any(QueueError)
    assert clean_name is not None and clean_colour is not None
    if queue is not None and queue.name != clean_name:
        _rename_references(session, queue.name, clean_name)
    queue = queue or Queue(name=clean_name)
    queue.name, queue.colour = clean_name, clean_colour
    session.add(queue)
    session.flush()
    return queue


def _rename_references(session: Session, old: str, new: str) -> None:
    for channel in session.exec(select(Channel).where(Channel.queue == old)):
        channel.queue = new
        session.add(channel)
    if get_settings(session.connection())["default_queue"] == old:
        set_setting(session.connection(), "default_queue", new)


def remove_queue(session: Session, queue: Queue) -> None:
    """Only a queue nothing uses: its tickets would lose their queue, and a channel or the
    default_queue setting naming it would quietly create it again with the next mail."""
    tickets = session.exec(
        select(func.count()).select_from(Ticket).where(Ticket.queue_id == queue.id)
    ).one()
    if tickets:
        raise QueueError(
            f"queue {queue.name!r} has {tickets} ticket(s); move them to another queue first",
            field="name",
        )
    channel = session.exec(select(Channel.name).where(Channel.queue == queue.name)).first()
    if channel is not None:
        raise QueueError(
            f"channel {channel!r} puts its tickets in queue {queue.name!r}; change it first",
            field="name",
        )
    if get_settings(session.connection())["default_queue"] == queue.name:
        raise QueueError(
            f"queue {queue.name!r} is the default_queue setting; change that first", field="name"
        )
    session.delete(queue)
    session.flush()
