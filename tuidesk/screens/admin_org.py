"""Admin sections for how the desk is organised: queues, branches, agents and canned replies.
Each form's values go straight to the storage save function the CLI and `config import` use."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from tuidesk.engine.notify import EVENTS, NONE
from tuidesk.screens.section import FormSpec, Row, Section
from tuidesk.storage.agents import ROLES, AgentError, list_agents, remove_agent, save_agent
from tuidesk.storage.branches import (
    default_branch,
    get_branch,
    list_branches,
    remove_branch,
    save_branch,
)
from tuidesk.storage.canned import (
    branch_of,
    get_canned,
    list_canned,
    remove_canned,
    save_canned,
)
from tuidesk.storage.models import DEFAULT_NOTIFY, Agent
from tuidesk.storage.queues import get_queue, list_queues, remove_queue, save_queue
from tuidesk.widgets.form import FieldSpec


class QueuesSection(Section):
    title = "Queues"
    columns = ("Name", "Colour")
    fields = (
        FieldSpec("name", "Name", help="As the ticket list shows it."),
        FieldSpec(
            "colour",
            "Colour",
            placeholder="green",
            help="A colour name (green, bright_red), #rrggbb, or default.",
        ),  # fmt: skip
    )

    def rows(self, session: Session) -> list[Row]:
        return [Row(q.name, (q.name, q.colour)) for q in list_queues(session)]

    def form(self, session: Session, key: str | None) -> FormSpec:
        if key is None:
            return FormSpec("New queue", self.fields, {"colour": "default"})
        queue = get_queue(session, key)
        return FormSpec(
            f"Queue {queue.name}", self.fields, {"name": queue.name, "colour": queue.colour}
        )

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        queue = get_queue(session, key) if key is not None else None
        return save_queue(session, name=values["name"], colour=values["colour"], queue=queue).name

    def remove(self, session: Session, key: str) -> None:
        remove_queue(session, get_queue(session, key))


class BranchesSection(Section):
    title = "Branches"
    columns = ("Key", "Name", "Support addresses", "Customer domains", "Default")
    fields = (
        FieldSpec("name", "Name"),
        FieldSpec("key", "Key", help="What tickets are called by: SUP makes SUP-42."),
        FieldSpec(
            "addresses",
            "Support addresses",
            "list",
            help="Mail sent to these comes here; separate with commas.",
        ),  # fmt: skip
        FieldSpec(
            "domains",
            "Customer domains",
            "list",
            help="Mail from these domains comes here when no address matched.",
        ),  # fmt: skip
        FieldSpec("default", "Default branch", "flag", help="Where everything else goes."),
    )

    def rows(self, session: Session) -> list[Row]:
        default = default_branch(session)
        return [
            Row(
                b.key,
                (
                    b.key,
                    b.name,
                    ", ".join(b.addresses),
                    ", ".join(b.domains),
                    "yes" if default is not None and b.id == default.id else "",
                ),
            )  # fmt: skip
            for b in list_branches(session)
        ]

    def form(self, session: Session, key: str | None) -> FormSpec:
        if key is None:
            return FormSpec("New branch", self.fields, {"default": default_branch(session) is None})
        b = get_branch(session, key)
        default = default_branch(session)
        values = {
            "name": b.name, "key": b.key, "addresses": b.addresses, "domains": b.domains,
            "default": default is not None and b.id == default.id,
        }  # fmt: skip
        return FormSpec(f"Branch {b.name} ({b.key})", self.fields, values)

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        branch = get_branch(session, key) if key is not None else None
        if branch is not None and branch.is_default and not values["default"]:
            from tuidesk.storage.branches import BranchError

            raise BranchError("make another branch the default instead", "default")
        saved = save_branch(
            session, name=values["name"], key=values["key"], addresses=values["addresses"],
            domains=values["domains"], default=values["default"], branch=branch,
        )  # fmt: skip
        return saved.key

    def remove(self, session: Session, key: str) -> None:
        remove_branch(session, get_branch(session, key))


class AgentsSection(Section):
    title = "Agents"
    columns = ("Name", "Email", "Login", "Role")
    fields = (
        FieldSpec("name", "Name"),
        FieldSpec("email", "Email"),
        FieldSpec("login", "Login", help="Their user name on this machine (SSH); may be empty."),
        FieldSpec("role", "Role", "choice", choices=tuple((r, r) for r in ROLES)),
        FieldSpec(
            "notify",
            "Notify",
            "list",
            help=f"Mail them about: {', '.join(EVENTS)}; separate with commas. "
            f"Empty or {NONE}: no mail.",
        ),  # fmt: skip
        FieldSpec(
            "aliases",
            "Aliases",
            "list",
            help="Other addresses they mail from; separate with commas.",
        ),  # fmt: skip
        FieldSpec(
            "signature",
            "Signature",
            "block",
            help="Under their replies; may use {agent_name}, {branch} and {ref}.",
        ),  # fmt: skip
    )

    def rows(self, session: Session) -> list[Row]:
        return [
            Row(a.email, (a.name, a.email, a.login or "", a.role)) for a in list_agents(session)
        ]

    def _get(self, session: Session, key: str) -> Agent:
        agent = next((a for a in list_agents(session) if a.email == key), None)
        if agent is None:
            raise AgentError(f"no agent {key!r}")
        return agent

    def form(self, session: Session, key: str | None) -> FormSpec:
        if key is None:
            return FormSpec("New agent", self.fields, {"role": "agent", "notify": DEFAULT_NOTIFY})
        a = self._get(session, key)
        values = {
            "name": a.name, "email": a.email, "login": a.login, "role": a.role,
            "notify": list(a.notify), "aliases": list(a.aliases), "signature": a.signature or "",
        }  # fmt: skip
        return FormSpec(f"Agent {a.name}", self.fields, values)

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        agent = self._get(session, key) if key is not None else None
        saved = save_agent(
            session, name=values["name"], email=values["email"], role=values["role"] or "",
            login=values["login"] or None, agent=agent, notify=values["notify"],
            aliases=values["aliases"], signature=values["signature"],
        )  # fmt: skip
        return saved.email

    def remove(self, session: Session, key: str) -> None:
        remove_agent(session, self._get(session, key))


class CannedSection(Section):
    """Canned replies agents insert into a reply (Ctrl+K in the reply editor)."""

    title = "Canned replies"
    columns = ("Name", "Branch", "First line")

    def _fields(self, session: Session) -> tuple[FieldSpec, ...]:
        branches = tuple((f"{b.key} ({b.name})", b.key) for b in list_branches(session))
        return (
            FieldSpec("name", "Name", help="What agents pick it by."),
            FieldSpec(
                "branch",
                "Branch",
                "choice",
                choices=branches,
                help="Offered only on this branch's tickets; none: on every branch.",
            ),  # fmt: skip
            FieldSpec(
                "body",
                "Text",
                "block",
                help="May use {requester_name}, {ref}, {title} and {agent_name}.",
            ),  # fmt: skip
        )

    def rows(self, session: Session) -> list[Row]:
        return [
            Row(c["name"], (c["name"], c["branch"] or "every", _first_line(c["body"])))
            for c in list_canned(session)
        ]

    def form(self, session: Session, key: str | None) -> FormSpec:
        if key is None:
            return FormSpec("New canned reply", self._fields(session), {})
        canned = get_canned(session, key)
        values = {"name": canned.name, "branch": branch_of(session, canned), "body": canned.body}
        return FormSpec(f"Canned reply {canned.name}", self._fields(session), values)

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        canned = get_canned(session, key) if key is not None else None
        saved = save_canned(
            session, name=values["name"], body=values["body"], branch=values["branch"] or None,
            canned=canned,
        )  # fmt: skip
        return saved.name

    def remove(self, session: Session, key: str) -> None:
        remove_canned(session, key)


def _first_line(text: str) -> str:
    """The first line with words in it: what tells canned replies apart in the list."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
