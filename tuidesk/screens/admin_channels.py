"""Admin sections for mail in and out: IMAP channels (grouped as the Email Channel seed groups
them) and outgoing SMTP channels. Values are checked only by the storage save functions the
CLI and `config import` use; a password typed in is stored encrypted and never shown back."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from tuidesk.auth.credentials import SecretError, describe, encrypt
from tuidesk.engine.decision import Decision
from tuidesk.engine.rules import MAIL_PROPERTIES
from tuidesk.screens.section import FormSpec, Report, Row, Section
from tuidesk.storage.branches import list_branches
from tuidesk.storage.channel_state import ChannelError
from tuidesk.storage.channels import edit_channel, get_channel, list_channels, sign_in_state
from tuidesk.storage.channels import validate as validate_channel
from tuidesk.storage.checks import Invalid, address, iso_date
from tuidesk.storage.db import read_session
from tuidesk.storage.mappings import known_ticket_types
from tuidesk.storage.models import Channel, OutgoingChannel
from tuidesk.storage.oauth_tokens import DbTokenStore, MemoryTokenStore
from tuidesk.storage.outgoing import (
    OutgoingError,
    get_outgoing,
    list_outgoing,
    remove_outgoing,
    save_outgoing,
)
from tuidesk.storage.outgoing import validate as validate_outgoing
from tuidesk.storage.queues import list_queues
from tuidesk.storage.tables import aware
from tuidesk.widgets.form import FieldSpec

if TYPE_CHECKING:
    from tuidesk.auth.oauth import TokenStore

PASSWORD_FROM = (
    ("typed here, stored encrypted", "stored"),
    ("an environment variable", "env"),
    ("a command's output", "command"),
    ("none (public client: refresh token or device code)", "none"),
)
AUTH_TYPES = (
    ("password", "password"),
    ("oauth2 (XOAUTH2: Microsoft 365 and others)", "oauth2"),
)
SAVE_FIRST = "Save the channel first: signing in keeps tokens on it"
MAPPING_SYNTAX = (
    "One per line: field <- property | default VALUE | restricted. Properties: "
    + ", ".join(MAIL_PROPERTIES)
    + ". E.g. `title <- subject`, `region <- sender | default EU | restricted`, "
    "`team | default Ops` (a default only)."
)

Login = Channel | OutgoingChannel  # both log in the same way: OAuthFields and a secret


def _choices(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v) for v in values)


def _optional(none: str, choices: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Choices led by `none` (value ""): "nothing chosen" is a choice the admin can see."""
    return ((none, ""), *choices)


def _when(value: datetime | None) -> str:
    """A stored time in the admin's local time; "never" for none."""
    return f"{aware(value).astimezone():%Y-%m-%d %H:%M}" if value else "never"


def _path(text: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(text)) if text else None


def _login_fields(row: Login, group: str) -> tuple[FieldSpec, ...]:
    """How a channel logs in: a password, or OAuth2 with the password fields holding the
    client secret. What is stored (secret, refresh token) is described, never put in the
    form."""
    oauth = ("auth_type", "oauth2")  # these fields are shown for oauth2 only
    held = sign_in_state(row) if row.auth_type == "oauth2" else "not signed in"
    return (
        FieldSpec(
            "auth_type", "Authentication", "choice", group, choices=AUTH_TYPES,
            help="oauth2: a token from the identity provider instead of a password (Microsoft "
            "365); once saved, Ctrl+O signs in with a device code.",
        ),
        FieldSpec(
            "password_from", "Password or secret from", "choice", group, choices=PASSWORD_FROM,
            help="With oauth2 this is the client secret; none for a public client.",
        ),
        FieldSpec(
            "password", "Password or secret", "secret", group,
            help=f"Now: {describe(row.secret_kind, row.secret_ref)}. Leave empty to keep it; "
            "what you type is stored encrypted.",
            placeholder="(unchanged)" if row.secret_kind == "stored" else "",
        ),
        FieldSpec(
            "password_ref", "Variable or command", group=group,
            help="With an environment variable: its name (SUPPORT_PW). With a command: the "
            "command printing it (pass show support).",
        ),
        FieldSpec(
            "oauth_tenant", "Tenant ID", group=group, when=oauth,
            placeholder="contoso.onmicrosoft.com",
            help="The tenant's ID or domain (Microsoft 365), or organizations.",
        ),
        FieldSpec("oauth_client_id", "Client ID", group=group, when=oauth,
                  help="The application (client) ID registered for tuidesk."),
        FieldSpec(
            "oauth_authority", "Authority URL", group=group, when=oauth,
            help="Empty: https://login.microsoftonline.com/TENANT. Other clouds or a private "
            "authority: its URL.",
        ),
        FieldSpec(
            "oauth_certificate", "Client certificate", group=group, when=oauth,
            help="Instead of a secret (choose none above): a PEM file, mode 0600, with the "
            "application's RSA key and its certificate.",
        ),
        FieldSpec("oauth_scopes", "Scopes", "list", group, when=oauth,
                  help="Separate with commas; empty: Microsoft 365's defaults."),
        FieldSpec("oauth_redirect_url", "Redirect URL", group=group, when=oauth,
                  help="The application's redirect URL, if it has one."),
        FieldSpec(
            "oauth_refresh_token", "Refresh token", "secret", group, when=oauth,
            help=f"Now: {held}. Paste one to replace the sign-in: stored encrypted, never "
            "shown; empty keeps what is stored.",
            placeholder="(unchanged)" if row.oauth_refresh_token or row.token_cache else "",
        ),
    )  # fmt: skip


