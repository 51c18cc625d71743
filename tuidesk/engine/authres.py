"""What the receiving mail server says about who sent a mail: `Authentication-Results` (RFC 8601).

Anyone can write such a header into a mail before sending it, so only headers whose authserv-id
(the first word: the server that wrote it) an admin listed as trusted count. A trusted server
is expected to drop headers that claim its name from incoming mail (RFC 8601 section 5)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

# A pair `word=value`: a method and its result, a reason, or a property (`header.d=...`).
_PAIR = re.compile(r'([A-Za-z0-9_.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)')
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
# The properties that name the domain each method vouches for: DMARC the From domain; DKIM
# its signing domain (or the identity's); SPF the envelope sender (smtp.mail: older Gmail).
_DOMAIN_OF = {
    "dmarc": ("header.from",),
    "dkim": ("header.d", "header.i"),
    "spf": ("smtp.mailfrom", "smtp.mfrom", "smtp.mail"),
}


@dataclass(frozen=True)
class MethodResult:
    """One check and what it found: `dkim=pass header.d=example.com`."""

    method: str  # lower case, version dropped: dkim, spf, dmarc, ...
    result: str  # pass, fail, softfail, none, neutral, temperror, permerror, ...
    properties: dict[str, str] = field(default_factory=dict)  # `header.d` -> `example.com`

    @property
    def domain(self) -> str | None:
        """The domain this result is about, for the methods that say one."""
        for key in _DOMAIN_OF.get(self.method, ()):
            value = self.properties.get(key)
            if value:
                return value.rpartition("@")[2].strip("<>").lower().rstrip(".") or None
        return None


@dataclass(frozen=True)
class AuthResults:
    """One header. `authserv_id` is None when the header names no server: Microsoft 365 writes
    its results with none (`spf=pass (sender IP is ...) ...`), so they cannot be trusted."""

    authserv_id: str | None
    results: tuple[MethodResult, ...]


def _without_comments(value: str) -> str:
    """CFWS comments `(...)` removed, nested ones too; quoted strings kept as they are."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def _split(value: str) -> list[str]:
    """The header's parts between semicolons outside quoted strings."""
    parts = [""]
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("")
            continue
        parts[-1] += char
    return [p.strip() for p in parts]


def _result(part: str) -> MethodResult | None:
    pairs = [(k.lower(), v.strip('"')) for k, v in _PAIR.findall(part)]
    if not pairs or not pairs[0][1]:
        return None
    method, result = pairs[0]
    return MethodResult(method.partition("/")[0], result.lower(), dict(pairs[1:]))


def parse_authentication_results(value: str) -> AuthResults:
    """One header's value. Never raises: what cannot be read is left out."""
    parts = _split(_without_comments(_UNFOLD.sub("", value)))
    head = parts[0].split()
    authserv_id = head[0].lower() if head and "=" not in head[0] else None
    # With no server named, the first part is already a result.
    candidates = parts if authserv_id is None else parts[1:]
    results = tuple(r for r in map(_result, candidates) if r is not None)
    return AuthResults(authserv_id, results)


class AuthOutcome(StrEnum):
    PASS = "pass"  # a trusted server vouches for the sender's domain
    FAIL = "fail"  # a trusted server says the mail is not from that domain
    NONE = "none"  # no trusted server says either


class AuthVerdict(NamedTuple):
    outcome: AuthOutcome
    reason: str


def _aligned(found: str, domain: str) -> bool:
    """The same domain, or one a subdomain of the other (DMARC's relaxed alignment, without
    the public suffix list: a bare top-level domain never aligns)."""
    if found == domain:
        return True
    shorter, longer = sorted((found, domain), key=len)
    return "." in shorter and longer.endswith("." + shorter)


def authenticate(headers: Iterable[str], domain: str, trusted: Sequence[str]) -> AuthVerdict:
    """What the trusted servers say about mail from `domain`. DMARC decides when a trusted
    server gives it; else, as DMARC would, an aligned DKIM or SPF pass vouches for the mail (a
    mail forwarded by a list fails SPF and still carries a good signature) and a fail with no
    pass beside it condemns it. softfail, neutral and the errors say nothing."""
    domain = domain.lower()
    if not trusted:
        return AuthVerdict(AuthOutcome.NONE, "no trusted_authserv_ids set")
    servers = {t.lower() for t in trusted}
    found: dict[tuple[str, str], str] = {}  # (method, result) -> the server that said so
    for value in headers:
        parsed = parse_authentication_results(value)
        if parsed.authserv_id not in servers:
            continue
        for r in parsed.results:
            about = r.domain
            if about is not None and r.method in _DOMAIN_OF and _aligned(about, domain):
                found.setdefault((r.method, r.result), parsed.authserv_id)

    def said(method: str, result: str) -> str:
        return f"{found[method, result]}: {method}={result} for {domain}"

    for result, outcome in (("fail", AuthOutcome.FAIL), ("pass", AuthOutcome.PASS)):
        if ("dmarc", result) in found:
            return AuthVerdict(outcome, said("dmarc", result))
    for result, outcome in (("pass", AuthOutcome.PASS), ("fail", AuthOutcome.FAIL)):
        for method in ("dkim", "spf"):
            if (method, result) in found:
                return AuthVerdict(outcome, said(method, result))
    return AuthVerdict(
        AuthOutcome.NONE, f"no pass or fail for {domain} from {', '.join(sorted(servers))}"
    )
