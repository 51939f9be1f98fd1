"""Stand-ins for the sync's hardware: a virtual clock, an ESP32-like WLAN, a storage.

Runs under CPython and MicroPython alike. FakeWLAN follows what
ports/esp32/network_wlan.c does: status() stays STAT_CONNECTING while the driver retries,
and only reports the failure reason once config(reconnects=n) attempts are used up;
isconnected() is true only with an IP; status("rssi") raises until associated; scan()
sees only 2.4 GHz networks.
"""

import asyncio

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


class FakeClock:
    """Virtual milliseconds: time moves only when someone sleeps (or a fake says so)."""

    def __init__(self, start_ms=1000):
        self.now_ms = start_ms
        self.slept_ms = []

    def ticks_ms(self):
        return self.now_ms

    def ticks_diff(self, new, old):
        return new - old

    def advance(self, ms):
        self.now_ms += ms

    async def sleep_ms(self, ms):
        self.slept_ms.append(ms)
        self.now_ms += ms
        await asyncio.sleep(0)  # let other tasks (a cancel, a BLE handler) run


class Network:
    """One access point as the fake radio knows it."""

    def __init__(self, ssid, password="secret", band_ghz=2.4, channel=6, mode="ok", on_at_ms=0):
        self.ssid = ssid
        self.on_at_ms = on_at_ms  # switched on at this clock time (a racer's thumb)
        self.password = password
        self.band_ghz = band_ghz
        self.channel = channel
        # ok | no_dhcp | silent | flaky | assoc_fail_once | handshake | vanish
        # | no_compatible_security (ESP-IDF 210) | weak_security (211)
        self.mode = mode
        self.auth = 3  # WPA2-PSK, as scan() reports it


