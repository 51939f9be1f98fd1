"""POST /api/upload in-process: formats of body, idempotence, hashes, caps, bad input."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .conftest import AUTH

CSV = b"# racesense-csv 1\ntime_ms,lat_deg,lon_deg\n0,52.0,-1.0\n100,52.0001,-1.0\n"


def stored_files(client: TestClient) -> list[Path]:
    root = client.app.state.blobs.root  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file()]


def error_shape(response) -> dict:
    body = response.json()
    assert set(body) == {"ok", "status", "error", "message"}
    assert body["ok"] is False and body["status"] == response.status_code
    assert body["message"].endswith(".")
    return body


def test_raw_upload_then_duplicate(client: TestClient) -> None:
    headers = AUTH | {"Content-Type": "text/csv", "X-Filename": "s1.csv", "X-Device-Id": "RS-1"}
    first = client.post("/api/upload", content=CSV, headers=headers)
    assert first.status_code == 201, first.text
    (item,) = first.json()["files"]
    assert item["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert item == item | {"filename": "s1.csv", "bytes": len(CSV), "duplicate": False}
    assert item["status"] == "queued"
    again = client.post("/api/upload", content=CSV, headers=headers)
    assert again.status_code == 200
    assert again.json()["files"][0] | {"duplicate": False} == item
    assert again.json()["files"][0]["duplicate"] is True
    raw = client.get(f"/api/sessions/{item['session_id']}/raw", headers=AUTH)
    assert raw.content == CSV
    listing = client.get("/api/sessions", headers=AUTH).json()
    assert [s["id"] for s in listing["sessions"]] == [item["session_id"]]
    assert listing["sessions"][0]["device_id"] == "RS-1"
    assert len(response_size := first.content) < 1024, response_size


@pytest.mark.parametrize(
    "content_type", [None, "application/octet-stream", "application/x-www-form-urlencoded"]
)
def test_raw_body_any_content_type_and_generated_name(client: TestClient, content_type) -> None:
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/api/upload?filename=q.csv", content=CSV + b"\n", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["filename"] == "q.csv"
    unnamed = client.post("/api/upload", content=CSV + b"\n\n", headers=headers)
    assert unnamed.json()["files"][0]["filename"].startswith("upload-")


def test_multipart_several_parts_any_field_with_and_without_names(client: TestClient) -> None:
    files = [
        ("file", ("a.csv", CSV, "text/csv")),
        ("other", ("b.csv", CSV + b"\n", None)),
        ("log", (None, CSV + b"\n\n", "application/octet-stream")),
    ]
    response = client.post("/api/upload", files=files, headers=AUTH)
    assert response.status_code == 201, response.text
    got = response.json()["files"]
    assert [f["bytes"] for f in got] == [len(CSV), len(CSV) + 1, len(CSV) + 2]
    assert got[0]["filename"] == "a.csv" and got[1]["filename"] == "b.csv"


def test_multipart_part_without_filename_or_type_is_a_file_when_alone(client: TestClient) -> None:
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'.encode()
        + CSV
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = AUTH | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = client.post("/api/upload", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["bytes"] == len(CSV)


def test_gzip_content_encoding_stores_the_file_itself(client: TestClient) -> None:
    headers = AUTH | {"Content-Encoding": "gzip", "X-Filename": "z.csv"}
    response = client.post("/api/upload", content=gzip.compress(CSV), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["sha256"] == hashlib.sha256(CSV).hexdigest()


def test_sha256_header_verified_and_mismatch_keeps_nothing(client: TestClient) -> None:
    good = AUTH | {"X-Content-SHA256": hashlib.sha256(CSV).hexdigest().upper()}
    assert client.post("/api/upload", content=CSV, headers=good).status_code == 201
    before = stored_files(client)
    bad = AUTH | {"X-Content-SHA256": "0" * 64}
    response = client.post("/api/upload", content=CSV + b"x", headers=bad)
    assert response.status_code == 422
    assert error_shape(response)["error"] == "sha256_mismatch"
    assert stored_files(client) == before
    assert client.get("/api/sessions", headers=AUTH).json()["total"] == 1


def test_tokens_are_checked_before_the_body(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = client.post("/api/upload", content=CSV, headers=headers)
        assert response.status_code == 401
        assert error_shape(response)["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/sessions").status_code == 401
    assert client.get("/api/health").status_code == 200
    assert stored_files(client) == []


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "..\\..\\win.ini", "a/b.csv", "..", "x\x00.csv"]
)
def test_path_traversal_filenames_are_refused(client: TestClient, name: str) -> None:
    raw = client.post("/api/upload", content=CSV, headers=AUTH | {"X-Filename": name})
    assert raw.status_code == 400 and error_shape(raw)["error"] == "bad_filename"
    if name.isprintable():  # the client percent-encodes control characters itself
        multipart = client.post("/api/upload", files={"f": (name, CSV, "text/csv")}, headers=AUTH)
        assert multipart.status_code == 400
    assert stored_files(client) == []


def test_size_cap_from_content_length_and_from_gzip(app_factory) -> None:
    client = app_factory(max_upload_bytes=64 * 1024)
    big = client.post("/api/upload", content=b"x" * (65 * 1024), headers=AUTH)
    assert big.status_code == 413 and error_shape(big)["error"] == "too_large"
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))
    response = client.post("/api/upload", content=bomb, headers=AUTH | {"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert stored_files(client) == []
    assert client.get("/api/health").json()["ok"] is True


@pytest.mark.parametrize(
    "body",
    [
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.csv"\r\n\r\nabc',
        b"this is not multipart at all",
        b"--XyZ\r\ngarbage header line without colon\r\n\r\ndata\r\n--XyZ--\r\n",
    ],
)
def test_garbage_multipart_is_a_clear_400(client: TestClient, body: bytes) -> None:
    headers = AUTH | {"Content-Type": "multipart/form-data; boundary=XyZ"}
    response = client.post("/api/upload", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert error_shape(response)["error"] in ("bad_multipart", "no_file")
    assert stored_files(client) == []


def test_corrupt_gzip_is_a_clear_400(client: TestClient) -> None:
    response = client.post(
        "/api/upload", content=b"\x1f\x8bnot gzip", headers=AUTH | {"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400 and error_shape(response)["error"] == "bad_gzip"


@pytest.mark.parametrize("as_multipart", [False, True])
def test_hashing_and_writing_happen_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, as_multipart: bool
) -> None:
    """An upload's bytes are hashed and written in worker threads: the event loop, which
    serves every other request, never does that work."""
    from racesense.store.blobs import BlobWriter

    on_loop: list[bool] = []
    write = BlobWriter.write

    def recording_write(self: BlobWriter, data: bytes | memoryview) -> None:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # no loop runs in this thread
            on_loop.append(False)
        write(self, data)

    monkeypatch.setattr(BlobWriter, "write", recording_write)
    body = b"0123456789abcdef" * (3 * 65536)  # 3 MiB: several batches
    if as_multipart:
        response = client.post("/api/upload", files={"file": ("big.csv", body)}, headers=AUTH)
    else:
        response = client.post("/api/upload", content=body, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["bytes"] == len(body)
    assert on_loop and not any(on_loop)


def test_delete_racing_an_upload_of_the_same_bytes_keeps_the_file(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bytes are uploaded again while their session is being deleted: the
    upload that is acknowledged keeps its raw file."""
    from racesense.store import sessions

    first = client.post("/api/upload", content=CSV, headers=AUTH).json()["files"][0]
    record = sessions.record_upload
    state = client.app.state  # type: ignore[attr-defined]

    def delete_first_then_record(*args, **kwargs):  # the delete lands in the window
        assert sessions.delete_session(state.engine, state.blobs, first["session_id"])
        return record(*args, **kwargs)

    monkeypatch.setattr(sessions, "record_upload", delete_first_then_record)
    again = client.post("/api/upload", content=CSV, headers=AUTH)
    assert again.status_code == 201 and again.json()["files"][0]["duplicate"] is False
    session_id = again.json()["files"][0]["session_id"]
    raw = client.get(f"/api/sessions/{session_id}/raw", headers=AUTH)
    assert raw.status_code == 200 and raw.content == CSV


