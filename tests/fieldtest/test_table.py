"""The field-test table: medians and p95 worked out by hand, and how they print."""

from __future__ import annotations

import pytest

from racesense.fieldtest.table import (
    MISSING,
    PHASES,
    Group,
    Run,
    render_markdown,
    render_text,
    stat,
    summarise,
)

R = 10_000  # bytes/s over BLE alone


def test_median_and_p95_of_known_values() -> None:
    s = stat([float(v) for v in range(1, 21)])  # 1..20
    assert s is not None and s.count == 20
    assert s.median == pytest.approx(10.5)  # (10 + 11) / 2
    assert s.p95 == pytest.approx(19.05)  # rank 0.95 * 19 = 18.05: 19 + 0.05 * (20 - 19)
    odd = stat([3.0, 1.0, 2.0])
    assert odd is not None and odd.median == 2.0 and odd.p95 == pytest.approx(2.9)
    one = stat([4.0])
    assert one is not None and (one.median, one.p95, one.count) == (4.0, 4.0, 1)
    assert stat([]) is None


def _group() -> Group:
    # Totals 8, 10, 12, 20 s; bytes 400 kB each: BLE alone 40 s at 10 kB/s.
    runs = [
        Run({"join": 4000, "upload": 3000, "total": 8000}, 400_000),
        Run({"join": 5000, "upload": 4000, "total": 10_000}, 400_000),
        Run({"join": 6000, "total": 12_000}, 400_000),
        Run({"join": 7000, "total": 20_000}, None),
    ]
    return Group("Pixel 7 · hotspot 2.4 GHz, 3 m", runs)


def test_summarise_per_phase_ble_alone_and_ratio() -> None:
    (g,) = summarise([_group()], R)
    assert g.runs == 4 and g.label.startswith("Pixel 7")
    join = g.phases["join"]
    assert join is not None and join.count == 4
    assert join.median == pytest.approx(5.5)  # (5 + 6) / 2
    assert join.p95 == pytest.approx(6.85)  # rank 2.85: 6 + 0.85 * (7 - 6)
    total = g.phases["total"]
    assert total is not None and total.median == pytest.approx(11.0)
    assert total.p95 == pytest.approx(18.8)  # rank 2.85: 12 + 0.85 * (20 - 12)
    upload = g.phases["upload"]
    assert upload is not None and upload.count == 2 and upload.median == pytest.approx(3.5)
    assert g.phases["ble_handshake"] is None and g.phases["on_screen"] is None
    assert g.ble_alone is not None and g.ble_alone.count == 3  # the run without bytes left out
    assert g.ble_alone.median == pytest.approx(40.0)
    # Ratios 40/8 = 5, 40/10 = 4, 40/12 = 3.33: median 4, p95 at rank 1.9.
    assert g.ratio is not None and g.ratio.median == pytest.approx(4.0)
    assert g.ratio.p95 == pytest.approx(4 + 0.9 * (5 - 4))


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="BLE rate"):
        summarise([_group()], 0)


def test_text_table_is_fixed_width_and_right_aligned() -> None:
    text = render_text(summarise([_group()], R), R)
    lines = text.splitlines()
    header = lines[0]
    for _, name in PHASES:
        assert name in header
    assert "BLE alone" in header and "ratio" in header
    assert lines[1] == "Pixel 7 · hotspot 2.4 GHz, 3 m (4 syncs)"
    median, p95, n = lines[2], lines[3], lines[4]
    m = MISSING
    assert median.split() == ["median", m, m, "5.50", m, "3.50", m, m, "11.00", "40.00", "4.00"]
    assert p95.split()[0] == "p95" and "18.80" in p95.split()
    assert n.split() == ["n", m, m, "4", m, "2", m, m, "4", "3", "3"]
    # Right-aligned: every row of the group ends each column where the header does.
    assert len(median) == len(p95) == len(n) == len(header)
    end_of_total = header.index("total") + len("total")
    assert median[end_of_total - len("11.00") : end_of_total] == "11.00"
    assert "10,000 bytes/s" in lines[-1]


def test_markdown_table() -> None:
    md = render_markdown(summarise([_group()], R), R)
    lines = md.splitlines()
    assert lines[0].startswith("| group |") and "| hotspot join |" in lines[0]
    assert lines[1].count("---:") == len(PHASES) + 2
    assert lines[2].startswith("| Pixel 7 · hotspot 2.4 GHz, 3 m (4) | median | – | – | 5.50 |")
    assert lines[3].startswith("|  | p95 |")
    assert all(line.count("|") == lines[0].count("|") for line in lines[1:5])


def test_a_pipe_in_a_label_does_not_break_the_markdown() -> None:
    md = render_markdown(summarise([Group("a|b", [Run({"total": 1000}, 10)])], R), R)
    assert "a\\|b (1)" in md


def test_reports_group_by_encoding_and_ble_alone_counts_the_bytes_sent() -> None:
    from racesense.fieldtest.report import groups

    def sync(encoding: str, wire: int, total_ms: float) -> dict[str, dict[str, object]]:
        return {
            "logger": {
                "phases_ms": {"total": total_ms},
                "bytes_sent": 1_000_000,
                "wire_bytes": wire,
                "encoding": encoding,
            },
            "page": {"phone": "Pixel 8", "link": "hotspot 5 GHz"},
        }

    found = groups([sync("identity", 1_000_200, 5000), sync("gzip", 400_000, 8000)])
    labels = [g.label for g in found]
    assert len(labels) == 2
    assert labels[0].endswith(" · gzip") and labels[1].endswith(" · identity"), labels
    by_label = {g.label.rsplit(" · ", 1)[1]: g for g in summarise(found, 10_000)}
    gz = by_label["gzip"].ble_alone
    plain = by_label["identity"].ble_alone
    assert gz is not None and gz.median == 40.0  # 400 KB over BLE at 10 KB/s
    assert plain is not None and plain.median == 100.02
    # An older report without wire_bytes: the files' bytes.
    (old,) = groups([{"logger": {"phases_ms": {"total": 1000.0}, "bytes_sent": 50_000}}])
    assert old.runs[0].link_bytes == 50_000
