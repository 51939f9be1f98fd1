"""`racesense serve`: the backend, with the UI's address and a browser token."""

from __future__ import annotations

import argparse
import logging
import os
import stat

from sqlalchemy import Engine

from racesense.settings import Settings
from racesense.store import sessions, tokens
from racesense.store import tracks as track_store
from racesense.store.blobs import BlobStore
from racesense.store.db import make_engine, migrate

BROWSER_TOKEN_FILE = "browser-token"


def browser_token(settings: Settings, engine: Engine) -> str:
    """The token the UI uses, kept in the data dir (readable by the owner only) and
    reused across restarts; a new one if it was revoked."""
    path = settings.data_dir / BROWSER_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if tokens.verify(engine, token, None) is not None:
            return token
    token, _ = tokens.create(engine, "browser", "user")
    path.write_text(token + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return token


def load_demo(settings: Settings, engine: Engine) -> int:
    """The demo session and Racesense Park, into an empty database. The session is
    uploaded like any other, so the workers analyse it as the server starts."""
    from racesense.demo import DEMO_DEVICE_ID, demo_session_csv, demo_track

    if sessions.list_sessions(engine, limit=1)[1]:
        return 0
    if not any(t.name == demo_track().name for t in track_store.all_tracks(engine)):
        track_store.add(engine, [demo_track()])
    name, data = demo_session_csv()
    blob = BlobStore(settings.blob_dir).put(data)
    sessions.record_upload(
        engine,
        sha256=blob.sha256,
        size=blob.size,
        filename=name,
        device_id=DEMO_DEVICE_ID,
        sync_id=None,
    )
    return 1


def run(args: argparse.Namespace) -> int:
    from racesense.web.app import create_app
    from racesense.web.server import serve

    settings = Settings.from_env(args.data_dir)
    if args.workers:
        settings = Settings(**{**settings.__dict__, "workers": args.workers})
    if args.upload_host:
        settings = Settings(**{**settings.__dict__, "upload_host": args.upload_host})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate(engine)
    if args.demo:
        load_demo(settings, engine)
    token = browser_token(settings, engine)
    join_code, _ = tokens.create(engine, "join code", "join", ttl_s=settings.join_ttl_s)
    engine.dispose()
    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
    print(
        f"Racesense {settings.database_url.split(':', 1)[0]} database, data in {settings.data_dir}"
    )
    print(f"Open the UI at http://{shown}:{args.port}/#token={token}", flush=True)
    from racesense.web import qr

    minutes = max(1, round(settings.join_ttl_s / 60))
    unit = "minute" if minutes == 1 else "minutes"
    print(f"Or scan this with the phone's camera (valid {minutes} {unit}, once):")
    try:
        print(qr.terminal(f"http://{shown}:{args.port}/#join={join_code}"), flush=True)
    except UnicodeEncodeError:  # a terminal with no block characters
        print("(This terminal cannot draw it: use Settings, Add a phone, in the UI.)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings, migrated=True)
    app.state.bind_host = args.host  # where a logger on the hotspot may reach us (syncs)
    serve(app, settings, host=args.host, port=args.port)
    return 0
