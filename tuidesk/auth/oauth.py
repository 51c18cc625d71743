"""OAuth2 tokens for mailboxes that take no password (Microsoft 365, any XOAUTH2 server), got
through MSAL.

Three ways in: client credentials (app-only, the usual for a shared support mailbox), a refresh
token an admin pasted, and a device-code sign-in that an admin on SSH completes in any browser.
MSAL keeps what it learns in a token cache, which the TokenStore saves the moment it changes: a
rotated refresh token is on disk before the access token it came with is used, so a crash never
strands a channel with a dead refresh token.

Errors say what went wrong in plain words and never carry a secret or a token: the identity
provider's own words are masked of every secret and token the request sent."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tuidesk.auth.credentials import SecretError, resolve
from tuidesk.net import explain, tls_context
from tuidesk.redact import redact

MICROSOFT_HOST = "login.microsoftonline.com"
# Scopes by service and by whether the token is the application's own (client credentials)
# or a signed-in user's (refresh token, device code). MSAL adds offline_access itself.
DEFAULT_SCOPES = {
    ("imap", True): ("https://outlook.office365.com/.default",),
    ("imap", False): ("https://outlook.office.com/IMAP.AccessAsUser.All",),
    ("smtp", True): ("https://outlook.office365.com/.default",),
    ("smtp", False): ("https://outlook.office.com/SMTP.Send",),
}
WARN_BEFORE = timedelta(minutes=10)  # a token that cannot be renewed is flagged this early


class TokenError(Exception):
    """No token could be had; the message says why, never with a secret in it. `permanent`:
    trying again cannot help (revoked, wrong secret, not signed in) until an admin acts;
    otherwise (the identity provider unreachable or busy) the next poll may succeed."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


# OAuth2 errors that no retry mends (RFC 6749 5.2, and Entra ID's interaction errors).
_PERMANENT = {
    "invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "invalid_request",
    "unsupported_grant_type", "interaction_required", "consent_required", "access_denied",
}  # fmt: skip


@dataclass(frozen=True)
class OAuthConfig:
    """A channel's OAuth2 settings as plain values."""

    service: str  # imap or smtp: which default scopes
    username: str
    tenant: str | None
    client_id: str
    secret_kind: str | None  # the client secret; None for a public client
    secret_ref: str | None
    certificate: str | None  # or a PEM file with the key and certificate that sign for it
    scopes: tuple[str, ...]
    authority: str | None
    ca_file: str | None
    timeout: float

    @classmethod
    def of(cls, channel: Any, service: str) -> OAuthConfig:
        """From anything with a channel's attributes: a row, ImapChannel or SmtpSettings."""
        return cls(
            service=service, username=channel.username or "", tenant=channel.oauth_tenant,
            client_id=channel.oauth_client_id or "", secret_kind=channel.secret_kind,
            secret_ref=channel.secret_ref, certificate=channel.oauth_certificate,
            scopes=tuple(channel.oauth_scopes or ()),
            authority=channel.oauth_authority, ca_file=channel.ca_file,
            timeout=channel.timeout_ms / 1000,
        )  # fmt: skip

    @property
    def confidential(self) -> bool:
        return self.secret_kind is not None or self.certificate is not None

    @property
    def authority_url(self) -> str:
        if self.authority:
            return self.authority.rstrip("/")
        return f"https://{MICROSOFT_HOST}/{self.tenant or 'organizations'}"

    @property
    def host(self) -> str:
        return urlsplit(self.authority_url).hostname or ""

    def scopes_for(self, app_only: bool) -> list[str]:
        return list(self.scopes or DEFAULT_SCOPES[(self.service, app_only)])


@dataclass
class TokenState:
    """What a store holds for one channel: MSAL's cache (JSON) and a pasted refresh token,
    both in clear here; the store encrypts them."""

    cache: str | None = None
    refresh_token: str | None = None


