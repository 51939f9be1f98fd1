"""The database schema. Migrations in `migrations/` create and evolve it."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A session's state, the only place it is kept: queued -> processing -> ready | failed
# (a crashed analysis that will be retried goes back to queued).
SessionStatus = Literal["queued", "processing", "ready", "failed"]
# The queue's own state of one analysis run.
JobState = Literal["queued", "processing", "done", "failed"]


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Session(Base):
    """One uploaded raw file and what the analysis made of it."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sync_id: Mapped[str | None] = mapped_column(String(32), index=True)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[SessionStatus] = mapped_column(String(16), default="queued")
    # Why the analysis failed: a stable code (`unknown_format`, `no_fixes`, ...) for
    # programs, and a sentence for people.
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    track_name: Mapped[str | None] = mapped_column(String(200), index=True)
    lap_count: Mapped[int | None] = mapped_column(Integer)
    best_lap_s: Mapped[float | None] = mapped_column(Float)
    theoretical_best_s: Mapped[float | None] = mapped_column(Float)
    # Where the analysis put the start/finish (the line's middle), so that sessions near
    # a new track are found by a query.
    sf_lat: Mapped[float | None] = mapped_column(Float, index=True)
    sf_lon: Mapped[float | None] = mapped_column(Float)
    # A track the user forced on this session (JSON), used by every re-analysis.
    track_override: Mapped[str | None] = mapped_column(Text)
    # Lap numbers the user excluded by hand (a JSON list), an input of every analysis.
    excluded_laps: Mapped[str | None] = mapped_column(Text)
    # The results document (JSON, analysis.results.ResultDocument): what the analysis
    # found, without this row's state, which GET /api/sessions/{id} adds when serving it.
    result: Mapped[str | None] = mapped_column(Text)
    analysed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Trace(Base):
    """A lap's trace, Arrow IPC (analysis.trace_format; derived: rebuilt by re-analysis)."""

    __tablename__ = "traces"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    lap: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Job(Base):
    """An analysis to run. Recorded in the same transaction as its upload."""

    __tablename__ = "jobs"
    # AUTOINCREMENT: a job's id is never reused, not even after its session (and so the
    # job) was deleted. A worker still running that job must not end a newer one.
    __table_args__ = (
        Index("ix_jobs_state_not_before", "state", "not_before"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    state: Mapped[JobState] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TrackRow(Base):
    """The user's track list."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    # A point (lat, lon) or a line (lat, lon) -> (lat2, lon2).
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lat2: Mapped[float | None] = mapped_column(Float)
    lon2: Mapped[float | None] = mapped_column(Float)
    sectors: Mapped[str | None] = mapped_column(Text)  # JSON list of points or lines
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Token(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # "admin": everything; "user": read and write, not delete; "upload": upload only;
    # "join": exchanged once for a "user" token (POST /api/join), nothing else.
    scope: Mapped[str] = mapped_column(String(16))
    sync_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # "join" tokens only (a QR code's one-time code): when it was exchanged (0007).
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Sync(Base):
    """One reverse-hotspot sync: a logger uploading its pending files."""

    __tablename__ = "syncs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    device_id: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[str | None] = mapped_column(Text)  # JSON: per-phase timings
    # The secret the logger checks each upload's proof with (store/syncs.ack_proof): 32
    # random bytes, handed to the browser once. Null for syncs made before release 0006.
    ack_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class SyncFile(Base):
    """A file a sync sent that was already stored (uploaded earlier, by another sync or
    by hand): it belongs to this sync's files too."""

    __tablename__ = "sync_files"

    sync_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
