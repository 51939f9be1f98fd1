"""The `racesense` command, run in-process and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from racesense.cli import main
from racesense.synth import demo_circuit, load_centreline_csv, make_session, to_rscore_csv


@pytest.fixture(scope="module")
def southern_session(tmp_path_factory: pytest.TempPathFactory):
    """A session on the demo circuit's shape moved to the southern and western hemispheres."""
    demo = demo_circuit()
    text = "\n".join(f"{x},{y},5,5" for x, y in zip(demo.x_m, demo.y_m, strict=True))
    circuit = load_centreline_csv(text, "South West", -34.6, -58.4)
    session = make_session(circuit, rate_hz=10, laps=3, seed=9)
    path = tmp_path_factory.mktemp("cli") / "session.csv"
    path.write_bytes(to_rscore_csv(session.telemetry))
    return path, session


def test_negative_coordinates_work_with_equals_and_with_a_space(southern_session, capsys):
    path, session = southern_session
    lat, lon = session.start_finish.point_deg
    assert lat < 0 and lon < 0
    for argv in (
        ["analyse", str(path), f"--start-finish={lat},{lon}", "--json"],
        ["analyse", str(path), "--start-finish", f"{lat},{lon}", "--json"],
    ):
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["track"]["source"] == "user"
        assert doc["lap_count"] == len(session.lap_times_s)
        complete = [lap["time_s"] for lap in doc["laps"] if lap["complete"]]
        assert complete == pytest.approx(list(session.lap_times_s), abs=0.05)


def test_start_finish_line_and_the_document_shape(southern_session, capsys):
    path, session = southern_session
    (a_lat, a_lon), (b_lat, b_lon) = session.start_finish.endpoints_deg
    assert (
        main(
            [
                "analyse",
                str(path),
                "--start-finish-line",
                f"{a_lat},{a_lon},{b_lat},{b_lon}",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    # What the file holds, not where it is kept: no id, no status (the API adds those).
    assert not {"id", "status", "error", "error_code"} & set(doc)
    for key in (
        "format",
        "device_id",
        "started_at",
        "track",
        "laps",
        "best_lap_s",
        "theoretical_best_s",
    ):
        assert key in doc
    assert set(doc["track"]) >= {"name", "source", "start_finish"}
    lap = doc["laps"][1]
    assert set(lap) >= {
        "number",
        "time_s",
        "start_s",
        "end_s",
        "sectors_s",
        "kind",
        "valid",
        "max_speed_kmh",
        "min_speed_kmh",
        "distance_m",
    }
    assert doc["format"] == "rscore-csv-1"
    assert doc["started_at"].endswith("Z")


def test_readable_table_marks_best_and_theoretical_best(southern_session, capsys):
    path, _ = southern_session
    assert main(["analyse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "best" in out and "Theoretical best:" in out
    assert "Lap" in out and "S1" in out and "Kind" in out and "Valid" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\xff\xfe", "binary"),
        (b"hello, this is a shopping list\nmilk\neggs\n", "not in a telemetry format"),
    ],
)
def test_bad_files_get_a_clear_error_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["analyse", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_and_bad_coordinates(tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["analyse", str(tmp_path / "x.csv"), "--start-finish", "1,2,3"])
    assert exc.value.code == 2


def test_demo_runs_as_a_real_command():
    result = subprocess.run(
        [sys.executable, "-m", "racesense.cli", "demo"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Racesense Park" in result.stdout
    assert "Complete laps: 8" in result.stdout


def test_one_lap_session_has_zero_complete_laps_and_a_reason(tmp_path, capsys):
    session = make_session(demo_circuit(), rate_hz=10, laps=1, seed=1)
    # Cut it before the second crossing: only one crossing remains.
    keep = session.telemetry.t_s < session.crossing_times_s[1] - 5.0
    tel = session.telemetry
    from racesense.analysis.telemetry import Telemetry

    cut = Telemetry.build(
        tel.format,
        tel.t_s[keep],
        tel.lat_deg[keep],
        tel.lon_deg[keep],
        speed_mps=tel.speed_mps[keep],
        started_at=tel.started_at,
    )
    path = tmp_path / "one.csv"
    path.write_bytes(to_rscore_csv(cut))
    lat, lon = session.start_finish.point_deg
    assert main(["analyse", str(path), f"--start-finish={lat},{lon}", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["lap_count"] == 0
    assert "only once" in doc["reason"]
    assert Path(path).exists()


def test_analyse_loads_none_of_the_server(southern_session) -> None:
    """`racesense analyse` as a whole process imports nothing of the server stack (and
    no JIT): a racer at the track waits only for the analysis."""
    path, _ = southern_session
    probe = (
        "import io, contextlib, sys\n"
        "from racesense.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['analyse', {str(path)!r}, '--json']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(result.stdout.replace("'", '"')))
    assert "racesense" in loaded and "pyarrow" in loaded  # the probe saw the analysis run
    server = {"fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "pydantic", "httpx"}
    assert not loaded & (server | {"numba"})
