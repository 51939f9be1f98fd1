"""Chromium really trusts the laptop once the local CA is installed, and only for it.

The server runs in a network namespace of its own (`racesense serve --host 0.0.0.0`), so
Chromium, in this one, is a non-loopback client as a phone is: the https port with the
certificate from the per-install CA, the plain port with the set-up page only. Chromium
on Linux takes its trusted roots from the NSS database in $HOME/.pki/nssdb; each browser
gets a HOME of its own, with the CA (trusted) or without it (untrusted). Leaves forged
with the CA's own key for names outside its name constraints show that the constraints,
not only the CA, decide what Chromium accepts.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from racesense.devicesim.ble_bridge import CHROMIUM_ARGS as BLE_ARGS
from racesense.devserver import stop

from .conftest import CHROMIUM, CHROMIUM_ARGS, TOKEN, _skip_reason, axe_violations, screenshot
from .https_helpers import (
    CERTUTIL,
    Netns,
    add_host_address,
    forge_leaf,
    netns,
    netns_skip_reason,
    nss_home,
    nss_listing,
    tls_server,
)

# Inside the namespace nothing else listens: the same ports in every xdist worker.
PORT, HTTPS_PORT, UPLOAD_PORT = 18765, 18443, 18766
NAME = "racesense.local"
# Outside every subtree the CA permits (a TEST-NET-3 address: public in the sense of the
# constraints, never routed on the internet; it lives on our veth end only).
PUBLIC_IP = "203.0.113.7"
CERT_ERROR = "net::ERR_CERT_"


@dataclass(frozen=True)
class NsServer:
    ns: Netns
    data_dir: Path
    ca_pem: Path

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def https(self) -> str:
        return f"https://{NAME}:{HTTPS_PORT}"

    @property
    def http(self) -> str:
        return f"http://{NAME}:{PORT}"

    def ca_der(self) -> bytes:
        cert = x509.load_pem_x509_certificate(self.ca_pem.read_bytes())
        return cert.public_bytes(serialization.Encoding.DER)


def _module_skip_reason() -> str | None:
    reason = _skip_reason() or netns_skip_reason()
    if reason:
        return reason
    if CERTUTIL is None:
        return "certutil is not installed (libnss3-tools; make chromium installs it when root)"
    return None


def _wait_healthy(proc: subprocess.Popen[bytes], ns: Netns, ca_crt: Path, log: Path) -> None:
    deadline = time.monotonic() + 60
    url = f"https://{ns.ns_ip}:{HTTPS_PORT}/api/health"
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"racesense serve did not start (exit {proc.poll()}):\n{tail}")
        if ca_crt.is_file():
            with contextlib.suppress(httpx.HTTPError, ssl.SSLError, OSError):
                context = ssl.create_default_context(cafile=str(ca_crt))
                if httpx.get(url, verify=context, timeout=2).status_code == 200:
                    return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NsServer]:
    reason = _module_skip_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("https")
    data_dir = root / "data"
    log = root / "serve.log"
    with netns() as ns:
        env = {k: v for k, v in os.environ.items() if k != "RACESENSE_DATABASE_URL"}
        env |= {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_MDNS": "off"}
        command = [*ns.exec_prefix(), sys.executable, "-m", "racesense", "serve"]
        command += ["--host", "0.0.0.0", "--port", str(PORT), "--https-port", str(HTTPS_PORT)]
        command += ["--upload-port", str(UPLOAD_PORT), "--data-dir", str(data_dir)]
        command += ["--workers", "1"]
        with log.open("wb") as out:
            proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            ca_crt = data_dir / "tls" / "ca.crt"
            _wait_healthy(proc, ns, ca_crt, log)
            yield NsServer(ns, data_dir, ca_crt)
        finally:
            stop(proc, 20)


@contextlib.contextmanager
def chromium(home: Path, rules: list[str]) -> Iterator[Any]:
    """Debian's Chromium with `home` as its HOME (so its NSS database), and host names
    mapped by `rules` (`MAP name address`)."""
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if k != "HOME"}
    env["HOME"] = str(home)
    args = [*CHROMIUM_ARGS, *BLE_ARGS, "--host-resolver-rules=" + ", ".join(rules)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, env=env)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def trusted_home(ns_server: NsServer, tmp_path: Path) -> Path:
    home = nss_home(tmp_path / "trusted-home", ns_server.ca_pem)
    assert "Racesense local CA" in nss_listing(home)
    return home


@pytest.fixture
def untrusted_home(ns_server: NsServer, tmp_path: Path) -> Path:
    return nss_home(tmp_path / "untrusted-home", None)


def _page(browser: Any, bypass_csp: bool = False) -> Any:
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=bypass_csp)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def _goto_error(page: Any, url: str) -> str:
    """The error Playwright's goto raises for `url`, or '' when it loads."""
    from playwright.sync_api import Error

    try:
        page.goto(url, timeout=15000)
    except Error as exc:
        return str(exc)
    return ""


