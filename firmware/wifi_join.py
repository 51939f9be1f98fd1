"""Join the phone's hotspot in station mode, or say exactly why not.

Portable: the radio is a constructor argument, so the same code runs on the ESP32 with
`network.WLAN(network.STA_IF)` and under CPython or the MicroPython unix port with a
stand-in. The WLAN-like object needs:

    active(on=None) -> bool     scan() -> [(ssid_bytes, bssid, channel, rssi, auth, hidden)]
    connect(ssid, password)     disconnect()        isconnected() -> bool
    status() -> int             ifconfig() -> (ip, netmask, gateway, dns)
    config(reconnects=n)        optional: status("rssi") -> int, raising when not associated

The clock is any object with ticks_ms(), ticks_diff(new, old) and sleep_ms(ms) returning
an awaitable (see clock.py), so tests can run in virtual time.

Why the steps below (ESP32 facts, see docs in shared/guides/field-facts.md):
- The driver retries forever and keeps reporting STAT_CONNECTING unless
  config(reconnects=n) is set; only then does status() fall back to the failure reason.
  We set it, and still keep our own hard deadline.
- The phone asks the racer to switch the hotspot on once the logger has the request, so
  the hotspot often appears seconds into the join: the logger scans again and again until
  it is seen or the deadline passes. The ESP32 sees only 2.4 GHz networks, so a 5 GHz-only
  hotspot (an iPhone without "Maximize Compatibility") is simply absent from every scan:
  scanning first turns a vague timeout into an actionable E_AP_NOT_FOUND.
- A hotspot seen just before the deadline still gets `connect_ms` to associate: the
  deadline is for finding it, not a trap for one switched on at 14 s.
- isconnected() is true only once DHCP gave an address; status("rssi") answers once the
  radio is associated. Together they separate E_NO_IP from E_JOIN_TIMEOUT.
- A link can come up and drop again at once (a hotspot shedding clients, roaming): it must
  stay up for `stable_ms` before it is handed to the uploader (the lesson of mqtt_as).
- A scan blocks for one to three seconds on the ESP32 (every channel, active): with
  `background` (board.net.background) it runs on a thread (the port releases the GIL
  during it) and the logger's loop keeps reading its GNSS. Without it, inline.
- ESP-IDF 5 reports an SSID it saw but cannot join for its security as 210 (no AP with
  compatible security: WPA3-only, or a password given to an open network or none to a
  secured one) or 211 (the AP's security is below the accepted threshold): neither is a
  wrong password nor a missing hotspot, and the phone is told which.
- An SSID is at most 32 bytes (802.11), in UTF-8: "Café de l'équipe" is 19 bytes, not 16.
"""

