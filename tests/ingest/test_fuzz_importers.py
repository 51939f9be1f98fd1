"""Fuzzing the importers and the analysis behind them with damaged files.

A valid file of each format (tests/ingest/format_writers.py) is damaged the ways files
are damaged in the field and by hostile uploads: cut short, bytes flipped, numeric fields
replaced by huge or non-finite numbers (in one row, two adjacent rows or many rows of
one column), lines duplicated or reordered, the text re-encoded (UTF-16, Latin-1, a
byte-order mark). Whatever the damage, reading and analysing the file (and encoding the
result as the worker stores it) either gives a result or raises IngestError/
AnalysisError: never any other exception, never a warning (NumPy's overflow and
invalid-value warnings included), and never more memory than a multiple of the file's
size plus a fixed allowance (Python's and NumPy's allocations, as tracemalloc sees
them; pyarrow's own pool is not traced, and holds the file's columns once).

Reproducible: a fixed number of examples per format, derandomized, no example database.
The session summary (tests/ingest/conftest.py) prints how many cases ran and failed:

    .venv/bin/python -m pytest tests/ingest/test_fuzz_importers.py -q
"""

from __future__ import annotations

import json
import re
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Callable

import pytest
from format_writers import WRITERS, sample
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from racesense.analysis.errors import AnalysisError
from racesense.analysis.pipeline import analyse
from racesense.analysis.results import to_document
from racesense.analysis.trace_format import encode_trace
from racesense.ingest import IngestError, read_telemetry

# Per format: 420 cases, about 25 s on one core, 15 s with -n 2.
MAX_EXAMPLES = 60
# Memory: a generous multiple of the file (the analysis keeps a dozen float64 columns
# of fixes, each up to 8 bytes per ~70 bytes of text, plus its temporaries) and a
# fixed allowance for bounded grids, Arrow tables and the interpreter's own churn.
MEMORY_PER_INPUT_BYTE = 20
MEMORY_ALLOWANCE_BYTES = 24 << 20

# What the damaged numeric fields become.
NUMBERS = [b"1e300", b"-1e12", b"nan", b"inf", b"1e308", b"-inf", b"-1e300", b"0", b"1e10"]
_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NMEA = re.compile(rb"^\$([^*\r\n]*)\*[0-9A-Fa-f]{2}")

Mutation = Callable[[bytes], bytes]


def _nmea_checksums(line: bytes) -> bytes:
    """An NMEA line with its checksum made right again, so that damaged numbers reach
    the parser instead of being skipped as a bad sentence."""
    found = _NMEA.match(line)
    if found is None:
        return line
    value = 0
    for byte in found.group(1):
        value ^= byte
    return b"$" + found.group(1) + b"*%02X" % value + line[found.end() :]


@st.composite
def _truncate(draw: st.DrawFn, data: bytes) -> tuple[str, Mutation]:
    cut = draw(st.integers(0, len(data)))
    return f"truncate at {cut}", lambda d: d[:cut]


@st.composite
def _flip_bytes(draw: st.DrawFn, data: bytes) -> tuple[str, Mutation]:
    flips = draw(
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), max_size=16)
    )

    def apply(d: bytes) -> bytes:
        out = bytearray(d)
        for at, mask in flips:
            if at < len(out):
                out[at] ^= mask
        return bytes(out)

    return f"flip bytes {flips}", apply


@st.composite
def _numbers(draw: st.DrawFn, data: bytes) -> tuple[str, Mutation]:
    """The k-th number of some lines replaced: one line, two adjacent, or many (a
    stride over a stretch), as a damaged column would be."""
    n_lines = data.count(b"\n") + 1
    value = draw(st.sampled_from(NUMBERS))
    token = draw(st.integers(0, 12))
    first = draw(st.integers(0, n_lines - 1))
    shape = draw(st.sampled_from(["one", "adjacent", "many"]))
    if shape == "one":
        rows = [first]
    elif shape == "adjacent":
        rows = [first, first + 1]
    else:
        stride = draw(st.integers(1, 50))
        rows = list(range(first, n_lines, stride))[: draw(st.integers(2, 2000))]

    def apply(d: bytes) -> bytes:
        lines = d.split(b"\n")
        for row in rows:
            if row >= len(lines):
                continue
            spans = [m.span() for m in _NUMBER.finditer(lines[row])]
            if token < len(spans):
                a, b = spans[token]
                lines[row] = _nmea_checksums(lines[row][:a] + value + lines[row][b:])
        return b"\n".join(lines)

    return f"number {token} of {shape} line(s) from {first} -> {value!r}", apply