class TokenStore(Protocol):
    def load(self) -> TokenState: ...

    def save(self, cache: str | None, expires_at: datetime | None, *, drop_pasted: bool) -> None:
        """Keep the cache at once; `drop_pasted`: the pasted refresh token is in the cache now
        and can go."""


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: datetime
    flow: str  # client credentials, refresh token or device code
    renewable: bool  # a refresh token or a client secret can get the next one

    def describe(self, now: datetime | None = None) -> str:
        """For `channel test` and the console: when it ends, and a warning in time."""
        now = now or datetime.now(UTC)
        until = self.expires_at.astimezone().strftime("%Y-%m-%d %H:%M %Z")
        text = f"{self.flow}: access token valid until {until}"
        if not self.renewable:
            text += " and it cannot be renewed: sign in again before then"
            if self.expires_at - now < WARN_BEFORE:
                text = "WARNING: " + text
        else:
            text += ", renewed automatically"
        return text


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as IMAP and SMTP take it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def authority_context(ca_file: str | None) -> ssl.SSLContext:
    """What the authority's certificate is checked against: the system store, plus the
    channel's CA file, plus REQUESTS_CA_BUNDLE and SSL_CERT_FILE when set, all at once. A
    --ca-file given for a private mail server must not cost Microsoft's public sign-in its
    trust (hybrid Exchange)."""
    bundles = (os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"))
    return tls_context(ca_file, *bundles)


def http_session(ca_file: str | None):  # type: ignore[no-untyped-def]
    """The HTTP client MSAL talks through: HTTPS verified with `authority_context`, whatever
    `verify` a caller passes. The environment is otherwise ignored (no proxy), so no variable
    can turn verification off."""
    import requests
    from requests.adapters import HTTPAdapter

    context = authority_context(ca_file)

    class Verified(HTTPAdapter):
        """Every HTTPS connection through `context`, with verification required."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs, ssl_context=context)

        def build_connection_pool_key_attributes(  # type: ignore[no-untyped-def]
            self, request, verify, cert=None
        ):
            return super().build_connection_pool_key_attributes(request, True, cert)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = conn.ca_cert_dir = None  # all in `context`: none added per connection

    session = requests.Session()
    session.trust_env = False
    session.mount("https://", Verified())
    return session


def _application(config: OAuthConfig, cache: Any, config_dir: Path, *, public: bool = False):  # type: ignore[no-untyped-def]
    """An MSAL client for this channel. Instance discovery only for Microsoft's own host: a
    national cloud or a private authority is taken as given."""
    import msal

    try:
        http_client = http_session(config.ca_file)
    except OSError as exc:  # ssl.SSLError too: not PEM
        raise TokenError(f"a CA file for {config.host} cannot be used ({explain(exc)})") from exc
    options: dict[str, Any] = {
        "authority": config.authority_url,
        "token_cache": cache,
        "http_client": http_client,
        "instance_discovery": config.host == MICROSOFT_HOST,
        "timeout": config.timeout,
    }
    try:
        if config.confidential and not public:
            return msal.ConfidentialClientApplication(
                config.client_id, client_credential=_credential(config, config_dir), **options
            )
        return msal.PublicClientApplication(config.client_id, **options)
    except TokenError:
        raise
    except Exception as exc:  # noqa: BLE001 - discovery fails with requests' or MSAL's errors
        raise TokenError(_unreachable(config, exc), permanent=False) from exc


def _credential(config: OAuthConfig, config_dir: Path) -> str | dict[str, str]:
    """The client secret, or the certificate's key and certificate for MSAL to sign with."""
    if config.certificate:
        try:
            key, cert = read_certificate(config.certificate)
        except ValueError as exc:
            raise TokenError(f"client certificate: {exc}") from exc
        return {"private_key": key, "public_certificate": cert}
    try:
        return resolve(config.secret_kind, config.secret_ref, config_dir)
    except SecretError as exc:
        raise TokenError(f"client secret: {exc}") from exc


def read_certificate(path: str) -> tuple[str, str]:
    """(private key, certificate) as PEM text from one file, checked: an unencrypted RSA key
    (Entra ID signs client assertions with RSA), its certificate, and a file only its owner
    reads. Raises ValueError saying what is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        if os.stat(path).st_mode & 0o077:
            raise ValueError(f"{path} is readable by others; run: chmod 600 {path}")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
        cert = x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{path} must hold an unencrypted private key and its certificate, both PEM"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"the key in {path} is not RSA")
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise ValueError(f"the certificate in {path} is not the key's")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem.decode(), cert.public_bytes(serialization.Encoding.PEM).decode()


def _unreachable(config: OAuthConfig, exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(exc).__name__:
        return (
            f"the certificate of {config.host} is not trusted (give the CA with --ca-file, "
            "or REQUESTS_CA_BUNDLE)"
        )
    if "Unable to get authority configuration" in text:
        return f"{config.authority_url} is not a sign-in authority (no OpenID configuration)"
    return f"cannot reach the sign-in server {config.host}: {type(exc).__name__}"


def _failure(result: dict[str, Any], sent: Iterable[str | None] = ()) -> str:
    """MSAL's error as one short line: the code and the first line of its description, with
    what the request `sent` masked (before the cut, so no piece of a secret is left)."""
    error = result.get("error", "error")
    description = redact(result.get("error_description") or "", sent).strip().splitlines()
    return f"{error}: {description[0][:200]}" if description else str(error)


def _sent(app: Any, state: TokenState, cache: Any) -> list[str]:
    """What a token request may send the identity provider: the client secret and every
    refresh token held."""
    import msal

    held = cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)
    credential = getattr(app, "client_credential", None)  # a dict for a certificate
    candidates = (credential, state.refresh_token, *(item["secret"] for item in held))
    return [c for c in candidates if isinstance(c, str)]


def _expires_at(result: dict[str, Any]) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in") or 0))


def _token(result: dict[str, Any], flow: str, renewable: bool) -> Token:
    return Token(result["access_token"], _expires_at(result), flow, renewable)


def _cache(store: TokenStore) -> tuple[TokenState, Any]:
    """What the store holds, and MSAL's cache filled from it."""
    import msal

    state = store.load()
    cache = msal.SerializableTokenCache()
    if state.cache:
        cache.deserialize(state.cache)
    return state, cache


def bearer(
    config: OAuthConfig, store: TokenStore, config_dir: Path, *, fresh: bool = False
) -> Token:
    """An access token: from the cache while it lasts, else renewed with the cached refresh
    token, the pasted one, or the client secret, in that order. `fresh`: never the cached
    access token (the server refused it: revoked, or its clock disagrees)."""
    import msal

    state, cache = _cache(store)
    if fresh:
        for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(item)
    app = _application(config, cache, config_dir)
    sent = _sent(app, state, cache)
    result: dict[str, Any] | None = None
    flow, pasted_used = "refresh token", False
    try:
        accounts = app.get_accounts()
        if accounts:
            result = app.acquire_token_silent_with_error(
                config.scopes_for(app_only=False), account=accounts[0]
            )
        if result is None and state.refresh_token:
            result = app.acquire_token_by_refresh_token(
                state.refresh_token, config.scopes_for(app_only=False)
            )
            pasted_used = "access_token" in result
        if result is None and config.confidential:
            flow = "client credentials"
            result = app.acquire_token_for_client(config.scopes_for(app_only=True))
    except Exception as exc:  # noqa: BLE001 - requests' errors, whatever the flow
        raise TokenError(_unreachable(config, exc), permanent=False) from exc
    finally:
        if cache.has_state_changed or pasted_used:
            expires = _expires_at(result) if result and "access_token" in result else None
            store.save(cache.serialize(), expires, drop_pasted=pasted_used)
    if result is None:
        raise TokenError(
            "not signed in: paste a refresh token, give a client secret, or sign in with a "
            "device code (tuidesk channel auth NAME)"
        )
    if "access_token" not in result:
        raise TokenError(_failure(result, sent), permanent=result.get("error") in _PERMANENT)
    refresh_tokens = cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)
    renewable = config.confidential or next(iter(refresh_tokens), None) is not None
    return _token(result, flow, renewable)


