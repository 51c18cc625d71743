"""OAuth2 in the admin console: the channel and outgoing forms take the XOAUTH2 settings (the
client secret in the password fields, a pasted refresh token stored encrypted and never shown)
and refuse bad ones next to the field; Test connection keeps renewed tokens on a saved channel
only; Ctrl+O signs a saved channel in with a device code; the lists say when tokens end. The
fake identity provider (tests/servers/idp.py) stands in for Microsoft."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from textual.widgets._footer import FooterKey

from tests.admin_pilot import admin_app, error_of, open_section, rows, set_field, until
from tests.servers.certs import write_client_certificate
from tests.servers.idp import GRANT_DEVICE_CODE
from tests.snapshots import assert_snapshot
from tests.test_console_admin_channels import (
    SIZE,
    fill_connection,
    new_form,
    on_screen,
    result_text,
    save,
    steps,
)
from tuidesk.auth.credentials import encrypt, resolve
from tuidesk.screens.admin import AdminScreen
from tuidesk.screens.admin_channels import ChannelsSection, OutgoingSection
from tuidesk.screens.edit import EditScreen
from tuidesk.storage.channels import save_channel
from tuidesk.storage.db import read_session, session_scope
from tuidesk.storage.models import Channel, OutgoingChannel
from tuidesk.storage.outgoing import save_outgoing
from tuidesk.widgets.form import Form, widget_id

REFRESH_TOKEN = "0.ARpasted-refresh-token-never-shown"
IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
SECRET = "s3cret-client-secret"


@pytest.fixture
def desk(admin_db, tmp_path: Path) -> tuple[Engine, int, Path]:
    engine, admin = admin_db
    config = tmp_path / "config"
    config.mkdir()
    return engine, admin, config


def channel(engine: Engine, name: str = "support") -> Channel | None:
    with read_session(engine) as s:
        return s.exec(select(Channel).where(Channel.name == name)).first()


def outgoing(engine: Engine, name: str) -> OutgoingChannel | None:
    with read_session(engine) as s:
        return s.exec(select(OutgoingChannel).where(OutgoingChannel.name == name)).first()


def fill_oauth(app, refresh_token: str | None = REFRESH_TOKEN) -> None:  # type: ignore[no-untyped-def]
    """A public client (no secret) on Microsoft 365 with a pasted refresh token."""
    set_field(app, "auth_type", "oauth2")
    set_field(app, "password_from", "none")
    set_field(app, "password", "")
    set_field(app, "oauth_tenant", "contoso.onmicrosoft.com")
    set_field(app, "oauth_client_id", "00000000-0000-0000-0000-00000000c0de")
    set_field(app, "oauth_scopes", IMAP_SCOPE)
    set_field(app, "oauth_refresh_token", refresh_token or "")


def add_channel(engine: Engine, **values) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        save_channel(s, Channel(**({
            "name": "support", "kind": "imap", "host": "imap.example.com", "port": 993,
            "username": "support@contoso.com", "secret_kind": "env", "secret_ref": "IMAP_PW",
        } | values)))  # fmt: skip


async def edit_channel(pilot, name: str = "support") -> EditScreen:  # type: ignore[no-untyped-def]
    screen = await open_section(pilot, "Channels")
    table = screen.query_one("#admin-rows")
    table.move_cursor(row=[r[0] for r in rows(screen)].index(name))
    table.focus()
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, EditScreen), f"channel {name}")
    return pilot.app.screen


def scroll_to(app, name: str) -> None:  # type: ignore[no-untyped-def]
    form = app.screen.query_one(Form)
    form.scroll_to_widget(form.query_one(f"#{widget_id(name)}"), top=True, animate=False)


def keys(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The edit screen's keys as the footer shows them: description -> key."""
    return {b.binding.description: key for key, b in app.screen.active_bindings.items()}


