"""The real `tuidesk` console in a real terminal: a private tmux server (its own socket, so it
never meets a developer's tmux), keys sent with send-keys and the screen read with
capture-pane, as an agent over SSH would see it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


class Tmux:
    def __init__(self, env: dict[str, str], width: int = 120, height: int = 36) -> None:
        if not shutil.which("tmux"):
            raise RuntimeError("tmux not installed: run `make test` (it apt-installs tmux)")
        self.env = env
        self.width, self.height = width, height
        self.socket = Path(tempfile.mkdtemp(prefix="tuidesk-tmux-")) / "socket"

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, *args: str) -> Tmux:
        """`tuidesk ARGS` in a detached session of the given size."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items() if k.startswith(
            ("TUIDESK_", "SMTP_", "PATH", "HOME", "LANG", "PYTHON")
        ))  # fmt: skip
        # A clean environment: an inherited COLUMNS/LINES would override the pane's size.
        command = (
            f"env -i {exports} TERM=xterm-256color {sys.executable} -m tuidesk {shlex.join(args)}"
        )
        self._tmux(
            "-f", os.devnull, "new-session", "-d", "-s", "desk", "-x", str(self.width),
            "-y", str(self.height), command,
        )  # fmt: skip
        self._tmux("set-option", "-t", "desk", "remain-on-exit", "on")
        return self

    def keys(self, *keys: str) -> None:
        """tmux key names (`Enter`, `Escape`, `C-s`) or literal text."""
        self._tmux("send-keys", "-t", "desk", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "desk", "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "desk")

    def wait_for(self, found: Callable[[str], bool] | str, timeout: float = 30) -> str:
        """The screen once `found` holds (a predicate, or text on the screen)."""
        test = (lambda s: found in s) if isinstance(found, str) else found
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if test(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"not on screen after {timeout} s:\n{screen}")

    def stop(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)
        shutil.rmtree(self.socket.parent, ignore_errors=True)
