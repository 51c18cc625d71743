"""Mail from files: .eml files, folders of them, mbox files and Maildir folders."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileMail:
    origin: str
    raw: bytes


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    """Starts with a From_ line and has LF line endings: a CR-only file is one mail."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    return head.startswith(b"From ") and b"\n" in head


def count_mails(paths: list[Path]) -> int:
    """How many mails `iter_mails` will yield (for the progress bar); mbox files are scanned."""
    return sum(1 for _ in _locations(paths))


def _locations(paths: list[Path]) -> Iterator[tuple[str, Path, str | None]]:
    for path in paths:
        if path.is_dir() and _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                yield "maildir", path, key
        elif path.is_dir():
            yield from _locations(sorted(p for p in path.iterdir() if not p.name.startswith(".")))
        elif path.is_file() and _is_mbox(path):
            box = mailbox.mbox(path, factory=None, create=False)
            for key in box.keys():
                yield "mbox", path, str(key)
        elif path.is_file():
            yield "file", path, None
        elif not path.exists():
            raise FileNotFoundError(path)


def iter_mails(paths: list[Path]) -> Iterator[FileMail]:
    """Every mail under `paths`, in a stable order, so a second import meets them in the same
    order and finds each one already there."""
    boxes: dict[Path, mailbox.Mailbox] = {}
    for kind, path, key in _locations(paths):
        if kind == "file":
            yield FileMail(str(path), path.read_bytes())
            continue
        box = boxes.get(path)
        if box is None:
            box = boxes[path] = (
                mailbox.Maildir(path, factory=None, create=False)
                if kind == "maildir"
                else mailbox.mbox(path, factory=None, create=False)
            )
        mbox_key: str | int = key if kind == "maildir" else int(key)
        yield FileMail(f"{path}:{key}", box.get_bytes(mbox_key))
