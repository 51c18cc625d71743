"""`config export` / `config import`: every rule, branch, queue, ticket type, channel, business
calendar and SLA policy as TOML."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session, col, func, select

from tuidesk.storage.agents import list_agents, save_agent
from tuidesk.storage.branches import get_branch, list_branches, save_branch
from tuidesk.storage.canned import get_canned, list_canned, save_canned
from tuidesk.storage.channels import save_channel
from tuidesk.storage.checks import Invalid
from tuidesk.storage.due import TARGETS, refresh_open
from tuidesk.storage.models import Agent, Branch, Channel, OutgoingChannel
from tuidesk.storage.outgoing import list_outgoing, save_outgoing
from tuidesk.storage.queues import get_queue, list_queues, save_queue
from tuidesk.storage.setting_checks import describe, save_settings
from tuidesk.storage.settings import SETTINGS, get_settings
from tuidesk.storage.sla import (
    described,
    get_calendar,
    get_policy,
    hour_specs,
    list_calendars,
    list_policies,
    save_calendar,
    save_policy,
    set_escalation_agents,
)
from tuidesk.storage.ticket_types import (
    get_ticket_type,
    list_ticket_types,
    save_ticket_type,
)

T = TypeVar("T")

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
            **_escalation(session, b),
        }
        for b in list_branches(session)
    ]
    doc["queue"] = [{"name": q.name, "colour": q.colour} for q in list_queues(session)]
    doc["ticket_type"] = [
        {"name": tt["name"], "field": [_drop_none(f) for f in tt["fields"]]}
        for tt in list_ticket_types(session)
    ]
    doc["channel"] = [_channel_entry(c) for c in session.exec(select(Channel))]
    doc["outgoing"] = [_channel_entry(o) for o in list_outgoing(session)]
    doc["agent"] = [_drop_none(_fields(a, exclude={"id"})) for a in list_agents(session)]
    doc["canned"] = [_drop_none(c) for c in list_canned(session)]
    doc["calendar"] = [
        {"name": c.name, "tz": c.tz, "hours": hour_specs(c), "holidays": c.holidays}
        for c in list_calendars(session)
    ]
    doc["sla_policy"] = [_drop_none(described(session, p)) for p in list_policies(session)]
    lines = "\n".join(f"#   {key}: {help_}" for key, (_, help_) in SETTINGS.items())
    return HEADER + lines + "\n\n" + tomli_w.dumps({k: v for k, v in doc.items() if v})


def _escalation(session: Session, branch: Branch) -> dict[str, list[str]]:
    """The branch's escalation agents by address (ids differ from desk to desk), in order;
    nothing when it has none."""
    ids = list(branch.escalation_agents or ())
    if not ids:
        return {}
    agents = {a.id: a.email for a in session.exec(select(Agent).where(col(Agent.id).in_(ids)))}
    return {"escalate": [agents[i] for i in ids if i in agents]}


def _fields(row: Agent | Channel | OutgoingChannel, exclude: set[str]) -> dict[str, Any]:
    """A row's fields in declaration order: model_dump's order depends on how the row was
    loaded, and an export should read the same every time."""
    return {k: getattr(row, k) for k in type(row).model_fields if k not in exclude}


# Runtime state, not configuration; and OAuth tokens, which only open with this machine's key.
_CHANNEL_STATE = {
    "id", "failures", "last_error", "last_error_at", "last_poll_at", "cooloff_until",
    "oauth_refresh_token", "token_cache", "token_expires_at",
}  # fmt: skip


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
    """Upsert everything by name; return how many of each were written. Any refusal is a
    ConfigError naming the entry, and the caller's transaction writes nothing."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from exc
    _check_sections(doc)
    counts = {count: step(session, doc) for count, step in _STEPS}
    if doc.get("calendar") or doc.get("sla_policy"):  # they apply to open tickets at once
        counts["open_tickets_due"] = refresh_open(session.connection())
    return counts


def _import_branch(session: Session, item: dict[str, Any]) -> None:
    _no_unknown(item, {"name", "key", "addresses", "domains", "default", "escalate"})
    save_branch(
        session,
        name=item["name"],
        key=item.get("key", ""),
        addresses=item.get("addresses", []),
        domains=item.get("domains", []),
        default=item.get("default", False),
        branch=_existing(get_branch, session, item["name"]),
    )


