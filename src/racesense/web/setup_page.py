"""The phone set-up page, served over plain http beyond loopback: why, the laptop's CA
to install (a `.crt` for Android, a configuration profile for iOS), the steps on each,
and a check that tells the phone whether it now trusts the laptop.

Plain http is all a phone can open before it trusts the CA, and this page is the only
thing plain http serves to it (PlainGate sends everything else to https). Nothing here
is secret: the CA's certificate is public; its key never leaves the data dir.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from cryptography.x509.oid import NameOID
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, Router

from racesense.tls import (
    CA_CRT_CONTENT_TYPE,
    MOBILECONFIG_CONTENT_TYPE,
    LocalCA,
    ca_crt,
    colon_hex,
    ios_mobileconfig,
)
from racesense.web.setup_pictures import PICTURES

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

STYLE = """
body { font: 17px/1.5 system-ui, sans-serif; margin: 0 auto; padding: 16px; max-width: 40rem;
  background: #0b1220; color: #eef2f7; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
a.button, button { display: inline-flex; align-items: center; min-height: 44px; padding: 0 16px;
  border-radius: 10px; border: 0; background: #38bdf8; color: #04131f; font-weight: 600;
  text-decoration: none; font-size: 1rem; margin: 4px 0; }
ol { padding-left: 1.4rem; } li { margin: 0.4rem 0; }
.panel { background: rgba(255,255,255,0.07); border-radius: 12px; padding: 12px 16px; }
.ok { border-left: 4px solid #4ade80; } .bad { border-left: 4px solid #f87171; }
code { word-break: break-all; font-size: 0.85rem; }
b.path { color: #fde68a; }
.step-img { display: block; width: 60%; max-width: 220px; height: auto; margin: 8px 0;
  border-radius: 12px; }
"""

CHECK_JS = """
// Does this phone trust the laptop's certificate? A fetch to the https address fails
// (TypeError) until the CA is installed and trusted; the answer itself is not read.
const out = document.getElementById("check-result");
const target = document.body.dataset.https;
async function check() {
  out.className = "panel";
  out.textContent = "Checking…";
  try {
    await fetch(`${target}/api/health`, { mode: "no-cors", cache: "no-store" });
    out.className = "panel ok";
    out.textContent = "This phone trusts the laptop. ";
    const link = document.createElement("a");
    link.className = "button";
    link.href = `${target}/${location.hash}`;
    link.textContent = "Open Racesense";
    out.append(link);
    // Scanned a join code on a phone that is set up already: straight on to the UI,
    // the code still in the fragment (never sent to a server).
    if (location.hash.startsWith("#join=")) location.replace(link.href);
  } catch {
    out.className = "panel bad";
    out.textContent = "Not yet: this phone does not trust the laptop. Install the certificate " +
      "with the steps above (on iPhone also switch on full trust), then check again.";
  }
}
document.getElementById("check").addEventListener("click", check);
check();
"""


def common_name(authority: LocalCA) -> str:
    """The CA's name as phones list it (its CommonName, not the whole subject)."""
    names = authority.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else authority.subject


def setup_app(ca: Callable[[], LocalCA], https_port: int) -> Router:
    """The set-up routes. `ca()` gives the current CA (it may be rotated while serving)."""

    def https_origin(request: Request) -> str:
        host = request.url.hostname or "racesense.local"
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}:{https_port}"

    async def page(request: Request) -> Response:
        authority = ca()
        body = PAGE.format(
            https=html.escape(https_origin(request)),
            fingerprint=html.escape(colon_hex(authority.ca_sha256)),
            subject=html.escape(common_name(authority)),
        )
        return HTMLResponse(body, headers=HEADERS)

    async def crt(_request: Request) -> Response:
        headers = {**HEADERS, "Content-Disposition": 'attachment; filename="racesense-ca.crt"'}
        return Response(ca_crt(ca()), media_type=CA_CRT_CONTENT_TYPE, headers=headers)

    async def profile(_request: Request) -> Response:
        headers = {
            **HEADERS,
            "Content-Disposition": 'attachment; filename="racesense.mobileconfig"',
        }
        return Response(
            ios_mobileconfig(ca()), media_type=MOBILECONFIG_CONTENT_TYPE, headers=headers
        )

    async def script(_request: Request) -> Response:
        return Response(CHECK_JS, media_type="text/javascript", headers=HEADERS)

    async def style(_request: Request) -> Response:
        return Response(STYLE, media_type="text/css", headers=HEADERS)

    async def picture(request: Request) -> Response:
        found = PICTURES.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        headers = {**HEADERS, "Cache-Control": "public, max-age=86400"}
        return Response(found.svg, media_type="image/svg+xml", headers=headers)

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Router(
        routes=[
            Route("/", page),
            Route("/setup", page),
            Route("/setup/racesense-ca.crt", crt),
            Route("/setup/racesense.mobileconfig", profile),
            Route("/setup/check.js", script),
            Route("/setup/setup.css", style),
            Route("/setup/img/{name}.svg", picture),
            Route("/api/health", health),
        ]
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Racesense: set up this phone</title>
<link rel="stylesheet" href="/setup/setup.css"></head>
<body data-https="{https}">
<main>
<h1>Set up this phone once</h1>
<p>The Sync button talks to your logger over Bluetooth, and browsers allow Bluetooth
only on secure (https) pages. This laptop makes its own https certificate; install its
certificate authority on this phone once, and the phone will trust the laptop from then
on, with no internet needed at the track.</p>
<p class="panel" id="check-result" role="status">Checking whether this phone trusts the
laptop…</p>
<button type="button" id="check">Check again</button>

<h2>Android (Chrome)</h2>
<ol>
<li><a class="button" href="/setup/racesense-ca.crt">Download the certificate</a>
<img class="step-img" src="/setup/img/android-download.svg" width="220" height="385"
loading="lazy" alt="The notification shade showing racesense-ca.crt, Download complete.">
</li>
<li>Open <b class="path">Settings → Security → Encryption &amp; credentials</b> (on some
phones: Security → More security settings).
<img class="step-img" src="/setup/img/android-security.svg" width="220" height="385"
loading="lazy" alt="The Security settings, with Encryption and credentials outlined.">
</li>
<li>Tap <b class="path">Install a certificate → CA certificate</b>.
<img class="step-img" src="/setup/img/android-encryption.svg" width="220" height="385"
loading="lazy" alt="Encryption and credentials, with Install a certificate outlined.">
<img class="step-img" src="/setup/img/android-install.svg" width="220" height="385"
loading="lazy" alt="Install a certificate, with CA certificate outlined."></li>
<li>Android warns that your data won't be private: this certificate is your own laptop's.
Tap <b class="path">Install anyway</b>.
<img class="step-img" src="/setup/img/android-warning.svg" width="220" height="385"
loading="lazy" alt="The warning Your data won't be private, with Install anyway outlined.">
</li>
<li>Pick <b class="path">racesense-ca.crt</b> from Downloads.
<img class="step-img" src="/setup/img/android-downloads.svg" width="220" height="385"
loading="lazy" alt="The Downloads file picker, with racesense-ca.crt outlined."></li>
<li>To see it installed: Encryption &amp; credentials → Trusted credentials →
<b class="path">User</b> lists <b class="path">Racesense local CA</b>.
<img class="step-img" src="/setup/img/android-user.svg" width="220" height="385"
loading="lazy" alt="Trusted credentials, User tab, listing Racesense local CA."></li>
<li>Come back here and tap <b class="path">Check again</b>.</li>
</ol>

<h2>iPhone (Bluefy)</h2>
<ol>
<li><a class="button" href="/setup/racesense.mobileconfig">Download the profile</a>
(open this page in Safari for this step; tap Allow).</li>
<li>Open <b class="path">Settings → Profile Downloaded → Install</b>, and enter the
phone's passcode.
<img class="step-img" src="/setup/img/ios-downloaded.svg" width="220" height="385"
loading="lazy" alt="The Settings app, with Profile Downloaded outlined near the top.">
The profile says <b class="path">Not Verified</b> in red: that is expected, as your
laptop made it and no company signed it. Tap <b class="path">Install</b> (top right),
then Install again.
<img class="step-img" src="/setup/img/ios-install.svg" width="220" height="385"
loading="lazy" alt="Install Profile for Racesense local CA, signed by: Not Verified in red,
with the Install button outlined."></li>
<li>Open <b class="path">Settings → General → About → Certificate Trust Settings</b> and
switch on full trust for <b class="path">{subject}</b>.
<img class="step-img" src="/setup/img/ios-trust.svg" width="220" height="385"
loading="lazy" alt="Certificate Trust Settings, with the full trust switch for Racesense
local CA switched on."></li>
<li>Come back here and tap <b class="path">Check again</b>.</li>
</ol>

<h2>If it does not work</h2>
<ul>
<li>The phone must be on the same network as the laptop (its own hotspot, with the
laptop joined to it).</li>
<li>If Racesense's certificate authority was rotated on the laptop
(<code>racesense ca rotate</code>), remove the old one from the phone and install this
one.</li>
<li>Compare the fingerprint with <code>racesense ca show</code> on the laptop:<br>
<code>{fingerprint}</code></li>
</ul>
</main>
<script type="module" src="/setup/check.js"></script>
</body></html>
"""
