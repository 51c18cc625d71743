"""Saving a ticket's attachments to a folder the agent picks. Files are written, never opened or
run; a name from a mail can neither replace an existing file nor land outside the folder."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from tuidesk.engine.text import clean_line

MAX_COPIES = 1000  # "name (999).pdf" is as far as a folder full of copies goes


@dataclass(frozen=True)
class StoredFile:
    """An attachment as the ticket view lists it: the blob and where it came from."""

    filename: str
    size: int
    sha256: str
    origin: str  # who sent it and when, to tell two "image001.png" apart


@dataclass(frozen=True)
class SaveRequest:
    files: list[StoredFile]
    folder: Path


# What each system's file names cannot hold, beyond "/" and NUL (gone already).
_REFUSED = {"Windows": re.compile(r'[<>:"|?*]'), "Darwin": re.compile(r":")}
_WINDOWS_DEVICES = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.I)


def safe_name(filename: str, system: str = platform.system()) -> str:
    """The last part of the name only, on one line, not hidden: a name like `../../.bashrc`
    becomes `bashrc`. Only what `system`'s file names refuse is mapped to `_` (a `:` is kept
    on Linux), and on Windows a device name or a trailing dot or space is avoided."""
    name = clean_line(filename, 200).replace("\\", "/").rpartition("/")[2]
    refused = _REFUSED.get(system)
    if refused:
        name = refused.sub("_", name)
    if system == "Windows":
        name = name.rstrip(" .")
        if _WINDOWS_DEVICES.fullmatch(name):
            name = "_" + name
    return re.sub(r"^[\s.]+", "", name).strip() or "attachment"  # ". .bashrc" too


def save_file(data: bytes, filename: str, folder: Path) -> Path:
    """Create the file in `folder`, adding " (1)", " (2)"… before the suffix when the name is
    taken. Created with O_EXCL ("x"), so an existing file, or a symlink planted under that
    name, is never written through."""
    name = safe_name(filename)
    stem, suffix = Path(name).stem or name, Path(name).suffix
    for n in range(MAX_COPIES):
        target = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with open(target, "xb") as fh:
                try:
                    fh.write(data)
                except BaseException:
                    target.unlink(missing_ok=True)  # no half file left behind
                    raise
        except FileExistsError:
            continue
        return target
    raise FileExistsError(f"{folder / name}: too many copies already")


def default_folder() -> Path:
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


class SaveFilesScreen(ModalScreen[SaveRequest | None]):
    """Which attachments (all ticked at first) and into which folder; None when cancelled."""

    CSS_PATH = "attachments.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="save_files.cancel"),
        Binding("ctrl+s", "save", "Save", id="save_files.save", priority=True),
    ]

    def __init__(self, files: list[StoredFile]) -> None:
        super().__init__()
        self.files = files

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save attachments", classes="dialog-title")
            yield SelectionList[int](
                *(
                    Selection(self._label(file), index, initial_state=True)
                    for index, file in enumerate(self.files)
                ),
                id="save-files",
            )
            yield Label("Into folder (Enter saves):")
            yield Input(str(default_folder()), id="save-folder")
            yield Static(id="save-error")

    @staticmethod
    def _label(file: StoredFile) -> Text:
        text = Text(clean_line(file.filename, 60))
        text.append(f"  {file.size:,} bytes  {file.origin}", style="dim")
        return text

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(Input.Submitted, "#save-folder")
    def action_save(self) -> None:
        chosen = [self.files[i] for i in self.query_one(SelectionList).selected]
        folder = Path(self.query_one("#save-folder", Input).value.strip()).expanduser()
        error = self.query_one("#save-error", Static)
        if not chosen:
            error.update(Text("Tick at least one file (space).", style="red"))
        elif not folder.is_dir():
            error.update(Text(f"{clean_line(str(folder), 80)} is not a folder", style="red"))
        else:
            self.dismiss(SaveRequest(chosen, folder))

    def action_cancel(self) -> None:
        self.dismiss(None)