def footer(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [key.description for key in app.screen.query(FooterKey)]


def palette(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [command.title for command in app.get_system_commands(app.screen)]


async def test_an_oauth2_channel_is_saved_with_its_refresh_token_encrypted(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        assert app.screen.query_one("#field-oauth_tenant").parent.has_class("-hidden")
        fill_connection(app)
        fill_oauth(app)
        await pilot.pause()
        assert not app.screen.query_one("#field-oauth_tenant").parent.has_class("-hidden")
        scroll_to(app, "username")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_channel_oauth")
        await save(pilot)
        assert rows(app.screen)[0][-1] == "no token yet"
        assert REFRESH_TOKEN not in on_screen(app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the channel again")
        scroll_to(app, "oauth_refresh_token")
        await pilot.pause()
        assert REFRESH_TOKEN not in on_screen(app)
        assert "Now: refresh token stored encrypted, not used yet" in on_screen(app)

    saved = channel(engine)
    assert saved is not None
    assert (saved.auth_type, saved.oauth_tenant, saved.oauth_client_id) == (
        "oauth2", "contoso.onmicrosoft.com", "00000000-0000-0000-0000-00000000c0de",
    )  # fmt: skip
    assert saved.oauth_scopes == [IMAP_SCOPE]
    assert (saved.secret_kind, saved.secret_ref) == (None, None)  # a public client
    assert saved.oauth_refresh_token and REFRESH_TOKEN not in saved.oauth_refresh_token
    assert resolve("stored", saved.oauth_refresh_token, config) == REFRESH_TOKEN
    assert (saved.oauth_authority, saved.token_cache, saved.token_expires_at) == (None,) * 3


async def test_the_client_secret_is_the_password_fields_and_stored_encrypted(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        fill_oauth(app, refresh_token=None)
        set_field(app, "password_from", "stored")
        set_field(app, "oauth_authority", "https://login.microsoftonline.us/contoso/")
        set_field(app, "oauth_redirect_url", "http://localhost:8400/callback")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "password") != "", "the secret asked for")
        assert error_of(app, "password") == "type the client secret to store"
        set_field(app, "password", SECRET)
        await save(pilot)
    saved = channel(engine)
    assert saved is not None and saved.secret_kind == "stored"
    assert resolve(saved.secret_kind, saved.secret_ref, config) == SECRET
    assert saved.oauth_authority == "https://login.microsoftonline.us/contoso"
    assert saved.oauth_redirect_url == "http://localhost:8400/callback"
    assert saved.oauth_refresh_token is None


async def test_a_client_certificate_is_taken_instead_of_a_secret(desk, tmp_path) -> None:
    engine, admin, config = desk
    pem = tmp_path / "app.pem"
    write_client_certificate(pem)
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        fill_oauth(app, refresh_token=None)
        set_field(app, "password_from", "env")
        set_field(app, "password_ref", "M365_SECRET")
        set_field(app, "oauth_certificate", str(pem))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "oauth_certificate") != "", "the refusal")
        assert error_of(app, "oauth_certificate") == "a client secret or a certificate, not both"
        set_field(app, "password_from", "none")
        pem.chmod(0o640)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "chmod 600" in error_of(app, "oauth_certificate"), "mode")
        pem.chmod(0o600)
        await save(pilot)
        assert rows(app.screen)[0][-1] == "no token yet"
    saved = channel(engine)
    assert saved is not None
    assert (saved.oauth_certificate, saved.secret_kind) == (str(pem), None)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no row decides it: once
async def test_no_password_is_refused_for_password_login(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        set_field(app, "password_from", "none")
        set_field(app, "oauth_refresh_token", REFRESH_TOKEN)  # typed under oauth2, then left
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "password_from") != "", "the error")
        assert error_of(app, "password_from").startswith("a password is needed")
        assert error_of(app, "oauth_refresh_token") == (
            "a refresh token is for oauth2: choose it above"
        )
        # a field shown for oauth2 only is shown when it is in error
        assert not app.screen.query_one("#error-oauth_refresh_token").has_class("-hidden")
    assert channel(engine) is None


