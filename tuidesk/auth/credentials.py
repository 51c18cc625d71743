"""Channel passwords: named by an environment variable, produced by a command (`pass show
support`, as mail clients do), or stored encrypted with a key that lives only in the user's
config folder (mode 0600). A secret is never printed, logged or shown in full."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tuidesk.paths import make_private_dir

KINDS = ("env", "command", "stored")
KEY_FILE = "secret.key"
COMMAND_TIMEOUT_S = 30


class SecretError(Exception):
    """The secret could not be had; the message never contains it."""


def _fernet(config_dir: Path, create: bool):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    path = config_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise SecretError(f"no key at {path}: the stored secret cannot be read")
        make_private_dir(config_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    if path.stat().st_mode & 0o077:
        raise SecretError(f"{path} is readable by others; run: chmod 600 {path}")
    return Fernet(path.read_bytes())


def encrypt(value: str, config_dir: Path) -> str:
    return _fernet(config_dir, create=True).encrypt(value.encode()).decode()


def resolve(kind: str | None, ref: str | None, config_dir: Path) -> str:
    """The password itself, for the moment of logging in."""
    if kind == "env":
        value = os.environ.get(ref or "")
        if value is None:
            raise SecretError(f"environment variable {ref} is not set")
        return value
    if kind == "command":
        try:
            proc = subprocess.run(
                ref or "", shell=True, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SecretError(f"password command timed out after {COMMAND_TIMEOUT_S} s") from exc
        if proc.returncode != 0:
            raise SecretError(f"password command exited {proc.returncode}")
        return proc.stdout.decode(errors="replace").split("\n", 1)[0].rstrip("\r")
    if kind == "stored":
        from cryptography.fernet import InvalidToken

        try:
            return _fernet(config_dir, create=False).decrypt((ref or "").encode()).decode()
        except InvalidToken as exc:
            raise SecretError("stored secret does not match the key in the config folder") from exc
    raise SecretError("no password configured")


def describe(kind: str | None, ref: str | None) -> str:
    """How a secret is given, safe to show: the variable or command, never a value."""
    if kind == "env":
        return f"from environment variable {ref}"
    if kind == "command":
        return f"from command: {ref}"
    if kind == "stored":
        return "stored encrypted (********)"
    return "not set"
