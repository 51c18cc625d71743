"""`config export` / `config import`: every rule, branch, queue, ticket type and channel as TOML."""

from __future__ import annotations

import tomllib
from typing import Any

from sqlmodel import Session, func, select

from tuidesk.storage.agents import AgentError, list_agents, save_agent
from tuidesk.storage.branches import BranchError, get_branch, list_branches, save_branch
from tuidesk.storage.channel_state import ChannelError
from tuidesk.storage.channels import validate as validate_channel
from tuidesk.storage.models import Agent, Channel, CustomField, OutgoingChannel, Queue, TicketType
from tuidesk.storage.outgoing import OutgoingError, list_outgoing, save_outgoing
from tuidesk.storage.settings import SETTINGS, get_settings, set_setting

HEADER = """\
# tuidesk configuration. Import with `tuidesk config import FILE`.
# [settings]: the rules mail goes through. Keys left out keep their defaults.
"""


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: an absent key means 'unset'."""
    return {k: v for k, v in data.items() if v is not None}


def export_config(session: Session) -> str:
    import tomli_w

    doc: dict[str, Any] = {"settings": _drop_none(get_settings(session.connection()))}
    doc["branch"] = [
        {
            "name": b.name,
            "key": b.key,
            "addresses": b.addresses,
            "domains": b.domains,
            "default": b.is_default,
        }
        for b in list_branches(session)
    ]
    doc["queue"] = [{"name": q.name, "colour": q.colour} for q in session.exec(select(Queue))]
    doc["ticket_type"] = [
        {
            "name": tt.name,
            "field": [
                _drop_none(
                    {"name": f.name, "kind": f.kind, "required": f.required, "default": f.default}
                )
                for f in session.exec(
                    select(CustomField).where(CustomField.ticket_type_id == tt.id)
                )
            ],
        }
        for tt in session.exec(select(TicketType))
    ]
    doc["channel"] = [_channel_entry(c) for c in session.exec(select(Channel))]
    doc["outgoing"] = [_channel_entry(o) for o in list_outgoing(session)]
    doc["agent"] = [_drop_none(_fields(a, exclude={"id"})) for a in list_agents(session)]
    lines = "\n".join(f"#   {key}: {help_}" for key, (_, help_) in SETTINGS.items())
    return HEADER + lines + "\n\n" + tomli_w.dumps({k: v for k, v in doc.items() if v})


def _fields(row: Agent | Channel | OutgoingChannel, exclude: set[str]) -> dict[str, Any]:
    """A row's fields in declaration order: model_dump's order depends on how the row was
    loaded, and an export should read the same every time."""
    return {k: getattr(row, k) for k in type(row).model_fields if k not in exclude}


# Runtime state, not configuration.
_CHANNEL_STATE = {"id", "failures", "last_error", "last_error_at", "cooloff_until"}


def _channel_entry(channel: Channel | OutgoingChannel) -> dict[str, Any]:
    """A stored secret only opens with this machine's key: it is left out, env and command
    references travel with the file."""
    entry = _drop_none(_fields(channel, exclude=_CHANNEL_STATE))
    if channel.secret_kind == "stored":
        entry.pop("secret_kind")
        entry.pop("secret_ref")
    return entry


class ConfigError(ValueError):
    pass


def import_config(session: Session, text: str) -> dict[str, int]:
    """Upsert everything by name; return how many of each were written."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from exc
    counts: dict[str, int] = {}
    for key, value in doc.get("settings", {}).items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}")
        set_setting(session.connection(), key, value)
    counts["settings"] = len(doc.get("settings", {}))
    for item in doc.get("branch", []):
        try:
            existing = get_branch(session, item["name"])
        except BranchError:
            existing = None
        try:
            save_branch(
                session,
                name=item["name"],
                key=item["key"],
                addresses=item.get("addresses", []),
                domains=item.get("domains", []),
                default=item.get("default", False),
                branch=existing,
            )
        except (BranchError, KeyError) as exc:
            raise ConfigError(f"branch {item.get('name')!r}: {exc}") from exc
    counts["branches"] = len(doc.get("branch", []))
    for item in doc.get("queue", []):
        queue = session.exec(select(Queue).where(Queue.name == item["name"])).first()
        queue = queue or Queue(name=item["name"])
        queue.colour = item.get("colour", queue.colour)
        session.add(queue)
    counts["queues"] = len(doc.get("queue", []))
    for item in doc.get("ticket_type", []):
        tt = session.exec(select(TicketType).where(TicketType.name == item["name"])).first()
        if tt is None:
            tt = TicketType(name=item["name"])
            session.add(tt)
            session.flush()
        for old in session.exec(select(CustomField).where(CustomField.ticket_type_id == tt.id)):
            session.delete(old)
        session.flush()
        for f in item.get("field", []):
            session.add(CustomField(ticket_type_id=tt.id, **f))
    counts["ticket_types"] = len(doc.get("ticket_type", []))
    for item in doc.get("channel", []):
        channel = session.exec(select(Channel).where(Channel.name == item["name"])).first()
        channel = channel or Channel(name=item["name"])
        for key, value in item.items():
            if key not in Channel.model_fields or key == "id":
                raise ConfigError(f"channel {item['name']!r}: unknown field {key!r}")
            setattr(channel, key, value)
        try:
            validate_channel(channel)
        except ChannelError as exc:
            raise ConfigError(f"channel {item['name']!r}: {exc}") from exc
        session.add(channel)
    counts["channels"] = len(doc.get("channel", []))
    for item in doc.get("outgoing", []):
        found = session.exec(
            select(OutgoingChannel).where(OutgoingChannel.name == item.get("name"))
        ).first()
        values = {k: v for k, v in item.items() if k != "is_default"}
        unknown = set(values) - set(OutgoingChannel.model_fields) | ({"id"} & set(values))
        if unknown:
            raise ConfigError(
                f"outgoing {item.get('name')!r}: unknown field {sorted(unknown)[0]!r}"
            )
        try:
            out = found or OutgoingChannel(**values)
            for key, value in values.items():
                setattr(out, key, value)
            save_outgoing(session, out, default=bool(item.get("is_default")))
            session.flush()
        except (OutgoingError, ValueError) as exc:
            raise ConfigError(f"outgoing {item.get('name')!r}: {exc}") from exc
    counts["outgoing"] = len(doc.get("outgoing", []))
    for item in doc.get("agent", []):
        try:
            found = session.exec(
                select(Agent).where(func.lower(Agent.email) == item["email"].lower())
            ).first()
            save_agent(
                session, name=item["name"], email=item["email"], role=item.get("role", "agent"),
                login=item.get("login"), agent=found,
            )  # fmt: skip
        except (AgentError, KeyError) as exc:
            raise ConfigError(f"agent {item.get('name')!r}: {exc}") from exc
    counts["agents"] = len(doc.get("agent", []))
    return counts
