"""Hashing files as they are written: sha256 (for manifests) and md5 (for DVC) in one pass.

`HashingWriter` is a file object for `pyarrow.parquet.write_table`: every block the
encoder writes goes to disk and to a hashing thread, so hashing overlaps the encoding
instead of re-reading the file afterwards (hashlib releases the GIL on large blocks).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path
from typing import Any

__all__ = ["HashingWriter", "sha256_file", "update_from_file"]


def update_from_file(digest: Any, path: Path, chunk: int = 1 << 20) -> None:
    """Feed a file's bytes to `digest`, in 1 MiB blocks."""
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    update_from_file(digest, path, chunk)
    return digest.hexdigest()


class HashingWriter:
    """A write-only binary file that also computes sha256 and md5 of what is written."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5()
        self.size = 0
        self._thread = threading.Thread(target=self._hash, name="hub-hash", daemon=True)
        self._thread.start()
        self.closed = False

    def _hash(self) -> None:
        while (block := self._queue.get()) is not None:
            self._sha256.update(block)
            self._md5.update(block)

    def write(self, data) -> int:
        block = bytes(data)
        self._file.write(block)
        self._queue.put(block)
        self.size += len(block)
        return len(block)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put(None)
            self._thread.join()
            self._file.close()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()
