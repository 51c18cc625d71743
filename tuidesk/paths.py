"""Where tuidesk keeps things: one place decides every folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "tuidesk"


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path

    @property
    def database(self) -> Path:
        return self.data / "tuidesk.sqlite3"

    @property
    def blobs(self) -> Path:
        """Content-addressed store: attachments, raw mail and quarantined mail."""
        return self.data / "blobs"

    @property
    def database_url(self) -> str:
        return os.environ.get("TUIDESK_DATABASE_URL") or f"sqlite:///{self.database}"


def resolve_paths() -> Paths:
    """TUIDESK_HOME puts data and config in one folder (tests, portable installs)."""
    home = os.environ.get("TUIDESK_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(data=root, config=root)
    import platformdirs

    return Paths(
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
    )
