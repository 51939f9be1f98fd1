"""`racesense fieldtest --report`: the table of the reports stored in a data directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from racesense.cli import main
from racesense.settings import Settings
from racesense.store import syncs
from racesense.store.db import make_engine, migrate, writing
from racesense.store.models import Sync

PIXEL = {"phone": "Pixel 7, Chrome 131", "firmware": "1.4.2", "link": "hotspot 2.4 GHz, 3 m"}
IPHONE = {"phone": "iPhone 13, Bluefy 3", "firmware": "1.4.2", "link": "hotspot 2.4 GHz, 10 m"}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RACESENSE_DATABASE_URL", raising=False)
    monkeypatch.delenv("RACESENSE_DATA_DIR", raising=False)
    path = tmp_path / "data"
    path.mkdir()
    engine = make_engine(Settings.from_env(path).database_url)
    migrate(engine)

    def sync(created: dt.datetime, **sources: dict[str, object]) -> None:
        row, _ = syncs.create(engine, 60)
        with writing(engine) as db:
            stored = db.get(Sync, row.id)
            assert stored is not None
            stored.created_at = created
        for source, report in sources.items():
            assert syncs.save_report(engine, row.id, source, report)

    december = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)
    # Pixel, 20 min sessions: totals 8, 10, 12 s (median 10); page and logger both report.
    for total, join in ((8000, 4000), (10_000, 5000), (12_000, 6000)):
        phases = {"join": join, "first_byte": 200, "upload": total - join - 200, "total": total}
        sync(
            december,
            logger={"phases_ms": phases, "bytes_sent": 600_000, "files_sent": 1},
            page={
                "phases_ms": phases | {"page_total": total + 900, "ble_handshake": 1500},
                "bytes_sent": 600_000,
                "session_minutes": 20,
                **PIXEL,
            },
        )
    # iPhone: totals 30 and 40 s (median 35).
    for total in (30_000, 40_000):
        sync(december, page={"phases_ms": {"total": total}, "bytes_sent": 900_000, **IPHONE})
    # A simulated run of the preset "good".
    sync(
        december,
        fieldtest={"phases_ms": {"total": 7000, "on_screen": 700}, "preset": "good", **PIXEL},
    )
    # Before the field test: left out by --since.
    sync(
        dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        page={"phases_ms": {"total": 99_000}, "phone": "Old phone"},
    )
    engine.dispose()
    return path


def test_the_table_groups_by_phone_and_link_with_medians(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fieldtest", "--report", "--since", "2026-12-01", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("Field test: 6 syncs since 2026-12-01 00:00 UTC, 3 groups")
    assert "Old phone" not in out and "99.00" not in out
    lines = out.splitlines()
    sim = lines.index(
        "preset good · Pixel 7, Chrome 131 · firmware 1.4.2 · hotspot 2.4 GHz, 3 m (1 sync)"
    )
    pixel = lines.index(
        "Pixel 7, Chrome 131 · firmware 1.4.2 · hotspot 2.4 GHz, 3 m · 20 min sessions (3 syncs)"
    )
    iphone = lines.index("iPhone 13, Bluefy 3 · firmware 1.4.2 · hotspot 2.4 GHz, 10 m (2 syncs)")
    assert sim < pixel < iphone  # presets first
    assert "BLE handshake" in lines[2] and "hotspot join" in lines[2]
    # Pixel median row: handshake 1.50, join 5.00, first byte 0.20, total 10.00,
    # BLE alone 600 kB / 10 kB/s = 60.00 s, ratio 60/8, 60/10, 60/12 -> median 6.00.
    median = lines[pixel + 1].split()
    m = "–"
    assert median == ["median", "1.50", m, "5.00", "0.20", "4.80", m, m, "10.00", "60.00", "6.00"]
    assert lines[iphone + 1].split()[-3:] == [
        "35.00",
        "90.00",
        "2.62",
    ]  # (90/30 + 90/40) / 2 = 2.625
    assert lines[sim + 1].split()[7:9] == ["0.70", "7.00"]


def test_markdown_and_every_date(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fieldtest", "--report", "--markdown", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Field test: 7 syncs, 4 groups.")
    assert "| group |  | BLE handshake |" in out
    assert "| Old phone · firmware ? · link ? (1) | median |" in out


def test_nothing_to_report(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["fieldtest", "--report", "--since", "2027-01-01", "--data-dir", str(data_dir)]) == 1
    )
    assert "no sync reports since 2027-01-01" in capsys.readouterr().err


def test_no_database_and_no_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fieldtest", "--report", "--data-dir", str(tmp_path / "none")]) == 1
    assert "no database" in capsys.readouterr().err
    assert main(["fieldtest", "--preset", "good,nope"]) == 2
    assert "no preset nope (there are good, poor, crowded, edge)" in capsys.readouterr().err
    assert main(["fieldtest", "--compress", "off,zstd"]) == 2
    assert "no gzip mode zstd (there are off, on, auto)" in capsys.readouterr().err
