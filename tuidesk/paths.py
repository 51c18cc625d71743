"""Where tuidesk keeps things: one place decides every folder."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "tuidesk"
# Mail bodies, quarantined raw mail and the key to the stored passwords are nobody else's.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


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


def make_private_dir(path: Path) -> None:
    """mkdir -p whose last folder is 0700 (the parents are the user's, as `mkdir -p` makes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=PRIVATE_DIR, exist_ok=True)


def _loose(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except FileNotFoundError:
        return False


def tighten(paths: Paths) -> list[Path]:
    """Folders of an older install (or a loose umask) that others could read, made 0700 with
    every file in them 0600; the folders fixed. A few stats when all is well: a folder's
    contents are walked only when it, or the database beside it, is found open."""
    fixed: list[Path] = []
    db = paths.database
    for folder, looks in (
        (paths.data, (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))),
        (paths.config, ()),
    ):
        if folder in fixed or not (_loose(folder) or any(_loose(p) for p in looks)):
            continue
        for root, dirs, files in os.walk(folder):
            os.chmod(root, PRIVATE_DIR)
            for name in files:
                path = os.path.join(root, name)
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.chmod(path, PRIVATE_FILE)
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        fixed.append(folder)
    return fixed


def tighten_notice(paths: Paths) -> str | None:
    """The one line a command prints after `tighten` found anything to fix."""
    fixed = tighten(paths)
    if not fixed:
        return None
    where = " and ".join(str(f) for f in fixed)
    return f"tuidesk: {where} could be read by other users: made private (folders 0700, files 0600)"
