"""The laptop's answer to one upload, read and judged: what makes a file count as sent.

    parse_reply(raw)          -> (status, JSON body or None); status 0 if not HTTP at all
    content_length(head)      -> the Content-Length of a reply head, or None
    check_reply(status, reply, sha256, size, ack_key)
                              -> the upload's result, or UploadError saying why not

No I/O: the uploader reads the bytes (net_conn), this decides. A file is acknowledged
only when the reply echoes its SHA-256 and, for a sync (ack_key), proves it with the
sync's secret (upload_proof): any host on the hotspot can echo a hash.
"""

import json

from net_conn import UploadError
from rs_protocol import E_HTTP, E_SERVER_HASH, E_SERVER_PROOF
from upload_proof import ack_proof, equal_ct

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_STATUS_UNAUTHORIZED = const(401)


def parse_reply(raw):
    """(status, JSON body or None); status 0 when it is not HTTP at all."""
    end = raw.find(b"\r\n\r\n")
    head = raw if end < 0 else raw[:end]
    first_line = head.split(b"\r\n", 1)[0]
    parts = first_line.split(None, 2)
    if end < 0 or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return 0, None
    status = int(parts[1])
    body = raw[end + 4 :]
    length = content_length(head)
    if length is not None:
        body = body[:length]
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None


def content_length(head):
    """The Content-Length of a reply head (bytes), or None if absent or not a number."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


def check_reply(status, reply, sha256, size, ack_key=None):
    """The upload's result ({sha256, bytes, duplicate, status, session_id, proven}) if the
    reply acknowledges this file, else UploadError: E_HTTP (with the status), E_SERVER_HASH
    (another hash, or none), E_SERVER_PROOF (no or a wrong proof: final, not retried)."""
    if status == _STATUS_UNAUTHORIZED:
        # An upload token is short-lived: one that expired halfway through a backlog
        # needs a fresh one from the laptop (a new sync), not another attempt. The
        # phone tells it by http_status 401 on E_HTTP (docs/ble-protocol.md).
        raise UploadError(
            E_HTTP,
            "HTTP 401: the upload token was refused (expired?): start the sync again"
            " for a fresh token",
            status,
        )
    if status not in (200, 201):
        detail = "HTTP " + str(status)
        if isinstance(reply, dict) and reply.get("error"):
            detail += " " + str(reply.get("error"))
        elif status == 0:
            detail = "not an HTTP reply"
        raise UploadError(E_HTTP, detail, status)
    first = None
    if isinstance(reply, dict) and isinstance(reply.get("files"), list) and reply["files"]:
        first = reply["files"][0]
    echoed = first.get("sha256") if isinstance(first, dict) else None
    if echoed != sha256:
        raise UploadError(
            E_SERVER_HASH, "sent " + sha256 + ", the server answered " + str(echoed), status
        )
    proven = False
    if ack_key is not None:
        proof = first.get("proof")
        expected = ack_proof(ack_key, sha256, size)
        if not isinstance(proof, str) or not equal_ct(proof.lower(), expected):
            error = UploadError(
                E_SERVER_PROOF,
                "the reply for "
                + sha256[:12]
                + " has "
                + ("no proof" if proof is None else "a wrong proof")
                + " of the sync's key: not our laptop, or a backend that predates it",
                status,
            )
            error.final = True  # the same server will not know the key next time
            raise error
        proven = True
    return {
        "sha256": sha256,
        "bytes": size,
        "duplicate": bool(first.get("duplicate")),
        "status": status,
        "session_id": first.get("session_id"),
        "proven": proven,
    }
