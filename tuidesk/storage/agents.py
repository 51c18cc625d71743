"""Agents and who is at the keyboard. The console trusts the OS user (or `--agent` /
TUIDESK_AGENT) as SSH already authenticated it; the Agent table says who may come in. The
first person on an empty database becomes its admin, so a new install needs no set-up step."""

from __future__ import annotations

import getpass
import re
from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from tuidesk.engine.notify import parse_events
from tuidesk.storage import checks, history
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Agent

ROLES = ("agent", "admin")
_LOGIN = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")


def is_login(name: str) -> bool:
    """Whether `name` could be an OS user name (`agent add` takes it as the login then)."""
    return bool(_LOGIN.match(name))


class AgentError(Invalid):
    pass


class UnknownAgent(AgentError):
    """Someone the Agent table does not know: told how to be added, not let in."""


def list_agents(session: Session) -> list[Agent]:
    return list(session.exec(select(Agent).order_by(col(Agent.name))))


def find_agent(session: Session, who: str) -> Agent | None:
    """By login, email (any case) or exact name."""
    return session.exec(
        select(Agent).where(
            (Agent.login == who) | (func.lower(Agent.email) == who.lower()) | (Agent.name == who)
        )
    ).first()


def save_agent(
    session: Session,
    *,
    name: str,
    email: str,
    role: str = "agent",
    login: str | None = None,
    agent: Agent | None = None,
    notify: str | Sequence[str] | None = None,
    aliases: Sequence[str] | None = None,
    signature: str | None = None,
) -> Agent:
    """Add an agent, or change `agent`; every value checked first. `notify` (the events they
    are mailed about, engine.notify), `aliases` (other addresses they mail from) and
    `signature` are left as they are when None."""
    c = Collector()
    name = c.check("name", checks.text, name, "name") or name
    email = c.check("email", checks.address, email) or email
    c.check("role", checks.one_of, role, ROLES, "role")
    if login is not None and not _LOGIN.match(login):
        c.add("login", f"{login!r} is not a login name")
    events = c.check("notify", parse_events, notify) if notify is not None else None
    if aliases is not None:
        aliases = c.check("aliases", _addresses, aliases)
    if email in (aliases if aliases is not None else agent.aliases if agent else ()):
        c.add("aliases", f"{email} is the agent's own address")
    if signature is not None:
        signature = c.check("signature", _signature, signature)
    for other in session.exec(select(Agent).where(Agent.id != (agent.id if agent else None))):
        if other.name == name:
            c.add("name", f"an agent named {name!r} exists already")
        theirs = {other.email.lower(), *(a.lower() for a in other.aliases)}
        if email in theirs:
            c.add("email", f"{email} is already {other.name}")
        for alias in sorted(set(aliases or ()) & theirs):
            c.add("aliases", f"{alias} is already {other.name}")
        if login and other.login == login:
            c.add("login", f"login {login} is already {other.name}")
    if agent is not None and agent.role == "admin" and role != "admin" and _admins(session) <= 1:
        c.add("role", f"{agent.name} is the last admin: make someone else admin first")
    c.raise_if_any(AgentError)
    agent = agent or Agent(name=name, email=email)
    agent.name, agent.email, agent.role, agent.login = name, email, role, login
    if events is not None:
        agent.notify = events
    if aliases is not None:
        agent.aliases = list(aliases)
    if signature is not None:
        agent.signature = signature
    session.add(agent)
    session.flush()
    return agent


def _addresses(value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Invalid(f"aliases are a list of addresses, not {value!r}")
    return checks.each((str(v) for v in value), checks.address)


def _signature(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"a signature is text, not {value!r}")
    return checks.signature(value)


def _admins(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Agent).where(Agent.role == "admin")).one()


def remove_agent(session: Session, agent: Agent) -> None:
    """Their tickets become unassigned (an event on each). The last admin stays: nobody could
    configure anything."""
    from tuidesk.storage.models import Ticket, TicketEvent

    if agent.role == "admin" and _admins(session) <= 1:
        raise AgentError(f"{agent.name} is the last admin: make someone else admin first", "role")
    conn = session.connection()
    removed = history.Actor("system", "agent removed")
    for ticket in session.exec(select(Ticket).where(Ticket.assignee_id == agent.id)):
        ticket.assignee_id = None
        session.add(ticket)
        assert ticket.id is not None
        history.record(conn, ticket.id, "assignee", removed, {"from": agent.name, "to": None})
    # What they did keeps the name recorded with it; their id may be someone else's one day
    # (SQLite gives the highest id again).
    session.execute(
        update(TicketEvent).where(col(TicketEvent.actor_id) == agent.id).values(actor_id=None)
    )
    session.delete(agent)


def current_login(explicit: str | None = None) -> str:
    """`--agent` or TUIDESK_AGENT (the caller passes it), else the OS user."""
    return explicit or getpass.getuser()


def identify(session: Session, who: str) -> Agent:
    """The agent at the keyboard. On a database with no agent yet, `who` becomes its admin."""
    found = find_agent(session, who)
    if found is not None:
        return found
    if session.exec(select(func.count()).select_from(Agent)).one() == 0:
        email = who if "@" in who else f"{who}@localhost"
        return save_agent(session, name=who, email=email, role="admin", login=who)
    raise UnknownAgent(
        f"{who} is not an agent here. An admin can add you with:\n"
        f"  tuidesk agent add {who!r} --email YOU@EXAMPLE.COM --login {who}"
    )
