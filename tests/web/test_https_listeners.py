"""The listeners beyond loopback (web/listeners.py, live_cert.py, setup_page.py): what the
plain port serves to a phone and to the laptop itself, the upload-only port, and the
certificate following the laptop's addresses; then a real `racesense serve` in a network
namespace that gains an address while it runs."""

from __future__ import annotations

import asyncio
import os
import plistlib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from racesense.devserver import free_port, stop
from racesense.tls import LocalCA
from racesense.web import mdns
from racesense.web.listeners import PlainGate, UploadOnly, is_loopback, tls_wanted
from racesense.web.live_cert import LiveCertificate
from racesense.web.setup_page import setup_app


def _app() -> Starlette:
    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse("the app")

    return Starlette(routes=[Route("/{path:path}", hello, methods=["GET", "POST"])])


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA.load_or_create(tmp_path / "tls", hostname="pit")


def test_tls_is_wanted_beyond_loopback_unless_switched() -> None:
    assert tls_wanted("auto", "0.0.0.0") and tls_wanted("auto", "192.168.43.10")
    assert not tls_wanted("auto", "127.0.0.1") and not tls_wanted("auto", "localhost")
    assert tls_wanted("on", "127.0.0.1") and not tls_wanted("off", "0.0.0.0")
    assert is_loopback("::1") and not is_loopback("testclient") and not is_loopback(None)


def test_a_phone_on_the_plain_port_gets_the_setup_page_and_a_redirect(ca: LocalCA) -> None:
    gate = PlainGate(_app(), setup_app(lambda: ca, 8443), 8443)
    phone = TestClient(gate, base_url="http://192.168.43.10:8765", client=("192.168.43.20", 5000))
    page = phone.get("/")
    assert page.status_code == 200 and "Set up this phone once" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'data-https="https://192.168.43.10:8443"' in page.text
    fingerprint = ":".join(ca.ca_sha256.upper()[i : i + 2] for i in range(0, 64, 2))
    assert fingerprint in page.text
    assert 'full trust for <b class="path">Racesense local CA (pit)</b>' in page.text
    for path in ("/sessions/abc?lap=3", "/api/sessions", "/assets/app.js"):
        moved = phone.get(path, follow_redirects=False)
        assert moved.status_code == 308
        assert moved.headers["location"] == f"https://192.168.43.10:8443{path}"
    crt = phone.get("/setup/racesense-ca.crt")
    assert crt.headers["content-type"] == "application/x-x509-ca-cert"
    assert crt.content == ca.ca_der()
    assert x509.load_der_x509_certificate(crt.content).extensions.get_extension_for_class(
        x509.NameConstraints
    )
    profile = plistlib.loads(phone.get("/setup/racesense.mobileconfig").content)
    assert profile["PayloadContent"][0]["PayloadContent"] == ca.ca_der()
    assert phone.get("/setup/check.js").headers["content-type"].startswith("text/javascript")


def test_the_laptop_itself_gets_the_whole_app_on_the_plain_port(ca: LocalCA) -> None:
    gate = PlainGate(_app(), setup_app(lambda: ca, 8443), 8443)
    laptop = TestClient(gate, base_url="http://localhost:8765", client=("127.0.0.1", 5000))
    assert laptop.get("/sessions").text == "the app"
    assert laptop.get("/").text == "the app"


def test_the_upload_only_port_answers_only_the_upload_route() -> None:
    logger = TestClient(UploadOnly(_app()), client=("192.168.43.30", 4000))
    assert logger.post("/api/upload", content=b"x").text == "the app"
    for method, path in [("GET", "/"), ("GET", "/api/upload"), ("POST", "/api/syncs")]:
        refused = logger.request(method, path)
        assert refused.status_code == 404 and refused.json()["error"] == "not_found"


