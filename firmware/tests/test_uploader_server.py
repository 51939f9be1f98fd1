# cpython-only: starts `racesense serve` and a CPython TLS server (mpy_run.py skips it)
"""End to end: the firmware's uploader and sync against the real backend and real TLS.

- A `racesense serve` subprocess on a free 127.0.0.1 port (as tests/web/test_server_socket.py
  starts it), with RACESENSE_API_TOKEN and a temporary --data-dir; the uploader posts a
  real RS-Core CSV file to it, from CPython and from the MicroPython unix port.
- A whole sync (Wi-Fi stand-in, real storage, real uploader) against a sync the backend
  handed out, its report included.
- TLS: a CPython TLS server with a fresh self-signed certificate; the pin is checked by
  CPython's ssl and by MicroPython's mbedtls (`getpeercert(True)`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_test_server import LoopbackResolver, ScriptedServer
from sync_fakes import FakeWLAN, Network, Notes

import mpy_subprocess
from board.net import SocketNet
from clock import SystemClock
from racesense import devserver
from storage import Storage
from sync import Sync
from uploader import Uploader, UploadError

ADMIN = "fw-e2e-admin-token-7c1d"
TESTS = Path(__file__).resolve().parent


# -- the backend ----------------------------------------------------------------------------


class Backend:
    def __init__(self, port: int, data_dir: Path, proc: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.data_dir = data_dir
        self.proc = proc

    def call(self, method: str, path: str, body: Any = None, token: str = ADMIN) -> Any:
        payload = b"" if body is None else json.dumps(body).encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            head = (
                f"{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            s.sendall(head.encode() + payload)
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        head_bytes, _, body_bytes = raw.partition(b"\r\n\r\n")
        status = int(head_bytes.split()[1])
        return status, json.loads(body_bytes) if body_bytes else None


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data_dir = tmp_path_factory.mktemp("serve")
    env = {"RACESENSE_API_TOKEN": ADMIN, "RACESENSE_BODY_TIMEOUT_S": "5"}
    with devserver.running(data_dir, env) as (proc, port):
        yield Backend(port, data_dir, proc)


def rscore_csv(rows: int, label: str) -> bytes:
    """An RS-Core CSV v1 session (docs/formats.md): a car circling at about 100 km/h."""
    start = dt.datetime(2026, 2, 14, 9, 30, tzinfo=dt.UTC)
    lines = [
        "# racesense-csv 1",
        "# device_id=RS-Core-7F3A",
        "# firmware=0.1.0",
        f"# session_start_utc={start.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}",
        f"# note={label}-{time.monotonic_ns()}",
        "time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps",
    ]
    import math

    for i in range(rows):
        angle = i * 0.01
        lat = 52.0693210 + 0.002 * math.sin(angle)
        lon = -1.0221960 + 0.003 * math.cos(angle)
        heading = (math.degrees(angle) + 90) % 360
        lines.append(
            f"{i * 100},{lat:.7f},{lon:.7f},153.2,100.0,{heading:.1f},14,0.7,0.01,0.40,1.00,5.7"
        )
    return ("\n".join(lines) + "\n").encode()


def _uploader(port: int, token: str, sync_id: str | None = None, **options: Any) -> Uploader:
    up = Uploader(
        SocketNet(socket, ssl_mod=ssl, getaddrinfo=LoopbackResolver(fail=("pit-laptop.local",))),
        SystemClock(),
        device_id="RS-Core-7F3A",
        backoff_ms=50,
        log=lambda message: None,
        **options,
    )
    up.configure(
        f"http://pit-laptop.local:{port}/api/upload",
        token,
        sync_id=sync_id,
        ip_fallback="127.0.0.1",
    )
    return up


# -- uploads to the real backend ------------------------------------------------------------


def test_uploader_posts_an_rscore_file_and_the_backend_echoes_its_hash(
    backend: Backend, tmp_path: Path
) -> None:
    data = rscore_csv(3000, "e2e")
    path = tmp_path / "20260214-093000.csv"
    path.write_bytes(data)
    up = _uploader(backend.port, ADMIN)
    result = asyncio.run(up.upload(str(path)))
    assert result["status"] == 201
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["bytes"] == len(data) and not result["duplicate"]
    status, session = backend.call("GET", f"/api/sessions/{result['session_id']}")
    assert status == 200, session
    stored = backend.data_dir / "raw" / result["sha256"][:2] / result["sha256"]
    assert stored.read_bytes() == data

    again = asyncio.run(up.upload(str(path)))
    assert again["status"] == 200 and again["duplicate"]
    assert again["session_id"] == result["session_id"]


def test_wrong_token_is_e_http_401_even_mid_body(backend: Backend, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(rscore_csv(60000, "denied"))  # ~4 MB: refused before it is all sent
    up = _uploader(backend.port, "not-a-token")
    with pytest.raises(UploadError) as caught:
        asyncio.run(up.upload(str(path)))
    assert caught.value.code == "E_HTTP" and caught.value.status == 401, caught.value.detail


class SyncRig:
    """A sync the backend handed out, a card holding files, and the firmware's Sync over
    the Wi-Fi stand-in, the real storage and the real uploader."""

    def __init__(
        self,
        backend: Backend,
        tmp_path: Path,
        files: dict[str, bytes],
        resolver: LoopbackResolver,
        **uploader_options: Any,
    ) -> None:
        status, self.created = backend.call("POST", "/api/syncs", {"device_id": "RS-Core-7F3A"})
        assert status == 201, self.created
        root = tmp_path / "sd"
        root.mkdir()
        for name, data in files.items():
            (root / name).write_bytes(data)
        self.files = files
        clock = SystemClock()
        self.wlan = FakeWLAN(clock, [Network("pit")], assoc_ms=20, dhcp_ms=20, scan_ms=0)
        uploader = Uploader(
            SocketNet(socket, getaddrinfo=resolver),
            clock,
            device_id="RS-Core-7F3A",
            log=lambda message: None,
            **uploader_options,
        )
        self.storage = Storage(str(root))
        self.notes = Notes()
        self.sync = Sync(
            self.wlan,
            uploader,
            self.storage,
            clock,
            self.notes,
            join_stable_ms=100,
            log=lambda m: None,
        )

    def run(self, url: str, ip_fallback: str | None = None) -> dict[str, Any]:
        """The phone's sync request (as rs_request reads the decrypted JSON), run whole."""
        import rs_request

        phone_json = {
            "ssid": "pit",
            "password": "secret",
            "url": url,
            "token": self.created["token"],
            "sync_id": self.created["sync_id"],
            "time_utc": 1771063200,
            "ack_key": self.created["ack_key"],
        }
        if ip_fallback:
            phone_json["ip_fallback"] = ip_fallback
        request = rs_request.sync_request(json.dumps(phone_json).encode())
        final: dict[str, Any] = asyncio.run(self.sync.run(request))
        return final


