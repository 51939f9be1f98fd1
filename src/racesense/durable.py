"""Durable file operations shared by the raw-file store and the local CA."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename into `directory` durable (POSIX; Windows has no directory handles
    to sync, and needs none)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
