"""The rules (the `setting` table) checked key by key before they are saved. The admin form,
`tuidesk config set` and `config import` all save through `save_settings`, so a rule one of
them refuses the others refuse too, with the same words.

Values come typed from TOML and as text from the command line; every check takes both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from sqlmodel import Session, select

from tuidesk.engine.rules import ReplyMode
from tuidesk.engine.sla import parse_duration
from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Queue, TicketType
from tuidesk.storage.queues import check_name
from tuidesk.storage.settings import set_setting

# What engine.compose.render fills in; any other {word} would go out to customers as written.
PLACEHOLDERS = ("ref", "title", "requester_name")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class SettingError(Invalid):
    pass


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be text, not {value!r}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise Invalid(f"a list of {what} is needed, not {value!r}")
    return list(value)


def _texts(what: str, check: Callable[[str], str]) -> Callable[[Any], list[str]]:
    """A list of text items, each passing `check`; blanks and repeats dropped."""
    return lambda value: checks.each((_text(v, what) for v in _list(value, what)), check)


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Unset (None, or empty text from the command line) means the built-in behaviour."""
    return lambda value: None if value is None or value == "" else check(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else value
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise Invalid(f"this is true or false (yes/no, 1/0), not {value!r}")


def _reply_mode(value: Any) -> bool | str:
    """true and false as before, or `participants`: stored as given, so an export of an older
    database reads the same."""
    if isinstance(value, str) and value.strip().lower() == ReplyMode.PARTICIPANTS:
        return ReplyMode.PARTICIPANTS.value
    try:
        return _flag(value)
    except Invalid:
        raise Invalid(f"this is participants, true or false, not {value!r}") from None


def _count(what: str, low: int) -> Callable[[Any], int]:
    return lambda value: checks.number(value, what, low=low)


def _aliases(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid(f"aliases are alias = primary address pairs, not {value!r}")
    result = {}
    for alias, primary in value.items():
        alias, primary = checks.address(alias), checks.address(_text(primary, "an address"))
        if alias == primary:
            raise Invalid(f"{alias} cannot be an alias of itself")
        result[alias] = primary
    return result


def _field_defaults(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid(f"field defaults are field = value pairs, not {value!r}")
    return {
        checks.text(field, "a field name"): checks.text(
            _text(default, f"the default of {field!r}"), "a default", required=False
        )
        for field, default in value.items()
    }


def _subject(value: Any) -> str:
    """A header line: CR or LF would end it."""
    return checks.placeholders(
        checks.text(_text(value, "the subject"), "the subject"), PLACEHOLDERS
    )


def _body(value: Any) -> str:
    return checks.template(_text(value, "the text"), PLACEHOLDERS, "the text")


def _retry_waits(value: Any) -> list[int]:
    """0 is allowed: the retry comes with the next pass of the sender."""
    given = _list(value, "waits in seconds")
    waits = [checks.number(v, "a wait in seconds", low=0) for v in given]
    if not waits:
        raise Invalid("at least one wait in seconds is needed (the last one repeats)")
    return waits


def _keyword(value: str) -> str:
    return checks.text(value, "a keyword")


def _authserv_id(value: str) -> str:
    """A server's name as it starts its Authentication-Results: one word."""
    value = checks.text(value, "a server name").lower()
    if any(c.isspace() or c in ';()"=' for c in value):
        raise Invalid(f"{value!r} is not a server name (e.g. mx.example.com)")
    return value


def _duration(value: Any) -> str:
    """Stored as written, as a policy's targets are: `30m`, `2h`, `1d4h`."""
    text = _text(value, "a duration").strip()
    try:
        parse_duration(text)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return text


def _name(what: str) -> Callable[[Any], str]:
    return lambda value: check_name(value, what)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "allowed_domains": _texts("domains", checks.domain),
    "blocked_senders": _texts("sender patterns", checks.glob),
    "autoreply_keywords": _texts("keywords", _keyword),
    "autoreply_senders": _texts("sender patterns", checks.glob),
    "reply_separators": _optional(_texts("patterns", checks.regex)),
    "aliases": _aliases,
    "outgoing_addresses": _texts("addresses", checks.address),
    "restrict_replies": _reply_mode,
    "free_mail_domains": _texts("domains", checks.domain),
    "reopen_max_age_days": _optional(_count("the age in days", 1)),
    "default_queue": _optional(_name("a queue name")),
    "default_ticket_type": _optional(_name("a ticket type name")),
    "field_defaults": _field_defaults,
    "attach_original": _flag,
    "acknowledge": _flag,
    "ack_subject": _subject,
    "ack_body": _body,
    "ack_max_per_hour": _count("acknowledgements per hour", 0),
    "outbox_max_tries": _count("the number of tries", 1),
    "outbox_retry_seconds": _retry_waits,
    "message_id_domain": _optional(checks.domain),
    "max_message_bytes": _count("the size limit in bytes", 1),
    "max_mime_parts": _count("the number of MIME parts", 1),
    "form_senders": _texts("sender patterns", checks.glob),
    "requester_from_reply_to": _flag,
    # Notifications to agents
    "notify_min_interval_seconds": _count("the interval in seconds", 0),
    "trusted_authserv_ids": _texts("server names", _authserv_id),
    "agent_mail_commands": _flag,
    # Service levels
    "sla_near": _duration,
}
_DICTS = frozenset({"aliases", "field_defaults"})
_LISTS = frozenset(
    {
        "allowed_domains", "blocked_senders", "autoreply_keywords", "autoreply_senders",
        "reply_separators", "outgoing_addresses", "outbox_retry_seconds", "free_mail_domains",
        "form_senders",
        "trusted_authserv_ids",
    }
)  # fmt: skip


def shape(key: str) -> Literal["list", "dict", "value"]:
    """How a setting is given on the command line: several values, K=V pairs, or one value."""
    return "list" if key in _LISTS else "dict" if key in _DICTS else "value"


def check_setting(key: str, value: Any) -> Any:
    """The value cleaned up, or Invalid naming `key`. Which queue or ticket type exists is
    for save_settings to say: it has the session."""
    check = _CHECKS.get(key)
    if check is None:
        raise Invalid("no such setting", field=key)
    try:
        return check(value)
    except Invalid as exc:
        raise Invalid(str(exc), field=key) from None


def describe(exc: Invalid) -> str:
    """The errors as the CLI and `config import` both print them."""
    return "; ".join(f"setting {key!r}: {message}" for key, message in exc.errors.items())


def save_settings(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Check every given key (all errors at once), then write them all, or nothing."""
    c = Collector()
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        try:
            cleaned[key] = check_setting(key, value)
        except Invalid as exc:
            c.add(key, exc.errors[key])
    for key, model, what in (
        ("default_queue", Queue, "queue"),
        ("default_ticket_type", TicketType, "ticket type"),
    ):
        name = cleaned.get(key)
        if name and session.exec(select(model).where(model.name == name)).first() is None:
            c.add(key, f"no {what} named {name!r}")
    c.raise_if_any(SettingError)
    for key, value in cleaned.items():
        set_setting(session.connection(), key, value)
    return cleaned
