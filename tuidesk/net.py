"""What the mail adapters (IMAP in, SMTP out) share about the network: TLS that always
verifies, and errors in the words an admin needs."""

from __future__ import annotations

import socket
import ssl


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verification always on: the system store, plus a private CA when `ca_file` is given
    (added to the store, never replacing it, never switching verification off). A CA file
    that cannot be read raises OSError (ssl.SSLError when it is not PEM)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def explain(exc: BaseException) -> str:
    """Network and TLS errors in the words an admin needs."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message or exc.reason})"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    text = str(exc) or exc.__class__.__name__
    return text.decode(errors="replace") if isinstance(text, bytes) else text
