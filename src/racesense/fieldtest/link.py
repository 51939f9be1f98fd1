"""`ShapedLink`: a link shaped like a phone hotspot between the logger and the backend.

With network namespaces (Linux, root)::

    logger ──► relay 127.0.0.1:P ──► veth rsft<pid>-<n>h 10.240.X.1 ═══ 10.240.X.2 rsft<pid>-<n>s
               (root namespace,         tbf (or netem) on both ends      namespace rsft-<pid>-<n>
                delay line, outages)                                     backend :server_port

The backend runs in `link.server_ns` (``ip netns exec``, see `server_command`) and
listens on `link.server_address:server_port`; the logger dials
`link.client_url_host:link.client_port`.

Which stage does what:

* kernel with netem: netem on both veth ends (delay, loss, rate); the relay adds only the
  outage bursts.
* kernel without netem (this machine's): tbf on both veth ends for the rate; the relay
  adds the delay, the outage bursts and the stalls standing for loss
  (`racesense.fieldtest.schedule`).
* no namespaces (not root, not Linux, or ``mode="inprocess"``): the backend listens on
  127.0.0.1 and the relay does everything, the rate with a token bucket per direction.

`link.emulation` says which ran, in a sentence for the report.

Everything made (namespace, veth pair and its qdiscs, relay thread, processes left in the
namespace) goes on exit, also on errors and Ctrl-C; `cleanup_stale()` removes what runs
killed with SIGKILL left behind. Names carry the process id: ``rsft-<pid>-<n>``.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Literal

from racesense.fieldtest import tc
from racesense.fieldtest.presets import PRESETS, LinkPreset, format_rate
from racesense.fieldtest.relay import MIN_LINE_BYTES, Relay, RelayCounters
from racesense.fieldtest.schedule import OutageSchedule, loss_stall_s

Mode = Literal["auto", "netns", "inprocess"]

PREFIX = "rsft"
SUBNET_BASE = "10.240"  # links get 10.240.X.0/24, X not in use on this host
UPLOAD_SNDBUF = 16 * 1024  # the relay's send buffer to the server (the kernel doubles it)
_counter = itertools.count(1)
_NS_RE = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_IF_RE = re.compile(rf"^{PREFIX}(\d+)-(\d+)[hs]$")


class LinkError(RuntimeError):
    """The link could not be set up."""


def _run(command: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LinkError(f"{' '.join(command)}: {exc}") from exc
    if check and done.returncode != 0:
        raise LinkError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
    return done


def namespaces_unavailable() -> str | None:
    """Why this process cannot make network namespaces, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux's ({sys.platform} here)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} (iproute2) not installed"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(ns: str, grace_s: float = 2.0) -> None:
    """SIGTERM, then SIGKILL, whatever still runs in namespace `ns` (the backend)."""

    def pids() -> list[int]:
        done = _run(["ip", "netns", "pids", ns], check=False)
        return [int(p) for p in done.stdout.split() if p.isdigit() and int(p) != os.getpid()]

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        left = pids()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pids():
            time.sleep(0.05)


def leftovers(pid: int | None = None) -> list[str]:
    """Namespaces, interfaces and qdiscs with the prefix (of process `pid` if given)."""
    if namespaces_unavailable():
        return []
    tag = f"{PREFIX}-{pid}-" if pid is not None else f"{PREFIX}-"
    iftag = f"{PREFIX}{pid}-" if pid is not None else PREFIX
    found = [
        f"netns {line.split()[0]}"
        for line in _run(["ip", "netns", "list"], check=False).stdout.splitlines()
        if line.startswith(tag)
    ]
    for line in _run(["ip", "-br", "link"], check=False).stdout.splitlines():
        name = line.split()[0].split("@")[0] if line.split() else ""
        if name.startswith(iftag):
            found.append(f"interface {name}")
    for line in _run(["tc", "qdisc", "show"], check=False).stdout.splitlines():
        match = re.search(r"\bdev (\S+)", line)
        if match and match.group(1).startswith(iftag):
            found.append(f"qdisc {line.strip()}")
    return found


def cleanup_stale() -> list[str]:
    """Removes namespaces and interfaces of this module whose process has died.

    Links of running processes are left alone. Returns what was removed.
    """
    if namespaces_unavailable():
        return []
    removed = []
    for line in _run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NS_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace_processes(name)
            _run(["ip", "netns", "del", name], check=False)
            removed.append(f"netns {name}")
    for line in _run(["ip", "-br", "link"], check=False).stdout.splitlines():
        name = line.split()[0].split("@")[0] if line.split() else ""
        match = _IF_RE.match(name)
        stale = match is not None and not _pid_alive(int(match.group(1)))
        if stale and _run(["ip", "link", "del", name], check=False).returncode == 0:
            removed.append(f"interface {name}")  # its peer went with it
    return removed


