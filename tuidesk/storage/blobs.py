"""Content-addressed files under the data folder: attachments and raw mail, stored once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from tuidesk.paths import PRIVATE_DIR


class BlobStore:
    """Names are sha256 hex digests, so nothing a mail says can steer where bytes land."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store once; write to a temporary file and rename, so a crash never leaves half a blob."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        if not target.parent.is_dir():
            for folder in (self.root, target.parent):
                folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