def _login_values(row: Login) -> dict[str, Any]:
    """The login fields' values: never a secret or a token, only where they come from."""
    kind = row.secret_kind
    return {
        "auth_type": row.auth_type,
        "password_from": kind or ("none" if row.auth_type == "oauth2" else "stored"),
        "password_ref": row.secret_ref if kind in ("env", "command") else "",
        "oauth_tenant": row.oauth_tenant,
        "oauth_client_id": row.oauth_client_id,
        "oauth_authority": row.oauth_authority,
        "oauth_scopes": list(row.oauth_scopes or ()),
        "oauth_redirect_url": row.oauth_redirect_url,
        "oauth_certificate": row.oauth_certificate,
    }


def _read_secret(
    values: dict[str, Any], row: Login, auth: str, config_dir: Path | None
) -> tuple[str | None, str | None]:
    """(kind, ref) as the form asks, the typed password encrypted; raises Invalid naming the
    field when what the form says cannot be done."""
    kind, ref = row.secret_kind, row.secret_ref
    what = "client secret" if auth == "oauth2" else "password"
    chosen = values.get("password_from")
    if chosen == "none":
        if auth != "oauth2":
            raise Invalid("a password is needed (none is for an OAuth2 public client)",
                          "password_from")  # fmt: skip
        return None, None
    if chosen == "stored":
        if values.get("password"):
            if config_dir is None:
                raise Invalid(f"there is no config folder to keep the {what} in", "password")
            return "stored", encrypt(values["password"], config_dir)
        if kind == "stored":
            return kind, ref
        raise Invalid(f"type the {what} to store", "password")
    if chosen in ("env", "command"):
        source = "the variable's name" if chosen == "env" else "the command"
        if not (values.get("password_ref") or "").strip():
            raise Invalid(f"give {source}", "password_ref")
        return chosen, values["password_ref"].strip()
    return kind, ref


def _secret_given(values: dict[str, Any], row: Login) -> bool:
    """Whether the form names a secret other than the one stored: typed, or another source."""
    chosen = values.get("password_from")
    if values.get("password") or chosen == "none":
        return True
    return (
        chosen != row.secret_kind
        or (values.get("password_ref") or "").strip() != (row.secret_ref or "")
        and chosen in ("env", "command")
    )


