"""Where a channel's OAuth2 tokens live: its own row, encrypted with the machine's key. Each
save is its own transaction, committed before the token it came with is used, so a refresh
token MSAL rotated is never only in memory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select, update

from tuidesk.auth.credentials import encrypt, resolve
from tuidesk.auth.oauth import TokenState
from tuidesk.storage.db import transaction
from tuidesk.storage.tables import tables

TABLES = ("channel", "outgoing_channel")


class DbTokenStore:
    """One channel's tokens: `table` is channel or outgoing_channel."""

    def __init__(self, engine: Engine, table: str, channel_id: int, config_dir: Path) -> None:
        if table not in TABLES:
            raise ValueError(f"no tokens in {table}")
        self.engine = engine
        self.table = table
        self.channel_id = channel_id
        self.config_dir = config_dir

    def load(self) -> TokenState:
        with self.engine.connect() as conn:
            row = getattr(tables(conn), self.table)
            found = conn.execute(
                select(row.c.token_cache, row.c.oauth_refresh_token).where(
                    row.c.id == self.channel_id
                )
            ).first()
        if found is None:
            return TokenState()
        return TokenState(
            cache=resolve("stored", found.token_cache, self.config_dir)
            if found.token_cache
            else None,
            refresh_token=resolve("stored", found.oauth_refresh_token, self.config_dir)
            if found.oauth_refresh_token
            else None,
        )

    def save(self, cache: str | None, expires_at: datetime | None, *, drop_pasted: bool) -> None:
        values: dict[str, object] = {
            "token_cache": encrypt(cache, self.config_dir) if cache else None,
        }
        if expires_at is not None:
            values["token_expires_at"] = expires_at
        if drop_pasted:
            values["oauth_refresh_token"] = None
        with transaction(self.engine) as conn:
            row = getattr(tables(conn), self.table)
            conn.execute(update(row).where(row.c.id == self.channel_id).values(**values))


class MemoryTokenStore:
    """Tokens for settings not saved yet (the admin's Test connection on a new channel): kept
    for this one use only."""

    def __init__(self, refresh_token: str | None = None) -> None:
        self.state = TokenState(refresh_token=refresh_token)

    def load(self) -> TokenState:
        return self.state

    def save(self, cache: str | None, expires_at: datetime | None, *, drop_pasted: bool) -> None:
        self.state = TokenState(cache, None if drop_pasted else self.state.refresh_token)
