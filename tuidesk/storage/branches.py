"""Branches and their one invariant: exactly one default, which cannot be deleted."""

from __future__ import annotations

from sqlmodel import Session, col, select

from tuidesk.engine.refs import is_key
from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Branch, Ticket


class BranchError(Invalid):
    pass


def list_branches(session: Session) -> list[Branch]:
    return list(session.exec(select(Branch).order_by(col(Branch.created_at), col(Branch.id))))


def default_branch(session: Session) -> Branch | None:
    """The marked default, else the branch created first."""
    branches = list_branches(session)
    return next((b for b in branches if b.is_default), branches[0] if branches else None)


def get_branch(session: Session, name_or_key: str) -> Branch:
    branch = session.exec(
        select(Branch).where((Branch.name == name_or_key) | (Branch.key == name_or_key.upper()))
    ).first()
    if branch is None:
        raise BranchError(f"no branch {name_or_key!r}")
    return branch


def _mark_default(session: Session, branch: Branch) -> None:
    for other in list_branches(session):
        if other.id != branch.id and other.is_default:
            other.is_default = False
            session.add(other)
    branch.is_default = True


def save_branch(
    session: Session,
    *,
    name: str,
    key: str,
    addresses: list[str],
    domains: list[str],
    default: bool = False,
    branch: Branch | None = None,
) -> Branch:
    """Add a branch, or update `branch`. The key is what tickets are called by (`SUP-42`)."""
    c = Collector()
    key = key.strip().upper()
    if not is_key(key):
        c.add("key", "key must be a letter then up to 15 letters or digits, e.g. SUP")
    name = c.check("name", checks.text, name, "name") or name
    addresses = sorted(c.check("addresses", checks.each, addresses, checks.address) or [])
    domains = sorted(c.check("domains", checks.each, domains, checks.domain) or [])
    for other in list_branches(session):
        if branch is not None and other.id == branch.id:
            continue
        if other.key == key or other.name == name:
            c.add("name", f"a branch named {other.name!r} ({other.key}) exists already")
        taken = set(other.addresses) & set(addresses)
        if taken:
            c.add("addresses", f"{', '.join(sorted(taken))} already routes to {other.name}")
    c.raise_if_any(BranchError)
    if (
        branch is not None
        and branch.key != key
        and session.exec(select(Ticket.id).where(Ticket.branch_id == branch.id).limit(1)).first()
    ):
        raise BranchError(
            "the key of a branch with tickets cannot change: their refs use it", "key"
        )
    branch = branch or Branch(name=name, key=key)
    branch.name, branch.key = name, key
    branch.addresses, branch.domains = addresses, domains
    session.add(branch)
    session.flush()
    if default:
        _mark_default(session, branch)
        session.add(branch)
    return branch


def remove_branch(session: Session, branch: Branch) -> None:
    if default_branch(session) is branch or branch.is_default:
        raise BranchError(f"{branch.name} is the default branch and cannot be deleted")
    if session.exec(select(Ticket.id).where(Ticket.branch_id == branch.id).limit(1)).first():
        raise BranchError(f"{branch.name} has tickets; move them first")
    session.delete(branch)
