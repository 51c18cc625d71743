"""Mail we must not turn into tickets: our own (loops), blocked senders, disallowed domains."""

from __future__ import annotations

from fnmatch import fnmatchcase

from tuidesk.engine.parse import Address
from tuidesk.engine.rules import RuleSet


def matches_any(address: str, patterns: tuple[str, ...]) -> str | None:
    """The first shell-style pattern (`*@spam.example`, `noreply@*`) the address matches."""
    address = address.lower()
    return next((p for p in patterns if fnmatchcase(address, p.lower())), None)


def filter_sender(
    sender: Address,
    rules: RuleSet,
    allowed_domains: tuple[str, ...] = (),
    requester: Address | None = None,
) -> str | None:
    """The reason to ignore this mail, or None to go on. The checks are about its `requester`
    when that is not its sender (a web form's Reply-To): a form must not let a blocked or
    disallowed address in, and our own address there is a loop. A blocked From blocks too."""
    requester = requester or sender
    who = "sender" if requester == sender else "requester"
    if requester.email in rules.own_addresses:
        return f"mail loop: sent from our own address {requester.email}"
    blocked = matches_any(sender.email, rules.blocked_senders)
    if blocked:
        return f"blocked sender (matches {blocked})"
    blocked = matches_any(requester.email, rules.blocked_senders)
    if blocked:
        return f"blocked requester {requester.email} (matches {blocked})"
    allowed = allowed_domains or rules.allowed_domains
    domain = requester.domain
    if allowed and not any(
        domain == d.lower() or domain.endswith("." + d.lower()) for d in allowed
    ):
        return f"{who} domain {domain} is not in the allowed domains"
    return None