def test_whole_sync_against_a_sync_the_backend_handed_out(backend: Backend, tmp_path: Path) -> None:
    """From the phone's sync request through the sync to real uploads by the laptop's IP
    (the `.local` name does not resolve), each acknowledged with the backend's proof of
    the sync's ack_key."""
    files = {f"20260214-09{i:02d}00.csv": rscore_csv(500 + 100 * i, f"sync{i}") for i in range(3)}
    resolver = LoopbackResolver(fail=("pit-laptop.local",))
    rig = SyncRig(backend, tmp_path, files, resolver)
    final = rig.run(
        f"http://pit-laptop.local:{backend.port}/api/upload",
        ip_fallback=f"http://127.0.0.1:{backend.port}/api/upload",
    )
    assert final["state"] == "done", final
    assert final["files_sent"] == 3
    assert final["bytes"] == sum(len(d) for d in files.values())
    assert rig.notes.states() == [
        "request_received",
        "scanning",
        "joining",
        "joined",
        "uploading",
        "done",
    ]
    assert rig.storage.pending() == []
    assert not rig.wlan.is_active
    assert resolver.calls[0] == "pit-laptop.local" and "127.0.0.1" in resolver.calls

    status, record = backend.call("GET", f"/api/syncs/{rig.created['sync_id']}")
    assert status == 200, record
    assert len(record["files"]) == 3
    report = record["report"]
    assert report["files_sent"] == 3 and report["bytes_sent"] == final["bytes"]
    assert report["duplicates"] == 0
    assert report["phases_ms"] == {k: float(v) for k, v in final["phases_ms"].items()}


