"""The files one offline server keeps: on disk in a private temporary folder, within a size cap.

The Files API stores uploads here, the Batch API reads its input from here and writes its output and error files
here, and an image input may name a file here by its id.  The folder is made at the first file, removed when the
server goes away, and holds at most ``ServerOptions.files_limit`` bytes (2 GB by default) of files and of files
being written.  Nothing here speaks HTTP: the APIs word the refusals.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How long a file may be asked to live (``expires_after``, a batch's ``output_expires_after``), in seconds.
EXPIRY_RANGE = (3600, 30 * 24 * 3600)


@dataclass
class StoredFile:
    """One file the server keeps: its ``FileObject`` fields and where its bytes are."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    path: Path

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": self.expires_at,
        }


class FileStore:
    """Files on disk under one temporary folder, and the bytes they (and files being written) take.

    Thread-safe: uploads are copied, batch outputs written and image inputs read in worker threads.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._files: dict[str, StoredFile] = {}
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        with self._lock:
            if self._folder is None:
                # removed when the server is garbage-collected or the process exits, whichever comes first
                self._folder = tempfile.TemporaryDirectory(prefix="dalle-nb-files-")
            return Path(self._folder.name)

    def new_path(self, file_id: str) -> Path:
        return self.directory / file_id

    def used(self) -> int:
        """Bytes kept now: stored files and bytes set aside for files being written."""
        with self._lock:
            return sum(f.bytes for f in self._files.values()) + self._reserved

    def reserve(self, nbytes: int) -> bool:
        """Set aside ``nbytes`` for a file being written; False when that would pass the cap."""
        with self._lock:
            if sum(f.bytes for f in self._files.values()) + self._reserved + nbytes > self.limit:
                return False
            self._reserved += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self._reserved = max(0, self._reserved - nbytes)

    def add(
        self, file_id: str, path: Path, *, filename: str, purpose: str, expires_after: int | None, reserved: int = 0
    ) -> StoredFile:
        """Keep the file written at ``path`` (its reserved bytes become the file's)."""
        now = int(time.time())
        size = path.stat().st_size
        stored = StoredFile(
            file_id, filename, purpose, size, now, None if expires_after is None else now + expires_after, path
        )
        with self._lock:
            self._reserved = max(0, self._reserved - reserved)
            self._files[file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file, or None when it never existed, was deleted or has expired (then it is removed)."""
        with self._lock:
            stored = self._files.get(file_id)
            if stored is None or stored.expires_at is None or stored.expires_at > time.time():
                return stored
            del self._files[file_id]
        with contextlib.suppress(OSError):
            stored.path.unlink()
        return None

    def delete(self, file_id: str) -> bool:
        stored = self.get(file_id)
        if stored is None:
            return False
        with self._lock:
            self._files.pop(file_id, None)
        with contextlib.suppress(OSError):
            stored.path.unlink()
        return True

    def lookup(self, file_id: str) -> bytes | None:
        """A file's bytes, for an image given by ``file_id`` (called off the server's loop)."""
        stored = self.get(file_id)
        if stored is None:
            return None
        try:
            return stored.path.read_bytes()
        except OSError:
            return None

    def listed(self, purpose: str | None = None) -> list[StoredFile]:
        """Live files, newest first."""
        with self._lock:
            ids = list(self._files)
        found = [f for f in map(self.get, ids) if f is not None and (purpose is None or f.purpose == purpose)]
        return sorted(found, key=lambda f: f.created_at, reverse=True)

    def close(self) -> None:
        with self._lock:
            folder, self._folder = self._folder, None
            self._files.clear()
            self._reserved = 0
        if folder is not None:
            folder.cleanup()


__all__ = ["EXPIRY_RANGE", "FileStore", "StoredFile"]
