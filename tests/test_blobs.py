"""Attachments and raw mail are stored once, by content, only under the data folder."""

from __future__ import annotations

import hashlib

import pytest

from tuidesk.storage.blobs import BlobStore


def test_the_same_bytes_are_stored_once_under_their_sha256(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    digest = store.put(b"invoice")
    assert digest == hashlib.sha256(b"invoice").hexdigest()
    assert store.put(b"invoice") == digest
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert files == [tmp_path / "blobs" / digest[:2] / digest]
    assert store.get(digest) == b"invoice"


@pytest.mark.parametrize("name", ["../../etc/passwd", "g" * 64, "", "ABCDEF" + "0" * 58])
def test_only_hex_digests_name_a_blob(tmp_path, name):
    with pytest.raises(ValueError):
        BlobStore(tmp_path).path(name)