def test_micropython_uploader_against_the_backend(backend: Backend, tmp_path: Path) -> None:
    data = rscore_csv(2000, "mpy")
    (tmp_path / "s.csv").write_bytes(data)
    script = tmp_path / "upload_once.py"
    script.write_text(
        "import asyncio, socket, sys\n"
        "from board.net import SocketNet\n"
        "from clock import SystemClock\n"
        "from uploader import Uploader\n"
        "up = Uploader(SocketNet(socket), SystemClock(), device_id='RS-Core-7F3A')\n"
        f"up.configure('http://127.0.0.1:{backend.port}/api/upload', '{ADMIN}')\n"
        "r = asyncio.run(up.upload('s.csv'))\n"
        "print('RESULT', r['status'], r['sha256'], r['bytes'])\n"
    )
    out = _micropython(script, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
    assert line.split()[1:] == ["201", hashlib.sha256(data).hexdigest(), str(len(data))]


# -- gzip ------------------------------------------------------------------------------------


def test_gzip_upload_is_stored_as_the_file_on_the_card(backend: Backend, tmp_path: Path) -> None:
    """Content-Encoding gzip in HTTP/1.1 chunks (devicesim's zlib stand-in for a board
    that can compress): the backend keeps the file's own bytes under the file's hash."""
    from racesense.devicesim import deflate as standin

    data = rscore_csv(20000, "gzip")
    path = tmp_path / "20260214-100000.csv"
    path.write_bytes(data)
    up = _uploader(backend.port, ADMIN, deflate=standin.module(None), compress="on")
    result = asyncio.run(up.upload(str(path)))
    assert result["status"] == 201 and result["encoding"] == "gzip"
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["bytes"] == len(data)
    assert result["wire_bytes"] < len(data) / 2  # CSV rows compress well
    stored = backend.data_dir / "raw" / result["sha256"][:2] / result["sha256"]
    assert stored.read_bytes() == data
    # Measured on the way: the link (bytes over time not spent compressing), the ratio.
    assert up.pace.ratio == len(data) / result["wire_bytes"]
    assert up.pace.deflate_bytes_per_ms is not None
    # The link is measured only if it, not the compressor, set the pace (gzip_body.Pace).
    assert (up.pace.link_bytes_per_ms is not None) != (up.pace.gzip_unmeasured == 1)


def test_auto_chooses_gzip_on_a_slow_link_and_identity_on_a_fast_one(
    backend: Backend, tmp_path: Path
) -> None:
    """What the logger measured decides: the same file, the same compressor (100 KB/s),
    a link it last saw at 20 KB/s, then at 2.5 MB/s."""
    from gzip_body import Pace
    from racesense.devicesim import deflate as standin

    data = rscore_csv(6000, "auto")
    path = tmp_path / "20260214-110000.csv"
    path.write_bytes(data)
    chosen = []
    for link_bytes_per_ms in (20.0, 2500.0):
        pace = Pace()
        pace.link_bytes_per_ms = link_bytes_per_ms
        up = _uploader(
            backend.port, ADMIN, deflate=standin.module(100_000), compress="auto", pace=pace
        )
        result = asyncio.run(up.upload(str(path)))
        assert result["sha256"] == hashlib.sha256(data).hexdigest()
        assert pace.ratio is not None and pace.ratio > 1.5  # probed on the first 4 KB
        chosen.append(result["encoding"])
    assert chosen == ["gzip", "identity"]


def test_auto_without_a_measured_link_sends_identity_and_measures_it(
    backend: Backend, tmp_path: Path
) -> None:
    from racesense.devicesim import deflate as standin

    data = rscore_csv(3000, "first")
    path = tmp_path / "20260214-120000.csv"
    path.write_bytes(data)
    up = _uploader(backend.port, ADMIN, deflate=standin.module(None))
    assert asyncio.run(up.upload(str(path)))["encoding"] == "identity"
    assert up.pace.link_bytes_per_ms is not None  # the next file can choose


def test_whole_sync_in_gzip_reports_the_wire_bytes(backend: Backend, tmp_path: Path) -> None:
    from racesense.devicesim import deflate as standin

    files = {f"20260214-13{i:02d}00.csv": rscore_csv(3000 + 500 * i, f"gz{i}") for i in range(2)}
    rig = SyncRig(
        backend,
        tmp_path,
        files,
        LoopbackResolver(),
        deflate=standin.module(None),
        compress="on",
    )
    final = rig.run(f"http://127.0.0.1:{backend.port}/api/upload")
    assert final["state"] == "done" and final["files_sent"] == 2, final
    assert rig.storage.pending() == []  # each acknowledged with the sync's proof
    status, record = backend.call("GET", f"/api/syncs/{rig.created['sync_id']}")
    assert status == 200, record
    report = record["report"]
    assert report["encoding"] == "gzip"
    assert report["bytes_sent"] == sum(len(d) for d in files.values())
    assert 0 < report["wire_bytes"] < report["bytes_sent"] / 2
    for data in files.values():
        sha = hashlib.sha256(data).hexdigest()
        assert (backend.data_dir / "raw" / sha[:2] / sha).read_bytes() == data


def test_micropython_gzip_chunks_against_the_backend(backend: Backend, tmp_path: Path) -> None:
    """The chunk and gzip framing from the real MicroPython: its build cannot compress,
    so a stand-in writes stored blocks (stubs/deflate_stored.py); the backend inflates."""
    data = rscore_csv(3000, "mpy-gzip")
    (tmp_path / "s.csv").write_bytes(data)
    script = tmp_path / "upload_gzip.py"
    script.write_text(
        "import asyncio, socket\n"
        "import deflate_stored\n"
        "from board.net import SocketNet\n"
        "from clock import SystemClock\n"
        "from uploader import Uploader\n"
        "up = Uploader(SocketNet(socket), SystemClock(), device_id='RS-Core-7F3A',\n"
        "              deflate=deflate_stored, compress='on')\n"
        f"up.configure('http://127.0.0.1:{backend.port}/api/upload', '{ADMIN}')\n"
        "r = asyncio.run(up.upload('s.csv'))\n"
        "print('RESULT', r['status'], r['sha256'], r['bytes'], r['encoding'], r['wire_bytes'])\n"
    )
    out = _micropython(script, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1].split()
    sha = hashlib.sha256(data).hexdigest()
    assert line[1:5] == ["201", sha, str(len(data)), "gzip"]
    assert int(line[5]) > len(data)  # stored blocks: the framing, no compression
    assert (backend.data_dir / "raw" / sha[:2] / sha).read_bytes() == data


# -- TLS with a pinned certificate ----------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedServer, str]]:
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pit-laptop.local")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    pin = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    server = ScriptedServer(tls_context=context)
    server.start()
    yield server, pin
    server.stop()


def _tls_uploader(port: int, pin: str) -> Uploader:
    up = Uploader(
        SocketNet(
            socket,
            ssl_mod=ssl,
            getaddrinfo=LoopbackResolver(names={"pit-laptop.local": "127.0.0.1"}),
        ),
        SystemClock(),
        log=lambda message: None,
    )
    up.configure(f"https://pit-laptop.local:{port}/api/upload", ADMIN, cert_sha256=pin)
    return up


def test_tls_with_the_pinned_certificate(
    tls_server: tuple[ScriptedServer, str], tmp_path: Path
) -> None:
    server, pin = tls_server
    data = rscore_csv(1000, "tls")
    (tmp_path / "t.csv").write_bytes(data)
    result = asyncio.run(_tls_uploader(server.port, pin).upload(str(tmp_path / "t.csv")))
    assert result["sha256"] == hashlib.sha256(data).hexdigest()


def test_tls_with_another_certificate_is_e_tls_pin(
    tls_server: tuple[ScriptedServer, str], tmp_path: Path
) -> None:
    server, _pin = tls_server
    (tmp_path / "t.csv").write_bytes(b"x")
    before = len(server.requests)
    with pytest.raises(UploadError) as caught:
        asyncio.run(_tls_uploader(server.port, "00" * 32).upload(str(tmp_path / "t.csv")))
    assert caught.value.code == "E_TLS_PIN"
    time.sleep(0.2)
    assert all("headers" not in r for r in server.requests[before:])  # no token sent


def test_tls_pin_under_micropython(tls_server: tuple[ScriptedServer, str], tmp_path: Path) -> None:
    """mbedtls completes the handshake with the CPython server; the pin is then checked
    with getpeercert(True) where the build keeps the peer certificate (ESP-IDF's default).
    The unix port's build does not: there the uploader must refuse, never trust blindly."""
    server, pin = tls_server
    (tmp_path / "t.csv").write_bytes(rscore_csv(500, "mpy-tls"))
    script = tmp_path / "tls_once.py"
    script.write_text(
        "import asyncio, socket, ssl\n"
        "from board.net import SocketNet\n"
        "from clock import SystemClock\n"
        "from uploader import Uploader, UploadError\n"
        "for pin in (" + repr(pin) + ", '00' * 32):\n"
        "    net = SocketNet(socket, ssl_mod=ssl)\n"
        "    up = Uploader(net, SystemClock(), log=lambda m: None)\n"
        f"    up.configure('https://127.0.0.1:{server.port}/api/upload', 'tok', cert_sha256=pin)\n"
        "    try:\n"
        "        r = asyncio.run(up.upload('t.csv'))\n"
        "        print('RESULT ok', r['status'])\n"
        "    except UploadError as e:\n"
        "        print('RESULT', e.code, e.detail)\n"
    )
    before = len(server.requests)
    out = _micropython(script, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    results = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    unreadable = "RESULT E_TLS_PIN this build cannot read the server certificate"
    if results[0] == unreadable:
        print("MicroPython unix port: no getpeercert in this build; the pin fails closed")
        assert results == [unreadable, unreadable], out.stdout
        time.sleep(0.2)
        assert all("headers" not in r for r in server.requests[before:])  # no token sent
    else:
        assert results[0] == "RESULT ok 201", out.stdout + out.stderr
        assert results[1].startswith("RESULT E_TLS_PIN the server certificate is not"), results


def _micropython(script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return mpy_subprocess.run([str(script)], cwd)


def test_a_sync_with_the_wrong_ack_key_marks_nothing(backend: Backend, tmp_path: Path) -> None:
    """The real backend's answers do not prove another key: files stay pending."""
    status, created = backend.call("POST", "/api/syncs", {"device_id": "RS-Core-7F3A"})
    assert status == 201, created
    root = tmp_path / "sd"
    root.mkdir()
    (root / "20260214-100000.csv").write_bytes(rscore_csv(300, "wrong-key"))
    clock = SystemClock()
    wlan = FakeWLAN(clock, [Network("pit")], assoc_ms=20, dhcp_ms=20, scan_ms=0)
    uploader = Uploader(
        SocketNet(socket, getaddrinfo=LoopbackResolver()), clock, log=lambda message: None
    )
    storage = Storage(str(root))
    sync = Sync(wlan, uploader, storage, clock, Notes(), join_stable_ms=100, log=lambda m: None)
    request = {
        "ssid": "pit",
        "password": "secret",
        "url": f"http://127.0.0.1:{backend.port}/api/upload",
        "token": created["token"],
        "sync_id": created["sync_id"],
        "ack_key": "A" * 43,  # 32 zero bytes: not this sync's key
    }
    final = asyncio.run(sync.run(request))
    assert final["state"] == "failed", final
    assert final["error"] == "E_SERVER_PROOF"
    assert len(storage.pending()) == 1