def _import_queue(session: Session, item: dict[str, Any]) -> None:
    _no_unknown(item, {"name", "colour"})
    queue = _existing(get_queue, session, item["name"])
    colour = item.get("colour", queue.colour if queue else "default")
    save_queue(session, name=item["name"], colour=colour, queue=queue)


def _import_ticket_type(session: Session, item: dict[str, Any]) -> None:
    _no_unknown(item, {"name", "field"})
    save_ticket_type(
        session,
        name=item["name"],
        fields=item.get("field", []),
        ticket_type=_existing(get_ticket_type, session, item["name"]),
    )


def _import_calendar(session: Session, item: dict[str, Any]) -> None:
    _no_unknown(item, {"name", "tz", "hours", "holidays"})
    save_calendar(
        session, name=item["name"], tz=item.get("tz", "UTC"), hours=_list(item, "hours"),
        holidays=_list(item, "holidays"),
        calendar=_existing(get_calendar, session, item["name"]),
    )  # fmt: skip


def _import_policy(session: Session, item: dict[str, Any]) -> None:
    scope = ("branch", "priority", "queue", "calendar")
    _no_unknown(item, {"name", *TARGETS, *scope})
    texts = {key: _text(item, key) for key in (*TARGETS, *scope)}
    save_policy(
        session,
        name=item["name"],
        targets={key: texts[key] for key in TARGETS},
        **{key: texts[key] for key in scope},
        policy=_existing(get_policy, session, item["name"]),
    )


def _list(item: dict[str, Any], key: str) -> list[Any]:
    value = item.get(key, [])
    if not isinstance(value, list):
        raise Invalid(f"{key} must be a list, not {value!r}")
    return value


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{key} must be text, not {value!r}")
    return value


def _import_agents(session: Session, doc: dict[str, Any]) -> int:
    """The agents, then the branches' escalation agents (by address or login): a branch may
    name an agent this file adds."""
    count = _entries("agent", _import_agent)(session, doc)
    for item in doc.get("branch", []):
        if "escalate" in item:
            try:
                set_escalation_agents(
                    session, get_branch(session, item["name"]), _list(item, "escalate")
                )
            except ValueError as exc:
                raise ConfigError(f"branch {item['name']!r}: {exc}") from exc
    return count


def _import_settings(session: Session, doc: dict[str, Any]) -> int:
    settings = doc.get("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError("settings must be a table: [settings]")
    try:
        save_settings(session, settings)
    except Invalid as exc:
        raise ConfigError(describe(exc)) from exc
    return len(settings)


def _import_outgoing(session: Session, item: dict[str, Any]) -> None:
    values = {k: v for k, v in item.items() if k != "is_default"}
    _no_unknown(values, set(OutgoingChannel.model_fields) - {"id"})
    found = session.exec(
        select(OutgoingChannel).where(OutgoingChannel.name == item["name"])
    ).first()
    out = found or OutgoingChannel(**values)
    for key, value in values.items():
        setattr(out, key, value)
    save_outgoing(session, out, default=bool(item.get("is_default")))
    session.flush()


def _import_channel(session: Session, item: dict[str, Any]) -> None:
    _no_unknown(item, set(Channel.model_fields) - {"id"})
    channel = session.exec(select(Channel).where(Channel.name == item["name"])).first()
    channel = channel or Channel(name=item["name"])
    for key, value in item.items():
        setattr(channel, key, value)
    save_channel(session, channel)


def _import_agent(session: Session, item: dict[str, Any]) -> None:
    email = str(item.get("email", ""))
    found = session.exec(
        select(Agent).where(func.lower(Agent.email) == email.strip().lower())
    ).first()
    save_agent(
        session, name=item["name"], email=email, role=item.get("role", "agent"),
        login=item.get("login"), agent=found, notify=item.get("notify"),
        aliases=item.get("aliases"), signature=item.get("signature"),
    )  # fmt: skip


def _import_canned(session: Session, item: dict[str, Any]) -> None:
    _no_unknown(item, {"name", "body", "branch"})
    save_canned(
        session, name=item["name"], body=item.get("body", ""), branch=item.get("branch"),
        canned=_existing(get_canned, session, item["name"]),
    )  # fmt: skip


def _no_unknown(item: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(item) - known)
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}")


