"""The virtual RS-Core's Wi-Fi: a phone hotspot that a test or a person switches on and
off, an ESP32-like station (the `network.WLAN` surface firmware/wifi_join.py uses), and
the network the uploader sees, open only while the station has joined.

The station follows what MicroPython's ports/esp32/network_wlan.c and ESP-IDF report
(docs in ../shared/guides/field-facts.md, and the firmware's sync_fakes.FakeWLAN):
- scan() blocks for `scan_ms` (the firmware runs it on a thread) and sees only 2.4 GHz
  networks that are on;
- after connect(), status() stays 1001 (connecting) while the driver retries, and gives
  the reason only once the `config(reconnects=n)` attempts of `attempt_ms` each are used
  up: 201 no AP found, 202 wrong password (or 204, or ESP-IDF reason 15, as the hotspot's
  `wrong_password_status` says), 210 no compatible security (WPA3 only; a password for
  an open hotspot or none for a secured one), 211 security below the threshold (WEP, WPA);
- a join that works is associated after `assoc_ms`, has an address `dhcp_ms` later
  (never, with `dhcp=False`: joined, no IP); isconnected() is true only with an address;
  status("rssi") raises until associated;
- the hotspot switched off under a joined station: the link is gone (status 200, beacon
  timeout); switched on while the station tries, its association starts then.

Uploads go over real TCP on this host (the backend on loopback): GatedNet passes the
firmware's socket adapter through while the station has its address, refuses with
EHOSTUNREACH otherwise, and can cap the throughput to a hotspot's.

Thread-safety: the hotspot is switched from any thread; its fields are plain values read
by the firmware's loop and its scan thread (single attribute reads and writes).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_NO_COMPATIBLE_SECURITY = 210
STAT_AUTHMODE_THRESHOLD = 211
WRONG_PASSWORD_STATUSES = (202, 204, 15)
# network.WLAN scan()'s authmode numbers (ESP-IDF wifi_auth_mode_t)
AUTH_MODES = {"open": 0, "wep": 1, "wpa": 2, "wpa2": 3, "wpa2/wpa3": 7, "wpa3": 6}
_EHOSTUNREACH = 113


def _now_ms() -> float:
    return time.monotonic() * 1000.0


@dataclass
class VirtualHotspot:
    """The phone's hotspot as the logger's radio meets it."""

    ssid: str = "Racesense-Pit"
    password: str = "racesense"
    on: bool = True
    band_ghz: float = 2.4  # 5: an iPhone without "Maximize Compatibility"
    security: str = "wpa2"  # a key of AUTH_MODES
    dhcp: bool = True
    wrong_password_status: int = STAT_WRONG_PASSWORD  # 202, 204 or 15
    uplink_bytes_s: float | None = None  # throughput to the laptop; None: loopback's
    changed_ms: float = field(default_factory=_now_ms)

    def __post_init__(self) -> None:
        if self.security not in AUTH_MODES:
            raise ValueError(f"security must be one of {', '.join(AUTH_MODES)}")
        if self.wrong_password_status not in WRONG_PASSWORD_STATUSES:
            raise ValueError("wrong_password_status must be 202, 204 or 15")

    def switch(self, on: bool) -> None:
        """Switch the hotspot on or off (any thread)."""
        if on != self.on:
            self.changed_ms = _now_ms()
            self.on = on

    def visible(self) -> bool:
        """On, and on a band the ESP32 hears."""
        return self.on and self.band_ghz < 3


class SimWLAN:
    """network.WLAN(network.STA_IF) as wifi_join uses it (see the module docstring)."""

    def __init__(
        self,
        hotspot: VirtualHotspot,
        assoc_ms: float = 800,
        dhcp_ms: float = 200,
        attempt_ms: float = 1500,
        scan_ms: float = 1500,
        ip: str = "172.20.10.2",
    ) -> None:
        self.hotspot = hotspot
        self.assoc_ms = assoc_ms
        self.dhcp_ms = dhcp_ms
        self.attempt_ms = attempt_ms
        self.scan_ms = scan_ms
        self.ip = ip
        self.is_active = False
        self.reconnects = 0  # the driver's default: retry for ever
        self.scans = 0
        self.connects = 0
        self._target: str | None = None
        self._password: str | None = None
        self._since_ms = 0.0
        self._had_ip = False
        self._lock = threading.Lock()

    # -- the network.WLAN surface ----------------------------------------------------------

    def active(self, on: bool | None = None) -> bool:
        if on is not None:
            self.is_active = bool(on)
            if not on:
                self._target = None
        return self.is_active

    def config(self, **kwargs: Any) -> None:
        if "reconnects" in kwargs:
            self.reconnects = int(kwargs["reconnects"])

    def scan(self) -> list[tuple[bytes, bytes, int, int, int, bool]]:
        if not self.is_active:
            raise OSError("STA must be active")
        with self._lock:
            self.scans += 1
        time.sleep(self.scan_ms / 1000.0)  # every channel, actively: it blocks
        found = [(b"Paddock-Guest", b"\x01" * 6, 1, -82, AUTH_MODES["wpa2"], False)]
        spot = self.hotspot
        if spot.visible():
            auth = AUTH_MODES[spot.security]
            found.append((spot.ssid.encode(), b"\x02" * 6, 6, -48, auth, False))
        return found

    def connect(self, ssid: str, password: str = "") -> None:
        if not self.is_active:
            raise OSError("Wifi Not Started")
        with self._lock:
            self.connects += 1
        self._target = ssid
        self._password = password
        self._since_ms = _now_ms()
        self._had_ip = False

    def disconnect(self) -> None:
        self._target = None
        self._had_ip = False

    def isconnected(self) -> bool:
        return self._state()[2] is not None

    def ifconfig(self) -> tuple[str, str, str, str]:
        ip = self._state()[2]
        return (ip or "0.0.0.0", "255.255.255.0", "172.20.10.1", "172.20.10.1")

    def status(self, param: str | None = None) -> int:
        status, associated, _ip = self._state()
        if param is None:
            return status
        if param == "rssi":
            if not associated:
                raise OSError("Wifi Not Connected")
            return -48
        raise ValueError("unknown status param")

    # -- the model -------------------------------------------------------------------------

    def joined(self) -> bool:
        """Whether the station has an address (the uploader's network is up)."""
        return self.isconnected()

    def _failing(self, t_ms: float, reason: int) -> tuple[int, bool, str | None]:
        if self.reconnects and t_ms // self.attempt_ms >= self.reconnects:
            return (reason, False, None)
        return (STAT_CONNECTING, False, None)

    def _state(self) -> tuple[int, bool, str | None]:
        """(status, associated, ip or None) now."""
        if not self.is_active or self._target is None:
            return (STAT_IDLE, False, None)
        spot = self.hotspot
        # The association starts when the station asked, or when the hotspot came on.
        t_ms = _now_ms() - max(self._since_ms, spot.changed_ms)
        if not spot.visible() or spot.ssid != self._target:
            if self._had_ip:
                return (STAT_BEACON_TIMEOUT, False, None)  # it went away under us
            return self._failing(t_ms, STAT_NO_AP_FOUND)
        password = self._password or ""
        if spot.security == "wpa3" or (spot.security == "open") == bool(password):
            return self._failing(t_ms, STAT_NO_COMPATIBLE_SECURITY)
        if spot.security in ("wep", "wpa"):
            return self._failing(t_ms, STAT_AUTHMODE_THRESHOLD)
        if spot.security != "open" and password != spot.password:
            return self._failing(t_ms, spot.wrong_password_status)
        if t_ms < self.assoc_ms:
            return (STAT_CONNECTING, False, None)
        if not spot.dhcp or t_ms < self.assoc_ms + self.dhcp_ms:
            return (STAT_CONNECTING, True, None)
        self._had_ip = True
        return (STAT_GOT_IP, True, self.ip)


class GatedNet:
    """The firmware's network adapter (board/net.py's SocketNet) behind the station: real
    sockets while it has an address, EHOSTUNREACH otherwise, at most the hotspot's
    uplink_bytes_s (a token bucket with 50 ms of burst)."""

    def __init__(self, net: Any, wlan: SimWLAN, inline: Any) -> None:
        self._net = net
        self._wlan = wlan
        self._inline = inline  # board.net.inline: a finished Job
        self.tls_available = net.tls_available
        self._bucket = 0.0
        self._bucket_ms = _now_ms()
        self.bytes_sent = 0

    def _check(self) -> None:
        if not self._wlan.joined():
            raise OSError(_EHOSTUNREACH, "EHOSTUNREACH")

    def resolve(self, host: str, port: int) -> Any:
        if not self._wlan.joined():
            return self._inline(self._unreachable)
        return self._net.resolve(host, port)

    def _unreachable(self) -> None:
        raise OSError(_EHOSTUNREACH, "EHOSTUNREACH")

    def open(self, info: Any) -> Any:
        self._check()
        return self._net.open(info)

    def connected(self, link: Any) -> bool:
        self._check()
        return bool(self._net.connected(link))

    def start_tls(self, link: Any, server_hostname: str) -> None:
        self._net.start_tls(link, server_hostname)

    def can_show_cert(self, link: Any) -> bool:
        return bool(self._net.can_show_cert(link))

    def handshake(self, link: Any) -> bool:
        self._check()
        return bool(self._net.handshake(link))

    def peer_cert(self, link: Any) -> Any:
        return self._net.peer_cert(link)

    def send(self, link: Any, view: Any) -> int:
        self._check()
        rate = self._wlan.hotspot.uplink_bytes_s
        if rate is not None:
            now = _now_ms()
            self._bucket = min(self._bucket + rate * (now - self._bucket_ms) / 1000.0, rate / 20)
            self._bucket_ms = now
            allowed = int(self._bucket)
            if allowed <= 0:
                return 0  # would block: net_conn waits and tries again
            view = view[:allowed]
        n = int(self._net.send(link, view) or 0)
        if rate is not None:
            self._bucket -= n
        self.bytes_sent += n
        return n

    def recv_into(self, link: Any, view: Any) -> int | None:
        self._check()
        n = self._net.recv_into(link, view)
        return None if n is None else int(n)

    def close(self, link: Any) -> None:
        self._net.close(link)
