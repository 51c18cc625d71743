"""Whether a new ticket's requester gets an acknowledgement. Auto-replies start mail loops, so
every answer here leans towards silence: machine mail never gets one (the classifier has
already ignored it by now), nor our own or no-reply addresses, nor a customer whose mail
someone forwarded to us (they did not write to us), nor anyone who got the hourly limit
already (RFC 3834, section 2)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tuidesk.engine.decision import Lookup, Step
from tuidesk.engine.requester import Requester
from tuidesk.engine.rules import RuleSet

WINDOW = timedelta(hours=1)
# Local parts that never read what they get (or must never be answered automatically).
_NO_REPLY = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?)([-+_.].*)?$",
    re.I,
)


def acknowledge(
    requester: Requester, rules: RuleSet, lookup: Lookup, now: datetime
) -> tuple[bool, Step]:
    """(send one?, the step that says why)."""
    email = requester.address.email.lower()
    if not rules.acknowledge:
        return False, Step("acknowledge", "no", "acknowledgements are off")
    if not requester.wrote_to_us:
        return False, Step("acknowledge", "no", f"{email} did not write to us: it was forwarded")
    if email in rules.own_addresses:
        return False, Step("acknowledge", "no", f"{email} is one of our own addresses")
    local = email.rpartition("@")[0]
    if _NO_REPLY.match(local):
        return False, Step("acknowledge", "no", f"{email} is a no-reply or system address")
    limit = rules.ack_max_per_hour
    sent = lookup.acknowledgements_since(email, now - WINDOW)
    if sent >= limit:
        return False, Step(
            "acknowledge", "no", f"{email} had {sent} in the last hour (max {limit})"
        )
    return True, Step("acknowledge", "yes", f"to {email} ({sent + 1} of {limit} this hour)")
