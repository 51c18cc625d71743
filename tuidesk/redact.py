"""Secrets out of error text. Some servers echo what they were sent in their refusal
(`NO [AUTHENTICATIONFAILED] LOGIN support@example.com "S3cr3t"`), and an identity provider may
quote a refused client secret or refresh token: such a reply must not carry the secret into
last_error, `channel test`, `poll --json` or a log. The adapters know what they sent; they
pass it here where a reply or an exception becomes words."""

from __future__ import annotations

import json
from base64 import b64encode, urlsafe_b64encode
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
# A shorter secret would mask ordinary words and numbers all through the text, and is
# guessed in moments anyway.
MIN_SECRET = 4


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of every secret (of MIN_SECRET characters or more) replaced by
    MASK, the longest forms first so that no piece of a longer one is left behind."""
    forms = {form for secret in secrets if secret and len(secret) >= MIN_SECRET
             for form in _forms(secret)}  # fmt: skip
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def _forms(secret: str) -> set[str]:
    """How a secret comes back in a reply or an exception's text: as sent, in IMAP's quoted
    form, escaped as in the repr of a str or of bytes (imaplib's errors are reprs of the
    server's answer) or in JSON, base64 (SASL PLAIN, LOGIN and XOAUTH2 send it so), and
    form-encoded (a token request's body)."""
    quoted = secret.replace("\\", "\\\\").replace('"', '\\"')
    forms = {quote(secret, safe=""), quote_plus(secret)}
    for text in (secret, quoted):
        forms |= {text, repr(text)[1:-1], repr(text.encode())[2:-1], json.dumps(text)[1:-1]}
    raw = secret.encode()
    for encoded in (b64encode(raw).decode(), urlsafe_b64encode(raw).decode()):
        forms |= {encoded, encoded.rstrip("=")}
    return forms
