"""The network adapter of net_conn on `socket`, `select` and `ssl` (MicroPython on the ESP32;
the same code runs on the unix port and on CPython, which is how the tests use it).

Every call returns at once, so the logger's one event loop never waits on the network:
- sockets are non-blocking: a connect is started, then polled; a send or a receive moves
  what it can (0 / None when it would block);
- TLS gets the non-blocking socket and does its handshake a step at a time. A socket
  timeout under MicroPython's TLS is no "try again": when a send stalls past it (routine
  on a phone's hotspot with BLE active), mbedtls passes the ETIMEDOUT up as a fatal error
  and the TLS object keeps it, so the connection is dead. Non-blocking, the same stall is
  EAGAIN, which mbedtls turns into "want write": the next call carries on;
- name lookups (getaddrinfo: up to 5 s for a `.local` name mDNS cannot find on the ESP32)
  and any other call that has to block run on a thread (`background`): the ESP32 port
  releases the GIL inside getaddrinfo and a Wi-Fi scan, so the loop runs meanwhile.

What net_conn uses (tests may stand in for any of it):
    tls_available                       bool
    resolve(host, port) -> Job          .done, then .value (an addrinfo tuple) or .error
    open(addrinfo) -> link              a connect under way; OSError if it cannot start
    connected(link) -> bool             True once connected; OSError when it failed
    start_tls(link, server_hostname)    wrap the connected socket (no handshake yet)
    can_show_cert(link) -> bool         whether this build can show the peer certificate
    handshake(link) -> bool             one step of it; True once complete
    peer_cert(link) -> bytes            the server's certificate, DER
    send(link, view) -> int             bytes taken; 0 when it would block; OSError
    recv_into(link, view) -> int|None   bytes read; None when it would block; 0 at the end
    close(link)

The only firmware module that uses socket, select and ssl (main.py hands them in).
"""

import select

try:
    import _thread
except ImportError:  # a build without threads: blocking calls then run inline
    _thread = None

# errno values: EAGAIN is 11 on Linux, lwIP and newlib alike; a connect under way is
# EINPROGRESS (115 Linux, 119 newlib/ESP-IDF) or EALREADY (114, 120).
_EAGAIN = 11
_CONNECT_UNDER_WAY = (11, 114, 115, 119, 120)
_ECONNREFUSED = 111
_ECONNRESET = 104
_EPROTO = 71
_POLL_FAILED = select.POLLERR | select.POLLHUP


class Job:
    """A blocking call's outcome: `done`, then `value` or `error` (an exception)."""

    def __init__(self):
        self.done = False
        self.value = None
        self.error = None

    def run(self, fn, args):
        try:
            self.value = fn(*args)
        except Exception as exc:  # handed to whoever waits on the job
            self.error = exc
        self.done = True


def background(fn, *args):
    """Run fn(*args) on a thread when there are threads (inline otherwise): a Job."""
    job = Job()
    if _thread is not None:
        try:
            _thread.start_new_thread(job.run, (fn, args))
            return job
        except (OSError, MemoryError, RuntimeError):
            pass  # no thread to be had just now: the call runs here, blocking
    job.run(fn, args)
    return job


def inline(fn, *args):
    """Run fn(*args) at once (tests in virtual time): a finished Job."""
    job = Job()
    job.run(fn, args)
    return job


class _Link:
    def __init__(self, sock, poller):
        self.sock = sock
        self.stream = sock  # the TLS object once wrapped
        self.poller = poller  # until the connect completes
        # CPython sockets (plain or TLS) have send/recv_into, raising when they would
        # block; MicroPython's are streams (write/readinto) answering None instead.
        self.socket_calls = hasattr(sock, "recv_into")


# Free heap an https upload needs beside BLE and Wi-Fi: mbedTLS's two record buffers
# (16 KB each by default), the server's chain and the ECDHE state. An ESP32 without
# PSRAM has about half of it left with both radios up; with PSRAM, megabytes.
TLS_HEAP_BYTES = 60000


def tls_capable(ssl_mod, mem_free=None):
    """Can this build upload over https with a pinned certificate? (BLE `info` tells
    the phone, which then picks the https address or the upload-only plain one.)"""
    if ssl_mod is None or not hasattr(ssl_mod, "SSLContext"):
        return False
    if mem_free is None:
        try:
            import gc

            mem_free = gc.mem_free  # MicroPython
        except (ImportError, AttributeError):
            return True  # CPython: no such limit
    return mem_free() >= TLS_HEAP_BYTES


