"""Migrations: a database made by an older release comes up to date with nothing lost."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from racesense.store import jobs
from racesense.store.db import MIGRATIONS, make_engine, migrate


def test_0002_drops_old_derived_data_and_queues_every_session_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        _check_0002(engine)
    finally:
        engine.dispose()


def _check_0002(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:  # what release 0001 stored
        for n, (status, result) in enumerate(
            [("ready", '{"id": "s0", "status": "ready", "laps": []}'), ("failed", None)]
        ):
            connection.execute(
                text(
                    "INSERT INTO sessions (id, sha256, filename, bytes, uploaded_at, status,"
                    " error, result) VALUES (:id, :sha, 'f.csv', 1, CURRENT_TIMESTAMP,"
                    " :status, :error, :result)"
                ),
                {
                    "id": f"s{n}",
                    "sha": f"{n:064x}",
                    "status": status,
                    "error": None if result else "unknown_format: not a log",
                    "result": result,
                },
            )
        connection.execute(
            text("INSERT INTO traces (session_id, lap, data) VALUES ('s0', 1, :d)"),
            {"d": b"gzip json"},
        )
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, status, result, error_code, sf_lat FROM sessions ORDER BY id")
        ).all()
        traces = connection.execute(text("SELECT count(*) FROM traces")).scalar()
    assert [tuple(r) for r in rows] == [
        ("s0", "queued", None, None, None),
        ("s1", "queued", None, None, None),
    ]
    assert traces == 0
    assert jobs.pending_count(engine) == 2  # the server analyses both at its next start
    migrate(engine)  # and again: nothing more
    assert jobs.pending_count(engine) == 2


def test_0005_fills_the_theoretical_best_from_stored_documents(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
        with engine.begin() as connection:
            for n, result in enumerate(['{"theoretical_best_s": 61.25, "laps": []}', None]):
                connection.execute(
                    text(
                        "INSERT INTO sessions (id, sha256, filename, bytes, uploaded_at, status,"
                        " result) VALUES (:id, :sha, 'f.csv', 1, CURRENT_TIMESTAMP, 'ready',"
                        " :result)"
                    ),
                    {"id": f"s{n}", "sha": f"{n:064x}", "result": result},
                )
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, theoretical_best_s, excluded_laps FROM sessions ORDER BY id")
            ).all()
        assert [tuple(r) for r in rows] == [("s0", 61.25, None), ("s1", None, None)]
    finally:
        engine.dispose()


def test_0006_keeps_existing_syncs_with_no_ack_key(database_url: str) -> None:
    """A sync handed out before 0006 survives with a null key (its uploads get a null
    proof); a sync made after has its 32 bytes stored and read back."""
    from racesense.store import syncs

    engine = make_engine(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO syncs (id, created_at, expires_at, device_id)"
                    " VALUES ('old', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'RS-Core-7F3A')"
                )
            )
        migrate(engine)
        assert syncs.get(engine, "old") is not None
        assert syncs.ack_key(engine, "old") is None
        row, key = syncs.create(engine, 60.0)
        assert len(key) == 32 and syncs.ack_key(engine, row.id) == key
    finally:
        engine.dispose()
