"""Raw uploads, stored exactly as received and addressed by their SHA-256.

A file is written to a temporary name, hashed while it is written, and flushed to disk
(`seal`); only then is it renamed to `<root>/ab/abcdef...` (`place`; rename is atomic on
every OS we run on). A stored file is never modified: it is made read-only, and the
same bytes again find the file already there. Nothing half-written ever carries a
final name.

Placing a file and removing one are decided under the database's lock for that hash,
in the same transaction that adds or checks the session referring to it
(store.sessions), so a file a session refers to is never removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from racesense.durable import fsync_dir

_HEX = frozenset("0123456789abcdef")


class HashMismatchError(ValueError):
    """The bytes received do not have the SHA-256 the sender announced."""


@dataclass(frozen=True)
class SealedBlob:
    """Received, hashed and on disk under a temporary name: ready to `place`."""

    sha256: str
    size: int
    tmp: Path


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    path: Path
    new: bool  # False when the same bytes were already stored


def is_sha256(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


class BlobWriter:
    """Receives one file's bytes; `commit()` stores it, `abort()` forgets it."""

    def __init__(self, store: BlobStore, max_bytes: int | None = None) -> None:
        self._store = store
        self._max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self.size = 0
        self._tmp = store.tmp_dir / f"{secrets.token_hex(12)}.part"
        self._file = open(self._tmp, "xb")  # noqa: SIM115 - closed in commit/abort

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise OverflowError(f"larger than {self._max_bytes} bytes")
        self._hash.update(data)
        self._file.write(data)

    def close(self) -> None:
        """No more bytes: flush them to disk and let go of the file handle (a request
        with many files holds one open file at a time, not one per file)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def seal(self, expected_sha256: str | None = None) -> SealedBlob:
        """Check the hash, and have the bytes on disk with the file closed."""
        digest = self._hash.hexdigest()
        try:
            if expected_sha256 is not None and expected_sha256.lower() != digest:
                raise HashMismatchError(
                    f"the file's SHA-256 is {digest}, not the {expected_sha256} announced"
                )
            self.close()
        except BaseException:
            self.abort()
            raise
        return SealedBlob(digest, self.size, self._tmp)

    def commit(self, expected_sha256: str | None = None) -> StoredBlob:
        """Seal and place at once: for files no session can be racing for."""
        return self._store.place(self.seal(expected_sha256))

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def writer(self, max_bytes: int | None = None) -> BlobWriter:
        return BlobWriter(self, max_bytes)

    def place(self, sealed: SealedBlob) -> StoredBlob:
        """Give a sealed file its final name, or drop it if those bytes are stored."""
        final = self.path_for(sealed.sha256)
        try:
            if final.exists():
                sealed.tmp.unlink()
                return StoredBlob(sealed.sha256, sealed.size, final, new=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(sealed.tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(sealed.tmp, final)
            fsync_dir(final.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                sealed.tmp.unlink()
            raise
        return StoredBlob(sealed.sha256, sealed.size, final, new=True)

    def stored(self) -> list[tuple[str, float]]:
        """(SHA-256, modification time) of every stored file."""
        found = []
        for path in self.root.glob("??/*"):
            if is_sha256(path.name):
                with contextlib.suppress(FileNotFoundError):
                    found.append((path.name, path.stat().st_mtime))
        return found

    def put(self, data: bytes, expected_sha256: str | None = None) -> StoredBlob:
        writer = self.writer()
        writer.write(data)
        return writer.commit(expected_sha256)

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def delete(self, sha256: str) -> None:
        """Only under the database's lock for this hash, once no session refers to it
        (store.sessions.remove_unreferenced): raw files are otherwise forever."""
        path = self.path_for(sha256)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
            path.unlink()

    def clean_tmp(self) -> int:
        """Remove leftovers of uploads cut off by a crash (at start-up)."""
        removed = 0
        for leftover in self.tmp_dir.glob("*.part"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
        return removed
