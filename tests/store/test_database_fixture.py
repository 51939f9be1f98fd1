"""The database fixtures work on both backends, and each test gets a database of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url

import pg


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def _laps_table() -> tuple[MetaData, Table]:
    metadata = MetaData()
    laps = Table(
        "laps",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("driver", String(40), nullable=False),
        Column("millis", Integer, nullable=False),
    )
    return metadata, laps


def test_create_insert_select(engine: Engine, database_url: str) -> None:
    backend = make_url(database_url).get_backend_name()
    assert backend in ("sqlite", "postgresql")
    metadata, laps = _laps_table()
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            laps.insert(), [{"driver": "ana", "millis": 92_345}, {"driver": "bo", "millis": 91_002}]
        )
    with engine.connect() as connection:
        rows = connection.execute(select(laps.c.driver, laps.c.millis).order_by(laps.c.millis))
        assert [tuple(row) for row in rows] == [("bo", 91_002), ("ana", 92_345)]
        if backend == "postgresql":
            assert connection.execute(text("SHOW server_version_num")).scalar_one() >= "150000"


@pytest.mark.parametrize("name", ["first", "second"])
def test_each_test_gets_an_empty_database(engine: Engine, name: str) -> None:
    # Both tests leave a table behind: whichever runs second would see the other's.
    assert inspect(engine).get_table_names() == []
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE left_behind (who VARCHAR(10))"))
        connection.execute(text("INSERT INTO left_behind VALUES (:who)"), {"who": name})
    assert inspect(engine).get_table_names() == ["left_behind"]


def test_postgres_database_is_dropped_afterwards(postgres_server: pg.PostgresServer) -> None:
    admin = create_engine(postgres_server.admin_url)
    try:
        with postgres_server.database() as url:
            name = make_url(url).database
            probe = create_engine(url)
            # The pool keeps this connection open after the block: the drop must end it.
            with probe.connect() as connection:
                assert connection.execute(select(1)).scalar_one() == 1
                with admin.connect() as check:
                    names = check.execute(text("SELECT datname FROM pg_database")).scalars()
                    assert name in list(names)
        probe.dispose()
        with admin.connect() as check:
            names = check.execute(text("SELECT datname FROM pg_database")).scalars()
            assert name not in list(names)
    finally:
        admin.dispose()


def test_postgres_url_is_local(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(select(1)).scalar_one() == 1
            listening = connection.execute(text("SHOW listen_addresses")).scalar_one()
    finally:
        engine.dispose()
    if not os.environ.get(pg.ENV_URL):
        # The throwaway cluster: a Unix socket in a folder of its own, and no TCP at all.
        assert url.host is None
        assert str(url.query["host"]).startswith("/")
        assert listening == ""
