"""Helpers the writers share: times of the written rows, fixed-decimal number columns,
gaps filled for formats that have no missing value. Private to `racesense.export`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import CORE_CHANNELS, FloatArray
from racesense.export.selection import Export

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Characters XML 1.0 cannot hold at all, and line breaks and other controls, which no
# one-line header field may hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]+")


def started_at(export: Export) -> dt.datetime:
    """When the session's clock reads 0. A recording without a date (AiM CSV, a log of
    relative times) is written as starting at the Unix epoch: its files need a date."""
    return export.telemetry.started_at or EPOCH


def unix_ms(export: Export) -> npt.NDArray[np.int64]:
    """Each written row's time in whole milliseconds since the Unix epoch (UTC)."""
    start_ms = (started_at(export) - EPOCH) / dt.timedelta(milliseconds=1)
    t_ms = np.rint(export.column("t_s") * 1000.0 + start_ms)
    return np.asarray(t_ms, dtype=np.int64)


def first_time(export: Export) -> dt.datetime:
    """The first written row's time, UTC, to the millisecond (or the start of the
    session when there is no row)."""
    if len(export) == 0:
        return started_at(export)
    return EPOCH + dt.timedelta(milliseconds=int(unix_ms(export)[0]))


def one_line(text: str) -> str:
    """`text` with line breaks and control characters as single spaces."""
    return _CONTROL.sub(" ", text).strip()


def xml_text(text: str) -> str:
    """`text` as XML character data: markup escaped, characters XML cannot hold dropped."""
    return escape(_NOT_XML.sub("", text))


@dataclass(frozen=True)
class Column:
    """Numbers to write with a printf-style layout: `flags` then `decimals` decimals
    (`Column(v, 6, "+013")` writes +03119.099730)."""

    values: FloatArray
    decimals: int
    flags: str = ""

    @property
    def spec(self) -> str:
        return f"%{self.flags}.{self.decimals}f"

    def strings(self, missing: str = "") -> list[str]:
        """Each value as text, `missing` for NaN."""
        spec = self.spec
        return [missing if v != v else spec % v for v in self.rounded()]

    def rounded(self) -> list[float]:
        # Rounded first, then +0.0: a value that rounds to zero is written 0.000, never
        # -0.000.
        with np.errstate(invalid="ignore"):
            rounded: list[float] = (np.round(self.values, self.decimals) + 0.0).tolist()
        return rounded


def table(columns: Sequence[Column | list[str]], sep: str, newline: str, missing: str = "") -> str:
    """Rows of delimited text, one per value; a NaN is written as `missing`. Columns
    without NaN are formatted by one template per row, which is several times faster
    than a format call per cell."""
    specs: list[str] = []
    cells: list[list[str] | list[float]] = []
    for column in columns:
        if isinstance(column, list):
            specs.append("%s")
            cells.append(column)
        elif np.isnan(column.values).any():
            specs.append("%s")
            cells.append(column.strings(missing))
        else:
            specs.append(column.spec)
            cells.append(column.rounded())
    template = sep.join(specs) + newline
    return "".join([template % row for row in zip(*cells, strict=True)])


def filled(export: Export, name: str) -> FloatArray | None:
    """Core channel `name` at the written rows, with no NaN, for formats that have no
    missing value (VBO): a continuous channel linearly interpolated in time between its
    samples (a 25 Hz IMU on 10 Hz fixes; the heading the short way round), a discrete one
    held from its last sample (from its first, before that). None when the session has
    no value of it at all."""
    tel = export.telemetry
    values: FloatArray = getattr(tel, name)
    have = np.flatnonzero(np.isfinite(values))
    if have.shape[0] == 0:
        return None
    at_rows = values[export.rows]
    if np.isfinite(at_rows).all():
        return at_rows
    t = tel.t_s
    if name == "heading_deg":  # an angle: from 359 to 1 through 0, not through 180
        turned = np.unwrap(values[have], period=360.0)
        heading: FloatArray = np.mod(np.interp(t[export.rows], t[have], turned), 360.0)
        return heading
    if CORE_CHANNELS[name].kind == "continuous":
        result: FloatArray = np.interp(t[export.rows], t[have], values[have])
        return result
    last = np.searchsorted(have, export.rows, side="right") - 1
    held: FloatArray = values[have[np.clip(last, 0, None)]]
    return held