async def test_a_refused_oauth2_form(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        fill_oauth(app)
        set_field(app, "oauth_tenant", "")
        set_field(app, "oauth_client_id", "")
        set_field(app, "oauth_scopes", "IMAP AccessAsUser")
        set_field(app, "oauth_redirect_url", "localhost/cb")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "oauth_client_id") != "", "the errors")
        assert error_of(app, "oauth_tenant").startswith("OAuth2 needs a tenant ID")
        assert error_of(app, "oauth_scopes") and error_of(app, "oauth_redirect_url")
        scroll_to(app, "auth_type")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_channel_oauth_errors")
    assert channel(engine) is None


async def test_a_pasted_token_or_another_auth_type_drops_the_token_cache(desk) -> None:
    engine, admin, config = desk
    ends = datetime.now(UTC) + timedelta(hours=1)
    cache = encrypt('{"RefreshToken": {}}', config)
    add_channel(engine, auth_type="oauth2", oauth_tenant="contoso", oauth_client_id="app",
                secret_kind=None, secret_ref=None, token_cache=cache,
                token_expires_at=ends)  # fmt: skip
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot)
        scroll_to(app, "oauth_refresh_token")
        await pilot.pause()
        assert "Now: token cache stored encrypted" in on_screen(app)
        set_field(app, "host", "outlook.office365.com")  # other changes keep the sign-in
        await save(pilot)
        kept = channel(engine)
        assert kept is not None and kept.token_cache == cache
        await edit_channel(pilot)
        set_field(app, "oauth_refresh_token", REFRESH_TOKEN)
        await save(pilot)
        pasted = channel(engine)
        assert pasted is not None and (pasted.token_cache, pasted.token_expires_at) == (None, None)
        assert resolve("stored", pasted.oauth_refresh_token, config) == REFRESH_TOKEN
    with session_scope(engine) as s:
        row = s.exec(select(Channel)).one()
        row.token_cache, row.token_expires_at = cache, ends
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot)
        set_field(app, "auth_type", "password")
        set_field(app, "password_from", "env")
        set_field(app, "password_ref", "IMAP_PW")
        await save(pilot)
    back = channel(engine)
    assert back is not None and back.auth_type == "password"
    assert (back.token_cache, back.token_expires_at) == (None, None)


async def test_switching_the_auth_type_never_reuses_the_password_as_a_secret(desk) -> None:
    engine, admin, config = desk
    add_channel(engine, secret_kind="stored", secret_ref=encrypt("imap-password", config))
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot)
        set_field(app, "auth_type", "oauth2")  # the secret fields left as they were
        set_field(app, "oauth_tenant", "contoso.onmicrosoft.com")
        set_field(app, "oauth_client_id", "00000000-0000-0000-0000-00000000c0de")
        await save(pilot)
        oauth = channel(engine)
        assert oauth is not None and (oauth.secret_kind, oauth.secret_ref) == (None, None)
        await edit_channel(pilot)
        set_field(app, "auth_type", "password")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "password_from") != "", "a password asked for")
        assert error_of(app, "password_from").startswith("a password is needed")
    assert channel(engine).auth_type == "oauth2"  # type: ignore[union-attr]
    # And a client secret is no password: switching back asks for one.
    add_channel(engine, name="secret", auth_type="oauth2", oauth_tenant="contoso",
                oauth_client_id="app", secret_kind="env", secret_ref="M365_SECRET")  # fmt: skip
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot, "secret")
        set_field(app, "auth_type", "password")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "password") != "", "the password asked for")
        assert error_of(app, "password").startswith("type the password")
    assert channel(engine, "secret").secret_ref == "M365_SECRET"  # type: ignore[union-attr]


