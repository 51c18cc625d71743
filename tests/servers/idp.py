"""A fake Microsoft-365-like identity provider on 127.0.0.1 for the OAuth2 (XOAUTH2) tests, in
process (standard library only: http.server + ssl), so the tests need no internet and no
Microsoft tenant.

It is built to satisfy the real MSAL, configured the way the product configures it:
`authority=idp.authority()` (`https://localhost:PORT/TENANT`), `instance_discovery=False` and
an `http_client` that is a `requests.Session` whose `verify` is `idp.ca_file`. MSAL refuses
http:// authorities, hence HTTPS with a certificate of our own; `other_ca_file` is an
unrelated CA to make verification fail on purpose.

HTTPS listener (`authority()`), any tenant name:
- `GET /TENANT/v2.0/.well-known/openid-configuration`: what MSAL fetches for a non-Microsoft
  authority with instance_discovery=False.
- `POST /TENANT/oauth2/v2.0/token`: grants `client_credentials`, `refresh_token` and
  `urn:ietf:params:oauth:grant-type:device_code`; errors in OAuth2 JSON form.
- `POST /TENANT/oauth2/v2.0/devicecode`: starts a device flow; the test signs in for the
  user with `approve_device` (or refuses with `deny_device`).

Plain-HTTP listener (`introspection_url`): `POST /introspect` (RFC 7662 token introspection,
token as form field `token` or as a Bearer header) for Dovecot's oauth2 passdb; it answers
`{"active": true, "username": OWNER, ...}` for a live access token, `{"active": false}`
otherwise.

The model, kept small:
- Apps: `add_app(client_id, secret)`; secret None makes a public client (no secret allowed,
  no client_credentials). A confidential app must send its secret on every grant.
- Users: `add_user(name)`. A refresh token (`issue_refresh_token`, or a device sign-in)
  belongs to one app and one user. Refresh tokens ROTATE: each refresh returns a new one
  and the one used is dead from then on (its reuse is `invalid_grant`). Microsoft does not
  kill the old one; the fake is stricter so that a client that forgets to store the new
  token fails the tests.
- Access tokens are opaque random strings (not JWTs: a client must not read them). A
  user grant's access token belongs to its user; an app's client_credentials token belongs
  to the app's `mailbox` (`add_app(..., mailbox="support")`), or to nobody when the app has
  none (then it opens no mailbox). `access_token_owner(token)` is the owner while the token
  is live, else None.
- `revoke(username or refresh token)` kills tokens that exist now (the refresh token's
  whole rotation chain and its access tokens; for a user, everything the user owns); new
  sign-ins afterwards work again. `expire_access_tokens()` ages every existing access
  token out; `set_expires_in(s)` sets the lifetime of access tokens issued from now on.
- Scopes are echoed (minus openid/profile/offline_access), not enforced, except that
  client_credentials wants `RESOURCE/.default` scopes as Microsoft does.
- `requests` lists (path, grant_type or None) of every request, so tests count calls.
- `echo_credentials = True` (until `reset`) makes a refused client secret or refresh token
  come back quoted in the error description, as a careless provider might: the redaction
  tests show that it never reaches the product's output."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
import socketserver
import ssl
import string
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.servers.certs import HOST, write_cert

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
DEFAULT_TENANT = "contoso"
_DEVICE_EXPIRES_IN = 900
_SOCKET_TIMEOUT = 10.0  # a client that stalls mid-request frees its thread after this


@dataclass
class _App:
    client_id: str
    secret: str | None  # None: a public client (unless it has a certificate)
    mailbox: str | None  # owner of its client_credentials tokens
    certificate: str | None = None  # PEM: signs its client assertions instead of a secret


@dataclass
class _Grant:
    """One sign-in of one user to one app: the chain of refresh tokens it rotates through."""

    client_id: str
    username: str
    scopes: list[str]
    current: str  # the only refresh token of the chain that still works
    revoked: bool = False


@dataclass
class _AccessToken:
    owner: str | None
    client_id: str
    scopes: list[str]
    expires_at: float
    grant: _Grant | None  # None for client_credentials
    revoked: bool = False


# What a device flow asks the user to do; tests may set FakeIdP.device_message to another
# text with the same {uri} and {code} fields.
DEVICE_MESSAGE = (
    "To sign in, use a web browser to open the page {uri} and enter the code {code} to "
    "authenticate."
)


@dataclass
class _DeviceFlow:
    device_code: str
    user_code: str
    client_id: str
    scopes: list[str]
    expires_at: float
    state: str = "pending"  # pending, approved, denied, expired, redeemed
    username: str | None = None
    denial: str | None = None  # the error description the client gets when denied


class OAuthError(Exception):
    """An OAuth2 error answer: `{"error": ..., "error_description": ...}` with `status`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class FakeIdP:
    """The two listeners and the state behind them; every method is thread-safe."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self.introspection_port = 0
        self.root: Path | None = None
        self._cert: Path | None = None
        self._other_ca: Path | None = None
        self._https: _Server | None = None
        self._http: _Server | None = None
        self._lock = threading.Condition()
        self._apps: dict[str, _App] = {}
        self._users: set[str] = set()
        self._grants: dict[str, _Grant] = {}  # every refresh token ever issued -> its chain
        self._access: dict[str, _AccessToken] = {}
        self._devices: list[_DeviceFlow] = []
        self._expires_in = 3600
        self.device_message = DEVICE_MESSAGE
        self.echo_credentials = False
        self._requests: list[tuple[str, str | None]] = []

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> FakeIdP:
        """Certificates, then both listeners; returns once they accept connections.

        Both bind port 0 in this process, so the OS picks a free port at bind time: unlike
        the servers started as separate processes, there is no window in which another
        process could take the port, hence no retry."""
        if self._https is not None:
            raise RuntimeError("FakeIdP already started")
        try:
            self.root = Path(tempfile.mkdtemp(prefix="tuidesk-idp-"))
            self._cert, key = write_cert(self.root, "server", "localhost")
            self._other_ca, other_key = write_cert(self.root, "other-ca", "tuidesk other CA")
            other_key.unlink()
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self._cert, key)
            self._https = _Server(self, tls)
            self._http = _Server(self, None)
            self.port = self._https.server_address[1]
            self.introspection_port = self._http.server_address[1]
            self._https.serve_in_thread()
            self._http.serve_in_thread()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both listeners and remove the certificates. Safe to call twice."""
        servers = (self._https, self._http)
        self._https = self._http = None
        for server in servers:
            if server is not None:
                server.stop()
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> FakeIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and TLS --------------------------------------------------------------------

    def authority(self, tenant: str = DEFAULT_TENANT) -> str:
        """What MSAL takes as `authority` (with instance_discovery=False)."""
        assert self._https is not None, "FakeIdP not started"
        return f"https://localhost:{self.port}/{tenant}"

    def token_endpoint(self, tenant: str = DEFAULT_TENANT) -> str:
        return f"{self.authority(tenant)}/oauth2/v2.0/token"

    @property
    def introspection_url(self) -> str:
        """Plain HTTP on 127.0.0.1: Dovecot's `introspection_url`."""
        assert self._http is not None, "FakeIdP not started"
        return f"http://{self.host}:{self.introspection_port}/introspect"

    @property
    def ca_file(self) -> str:
        """PEM of the server's self-signed certificate (its own CA): verification passes."""
        assert self._cert is not None, "FakeIdP not started"
        return str(self._cert)

    @property
    def other_ca_file(self) -> str:
        """PEM of an unrelated self-signed CA: verification against it fails."""
        assert self._other_ca is not None, "FakeIdP not started"
        return str(self._other_ca)

    # -- control API for tests ----------------------------------------------------------------

    def add_app(
        self,
        client_id: str,
        secret: str | None,
        *,
        mailbox: str | None = None,
        certificate: str | None = None,
    ) -> None:
        """Register (or re-register: a new secret replaces the old) an app. `secret=None`
        makes a public client, unless `certificate` (PEM) is given: then the app proves
        itself with a client assertion (a JWT signed by that certificate's key), as Entra ID
        apps with a certificate credential do. `mailbox` is the user whose mailbox the app's
        client_credentials tokens open; it is added as a user."""
        with self._lock:
            self._apps[client_id] = _App(client_id, secret, mailbox, certificate)
            if mailbox is not None:
                self._users.add(mailbox)

    def add_user(self, username: str) -> None:
        with self._lock:
            self._users.add(username)

    def issue_refresh_token(
        self, client_id: str, username: str, scopes: Iterable[str] | str = ()
    ) -> str:
        """A refresh token for `username` in `client_id`, as if the user had signed in: what
        an admin would paste into the product."""
        with self._lock:
            if client_id not in self._apps:
                raise KeyError(f"no app {client_id!r}: add_app() first")
            if username not in self._users:
                raise KeyError(f"no user {username!r}: add_user() first")
            token = _new_token("rt")
            grant = _Grant(client_id, username, _resource_scopes(scopes), token)
            self._grants[token] = grant
            return token

    def revoke(self, username_or_refresh_token: str) -> None:
        """Kill tokens that exist now. A refresh token (current or already rotated): its
        whole chain and the access tokens issued from it. A user name: every refresh token,
        access token (client_credentials tokens of its mailbox too) and not yet redeemed
        device sign-in of that user. Introspection then says inactive, a refresh
        `invalid_grant`. Later sign-ins work again."""
        key = username_or_refresh_token
        with self._lock:
            if key in self._grants:
                chain = self._grants[key]
                chain.revoked = True
                for at in self._access.values():
                    if at.grant is chain:
                        at.revoked = True
            elif key in self._users:
                for grant in self._grants.values():
                    if grant.username == key:
                        grant.revoked = True
                for at in self._access.values():
                    if at.owner == key:
                        at.revoked = True
                for flow in self._devices:
                    if flow.username == key and flow.state == "approved":
                        flow.state = "denied"
            else:
                raise KeyError(f"neither a user nor a refresh token: {key!r}")

    def set_expires_in(self, seconds: int) -> None:
        """Lifetime of access tokens issued from now on (default 3600). Note that MSAL treats
        a cached access token with less than 5 minutes left as expired."""
        with self._lock:
            self._expires_in = int(seconds)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (introspection: inactive).
        MSAL does not know: its cache still hands them out until their `expires_in` ends."""
        now = time.time()
        with self._lock:
            for at in self._access.values():
                at.expires_at = min(at.expires_at, now - 1)

    def approve_device(self, username: str, user_code: str | None = None) -> None:
        """`username` signs in on the device flow `user_code` (default: the latest pending
        one); the client's next poll gets its tokens."""
        with self._lock:
            if username not in self._users:
                raise KeyError(f"no user {username!r}: add_user() first")
            flow = self._pending_flow(user_code)
            flow.state = "approved"
            flow.username = username

    def deny_device(
        self, user_code: str | None = None, *, expired: bool = False, why: str | None = None
    ) -> None:
        """The user refuses the device flow (the client's next poll: `access_denied`, with
        `why` as its description if given), or with `expired=True` lets it run out
        (`expired_token`)."""
        with self._lock:
            flow = self._pending_flow(user_code)
            flow.state = "expired" if expired else "denied"
            flow.denial = why

    def wait_for_device_code(self, timeout: float = 10) -> str:
        """The user code of the latest pending device flow, once a client has started one:
        for tests where the code under test starts the flow in another thread."""
        with self._lock:
            if not self._lock.wait_for(
                lambda: any(f.state == "pending" for f in self._devices), timeout
            ):
                raise TimeoutError(f"no device flow started within {timeout} s")
            return self._pending_flow(None).user_code

    def _pending_flow(self, user_code: str | None) -> _DeviceFlow:
        for flow in reversed(self._devices):
            if flow.state == "pending" and user_code in (None, flow.user_code):
                return flow
        raise KeyError(f"no pending device flow {user_code or ''}".rstrip())

    def access_token_owner(self, token: str) -> str | None:
        """The user whose mailbox a live access token opens; None if unknown, expired,
        revoked or an app token without mailbox. (SmtpServer's `token_check`.)"""
        with self._lock:
            at = self._live_access_token(token)
            return at.owner if at is not None else None

    def _live_access_token(self, token: str) -> _AccessToken | None:
        at = self._access.get(token)
        if at is None or at.revoked or at.expires_at <= time.time():
            return None
        if at.grant is not None and at.grant.revoked:
            return None
        return at

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        """(path, grant_type) of every request so far, in order; grant_type is None for
        anything but a token request."""
        with self._lock:
            return list(self._requests)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out so far (rotated ones too): what must
        never show in the product's output, logs or files."""
        with self._lock:
            refresh = [grant.current for grant in self._grants.values()]
            return [*self._access, *self._grants, *refresh]

    def token_requests(self, grant_type: str | None = None) -> int:
        """How many token requests arrived (of `grant_type`, if given)."""
        with self._lock:
            return sum(
                1
                for path, grant in self._requests
                if path.endswith("/oauth2/v2.0/token") and grant_type in (None, grant)
            )

    def clear(self) -> None:
        """Forget the request log (apps, users and tokens stay): a clean count per test."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget everything (apps, users, tokens, device flows, the request log, the
        access-token lifetime) but keep listening: a clean slate per test on a shared server."""
        with self._lock:
            self._apps.clear()
            self._users.clear()
            self._grants.clear()
            self._access.clear()
            self._devices.clear()
            self._requests.clear()
            self._expires_in = 3600
            self.device_message = DEVICE_MESSAGE
            self.echo_credentials = False

    # -- the endpoints (called from the request threads) --------------------------------------

    def _record(self, path: str, grant_type: str | None) -> None:
        with self._lock:
            self._requests.append((path, grant_type))

    def _openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = self.authority(tenant)
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "grant_types_supported": [
                "authorization_code",
                GRANT_CLIENT_CREDENTIALS,
                GRANT_REFRESH_TOKEN,
                GRANT_DEVICE_CODE,
            ],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "tenant_region_scope": "EU",
        }

    def _device_code(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        client_id = form.get("client_id", "")
        with self._lock:
            app = self._apps.get(client_id)
            if app is None:
                raise _unknown_app(client_id)
            user_code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(9))
            flow = _DeviceFlow(
                device_code=_new_token("dc"),
                user_code=user_code,
                client_id=client_id,
                scopes=_resource_scopes(form.get("scope", "")),
                expires_at=time.time() + _DEVICE_EXPIRES_IN,
            )
            self._devices.append(flow)
            self._lock.notify_all()
        uri = f"https://localhost:{self.port}/devicelogin"
        return {
            "device_code": flow.device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": _DEVICE_EXPIRES_IN,
            "interval": 1,
            "message": self.device_message.format(uri=uri, code=user_code),
        }

    def _token(
        self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id") or (basic[0] if basic else "")
        secret = form.get("client_secret") or (basic[1] if basic else None)
        if not client_id:
            raise OAuthError(
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
            )
        if grant_type not in (GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, GRANT_DEVICE_CODE):
            raise OAuthError(
                "unsupported_grant_type",
                f"AADSTS70003: The app requested an unsupported grant type '{grant_type}'.",
            )
        with self._lock:
            assertion = form.get("client_assertion")
            if assertion is not None:
                app = self._check_assertion(client_id, assertion, form, tenant)
            else:
                app = self._authenticate_client(client_id, secret, grant_type)
            if grant_type == GRANT_CLIENT_CREDENTIALS:
                return self._client_credentials(app, form)
            if grant_type == GRANT_REFRESH_TOKEN:
                return self._refresh(app, tenant, form)
            return self._redeem_device(app, tenant, form)

    def _check_assertion(
        self, client_id: str, assertion: str, form: dict[str, str], tenant: str
    ) -> _App:
        """A certificate credential: the JWT must be signed by the app's certificate key, for
        this token endpoint, by and about the app, and not expired."""
        import jwt
        from cryptography import x509

        app = self._apps.get(client_id)
        if app is None:
            raise _unknown_app(client_id)
        bad = OAuthError(
            "invalid_client",
            "AADSTS700027: The certificate with identifier used to sign the client assertion "
            f"is not registered on application {client_id}.",
            401,
        )
        if app.certificate is None or form.get("client_assertion_type") != ASSERTION_TYPE:
            raise bad
        key = x509.load_pem_x509_certificate(app.certificate.encode()).public_key()
        try:
            claims = jwt.decode(
                assertion, key, algorithms=["PS256", "RS256"],
                audience=self.token_endpoint(tenant), issuer=client_id,
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise bad from exc
        if claims.get("sub") != client_id:
            raise bad
        return app

    def _authenticate_client(self, client_id: str, secret: str | None, grant: str) -> _App:
        app = self._apps.get(client_id)
        if app is None:
            raise _unknown_app(client_id)
        if app.certificate is not None and app.secret is None:
            raise _secret_missing()
        if app.secret is None:
            if secret:
                raise OAuthError(
                    "invalid_client",
                    "AADSTS700025: Client is public so neither 'client_assertion' nor "
                    "'client_secret' should be presented.",
                    401,
                )
            if grant == GRANT_CLIENT_CREDENTIALS:
                raise _secret_missing()
        elif not secret:
            raise _secret_missing()
        elif not secrets.compare_digest(secret, app.secret):
            raise OAuthError(
                "invalid_client",
                f"AADSTS7000215: Invalid client secret provided{self._echo(secret)}. Ensure the "
                f"secret being sent in the request is the client secret value, not the client "
                f"secret ID, for a secret added to app '{client_id}'.",
                401,
            )
        return app

    def _echo(self, credential: str) -> str:
        """The refused credential quoted, for a description, when `echo_credentials`."""
        return f" ('{credential}')" if self.echo_credentials else ""

    def _client_credentials(self, app: _App, form: dict[str, str]) -> dict[str, Any]:
        scopes = form.get("scope", "").split()
        if not scopes or not all(s.endswith("/.default") for s in scopes):
            raise OAuthError(
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {' '.join(scopes)} is not "
                f"valid. Client credential flows must have a scope value with /.default "
                f"suffixed to the resource identifier (application ID URI).",
            )
        access_token, expires_in = self._new_access_token(app.mailbox, app.client_id, scopes, None)
        return {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }

    def _refresh(self, app: _App, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        grant = self._grants.get(token)
        if grant is None or grant.client_id != app.client_id:
            raise OAuthError(
                "invalid_grant",
                f"AADSTS9002313: Invalid request{self._echo(token)}. Request is malformed or "
                "invalid: the refresh token is unknown or was issued to another client.",
            )
        if grant.revoked:
            raise OAuthError(
                "invalid_grant",
                f"AADSTS50173: The provided grant{self._echo(token)} has expired due to it "
                "being revoked, a fresh "
                "auth token is needed. The user might have changed or reset their password.",
            )
        if grant.current != token:
            raise OAuthError(
                "invalid_grant",
                "AADSTS70000: Provided grant is invalid or malformed: this refresh token was "
                "already used and replaced by a newer one.",
            )
        scopes = _resource_scopes(form.get("scope", "")) or grant.scopes
        return self._user_tokens(app, grant, tenant, scopes)

    def _redeem_device(self, app: _App, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        code = form.get("device_code") or form.get("code") or ""
        flow = next(
            (f for f in self._devices if f.device_code == code and f.client_id == app.client_id),
            None,
        )
        if flow is None or flow.state == "redeemed":
            raise OAuthError(
                "invalid_grant", "AADSTS70000: Provided device code is invalid or was used."
            )
        if flow.state == "pending" and flow.expires_at <= time.time():
            flow.state = "expired"
        if flow.state == "pending":
            raise OAuthError(
                "authorization_pending",
                "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue "
                "polling.",
            )
        if flow.state == "expired":
            raise OAuthError(
                "expired_token", "AADSTS70020: The provided value for the input parameter "
                "'device_code' is not valid. This device code has expired."
            )  # fmt: skip
        if flow.state == "denied":
            raise OAuthError(
                "access_denied", flow.denial or "AADSTS70019: The user refused the sign-in."
            )
        assert flow.state == "approved" and flow.username is not None
        flow.state = "redeemed"
        grant = _Grant(app.client_id, flow.username, flow.scopes, "")
        return self._user_tokens(app, grant, tenant, flow.scopes)

    def _user_tokens(
        self, app: _App, grant: _Grant, tenant: str, scopes: list[str]
    ) -> dict[str, Any]:
        """Rotate the chain to a new refresh token and answer as for a user sign-in, with the
        id_token and client_info MSAL needs to create an account."""
        refresh_token = _new_token("rt")
        grant.current = refresh_token
        grant.scopes = scopes
        self._grants[refresh_token] = grant
        access_token, expires_in = self._new_access_token(
            grant.username, app.client_id, scopes, grant
        )
        oid, tid = _oid(grant.username), _tid(tenant)
        now = int(time.time())
        claims = {
            "ver": "2.0",
            "iss": f"{self.authority(tenant)}/v2.0",
            "sub": oid,
            "aud": app.client_id,
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "name": grant.username,
            "preferred_username": grant.username,
            "oid": oid,
            "tid": tid,
        }
        return {
            "token_type": "Bearer",
            "scope": " ".join(scopes),
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "id_token": _unsigned_jwt(claims),
            "client_info": _b64url(json.dumps({"uid": oid, "utid": tid}).encode()),
        }

    def _new_access_token(
        self, owner: str | None, client_id: str, scopes: list[str], grant: _Grant | None
    ) -> tuple[str, int]:
        token = _new_token("at")
        expires_in = self._expires_in
        self._access[token] = _AccessToken(
            owner, client_id, scopes, time.time() + expires_in, grant
        )
        return token, expires_in

    def _introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            at = self._live_access_token(token)
            if at is None:
                return {"active": False}
            answer: dict[str, Any] = {
                "active": True,
                "client_id": at.client_id,
                "scope": " ".join(at.scopes),
                "token_type": "Bearer",
                "exp": int(at.expires_at),
            }
            if at.owner is not None:
                answer["username"] = at.owner
            return answer


class _Server(ThreadingHTTPServer):
    """One listener on 127.0.0.1, port picked by the OS; TLS when given a context, with the
    handshake in the request's own thread so a stalled or failing client blocks nobody."""

    daemon_threads = True

    def __init__(self, idp: FakeIdP, tls: ssl.SSLContext | None) -> None:
        self.idp = idp
        self.tls = tls
        self.thread: threading.Thread | None = None
        super().__init__((idp.host, 0), _Handler)

    def serve_in_thread(self) -> None:
        self.thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-idp-{self.server_address[1]}",
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:  # shutdown() would wait forever for a loop never run
            self.shutdown()
            self.thread.join(timeout=5)
        self.server_close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind would ask DNS for the host's FQDN, slow without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_SOCKET_TIMEOUT)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            # wrap_socket takes over the connection: the TLS socket is ours to close.
            tls_socket = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust our CA: it reports the error
        with contextlib.closing(tls_socket):
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # quiet: a client that went away is its own test's business


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeIdP/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        idp = self.server.idp
        path = urlsplit(self.path).path
        idp._record(path, None)
        parts = path.strip("/").split("/")
        if (
            self.server.tls is not None
            and len(parts) == 4
            and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]
        ):
            self._json(200, idp._openid_configuration(parts[0]))
            return
        self._json(404, {"error": "not_found", "error_description": f"no such page: {path}"})

    def do_POST(self) -> None:
        idp = self.server.idp
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        parts = path.strip("/").split("/")
        if self.server.tls is None:
            idp._record(path, None)
            if path != "/introspect":
                self._json(404, {"error": "not_found"})
                return
            token = form.get("token", "")
            auth = self.headers.get("Authorization", "")
            if not token and auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            self._json(200, idp._introspect(token))
            return
        is_oauth = len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"]
        idp._record(path, form.get("grant_type") if is_oauth and parts[3] == "token" else None)
        try:
            if is_oauth and parts[3] == "token":
                self._json(200, idp._token(parts[0], form, self._basic_auth()))
            elif is_oauth and parts[3] == "devicecode":
                self._json(200, idp._device_code(parts[0], form))
            else:
                self._json(404, {"error": "not_found", "error_description": f"no {path}"})
        except OAuthError as exc:
            self._json(
                exc.status,
                {
                    "error": exc.error,
                    "error_description": exc.description,
                    "error_codes": [_aadsts(exc.description)],
                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                    "trace_id": str(uuid.uuid4()),
                    "correlation_id": self.headers.get("client-request-id") or str(uuid.uuid4()),
                },
            )

    def _basic_auth(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _new_token(kind: str) -> str:
    return f"{kind}.{secrets.token_urlsafe(32)}"


def _resource_scopes(scopes: Iterable[str] | str) -> list[str]:
    """The scopes a token is for, without the OpenID Connect ones MSAL adds to every request."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    return [s for s in items if s not in OIDC_SCOPES]


def _oid(username: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tuidesk-fake-idp/user/{username}"))


def _tid(tenant: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tuidesk-fake-idp/tenant/{tenant}"))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    header = _b64url(json.dumps({"typ": "JWT", "alg": "none"}).encode())
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


def _aadsts(description: str) -> int:
    code = description.removeprefix("AADSTS").partition(":")[0]
    return int(code) if code.isdigit() else 0


def _unknown_app(client_id: str) -> OAuthError:
    return OAuthError(
        "unauthorized_client",
        f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.",
    )


def _secret_missing() -> OAuthError:
    return OAuthError(
        "invalid_client",
        "AADSTS7000218: The request body must contain the following parameter: "
        "'client_assertion' or 'client_secret'.",
        401,
    )


def idp_fixture() -> Iterator[FakeIdP]:
    """Body of a session fixture: `yield from idp_fixture()`."""
    with FakeIdP() as idp:
        yield idp