def _handshake_sans(context: ssl.SSLContext, ca: LocalCA) -> list[str]:
    """A real TLS handshake against a server socket using `context`; the SANs served."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept() -> None:
        conn, _ = server.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = ssl.create_default_context(cadata=ca.ca_pem().decode())
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname="racesense.local") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    finally:
        thread.join(5)
        server.close()
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def test_the_certificate_follows_the_addresses_in_the_live_context(tmp_path: Path) -> None:
    addresses = ["192.168.43.10"]
    live = LiveCertificate(tmp_path / "tls", lambda: list(addresses), names=["racesense.local"])
    assert _handshake_sans(live.context, live.ca) == ["127.0.0.1", "192.168.43.10"]
    assert live.refresh() is False  # nothing changed: nothing issued
    first = live.der_sha256
    addresses[:] = ["10.77.12.4", "8.8.8.8"]  # Android's new subnet; a public one is left out
    assert live.refresh() is True
    assert _handshake_sans(live.context, live.ca) == ["127.0.0.1", "10.77.12.4"]
    assert live.der_sha256 != first
    # mDNS renamed this laptop: the new name is certified too, once; a name outside the
    # CA's constraints is not.
    assert live.certify_name("racesense-2.local.") is True
    assert live.certify_name("racesense-2.local") is False
    assert live.certify_name("racesense.example.com") is False
    assert "racesense-2.local" in live.names and "racesense.example.com" not in live.names
    # `racesense ca rotate` while serving: the next refresh serves a certificate of the
    # new CA, which a phone trusting only the old one refuses.
    old_ca = live.ca
    rotated = LocalCA.rotate(tmp_path / "tls")
    assert live.refresh() is True and live.ca.ca_sha256 == rotated.ca_sha256
    assert _handshake_sans(live.context, live.ca) == ["127.0.0.1", "10.77.12.4"]
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake_sans(live.context, old_ca)


# -- a real server gains an address while it runs ----------------------------------------


def _netns_reason() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux to create a network namespace"
    if not shutil.which("ip"):
        return "needs iproute2 (ip)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """A namespace joined to this one by a veth pair: (its name, its end's device)."""
    reason = _netns_reason()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    name, host_end, ns_end = f"rs-tls-{tag}", f"rst{tag}a", f"rst{tag}b"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", name)
        _ip("addr", "add", "10.233.0.1/24", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", name, "addr", "add", "10.233.0.2/24", "dev", ns_end)
        _ip("-n", name, "link", "set", ns_end, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield name, ns_end
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _verified_sans(ca_pem: Path, host: str, port: int) -> list[str] | None:
    """The IP SANs of the certificate at host:port if it verifies for `host` with the
    CA, else None."""
    context = ssl.create_default_context(cafile=ca_pem)
    try:
        with (
            socket.create_connection((host, port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None
    assert der is not None
    san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)]


TOKEN = "tls-test-token-0123456789"


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    plain: int
    https_port: int

    @property
    def ca_pem(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    def create_sync(self, host: str) -> dict[str, Any]:
        with httpx.Client(verify=ssl.create_default_context(cafile=self.ca_pem)) as secure:
            made = secure.post(
                f"https://{host}:{self.https_port}/api/syncs",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={},
            )
        assert made.status_code == 201, made.text
        result: dict[str, Any] = made.json()
        return result


@contextmanager
def _serve_in(namespace: str, tmp_path: Path) -> Iterator[Served]:
    """`racesense serve` in the namespace, mDNS on (its multicast stays on the veth pair
    the test made), once its https listener answers at 10.233.0.2."""
    served = Served(None, tmp_path / "laptop", free_port(), free_port())  # type: ignore[arg-type]
    env = {**os.environ, "RACESENSE_API_TOKEN": TOKEN}
    env.pop("RACESENSE_MDNS", None)
    env.pop("RACESENSE_DATABASE_URL", None)
    command = ["ip", "netns", "exec", namespace, sys.executable, "-m", "racesense", "serve"]
    command += ["--host", "0.0.0.0", "--port", str(served.plain)]
    command += ["--https-port", str(served.https_port), "--upload-port", "0"]
    command += ["--data-dir", str(served.data_dir), "--workers", "1"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        served.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (
            served.ca_pem.exists()
            and _verified_sans(served.ca_pem, "10.233.0.2", served.https_port) is not None
        ):
            assert served.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the https listener did not come up"
            time.sleep(0.2)
        yield served
    finally:
        stop(served.proc)


def test_a_server_reissues_its_certificate_when_an_address_appears(
    netns: tuple[str, str], tmp_path: Path
) -> None:
    name, device = netns
    with _serve_in(name, tmp_path) as served:
        https_port, ca_pem = served.https_port, served.ca_pem
        sans = _verified_sans(ca_pem, "10.233.0.2", https_port)
        assert sans is not None
        assert "10.233.0.2" in sans and "10.233.0.7" not in sans
        # The hotspot hands out another address; the phone dials that one.
        _ip("-n", name, "addr", "add", "10.233.0.7/24", "dev", device)
        deadline = time.monotonic() + 20
        while (sans := _verified_sans(ca_pem, "10.233.0.7", https_port)) is None:
            assert time.monotonic() < deadline, "no certificate for the new address"
            time.sleep(0.3)
        assert "10.233.0.7" in sans
        assert served.proc.poll() is None  # the same process: no restart
        # The plain port: the set-up page to this (non-loopback) client, no API.
        with httpx.Client() as client:
            page = client.get(f"http://10.233.0.7:{served.plain}/")
            api = client.get(
                f"http://10.233.0.7:{served.plain}/api/sessions", follow_redirects=False
            )
        assert "Set up this phone once" in page.text
        assert api.status_code == 308
        assert api.headers["location"] == f"https://10.233.0.7:{https_port}/api/sessions"
        # A join code made over https points the phone at the plain port first (the set-up
        # page the first time, the UI once it trusts the laptop), by the address it used.
        with httpx.Client(verify=ssl.create_default_context(cafile=ca_pem)) as secure:
            made = secure.post(
                f"https://10.233.0.7:{https_port}/api/join-tokens",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={},
            )
        assert made.status_code == 201, made.text
        assert made.json()["join_url"].startswith(f"http://10.233.0.7:{served.plain}/#join=")
        # The logger gets the advertised name and, as its fallback, the address the
        # phone used (once the advertiser has announced itself: a second or two).
        deadline = time.monotonic() + 15
        while "racesense.local" not in (sync := served.create_sync("10.233.0.7"))["upload_url"]:
            assert time.monotonic() < deadline, f"no upload URL by name: {sync}"
            time.sleep(0.5)
        assert sync["upload_url"] == f"https://racesense.local:{https_port}/api/upload"
        assert sync["ip_fallback"] == f"https://10.233.0.7:{https_port}/api/upload"


def _verifies_for(ca_pem: Path, address: str, name: str, port: int) -> bool:
    """Whether a TLS client dialling `address` and checking the certificate for `name`
    (what a phone that resolved `name` to `address` does) accepts it."""
    context = ssl.create_default_context(cafile=ca_pem)
    try:
        with (
            socket.create_connection((address, port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=name),
        ):
            return True
    except ssl.SSLCertVerificationError:
        return False


def test_a_laptop_renamed_by_mdns_is_certified_under_its_new_name(
    netns: tuple[str, str], tmp_path: Path
) -> None:
    """Another pit laptop on the hotspot already answers for racesense.local: this one
    goes on as racesense-2.local, and its certificate and its loggers' upload URL say so."""
    name, _device = netns
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    other = mdns.Advertiser(https_port=8443, instance_name="Racesense on the other laptop")

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(15)

    try:
        # The other laptop: this namespace's end of the veth pair, nowhere else.
        on_loop(other.start(["10.233.0.1"]))
        assert other.host == "racesense.local"
        with _serve_in(name, tmp_path) as served:
            deadline = time.monotonic() + 20
            sync = served.create_sync("10.233.0.2")
            while "racesense-2.local" not in sync["upload_url"]:
                assert time.monotonic() < deadline, f"no renamed upload URL: {sync}"
                time.sleep(0.5)
                sync = served.create_sync("10.233.0.2")
            assert sync["upload_url"] == (
                f"https://racesense-2.local:{served.https_port}/api/upload"
            )
            for host in ("racesense-2.local", "racesense.local", "10.233.0.2"):
                assert _verifies_for(served.ca_pem, "10.233.0.2", host, served.https_port), host
            assert not _verifies_for(
                served.ca_pem, "10.233.0.2", "racesense-3.local", served.https_port
            )
    finally:
        on_loop(other.stop())
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


def test_the_setup_page_pictures_are_served_and_described(ca: LocalCA) -> None:
    """Each step's picture: an SVG phone screen the page's CSP allows, with a title for
    screen readers and alt text on its <img>; an unknown picture is 404."""
    import re

    import defusedxml.ElementTree as DET

    phone = TestClient(setup_app(lambda: ca, 8443), base_url="http://192.168.43.10:8765")
    page = phone.get("/").text
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) >= 10
    svg_ns = "{http://www.w3.org/2000/svg}"
    for tag in images:
        src = re.search(r'\bsrc="([^"]+)"', tag)
        alt = re.search(r'\balt="([^"]*)"', tag)
        assert src and alt and alt.group(1).strip(), tag
        assert 'loading="lazy"' in tag and 'width="' in tag and 'height="' in tag, tag
        picture = phone.get(src.group(1))
        assert picture.status_code == 200, src.group(1)
        assert picture.headers["content-type"].startswith("image/svg+xml")
        assert "default-src 'none'" in picture.headers["content-security-policy"]
        root = DET.fromstring(picture.content)
        assert root.tag == f"{svg_ns}svg" and root.get("role") == "img"
        assert len(root.get("viewBox", "").split()) == 4
        title = root.find(f"{svg_ns}title")
        assert title is not None and (title.text or "").strip()
        # the CSP allows no inline styles: presentation attributes only
        assert root.find(f".//{svg_ns}style") is None
        assert all(el.get("style") is None for el in root.iter())
    assert phone.get("/setup/img/nonesuch.svg").status_code == 404
    assert phone.get("/setup/img/..%2Fcheck.js.svg").status_code == 404