def _apply_login(row: Login, values: dict[str, Any], config_dir: Path | None) -> dict[str, str]:
    """The login fields onto `row` (incoming or outgoing); returns what could not be taken,
    by field. As `channel edit --refresh-token-stdin` / `--auth`: a pasted refresh token, or
    another auth type, drops the sign-in held so far (the token cache)."""
    errors: dict[str, str] = {}
    auth = values["auth_type"] or ""
    changed = auth != row.auth_type
    row.auth_type = auth
    for name in ("oauth_tenant", "oauth_client_id", "oauth_authority", "oauth_redirect_url"):
        setattr(row, name, values[name] or None)  # checked by storage (check_oauth)
    row.oauth_scopes = list(values["oauth_scopes"])
    row.oauth_certificate = _path(values["oauth_certificate"])
    if changed and row.secret_kind and not _secret_given(values, row):
        # As `channel edit --auth`: a password never goes to an identity provider as a client
        # secret, and a client secret is no password.
        if auth == "oauth2":
            row.secret_kind, row.secret_ref = None, None
        else:
            errors["password"] = "type the password (or choose where it comes from)"
    else:
        try:
            row.secret_kind, row.secret_ref = _read_secret(values, row, auth, config_dir)
        except Invalid as exc:
            errors.update(exc.errors)
    pasted = values.get("oauth_refresh_token") or ""
    if pasted and auth != "oauth2":
        errors["oauth_refresh_token"] = "a refresh token is for oauth2: choose it above"
    elif pasted and config_dir is None:
        errors["oauth_refresh_token"] = "there is no config folder to keep the token in"
    elif pasted:
        row.oauth_refresh_token = encrypt(pasted, config_dir)  # type: ignore[arg-type]
    if pasted or changed:
        row.token_cache, row.token_expires_at = None, None
    return errors


def _sign_in_cell(row: Login) -> str:
    """The list's Sign-in column: when the access token ends, in local time."""
    if row.auth_type != "oauth2":
        return "password"
    if row.token_expires_at is not None:
        ends = aware(row.token_expires_at)
        return f"{'ended' if ends <= datetime.now(UTC) else 'until'} {_when(ends)}"
    if row.token_cache or row.oauth_refresh_token or row.secret_kind or row.oauth_certificate:
        return "no token yet"
    return "not signed in"


def _login_test(
    session: Session,
    table: str,
    stored_id: int | None,
    row: Login,
    values: dict[str, Any],
    config_dir: Path | None,
    report: Report,
    run: Callable[[TokenStore | None], dict[str, Any]],
) -> bool:
    """A connection test (`run`) with somewhere to keep OAuth2 tokens: a saved channel keeps
    what MSAL renews on its row; an unsaved one, or a refresh token pasted but not saved,
    cannot be tried (the token would rotate and be lost), except an app-only client (a client
    secret, no refresh token), whose tokens live in memory for this one test."""
    tokens: TokenStore | None = None
    if row.auth_type == "oauth2":
        pasted = bool(values.get("oauth_refresh_token"))
        if config_dir is None:
            report("There is no config folder to keep tokens in")
            return False
        if stored_id is not None and not pasted:
            tokens = DbTokenStore(session.get_bind(), table, stored_id, config_dir)  # type: ignore[arg-type]
        elif stored_id is None and not pasted and row.secret_kind:
            tokens = MemoryTokenStore()
        else:
            report(SAVE_FIRST)
            return False
    return _report_steps(run(tokens), report)


def _device_sign_in(
    engine: Engine,
    table: str,
    key: str,
    config_dir: Path | None,
    say: Report,
    stop: Callable[[], bool],
) -> tuple[bool, str]:
    """The device-code sign-in of `channel auth` / `outgoing auth` with the saved settings;
    what it yields is kept (encrypted) on the row. (passed, what to tell the admin)"""
    from tuidesk.auth.oauth import OAuthConfig, TokenError, device_sign_in

    what = "channel" if table == "channel" else "outgoing channel"
    with read_session(engine) as session:
        row = get_channel(session, key) if table == "channel" else get_outgoing(session, key)
    if row.auth_type != "oauth2":
        return False, f"Save first: {what} {row.name} logs in with a password"
    if config_dir is None or row.id is None:
        return False, "Not signed in: there is no config folder to keep the tokens in"
    store = DbTokenStore(engine, table, row.id, config_dir)
    service = "imap" if table == "channel" else "smtp"
    try:
        token = device_sign_in(OAuthConfig.of(row, service), store, config_dir, say, stop)
    except (TokenError, SecretError) as exc:
        return False, f"Not signed in: {exc}"
    return True, f"Signed in: {token.describe()}. Kept encrypted on {what} {row.name}."


