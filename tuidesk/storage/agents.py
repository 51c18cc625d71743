"""Agents and who is at the keyboard. The console trusts the OS user (or `--agent` /
TUIDESK_AGENT) as SSH already authenticated it; the Agent table says who may come in. The
first person on an empty database becomes its admin, so a new install needs no set-up step."""

from __future__ import annotations

import getpass
import re

from sqlmodel import Session, col, func, select

from tuidesk.storage.models import Agent

ROLES = ("agent", "admin")
_LOGIN = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9.-]+$")


class AgentError(ValueError):
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
) -> Agent:
    """Add an agent, or change `agent`; every value checked first."""
    name, email = name.strip(), email.strip().lower()
    if not name or any(c in name for c in "\r\n\x00"):
        raise AgentError("an agent needs a name on one line")
    if not _EMAIL.match(email):
        raise AgentError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AgentError(f"role must be one of {', '.join(ROLES)}")
    if login is not None and not _LOGIN.match(login):
        raise AgentError(f"{login!r} is not a login name")
    for other in session.exec(select(Agent).where(Agent.id != (agent.id if agent else None))):
        if other.email.lower() == email:
            raise AgentError(f"{email} is already {other.name}")
        if login and other.login == login:
            raise AgentError(f"login {login} is already {other.name}")
    agent = agent or Agent(name=name, email=email)
    agent.name, agent.email, agent.role, agent.login = name, email, role, login
    session.add(agent)
    session.flush()
    return agent


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
