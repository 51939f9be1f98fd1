"""Commands on the data directory itself: tokens, the track list, re-analysis."""

from __future__ import annotations

import argparse
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
    from racesense.jobs.complete import complete

    settings, engine = _open(args.data_dir)
    jobs.enqueue_now(engine, sessions.all_ids(engine))
    blobs = BlobStore(settings.blob_dir)
    done = 0
    while (claimed := jobs.claim(engine, "cli-reanalyse")) is not None:
        persisted = complete(engine, blobs, claimed)
        if persisted is not None:
            done += 1
            print(f"{persisted.session_id}: {persisted.status}", file=sys.stderr)
    print(f"{done} sessions re-analysed")
    return 0
