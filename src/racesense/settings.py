"""Settings, from command-line options, else environment variables, else defaults.

| variable | default | meaning |
|---|---|---|
| RACESENSE_DATA_DIR | the per-user data directory | raw files, SQLite database |
| RACESENSE_DATABASE_URL | sqlite in the data dir | `postgresql://...` to use PostgreSQL |
| RACESENSE_API_TOKEN | (none) | admin token for automation and tests |
| RACESENSE_MAX_UPLOAD_MB | 512 | largest upload, also after gzip decompression |
| RACESENSE_WORKERS | 2 | analysis worker processes |
| RACESENSE_WORKER_MEMORY_MB | 2048 | memory one analysis may use (more fails alone) |
| RACESENSE_SYNC_TTL_S | 900 | lifetime of a sync's upload token |
| RACESENSE_BODY_TIMEOUT_S | 30 | a client silent this long mid-body is dropped (408) |
| RACESENSE_HEAD_TIMEOUT_S | 10 | a request's line and headers must arrive within this |
| RACESENSE_MAX_CONNECTIONS | 512 | open connections in all (fewer if few files may open) |
| RACESENSE_MAX_CONNECTIONS_PER_ADDRESS | 64 | open connections from one address (IPv6: a /64) |
| RACESENSE_SERVICE_WORKER | on | `off`: the UI's offline worker removes itself |
| RACESENSE_UPLOAD_HOST | found | the address a logger uploads to (`serve --upload-host`) |
| RACESENSE_JOIN_TTL_S | 600 | how long a phone's one-time join code works |
| RACESENSE_TLS | auto | https beyond loopback (`auto`), or `on`/`off` |
| RACESENSE_HTTPS_PORT | 8443 | the UI and API over https, beyond loopback |
| RACESENSE_UPLOAD_PORT | 8766 | the upload-only plain port for loggers without TLS (0: none) |
| RACESENSE_MDNS | on | advertise racesense.local and `_racesense._tcp` beside https |

The head deadline runs from connecting, or from the end of the previous response on a
kept-alive connection. The server holds every request body to the body timeout plus
2 s of silence and to 512 bytes a second on average (web/guard.py); the upload route's
own, stricter limits (1 KB a second) answer first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from exc


def _env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _env_switch(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise SystemExit(f"{name} must be on or off, not {value!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    api_token: str | None = field(default=None, repr=False)  # a secret: never printed
    max_upload_bytes: int = 512 * 1024 * 1024
    workers: int = 2
    sync_ttl_s: int = 900
    join_ttl_s: int = 600  # a join code (the QR code a phone scans) works once, this long
    body_timeout_s: float = 30.0
    worker_memory_mb: int = 2048
    head_timeout_s: float = 10.0
    max_connections: int = 512
    max_connections_per_address: int = 64
    # The UI's service worker; "off" serves one that unregisters itself and clears its
    # caches, for when a broken worker strands phones on an old shell.
    service_worker: bool = True
    # The address a logger dials to upload, when the one found by itself is not it (a
    # laptop on several networks), or 127.0.0.1 for a virtual RS-Core on this machine.
    upload_host: str | None = None
    # Advertise racesense.local and the _racesense._tcp service over mDNS (web/mdns.py).
    mdns: bool = True
    # Beyond loopback: https for the UI and API on https_port (a certificate from the
    # per-install CA), the plain port serving only the phone set-up page and a redirect,
    # and an upload-only plain listener for loggers that cannot do TLS. "auto": https
    # when listening beyond loopback; "on"/"off" force it (tests, a reverse proxy).
    tls: str = "auto"
    https_port: int = 8443
    upload_port: int = 8766

    @classmethod
    def from_env(cls, data_dir: Path | None = None) -> Settings:
        env_dir = os.environ.get("RACESENSE_DATA_DIR")
        root = data_dir or (Path(env_dir) if env_dir else None)
        if root is None:
            root = Path(platformdirs.user_data_dir("racesense", appauthor=False))
        root = root.expanduser().resolve()
        url = os.environ.get("RACESENSE_DATABASE_URL") or f"sqlite:///{root / 'racesense.db'}"
        return cls(
            data_dir=root,
            database_url=url,
            api_token=os.environ.get("RACESENSE_API_TOKEN") or None,
            max_upload_bytes=_env_int("RACESENSE_MAX_UPLOAD_MB", 512) * 1024 * 1024,
            workers=max(1, _env_int("RACESENSE_WORKERS", 2)),
            worker_memory_mb=max(256, _env_int("RACESENSE_WORKER_MEMORY_MB", 2048)),
            sync_ttl_s=_env_int("RACESENSE_SYNC_TTL_S", 900),
            join_ttl_s=max(1, _env_int("RACESENSE_JOIN_TTL_S", 600)),
            body_timeout_s=float(_env_int("RACESENSE_BODY_TIMEOUT_S", 30)),
            head_timeout_s=float(max(1, _env_int("RACESENSE_HEAD_TIMEOUT_S", 10))),
            max_connections=max(1, _env_int("RACESENSE_MAX_CONNECTIONS", 512)),
            max_connections_per_address=max(
                1, _env_int("RACESENSE_MAX_CONNECTIONS_PER_ADDRESS", 64)
            ),
            service_worker=_env_switch("RACESENSE_SERVICE_WORKER", True),
            upload_host=os.environ.get("RACESENSE_UPLOAD_HOST", "").strip() or None,
            mdns=_env_switch("RACESENSE_MDNS", True),
            tls=_env_choice("RACESENSE_TLS", ("auto", "on", "off"), "auto"),
            https_port=_env_int("RACESENSE_HTTPS_PORT", 8443),
            upload_port=_env_int("RACESENSE_UPLOAD_PORT", 8766),
        )

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "raw"