def device_sign_in(
    config: OAuthConfig,
    store: TokenStore,
    config_dir: Path,
    say: Callable[[str], None],
    stop: Callable[[], bool] = lambda: False,
) -> Token:
    """A device-code sign-in (MSAL's public-client flow): `say` gets the code and the page to
    enter it on; this returns once the user has signed in, or raises. `stop` ends the wait
    early (the console's Cancel)."""

    _, cache = _cache(store)
    app = _application(config, cache, config_dir, public=True)
    scopes = config.scopes_for(app_only=False)
    try:
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            raise TokenError(f"device code refused: {_failure(flow)}")
        say(flow.get("message") or f"Open {flow['verification_uri']}, enter {flow['user_code']}")
        result = app.acquire_token_by_device_flow(
            flow, exit_condition=lambda f: stop() or f.get("expires_at", 0) < _now_ts()
        )
    except TokenError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TokenError(_unreachable(config, exc), permanent=False) from exc
    if "access_token" not in result:
        if stop():
            raise TokenError("sign-in cancelled")
        raise TokenError(f"sign-in failed: {_failure(result, [flow.get('device_code')])}")
    token = _token(result, "device code", "refresh_token" in result)
    store.save(cache.serialize(), token.expires_at, drop_pasted=True)
    return token


def _now_ts() -> float:
    return datetime.now(UTC).timestamp()
