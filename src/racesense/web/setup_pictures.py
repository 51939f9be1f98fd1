"""Pictures for the phone set-up page: simplified phone screens, one for each step of
installing the laptop's CA on Android and on an iPhone.

Each picture is a light phone screen in a dark frame (it reads in sunlight on the
page's dark background): a title, list rows with the labels the phone shows, and the
row to tap outlined in orange with an arrow at the screen's edge. They are plain SVG
made from a few shapes below (no fonts, images or styles to fetch, nothing the page's
CSP would refuse: presentation attributes only). Text is 14 px or more in a 240×420
viewBox, so it stays legible at the page's 220 px wide pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 240, 420
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#0f172a"  # text on the screen
MUTED = "#475569"  # secondary text (7:1 on white)
FRAME = "#111827"  # the phone's body
EDGE = "#cbd5e1"  # its outline, light against the dark page
RULE = "#d1d5db"  # separators between rows
TAP = "#c2410c"  # the thing to tap: outline and arrow (5:1 on white, visible on the frame)
TAP_FILL = "#ffedd5"
LINK = "#0550ae"  # iOS-style blue buttons (7:1 on white)
RED = "#b91c1c"  # "Not Verified"
GREEN = "#15803d"  # a switch that is on
GROUPED = "#eef0f4"  # iOS grouped-list background

LEFT = 28  # where row labels start
ROW_RIGHT = 222  # right edge of rows (the screen is 14..226)


@dataclass(frozen=True)
class Picture:
    title: str
    svg: str


def _text(
    x: float,
    y: float,
    text: str,
    size: int = 15,
    fill: str = INK,
    weight: str = "normal",
    anchor: str = "start",
) -> str:
    assert size >= 14, "legible on a phone: 14 px or more"
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" font-weight="{weight}" fill="{fill}"'
        f' text-anchor="{anchor}">{escape(text)}</text>'
    )


class _Screen:
    """A phone screen drawn top to bottom; `y` is where the next thing goes."""

    def __init__(self, background: str = "#ffffff") -> None:
        self.parts: list[str] = [
            f'<rect x="2" y="2" width="236" height="416" rx="30" fill="{FRAME}"'
            f' stroke="{EDGE}" stroke-width="3"/>',
            f'<rect x="14" y="14" width="212" height="392" rx="20" fill="{background}"/>',
            # status bar: the time, a camera dot, a battery
            _text(LEFT, 34, "9:41", size=14, weight="bold"),
            f'<circle cx="120" cy="28" r="5" fill="{FRAME}"/>',
            f'<rect x="190" y="23" width="22" height="11" rx="3" fill="none" stroke="{INK}"'
            ' stroke-width="1.5"/>',
            f'<rect x="192.5" y="25.5" width="14" height="6" rx="1" fill="{INK}"/>',
            f'<rect x="212.5" y="26" width="2.5" height="5" rx="1" fill="{INK}"/>',
        ]
        self.y = 46.0

    # -- headers ---------------------------------------------------------------------

    def android_title(self, *lines: str, back: bool = True) -> None:
        if back:
            y = self.y + 14
            self.parts.append(
                f'<path d="M{LEFT + 16} {y} H{LEFT} M{LEFT + 7} {y - 7} L{LEFT} {y} L{LEFT + 7}'
                f' {y + 7}" fill="none" stroke="{INK}" stroke-width="2.5"'
                ' stroke-linecap="round" stroke-linejoin="round"/>'
            )
            self.y += 30
        for line in lines:
            self.y += 26
            self.parts.append(_text(LEFT, self.y, line, size=21, weight="bold"))
        self.y += 16

    def ios_nav(self, back: str | None = None, right: str | None = None) -> None:
        y = self.y + 20
        if back:
            self.parts.append(
                f'<path d="M{LEFT + 6} {y - 12} L{LEFT} {y - 5} L{LEFT + 6} {y + 2}" fill="none"'
                f' stroke="{LINK}" stroke-width="2.5" stroke-linecap="round"'
                ' stroke-linejoin="round"/>'
            )
            self.parts.append(_text(LEFT + 12, y, back, size=16, fill=LINK))
        if right:
            self.parts.append(
                _text(ROW_RIGHT - 8, y, right, size=16, fill=LINK, weight="bold", anchor="end")
            )
        self.y += 30

    def ios_title(self, *lines: str) -> None:
        for line in lines:
            self.y += 28
            self.parts.append(_text(LEFT - 6, self.y, line, size=24, weight="bold"))
        self.y += 14

    def caption(self, *lines: str, fill: str = MUTED) -> None:
        for line in lines:
            self.y += 18
            self.parts.append(_text(LEFT - 4, self.y, line, size=14, fill=fill))
        self.y += 10

    # -- rows ------------------------------------------------------------------------

    def row(
        self,
        *lines: str,
        sub: str | None = None,
        sub_fill: str = MUTED,
        tap: bool = False,
        chevron: bool = False,
        switch: bool = False,
        card: bool = False,
        rule: bool = True,
        icon: str | None = None,
        bold: bool = False,
    ) -> None:
        """One list row: label lines, an optional second line below them in grey."""
        top = self.y
        height = 20 + 20 * len(lines) + (19 if sub else 0)
        if switch:
            height = max(height, 52)
        bottom = top + height
        x = LEFT + (38 if icon else 0)
        if card:
            self.parts.append(
                f'<rect x="20" y="{top}" width="{ROW_RIGHT - 22}" height="{height}"'
                ' fill="#ffffff"/>'
            )
        if tap:
            self.parts.append(
                f'<rect x="18" y="{top + 2}" width="{ROW_RIGHT - 16}" height="{height - 4}"'
                f' rx="10" fill="{TAP_FILL}" stroke="{TAP}" stroke-width="3"/>'
            )
        if icon:
            self.parts.append(_icon(icon, LEFT + 14, top + height / 2))
        baseline = top + 25
        for line in lines:
            weight = "bold" if (tap or bold) else "normal"
            self.parts.append(_text(x, baseline, line, weight=weight))
            baseline += 20
        if sub:
            self.parts.append(_text(x, baseline - 1, sub, size=14, fill=sub_fill))
        middle = top + height / 2
        if chevron:
            self.parts.append(
                f'<path d="M{ROW_RIGHT - 16} {middle - 6} L{ROW_RIGHT - 10} {middle}'
                f' L{ROW_RIGHT - 16} {middle + 6}" fill="none" stroke="{MUTED}"'
                ' stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>'
            )
        if switch:
            left = ROW_RIGHT - 58
            self.parts.append(
                f'<rect x="{left}" y="{middle - 15}" width="50" height="30" rx="15"'
                f' fill="{GREEN}"/>'
                f'<circle cx="{left + 35}" cy="{middle}" r="12" fill="#ffffff"/>'
                # the "on" mark iOS can show in a switch: a short bar
                f'<rect x="{left + 12}" y="{middle - 6}" width="2.5" height="12"'
                ' fill="#ffffff"/>'
            )
        if tap:
            # an arrow at the screen's edge pointing at the row
            self.parts.append(
                f'<path d="M{ROW_RIGHT + 1} {middle} L{WIDTH - 1} {middle - 12}'
                f' L{WIDTH - 1} {middle + 12} Z" fill="{TAP}" stroke="{EDGE}"'
                ' stroke-width="1.5" stroke-linejoin="round"/>'
            )
        elif rule:
            self.parts.append(
                f'<path d="M{x} {bottom} H{ROW_RIGHT}" stroke="{RULE}" stroke-width="1"/>'
            )
        self.y = bottom

    def gap(self, height: float) -> None:
        self.y += height

    def svg(self, title: str, description: str) -> str:
        assert self.y <= 400, f"{title}: drawn past the screen's bottom ({self.y})"
        body = "".join(self.parts)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"'
            f' width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="title desc"'
            f" font-family={quoteattr(FONT)}>"
            f'<title id="title">{escape(title)}</title>'
            f'<desc id="desc">{escape(description)}</desc>'
            f"{body}</svg>\n"
        )


def _icon(kind: str, cx: float, cy: float) -> str:
    """Small line icons: a file, a download arrow, a settings gear, a certificate."""
    if kind == "file":
        return (
            f'<path d="M{cx - 8} {cy - 11} H{cx + 3} L{cx + 9} {cy - 5} V{cy + 11} H{cx - 8} Z'
            f' M{cx + 3} {cy - 11} V{cy - 5} H{cx + 9}" fill="none" stroke="{MUTED}"'
            ' stroke-width="2" stroke-linejoin="round"/>'
        )
    if kind == "download":
        return (
            f'<circle cx="{cx}" cy="{cy}" r="13" fill="{LINK}"/>'
            f'<path d="M{cx} {cy - 7} V{cy + 4} M{cx - 5} {cy} L{cx} {cy + 5} L{cx + 5} {cy}'
            f' M{cx - 6} {cy + 8} H{cx + 6}" fill="none" stroke="#ffffff" stroke-width="2"'
            ' stroke-linecap="round" stroke-linejoin="round"/>'
        )
    if kind == "gear":
        return (
            f'<rect x="{cx - 13}" y="{cy - 13}" width="26" height="26" rx="7" fill="#6b7280"/>'
            f'<circle cx="{cx}" cy="{cy}" r="7" fill="none" stroke="#ffffff"'
            ' stroke-width="3" stroke-dasharray="3 2"/>'
            f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="#ffffff"/>'
        )
    if kind == "profile":
        return (
            f'<rect x="{cx - 13}" y="{cy - 13}" width="26" height="26" rx="7" fill="{LINK}"/>'
            f'<path d="M{cx - 6} {cy - 6} H{cx + 6} M{cx - 6} {cy - 1} H{cx + 6}'
            f' M{cx - 6} {cy + 4} H{cx + 1}" stroke="#ffffff" stroke-width="2"'
            ' stroke-linecap="round"/>'
        )
    assert kind == "cert", kind
    return (
        f'<rect x="{cx - 13}" y="{cy - 10}" width="26" height="20" rx="3" fill="none"'
        f' stroke="{MUTED}" stroke-width="2"/>'
        f'<circle cx="{cx + 5}" cy="{cy + 2}" r="4" fill="{TAP}"/>'
        f'<path d="M{cx - 8} {cy - 4} H{cx + 6} M{cx - 8} {cy + 1} H{cx}" stroke="{MUTED}"'
        ' stroke-width="2" stroke-linecap="round"/>'
    )


# -- Android ---------------------------------------------------------------------------


def _android_download() -> Picture:
    s = _Screen(background="#e5e7eb")
    s.gap(6)
    s.caption("Swipe down from the top:", fill=INK)
    s.row("racesense-ca.crt", sub="Download complete", tap=True, icon="download", card=True)
    s.gap(14)
    s.row("Chrome", sub="1 download", icon="download", card=True, rule=False)
    s.gap(18)
    s.caption("Or in Chrome: menu →", "Downloads", fill=INK)
    title = "Android: the downloaded certificate"
    return Picture(
        title,
        s.svg(
            title,
            "The notification shade shows racesense-ca.crt, Download complete, outlined.",
        ),
    )


def _android_security() -> Picture:
    s = _Screen()
    s.android_title("Security")
    s.row("Screen lock", sub="PIN")
    s.row("Find My Device")
    s.row("Encryption &", "credentials", tap=True)
    s.row("More security", "settings")
    title = "Android: Settings, Security"
    return Picture(
        title, s.svg(title, "The Security settings, with Encryption & credentials outlined.")
    )


def _android_encryption() -> Picture:
    s = _Screen()
    s.android_title("Encryption &", "credentials")
    s.row("Encrypt phone", sub="Encrypted")
    s.row("Trusted credentials")
    s.row("User credentials")
    s.row("Install a", "certificate", tap=True)
    s.row("Clear credentials", rule=False)
    title = "Android: Encryption & credentials"
    return Picture(
        title,
        s.svg(title, "The Encryption & credentials screen, with Install a certificate outlined."),
    )


def _android_install() -> Picture:
    s = _Screen()
    s.android_title("Install a", "certificate")
    s.row("CA certificate", tap=True)
    s.row("VPN & app user", "certificate")
    s.row("Wi‑Fi certificate", rule=False)
    title = "Android: Install a certificate"
    return Picture(
        title, s.svg(title, "The Install a certificate screen, with CA certificate outlined.")
    )


def _android_warning() -> Picture:
    s = _Screen(background="#6b7280")
    top = 92
    parts = [
        f'<rect x="22" y="{top}" width="196" height="250" rx="18" fill="#ffffff"/>',
        _text(36, top + 34, "Your data", size=19, weight="bold"),
        _text(36, top + 58, "won't be private", size=19, weight="bold"),
        _text(36, top + 88, "Install only if you", size=14, fill=MUTED),
        _text(36, top + 107, "trust who made this", size=14, fill=MUTED),
        _text(36, top + 126, "certificate: here,", size=14, fill=MUTED),
        _text(36, top + 145, "your own laptop.", size=14, fill=MUTED),
        _text(120, top + 188, "Don't install", size=15, fill=LINK, anchor="middle"),
        f'<rect x="34" y="{top + 202}" width="172" height="36" rx="10" fill="{TAP_FILL}"'
        f' stroke="{TAP}" stroke-width="3"/>',
        _text(120, top + 226, "Install anyway", size=15, fill=INK, weight="bold", anchor="middle"),
        f'<path d="M{ROW_RIGHT + 1} {top + 220} L{WIDTH - 1} {top + 208} L{WIDTH - 1}'
        f' {top + 232} Z" fill="{TAP}" stroke="{EDGE}" stroke-width="1.5"'
        ' stroke-linejoin="round"/>',
    ]
    s.parts.extend(parts)
    title = "Android: the Install anyway warning"
    return Picture(
        title,
        s.svg(title, "A warning that your data won't be private, with Install anyway outlined."),
    )


def _android_downloads() -> Picture:
    s = _Screen()
    s.android_title("Downloads", back=False)
    s.row("racesense-ca.crt", sub="2 kB · Just now", tap=True, icon="file")
    s.row("lap-times.csv", sub="Yesterday", icon="file")
    s.row("track-map.pdf", sub="Last week", icon="file", rule=False)
    title = "Android: pick racesense-ca.crt"
    return Picture(
        title, s.svg(title, "The Downloads file picker, with racesense-ca.crt outlined.")
    )


def _android_user() -> Picture:
    s = _Screen()
    s.android_title("Trusted", "credentials")
    tabs = s.y + 8
    s.parts.extend(
        [
            _text(70, tabs + 16, "SYSTEM", size=15, fill=MUTED, anchor="middle"),
            _text(170, tabs + 16, "USER", size=15, fill=TAP, weight="bold", anchor="middle"),
            f'<rect x="124" y="{tabs + 26}" width="92" height="4" rx="2" fill="{TAP}"/>',
            f'<path d="M20 {tabs + 30} H{ROW_RIGHT}" stroke="{RULE}" stroke-width="1"/>',
        ]
    )
    s.gap(46)
    s.row("Racesense local CA", sub="Racesense", tap=True)
    s.gap(16)
    s.caption("Your laptop's CA, listed", "under User: installed.")
    title = "Android: the certificate under User"
    return Picture(
        title,
        s.svg(title, "Trusted credentials, User tab, listing Racesense local CA, outlined."),
    )


# -- iPhone ----------------------------------------------------------------------------


def _ios_downloaded() -> Picture:
    s = _Screen(background=GROUPED)
    s.gap(8)
    s.ios_title("Settings")
    s.gap(4)
    s.row("Profile", "Downloaded", tap=True, chevron=True, card=True, icon="profile")
    s.gap(20)
    s.row("Wi‑Fi", chevron=True, card=True, icon="gear")
    s.row("Bluetooth", chevron=True, card=True, icon="gear")
    s.row("General", chevron=True, card=True, icon="gear", rule=False)
    title = "iPhone: Settings, Profile Downloaded"
    return Picture(
        title, s.svg(title, "The Settings app, with Profile Downloaded outlined near the top.")
    )


def _ios_install() -> Picture:
    s = _Screen(background=GROUPED)
    s.ios_nav(back="Cancel", right="Install")
    # outline the Install button in the top right corner
    y = s.y - 10
    s.parts.append(
        f'<rect x="156" y="{y - 24}" width="66" height="32" rx="9" fill="none"'
        f' stroke="{TAP}" stroke-width="3"/>'
        f'<path d="M{ROW_RIGHT + 1} {y - 8} L{WIDTH - 1} {y - 20} L{WIDTH - 1} {y + 4} Z"'
        f' fill="{TAP}" stroke="{EDGE}" stroke-width="1.5" stroke-linejoin="round"/>'
    )
    s.ios_title("Install Profile")
    s.row("Racesense local CA", card=True, bold=True)
    s.row("Signed by", sub="Not Verified", sub_fill=RED, card=True)
    s.row("Contains", sub="Certificate", card=True, rule=False)
    s.gap(12)
    s.caption("“Not Verified” is expected:", "your laptop made it.")
    title = "iPhone: Install Profile"
    return Picture(
        title,
        s.svg(
            title,
            "The Install Profile screen for Racesense local CA, signed by: Not Verified in red,"
            " with the Install button outlined.",
        ),
    )


def _ios_trust() -> Picture:
    s = _Screen(background=GROUPED)
    s.ios_nav(back="About")
    s.ios_title("Certificate", "Trust Settings")
    s.row("Trust Store Version", sub="2024071100", card=True, rule=False)
    s.gap(6)
    s.caption("ENABLE FULL TRUST FOR", "ROOT CERTIFICATES")
    s.row("Racesense", "local CA", switch=True, tap=True, card=True)
    title = "iPhone: Certificate Trust Settings"
    return Picture(
        title,
        s.svg(
            title,
            "Certificate Trust Settings: the full trust switch for Racesense local CA is on.",
        ),
    )


PICTURES: dict[str, Picture] = {
    "android-download": _android_download(),
    "android-security": _android_security(),
    "android-encryption": _android_encryption(),
    "android-install": _android_install(),
    "android-warning": _android_warning(),
    "android-downloads": _android_downloads(),
    "android-user": _android_user(),
    "ios-downloaded": _ios_downloaded(),
    "ios-install": _ios_install(),
    "ios-trust": _ios_trust(),
}
