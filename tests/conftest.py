"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

# Real recordings live beside the checkout (`<repo>/../shared/data`), never in the repo.
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not present at {SHARED_DATA.resolve()} (../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_file(shared_data: Path) -> Callable[[str], bytes]:
    """`shared_file("folder/name")` gives that recording's bytes, or skips the test."""

    def read(relative: str) -> bytes:
        path = shared_data / relative
        if not path.is_file():
            pytest.skip(f"real recording {relative} not present in {shared_data.resolve()}")
        return path.read_bytes()

    return read
