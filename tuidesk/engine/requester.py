"""Who a ticket is for. Usually the mail's From, but not always:

- a web form sends From noreply@site and puts the customer in Reply-To: when the From matches
  `form_senders` (or `requester_from_reply_to` is on), one Reply-To address is the requester;
- a forwarder that rewrote From to our own support address (a Google group, a server rule)
  would look like our own mail coming back: its Reply-To, or the sender of the mail it
  forwards, is the requester, and only mail naming nobody else is a loop;
- an agent who forwards a customer's mail to us opens the ticket for the customer.

Each choice other than the plain From leaves a step saying why. The first two need only the
mail (`choose_requester`, in analyse); the last needs to know who the agents are
(`agent_forward`, in resolve)."""

from __future__ import annotations

from dataclasses import dataclass

from tuidesk.engine.decision import Lookup, Step
from tuidesk.engine.filters import matches_any
from tuidesk.engine.forwards import forwarded_sender
from tuidesk.engine.parse import Address, ParsedMail
from tuidesk.engine.rules import RuleSet


@dataclass(frozen=True)
class Requester:
    """The requester, the steps that chose them, whether they wrote to us themselves (a
    customer whose mail reached us forwarded is not sent an acknowledgement: they did not
    ask us anything) and who forwarded it (the first message is theirs)."""

    address: Address
    steps: tuple[Step, ...] = ()
    wrote_to_us: bool = True
    forwarded_by: Address | None = None


def choose_requester(mail: ParsedMail, sender: Address, rules: RuleSet) -> Requester:
    """The requester as far as the mail and the rules tell: `sender` (the From) unless a web
    form or a forward to our own address names someone else."""
    ours = rules.own_addresses
    reply_to = list({a.email: a for a in mail.reply_to if a.email != sender.email}.values())
    if sender.email in ours:
        return _behind_our_address(mail, sender, reply_to, ours)
    if not reply_to:
        return Requester(sender)
    named = ", ".join(a.email for a in reply_to)
    form = _form_rule(sender, rules)
    if form is None:
        why = f"From {sender.email} matches no form_senders pattern: Reply-To {named} not used"
    elif len(reply_to) > 1:
        why = f"Reply-To names several addresses ({named}): the From {sender.email} stays"
    elif reply_to[0].email in ours:
        why = f"Reply-To {named} is our own address: the From {sender.email} stays"
    else:
        return Requester(reply_to[0], (Step("requester", "reply-to", f"{form}: Reply-To {named}"),))
    return Requester(sender, (Step("requester", "from", why),))


def _form_rule(sender: Address, rules: RuleSet) -> str | None:
    """Why this From's Reply-To names the requester; None if it does not."""
    if rules.requester_from_reply_to:
        return "requester_from_reply_to is on"
    pattern = matches_any(sender.email, rules.form_senders)
    return f"From {sender.email} is a web form (form_senders {pattern})" if pattern else None


def _behind_our_address(
    mail: ParsedMail, sender: Address, reply_to: list[Address], ours: frozenset[str]
) -> Requester:
    """Mail From one of our own addresses: a loop, unless it names another sender."""
    rewritten = f"From is our own address {sender.email} (a forward that rewrote it)"
    if len(reply_to) == 1 and reply_to[0].email not in ours:
        step = Step("requester", "reply-to", f"{rewritten}: Reply-To {reply_to[0].email}")
        return Requester(reply_to[0], (step,))
    forwarded = forwarded_sender(mail)
    if forwarded is None:
        return Requester(sender)  # a loop, as is a forward of our own mail: the filter says so
    original = forwarded.sender
    step = Step("requester", "forwarded", f"{rewritten}: {original.email} wrote {forwarded.how}")
    return Requester(original, (step,), wrote_to_us=False, forwarded_by=sender)


def agent_forward(
    requester: Requester, mail: ParsedMail, rules: RuleSet, lookup: Lookup
) -> Requester | None:
    """For a new ticket: an agent's forward of someone's mail is that someone's ticket, noted
    as forwarded by the agent; None when the mail is not that. The agent is asked about only
    when the mail forwards one, and a forward of an agent's or our own mail stays the
    forwarding agent's."""
    agent = requester.address
    if agent != mail.sender:
        return None  # a web form's or a rewritten forward's: settled already
    forwarded = forwarded_sender(mail)
    if forwarded is None:
        return None
    original = forwarded.sender
    if (
        original.email in (agent.email, *rules.own_addresses)
        or not lookup.is_agent(agent.email)
        or lookup.is_agent(original.email)
    ):
        return None
    rule = f"{agent.email} is an agent forwarding {forwarded.how}: its sender {original.email}"
    step = Step("requester", "forwarded", rule)
    return Requester(original, (step,), wrote_to_us=False, forwarded_by=agent)
