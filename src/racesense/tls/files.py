"""Writing the CA's files so that a crash or a reader never sees half of one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from racesense.durable import fsync_dir

SECRET_MODE = 0o600  # private keys: the owner only
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


def ensure_dir(directory: Path) -> None:
    """Create the folder owner-only; an existing one is left as it is."""
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` by a temp file in the same folder, fsync and os.replace.

    The temp file is created with `mode` (os.open), so a private key is never readable by
    others, not even for the moment between creating and chmod-ing it.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
