"""`racesense serve`: the backend, with the UI's address and a browser token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import stat
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from racesense.settings import Settings
from racesense.store import sessions, tokens
from racesense.store import tracks as track_store
from racesense.store.blobs import BlobStore
from racesense.store.db import make_engine, migrate

if TYPE_CHECKING:
    from racesense.web.server import Secure

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
    from racesense.web.listeners import tls_wanted
    from racesense.web.server import serve

    settings = Settings.from_env(args.data_dir)
    if args.workers:
        settings = Settings(**{**settings.__dict__, "workers": args.workers})
    overrides = {
        "upload_host": args.upload_host,
        "tls": args.tls,
        "https_port": args.https_port,
        "upload_port": args.upload_port,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        settings = Settings(**{**settings.__dict__, **given})
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
    from racesense.web.addresses import phone_host
    from racesense.web.listeners import is_loopback

    minutes = max(1, round(settings.join_ttl_s / 60))
    unit = "minute" if minutes == 1 else "minutes"
    print(f"Or scan this with the phone's camera (valid {minutes} {unit}, once):")
    phone = shown
    if not is_loopback(args.host):
        # A phone cannot dial "localhost": the laptop's address on the hotspot. Beyond
        # loopback the plain port shows it the set-up page first, then the UI.
        phone = phone_host(
            "" if args.host in ("0.0.0.0", "::") else args.host, settings.upload_host
        )
    try:
        print(qr.terminal(f"http://{phone}:{args.port}/#join={join_code}"), flush=True)
    except UnicodeEncodeError:  # a terminal with no block characters
        print("(This terminal cannot draw it: use Settings, Add a phone, in the UI.)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings, migrated=True)
    app.state.bind_host = args.host  # where a logger on the hotspot may reach us (syncs)
    wanted = tls_wanted(settings.tls, args.host)
    secure = secure_listeners(app, settings, args.host, args.port) if wanted else None
    serve(app, settings, host=args.host, port=args.port, secure=secure)
    return 0


def secure_listeners(app: Any, settings: Settings, host: str, port: int) -> Secure:
    """https with the live certificate, the plain port's gate, the upload-only port;
    the app learns where each is (for the logger's upload URLs)."""
    from racesense.web.addresses import lan_ipv4s
    from racesense.web.listeners import PlainGate, Ports, UploadOnly
    from racesense.web.live_cert import LiveCertificate
    from racesense.web.server import Secure
    from racesense.web.setup_page import setup_app

    live = LiveCertificate(settings.data_dir / "tls", lan_ipv4s)
    if live.ca.created:
        print("Made this laptop's certificate authority: phones install it once (see /setup).")
    upload_port = settings.upload_port or None
    app.state.live_cert = live
    app.state.ports = Ports(http=port, https=settings.https_port, upload=upload_port)
    plain = PlainGate(app, setup_app(lambda: live.ca, settings.https_port), settings.https_port)
    print(
        f"https on port {settings.https_port} ({', '.join(live.names + live.ips)}); "
        f"phones set up at http://<this laptop>:<port>/setup"
        + (f"; loggers without TLS upload on port {upload_port}" if upload_port else ""),
        flush=True,
    )
    secure = Secure(
        live=live,
        https_port=settings.https_port,
        plain_app=plain,
        upload_port=upload_port,
        upload_app=UploadOnly(app) if upload_port else None,
    )
    from racesense.web import mdns

    if mdns.enabled(settings):
        # racesense.local and _racesense._tcp on the laptop's LAN addresses, following them.
        advertiser = mdns.Advertiser(
            https_port=settings.https_port, http_port=port, upload_port=upload_port
        )

        async def certify_host() -> None:
            # Another machine may hold racesense.local: the name this laptop got instead
            # (racesense-2.local) must be in the certificate the phone is shown.
            if advertiser.host:
                await asyncio.to_thread(live.certify_name, advertiser.host)

        async def start() -> None:
            await advertiser.start(lan_ipv4s())
            await certify_host()

        async def update(_ips: list[str]) -> None:
            await advertiser.update(lan_ipv4s())
            await certify_host()

        secure.on_start, secure.on_addresses, secure.on_stop = start, update, advertiser.stop
        app.state.mdns = advertiser  # its name goes into the logger's upload URL
    return secure
