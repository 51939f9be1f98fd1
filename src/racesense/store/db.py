"""Engines and migrations, for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as OrmSession

# Execution option that marks a connection as one that will write (see `writing`).
_WRITE = "racesense_write"

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """`postgresql://...` (as users write it) -> the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below start transactions, not the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer. synchronous=FULL: a commit is on disk
    # before it returns, so an acknowledged upload survives a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin(connection: Any) -> None:
    """SQLite: a write transaction takes the write lock when it starts (BEGIN IMMEDIATE).
    One that read first and then wrote would fail at once ("database is locked") if
    another connection wrote in between; waiting at BEGIN is what busy_timeout handles,
    so writes queue in turn. A read takes no lock at all (plain BEGIN: in WAL mode, a
    snapshot), so readers never hold up a writer nor wait for one."""
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def reading(engine: Engine) -> OrmSession:
    """A session for reads only (`with reading(engine) as db:`). Loaded rows stay usable
    after it closes."""
    return OrmSession(engine, expire_on_commit=False)


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[OrmSession]:
    """One write transaction, committed when the block ends, rolled back on an error.
    Every write to the database goes through here. The transaction (and on SQLite the
    write lock) starts when the block does, not at its first statement: what the block
    does outside the database, like placing a raw file, happens under the lock too."""
    with (
        OrmSession(engine.execution_options(**{_WRITE: True}), expire_on_commit=False) as db,
        db.begin(),
    ):
        db.connection()  # begin now
        yield db


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def migrate(engine: Engine) -> None:
    """Bring the schema up to date (run once at every start; a no-op when current)."""
    from alembic import command  # only here: the analysis workers never load Alembic
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.execution_options(**{_WRITE: True}).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