def test_raw_files_no_session_refers_to_are_swept_when_old(client: TestClient) -> None:
    from racesense.store import sessions

    state = client.app.state  # type: ignore[attr-defined]
    kept = client.post("/api/upload", content=CSV, headers=AUTH).json()["files"][0]
    orphan = state.blobs.put(b"an upload that died before its session was committed")
    assert sessions.sweep_unreferenced(state.engine, state.blobs, min_age_s=3600) == 0  # young
    assert sessions.sweep_unreferenced(state.engine, state.blobs, min_age_s=-1) == 1
    assert not orphan.path.exists() and state.blobs.exists(kept["sha256"])


def test_every_member_of_a_multi_member_gzip_is_stored(client: TestClient) -> None:
    """`cat a.csv.gz b.csv.gz` is one valid gzip stream of two members: all of it is the
    file, not just the first member."""
    half = len(CSV) // 2
    body = gzip.compress(CSV[:half]) + gzip.compress(CSV[half:])
    headers = AUTH | {"Content-Encoding": "gzip"}
    response = client.post("/api/upload", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["sha256"] == hashlib.sha256(CSV).hexdigest()


def test_data_after_the_gzip_end_is_refused(client: TestClient) -> None:
    headers = AUTH | {"Content-Encoding": "gzip"}
    response = client.post("/api/upload", content=gzip.compress(CSV) + b"junk", headers=headers)
    assert response.status_code == 400 and error_shape(response)["error"] == "bad_gzip"
    assert stored_files(client) == []


def test_a_gzip_bomb_is_stopped_before_it_inflates(app_factory) -> None:
    """200 MB of zeros, 200 KB compressed, against a 4 MB cap: refused after at most a
    step of inflation, not after inflating the whole chunk in memory."""
    import tracemalloc

    client = app_factory(max_upload_bytes=4 * 1024 * 1024)
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    response = client.post("/api/upload", content=bomb, headers=AUTH | {"Content-Encoding": "gzip"})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("name", ["Brno–Masaryk.csv", "鈴鹿.csv", "Nürburgring.csv"])
def test_file_names_beyond_latin1_are_kept_as_sent(client: TestClient, name: str) -> None:
    body = name.encode() + b"\n" + CSV  # distinct bytes per name
    multipart = client.post("/api/upload", files={"f": (name, body, "text/csv")}, headers=AUTH)
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["files"][0]["filename"] == name
    raw = client.post(
        "/api/upload", content=body + b"#", headers=AUTH | {"X-Filename": name.encode()}
    )
    assert raw.status_code == 201 and raw.json()["files"][0]["filename"] == name
    session_id = raw.json()["files"][0]["session_id"]
    listed = client.get(f"/api/sessions/{session_id}", headers=AUTH).json()
    assert listed["session"]["filename"] == name


def test_too_many_parts_is_a_413_and_keeps_nothing(client: TestClient) -> None:
    files = [("f", (f"{i}.csv", CSV + str(i).encode(), "text/csv")) for i in range(150)]
    response = client.post("/api/upload", files=files, headers=AUTH)
    assert response.status_code == 413 and error_shape(response)["error"] == "too_many_parts"
    assert stored_files(client) == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions?offset=9223372036854775808",
        "/api/sessions?limit=99999999999999999999",
        "/api/sessions/x/laps/100000000000000000000/trace",
        "/api/sessions/x/laps/-1/trace",
    ],
)
def test_numbers_out_of_range_are_422_not_500(client: TestClient, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 422 and error_shape(response)["error"] == "invalid"
