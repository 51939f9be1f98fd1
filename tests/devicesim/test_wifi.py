"""The simulated station through the firmware's own WifiJoiner, in real time: each way a
join ends is the error the logger would give on the ESP32."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from racesense.devicesim import firmware
from racesense.devicesim.wifi import SimWLAN, VirtualHotspot


def _join(
    hotspot: VirtualHotspot, password: str | None = None, ssid: str | None = None, **timing: Any
) -> tuple[str | None, str | None, SimWLAN]:
    """(ip, error code) of one join, and the station."""
    fw = firmware.load()
    wlan = SimWLAN(hotspot, **({"assoc_ms": 100, "dhcp_ms": 50, "attempt_ms": 100} | timing))
    wlan.scan_ms = timing.get("scan_ms", 50)
    joiner = fw.wifi_join.WifiJoiner(
        wlan,
        fw.clock.SystemClock(),
        deadline_ms=1000,  # E_NO_IP takes all of it
        poll_ms=20,
        stable_ms=100,
        background=fw.net.background,
        log=lambda line: None,
    )

    async def run() -> tuple[str | None, str | None]:
        try:
            ip = await joiner.join(
                ssid or hotspot.ssid, hotspot.password if password is None else password
            )
        except fw.wifi_join.JoinError as exc:
            return None, str(exc.code)
        return str(ip), None

    ip, error = asyncio.run(run())
    return ip, error, wlan


def test_a_join_that_works_gets_the_address_after_association_and_dhcp() -> None:
    ip, error, wlan = _join(VirtualHotspot())
    assert (ip, error) == ("172.20.10.2", None)
    assert wlan.joined() and wlan.status() == 1010


@pytest.mark.parametrize(
    ("hotspot", "password", "expected"),
    [
        (VirtualHotspot(on=False), None, "E_AP_NOT_FOUND"),
        (VirtualHotspot(band_ghz=5), None, "E_AP_NOT_FOUND"),  # iPhone without Max. Compat.
        (VirtualHotspot(), "wrong-one", "E_WRONG_PASSWORD"),  # 202
        (VirtualHotspot(wrong_password_status=204), "wrong-one", "E_WRONG_PASSWORD"),
        (VirtualHotspot(wrong_password_status=15), "wrong-one", "E_WRONG_PASSWORD"),
        (VirtualHotspot(security="wpa3"), None, "E_WIFI_SECURITY"),  # 210
        (VirtualHotspot(security="open", password=""), "something", "E_WIFI_SECURITY"),
        (VirtualHotspot(security="wep"), None, "E_WIFI_SECURITY"),  # 211
        (VirtualHotspot(dhcp=False), None, "E_NO_IP"),
    ],
    ids=["off", "5ghz", "202", "204", "15", "wpa3", "open+password", "wep", "no-dhcp"],
)
def test_failures_are_the_drivers_reasons(
    hotspot: VirtualHotspot, password: str | None, expected: str
) -> None:
    ip, error, wlan = _join(hotspot, password)
    assert (ip, error) == (None, expected)
    assert not wlan.is_active  # the joiner always switches the radio off after a failure


def test_an_open_hotspot_with_no_password_joins() -> None:
    ip, error, _wlan = _join(VirtualHotspot(security="open", password=""), "")
    assert error is None and ip


def test_a_hotspot_switched_on_between_the_scan_passes_is_joined() -> None:
    hotspot = VirtualHotspot(on=False)
    threading.Timer(0.3, hotspot.switch, (True,)).start()  # after the first 0.2 s scan
    ip, error, wlan = _join(hotspot, scan_ms=200)
    assert error is None and ip
    assert wlan.scans == 2


def test_the_link_drops_when_the_hotspot_goes_off() -> None:
    hotspot = VirtualHotspot()
    ip, _error, wlan = _join(hotspot)
    assert ip and wlan.joined()
    hotspot.switch(False)
    assert not wlan.joined() and wlan.status() == 200  # beacon timeout
