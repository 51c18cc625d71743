"""What the mail adapters (IMAP in, SMTP out) share about the network: TLS that always
verifies, and errors in the words an admin needs."""

from __future__ import annotations

import os
import socket
import ssl


def tls_context(*ca_files: str | None) -> ssl.SSLContext:
    """Verification always on: the system store, plus each CA file given (added to the
    store, never replacing it, never switching verification off). SSL_CERT_FILE replaces the
    system's bundle in OpenSSL's defaults; the system's is added back. A CA file that cannot
    be read raises OSError (ssl.SSLError when it is not PEM)."""
    context = ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    system = paths.openssl_cafile
    if os.path.isfile(system) and os.path.realpath(paths.cafile or "") != os.path.realpath(system):
        context.load_verify_locations(cafile=system)
    for ca_file in ca_files:
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