def parse_mappings(lines: list[str]) -> list[dict[str, Any]]:
    """`field <- property | default VALUE | restricted` lines as mapping entries; raises
    Invalid for a line that does not follow the syntax. What the entries say is checked by
    storage (`check_mappings`)."""
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        head, *options = (part.strip() for part in line.split("|"))
        field, _, prop = head.partition("<-")
        entry = {
            "field": field.strip(),
            "property": prop.strip(),
            "default": "",
            "restricted": False,
        }
        if not entry["field"]:
            raise Invalid(f"line {number}: start with the ticket field's name", "field_mappings")
        for option in options:
            word, _, rest = option.partition(" ")
            if word.lower() == "default" and rest.strip():
                entry["default"] = rest.strip()
            elif option.lower() == "restricted":
                entry["restricted"] = True
            else:
                raise Invalid(
                    f"line {number}: {option!r} is neither `default VALUE` nor `restricted`",
                    "field_mappings",
                )  # fmt: skip
        entries.append(entry)
    return entries


def format_mapping(entry: dict[str, Any]) -> str:
    line = entry["field"]
    if entry.get("property"):
        line += f" <- {entry['property']}"
    if entry.get("default"):
        line += f" | default {entry['default']}"
    if entry.get("restricted"):
        line += " | restricted"
    return line


def _report_steps(result: dict[str, Any], report: Report) -> bool:
    """Each step of a connection test as `channel test` prints it."""
    for step in result["steps"]:
        report(f"{'ok' if step['ok'] else 'FAILED'} {step['step']}: {step['detail']}")
    return bool(result["ok"])


