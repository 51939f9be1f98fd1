"""POST /api/upload: one endpoint for loggers and browsers.

The answer is small (an ESP32 reads at most 1 KB of it) and is given only after every
file is on disk under its hash and its session (with its analysis job) is committed:
an acknowledged upload is never lost. The same bytes again get 200 and the existing
session; new bytes get 201. With a sync's upload token each file also gets `proof`, the
HMAC that lets the logger trust the acknowledgement (store/syncs.py).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from racesense.store import sessions, syncs
from racesense.store.blobs import HashMismatchError, SealedBlob, is_sha256
from racesense.store.tokens import TokenInfo
from racesense.web.auth import require
from racesense.web.errors import ApiError
from racesense.web.listeners import UPLOAD_ONLY
from racesense.web.upload_body import (
    BodyReader,
    ReceivedFile,
    multipart_boundary,
    read_multipart,
    read_raw,
    safe_filename,
)

router = APIRouter()


def _header_id(request: Request, name: str, limit: int) -> str | None:
    value = request.headers.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > limit or not value.isprintable():
        raise ApiError(400, "bad_header", f"The {name} header is not a valid identifier.")
    return value


def _utf8(header: str | None) -> str | None:
    """A header's value as the client meant it: HTTP hands it over as Latin-1, but a
    logger or a browser sending a file name like `Brno–Masaryk.csv` sends UTF-8."""
    if header is None:
        return None
    try:
        return header.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return header


def _check_length(request: Request, max_bytes: int) -> None:
    length = request.headers.get("content-length")
    if length is None:
        if "chunked" not in request.headers.get("transfer-encoding", "").lower():
            raise ApiError(411, "length_required", "The upload has neither a length nor chunks.")
        return
    if not length.isdigit():
        raise ApiError(400, "bad_length", "The Content-Length header is not a number.")
    if int(length) > max_bytes:  # refuse before reading a byte
        raise ApiError(413, "too_large", f"The upload is larger than {max_bytes // 2**20} MB.")


def _seal(files: list[ReceivedFile], expected_sha256: str | None) -> list[SealedBlob]:
    """Every file hashed, checked and on disk, or none kept at all."""
    sealed: list[SealedBlob] = []
    try:
        for received in files:
            sealed.append(received.writer.seal(expected_sha256))
    except BaseException as exc:
        for received in files[len(sealed) + 1 :]:
            received.writer.abort()
        for done in sealed:
            done.tmp.unlink(missing_ok=True)
        if isinstance(exc, HashMismatchError):
            raise ApiError(422, "sha256_mismatch", f"Nothing was kept: {exc}.") from exc
        raise
    return sealed


@router.post("/api/upload", status_code=201)
async def upload(
    request: Request, token: Annotated[TokenInfo, Depends(require("upload"))]
) -> JSONResponse:
    state = request.app.state
    settings = state.settings
    if request.scope.get(UPLOAD_ONLY) and (token.scope != "upload" or token.sync_id is None):
        # The plain upload-only listener: a logger's sync, nothing a person's token does.
        raise ApiError(
            403,
            "sync_token_only",
            "This address takes only a logger's sync uploads; use the https address.",
        )
    _check_length(request, settings.max_upload_bytes)
    device_id = _header_id(request, "x-device-id", 64)
    sync_id = _header_id(request, "x-sync-id", 32)
    if token.scope == "upload":
        if sync_id is not None and sync_id != token.sync_id:
            raise ApiError(403, "wrong_sync", "This upload token belongs to another sync.")
        sync_id = token.sync_id
    expected = request.headers.get("x-content-sha256")
    if expected is not None:
        expected = expected.strip().lower()
        if not is_sha256(expected):
            raise ApiError(400, "bad_sha256", "X-Content-SHA256 is not 64 hex digits.")

    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding} is not read.")
    body = BodyReader(
        request.stream().__aiter__(),
        gzip=encoding != "identity",
        max_bytes=settings.max_upload_bytes,
        timeout_s=settings.body_timeout_s,
    )
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    try:
        if boundary is not None:
            files = await read_multipart(body, state.blobs, boundary)
        else:
            name = _utf8(request.headers.get("x-filename")) or request.query_params.get("filename")
            files = await read_raw(body, state.blobs, safe_filename(name))
    except ClientDisconnect:
        # Nothing was committed; the temporary files are gone. No answer can be read.
        raise ApiError(400, "client_disconnected", "The upload was cut off.") from None
    if expected is not None and len(files) != 1:
        for received in files:
            received.writer.abort()
        raise ApiError(400, "bad_sha256", "X-Content-SHA256 needs exactly one file per request.")

    sealed = await run_in_threadpool(_seal, files, expected)
    # A sync's token: each file's answer proves to the logger that the holder of the
    # sync's key has these bytes (store/syncs.py). Other tokens get a null proof.
    ack_key = None
    if token.sync_id is not None:
        ack_key = await run_in_threadpool(syncs.ack_key, state.engine, token.sync_id)
    results: list[dict[str, Any]] = []
    for received, blob in zip(files, sealed, strict=True):
        recorded = await run_in_threadpool(
            functools.partial(
                sessions.record_upload,
                state.engine,
                sha256=blob.sha256,
                size=blob.size,
                filename=received.filename,
                device_id=device_id,
                sync_id=sync_id,
                place=functools.partial(state.blobs.place, blob),
            )
        )
        # An upload-only token (a logger's, for one sync) learns nothing of sessions it
        # did not make: for bytes already stored it hears "duplicate", not whose.
        hidden = recorded.duplicate and token.scope == "upload"
        results.append(
            {
                "filename": received.filename,
                "sha256": blob.sha256,
                "bytes": blob.size,
                "session_id": None if hidden else recorded.session_id,
                "status": None if hidden else recorded.status,
                "duplicate": recorded.duplicate,
                # Computed only now: the file is on disk and its session committed.
                "proof": None
                if ack_key is None
                else syncs.ack_proof(ack_key, blob.sha256, blob.size),
            }
        )
        if not recorded.duplicate:
            state.events.publish(
                {
                    "type": "session",
                    "id": recorded.session_id,
                    "status": "queued",
                    "sync_id": sync_id,
                }
            )
    state.dispatcher.notify()
    all_duplicates = all(r["duplicate"] for r in results)
    return JSONResponse({"files": results}, status_code=200 if all_duplicates else 201)