def _entries(section: str, save: Callable[[Session, dict[str, Any]], None]) -> _Step:
    """A list section's step: each entry saved in turn, a refusal naming the entry."""

    def step(session: Session, doc: dict[str, Any]) -> int:
        what, entries = _ENTRIES[section][0], doc.get(section, [])
        for item in entries:
            try:
                save(session, item)
            except ValueError as exc:  # Invalid and its kin: the save functions' refusals
                raise ConfigError(f"{what} {item['name']!r}: {exc}") from exc
        return len(entries)

    return step


_Step = Callable[[Session, dict[str, Any]], int]
# The count each step reports, in the order they are written: settings after queues and ticket
# types (default_queue may name one this file adds), outgoing before channels (a channel names
# the outgoing channel its replies go through), canned replies after branches (one may name a
# branch), SLA policies after branches, queues and calendars (they name them), branches'
# escalation agents with the agents.
_STEPS: tuple[tuple[str, _Step], ...] = (
    ("branches", _entries("branch", _import_branch)),
    ("queues", _entries("queue", _import_queue)),
    ("ticket_types", _entries("ticket_type", _import_ticket_type)),
    ("calendars", _entries("calendar", _import_calendar)),
    ("sla_policies", _entries("sla_policy", _import_policy)),
    ("settings", _import_settings),
    ("outgoing", _entries("outgoing", _import_outgoing)),
    ("channels", _entries("channel", _import_channel)),
    ("agents", _import_agents),
    ("canned", _entries("canned", _import_canned)),
)


# Each list section, the name its refusals start with, and what its entries must not repeat: an
# entry updates the row it matches, so two entries for one row would leave the last one's values.
_ENTRIES = {
    "branch": ("branch", ("name",)),
    "queue": ("queue", ("name",)),
    "ticket_type": ("ticket type", ("name",)),
    "outgoing": ("outgoing", ("name",)),
    "channel": ("channel", ("name",)),
    "agent": ("agent", ("name", "email", "login")),
    "canned": ("canned reply", ("name",)),
    "calendar": ("calendar", ("name",)),
    "sla_policy": ("SLA policy", ("name",)),
}
_REPEATED = {
    "name": "named twice in this file",
    "email": "{value} is already {first} in this file",
    "login": "login {value} is already {first} in this file",
}


def _check_sections(doc: dict[str, Any]) -> None:
    """Refuse, before anything is written, a section the format does not have (a typo would be
    skipped in silence), one that is not a list of tables, and an entry repeating an earlier
    one's name (or an agent's address or login; any case): as `agent add` refuses a second."""
    unknown = sorted(set(doc) - {"settings", *_ENTRIES})
    if unknown:
        raise ConfigError(f"unknown section {unknown[0]!r}: settings, {', '.join(_ENTRIES)}")
    for section, (what, keys) in _ENTRIES.items():
        entries = doc.get(section, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConfigError(f"{section} must be a list of tables: [[{section}]]")
        for entry in entries:
            if not isinstance(entry.get("name"), str):
                raise ConfigError(f'a [[{section}]] without a name: each needs name = "..."')
        for key in keys:
            first: dict[str, Any] = {}
            for entry in entries:
                value = entry.get(key)
                if not isinstance(value, str) or not value.strip():
                    continue  # the save function says what is wrong with it
                folded = value.strip().casefold()
                if folded in first:
                    words = _REPEATED[key].format(value=value, first=first[folded])
                    raise ConfigError(f"{what} {entry.get('name')!r}: {words}")
                first[folded] = entry.get("name")


def _existing(find: Callable[[Session, str], T], session: Session, name: Any) -> T | None:
    """The row a TOML entry updates, or None when it adds one."""
    try:
        return find(session, name) if isinstance(name, str) else None
    except Invalid:
        return None