class ChannelsSection(Section):
    """Incoming channels: IMAP mailboxes, and `pipe` channels an MTA delivers to."""

    title = "Channels"
    columns = ("Name", "Kind", "Status", "Host", "Last poll", "Last error", "Sign-in")
    test_label = "Test connection"
    can_preview = True

    def __init__(self, config_dir: Path | None) -> None:
        self.config_dir = config_dir

    def rows(self, session: Session) -> list[Row]:
        return [
            Row(c.name, (c.name, c.kind, c.status, f"{c.host}:{c.port}" if c.kind == "imap" else "",
                         _when(c.last_poll_at), c.last_error or "",
                         _sign_in_cell(c) if c.kind == "imap" else ""))
            for c in list_channels(session)
        ]  # fmt: skip

    def _fields(self, session: Session, channel: Channel) -> tuple[FieldSpec, ...]:
        statuses = ("draft", "active", "paused")
        if channel.status not in statuses:
            statuses += (channel.status,)  # failing: the poller set it; saving may change it
        branches = _optional(
            "(by address and domain)",
            tuple((f"{b.name} ({b.key})", b.name) for b in list_branches(session)),
        )
        queues = _optional("(none)", _choices(*(q.name for q in list_queues(session))))
        types = _optional("(none)", _choices(*sorted(known_ticket_types(session))))
        outgoing = _optional("(the default)", _choices(*(o.name for o in list_outgoing(session))))
        conn, settings, reading, mapping = (
            "Connection", "Connection settings", "Reading settings", "Ticket mapping",
        )  # fmt: skip
        return (
            FieldSpec("name", "Name", group=conn, help="One word: poll and pipe name it."),
            FieldSpec(
                "kind", "Kind", "choice", conn, choices=_choices("imap", "pipe"),
                help="imap: read from a mailbox. pipe: the MTA delivers with "
                "`tuidesk pipe --channel NAME`; the connection fields are not used.",
            ),  # fmt: skip
            FieldSpec("host", "Host", group=conn, placeholder="imap.example.com"),
            FieldSpec("port", "Port", "number", conn, help="993 with ssl, 143 with starttls."),
            FieldSpec(
                "security", "Security", "choice", conn,
                choices=_choices("ssl", "starttls", "plain"),
                help="ssl: implicit TLS. plain sends the password unencrypted: only when asked.",
            ),  # fmt: skip
            FieldSpec("username", "Username", group=conn),
            *_login_fields(channel, conn),
            FieldSpec("reply_to", "Reply-to address", group=conn,
                      placeholder="support@example.com"),
            FieldSpec(
                "ca_file", "CA file", group=conn,
                help="PEM of a private CA to trust besides the system's; certificates are "
                "always verified.",
            ),  # fmt: skip
            FieldSpec("max_tries", "Max tries before failing", "number", settings),
            FieldSpec("cooloff_minutes", "Cool-off after failing (minutes)", "number", settings),
            FieldSpec(
                "skip_windows", "Skip times", "list", settings,
                help="HH:MM-HH:MM when not to connect, e.g. 02:00-04:00; separate with commas.",
            ),  # fmt: skip
            FieldSpec("timeout_ms", "Connection timeout (ms)", "number", settings),
            FieldSpec(
                "since", "Sync start date", group=settings, placeholder="2026-01-31",
                help="Mail older than this is not read; empty: all of it.",
            ),  # fmt: skip
            FieldSpec("status", "Status", "choice", settings, choices=_choices(*statuses)),
            FieldSpec("folders", "Folders to read", "list", reading, help="Separate with commas."),
            FieldSpec("success_folder", "Success folder", group=reading,
                      help="Mail that made or joined a ticket moves here; empty: it stays."),
            FieldSpec("fail_folder", "Fail folder", group=reading,
                      help="Quarantined mail moves here."),
            FieldSpec("exclusion_folder", "Exclusion folder", group=reading,
                      help="Ignored mail (auto-replies, other domains) moves here."),
            FieldSpec("allowed_domains", "Allowed sender domains", "list", reading,
                      help="Only mail from these domains; empty: from anyone."),
            FieldSpec("autoreply_keywords", "Auto-reply keywords", "lines", reading,
                      help="A subject with one of these is an auto-reply; one per line."),
            FieldSpec("autoreply_senders", "Auto-reply senders", "list", reading,
                      placeholder="*@noreply.example.com",
                      help="Mail from these is an auto-reply; * matches anything."),
            FieldSpec("aliases", "Aliases", "pairs", reading,
                      help="alias@example.com = support@example.com, one per line."),
            FieldSpec("branch", "Branch", "choice", mapping, choices=branches,
                      help="Empty: routed by address and domain like any mail."),
            FieldSpec("queue", "Queue", "choice", mapping, choices=queues),
            FieldSpec("ticket_type", "Ticket type", "choice", mapping, choices=types),
            FieldSpec("outgoing", "Replies go out through", "choice", mapping, choices=outgoing,
                      help="Empty: the outgoing channel sending from this address, else the "
                      "default."),
            FieldSpec("field_mappings", "Field mappings", "lines", mapping, help=MAPPING_SYNTAX),
            FieldSpec("update_types", "Ticket types taking updates by email", "list", mapping,
                      help="Replies reach tickets of these types only; empty: every type."),
            FieldSpec("attach_original", "Attach the original email", "flag", mapping),
        )  # fmt: skip

    def form(self, session: Session, key: str | None) -> FormSpec:
        channel = Channel(kind="imap", port=993) if key is None else get_channel(session, key)
        branch = next(
            (b.name for b in list_branches(session) if channel.branch in (b.name, b.key)), None
        )
        values = {
            name: getattr(channel, name)
            for name in (
                "name", "kind", "host", "port", "security", "username", "reply_to", "ca_file",
                "max_tries", "cooloff_minutes", "skip_windows", "timeout_ms", "since", "status",
                "folders", "success_folder", "fail_folder", "exclusion_folder", "allowed_domains",
                "autoreply_keywords", "autoreply_senders", "aliases", "update_types",
                "attach_original",
            )
        }  # fmt: skip
        values |= _login_values(channel)
        values["branch"] = branch or ""
        values["queue"] = channel.queue or ""
        values["ticket_type"] = channel.ticket_type or ""
        values["outgoing"] = channel.outgoing or ""
        values["field_mappings"] = [format_mapping(m) for m in channel.field_mappings]
        title = "New channel" if key is None else f"Channel {channel.name}"
        return FormSpec(title, self._fields(session, channel), values)

    def _apply(self, session: Session, channel: Channel, values: dict[str, Any]) -> dict[str, str]:
        """The form's values onto `channel`; returns what could not be taken, by field."""
        errors: dict[str, str] = {}
        for name in (
            "name", "kind", "host", "security", "username", "status", "folders", "skip_windows",
            "allowed_domains", "autoreply_keywords", "autoreply_senders", "aliases",
            "attach_original",
        ):  # fmt: skip
            setattr(channel, name, values[name])
        for name in ("port", "max_tries", "cooloff_minutes", "timeout_ms"):
            setattr(channel, name, values[name])  # text: storage's check makes it a number
        for name in (
            "reply_to", "success_folder", "fail_folder", "exclusion_folder", "branch", "queue",
            "ticket_type", "outgoing",
        ):  # fmt: skip
            setattr(channel, name, values[name] or None)
        channel.ca_file = _path(values["ca_file"])
        errors.update(_apply_login(channel, values, self.config_dir))
        steps: tuple[tuple[str, Any], ...] = (
            ("since", lambda: iso_date(values["since"])),
            ("field_mappings", lambda: parse_mappings(values["field_mappings"])),
            ("update_types", lambda: values["update_types"]),
        )  # fmt: skip
        for name, read in steps:
            try:
                value = read()
            except Invalid as exc:  # a check for one value names no field: this one
                errors.update({field or name: message for field, message in exc.errors.items()})
                continue
            setattr(channel, name, value)
        return errors

    def _unsaved(
        self, session: Session, key: str | None, values: dict[str, Any], *, checked: bool
    ) -> Channel:
        """A channel with the form's values that is not in the session: for tests and
        previews, which must never write. `checked`: storage's checks must pass too."""
        stored = get_channel(session, key).model_dump(exclude={"id"}) if key else {}
        channel = Channel(**stored)
        errors = self._apply(session, channel, values)
        if checked:
            try:
                validate_channel(channel)
            except Invalid as exc:
                errors = exc.errors | errors
        if errors:
            raise ChannelError.of(errors)
        return channel

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        """Through `edit_channel`, as `channel add|edit`: the form's values are read onto a
        copy, and the stored channel changes only once all of it passes."""
        stored = get_channel(session, key) if key is not None else None
        draft = Channel(**stored.model_dump(exclude={"id"}) if stored is not None else {})
        errors = self._apply(session, draft, values)
        changes = {
            name: getattr(draft, name)  # not model_dump: a number is still the form's text here
            for name in Channel.model_fields
            if name != "id" and (stored is None or getattr(draft, name) != getattr(stored, name))
        }
        return edit_channel(session, stored, changes, refused=errors).name

    def remove(self, session: Session, key: str) -> None:
        session.delete(get_channel(session, key))  # its tickets stay, as `channel remove`

    def test(
        self, session: Session, key: str | None, values: dict[str, Any], report: Report
    ) -> bool:
        from tuidesk.sources.imap import imap_channel, test_channel

        channel = self._unsaved(session, key, values, checked=True)
        if channel.kind != "imap":
            report("a pipe channel has no mailbox to connect to")
            return False
        imap = imap_channel(channel.model_dump() | {"id": 0})
        stored_id = get_channel(session, key).id if key is not None else None
        return _login_test(
            session, "channel", stored_id, channel, values, self.config_dir, report,
            lambda tokens: test_channel(imap, self.config_dir or Path(), tokens),
        )  # fmt: skip

    def can_sign_in(self, values: dict[str, Any]) -> bool:
        return values.get("auth_type") == "oauth2" and values.get("kind") == "imap"

    def sign_in(
        self, engine: Engine, key: str, say: Report, stop: Callable[[], bool]
    ) -> tuple[bool, str]:
        return _device_sign_in(engine, "channel", key, self.config_dir, say, stop)

    def preview(
        self, session: Session, key: str | None, values: dict[str, Any], raw: bytes
    ) -> Decision:
        from tuidesk.services.ingest import dry_run
        from tuidesk.storage.settings import channel_rule, load_rules

        rule = channel_rule(self._unsaved(session, key, values, checked=False))
        conn = session.connection()
        return dry_run(conn, raw, load_rules(conn).for_channel(rule), rule)


