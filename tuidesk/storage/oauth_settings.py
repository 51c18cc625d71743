"""The OAuth2 settings that incoming and outgoing channels share, checked once for both."""

from __future__ import annotations

from tuidesk.auth.oauth import read_certificate
from tuidesk.storage import checks
from tuidesk.storage.checks import Collector
from tuidesk.storage.models import Channel, OutgoingChannel

AUTH_TYPES = ("password", "oauth2")
_TENANT = "a tenant ID (a GUID, a domain such as contoso.onmicrosoft.com, or organizations)"


def check_oauth(c: Collector, row: Channel | OutgoingChannel) -> None:
    """Clean the auth settings in place, noting each bad field in `c`. OAuth2 needs a client
    ID, and a tenant unless the authority is given in full; a client secret or a certificate is
    optional (a public client signs in with a refresh token or a device code)."""
    c.check("auth_type", checks.one_of, row.auth_type, AUTH_TYPES, "auth type")
    if row.auth_type != "oauth2":
        return
    row.oauth_client_id = c.check("oauth_client_id", checks.text, row.oauth_client_id, "client ID")
    if row.oauth_tenant:
        tenant = c.check("oauth_tenant", checks.text, row.oauth_tenant, "tenant")
        if tenant and ("/" in tenant or any(ch.isspace() for ch in tenant)):
            c.add("oauth_tenant", f"{tenant!r} is not {_TENANT}")
        row.oauth_tenant = tenant or row.oauth_tenant
    else:
        row.oauth_tenant = None
    if row.oauth_authority:
        authority = c.check("oauth_authority", checks.url, row.oauth_authority, "authority")
        row.oauth_authority = authority or row.oauth_authority
    else:
        row.oauth_authority = None
        if not row.oauth_tenant:
            c.add("oauth_tenant", f"OAuth2 needs {_TENANT}, or an authority URL")
    if row.oauth_redirect_url:
        redirect = c.check(
            "oauth_redirect_url", checks.url, row.oauth_redirect_url, "redirect URL", https=False
        )
        row.oauth_redirect_url = redirect or row.oauth_redirect_url
    else:
        row.oauth_redirect_url = None
    row.oauth_scopes = c.check("oauth_scopes", checks.each, row.oauth_scopes, checks.scope) or []
    if row.oauth_certificate:
        if row.secret_kind:
            c.add("oauth_certificate", "a client secret or a certificate, not both")
        c.check("oauth_certificate", read_certificate, row.oauth_certificate)
    else:
        row.oauth_certificate = None
