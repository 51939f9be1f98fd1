"""QR codes of join links (web/join.py, `racesense serve`), drawn by segno.

Every rendering comes from the same code (`make`): error correction M (a phone camera
reads it off a laptop screen at an angle, through glare), a regular QR code (never a
Micro QR, which phone cameras do not read), a 4-module quiet zone where the output has
room for one.
"""

from __future__ import annotations

import io

import segno


def make(text: str) -> segno.QRCode:
    return segno.make_qr(text, error="m", boost_error=False)


def svg(text: str) -> str:
    """One `<svg>` element with its namespace (so an XML parser, the browser's DOMParser,
    reads it as SVG), no XML declaration, no fixed size (it scales with its box), dark
    modules on a white square, so that it reads in either theme."""
    out = io.BytesIO()
    make(text).save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        border=4,
        dark="#000",
        light="#fff",
        svgclass="qr-code",
        lineclass=None,
    )
    return out.getvalue().decode("utf-8")


def terminal(text: str) -> str:
    """Two modules a character (half blocks), for a terminal: light modules are drawn,
    dark ones are the terminal's own background (readable in a dark terminal, as
    segno's compact output is)."""
    out = io.StringIO()
    make(text).terminal(out=out, compact=True, border=2)
    return out.getvalue()


def png(text: str, scale: int = 4) -> bytes:
    """A PNG (the tests decode this one)."""
    out = io.BytesIO()
    make(text).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
