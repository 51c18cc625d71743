"""OAuth2 settings from the command line: what `channel add|edit` and `outgoing add|edit` take,
what they refuse (exit 2, naming the option or field), and that a pasted refresh token is kept
encrypted and never shown (no identity provider needed here)."""

from __future__ import annotations

import json

import pytest

OAUTH = ("--auth", "oauth2", "--tenant", "contoso.onmicrosoft.com", "--client-id", "app-123")
REFRESH_TOKEN = "0.ARrefresh-token-that-must-never-show"


def add(cli, *extra: str, name: str = "support", **kw):  # type: ignore[no-untyped-def]
    return cli("channel", "add", name, "--host", "127.0.0.1", "--port", "993",
               "--username", "support@contoso.test", *extra, **kw)  # fmt: skip


def shown(cli, name: str = "support", kind: str = "channel") -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cli(kind, "show", name, "--json").stdout)


def test_client_credentials_settings_are_saved_and_shown_without_the_secret(cli):
    add(cli, *OAUTH, "--client-secret-env", "M365_SECRET")
    data = shown(cli)
    assert data["auth_type"] == "oauth2"
    assert (data["oauth_tenant"], data["oauth_client_id"]) == ("contoso.onmicrosoft.com", "app-123")
    assert data["client_secret"] == "from environment variable M365_SECRET"
    assert data["sign_in"] == "client credentials (app-only)"
    assert "password" not in data and "token_cache" not in data


def test_a_pasted_refresh_token_is_stored_encrypted_and_never_shown(cli, _isolated_home):
    add(cli, "--auth", "oauth2", "--tenant", "common", "--client-id", "public-app",
        "--scope", "https://outlook.office.com/IMAP.AccessAsUser.All",
        "--refresh-token-stdin", input=f"{REFRESH_TOKEN}\n".encode())  # fmt: skip
    data = shown(cli)
    assert data["sign_in"] == "refresh token stored encrypted, not used yet"
    assert data["oauth_scopes"] == ["https://outlook.office.com/IMAP.AccessAsUser.All"]
    for output in (
        cli("channel", "show", "support").stdout,
        cli("channel", "list", "--json").stdout,
        cli("config", "export").stdout,
    ):
        assert REFRESH_TOKEN.encode() not in output
    for path in _isolated_home.rglob("*"):
        if path.is_file():
            assert REFRESH_TOKEN.encode() not in path.read_bytes(), path