from rs_protocol import (
    E_AP_NOT_FOUND,
    E_CANCELLED,
    E_JOIN_TIMEOUT,
    E_MESSAGE,
    E_NO_IP,
    E_WIFI_SECURITY,
    E_WRONG_PASSWORD,
    SYNC_JOIN_DEADLINE_MS,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


# network.WLAN status() codes on the ESP32 (ESP-IDF disconnect reasons pass through).
STAT_IDLE = const(1000)
STAT_CONNECTING = const(1001)
STAT_GOT_IP = const(1010)
STAT_BEACON_TIMEOUT = const(200)
STAT_NO_AP_FOUND = const(201)
STAT_WRONG_PASSWORD = const(202)
STAT_ASSOC_FAIL = const(203)
STAT_HANDSHAKE_TIMEOUT = const(204)
# ESP-IDF reason 15 (4-way handshake timeout): how a wrong WPA2 key often shows up.
REASON_4WAY_HANDSHAKE_TIMEOUT = const(15)
STAT_NO_COMPATIBLE_SECURITY = const(210)  # WIFI_REASON_NO_AP_FOUND_W_COMPATIBLE_SECURITY
STAT_AUTHMODE_THRESHOLD = const(211)  # WIFI_REASON_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD
SSID_MAX_BYTES = const(32)

# network.WLAN scan()'s authmode (ESP-IDF wifi_auth_mode_t), for the phone's message.
_AUTH_NAMES = (
    "open",
    "WEP",
    "WPA",
    "WPA2",
    "WPA/WPA2",
    "WPA2-Enterprise",
    "WPA3",
    "WPA2/WPA3",
    "WAPI",
    "OWE",
)

JOIN_DEADLINE_MS = SYNC_JOIN_DEADLINE_MS  # protocol.json "sync_join_deadline_ms"


class JoinError(Exception):
    """A join that failed, with its protocol.json error name (E_...) and a human detail."""

    def __init__(self, code, detail=""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def _never():
    return False


class WifiJoiner:
    """Scan, connect and wait for a stable IP within one hard deadline."""

    def __init__(
        self,
        wlan,
        clock,
        deadline_ms=JOIN_DEADLINE_MS,
        poll_ms=100,
        stable_ms=1000,
        connect_ms=8000,
        reconnects=3,
        background=None,
        log=None,
    ):
        self._wlan = wlan
        self._background = background
        self._seen_auth = None  # the hotspot's auth mode in the last scan
        self._clock = clock
        self.deadline_ms = deadline_ms
        self._poll_ms = poll_ms
        self._stable_ms = stable_ms
        self._connect_ms = connect_ms  # at least this long to associate once seen
        # Driver-side attempts per connect() before status() reports the reason; a single
        # AUTH_FAIL can be a fluke, three in a row is a wrong password.
        self._reconnects = reconnects
        self._log = log or _print

    async def join(self, ssid, password, cancelled=None, on_state=None):
        """Join `ssid`; returns the IP address. Raises JoinError (Wi-Fi off afterwards).

        `cancelled()` is polled between steps (E_CANCELLED when it answers True);
        `on_state(name)` hears "scanning" then "joining".
        """
        cancelled = cancelled or _never
        clock = self._clock
        start = clock.ticks_ms()
        if not isinstance(ssid, str) or not ssid or len(ssid.encode()) > SSID_MAX_BYTES:
            raise JoinError(E_MESSAGE, "the SSID must be 1 to 32 bytes of UTF-8")
        self._seen_auth = None

        budget = [start, self.deadline_ms]  # [since, ms]: the scan's, then the join's

        def left_ms():
            return budget[1] - clock.ticks_diff(clock.ticks_ms(), budget[0])

        try:
            self._wlan.active(True)
            if on_state:
                on_state("scanning")
            await self._scan(ssid, left_ms, cancelled)
            if on_state:
                on_state("joining")
            if left_ms() < self._connect_ms:
                budget[0] = clock.ticks_ms()
                budget[1] = self._connect_ms
            return await self._connect(ssid, password, left_ms, cancelled)
        except BaseException:  # also task cancellation: never leave the radio on
            self.off()
            raise

    def off(self):
        """Drop the link and power the radio down; errors here are logged, not raised."""
        try:
            self._wlan.disconnect()
        except OSError as exc:
            self._log("wifi: disconnect failed: " + repr(exc))
        try:
            self._wlan.active(False)
        except OSError as exc:
            self._log("wifi: active(False) failed: " + repr(exc))

    # -- steps --------------------------------------------------------------------------

    async def _scan(self, ssid, left_ms, cancelled):
        want = ssid.encode()
        seen = None
        while True:
            _check(cancelled)
            try:
                latest = await self._scan_once(left_ms, cancelled)
            except OSError as exc:
                # The scan only improves the diagnosis; connect() still gets its chance.
                self._log("wifi: scan failed, trying to connect anyway: " + repr(exc))
                return None
            if latest is None and seen is None:
                raise JoinError(
                    E_JOIN_TIMEOUT,
                    "the Wi-Fi scan did not finish within " + str(self.deadline_ms) + " ms",
                )
            # A scan still running at the deadline: the finished ones had no hotspot.
            seen = latest if latest is not None else seen
            for entry in seen:
                if entry[0] == want:
                    if len(entry) > 4:
                        self._seen_auth = entry[4]
                    return entry
            if left_ms() <= 0:
                name = _printable(ssid)
                raise JoinError(
                    E_AP_NOT_FOUND,
                    f"'{name}' was not in any 2.4 GHz scan for {self.deadline_ms // 1000} s"
                    f" ({len(seen)} networks seen): is it on, and on 2.4 GHz"
                    " (iPhone: Maximize Compatibility)?",
                )
            # Not there yet: the racer may be switching it on right now.
            await self._clock.sleep_ms(min(self._poll_ms, max(left_ms(), 1)))

    async def _scan_once(self, left_ms, cancelled):
        """One scan's results; None if it outlived the deadline. OSError if it failed."""
        if self._background is None:
            return self._wlan.scan()
        job = self._background(self._wlan.scan)
        wait_ms = 10
        while not job.done:
            _check(cancelled)
            if left_ms() <= 0:
                return None  # the thread finishes on its own; nothing waits for it
            await self._clock.sleep_ms(wait_ms)
            wait_ms = min(wait_ms * 2, self._poll_ms)
        if job.error is not None:
            if isinstance(job.error, OSError):
                raise job.error
            raise OSError(str(job.error))
        return job.value

    async def _connect(self, ssid, password, left_ms, cancelled):
        wlan = self._wlan
        clock = self._clock
        self._limit_reconnects()
        if wlan.isconnected():
            # A link left over from an earlier network would pass every check below.
            wlan.disconnect()
        wlan.connect(ssid, password)
        associated = False
        dropped = 0
        up_since_ms = None
        status = STAT_CONNECTING
        while True:
            _check(cancelled)
            status = wlan.status()
            if status == STAT_WRONG_PASSWORD:
                raise JoinError(E_WRONG_PASSWORD, "the hotspot refused the password (status 202)")
            if status in (STAT_HANDSHAKE_TIMEOUT, REASON_4WAY_HANDSHAKE_TIMEOUT):
                raise JoinError(
                    E_WRONG_PASSWORD,
                    f"key handshake timed out (status {status}): almost always a wrong password",
                )
            if status == STAT_NO_AP_FOUND:
                raise JoinError(
                    E_AP_NOT_FOUND,
                    "the hotspot vanished after the scan (status 201): 2.4 GHz, in range?",
                )
            if status == STAT_NO_COMPATIBLE_SECURITY:
                raise JoinError(
                    E_WIFI_SECURITY,
                    "the hotspot" + self._auth_text() + " has no security the logger can"
                    " join with this password (status 210): set it to WPA2 or WPA2/WPA3,"
                    " not WPA3 only, and leave the password empty only for an open hotspot",
                )
            if status == STAT_AUTHMODE_THRESHOLD:
                raise JoinError(
                    E_WIFI_SECURITY,
                    "the hotspot's security" + self._auth_text() + " is weaker than the"
                    " logger accepts (status 211): set it to WPA2 or WPA2/WPA3",
                )
            ip = self._ip()
            if ip is not None:
                associated = True
                now = clock.ticks_ms()
                if up_since_ms is None:
                    up_since_ms = now
                elif clock.ticks_diff(now, up_since_ms) >= self._stable_ms:
                    return ip
            else:
                if up_since_ms is not None:
                    dropped += 1  # the link fell during the stability window: start over
                    up_since_ms = None
                if not associated:
                    associated = self._associated()
                if status < STAT_IDLE and left_ms() > self._poll_ms:
                    # Any other reason (beacon timeout, association failed, ...) after the
                    # driver used its reconnects: try again while the deadline allows.
                    self._log("wifi: status " + str(status) + ", connecting again")
                    wlan.connect(ssid, password)
            left = left_ms()
            if left <= 0:
                if ip is not None:
                    return ip  # up at the deadline: usable, and the uploader retries anyway
                if dropped:
                    raise JoinError(
                        E_NO_IP,
                        "the link came up and dropped " + str(dropped) + " times",
                    )
                if associated:
                    raise JoinError(E_NO_IP, "associated with the hotspot but DHCP gave no address")
                raise JoinError(
                    E_JOIN_TIMEOUT,
                    "no link after " + str(self.deadline_ms) + " ms (status " + str(status) + ")",
                )
            await clock.sleep_ms(min(self._poll_ms, left))

    # -- helpers ------------------------------------------------------------------------

    def _auth_text(self):
        auth = self._seen_auth
        if isinstance(auth, int) and 0 <= auth < len(_AUTH_NAMES):
            return " (" + _AUTH_NAMES[auth] + " in the scan)"
        return ""

    def _limit_reconnects(self):
        try:
            self._wlan.config(reconnects=self._reconnects)
        except (OSError, ValueError, TypeError) as exc:
            # Older ports lack the setting: our own deadline still bounds the join.
            self._log("wifi: config(reconnects) unsupported: " + repr(exc))

    def _ip(self):
        if not self._wlan.isconnected():
            return None
        ip = self._wlan.ifconfig()[0]
        # Some ports call a bare link "connected": only a real address counts.
        if not ip or ip == "0.0.0.0":
            return None
        return ip

    def _associated(self):
        if self._wlan.isconnected():
            return True  # connected without an address (see _ip)
        try:
            rssi = self._wlan.status("rssi")
        except (OSError, ValueError, TypeError):
            # Raises while unassociated on the ESP32; absent on some ports and stand-ins.
            return False
        return rssi is not None


def _check(cancelled):
    if cancelled():
        raise JoinError(E_CANCELLED, "cancelled while joining the hotspot")


def _printable(text):
    if not isinstance(text, str):
        try:
            text = bytes(text).decode()
        except UnicodeError:  # MicroPython has no errors="replace"
            return repr(bytes(text))
    return "".join(c if " " <= c <= "~" or c > "\x9f" else "?" for c in text)


def _print(message):
    print(message)
