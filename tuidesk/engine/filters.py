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
    sender: Address, rules: RuleSet, allowed_domains: tuple[str, ...] = ()
) -> str | None:
    """The reason to ignore this sender, or None to go on."""
    if sender.email in rules.own_addresses:
        return f"mail loop: sent from our own address {sender.email}"
    blocked = matches_any(sender.email, rules.blocked_senders)
    if blocked:
        return f"blocked sender (matches {blocked})"
    allowed = allowed_domains or rules.allowed_domains
    if allowed and not any(
        sender.domain == d.lower() or sender.domain.endswith("." + d.lower()) for d in allowed
    ):
        return f"sender domain {sender.domain} is not in the allowed domains"
    return None