def test_an_exported_oauth_channel_imports_without_its_tokens(cli, tmp_path):
    add(cli, *OAUTH, "--client-secret-command", "pass show m365", "--refresh-token-stdin",
        input=f"{REFRESH_TOKEN}\n".encode())  # fmt: skip
    exported = cli("config", "export").stdout.decode()
    assert 'oauth_client_id = "app-123"' in exported
    assert "oauth_refresh_token" not in exported and "token_cache" not in exported
    cli("channel", "remove", "support")
    (tmp_path / "desk.toml").write_text(exported)
    cli("config", "import", str(tmp_path / "desk.toml"))
    data = shown(cli)
    assert (data["auth_type"], data["client_secret"]) == ("oauth2", "from command: pass show m365")
    assert data["sign_in"] == "client credentials (app-only)"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # validation: once
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tenant", "contoso", "--password-env", "PW"), "--tenant is for --auth oauth2"),
        ((*OAUTH, "--password-env", "PW"), "not a password"),
        (("--auth", "oauth2", "--tenant", "contoso"), "client ID must not be empty"),
        (("--auth", "oauth2", "--client-id", "app"), "a tenant ID"),
        ((*OAUTH, "--authority", "http://login.example.test/t"), "must be an https URL"),
        ((*OAUTH, "--scope", "IMAP.AccessAsUser.All offline_access"), "must be one word"),
        ((*OAUTH, "--tenant", "con/toso"), "is not a tenant ID"),
        (("--auth", "kerberos"), "--auth is password or oauth2"),
        (
            (*OAUTH, "--client-secret-env", "A", "--client-secret-command", "b"),
            "choose one of --client-secret-env, --client-secret-command",
        ),
    ],
)
def test_bad_oauth_settings_are_refused_and_nothing_is_saved(cli, args, message):
    proc = add(cli, *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr.decode()
    assert json.loads(cli("channel", "list", "--json").stdout) == []


def test_an_authority_of_another_cloud_needs_no_tenant(cli):
    add(cli, "--auth", "oauth2", "--client-id", "app-123", "--client-secret-env", "S",
        "--authority", "https://login.microsoftonline.us/contoso.onmicrosoft.us/")  # fmt: skip
    assert (
        shown(cli)["oauth_authority"] == "https://login.microsoftonline.us/contoso.onmicrosoft.us"
    )


def test_edit_switches_a_password_channel_to_oauth2_and_back(cli):
    add(cli, "--password-env", "PW")
    proc = cli("channel", "edit", "support", "--client-id", "x", check=False)
    assert proc.returncode == 2 and "--client-id is for --auth oauth2" in proc.stderr.decode()
    cli("channel", "edit", "support", *OAUTH, "--client-secret-env", "S")
    assert shown(cli)["auth_type"] == "oauth2"
    cli("channel", "edit", "support", "--scope", "https://outlook.office365.com/.default")
    assert shown(cli)["oauth_scopes"] == ["https://outlook.office365.com/.default"]
    proc = cli("channel", "edit", "support", "--auth", "password", check=False)
    assert proc.returncode == 2 and "--auth password needs the password" in proc.stderr.decode()
    cli("channel", "edit", "support", "--auth", "password", "--password-env", "PW")
    data = shown(cli)
    assert (data["auth_type"], data["password"]) == ("password", "from environment variable PW")
    # The password is never handed to an identity provider as a client secret.
    cli("channel", "edit", "support", *OAUTH)
    data = shown(cli)
    assert data["client_secret"] == "not set"
    assert data["sign_in"].startswith("not signed in")


def test_an_outgoing_channel_takes_the_same_options(cli):
    cli("outgoing", "add", "m365", "--host", "smtp.office365.com", "--port", "587", "--starttls",
        "--username", "support@contoso.test", "--from", "support@contoso.test",
        *OAUTH, "--client-secret-env", "M365_SECRET")  # fmt: skip
    data = shown(cli, "m365", "outgoing")
    assert (data["auth_type"], data["client_secret"]) == (
        "oauth2", "from environment variable M365_SECRET"
    )  # fmt: skip
    proc = cli("outgoing", "add", "bad", "--host", "smtp.office365.com", "--port", "587",
               "--username", "u@contoso.test", "--from", "u@contoso.test", "--auth", "oauth2",
               "--tenant", "contoso", check=False)  # fmt: skip
    assert proc.returncode == 2 and "client ID must not be empty" in proc.stderr.decode()


def test_device_sign_in_needs_an_oauth2_channel(cli):
    add(cli, "--password-env", "PW")
    proc = cli("channel", "auth", "support", check=False)
    assert proc.returncode == 2
    assert "logs in with a password: set --auth oauth2 first" in proc.stderr.decode()
    assert cli("channel", "auth", "nope", check=False).returncode == 2


def test_the_token_step_says_when_it_ends_and_warns_in_time_when_it_cannot_be_renewed():
    from datetime import UTC, datetime, timedelta

    from tuidesk.auth.oauth import Token

    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    soon, later = now + timedelta(minutes=5), now + timedelta(hours=1)
    renewed = Token("eyJ-access-token", later, "refresh token", renewable=True).describe(now)
    assert renewed.startswith("refresh token: access token valid until ")
    assert renewed.endswith(", renewed automatically")
    lasting = Token("eyJ-access-token", later, "device code", renewable=False).describe(now)
    assert lasting.endswith("and it cannot be renewed: sign in again before then")
    assert not lasting.startswith("WARNING")
    ending = Token("eyJ-access-token", soon, "device code", renewable=False).describe(now)
    assert ending.startswith("WARNING: device code: access token valid until")
    assert all("eyJ" not in text for text in (renewed, lasting, ending))
