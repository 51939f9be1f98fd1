"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import settings

import pg

# No per-example deadline: a timing assertion in a test fails on a busy CI host.
settings.register_profile("racesense", deadline=None)
settings.load_profile("racesense")

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


# --- Databases: SQLite and a throwaway PostgreSQL (tests/pg.py) -------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PostgresServer]:
    """A PostgreSQL server for this test session (this xdist worker), or a skip.

    The server named by RACESENSE_TEST_POSTGRES_URL, else a cluster started here once, on a
    Unix socket in a temporary folder, and stopped and deleted when the session ends.
    """
    with ExitStack() as stack:
        try:
            server = stack.enter_context(pg.postgres_server())
        except pg.PostgresUnavailable as exc:
            pytest.skip(str(exc))
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: pg.PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a database created for the whole session (shared by its tests)."""
    with postgres_server.database("racesense") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of an empty database of this test's own, on SQLite and on PostgreSQL.

    SQLite: a new file in tmp_path. PostgreSQL: a database CREATEd for this test on
    `postgres_server` and dropped after it (connections left open are ended).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'racesense.db'}"
        return
    server: pg.PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url
