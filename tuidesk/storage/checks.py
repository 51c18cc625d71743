"""Checks for one setting value each, in plain words, and the error that says which field.

Every door that saves configuration (the admin forms, the CLI, `config import`) goes through
the save functions in storage, and they go through these: the three never disagree. A check
returns the value cleaned up (trimmed, lower-cased where case does not matter) or raises
`Invalid` naming the field, so a form can show the message next to it."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, time
from typing import Any, TypeVar

from tuidesk.engine.quotes import SIGNATURE_PLACEHOLDERS

T = TypeVar("T")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BRACED = re.compile(r"\{([^{}]*)\}")


class Invalid(ValueError):
    """Settings that cannot be saved: `errors` maps each field to what is wrong with it."""

    def __init__(self, message: str | None = None, field: str = "", **errors: str) -> None:
        self.errors: dict[str, str] = dict(errors)
        if message is not None:
            self.errors.setdefault(field, message)
        super().__init__("; ".join(self.errors.values()))

    @classmethod
    def of(cls, errors: dict[str, str]) -> Invalid:
        exc = cls()
        exc.errors = dict(errors)
        exc.args = ("; ".join(errors.values()),)
        return exc


class Collector:
    """Runs checks field by field and keeps every failure, so a form marks all of them at
    once; `raise_if_any` raises them together as `error_type`."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def check(self, field: str, check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return check(*args, **kwargs)
        except Invalid as exc:
            self.errors.setdefault(field, next(iter(exc.errors.values()), str(exc)))
        except ValueError as exc:
            self.errors.setdefault(field, str(exc))
        return None

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self, error_type: type[Invalid] = Invalid) -> None:
        if self.errors:
            raise error_type.of(self.errors)


def text(value: str | None, what: str = "this", *, required: bool = True) -> str:
    """One line of text: no control characters (CR/LF would end a header)."""
    value = (value or "").strip()
    if required and not value:
        raise Invalid(f"{what} must not be empty")
    if _CONTROL.search(value):
        raise Invalid(f"{what} must not contain control characters or line breaks")
    return value


def placeholders(value: str, known: Sequence[str]) -> str:
    """A template whose every {word} is one that is filled in: any other would reach the
    customer as written."""
    for name in _BRACED.findall(value):
        if name not in known:
            names = ", ".join(f"{{{p}}}" for p in known)
            raise Invalid(f"{{{name}}} is not a placeholder; the ones filled in are {names}")
    return value


def template(value: str, known: Sequence[str], what: str, *, required: bool = True) -> str:
    """Text of several lines (a mail text, a signature, a canned reply): line breaks as LF,
    no other control characters, only `known` placeholders."""
    value = value.replace("\r\n", "\n")
    if required and not value.strip():
        raise Invalid(f"{what} must not be empty")
    if _CONTROL_BUT_NEWLINE.search(value):
        raise Invalid(f"{what} must not contain control characters")
    return placeholders(value, known)


def signature(value: str | None) -> str:
    """A signature under our mail (an outgoing channel's, an agent's): any lines of text with
    {agent_name}, {branch} and {ref}; blank lines around it dropped, "" for none."""
    value = template(value or "", SIGNATURE_PLACEHOLDERS, "the signature", required=False)
    return value.strip("\n").rstrip() if value.strip() else ""


def host(value: str | None) -> str:
    """A DNS name or an IP address."""
    value = text(value, "host").lower().rstrip(".")
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        raise Invalid(f"{value!r} is not a host name or IP address (e.g. imap.example.com)")
    return value


