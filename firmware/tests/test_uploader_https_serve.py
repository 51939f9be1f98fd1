# cpython-only: a real `racesense serve` with https and upload-only ports (mpy_run skips it)
"""The logger's two ways into the laptop, against a real `racesense serve --tls on`:

- https with the pin of the server's certificate (`cert_sha256` of POST /api/syncs), from
  CPython's ssl and from MicroPython's mbedtls where the build can show the peer
  certificate; a wrong pin is refused before a byte of the request is sent;
- the upload-only plain listener: a sync's token uploads, everything else is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import mpy_subprocess
from board.net import SocketNet
from clock import SystemClock
from racesense import devserver
from uploader import Uploader, UploadError

ADMIN = "fw-https-admin-token-5e2a"
TESTS = Path(__file__).resolve().parent
CSV = (
    b"# racesense-csv 1\n# device_id=RS-Core-7F3A\n"
    b"# session_start_utc=2026-02-14T09:30:00.000Z\n"
    b"time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps\n"
)


@dataclass
class Laptop:
    data_dir: Path
    plain_port: int
    https_port: int
    upload_port: int
    ca_pem: Path

    def https(self, path: str, body: Any = None, token: str = ADMIN) -> httpx.Response:
        with httpx.Client(verify=ssl.create_default_context(cafile=self.ca_pem)) as client:
            url = f"https://127.0.0.1:{self.https_port}{path}"
            headers = {"Authorization": f"Bearer {token}"}
            if body is None:
                return client.get(url, headers=headers)
            return client.post(url, json=body, headers=headers)

    def sync(self) -> dict[str, Any]:
        response = self.https("/api/syncs", {"device_id": "RS-Core-7F3A"})
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Laptop]:
    data_dir = tmp_path_factory.mktemp("https-serve")
    https_port, upload_port = devserver.free_port(), devserver.free_port()
    env = {"RACESENSE_API_TOKEN": ADMIN, "RACESENSE_UPLOAD_HOST": "127.0.0.1"}
    env["RACESENSE_MDNS"] = "off"
    args = ["--tls", "on", "--https-port", str(https_port), "--upload-port", str(upload_port)]
    with devserver.running(data_dir, env, args=args) as (_proc, port):
        ca_pem = data_dir / "ca.pem"
        ca_pem.write_bytes((data_dir / "tls" / "ca.crt").read_bytes())
        yield Laptop(data_dir, port, https_port, upload_port, ca_pem)


def _file(tmp_path: Path, label: str) -> Path:
    path = tmp_path / f"{label}.csv"
    path.write_bytes(CSV + f"0,52.0,-1.0,100,10,0,9,0.8,0,0,1,0 # {label}\n".encode())
    return path


def _uploader(url: str, sync: dict[str, Any], pin: str | None) -> Uploader:
    up = Uploader(SocketNet(socket, ssl_mod=ssl), SystemClock(), log=lambda m: None)
    up.configure(url, sync["token"], sync_id=sync["sync_id"], cert_sha256=pin, ack_key=_key(sync))
    return up


def _key(sync: dict[str, Any]) -> bytes:
    import base64

    text = sync["ack_key"]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_client_trusting_the_ca_is_served_and_one_without_it_is_refused(
    laptop: Laptop,
) -> None:
    assert laptop.https("/api/health").json()["ok"] is True  # httpx, verifying with the CA
    with httpx.Client() as stranger, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        stranger.get(f"https://127.0.0.1:{laptop.https_port}/api/health")


def test_the_sync_names_https_with_the_certificates_pin_and_the_plain_port(
    laptop: Laptop,
) -> None:
    sync = laptop.sync()
    assert sync["upload_url"] == f"https://127.0.0.1:{laptop.https_port}/api/upload"
    assert sync["plain_upload_url"] == f"http://127.0.0.1:{laptop.upload_port}/api/upload"
    # The pin is the certificate the server presents.
    der = ssl.get_server_certificate(("127.0.0.1", laptop.https_port))
    assert sync["cert_sha256"] == hashlib.sha256(ssl.PEM_cert_to_DER_cert(der)).hexdigest()


def test_https_with_the_right_pin_uploads_and_a_wrong_one_sends_nothing(
    laptop: Laptop, tmp_path: Path
) -> None:
    sync = laptop.sync()
    path = _file(tmp_path, "https-right")
    result = asyncio.run(_uploader(sync["upload_url"], sync, sync["cert_sha256"]).upload(str(path)))
    assert (
        result["status"] == 201
        and result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    other = _file(tmp_path, "https-wrong")
    with pytest.raises(UploadError) as caught:
        asyncio.run(_uploader(sync["upload_url"], sync, "00" * 32).upload(str(other)))
    assert caught.value.code == "E_TLS_PIN"
    files = laptop.https(f"/api/syncs/{sync['sync_id']}").json()["files"]
    assert [f["sha256"] for f in files] == [result["sha256"]]  # the refused one never arrived


def test_the_upload_only_listener_takes_a_syncs_upload_and_nothing_else(
    laptop: Laptop, tmp_path: Path
) -> None:
    sync = laptop.sync()
    path = _file(tmp_path, "plain")
    up = _uploader(sync["plain_upload_url"], sync, None)
    result = asyncio.run(up.upload(str(path)))
    # The uploader returned only because the laptop's proof (keyed by ack_key) checked.
    assert result["status"] == 201
    files = laptop.https(f"/api/syncs/{sync['sync_id']}").json()["files"]
    assert [f["sha256"] for f in files] == [result["sha256"]]
    base = f"http://127.0.0.1:{laptop.upload_port}"
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client() as client:
        for method, route in [
            ("GET", "/"),
            ("GET", "/api/health"),
            ("GET", "/api/sessions"),
            ("POST", "/api/syncs"),
            ("GET", f"/api/syncs/{sync['sync_id']}"),
            ("POST", f"/api/syncs/{sync['sync_id']}/report"),
            ("GET", "/api/upload"),
            ("GET", "/setup"),
        ]:
            response = client.request(method, base + route, headers=auth, json={})
            assert response.status_code == 404, (method, route, response.text)
            assert response.json()["error"] == "not_found"
        # Even the admin token cannot upload here: only a logger's sync token.
        refused = client.post(base + "/api/upload", headers=auth, content=b"x")
    assert refused.status_code == 403 and refused.json()["error"] == "sync_token_only"


def test_the_pin_under_micropython_against_the_real_server(laptop: Laptop, tmp_path: Path) -> None:
    """mbedtls against the server's real certificate: the right pin uploads where the
    build can show the certificate, else the uploader refuses (never trusts blindly)."""
    sync = laptop.sync()
    (tmp_path / "t.csv").write_bytes(CSV + b"0,52,-1,100,10,0,9,0.8,0,0,1,0 # mpy\n")
    script = tmp_path / "https_once.py"
    script.write_text(
        "import asyncio, socket, ssl, binascii\n"
        "from board.net import SocketNet\n"
        "from clock import SystemClock\n"
        "from uploader import Uploader, UploadError\n"
        f"sync = {sync!r}\n"
        "key = binascii.a2b_base64(sync['ack_key'].replace('-', '+').replace('_', '/') + '=')\n"
        "for pin in (sync['cert_sha256'], '00' * 32):\n"
        "    up = Uploader(SocketNet(socket, ssl_mod=ssl), SystemClock(), log=lambda m: None)\n"
        "    up.configure(sync['upload_url'], sync['token'], sync_id=sync['sync_id'],\n"
        "                 cert_sha256=pin, ack_key=key)\n"
        "    try:\n"
        "        r = asyncio.run(up.upload('t.csv'))\n"
        "        print('RESULT ok', r['status'])\n"
        "    except UploadError as e:\n"
        "        print('RESULT', e.code, e.detail)\n"
    )
    out = _micropython(script, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    results = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    unreadable = "RESULT E_TLS_PIN this build cannot read the server certificate"
    if results[0] == unreadable:
        assert results == [unreadable, unreadable], out.stdout
    else:
        assert results[0] == "RESULT ok 201", out.stdout + out.stderr
        assert results[1].startswith("RESULT E_TLS_PIN the server certificate is not"), results


def _micropython(script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return mpy_subprocess.run([str(script)], cwd)