class FakeWLAN:
    def __init__(
        self,
        clock,
        networks=(),
        assoc_ms=400,
        dhcp_ms=300,
        attempt_ms=1500,
        scan_ms=1200,
        flap_ms=300,
        scan_raises=False,
    ):
        self.clock = clock
        self.networks = list(networks)
        self.assoc_ms = assoc_ms
        self.dhcp_ms = dhcp_ms
        self.attempt_ms = attempt_ms  # one driver attempt that ends in a failure reason
        self.scan_ms = scan_ms
        self.flap_ms = flap_ms
        self.scan_raises = scan_raises
        self.calls = []
        self.is_active = False
        self.reconnects = 0  # the driver's default: retry forever
        self.connects = 0
        self._target = None
        self._password = None
        self._since_ms = None

    # -- the network.WLAN surface ---------------------------------------------------------

    def active(self, on=None):
        if on is not None:
            self.calls.append(("active", bool(on)))
            self.is_active = bool(on)
            if not on:
                self._target = None
        return self.is_active

    def config(self, **kwargs):
        self.calls.append(("config", kwargs))
        if "reconnects" in kwargs:
            self.reconnects = kwargs["reconnects"]

    def scan(self):
        self.calls.append(("scan",))
        if not self.is_active:
            raise OSError("STA must be active")
        advance = getattr(self.clock, "advance", None)
        if advance is not None:
            advance(self.scan_ms)  # blocking on the board too
        if self.scan_raises:
            raise OSError(-1)
        found = [(b"Neighbour", b"\x01" * 6, 1, -80, 3, False)]
        for net in self.networks:
            if self.clock.ticks_ms() < net.on_at_ms:
                continue
            if net.band_ghz < 3:  # the ESP32 radio is 2.4 GHz only
                found.append((net.ssid.encode(), b"\x02" * 6, net.channel, -50, net.auth, False))
        return found

    def connect(self, ssid, password):
        self.calls.append(("connect", ssid))
        if not self.is_active:
            raise OSError("Wifi Not Started")
        self.connects += 1
        self._target = ssid
        self._password = password
        self._since_ms = self.clock.ticks_ms()

    def disconnect(self):
        self.calls.append(("disconnect",))
        self._target = None

    def isconnected(self):
        return self._state()[2] is not None

    def ifconfig(self):
        ip = self._state()[2]
        return (ip or "0.0.0.0", "255.255.255.0", "172.20.10.1", "172.20.10.1")

    def status(self, param=None):
        status, associated, _ = self._state()
        if param is None:
            return status
        if param == "rssi":
            if not associated:
                raise OSError("Wifi Not Connected")
            return -55
        raise ValueError("unknown status param")

    # -- the model ------------------------------------------------------------------------

    def _network(self):
        for net in self.networks:
            if net.ssid == self._target:
                return net
        return None

    def _failing(self, t_ms, reason):
        attempts = t_ms // self.attempt_ms
        if self.reconnects and attempts >= self.reconnects:
            return (reason, False, None)
        return (STAT_CONNECTING, False, None)

    def _state(self):
        """(status, associated, ip or None) now."""
        if not self.is_active or self._target is None:
            return (STAT_IDLE, False, None)
        t_ms = self.clock.ticks_diff(self.clock.ticks_ms(), self._since_ms)
        net = self._network()
        if net is None or net.band_ghz >= 3:
            return self._failing(t_ms, 201)
        if net.password != self._password:
            return self._failing(t_ms, 202)
        if net.mode == "vanish":  # switched off after the scan saw it
            return self._failing(t_ms, 201)
        if net.mode == "handshake":  # ESP-IDF's usual verdict on a wrong WPA2 key
            return self._failing(t_ms, 204)
        if net.mode == "no_compatible_security":  # e.g. WPA3 only
            return self._failing(t_ms, 210)
        if net.mode == "weak_security":
            return self._failing(t_ms, 211)
        if net.mode == "silent":
            return (STAT_CONNECTING, False, None)
        if net.mode == "assoc_fail_once" and self.connects == 1:
            return self._failing(t_ms, 203)
        if t_ms < self.assoc_ms:
            return (STAT_CONNECTING, False, None)
        if net.mode == "no_dhcp" or t_ms < self.assoc_ms + self.dhcp_ms:
            return (STAT_CONNECTING, True, None)
        if net.mode == "flaky":
            up_ms = t_ms - self.assoc_ms - self.dhcp_ms
            if (up_ms // self.flap_ms) % 2 == 1:
                return (STAT_CONNECTING, True, None)  # dropped, reassociating
        return (STAT_GOT_IP, True, "172.20.10.2")


class FakeStorage:
    """storage.pending() / mark_synced(): the interface sync.py needs."""

    def __init__(self, files=(), fail_pending=False, fail_mark=False):
        self.files = list(files)  # (path, size)
        self.synced = {}
        self.fail_pending = fail_pending
        self.fail_mark = fail_mark

    def pending(self):
        if self.fail_pending:
            raise OSError(5)  # EIO: the SD card went away
        return [(p, s) for p, s in self.files if p not in self.synced]

    def mark_synced(self, path, sha256):
        if self.fail_mark:
            raise OSError(5)
        self.synced[path] = sha256


def write_file(path, size, seed=0):
    """A file of `size` bytes of RS-Core-like CSV lines, written through a small buffer."""
    line = (
        str(seed) + ",52.0693210,-1.0221960,153.2,88.4,271.5,14,0.7,0.01,-0.02,1.00,0.1\n"
    ).encode()
    head = b"# racesense-csv 1\n# device_id=RS-Core-7F3A\n"
    with open(path, "wb") as f:
        written = 0
        piece = head[:size]
        f.write(piece)
        written += len(piece)
        block = line * 64
        while written < size:
            piece = block[: size - written]
            f.write(piece)
            written += len(piece)
    return path


def sha256_file(path):
    import binascii
    import hashlib

    h = hashlib.sha256()
    buf = bytearray(4096)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
    return binascii.hexlify(h.digest()).decode()


class Notes:
    """A notify(dict) callback that keeps everything it was told."""

    def __init__(self, fail=False):
        self.seen = []
        self.fail = fail

    def __call__(self, status):
        self.seen.append(status)
        if self.fail:
            raise OSError(128)  # ENOTCONN: BLE is gone

    def states(self):
        out = []
        for s in self.seen:
            if s.get("type") != "progress" and (not out or out[-1] != s["state"]):
                out.append(s["state"])
        return out


class StepClock:
    """ticks_ms() moves `step_ms` on every reading: deterministic time for rate limits."""

    def __init__(self, step_ms=100):
        self.now_ms = 0
        self.step_ms = step_ms

    def ticks_ms(self):
        self.now_ms += self.step_ms
        return self.now_ms

    def ticks_diff(self, new, old):
        return new - old

    async def sleep_ms(self, ms):
        await asyncio.sleep(0)


class FakeTLS:
    """An `ssl`-like module without cryptography, whose sockets behave as MicroPython's TLS
    sockets do (modtls_mbedtls.c) while the bytes stay plain, so the uploader meets the
    plain test server through it under both interpreters (the real TLS handshake is in
    test_uploader_server.py):

    - stream methods only: write(buf) -> count or None (would block), readinto(buf) ->
      count, None (nothing yet) or 0 (closed); no send/recv, no settimeout;
    - the handshake runs inside wrap_socket (do_handshake_on_connect=True) or, deferred,
      inside the first reads or writes: `handshake_turns` of them answer None first;
    - getpeercert(True) is None until the handshake is over, then `der`; der=None plays a
      build without MBEDTLS_SSL_KEEP_PEER_CERTIFICATE (no getpeercert at all);
    - `stall_once`: the first write of application data finds the network stalled. What
      the TLS layer makes of that depends on the socket under it: non-blocking, it is
      EAGAIN, "want write", None, and the next write goes through; with a timeout, the
      socket raises ETIMEDOUT, which mbedtls passes up as fatal and which MicroPython
      keeps: every later call raises it again (sticky). The socket's mode is read from a
      RecordingSocket (below); a plain socket counts as non-blocking.
    """

    PROTOCOL_TLS_CLIENT = 2
    CERT_NONE = 0

    def __init__(self, der=b"0\x82\x01\x0afake certificate", handshake_turns=2, stall_once=False):
        self.der = der
        self.handshake_turns = handshake_turns
        self.stall_once = stall_once
        self.wrapped = []
        self.stalls = []  # how each stall surfaced: "would_block", "timeout" or "blocked"

    def SSLContext(self, protocol):
        assert protocol == self.PROTOCOL_TLS_CLIENT
        return _FakeContext(self)


class _FakeContext:
    def __init__(self, module):
        self._module = module
        self.verify_mode = None

    def wrap_socket(
        self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None
    ):
        assert self.verify_mode == FakeTLS.CERT_NONE  # trust comes from the pin
        assert not server_side
        self._module.wrapped.append(server_hostname)
        if self._module.der is None:
            return _FakeTLSStream(sock, self._module, do_handshake_on_connect)
        return _FakeTLSSocket(sock, self._module, do_handshake_on_connect)


class _FakeTLSStream:
    def __init__(self, sock, module, handshake_now):
        self._sock = sock
        self._module = module
        self._turns_left = 0 if handshake_now else module.handshake_turns
        self._stall_due = module.stall_once
        self._error = None  # sticky, as MicroPython's last_error

    def write(self, buf):
        if self._error is not None:
            raise self._error
        if self._handshaking():
            return None
        if self._stall_due:
            self._stall_due = False
            mode = _socket_mode(self._sock)
            self._module.stalls.append(mode)
            if mode == "timeout":
                self._error = OSError(110, "ETIMEDOUT")
                raise self._error
            if mode == "would_block":
                return None
        try:
            if hasattr(self._sock, "send"):
                return self._sock.send(buf)
            return self._sock.write(buf)
        except OSError as exc:
            if exc.args and exc.args[0] == 11:
                return None
            raise

    def readinto(self, buf):
        if self._error is not None:
            raise self._error
        if self._handshaking():
            return None
        try:
            if hasattr(self._sock, "recv_into"):
                return self._sock.recv_into(buf)
            return self._sock.readinto(buf)
        except OSError as exc:
            if exc.args and exc.args[0] == 11:
                return None
            raise

    def close(self):
        self._sock.close()

    def _handshaking(self):
        if self._turns_left > 0:
            self._turns_left -= 1
            return True
        return False


class _FakeTLSSocket(_FakeTLSStream):
    def getpeercert(self, binary_form=False):
        assert binary_form
        return self._module.der if self._turns_left == 0 else None


def _socket_mode(sock):
    timeout_s = getattr(sock, "timeout_s", 0)
    if timeout_s is None:
        return "blocked"
    return "timeout" if timeout_s > 0 else "would_block"


try:
    from io import IOBase as _StreamBase
except ImportError:
    _StreamBase = object


class RecordingSocket(_StreamBase):
    """A real socket that remembers its mode (timeout_s: None blocking, 0 non-blocking, or
    seconds), so FakeTLS can behave as the TLS layer over such a socket would. select.poll
    takes it under both interpreters (fileno; MicroPython asks ioctl for the fd)."""

    def __init__(self, sock):
        self._s = sock
        self.timeout_s = None

    def setblocking(self, flag):
        self.timeout_s = None if flag else 0
        self._s.setblocking(flag)

    def settimeout(self, value):
        self.timeout_s = value
        self._s.settimeout(value)

    def fileno(self):
        return self._s.fileno()

    def ioctl(self, request, arg):
        if request == 10:  # MP_STREAM_GET_FILENO: poll on the unix port
            return self._s.fileno()
        return -1

    def connect(self, addr):
        return self._s.connect(addr)

    def close(self):
        self._s.close()

    def __getattr__(self, name):
        return getattr(self._s, name)


class RecordingSocketModule:
    """The socket module, making RecordingSockets."""

    def __init__(self, socket_mod):
        self._m = socket_mod
        self.made = []

    def socket(self, *args):
        sock = RecordingSocket(self._m.socket(*args))
        self.made.append(sock)
        return sock

    def __getattr__(self, name):
        return getattr(self._m, name)
