"""The OAuth2 fakes work with the real clients, before any product code relies on them: the
fake identity provider (tests/servers/idp.py) with the real MSAL, set up as the product sets
it up (https authority on localhost, instance_discovery=False, a requests.Session trusting
the test CA), and XOAUTH2 logins to Dovecot (token introspection) and to aiosmtpd.

MSAL remembers an HTTP 400 answer for 60 s per identical request, so a test that repeats a
failing call uses a fresh app object or different inputs."""

from __future__ import annotations

import base64
import itertools
import os
import smtplib
import threading
import time

import msal
import pytest
import requests
from imapclient.exceptions import LoginError

from tests.servers.dovecot import DovecotServer
from tests.servers.idp import GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN, FakeIdP
from tests.servers.smtp import SmtpServer

IMAP_SCOPE = "https://outlook.office365.com/IMAP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office365.com/SMTP.Send"
APP_SCOPE = "https://outlook.office365.com/.default"
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


def http(ca_file: str) -> requests.Session:
    """The session the product hands MSAL: no proxy from the environment, our CA only."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session


def public_app(idp: FakeIdP, client_id: str) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        client_id,
        authority=idp.authority(),
        instance_discovery=False,
        http_client=http(idp.ca_file),
    )


def confidential_app(
    idp: FakeIdP, client_id: str, secret: str
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=idp.authority(),
        instance_discovery=False,
        http_client=http(idp.ca_file),
    )


def introspect(idp: FakeIdP, token: str) -> dict:
    """What Dovecot asks: a form POST with the token (and empty client_id / client_secret)."""
    session = requests.Session()
    session.trust_env = False
    with session:
        answer = session.post(
            idp.introspection_url, data={"token": token, "client_id": "", "client_secret": ""}
        )
    answer.raise_for_status()
    return answer.json()


def current_refresh_token(app: msal.ClientApplication) -> str:
    [entry] = app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)
    return entry["secret"]


# -- the identity provider with MSAL ----------------------------------------------------------


def test_discovery_document_is_where_msal_looks_and_all_https(idp: FakeIdP) -> None:
    idp.add_app("app", "s3cret", mailbox="support")
    result = confidential_app(idp, "app", "s3cret").acquire_token_for_client([APP_SCOPE])
    assert "access_token" in result, result
    assert idp.requests == [
        ("/contoso/v2.0/.well-known/openid-configuration", None),
        ("/contoso/oauth2/v2.0/token", "client_credentials"),
    ]
    config = http(idp.ca_file).get(f"{idp.authority()}/v2.0/.well-known/openid-configuration")
    doc = config.json()
    assert doc["token_endpoint"] == f"https://localhost:{idp.port}/contoso/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"].endswith("/contoso/oauth2/v2.0/devicecode")
    for key in ("issuer", "authorization_endpoint", "token_endpoint"):
        assert doc[key].startswith(f"https://localhost:{idp.port}/contoso/"), key


def test_client_credentials(idp: FakeIdP) -> None:
    idp.add_app("daemon", "s3cret", mailbox="support")
    app = confidential_app(idp, "daemon", "s3cret")
    result = app.acquire_token_for_client([APP_SCOPE])
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3600
    assert idp.access_token_owner(result["access_token"]) == "support"
    assert introspect(idp, result["access_token"])["username"] == "support"
    # The second call is MSAL's cache: no new token request.
    assert app.acquire_token_for_client([APP_SCOPE])["access_token"] == result["access_token"]
    assert idp.token_requests("client_credentials") == 1

    wrong = confidential_app(idp, "daemon", "wrong").acquire_token_for_client([APP_SCOPE])
    assert wrong["error"] == "invalid_client"
    assert "AADSTS7000215" in wrong["error_description"]
    unknown = confidential_app(idp, "nobody", "s3cret").acquire_token_for_client([APP_SCOPE])
    assert unknown["error"] == "unauthorized_client"
    not_default = app.acquire_token_for_client([IMAP_SCOPE])
    assert not_default["error"] == "invalid_scope"


def test_client_credentials_token_without_mailbox_opens_none(idp: FakeIdP) -> None:
    idp.add_app("daemon", "s3cret")
    result = confidential_app(idp, "daemon", "s3cret").acquire_token_for_client([APP_SCOPE])
    assert idp.access_token_owner(result["access_token"]) is None
    answer = introspect(idp, result["access_token"])
    assert answer["active"] is True and "username" not in answer


def test_refresh_token_rotates_and_the_old_one_is_refused(idp: FakeIdP) -> None:
    idp.add_app("desk", None)
    idp.add_user("alice")
    pasted = idp.issue_refresh_token("desk", "alice", [IMAP_SCOPE])
    app = public_app(idp, "desk")
    result = app.acquire_token_by_refresh_token(pasted, [IMAP_SCOPE])
    assert "access_token" in result, result
    assert result["scope"] == IMAP_SCOPE
    assert result["id_token_claims"]["preferred_username"] == "alice"
    assert idp.access_token_owner(result["access_token"]) == "alice"
    [account] = app.get_accounts(username="alice")  # client_info + id_token made an account
    second = current_refresh_token(app)
    assert second not in (pasted, "")

    again = public_app(idp, "desk").acquire_token_by_refresh_token(pasted, [IMAP_SCOPE])
    assert again["error"] == "invalid_grant"

    # Still fresh in MSAL's eyes: the cache answers, no refresh.
    cached = app.acquire_token_silent([IMAP_SCOPE], account)
    assert cached["access_token"] == result["access_token"]
    assert idp.token_requests(GRANT_REFRESH_TOKEN) == 2

    # MSAL calls a token with less than 5 minutes left expired and refreshes it.
    idp.set_expires_in(120)
    app.acquire_token_silent([IMAP_SCOPE], account, force_refresh=True)
    short = app.acquire_token_silent([IMAP_SCOPE], account)
    assert short["access_token"] != result["access_token"]
    assert idp.token_requests(GRANT_REFRESH_TOKEN) == 4
    third = current_refresh_token(app)
    assert third != second
    late = public_app(idp, "desk").acquire_token_by_refresh_token(second, [IMAP_SCOPE])
    assert late["error"] == "invalid_grant"
    # Rotation does not end the access tokens already out.
    assert idp.access_token_owner(result["access_token"]) == "alice"


def test_refresh_token_of_a_confidential_app_needs_its_secret(idp: FakeIdP) -> None:
    idp.add_app("webapp", "s3cret")
    idp.add_user("bob")
    token = idp.issue_refresh_token("webapp", "bob", [SMTP_SCOPE])
    refused = public_app(idp, "webapp").acquire_token_by_refresh_token(token, [SMTP_SCOPE])
    assert refused["error"] == "invalid_client"  # 401: MSAL does not remember it
    result = confidential_app(idp, "webapp", "s3cret").acquire_token_by_refresh_token(
        token, [SMTP_SCOPE]
    )
    assert idp.access_token_owner(result["access_token"]) == "bob"
    other = idp.issue_refresh_token("webapp", "bob", [SMTP_SCOPE])
    idp.add_app("elsewhere", None)
    foreign = public_app(idp, "elsewhere").acquire_token_by_refresh_token(other, [SMTP_SCOPE])
    assert foreign["error"] == "invalid_grant"


def test_revoke_ends_refresh_and_introspection(idp: FakeIdP) -> None:
    idp.add_app("desk", None)
    idp.add_user("carol")
    app = public_app(idp, "desk")
    result = app.acquire_token_by_refresh_token(
        idp.issue_refresh_token("desk", "carol", [IMAP_SCOPE]), [IMAP_SCOPE]
    )
    [account] = app.get_accounts()
    assert introspect(idp, result["access_token"]) | {"exp": 0} == {
        "active": True,
        "username": "carol",
        "client_id": "desk",
        "scope": IMAP_SCOPE,
        "token_type": "Bearer",
        "exp": 0,
    }
    idp.revoke("carol")
    assert introspect(idp, result["access_token"]) == {"active": False}
    assert idp.access_token_owner(result["access_token"]) is None
    refused = app.acquire_token_silent_with_error([IMAP_SCOPE], account, force_refresh=True)
    assert refused["error"] == "invalid_grant"
    assert "AADSTS50173" in refused["error_description"]
    # A new sign-in works again.
    fresh = public_app(idp, "desk").acquire_token_by_refresh_token(
        idp.issue_refresh_token("desk", "carol", [IMAP_SCOPE]), [IMAP_SCOPE]
    )
    assert idp.access_token_owner(fresh["access_token"]) == "carol"


def test_revoke_one_refresh_token_spares_the_users_other_sign_ins(idp: FakeIdP) -> None:
    idp.add_app("desk", None)
    idp.add_user("dave")
    first, second = (idp.issue_refresh_token("desk", "dave", [IMAP_SCOPE]) for _ in "12")
    a = public_app(idp, "desk").acquire_token_by_refresh_token(first, [IMAP_SCOPE])
    b = public_app(idp, "desk").acquire_token_by_refresh_token(second, [IMAP_SCOPE])
    idp.revoke(first)  # already rotated: the whole chain goes
    assert idp.access_token_owner(a["access_token"]) is None
    assert idp.access_token_owner(b["access_token"]) == "dave"
    with pytest.raises(KeyError):
        idp.revoke("no-such-thing")


def test_expired_access_tokens_are_inactive(idp: FakeIdP) -> None:
    idp.add_app("daemon", "s3cret", mailbox="support")
    result = confidential_app(idp, "daemon", "s3cret").acquire_token_for_client([APP_SCOPE])
    idp.expire_access_tokens()
    assert introspect(idp, result["access_token"]) == {"active": False}
    assert idp.access_token_owner(result["access_token"]) is None
    idp.set_expires_in(1)
    short = confidential_app(idp, "daemon", "s3cret").acquire_token_for_client([APP_SCOPE])
    assert short["expires_in"] == 1
    assert idp.access_token_owner(short["access_token"]) == "support"


def test_device_code_flow(idp: FakeIdP) -> None:
    idp.add_app("desk", None)
    idp.add_user("erin")
    app = public_app(idp, "desk")
    flow = app.initiate_device_flow([IMAP_SCOPE, SMTP_SCOPE])
    assert flow["interval"] == 1
    assert flow["message"] == (
        f"To sign in, use a web browser to open the page {flow['verification_uri']} and "
        f"enter the code {flow['user_code']} to authenticate."
    )

    assert idp.wait_for_device_code() == flow["user_code"]
    flow["expires_at"] = time.time() + 20  # MSAL polls until then: bound a failing test
    signer = threading.Timer(0.3, idp.approve_device, args=("erin", flow["user_code"]))
    signer.start()
    result = app.acquire_token_by_device_flow(flow)
    signer.join()
    assert "access_token" in result, result
    assert idp.access_token_owner(result["access_token"]) == "erin"
    assert [a["username"] for a in app.get_accounts()] == ["erin"]
    polls = idp.token_requests(GRANT_DEVICE_CODE)
    assert polls >= 1
    # The device sign-in left a refresh token that MSAL can use.
    [account] = app.get_accounts()
    refreshed = app.acquire_token_silent([IMAP_SCOPE], account, force_refresh=True)
    assert idp.access_token_owner(refreshed["access_token"]) == "erin"
    # The device code is spent.
    flow["expires_at"] = 0
    assert app.acquire_token_by_device_flow(flow)["error"] == "invalid_grant"


@pytest.mark.parametrize(("expired", "error"), [(False, "access_denied"), (True, "expired_token")])
def test_device_code_refused(idp: FakeIdP, expired: bool, error: str) -> None:
    idp.add_app("desk", None)
    app = public_app(idp, "desk")
    flow = app.initiate_device_flow([IMAP_SCOPE])
    idp.deny_device(flow["user_code"], expired=expired)
    assert app.acquire_token_by_device_flow(flow)["error"] == error


def test_untrusted_certificate_fails(idp: FakeIdP) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        msal.PublicClientApplication(
            "desk",
            authority=idp.authority(),
            instance_discovery=False,
            http_client=http(idp.other_ca_file),
        )


def test_error_answers_are_oauth2_json(idp: FakeIdP) -> None:
    idp.add_app("desk", None)
    session = http(idp.ca_file)
    bad = session.post(
        idp.token_endpoint(),
        data={"grant_type": "refresh_token", "client_id": "desk", "refresh_token": "nope"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"
    assert bad.json()["error_codes"] == [9002313]
    secret = session.post(
        idp.token_endpoint(),
        data={"grant_type": "refresh_token", "client_id": "desk", "client_secret": "x"},
    )
    assert (secret.status_code, secret.json()["error"]) == (401, "invalid_client")
    grant = session.post(idp.token_endpoint(), data={"grant_type": "password", "client_id": "d"})
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")


# -- XOAUTH2 at the mail servers --------------------------------------------------------------


def user_token(idp: FakeIdP, user: str, scope: str = IMAP_SCOPE) -> str:
    idp.add_app("desk", None)
    idp.add_user(user)
    result = public_app(idp, "desk").acquire_token_by_refresh_token(
        idp.issue_refresh_token("desk", user, [scope]), [scope]
    )
    return result["access_token"]


def refused_imap(server: DovecotServer, user: str, token: str) -> None:
    client = server.client(login=False)
    try:
        with pytest.raises(LoginError):
            client.oauth2_login(user, token)
    finally:
        client.shutdown()


def test_imap_xoauth2(idp: FakeIdP, oauth_dovecot: DovecotServer) -> None:
    user = unique("o")
    oauth_dovecot.add_user(user, f"pw-{user}")
    token = user_token(idp, user)
    client = oauth_dovecot.client(login=False)
    assert b"AUTH=XOAUTH2" in client.capabilities()
    client.oauth2_login(user, token)
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()
    assert idp.requests[-1] == ("/introspect", None)  # Dovecot asked, every time
    client = oauth_dovecot.client(login=False)
    client.oauthbearer_login(user, token)  # RFC 7628, the standard sibling
    client.logout()

    refused_imap(oauth_dovecot, oauth_dovecot.default_user, token)  # live, but not theirs
    idp.revoke(user)
    refused_imap(oauth_dovecot, user, token)
    oauth_dovecot.client(user).logout()  # passwords still work


def test_imap_xoauth2_with_an_app_token_for_its_mailbox(
    idp: FakeIdP, oauth_dovecot: DovecotServer
) -> None:
    user = unique("o")
    oauth_dovecot.add_user(user, f"pw-{user}")
    idp.add_app("daemon", "s3cret", mailbox=user)
    token = confidential_app(idp, "daemon", "s3cret").acquire_token_for_client([APP_SCOPE])
    client = oauth_dovecot.client(login=False)
    client.oauth2_login(user, token["access_token"])
    client.logout()
    idp.expire_access_tokens()
    refused_imap(oauth_dovecot, user, token["access_token"])


def test_plain_dovecot_offers_no_xoauth2(dovecot: DovecotServer) -> None:
    client = dovecot.client(login=False)
    assert b"AUTH=XOAUTH2" not in client.capabilities()
    client.logout()


def xoauth2(user: str, token: str) -> str:
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def smtp_session(server: SmtpServer) -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    client.starttls(context=server.client_context())
    client.ehlo()
    return client


def test_smtp_xoauth2(idp: FakeIdP, oauth_smtp: SmtpServer) -> None:
    oauth_smtp.clear()
    token = user_token(idp, "frank", SMTP_SCOPE)
    with smtp_session(oauth_smtp) as client:
        assert "XOAUTH2" in client.esmtp_features["auth"].split()
        code, _ = client.auth("XOAUTH2", lambda _=None: xoauth2("frank", token))
        assert code == 235
        client.sendmail("frank@example.com", ["x@example.com"], b"Subject: hi\r\n\r\nhi\r\n")
    assert oauth_smtp.wait_for(1)[0].auth_user == "frank"

    with smtp_session(oauth_smtp) as client, pytest.raises(smtplib.SMTPAuthenticationError) as e:
        client.auth("XOAUTH2", lambda _=None: xoauth2("support", token))  # not frank's box
    assert e.value.smtp_code == 535
    idp.revoke("frank")
    with smtp_session(oauth_smtp) as client, pytest.raises(smtplib.SMTPAuthenticationError) as e:
        client.auth("XOAUTH2", lambda _=None: xoauth2("frank", token))
    assert (e.value.smtp_code, e.value.smtp_error) == (535, b"5.7.3 Authentication unsuccessful")


def test_smtp_xoauth2_without_initial_response(idp: FakeIdP, oauth_smtp: SmtpServer) -> None:
    token = user_token(idp, "gina", SMTP_SCOPE)
    with smtp_session(oauth_smtp) as client:
        assert client.docmd("AUTH", "XOAUTH2") == (334, b"")
        answer = base64.b64encode(xoauth2("gina", token).encode()).decode()
        assert client.docmd(answer)[0] == 235
        # Password logins still work beside it.
    with smtp_session(oauth_smtp) as client:
        oauth_smtp.add_user("support", "pw")
        assert client.login("support", "pw")[0] == 235


def test_plain_smtp_offers_no_xoauth2(smtp_starttls: SmtpServer) -> None:
    with smtp_session(smtp_starttls) as client:
        assert "XOAUTH2" not in client.esmtp_features["auth"].split()
