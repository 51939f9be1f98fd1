"""Commands on the data directory itself: tokens, the track list, re-analysis."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import Engine

from racesense.settings import Settings
from racesense.store import jobs, sessions, tokens
from racesense.store import tracks as track_store
from racesense.store.blobs import BlobStore
from racesense.store.db import make_engine, migrate


def _open(data_dir: Path | None) -> tuple[Settings, Engine]:
    settings = Settings.from_env(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate(engine)
    return settings, engine


def token(args: argparse.Namespace) -> int:
    _, engine = _open(args.data_dir)
    if args.action == "create":
        value, info = tokens.create(engine, args.name, args.scope)
        print(value)
        print(f"token {info.id} ({info.scope}) created; it is shown only once", file=sys.stderr)
    elif args.action == "list":
        for row in tokens.list_tokens(engine):
            state = "revoked" if row.revoked_at else "active"
            print(f"{row.id:4}  {row.scope:6}  {state:7}  {row.created_at:%Y-%m-%d}  {row.name}")
    else:
        if not tokens.revoke(engine, args.id):
            print(f"racesense: no active token {args.id}", file=sys.stderr)
            return 1
        print(f"token {args.id} revoked")
    return 0


def tracks_import(args: argparse.Namespace) -> int:
    from racesense.ingest.tracklist import parse_track_list

    _, engine = _open(args.data_dir)
    new = parse_track_list(args.file.read_bytes())
    track_store.add(engine, new)
    requeue = sessions.near(engine, new, 3000.0)
    jobs.enqueue_now(engine, requeue)
    print(f"{len(new)} tracks imported; {len(requeue)} sessions queued for re-analysis")
    return 0


def reanalyse(args: argparse.Namespace) -> int:
    """Queue every session again and work through the queue here (a running server
    shares the queue safely)."""
    from racesense.jobs.analysis_job import run_analysis

    settings, engine = _open(args.data_dir)
    ids = sessions.all_ids(engine)
    jobs.enqueue_now(engine, ids)
    blobs = BlobStore(settings.blob_dir)
    listed = track_store.all_tracks(engine)
    done = 0
    while (claimed := jobs.claim(engine, "cli-reanalyse")) is not None:
        row = sessions.get(engine, claimed.session_id)
        if row is None:
            jobs.finish(engine, claimed.job_id)
            continue
        forced = track_store.forced_track(row.track_override)
        output = run_analysis(str(blobs.path_for(row.sha256)), listed, forced)
        if output.document is not None:
            output.document.update(id=row.id, status=output.status)
        sessions.store_result(
            engine,
            row.id,
            status=output.status,
            error=output.error,
            document_json=json.dumps(output.document) if output.document else None,
            traces=output.traces,
            summary=output.summary,
        )
        jobs.finish(engine, claimed.job_id)
        done += 1
        print(f"{row.id} {row.filename}: {output.status}", file=sys.stderr)
    print(f"{done} sessions re-analysed")
    return 0