def _secure_app(page: Any) -> dict[str, Any]:
    page.wait_for_selector("main h1", timeout=15000)
    return dict(
        page.evaluate(
            "() => ({secure: window.isSecureContext, bluetooth: 'bluetooth' in navigator,"
            " h1: document.querySelector('main h1').textContent})"
        )
    )


def test_trusted_chromium_opens_the_app_over_https(ns_server: NsServer, trusted_home: Path) -> None:
    rules = [f"MAP {NAME} {ns_server.ns.ns_ip}"]
    with chromium(trusted_home, rules) as browser:
        page = _page(browser)
        # A certificate interstitial would make goto raise (net::ERR_CERT_...).
        assert _goto_error(page, f"{ns_server.https}/#token={TOKEN}") == ""
        state = _secure_app(page)
        assert state["secure"] is True
        assert state["bluetooth"] is True
        assert "#token" not in page.url
        config = page.evaluate("async () => (await fetch('/ui-config.json')).json()")
        assert config == {"service_worker": True}
        scope = page.evaluate(
            "() => Promise.race([navigator.serviceWorker.ready.then(r => r.scope),"
            " new Promise(resolve => setTimeout(() => resolve(null), 10000))])"
        )
        assert scope == f"{ns_server.https}/"
        assert page.errors == []

        # The same over the address itself (a phone without mDNS).
        by_ip = _page(browser)
        origin = f"https://{ns_server.ns.ns_ip}:{HTTPS_PORT}"
        assert _goto_error(by_ip, f"{origin}/#token={TOKEN}") == ""
        state = _secure_app(by_ip)
        assert state["secure"] is True
        assert state["bluetooth"] is True


def test_untrusted_chromium_gets_a_certificate_error(
    ns_server: NsServer, untrusted_home: Path
) -> None:
    assert "Racesense local CA" not in nss_listing(untrusted_home)
    rules = [f"MAP {NAME} {ns_server.ns.ns_ip}"]
    with chromium(untrusted_home, rules) as browser:
        page = _page(browser)
        error = _goto_error(page, f"{ns_server.https}/")
        assert "net::ERR_CERT_AUTHORITY_INVALID" in error, error
        error = _goto_error(page, f"https://{ns_server.ns.ns_ip}:{HTTPS_PORT}/")
        assert "net::ERR_CERT_AUTHORITY_INVALID" in error, error


def _setup_page(browser: Any, ns_server: NsServer, bypass_csp: bool = False) -> Any:
    page = _page(browser, bypass_csp)
    response = page.goto(f"{ns_server.http}/", timeout=15000)
    assert response is not None and response.status == 200
    assert page.url == f"{ns_server.http}/"  # not upgraded to https by the browser
    page.wait_for_selector("main h1")
    assert page.text_content("main h1") == "Set up this phone once"
    assert page.evaluate("() => window.isSecureContext") is False
    assert page.evaluate("() => 'bluetooth' in navigator") is False
    return page


