"""What uvicorn lacks against slow and idle clients: deadlines for a request's head and
body, and caps on connections (server.py runs uvicorn with them).

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but the first
byte of a request cancels that timer, and nothing then bounds how long the rest of the
head may take; nor does anything bound a request body that no route reads with a
deadline of its own. A client that trickles its head a byte a second, or sends headers
with a Content-Length and then nothing, holds its socket for ever, and about a thousand
of them exhaust the file descriptors. Its `limit_concurrency` does not help: it counts
those sockets too, and then answers every request, /api/health included, with 503.

So `GuardedH11Protocol`, a subclass of uvicorn's h11 protocol (uvicorn takes the class
as `http=`), adds to every connection:

- a deadline for the request head, `head_timeout_s` from the connection or from the end
  of the previous response on keep-alive: armed in `connection_made`, disarmed once h11
  holds the whole head;
- while the client sends a body, a silence deadline and a minimum average rate, judged
  only while the server waits for the client (not while the app has paused reading, or
  owes a `100 Continue`). They back up every route: the upload route's own, stricter
  limits answer first where it has them (BODY_GRACE_S, MIN_BODY_RATE_BPS);

and `ConnectionGuard` caps connections in total and per client address. A connection
that waits for a request head holds nothing but a socket, and its client loses no more
than a reconnect if it is closed (browsers reopen a closed keep-alive connection by
themselves). So when a cap is full the connection that has waited longest for its head
is closed to make room, and a new connection is refused (503) only when every
connection under that cap is busy with a request. Idle and trickling sockets therefore
never lock anyone out, /api/health from the same address included.

All of it is Python on asyncio's transports and h11 (uvicorn's pure-Python parser), so it
runs the same on Windows' proactor loop as on Linux; only raising the open-file limit is
POSIX (Windows has no such limit on sockets).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Literal, Protocol

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from racesense.settings import Settings

log = logging.getLogger("racesense.web.guard")

# A route with its own body limits (the upload's: 408 after body_timeout_s of silence,
# or under 1 KB/s) answers before these backstops, which every body gets.
BODY_GRACE_S = 2.0
MIN_BODY_RATE_BPS = 512
# File descriptors the process needs besides its sockets (database, worker pipes, logs),
# and per connection (its socket, and the temporary file of an upload in progress).
FDS_RESERVED = 128
FDS_PER_CONNECTION = 2
# macOS refuses an unlimited soft limit; it takes up to OPEN_MAX (10240).
OPEN_MAX = 10240
# A flood of connections must not become a flood of log lines.
LOG_EVERY_S = 10.0
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Limits:
    head_timeout_s: float
    body_silence_s: float
    min_body_rate_bps: float
    max_connections: int
    max_per_address: int

    @classmethod
    def from_settings(cls, settings: Settings, open_files: int | None) -> Limits:
        """The limits for `settings`, the total cap lowered to what `open_files` (the
        process's limit, None for none) can hold."""
        total = settings.max_connections
        if open_files is not None:
            affordable = max(1, (open_files - FDS_RESERVED) // FDS_PER_CONNECTION)
            if affordable < total:
                log.warning(
                    "at most %d connections, not %d: the process may open only %d files",
                    affordable,
                    total,
                    open_files,
                )
                total = affordable
        return cls(
            head_timeout_s=settings.head_timeout_s,
            body_silence_s=settings.body_timeout_s + BODY_GRACE_S,
            min_body_rate_bps=MIN_BODY_RATE_BPS,
            max_connections=total,
            max_per_address=min(total, settings.max_connections_per_address),
        )


def raise_open_file_limit() -> int | None:
    """Raise this process's soft limit on open files to the hard limit the system
    allows; the limit now in force, or None where there is none to raise (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    wanted = [hard] if hard != resource.RLIM_INFINITY else []
    for target in [*wanted, OPEN_MAX]:
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return target
    return soft


def address_key(client: tuple[str, int] | None) -> str:
    """Whose connection this is, for the per-address cap: the IPv4 address, or the /64
    of an IPv6 one (a phone or a hotspot gets a whole /64 and picks addresses in it)."""
    if client is None:
        return "local"
    try:
        ip = ipaddress.ip_address(client[0])
    except ValueError:
        return client[0]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Evictable(Protocol):
    def evict(self) -> None:
        """Close this connection now, without an answer: it was waiting for a head."""


class ConnectionGuard:
    """Connection counts, in total and per address, and which connections wait for a
    request head, longest-waiting first (a dict keeps insertion order). No I/O: the
    protocol says what happens; `admit` decides, and evicts to make room."""

    def __init__(self, max_total: int, max_per_address: int) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self._address: dict[Evictable, str] = {}
        self._per_address: Counter[str] = Counter()
        self._waiting: dict[Evictable, None] = {}
        self._waiting_at: dict[str, dict[Evictable, None]] = {}

    @property
    def total(self) -> int:
        return len(self._address)

    def count(self, address: str) -> int:
        return self._per_address[address]

    def admit(self, conn: Evictable, address: str) -> bool:
        """Count `conn` in, closing waiting connections to make room if a cap is full;
        False (and nothing counted) if every connection under the full cap is busy."""
        while self._per_address[address] >= self.max_per_address:
            if not self._evict_oldest(self._waiting_at.get(address)):
                return False
        while len(self._address) >= self.max_total:
            if not self._evict_oldest(self._waiting):
                return False
        self._address[conn] = address
        self._per_address[address] += 1
        return True

    def waiting(self, conn: Evictable) -> None:
        """`conn` now waits for a request head: the newest of those waiting."""
        address = self._address.get(conn)
        if address is None:
            return
        self.busy(conn)
        self._waiting[conn] = None
        self._waiting_at.setdefault(address, {})[conn] = None

    def busy(self, conn: Evictable) -> None:
        """`conn` has a request under way: it is never evicted."""
        self._waiting.pop(conn, None)
        address = self._address.get(conn, "")
        at = self._waiting_at.get(address)
        if at is not None:
            at.pop(conn, None)
            if not at:
                del self._waiting_at[address]

    def release(self, conn: Evictable) -> None:
        """`conn` is closed (again is fine)."""
        self.busy(conn)
        address = self._address.pop(conn, None)
        if address is None:
            return
        self._per_address[address] -= 1
        if not self._per_address[address]:
            del self._per_address[address]

    def _evict_oldest(self, waiting: dict[Evictable, None] | None) -> bool:
        if not waiting:
            return False
        victim = next(iter(waiting))
        self.release(victim)
        victim.evict()
        return True


class Tally:
    """What happened to slow and idle clients, logged at most once every LOG_EVERY_S:
    the first event at once, those after it summed into the next line."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._logged_at = -math.inf

    def add(self, what: str) -> None:
        self._counts[what] += 1
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY_S:
            return
        level = logging.WARNING if self._counts["refused (all busy)"] else logging.INFO
        log.log(level, "connections: %s", ", ".join(f"{n} {w}" for w, n in self._counts.items()))
        self._counts.clear()
        self._logged_at = now


def error_bytes(status: int, code: str, message: str, *headers: str) -> bytes:
    """A whole response with the API's one error shape (web/errors.py), written raw:
    where it is sent, h11 has no request to answer, or the connection is closing."""
    body = json.dumps({"ok": False, "status": status, "error": code, "message": message})
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


Phase = Literal["waiting", "body", "app"]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on every wait for the client, counted
    under the caps. Phases, from h11's view of the client:

    - "waiting": for a request head (h11 IDLE). Deadline head_timeout_s; evictable.
    - "body": the client sends a body (SEND_BODY). Silence and rate limits.
    - "app": the request has arrived; the app works or answers (an SSE stream lives
      here). No deadline: the client owes nothing.

    `bind` makes the class uvicorn instantiates, with the guard its connections share.
    """

    guard: ClassVar[ConnectionGuard]
    limits: ClassVar[Limits]
    tally: ClassVar[Tally]

    @classmethod
    def bind(cls, limits: Limits) -> type[GuardedH11Protocol]:
        attributes = {
            "guard": ConnectionGuard(limits.max_connections, limits.max_per_address),
            "limits": limits,
            "tally": Tally(),
        }
        return type(cls.__name__, (cls,), attributes)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._phase: Phase = "app"
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0  # when the phase began, or the client began to be judged
        self._last_byte_at = 0.0
        self._body_bytes = 0

    # -- uvicorn's protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self, address_key(self.client)):
            self.tally.add("refused (all busy)")
            message = "The server has too many requests under way; try again shortly."
            transport.write(error_bytes(503, "busy", message, f"Retry-After: {RETRY_AFTER_S}"))
            transport.close()
            return
        self._enter("waiting")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_byte_at = self.loop.time()
        self._body_bytes += len(data)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow_client()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_client()

    # -- the guard -------------------------------------------------------------------

    def evict(self) -> None:
        self.tally.add("closed while waiting (cap full)")
        self._disarm()
        self.transport.close()

    def _follow_client(self) -> None:
        """Enter the phase that h11's view of the client now says."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        phase: Phase = "app"
        if state is h11.IDLE:
            phase = "waiting"
        elif state is h11.SEND_BODY:
            phase = "body"
        if phase != self._phase:
            self._enter(phase)

    def _enter(self, phase: Phase) -> None:
        self._phase = phase
        self._restart_clock()
        if phase == "waiting":
            self.guard.waiting(self)
            self._arm(self.limits.head_timeout_s)
        else:
            self.guard.busy(self)
            if phase == "body":
                self._arm(self.limits.body_silence_s)
            else:
                self._disarm()

    def _restart_clock(self) -> None:
        self._since = self._last_byte_at = self.loop.time()
        self._body_bytes = 0

    def _arm(self, delay_s: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay_s, self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _server_holds_up_client(self) -> bool:
        """True while the client cannot send: the app has not taken what came (uvicorn
        paused reading) or has not yet asked for the body the client holds back for
        `Expect: 100-continue`."""
        cycle = self.cycle
        return self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue)

    def _check(self) -> None:
        """The deadline timer: one per connection, re-armed lazily (bytes arriving only
        move `_last_byte_at`), so a fast upload costs no timer churn."""
        self._timer = None
        if self.transport.is_closing():
            return
        limits = self.limits
        if self._phase == "waiting":
            self._time_out(f"The request head did not arrive within {limits.head_timeout_s:g} s.")
            return
        if self._phase != "body":
            return
        if self._server_holds_up_client():
            self._restart_clock()
            self._arm(limits.body_silence_s)
            return
        now = self.loop.time()
        silent_s = now - self._last_byte_at
        judged_s = now - self._since
        if silent_s >= limits.body_silence_s:
            self._time_out(f"The client sent nothing for {limits.body_silence_s:g} s.")
        elif judged_s >= limits.body_silence_s and (
            self._body_bytes < limits.min_body_rate_bps * judged_s
        ):
            self._time_out(
                f"The client sends slower than {limits.min_body_rate_bps:g} bytes a second."
            )
        else:
            self._arm(max(0.05, limits.body_silence_s - silent_s))

    def _time_out(self, message: str) -> None:
        """Close the connection, with a 408 if the client has begun a request that has
        no answer yet (an idle keep-alive connection is closed without one, since a
        client may be sending its next request on it this very moment)."""
        self.tally.add("timed out")
        if self._phase == "waiting":
            answer = bool(self.conn.trailing_data[0])  # part of a head arrived
        else:
            cycle = self.cycle
            answer = cycle is not None and not cycle.response_started
            if cycle is not None and not cycle.response_complete:
                # The app sees a disconnect; anything it still sends goes nowhere.
                cycle.disconnected = True
                cycle.message_event.set()
        if answer:
            self.transport.write(error_bytes(408, "timeout", message))
        self.transport.close()