def _used_subnets() -> set[int]:
    """The X of every 10.240.X.0/24 that an address or route here already touches."""
    text = _run(["ip", "-4", "-br", "addr"], check=False).stdout
    text += _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    used: set[int] = set()
    for match in re.finditer(r"\b(\d+\.\d+\.\d+\.\d+)(?:/(\d+))?", text):
        try:
            net = ipaddress.ip_network(f"{match.group(1)}/{match.group(2) or 32}", strict=False)
        except ValueError:
            continue
        ours = ipaddress.ip_network(f"{SUBNET_BASE}.0.0/16")
        if net.overlaps(ours):
            if net.prefixlen <= 16:
                return set(range(256))  # the whole range is taken
            start = int(net.network_address) >> 8 & 0xFF
            end = int(net.broadcast_address) >> 8 & 0xFF
            used.update(range(start, end + 1))
    return used


def pick_subnet(used: set[int], seed: int) -> int:
    """A free X in 1..254, starting at a place of this process's own (fewer races)."""
    for step in range(254):
        x = (seed + step) % 254 + 1
        if x not in used:
            return x
    raise LinkError(f"no free subnet in {SUBNET_BASE}.0.0/16")


def describe_emulation(
    preset: LinkPreset, kind: Literal["tbf", "netem", "inprocess"], reason: str = ""
) -> str:
    """The sentence `link.emulation` gives."""
    rate = format_rate(preset.rate_bit_s)
    delay = f"delay {preset.delay_ms:g} ms each way"
    bursts = (
        f"outages of {preset.outage_ms:g} ms about every {preset.outage_every_s:g} s"
        if preset.has_outages
        else ""
    )
    if preset.loss_pct:
        stall = loss_stall_s(preset)
        loss = (
            f"{preset.loss_pct:g}% loss as stalls of {stall * 1000:.0f} ms about every "
            f"{stall / (preset.loss_pct / 100):.0f} s"
        )
    else:
        loss = ""
    if kind == "netem":
        kernel = ", ".join(x for x in (delay, f"{preset.loss_pct:g}% loss" * bool(loss)) if x)
        text = f"netem {rate}, {kernel} on veth (kernel)"
        return f"{text}; {bursts} by a userspace relay" if bursts else text
    relay = ", ".join(x for x in (delay, loss, bursts) if x)
    if kind == "tbf":
        return f"tbf {rate} on veth (kernel); {relay} by a userspace relay (no netem here)"
    return (
        f"in-process relay on 127.0.0.1: token bucket {rate}, {relay} "
        f"(no network namespaces: {reason})"
    )