def _trust_check(page: Any) -> str:
    page.wait_for_function(
        "() => /panel (ok|bad)/.test(document.getElementById('check-result').className)",
        timeout=15000,
    )
    return str(page.text_content("#check-result"))


def test_plain_http_is_the_set_up_page_for_a_trusted_phone(
    ns_server: NsServer, trusted_home: Path
) -> None:
    rules = [f"MAP {NAME} {ns_server.ns.ns_ip}"]
    with chromium(trusted_home, rules) as browser:
        page = _setup_page(browser, ns_server)
        assert _trust_check(page).startswith("This phone trusts the laptop")
        link = page.get_attribute("#check-result a", "href")
        assert link == f"{ns_server.https}/"

        # The CA to install: the link downloads it as DER, the very CA the server uses.
        with page.expect_download() as download_info:
            page.click("text=Download the certificate")
        download = download_info.value
        assert download.suggested_filename == "racesense-ca.crt"
        assert Path(download.path()).read_bytes() == ns_server.ca_der()

        # At a phone's size, checked: axe-core goes in as an inline script, which the
        # page's CSP refuses, so this page is opened with the CSP bypassed.
        shown = _setup_page(browser, ns_server, bypass_csp=True)
        _trust_check(shown)
        screenshot(shown, "https-setup-page")
        assert axe_violations(shown) == []

        # Anything else on the plain port goes to https, at the same name.
        other = _page(browser)
        response = other.goto(f"{ns_server.http}/sessions#token={TOKEN}", timeout=15000)
        assert response is not None and response.status == 200
        first = response.request.redirected_from
        assert first is not None and first.url == f"{ns_server.http}/sessions"
        hop = first.response()
        assert hop is not None and hop.status == 308
        assert hop.headers["location"] == f"{ns_server.https}/sessions"
        assert other.url.startswith(f"{ns_server.https}/sessions")
        assert _secure_app(other)["secure"] is True


def test_plain_http_set_up_page_says_not_yet_without_the_ca(
    ns_server: NsServer, untrusted_home: Path
) -> None:
    rules = [f"MAP {NAME} {ns_server.ns.ns_ip}"]
    with chromium(untrusted_home, rules) as browser:
        page = _setup_page(browser, ns_server)
        assert _trust_check(page).startswith("Not yet")


def test_chromium_honours_the_cas_name_constraints(
    ns_server: NsServer, trusted_home: Path, tmp_path: Path
) -> None:
    """Leaves signed with the CA's own key: for racesense.local (inside the constraints)
    Chromium accepts it; for example.com and a public address it refuses them, though
    it trusts their issuer. (Chromium 150 says net::ERR_CERT_INVALID for both: its
    verifier applies the name constraints of a root the user trusted in NSS.)"""
    ns = ns_server.ns
    add_host_address(ns, PUBLIC_IP)
    leaves = {name: forge_leaf(ns_server.ca_dir, name, tmp_path) for name in (NAME, "example.com")}
    leaves[PUBLIC_IP] = forge_leaf(ns_server.ca_dir, PUBLIC_IP, tmp_path)
    with contextlib.ExitStack() as stack:
        ports = {
            name: stack.enter_context(
                tls_server(PUBLIC_IP if name == PUBLIC_IP else ns.host_ip, *leaf)
            )
            for name, leaf in leaves.items()
        }
        rules = [f"MAP {NAME} {ns.host_ip}", f"MAP example.com {ns.host_ip}"]
        browser = stack.enter_context(chromium(trusted_home, rules))
        pages = {name: _page(browser) for name in ports}
        errors = {
            name: _goto_error(pages[name], f"https://{name}:{port}/")
            for name, port in ports.items()
        }
        print("Chromium on leaves forged with the CA's key:", errors)
        assert errors[NAME] == "", errors
        assert pages[NAME].text_content("h1") == "forged leaf"
        for name in ("example.com", PUBLIC_IP):
            assert CERT_ERROR in errors[name], errors
            assert "ERR_CERT_AUTHORITY_INVALID" not in errors[name], errors
