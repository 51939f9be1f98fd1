"""When the emulated link is down: outage bursts and the stalls that stand for loss.

Both come from seeded `random.Random` Poisson processes, so one seed gives one timeline.
Times are `time.monotonic()` seconds; the timeline starts at the link's start.

Loss model (used where the kernel has no netem). A TCP stream losing a share ``p`` of
its packets delays each packet, on average, by about ``p * RTT``: the lost one waits
roughly one round trip for its fast retransmission. We replace the losses by stalls of
``S = 2 * RTT`` (``RTT = 2 * delay``), during which nothing is forwarded either way,
arriving at a rate ``λ``. A byte arriving at a random time then waits
``λ * S * S / 2`` on average (it falls in a stall with probability ``λ * S`` and waits half
of it). Equal expected delays give ``λ * S**2 / 2 = p * RTT``, i.e. ``λ * S = p``: the
link is stalled a share ``p`` of the time. For "poor" (2%, 150 ms each way) that is a
600 ms stall every 30 s on average; for "crowded" (1%, 80 ms) 320 ms every 32 s. The model
keeps the mean delay and goodput of the lossy link, not its variance or TCP's slow
recovery of its window.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from racesense.fieldtest.presets import LinkPreset

# A stall standing for loss when the preset has no delay (no RTT to scale by).
MIN_LOSS_STALL_S = 0.02


@dataclass(frozen=True)
class Outage:
    """The link is down from `start` to `end` (monotonic seconds)."""

    start: float
    end: float
    kind: str  # "burst" (an outage of the preset) or "loss" (a stall standing for loss)

    @property
    def duration(self) -> float:
        return self.end - self.start


def loss_stall_s(preset: LinkPreset) -> float:
    """The length of one stall standing for loss: two round trips."""
    return max(MIN_LOSS_STALL_S, 2 * (2 * preset.delay_ms / 1000))


class _Poisson:
    """Intervals of `duration` s, starting after exponential gaps of mean `every` s."""

    def __init__(self, rng: random.Random, every: float, duration: float, kind: str, t0: float):
        self._rng, self._every, self._duration, self._kind = rng, every, duration, kind
        self._next_start = t0 + rng.expovariate(1 / every)

    def pop(self) -> Outage:
        outage = Outage(self._next_start, self._next_start + self._duration, self._kind)
        # The next one starts after this one ends: the gap is measured from the end.
        self._next_start = outage.end + self._rng.expovariate(1 / self._every)
        return outage

    def peek_start(self) -> float:
        return self._next_start


class OutageSchedule:
    """The merged timeline of bursts and loss stalls of one link, generated lazily.

    Thread-safe: the relay's thread asks `outage_at`, tests and reports `until`.
    Memory is bounded: outages that ended more than `keep_s` before the latest query
    are forgotten.
    """

    def __init__(
        self,
        preset: LinkPreset,
        seed: int,
        t0: float,
        *,
        loss_as_stalls: bool = True,
        keep_s: float = 60.0,
    ) -> None:
        self._sources: list[_Poisson] = []
        if preset.has_outages:
            rng = random.Random(f"{seed}/bursts")
            self._sources.append(
                _Poisson(rng, preset.outage_every_s, preset.outage_ms / 1000, "burst", t0)
            )
        if loss_as_stalls and preset.loss_pct > 0:
            stall = loss_stall_s(preset)
            every = stall / (preset.loss_pct / 100)  # λ·S = p, λ = 1/every
            rng = random.Random(f"{seed}/loss")
            self._sources.append(_Poisson(rng, every, stall, "loss", t0))
        self._known: list[Outage] = []  # sorted by start; may overlap (different kinds)
        self._horizon = t0  # every outage starting before this is in _known
        self._keep_s = keep_s
        self._lock = threading.Lock()

    @property
    def empty(self) -> bool:
        return not self._sources

    def _extend(self, t: float) -> None:
        while self._sources and self._horizon <= t:
            source = min(self._sources, key=lambda s: s.peek_start())
            outage = source.pop()
            self._known.append(outage)
            self._horizon = min(s.peek_start() for s in self._sources)

    def _forget_before(self, t: float) -> None:
        cut = t - self._keep_s
        if self._known and self._known[0].end < cut:
            self._known = [o for o in self._known if o.end >= cut]

    def outage_at(self, t: float) -> float | None:
        """The time the link comes back if it is down at `t`, else None."""
        with self._lock:
            self._extend(t)
            self._forget_before(t)
            end: float | None = None
            changed = True
            while changed:  # overlapping outages chain into one
                changed = False
                probe = t if end is None else end
                for o in self._known:
                    if o.start <= probe < o.end and (end is None or o.end > end):
                        end, changed = o.end, True
                self._extend(end if end is not None else t)
            return end

    def until(self, t: float, kind: str | None = None) -> list[Outage]:
        """The outages starting before `t` still remembered, of `kind` if given."""
        with self._lock:
            self._extend(t)
            return [o for o in self._known if o.start < t and kind in (None, o.kind)]
