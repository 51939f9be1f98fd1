"""Commands that talk to a running server, or to the data directory directly."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CHUNK = 256 * 1024


def _progress(name: str, done: int, total: int, started: float) -> None:
    if not sys.stderr.isatty() and done < total:
        return
    rate = done / max(time.monotonic() - started, 1e-6) / 1e6
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else "\r"
    sys.stderr.write(
        f"{name[:30]:30} [{bar}] {done / 1e6:7.1f}/{total / 1e6:.1f} MB {rate:5.1f} MB/s{end}"
    )
    sys.stderr.flush()


def _chunks(path: Path, total: int) -> Iterator[bytes]:
    started = time.monotonic()
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            done += len(chunk)
            _progress(path.name, done, total, started)
            yield chunk
    if total == 0:
        _progress(path.name, 0, 0, started)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def upload(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("RACESENSE_TOKEN") or os.environ.get("RACESENSE_API_TOKEN")
    if not token:
        print("racesense: give --token, or set RACESENSE_TOKEN", file=sys.stderr)
        return 2
    url = args.url.rstrip("/") + "/api/upload"
    failures = 0
    with httpx.Client(timeout=httpx.Timeout(30.0, read=120.0)) as client:
        for path in args.files:
            size = path.stat().st_size
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
                "X-Filename": path.name,
                "X-Content-SHA256": _sha256(path),
            }
            try:
                response = client.post(url, content=_chunks(path, size), headers=headers)
            except httpx.HTTPError as exc:
                print(f"racesense: {path.name}: {exc}", file=sys.stderr)
                failures += 1
                continue
            if response.status_code >= 400:
                try:
                    message = response.json().get("message", response.text)
                except ValueError:
                    message = response.text
                print(f"racesense: {path.name}: {response.status_code} {message}", file=sys.stderr)
                failures += 1
                continue
            for item in response.json()["files"]:
                note = "already uploaded" if item["duplicate"] else item["status"]
                print(f"{item['filename']}: session {item['session_id']} ({note})")
    return 1 if failures else 0