class SocketNet:
    def __init__(self, socket_mod, ssl_mod=None, getaddrinfo=None, run=background):
        self._socket = socket_mod
        self._ssl = ssl_mod
        self._getaddrinfo = getaddrinfo or socket_mod.getaddrinfo
        self._run = run
        self.tls_available = ssl_mod is not None
        want = []
        for name in ("SSLWantReadError", "SSLWantWriteError"):  # CPython's "would block"
            cls = getattr(ssl_mod, name, None)
            if cls is not None:
                want.append(cls)
        self._want = tuple(want)
        self._probe = bytearray(1)

    # -- names and connections ----------------------------------------------------------

    def resolve(self, host, port):
        if _is_ip_literal(host):
            return inline(self._lookup, host, port)  # nothing to look up: no thread
        return self._run(self._lookup, host, port)

    def _lookup(self, host, port):
        infos = self._getaddrinfo(host, port, 0, self._socket.SOCK_STREAM)
        if not infos:
            raise OSError(-2, "no address for " + host)  # EAI_NONAME
        return infos[0]

    def open(self, info):
        sock = self._socket.socket(info[0], info[1], info[2])
        try:
            sock.setblocking(False)
            try:
                sock.connect(info[-1])
            except OSError as exc:
                if _errno(exc) not in _CONNECT_UNDER_WAY:
                    raise
            poller = select.poll()
            poller.register(sock, select.POLLOUT)
        except BaseException:
            sock.close()
            raise
        return _Link(sock, poller)

    def connected(self, link):
        if link.poller is None:
            return True
        events = link.poller.poll(0)
        if not events:
            return False
        flags = events[0][1]
        if flags & _POLL_FAILED:
            raise OSError(self._socket_error(link.sock), "connect failed")
        if flags & select.POLLOUT:
            link.poller = None
            return True
        return False

    def _socket_error(self, sock):
        getsockopt = getattr(sock, "getsockopt", None)  # CPython; MicroPython has none
        if getsockopt is not None:
            try:
                code = getsockopt(self._socket.SOL_SOCKET, self._socket.SO_ERROR)
                if code:
                    return code
            except (OSError, AttributeError):
                pass
        return _ECONNREFUSED

    # -- TLS ----------------------------------------------------------------------------

    def start_tls(self, link, server_hostname):
        ssl = self._ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False  # CPython wants this before CERT_NONE
        # Trust comes from the certificate pin net_conn checks, not from a chain.
        ctx.verify_mode = ssl.CERT_NONE
        link.stream = ctx.wrap_socket(
            link.sock, server_hostname=server_hostname, do_handshake_on_connect=False
        )
        link.socket_calls = hasattr(link.stream, "recv_into")

    def can_show_cert(self, link):
        # MicroPython builds without MBEDTLS_SSL_KEEP_PEER_CERTIFICATE (the unix port
        # among them) have no getpeercert at all.
        return hasattr(link.stream, "getpeercert")

    def handshake(self, link):
        tls = link.stream
        if hasattr(tls, "do_handshake"):  # CPython
            try:
                tls.do_handshake()
            except OSError as exc:
                if self._would_block(exc):
                    return False
                raise
            return True
        # MicroPython has no do_handshake: the handshake runs inside the first read or
        # write. A one-byte read drives it without sending anything (no HTTP server
        # speaks first), and the peer certificate is there only once it is complete.
        n = tls.readinto(self._probe)
        if n == 0:
            raise OSError(_ECONNRESET, "closed during the TLS handshake")
        if n:
            raise OSError(_EPROTO, "the server spoke first: not HTTP")
        return tls.getpeercert(True) is not None

    def peer_cert(self, link):
        return link.stream.getpeercert(True)

    # -- data ---------------------------------------------------------------------------

    def send(self, link, view):
        stream = link.stream
        try:
            if link.socket_calls:
                return stream.send(view)
            n = stream.write(view)  # the count moved, or None when nothing could be
        except OSError as exc:
            if self._would_block(exc):
                return 0
            raise
        return n or 0

    def recv_into(self, link, view):
        stream = link.stream
        try:
            if link.socket_calls:
                return stream.recv_into(view)
            return stream.readinto(view)  # None when nothing has arrived
        except OSError as exc:
            if self._would_block(exc):
                return None
            raise

    def close(self, link):
        for obj in (link.stream, link.sock):  # the TLS object, then the socket under it
            try:
                obj.close()
            except OSError:
                pass  # already closed with the other one
            if link.stream is link.sock:
                break

    def _would_block(self, exc):
        return isinstance(exc, self._want) or _errno(exc) == _EAGAIN


def _errno(exc):
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _is_ip_literal(host):
    if ":" in host:
        return True  # IPv6
    parts = host.split(".")
    if len(parts) != 4:
        return False
    return all(part.isdigit() for part in parts)  # "".isdigit() is False