async def test_test_connection_needs_a_saved_channel_to_keep_tokens(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app, host="127.0.0.1", port=1)
        fill_oauth(app)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith("FAILED"), "the test's end")
        assert result_text(app) == (
            "Test connection... Save the channel first: signing in keeps tokens on it FAILED"
        )
        await save(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the channel again")
        set_field(app, "oauth_refresh_token", "another-refresh-token")  # pasted, not saved
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith("FAILED"), "the test's end")
        assert "Save the channel first" in result_text(app) and steps(app) == []
        set_field(app, "oauth_refresh_token", "")  # the saved token: tried (nothing listens)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: "connect" in result_text(app), "a connection tried")
        assert steps(app)[-1][:2] == ("FAILED", "connect")
    saved = channel(engine)
    assert saved is not None and resolve("stored", saved.oauth_refresh_token, config) == (
        REFRESH_TOKEN
    )


async def test_an_oauth2_outgoing_channel_is_saved_and_checked(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Outgoing")
        set_field(app, "name", "m365")
        set_field(app, "host", "smtp.office365.com")
        set_field(app, "port", "587")
        set_field(app, "security", "starttls")
        set_field(app, "from_address", "support@contoso.com")
        fill_oauth(app)
        set_field(app, "oauth_scopes", "https://outlook.office.com/SMTP.Send, bad scope")
        set_field(app, "oauth_authority", "http://login.microsoftonline.com/contoso")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "oauth_scopes") != "", "the errors")
        assert "must be one word" in error_of(app, "oauth_scopes")
        assert "must be an https URL" in error_of(app, "oauth_authority")
        assert error_of(app, "username") == "OAuth2 needs the mailbox to send as (--username)"
        await pilot.press("ctrl+t")  # refused first, the same way
        await until(pilot, lambda: "FAILED" in result_text(app), "the test refused")
        scroll_to(app, "username")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_outgoing_oauth_errors")
        set_field(app, "username", "support@contoso.com")
        set_field(app, "oauth_scopes", "https://outlook.office.com/SMTP.Send")
        set_field(app, "oauth_authority", "")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: "Save the channel first" in result_text(app), "no test")
        await save(pilot)
        assert rows(app.screen)[-1] == [
            "m365", "smtp.office365.com:587", "support@contoso.com", "yes", "no token yet",
        ]  # fmt: skip
        assert REFRESH_TOKEN not in on_screen(app)
        await pilot.press("enter")  # saved: it can sign in
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the channel again")
        assert keys(app)["Sign in"] == "ctrl+o"
        assert REFRESH_TOKEN not in on_screen(app)
    saved = outgoing(engine, "m365")
    assert saved is not None and saved.auth_type == "oauth2"
    assert saved.oauth_scopes == ["https://outlook.office.com/SMTP.Send"]
    assert (saved.secret_kind, saved.secret_ref, saved.oauth_authority) == (None, None, None)
    assert resolve("stored", saved.oauth_refresh_token, config) == REFRESH_TOKEN


async def test_the_sign_in_key_is_there_for_oauth2_only(desk) -> None:
    engine, admin, config = desk
    add_channel(engine)
    add_channel(engine, name="m365", auth_type="oauth2", oauth_tenant="contoso",
                oauth_client_id="app", secret_kind=None, secret_ref=None)  # fmt: skip
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot, "support")
        assert "Sign in" not in keys(app)
        assert "Test" in footer(app) and "Sign in" not in footer(app)
        assert not any(title.startswith("Sign in") for title in palette(app))
        await pilot.press("ctrl+o")  # nothing happens
        assert not app.screen.query_one("#edit-result").display
        set_field(app, "auth_type", "oauth2")  # chosen, not saved: the key comes...
        await until(pilot, lambda: "Sign in" in keys(app), "the key")
        await pilot.press("ctrl+o")  # ...and asks to save first
        await until(pilot, lambda: result_text(app).startswith("Save first"), "the refusal")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the list")
        await edit_channel(pilot, "m365")
        assert keys(app)["Sign in"] == "ctrl+o"
        assert "Sign in (^o)" in palette(app)
        await until(pilot, lambda: "Sign in" in footer(app), "the key in the footer")
        set_field(app, "oauth_client_id", "other-app")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: result_text(app).startswith("Save first"), "the refusal")
        assert channel(engine, "m365").token_cache is None  # type: ignore[union-attr]


