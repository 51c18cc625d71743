"""Which branch a mail belongs to."""

from __future__ import annotations

from tuidesk.engine.decision import Step
from tuidesk.engine.parse import Address, ParsedMail
from tuidesk.engine.rules import BranchRule, RuleSet


def route_branch(
    mail: ParsedMail,
    rules: RuleSet,
    channel_branch: str | None = None,
    requester: Address | None = None,
) -> tuple[BranchRule | None, Step]:
    """The branch of the support address the mail was sent to (Delivered-To, X-Original-To, To,
    Cc, aliases mapped to their primary first), else of the requester's customer domain (the
    sender's, unless a web form names another requester), else the channel's branch, else the
    default branch."""
    by_address = {a.lower(): b for b in rules.branches for a in b.addresses}
    for recipient in mail.recipients_in_routing_order:
        primary = rules.primary(recipient)
        branch = by_address.get(primary)
        if branch:
            via = f" (alias of {primary})" if primary != recipient else ""
            return branch, Step("route", branch.key, f"sent to {recipient}{via}")
    requester = requester or mail.sender
    if requester:
        domain = requester.domain
        for branch in rules.branches:
            if domain in (d.lower() for d in branch.domains):
                return branch, Step("route", branch.key, f"customer domain {domain}")
    if channel_branch:
        branch = next((b for b in rules.branches if b.name == channel_branch), None)
        branch = branch or rules.branch_by_key(channel_branch)
        if branch:
            return branch, Step("route", branch.key, f"channel branch {branch.name}")
    default = rules.default_branch
    if default is None:
        return None, Step("route", "none", "no branch configured")
    how = "marked default" if default.is_default else "first branch created"
    return default, Step("route", default.key, f"default branch ({how})")