@st.composite
def _duplicate_lines(draw: st.DrawFn, data: bytes) -> tuple[str, Mutation]:
    n_lines = data.count(b"\n") + 1
    start = draw(st.integers(0, n_lines - 1))
    count = draw(st.integers(1, 50))
    times = draw(st.integers(1, 3))
    to = draw(st.integers(0, n_lines))

    def apply(d: bytes) -> bytes:
        lines = d.split(b"\n")
        block = lines[start : start + count]
        return b"\n".join(lines[:to] + block * times + lines[to:])

    return f"duplicate {count} lines at {start} x{times} to {to}", apply


@st.composite
def _reorder_lines(draw: st.DrawFn, data: bytes) -> tuple[str, Mutation]:
    n_lines = data.count(b"\n") + 1
    start = draw(st.integers(0, n_lines - 1))
    order = draw(st.permutations(range(draw(st.integers(2, 30)))))

    def apply(d: bytes) -> bytes:
        lines = d.split(b"\n")
        block = lines[start : start + len(order)]
        if len(block) == len(order):
            lines[start : start + len(order)] = [block[k] for k in order]
        return b"\n".join(lines)

    return f"reorder lines {start}..: {order}", apply


@st.composite
def _encoding(draw: st.DrawFn, data: bytes) -> tuple[str, Mutation]:
    kind = draw(
        st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "latin-1", "bom", "double bom"])
    )
    at = draw(st.integers(0, len(data)))

    def apply(d: bytes) -> bytes:
        if kind == "bom":
            return b"\xef\xbb\xbf" + d
        if kind == "double bom":
            return b"\xef\xbb\xbf\xef\xbb\xbf" + d
        text = d.decode("utf-8", "replace")
        if kind == "latin-1":
            # A venue or driver name with accents, as a Windows tool would write it.
            return (text[:at] + "Nürburgring é°" + text[at:]).encode("latin-1", "replace")
        return text.encode(kind)

    return f"re-encode as {kind}", apply


def mutations(data: bytes) -> st.SearchStrategy[list[tuple[str, Mutation]]]:
    # Damaged numbers thrice as often as the rest: most of the other damage ends early,
    # in a typed error about the file's layout, and numbers reach the analysis.
    one = st.one_of(
        _numbers(data),
        _truncate(data),
        _numbers(data),
        _flip_bytes(data),
        _duplicate_lines(data),
        _numbers(data),
        _reorder_lines(data),
        _encoding(data),
    )
    return st.lists(one, min_size=1, max_size=3)


def outcome(data: bytes) -> tuple[str, int]:
    """('result' or the typed error's code, peak bytes allocated meanwhile). Any other
    exception, or any warning, propagates. A result is encoded as the worker stores it
    (jobs/analysis_job.py): the document as JSON, each lap's trace as Arrow."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            analysis = analyse(read_telemetry(data))
            json.dumps(to_document(analysis))
            for trace in analysis.traces:
                encode_trace(trace)
            what = "result"
        except (IngestError, AnalysisError) as exc:
            assert str(exc), "a typed error carries a sentence"
            what = exc.code
    return what, tracemalloc.get_traced_memory()[1] - base


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_damaged_files_give_a_result_or_a_typed_error(
    fmt: str, record_property: Callable[[str, object], None]
) -> None:
    original = sample(fmt)
    counts: Counter[str] = Counter()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(steps=mutations(original))
    def check(steps: list[tuple[str, Mutation]]) -> None:
        data = original
        for _, apply in steps:
            data = apply(data)
        counts["cases"] += 1
        try:
            what, peak = outcome(data)
            limit = MEMORY_PER_INPUT_BYTE * len(data) + MEMORY_ALLOWANCE_BYTES
            assert peak <= limit, f"{peak / 1e6:.1f} MB allocated for {len(data)} bytes"
        except BaseException:
            counts["failed"] += 1
            raise
        counts[what] += 1

    tracemalloc.start()
    try:
        check()
    finally:
        tracemalloc.stop()
        record_property("fuzz", dict(counts))