async def test_the_sign_in_message_is_shown_as_text(desk, idp) -> None:
    """What the identity provider says is shown as it is: never read as markup."""
    engine, admin, config = desk
    idp.add_app("desk-app", None)
    idp.device_message = "Open [bold]{uri}[/bold] and enter [link=x]{code}[/link]\x1b[31m"
    add_channel(engine, auth_type="oauth2", oauth_client_id="desk-app", secret_kind=None,
                secret_ref=None, oauth_authority=idp.authority(), ca_file=idp.ca_file)  # fmt: skip
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: "[/link]" in result_text(app), "the code")
        code = idp.wait_for_device_code()
        idp.deny_device(code, why="[red]no[/red] \x1b]52;c;aGk=\x07")
        await until(pilot, lambda: "Not signed in" in result_text(app), "the outcome")
        uri = f"https://localhost:{idp.port}/devicelogin"
        assert result_text(app) == (
            f"Sign in with a device code... Open [bold]{uri}[/bold] and enter "
            f"[link=x]{code}[/link] Waiting for the sign-in; Escape leaves and cancels it. "
            "Not signed in: sign-in failed: access_denied: [red]no[/red]"
        )


def test_the_lists_say_when_the_access_token_ends(admin_db) -> None:
    engine, _ = admin_db
    ends = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    with session_scope(engine) as s:
        s.add(Channel(name="pipe", kind="pipe"))
        s.add(Channel(name="pw", kind="imap", host="h", port=993, username="u"))
        s.add(Channel(name="fresh", kind="imap", auth_type="oauth2"))
        s.add(Channel(name="signed", kind="imap", auth_type="oauth2", token_expires_at=ends))
        s.add(Channel(name="old", kind="imap", auth_type="oauth2",
                      token_expires_at=datetime(2020, 1, 1, tzinfo=UTC)))  # fmt: skip
        save_outgoing(s, OutgoingChannel(
            name="out", host="smtp.example.com", port=587, from_address="a@example.com",
            auth_type="oauth2", username="a@example.com", oauth_tenant="t",
            oauth_client_id="c", token_expires_at=ends,
        ))  # fmt: skip
    local = f"{ends.astimezone():%Y-%m-%d %H:%M}"
    ended = f"{datetime(2020, 1, 1, tzinfo=UTC).astimezone():%Y-%m-%d %H:%M}"
    with read_session(engine) as s:
        signs = {row.key: row.cells[-1] for row in ChannelsSection(None).rows(s)}
        out = OutgoingSection(None).rows(s)
    assert signs == {
        "pipe": "", "pw": "password", "fresh": "not signed in", "signed": f"until {local}",
        "old": f"ended {ended}",
    }  # fmt: skip
    assert out[0].cells[-1] == f"until {local}"


# -- against the fake identity provider -------------------------------------------------------


def ca_bundle(tmp_path: Path, *files: str) -> str:
    """One PEM trusting both the mail server and the identity provider: a channel's CA file
    serves both."""
    path = tmp_path / "bundle.pem"
    path.write_text("".join(Path(f).read_text() for f in files))
    return str(path)


def user_name(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns() % 10**9}"


