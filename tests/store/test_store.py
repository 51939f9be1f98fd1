"""The store on SQLite and PostgreSQL: raw files, sessions with their jobs, the queue."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import update

from racesense.store import jobs, results, sessions, tokens
from racesense.store.blobs import BlobStore, HashMismatchError
from racesense.store.db import make_engine, migrate, reading, writing
from racesense.store.models import Job, Session


@pytest.fixture
def engine(database_url: str):
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    yield engine
    engine.dispose()


def test_blobs_are_content_addressed_read_only_and_atomic(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "raw")
    data = b"lap data\n" * 1000
    stored = store.put(data)
    assert stored.new and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.path == tmp_path / "raw" / stored.sha256[:2] / stored.sha256
    assert stored.path.read_bytes() == data
    assert not os.stat(stored.path).st_mode & stat.S_IWUSR
    again = store.put(data)
    assert not again.new and again.path == stored.path
    # A writer that is aborted, or whose hash is wrong, leaves nothing behind.
    writer = store.writer()
    writer.write(b"half a file")
    writer.abort()
    with pytest.raises(HashMismatchError):
        store.put(b"other", expected_sha256="0" * 64)
    files = sorted(p for p in (tmp_path / "raw").rglob("*") if p.is_file())
    assert files == [stored.path]


def test_leftover_partial_files_are_cleaned_at_start(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "raw")
    # What a crash mid-upload leaves: a temporary file that was never committed.
    (store.tmp_dir / "0123abcd.part").write_bytes(b"cut off by a crash")
    assert store.clean_tmp() == 1
    assert list(store.tmp_dir.iterdir()) == []


def test_upload_records_session_and_job_in_one_go(engine) -> None:
    first = sessions.record_upload(
        engine, sha256="a" * 64, size=10, filename="a.csv", device_id="D", sync_id=None
    )
    again = sessions.record_upload(
        engine, sha256="a" * 64, size=10, filename="b.csv", device_id="D", sync_id=None
    )
    assert not first.duplicate and again.duplicate and again.session_id == first.session_id
    assert jobs.pending_count(engine) == 1


def test_same_bytes_uploaded_at_once_make_one_session(engine) -> None:
    results: list[sessions.Recorded] = []

    def record() -> None:
        results.append(
            sessions.record_upload(
                engine, sha256="b" * 64, size=1, filename="x", device_id=None, sync_id=None
            )
        )

    threads = [threading.Thread(target=record) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.session_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1


def _make_sessions(engine, n: int) -> list[str]:
    return [
        sessions.record_upload(
            engine, sha256=f"{i:064x}", size=1, filename=f"{i}", device_id=None, sync_id=None
        ).session_id
        for i in range(n)
    ]


def test_workers_never_take_the_same_job(engine) -> None:
    _make_sessions(engine, 30)
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := jobs.claim(engine, name)) is not None:
            with lock:
                taken.append(job.job_id)
            assert results.persist(engine, job, results.Rejected("unknown_format", "no"))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 30
    assert jobs.pending_count(engine) == 0


def test_interrupted_job_runs_again(engine) -> None:
    _make_sessions(engine, 1)
    job = jobs.claim(engine, "host-a:123:0")
    assert job is not None and jobs.claim(engine, "other") is None
    # The server restarts: its running jobs go back to the queue.
    assert jobs.requeue_interrupted(engine, "host-a:") == 1
    again = jobs.claim(engine, "host-a:456:0")
    assert again is not None and again.job_id == job.job_id and again.attempt == 2


def test_expired_lease_makes_a_job_claimable(engine) -> None:
    _make_sessions(engine, 1)
    job = jobs.claim(engine, "dead-worker")
    assert job is not None
    with writing(engine) as db:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        db.execute(update(Job).where(Job.id == job.job_id).values(locked_at=long_ago))
    assert jobs.claim(engine, "live-worker") is not None


def test_crashes_retry_with_backoff_then_stop(engine) -> None:
    (session_id,) = _make_sessions(engine, 1)
    job = jobs.claim(engine, "w")
    assert job is not None and sessions.get(engine, session_id).status == "processing"
    again = results.persist(engine, job, results.Crashed("worker died"))
    assert again is not None and again.status == "queued"
    assert jobs.claim(engine, "w") is None  # backing off, not a retry storm
    with writing(engine) as db:  # the back-off is over
        db.execute(update(Job).values(not_before=dt.datetime.now(dt.UTC)))
    for attempt in range(2, jobs.MAX_ATTEMPTS + 1):
        job = jobs.claim(engine, "w")
        assert job is not None and job.attempt == attempt
        persisted = results.persist(engine, job, results.Crashed("still crashing"))
        with writing(engine) as db:
            db.execute(update(Job).values(not_before=dt.datetime.now(dt.UTC)))
    assert persisted is not None and persisted.status == "failed"
    row = sessions.get(engine, session_id)
    assert row.error_code == "internal_error" and "logged" in row.error
    assert jobs.pending_count(engine) == 0 and jobs.claim(engine, "w") is None


def test_rejected_file_ends_at_once_with_its_code(engine) -> None:
    (session_id,) = _make_sessions(engine, 1)
    job = jobs.claim(engine, "w")
    assert job is not None
    stored = results.persist(engine, job, results.Rejected("unknown_format", "Not a log."))
    assert stored is not None and stored.status == "failed"
    row = sessions.get(engine, session_id)
    assert (row.status, row.error_code, row.error) == ("failed", "unknown_format", "Not a log.")
    assert jobs.pending_count(engine) == 0


def _analysed(lap_count: int = 2) -> results.Analysed:
    summary = results.SessionSummary(
        "rscore-csv-1",
        "RS-1",
        dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        "Park",
        lap_count,
        61.5,
        61.2,
        52.0,
        -1.0,
    )
    return results.Analysed(summary, b'{"laps":[]}', {1: b"one", 2: b"two"})


def test_outcome_status_and_job_end_are_one_transaction(engine) -> None:
    (session_id,) = _make_sessions(engine, 1)
    job = jobs.claim(engine, "w")
    assert job is not None
    stored = results.persist(engine, job, _analysed())
    assert stored is not None and stored.status == "ready"
    row = sessions.get(engine, session_id)
    assert (row.status, row.lap_count, row.sf_lat, row.result) == ("ready", 2, 52.0, '{"laps":[]}')
    assert sessions.get_trace(engine, session_id, 2) == b"two"
    with reading(engine) as db:
        assert db.get(Job, job.job_id).state == "done"
    # Asked for again while it ran: the session stays queued for the next run.
    jobs.enqueue_now(engine, [session_id])
    second = jobs.claim(engine, "w2")
    jobs.enqueue_now(engine, [session_id])
    assert second is not None
    assert results.persist(engine, second, _analysed()).status == "queued"


def test_a_job_that_is_no_longer_ours_writes_nothing(engine) -> None:
    (session_id,) = _make_sessions(engine, 1)
    job = jobs.claim(engine, "slow-worker")
    assert job is not None
    with writing(engine) as db:  # its lease ran out, and another worker took the job
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        db.execute(update(Job).where(Job.id == job.job_id).values(locked_at=long_ago))
    taken = jobs.claim(engine, "fast-worker")
    assert taken is not None and taken.job_id == job.job_id
    assert results.persist(engine, job, _analysed(lap_count=9)) is None
    assert results.persist(engine, taken, _analysed(lap_count=3)) is not None
    assert sessions.get(engine, session_id).lap_count == 3


def test_a_job_whose_session_is_deleted_ends_cleanly(engine, tmp_path: Path) -> None:
    (session_id,) = _make_sessions(engine, 1)
    job = jobs.claim(engine, "w")
    assert job is not None
    sessions.delete_session(engine, BlobStore(tmp_path), session_id)
    assert results.persist(engine, job, _analysed()) is None
    assert jobs.pending_count(engine) == 0


def test_tokens_store_only_a_hash(engine) -> None:
    token, info = tokens.create(engine, "phone", "user")
    assert tokens.verify(engine, token, None) == info
    assert tokens.verify(engine, token + "x", None) is None
    rows = tokens.list_tokens(engine)
    assert all(token not in (row.token_sha256, row.name) for row in rows)
    assert tokens.revoke(engine, info.id or 0)
    assert tokens.verify(engine, token, None) is None
    assert tokens.verify(engine, "env-admin", "env-admin") is not None


def test_a_read_neither_waits_for_nor_blocks_a_writer(engine) -> None:
    """SQLite: reads take no lock (WAL snapshot); only writes queue for the write lock."""
    (session_id,) = _make_sessions(engine, 1)
    seen: list[str] = []

    def read() -> None:
        row = sessions.get(engine, session_id)
        seen.append(row.filename)

    with writing(engine) as db:  # a writer holds the lock...
        db.execute(update(Session).values(filename="renamed"))
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive() and seen == ["0"]  # ...a read goes on, seeing the past
    with reading(engine) as db:  # a read transaction is open...
        assert db.get(Session, session_id).filename == "renamed"
        done: list[bool] = []
        writer = threading.Thread(
            target=lambda: done.append(tokens.create(engine, "phone", "user")[1].id is not None)
        )
        writer.start()
        writer.join(timeout=5)
        assert not writer.is_alive() and done == [True]  # ...and a write still goes through


def test_job_ids_are_never_reused(engine, tmp_path: Path) -> None:
    """A session deleted while its job runs: the next upload's job gets a new id, and
    the old job's end touches nothing of it."""
    (first,) = _make_sessions(engine, 1)
    old = jobs.claim(engine, "w")
    assert old is not None
    sessions.delete_session(engine, BlobStore(tmp_path), first)  # cascades to its job
    second = sessions.record_upload(
        engine, sha256="f" * 64, size=1, filename="next", device_id=None, sync_id=None
    ).session_id
    assert results.persist(engine, old, _analysed()) is None
    new = jobs.claim(engine, "w")
    assert new is not None and new.job_id != old.job_id and new.session_id == second
    assert sessions.get(engine, second).status == "processing"
