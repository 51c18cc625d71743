"""What every command gets through `ctx.obj`: the paths and the database, opened on first use."""

from __future__ import annotations

import typer

from tuidesk.paths import Paths, resolve_paths


class Context:
    """Paths and the database, opened on first use so `--help` and `paths` stay instant."""

    def __init__(self, db_url: str | None, agent: str | None = None) -> None:
        self.paths: Paths = resolve_paths()
        self.db_url = db_url or self.paths.database_url
        self.agent = agent  # `--agent` / TUIDESK_AGENT; None: the OS user
        self._engine = None

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        """The database, which must exist: only `create_database` makes one."""
        if self._engine is None:
            from tuidesk.storage.schema import open_database

            self._engine = open_database(self.db_url)
        return self._engine

    def create_database(self):  # type: ignore[no-untyped-def]
        """The console and `db upgrade`: the database, made if missing (in an existing folder,
        or in the default data folder)."""
        if self._engine is None:
            from tuidesk.storage.schema import open_database

            self._engine = open_database(self.db_url, create=True, home=self.paths.data)
        return self._engine

    @property
    def blobs(self):  # type: ignore[no-untyped-def]
        from tuidesk.storage.blobs import BlobStore

        return BlobStore(self.paths.blobs)

    def session(self):  # type: ignore[no-untyped-def]
        from tuidesk.storage.db import session_scope

        return session_scope(self.engine)

    def agent_id(self) -> int:
        """The agent running the command (`--agent`, else the OS user), let in as the console
        lets them in: on a database with no agent yet they become its admin, and someone
        unknown is refused (exit 2) with the line that adds them."""
        from tuidesk.cli.output import fail
        from tuidesk.exit_codes import ExitCode
        from tuidesk.storage.agents import UnknownAgent, current_login, identify

        try:
            with self.session() as session:
                return identify(session, current_login(self.agent)).id
        except UnknownAgent as exc:
            raise fail(str(exc), ExitCode.USAGE) from exc

    def known_agent_id(self) -> int | None:
        """The agent running the command when they are one, else None: `reply` and `note`
        ran for scripts long before they knew agents, and still do."""
        return self.actor().agent_id

    def actor(self):  # type: ignore[no-untyped-def]
        """Who runs the command, for history: the agent they are, else the OS user (or the
        `--agent` given) as a CLI user."""
        from tuidesk.storage.agents import current_login, find_agent
        from tuidesk.storage.history import Actor

        login = current_login(self.agent)
        with self.session() as session:
            found = find_agent(session, login)
            return Actor("agent", found.name, found.id) if found else Actor("cli", login)

    def close(self) -> None:
        """The connections go when the command ends (a long-lived caller runs many)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def ctx_of(ctx: typer.Context) -> Context:
    return ctx.obj