def port(value: int | str | None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise Invalid(f"port must be a number from 1 to 65535, not {value!r}") from None
    if not 0 < number < 65536:
        raise Invalid(f"port must be 1-65535, not {number}")
    return number


def number(value: int | str | None, what: str, *, low: int = 0, high: int | None = None) -> int:
    try:
        result = int(str(value).strip())
    except ValueError:
        raise Invalid(f"{what} must be a whole number, not {value!r}") from None
    if result < low or (high is not None and result > high):
        upper = f" to {high}" if high is not None else " or more"
        raise Invalid(f"{what} must be {low}{upper}, not {result}")
    return result


def domain(value: str | None) -> str:
    """A mail domain (example.com); `*.example.com` is not a thing here: subdomains are
    separate domains."""
    value = text(value, "domain").lower().lstrip("@").rstrip(".")
    labels = value.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise Invalid(f"{value!r} is not a domain (e.g. example.com)")
    return value


def address(value: str | None) -> str:
    """A bare mail address, lower-cased: local@domain with no name or angle brackets."""
    value = text(value, "address")
    local, at, dom = value.rpartition("@")
    if not at or not _LOCAL.match(local) or ".." in local:
        raise Invalid(f"{value!r} is not a mail address (e.g. support@example.com)")
    if dom.lower() == "localhost":  # a first-run admin with no address of their own
        return f"{local.lower()}@localhost"
    try:
        return f"{local.lower()}@{domain(dom)}"
    except Invalid:
        raise Invalid(f"{value!r} is not a mail address (e.g. support@example.com)") from None


def window(value: str | None) -> str:
    """HH:MM-HH:MM, either may wrap past midnight (22:00-02:00)."""
    value = text(value, "time window").replace(" ", "")
    start, dash, end = value.partition("-")
    try:
        if not dash:
            raise ValueError
        time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise Invalid(f"{value!r} is not a time window HH:MM-HH:MM, e.g. 02:00-04:00") from None
    if len(start) != 5 or len(end) != 5:
        raise Invalid(f"{value!r} is not a time window HH:MM-HH:MM, e.g. 02:00-04:00")
    return value


def folder(value: str | None) -> str:
    """An IMAP folder name: anything printable; `/` or `.` separate levels on the server."""
    value = text(value, "folder name")
    if value.startswith(("/", ".")) or "*" in value or "%" in value:
        raise Invalid(f"{value!r} is not a folder name (no leading / or ., no * or %)")
    return value


def regex(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid("a pattern must not be empty")
    try:
        re.compile(value)
    except re.error as exc:
        raise Invalid(f"{value!r} is not a regular expression: {exc}") from None
    return value


def glob(value: str | None) -> str:
    """A sender pattern such as `*@noreply.example.com`."""
    value = text(value, "sender pattern").lower()
    try:
        re.compile(fnmatch.translate(value))
    except re.error as exc:  # pragma: no cover - fnmatch escapes almost everything
        raise Invalid(f"{value!r} is not a sender pattern: {exc}") from None
    return value


def iso_date(value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{value!r} is not a date like 2026-01-31") from None


def each(values: Iterable[str], check: Callable[[str], str]) -> list[str]:
    """A list whose items pass `check`, without blanks or repeats, in the order given."""
    return list(dict.fromkeys(check(v) for v in values if v and v.strip()))


def one_of(value: str | None, choices: Iterable[str], what: str) -> str:
    choices = tuple(choices)
    value = (value or "").strip().lower()
    if value not in choices:
        raise Invalid(f"{what} must be one of {', '.join(choices)}")
    return value


def url(value: str | None, what: str, *, https: bool = True) -> str:
    """An absolute URL with a host name; https unless told otherwise (a sign-in authority is
    only ever reached over TLS)."""
    from urllib.parse import urlsplit

    value = text(value, what)
    parts = urlsplit(value)
    schemes = ("https",) if https else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname:
        example = "https://login.microsoftonline.com/TENANT"
        raise Invalid(f"{what} must be an {' or '.join(schemes)} URL such as {example}")
    host(parts.hostname)
    return value.rstrip("/")


def scope(value: str | None) -> str:
    """An OAuth2 scope: one word, no spaces (e.g. https://outlook.office365.com/.default)."""
    value = text(value, "scope")
    if any(ch.isspace() for ch in value):
        raise Invalid(f"scope {value!r} must be one word: give each scope on its own")
    return value