class OutgoingSection(Section):
    """Outgoing SMTP channels: one is the default, used where no channel maps to another."""

    title = "Outgoing"
    columns = ("Name", "Host", "From", "Default", "Sign-in")
    test_label = "Send test mail"
    not_saved = frozenset({"test_to"})

    def __init__(self, config_dir: Path | None) -> None:
        self.config_dir = config_dir

    def rows(self, session: Session) -> list[Row]:
        return [
            Row(
                o.name,
                (
                    o.name,
                    f"{o.host}:{o.port}",
                    o.from_address,
                    "yes" if o.is_default else "",
                    _sign_in_cell(o),
                ),
            )
            for o in list_outgoing(session)
        ]

    def _fields(self, out: OutgoingChannel) -> tuple[FieldSpec, ...]:
        return (
            FieldSpec("name", "Name", help="One word; channels name it to send through it."),
            FieldSpec("host", "Host", placeholder="smtp.example.com"),
            FieldSpec("port", "Port", "number", help="587 with starttls, 465 with ssl."),
            FieldSpec("security", "Security", "choice", choices=_choices("ssl", "starttls"),
                      help="Mail is never sent in plain text."),
            FieldSpec("username", "Username"),
            *_login_fields(out, ""),
            FieldSpec("from_address", "From address", placeholder="support@example.com"),
            FieldSpec("from_name", "From name", placeholder="Example Support"),
            FieldSpec("reply_to", "Reply-to address"),
            FieldSpec("signature", "Signature", "block",
                      help="Under all our mail through it; may use {agent_name}, {branch}, {ref}."),
            FieldSpec("ca_file", "CA file",
                      help="PEM of a private CA to trust besides the system's."),
            FieldSpec("timeout_ms", "Timeout (ms)", "number"),
            FieldSpec("default", "Default", "flag",
                      help="Used for mail about tickets with no better match."),
            FieldSpec("test_to", "Send the test mail to", group="Test (not saved)",
                      help="Ctrl+T tests the connection, then sends a test mail here if given."),
        )  # fmt: skip

    def form(self, session: Session, key: str | None) -> FormSpec:
        if key is None:
            out = OutgoingChannel(port=587, security="starttls")
            default = not list_outgoing(session)
        else:
            out = get_outgoing(session, key)
            default = out.is_default
        values = {
            name: getattr(out, name)
            for name in ("name", "host", "port", "security", "username", "from_address",
                         "from_name", "reply_to", "signature", "ca_file", "timeout_ms")
        }  # fmt: skip
        values |= _login_values(out)
        values["default"] = default
        title = "New outgoing channel" if key is None else f"Outgoing channel {out.name}"
        return FormSpec(title, self._fields(out), values)

    def _apply(self, out: OutgoingChannel, values: dict[str, Any]) -> dict[str, str]:
        for name in ("name", "host", "security", "username", "from_address", "from_name",
                     "signature"):  # fmt: skip
            setattr(out, name, values[name] or "")
        out.port, out.timeout_ms = values["port"], values["timeout_ms"]  # checked by storage
        out.reply_to = values["reply_to"] or None
        out.ca_file = _path(values["ca_file"])
        return _apply_login(out, values, self.config_dir)

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        out = get_outgoing(session, key) if key is not None else OutgoingChannel()
        if out.is_default and not values["default"]:
            raise OutgoingError("make another one the default instead", "default")
        with session.no_autoflush:
            errors = self._apply(out, values)
            try:
                save_outgoing(session, out, default=values["default"])
            except Invalid as exc:
                errors = exc.errors | errors
        if errors:
            raise OutgoingError.of(errors)
        return out.name

    def remove(self, session: Session, key: str) -> None:
        remove_outgoing(session, key)

    def test(
        self, session: Session, key: str | None, values: dict[str, Any], report: Report
    ) -> bool:
        """The connection test of `outgoing test`, and with an address its test mail too."""
        from tuidesk.outbound.sender import smtp_settings
        from tuidesk.outbound.smtp import test_outgoing
        from tuidesk.storage.outbox import test_mail

        saved = get_outgoing(session, key) if key else None
        stored_id = saved.id if saved is not None else None
        out = OutgoingChannel(**(saved.model_dump(exclude={"id"}) if saved is not None else {}))
        errors = self._apply(out, values)
        send_to = None
        if values["test_to"]:
            try:
                send_to = address(values["test_to"])
            except Invalid as exc:
                errors["test_to"] = str(exc)
        try:
            validate_outgoing(out)
        except Invalid as exc:
            errors = exc.errors | errors
        if errors:
            raise OutgoingError.of(errors)
        raw = test_mail(out, send_to) if send_to else None
        return _login_test(
            session, "outgoing_channel", stored_id, out, values, self.config_dir, report,
            lambda tokens: test_outgoing(
                smtp_settings(out), self.config_dir or Path(), send_to=send_to, raw=raw,
                mail_from=out.from_address, tokens=tokens,
            ),
        )  # fmt: skip

    def can_sign_in(self, values: dict[str, Any]) -> bool:
        return values.get("auth_type") == "oauth2"

    def sign_in(
        self, engine: Engine, key: str, say: Report, stop: Callable[[], bool]
    ) -> tuple[bool, str]:
        return _device_sign_in(engine, "outgoing_channel", key, self.config_dir, say, stop)
