"""Circuits: the demo circuit's design and the TUMFTM loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racesense.synth import Circuit, load_centreline_csv
from racesense.synth.truth import timing_line


def _far_apart_distances(circuit: Circuit, along_m: float) -> np.ndarray:
    """Distances between centreline points more than `along_m` apart along the track."""
    s = np.arange(0.0, circuit.length_m, 2.0)
    x, y = circuit.position(s)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    sep = np.abs(s[:, None] - s[None, :])
    sep = np.minimum(sep, circuit.length_m - sep)
    return np.asarray(d[sep > along_m])


def test_demo_circuit_is_a_plausible_club_circuit(demo: Circuit) -> None:
    assert demo.name == "Racesense Park"
    assert 2500.0 <= demo.length_m <= 3500.0
    assert demo.spacing_m == pytest.approx(1.0, abs=0.01)
    assert demo.origin_lat_deg < 0.0 and demo.origin_lon_deg < 0.0
    s = np.arange(0.0, demo.length_m, 0.5)
    kappa = demo.curvature_1pm(s)
    radius = 1.0 / np.abs(kappa).max()
    assert 12.0 < radius < 16.0  # the hairpin
    # Counter-clockwise: it turns left by one full turn in total, smoothly everywhere
    # (no kink where the loop closes).
    g = demo.geometry(s)
    assert np.sum(kappa * np.hypot(g.dx, g.dy)) * 0.5 == pytest.approx(2.0 * np.pi, abs=2e-4)
    assert np.abs(np.diff(kappa)).max() / 0.5 < 0.01
    # Parts of the track further than a hairpin apart along it never come within 25 m.
    assert _far_apart_distances(demo, 80.0).min() > 25.0


def test_demo_start_finish_is_on_the_main_straight_with_room_for_the_pit_lane(
    demo: Circuit,
) -> None:
    s = np.arange(-130.0, 480.0, 1.0)
    assert np.abs(demo.curvature_1pm(s)).max() < 1e-3
    # Nothing of the circuit within 30 m to the right of the straight (the pit side),
    # and nothing else near the start/finish line's ends.
    x, y = demo.position(s)
    g = demo.geometry(s)
    norm = np.hypot(g.dx, g.dy)
    right_x, right_y = x + 20.0 * g.dy / norm, y - 20.0 * g.dx / norm
    cx, cy = demo.position(np.arange(0.0, demo.length_m, 1.0))
    gaps = np.hypot(right_x[:, None] - cx[None, :], right_y[:, None] - cy[None, :]).min(axis=1)
    assert gaps.min() > 19.0
    line = timing_line(demo, 0.0)
    for ex, ey in line.endpoints_xy_m:
        assert np.hypot(cx - ex, cy - ey).min() == pytest.approx(15.0, abs=0.01)


def test_circuit_validates_its_points() -> None:
    a = np.linspace(0.0, 2.0 * np.pi, 100, endpoint=False)
    x, y = 50.0 * np.cos(a), 50.0 * np.sin(a)
    circuit = Circuit("ring", x, y, 10.0, 20.0)
    assert circuit.length_m == pytest.approx(2.0 * np.pi * 50.0, rel=1e-3)
    assert not circuit.x_m.flags.writeable
    uneven = np.concatenate([a[:50], a[50::2]])
    with pytest.raises(ValueError, match="uniformly spaced"):
        Circuit("uneven", 50.0 * np.cos(uneven), 50.0 * np.sin(uneven), 10.0, 20.0)
    with pytest.raises(ValueError):
        Circuit("bad origin", x, y, 95.0, 20.0)


def test_loader_parses_the_tumftm_format() -> None:
    a = np.linspace(0.0, 2.0 * np.pi, 300, endpoint=False)
    rows = [f"{200 * np.cos(t):.6f},{120 * np.sin(t):.6f},5.0,5.0" for t in a]
    text = "# x_m,y_m,w_tr_right_m,w_tr_left_m\n" + "\n".join(rows) + "\n\n"
    circuit = load_centreline_csv(text, "oval", -34.0, -58.0)
    assert circuit.name == "oval"
    assert (circuit.origin_lat_deg, circuit.origin_lon_deg) == (-34.0, -58.0)
    assert circuit.x_m[0] == pytest.approx(200.0, abs=0.5)  # the first row stays station 0
    with pytest.raises(ValueError, match="line 2"):
        load_centreline_csv("# header\n1.0;2.0\n", "bad", 0.0, 0.0)
    with pytest.raises(ValueError):
        load_centreline_csv("# only a header\n", "empty", 0.0, 0.0)


def test_loader_reads_every_tumftm_track(tumftm_tracks: Path) -> None:
    files = sorted(tumftm_tracks.glob("*.csv"))
    assert len(files) >= 20
    for path in files:
        raw = np.loadtxt(path, delimiter=",", comments="#")[:, :2]
        perimeter = np.hypot(*np.diff(np.vstack([raw, raw[:1]]), axis=0).T).sum()
        circuit = load_centreline_csv(path.read_text(), path.stem, 48.0, 11.0)
        # Smoothing cuts corners by a fraction of a percent at most.
        assert 0.99 * perimeter < circuit.length_m <= perimeter, path.name
        assert circuit.spacing_m == pytest.approx(1.0, abs=0.01), path.name
        kappa = circuit.curvature_1pm(np.arange(0.0, circuit.length_m, 0.5))
        # Sane: no corner tighter than 5 m radius, and no metre-scale wiggle left.
        assert np.abs(kappa).max() < 1.0 / 5.0, path.name
        assert np.abs(np.diff(kappa)).max() / 0.5 < 0.05, path.name
        start_x, start_y = circuit.position(np.array([0.0]))
        assert np.hypot(start_x[0] - raw[0, 0], start_y[0] - raw[0, 1]) < 2.0, path.name