async def test_test_connection_with_client_credentials_logs_in(
    desk, idp, oauth_dovecot, tmp_path
) -> None:
    engine, admin, config = desk
    user = user_name("cc")
    oauth_dovecot.add_user(user, "unused-password")
    idp.add_app("daemon", SECRET, mailbox=user)
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app, host="127.0.0.1", port=oauth_dovecot.imaps_port)
        set_field(app, "username", user)
        set_field(app, "ca_file", ca_bundle(tmp_path, oauth_dovecot.ca_file, idp.ca_file))
        fill_oauth(app, refresh_token=None)
        set_field(app, "oauth_scopes", "")
        set_field(app, "oauth_client_id", "daemon")
        set_field(app, "oauth_authority", idp.authority())
        set_field(app, "password_from", "stored")
        set_field(app, "password", SECRET)  # the client secret
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith(("PASSED", "FAILED")), "the end")
        reported, text = steps(app), result_text(app)
    assert text.endswith("PASSED"), text
    assert [(ok, step) for ok, step, _ in reported] == [
        ("ok", "dns"), ("ok", "connect"), ("ok", "tls"), ("ok", "token"), ("ok", "login"),
        ("ok", "folders"), ("ok", "move folders"),
    ]  # fmt: skip
    assert reported[3][2].startswith("client credentials: access token valid until")
    assert SECRET not in text
    assert idp.token_requests("client_credentials") == 1
    assert channel(engine) is None  # nothing saved, no token kept


async def test_a_device_code_sign_in_keeps_the_tokens_on_the_channel(
    desk, idp, oauth_dovecot, tmp_path
) -> None:
    engine, admin, config = desk
    user = user_name("dc")
    oauth_dovecot.add_user(user, "unused-password")
    idp.add_app("desk-app", None)
    idp.add_user(user)
    add_channel(engine, host="127.0.0.1", port=oauth_dovecot.imaps_port, username=user,
                ca_file=ca_bundle(tmp_path, oauth_dovecot.ca_file, idp.ca_file),
                auth_type="oauth2", oauth_client_id="desk-app", oauth_authority=idp.authority(),
                oauth_scopes=[IMAP_SCOPE], secret_kind=None, secret_ref=None)  # fmt: skip
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await edit_channel(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: "enter the code" in result_text(app), "the code")
        code = re.search(r"enter the code ([A-Z]+)", result_text(app)).group(1)  # type: ignore[union-attr]
        assert f"https://localhost:{idp.port}/devicelogin" in result_text(app)
        idp.approve_device(user, code)
        await until(pilot, lambda: "Signed in" in result_text(app), "the sign-in")
        assert "Signed in: device code: access token valid until" in result_text(app)
        assert "Kept encrypted on channel support." in result_text(app)
        signed = channel(engine)
        assert signed is not None and signed.token_cache and signed.token_expires_at
        cache = json.loads(resolve("stored", signed.token_cache, config))
        assert cache["RefreshToken"] and signed.oauth_refresh_token is None
        assert '"secret"' not in signed.token_cache  # ciphertext, not the cache
        # The tokens it got open the mailbox: Test connection uses them and keeps them.
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith(("PASSED", "FAILED")), "the test")
        assert result_text(app).endswith("PASSED"), result_text(app)
        assert [step for _, step, _ in steps(app)][3:5] == ["token", "login"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the list")
        ends = channel(engine).token_expires_at  # type: ignore[union-attr]
        local = f"{ends.replace(tzinfo=UTC).astimezone():%Y-%m-%d %H:%M}"  # type: ignore[union-attr]
        assert rows(app.screen)[0][-1] == f"until {local}"
    assert idp.token_requests(GRANT_DEVICE_CODE) >= 1


async def test_escape_cancels_a_sign_in_that_waits(desk, idp) -> None:
    engine, admin, config = desk
    idp.add_app("desk-app", None)
    add_channel(engine, auth_type="oauth2", oauth_client_id="desk-app", secret_kind=None,
                secret_ref=None, oauth_authority=idp.authority(), ca_file=idp.ca_file)  # fmt: skip
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await edit_channel(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: "enter the code" in result_text(app), "the code")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the list")
        assert screen._stop.is_set()
        await asyncio.sleep(2.5)  # MSAL checks `stop` each second, between polls
        polls = idp.token_requests(GRANT_DEVICE_CODE)
        await asyncio.sleep(2.5)
        assert idp.token_requests(GRANT_DEVICE_CODE) == polls  # it stopped polling
    assert channel(engine).token_cache is None  # type: ignore[union-attr]