class ShapedLink:
    """A shaped link from the logger (root namespace) to the backend; a context manager.

    `preset`: a `LinkPreset` or a name of `PRESETS`. `server_port`: where the backend
    listens. `seed`: the outage timeline. `mode`: "auto" (namespaces where possible,
    else in-process), "netns" (fail without them) or "inprocess". `netem`: None detects
    it, False forces tbf + relay, True requires netem.
    """

    server_ns: str | None
    server_address: str
    client_url_host: str
    client_port: int
    emulation: str

    def __init__(
        self,
        preset: LinkPreset | str,
        *,
        server_port: int,
        seed: int = 0,
        mode: Mode = "auto",
        netem: bool | None = None,
    ) -> None:
        self.preset = PRESETS[preset] if isinstance(preset, str) else preset
        self.server_port = server_port
        self.seed = seed
        self.mode = mode
        self.netem = netem
        self.kind: Literal["tbf", "netem", "inprocess"] | None = None
        self.server_ns = None
        self.server_address = "127.0.0.1"
        self.client_url_host = "127.0.0.1"
        self.client_port = 0
        self.emulation = ""
        self.host_interface: str | None = None
        self.ns_interface: str | None = None
        self.schedule: OutageSchedule | None = None
        self._relay: Relay | None = None
        self._undo: list[Callable[[], object]] = []

    # --- the context manager -------------------------------------------------------------

    def __enter__(self) -> ShapedLink:
        atexit.register(self.close)
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Undoes everything, newest first; carries on through errors and Ctrl-C."""
        interrupted: BaseException | None = None
        while self._undo:
            step = self._undo.pop()
            try:
                step()
            except KeyboardInterrupt as exc:  # finish cleaning, then let it through
                interrupted = exc
            except Exception:  # best effort: the next steps still run
                pass
        atexit.unregister(self.close)
        if interrupted is not None:
            raise interrupted

    # --- what the harness uses -------------------------------------------------------

    @property
    def client_address(self) -> tuple[str, int]:
        return self.client_url_host, self.client_port

    def server_command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run where the backend must run: ``ip netns exec NS ...`` or as is."""
        if self.server_ns is None:
            return list(argv)
        return ["ip", "netns", "exec", self.server_ns, *argv]

    def counters(self) -> RelayCounters:
        return self._relay.counters() if self._relay is not None else RelayCounters()

    # --- set-up -------------------------------------------------------------------------

    def _open(self) -> None:
        reason = namespaces_unavailable() if self.mode != "inprocess" else "asked for in-process"
        if reason and self.mode == "netns":
            raise LinkError(f"cannot shape with namespaces: {reason}")
        if reason is None:
            try:
                self._open_netns()
            except LinkError as exc:
                if self.mode == "netns":
                    raise
                self.close()  # whatever half got made
                reason = f"setting them up failed: {exc}"
        if reason is not None:
            self._open_inprocess(reason)

    def _start_relay(self, relay: Relay) -> None:
        self._relay = relay
        self._undo.append(relay.stop)
        self.client_url_host, self.client_port = relay.start()

    def _line_bytes(self) -> int:
        p = self.preset
        hold_s = p.delay_ms / 1000 + p.outage_ms / 1000 + (loss_stall_s(p) if p.loss_pct else 0)
        return max(MIN_LINE_BYTES, int(2 * p.rate_bit_s / 8 * hold_s))

    def _open_inprocess(self, reason: str) -> None:
        self.kind = "inprocess"
        self.server_ns, self.server_address = None, "127.0.0.1"
        self.schedule = OutageSchedule(self.preset, self.seed, time.monotonic())
        relay = Relay(
            self.server_address,
            self.server_port,
            delay_s=self.preset.delay_ms / 1000,
            schedule=self.schedule,
            rate_bit_s=self.preset.rate_bit_s,
            burst_bytes=tc.tbf_burst_bytes(self.preset.rate_bit_s),
            line_bytes=self._line_bytes(),
        )
        self._start_relay(relay)
        self.emulation = describe_emulation(self.preset, "inprocess", reason)

    def _open_netns(self) -> None:
        pid, n = os.getpid(), next(_counter) % 100
        ns = f"{PREFIX}-{pid}-{n}"
        host, peer = f"{PREFIX}{pid}-{n}h", f"{PREFIX}{pid}-{n}s"
        _run(["ip", "netns", "add", ns])
        self._undo.append(lambda: _run(["ip", "netns", "del", ns], check=False))
        self._undo.append(lambda: _kill_namespace_processes(ns))
        x = pick_subnet(_used_subnets(), pid * 7 + n)
        near, far = f"{SUBNET_BASE}.{x}.1", f"{SUBNET_BASE}.{x}.2"
        _run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns])
        self._undo.append(lambda: _run(["ip", "link", "del", host], check=False))
        self.server_ns, self.server_address = ns, far
        self.host_interface, self.ns_interface = host, peer
        for command in (
            ["ip", "addr", "add", f"{near}/24", "dev", host],
            ["ip", "link", "set", host, "up"],
            ["ip", "-n", ns, "addr", "add", f"{far}/24", "dev", peer],
            ["ip", "-n", ns, "link", "set", peer, "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "route", "add", "default", "via", near],
        ):
            _run(command)
        use_netem = self.netem
        if use_netem is None:
            use_netem = _run(tc.netem_probe_command(host), check=False).returncode == 0
        if use_netem:
            for dev, where in ((host, None), (peer, ns)):
                _run(tc.netem_command(dev, self.preset, where))
        else:
            for dev, where in ((host, None), (peer, ns)):
                _run(tc.tbf_command(dev, self.preset.rate_bit_s, where))
        self.kind = "netem" if use_netem else "tbf"
        self.schedule = OutageSchedule(
            self.preset, self.seed, time.monotonic(), loss_as_stalls=not use_netem
        )
        relay = Relay(
            far,
            self.server_port,
            delay_s=0.0 if use_netem else self.preset.delay_ms / 1000,
            schedule=self.schedule,
            line_bytes=self._line_bytes(),
            upstream_sndbuf=UPLOAD_SNDBUF,
        )
        self._start_relay(relay)
        self.emulation = describe_emulation(self.preset, self.kind)
