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
from sqlalchemy.orm import Session as OrmSession

from racesense.store import jobs, sessions, tokens
from racesense.store.blobs import BlobStore, HashMismatchError
from racesense.store.db import make_engine, migrate
from racesense.store.models import Job


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
            jobs.finish(engine, job.job_id)

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
    with OrmSession(engine) as db, db.begin():
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        db.execute(update(Job).where(Job.id == job.job_id).values(locked_at=long_ago))
    assert jobs.claim(engine, "live-worker") is not None


def test_failures_retry_with_backoff_then_stop(engine) -> None:
    _make_sessions(engine, 1)
    job = jobs.claim(engine, "w")
    assert job is not None
    assert jobs.fail(engine, job, "crash", retry=True) is True
    assert jobs.claim(engine, "w") is None  # backing off, not a retry storm
    rejected = jobs.Claimed(job.job_id, job.session_id, attempt=jobs.MAX_ATTEMPTS)
    assert jobs.fail(engine, rejected, "still crashing", retry=True) is False
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
