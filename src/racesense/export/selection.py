"""What an export writes: which rows of a session, and what its analysis says of them.

`prepare` turns a session's telemetry, its laps (from the stored results document) and
an optional choice of laps into an `Export`, which every writer formats and nothing
else: the writers compute no times, distances or lap numbers of their own.

A chosen lap is written with `MARGIN_S` of samples before its start and after its end,
so that a reader finds the start/finish line crossed at both ends and reads the lap
back as a lap of the same time (a logger's own export of one lap, RaceChrono's, does
the same). Laps whose spans, margins included, meet are written as one stretch;
others as separate stretches (`fragments`), with a jump in time between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.analysis.clean import clean_fixes, session_start_s
from racesense.analysis.errors import AnalysisError
from racesense.analysis.telemetry import FloatArray, Telemetry

IntArray = npt.NDArray[np.intp]
LatLon = tuple[float, float]

# Samples written on each side of a chosen lap: enough for a reader to see the line
# crossed at both ends at any logging rate down to 1 Hz.
MARGIN_S = 2.0


class SelectionError(ValueError):
    """The laps asked for are not laps of the session. The message is a sentence."""

    code = "unknown_lap"


class NoLapsError(SelectionError):
    """Laps were asked for, but the session has none (not analysed, or none found)."""

    code = "no_laps"


@dataclass(frozen=True)
class LapBounds:
    """One lap of the results document: seconds from the session's first sample."""

    number: int
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class Export:
    """Rows of one session to write, with what is known of each row. Every per-row
    array has one value per written row, in the order of `rows`."""

    telemetry: Telemetry  # the whole session
    rows: IntArray  # indices into `telemetry`, ascending
    fragment_ids: IntArray  # 0, 1, ...: the contiguous stretch each row belongs to
    lap_numbers: FloatArray  # the lap each row lies in; NaN before the first, after the last
    elapsed_s: FloatArray  # seconds since the session's first sample (laps count from it)
    distance_m: FloatArray  # distance driven since the session's first fix; NaN: unknown
    title: str  # the session's name, for the file's own header
    track_name: str | None = None
    laps: tuple[int, ...] | None = None  # the laps chosen; None: the whole session
    # The results' start/finish line, (latitude, longitude) in degrees at each end.
    start_finish: tuple[LatLon, LatLon] | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def scope(self) -> str:
        """What the export holds, in words: "whole session", "lap 3", "laps 3 + 5"."""
        if self.laps is None:
            return "whole session"
        numbers = " + ".join(str(n) for n in self.laps)
        return f"lap {numbers}" if len(self.laps) == 1 else f"laps {numbers}"

    def subset(self, keep: npt.NDArray[np.bool_]) -> Export:
        """The export of the rows where `keep` is True."""
        return dataclasses.replace(
            self,
            rows=self.rows[keep],
            fragment_ids=self.fragment_ids[keep],
            lap_numbers=self.lap_numbers[keep],
            elapsed_s=self.elapsed_s[keep],
            distance_m=self.distance_m[keep],
        )

    def column(self, name: str) -> FloatArray:
        """A core channel of the telemetry (`t_s`, `lat_deg`, ...), at the written rows."""
        values: FloatArray = getattr(self.telemetry, name)
        return values[self.rows]


def _lap_list(laps: Sequence[LapBounds]) -> str:
    numbers = sorted(lap.number for lap in laps)
    return ", ".join(str(n) for n in numbers)


def check_laps(laps: Sequence[LapBounds], chosen: Collection[int]) -> None:
    """Raise a SelectionError unless every lap in `chosen` is one of `laps`."""
    if not laps:
        raise NoLapsError(
            "The session has no laps (it has not been analysed, or no lap was found); "
            "it can only be exported whole."
        )
    known = {lap.number for lap in laps}
    missing = sorted(set(chosen) - known)
    if missing:
        which = ", ".join(str(n) for n in missing)
        raise SelectionError(
            f"The session has no lap {which}; its laps are {_lap_list(laps)}."
            if len(missing) == 1
            else f"The session has no laps {which}; its laps are {_lap_list(laps)}."
        )


def _lap_numbers(t_s: FloatArray, laps: Sequence[LapBounds], t0_s: float) -> FloatArray:
    """The number of the lap each time lies in ([start, end); the last lap's end is
    included), NaN outside every lap."""
    numbers = np.full(t_s.shape, np.nan)
    if not laps:
        return numbers
    ordered = sorted(laps, key=lambda lap: lap.start_s)
    starts = np.array([lap.start_s for lap in ordered]) + t0_s
    ends = np.array([lap.end_s for lap in ordered]) + t0_s
    ends[-1] = np.nextafter(ends[-1], np.inf)
    k = np.searchsorted(starts, t_s, side="right") - 1
    inside = (k >= 0) & (t_s < ends[np.clip(k, 0, None)])
    values = np.array([lap.number for lap in ordered], dtype=np.float64)
    numbers[inside] = values[k[inside]]
    return numbers


def prepare(
    telemetry: Telemetry,
    *,
    title: str,
    laps: Sequence[LapBounds] = (),
    chosen: Collection[int] | None = None,
    track_name: str | None = None,
    start_finish: tuple[LatLon, LatLon] | None = None,
    margin_s: float = MARGIN_S,
) -> Export:
    """The rows to write: all of them, or those of the `chosen` laps with `margin_s`
    either side. `laps` are the session's laps as its results document has them (in
    seconds from the session's first sample, found here as the analysis finds it).
    Raises SelectionError for a chosen lap the session does not have."""
    if chosen is not None:
        check_laps(laps, chosen)
    t = telemetry.t_s
    try:
        fixes = clean_fixes(telemetry)
        t0_s = session_start_s(telemetry, fixes)
        # The analysis's own distance (from speeds, gaps bridged), so that a lap's
        # distance in the file is the lap's distance in the results.
        distance = np.interp(t, fixes.t_s, fixes.dist_m)
    except AnalysisError:  # no fixes: nothing to time, nothing driven
        t0_s = float(t.min()) if t.shape[0] else 0.0
        distance = np.full(t.shape, np.nan)
    if chosen is None:
        rows: IntArray = np.arange(t.shape[0])
    else:
        keep = np.zeros(t.shape, dtype=bool)
        by_number = {lap.number: lap for lap in laps}
        for number in sorted(set(chosen)):
            lap = by_number[number]
            keep |= (t >= lap.start_s + t0_s - margin_s) & (t <= lap.end_s + t0_s + margin_s)
        rows = np.flatnonzero(keep)
    fragment_ids: IntArray = np.zeros(rows.shape, dtype=np.intp)
    if rows.shape[0] > 1:
        fragment_ids[1:] = np.cumsum(np.diff(rows) > 1)
    return Export(
        telemetry=telemetry,
        rows=rows,
        fragment_ids=fragment_ids,
        lap_numbers=_lap_numbers(t[rows], laps, t0_s),
        elapsed_s=t[rows] - t0_s,
        distance_m=distance[rows],
        title=title,
        track_name=track_name,
        laps=None if chosen is None else tuple(sorted(set(chosen))),
        start_finish=start_finish,
    )
