"""Who may add to a ticket by mail. A ticket token or a Message-ID is easy to guess; with
`restrict_replies = participants` (the default) only the people the conversation already holds
join it, and anyone else opens a new ticket linked to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from tuidesk.engine.enums import Direction
from tuidesk.engine.rules import ReplyMode, RuleSet

if TYPE_CHECKING:
    from tuidesk.engine.decision import TicketRef

# Mail providers whose users are strangers to each other: sharing the requester's domain makes
# nobody a colleague there. The `free_mail_domains` setting adds more.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.com",
        "gmx.net", "gmx.de", "web.de", "mail.com", "proton.me", "protonmail.com", "zoho.com",
        "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "126.com", "t-online.de",
        "orange.fr", "free.fr", "laposte.net", "libero.it", "seznam.cz", "wp.pl", "o2.pl",
        "fastmail.com", "hey.com", "tutanota.com", "tuta.io",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TicketMail:
    """One mail of a ticket, as far as who took part."""

    direction: Direction
    sender: str
    recipients: tuple[str, ...]  # To and Cc


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


class Participants:
    """The requester, agents, the requester's colleagues (same domain, not a free-mail one) and
    everyone in To/Cc of the ticket's mails. A mail counts only when it is ours or its sender
    already takes part: a stranger's mail let in (replies unrestricted) invites nobody."""

    def __init__(
        self,
        requester: str,
        mails: Iterable[TicketMail],
        is_agent: Callable[[str], bool],
        free_mail_domains: Iterable[str] = (),
    ) -> None:
        self.requester = requester.lower()
        self._agents: dict[str, bool] = {}  # asked once per address: each ask is a query
        self._ask_agent = is_agent
        domain = _domain(self.requester)
        free = FREE_MAIL_DOMAINS | {d.lower() for d in free_mail_domains}
        self._colleagues = domain if domain and domain not in free else None
        self._known: set[str] = set()
        for mail in mails:
            if mail.direction != Direction.IN or mail.sender.lower() in self:
                self._known.update(r.lower() for r in mail.recipients)

    def __contains__(self, email: object) -> bool:
        if not isinstance(email, str) or not email:
            return False
        email = email.lower()
        return (
            email == self.requester
            or email in self._known
            or (self._colleagues is not None and _domain(email) == self._colleagues)
            or self._is_agent(email)
        )

    def _is_agent(self, email: str) -> bool:
        if email not in self._agents:
            self._agents[email] = self._ask_agent(email)
        return self._agents[email]


class Refusal(NamedTuple):
    """Why a reply may not join its ticket: `rule` for the decision's step, `reason` for the
    decision itself (`reply from a non-participant to SUP-1`)."""

    rule: str
    reason: str


def reply_refusal(
    sender: str,
    ticket: TicketRef,
    mails: Callable[[], Sequence[TicketMail]],
    rules: RuleSet,
    is_agent: Callable[[str], bool],
) -> Refusal | None:
    """Why `sender` may not add to `ticket` under the rules' reply mode; None if they may.
    `mails` is asked only when the answer needs the conversation."""
    mode = rules.restrict_replies
    sender, requester = sender.lower(), ticket.requester_email.lower()
    if mode is ReplyMode.ANYONE or sender == requester or is_agent(sender):
        return None
    if mode is ReplyMode.REQUESTER:
        return Refusal(
            f"{sender} is neither requester nor agent (replies restricted)",
            f"reply from neither the requester nor an agent to {ticket.ref}",
        )
    if sender in Participants(requester, mails(), is_agent, rules.free_mail_domains):
        return None
    return Refusal(
        f"{sender} is not a participant (not the requester, in To/Cc, a colleague or an agent)",
        f"reply from a non-participant to {ticket.ref}",
    )
