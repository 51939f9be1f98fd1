"""`racesense device-sim --phone`: the phone's part from the command line against a real
`racesense serve`, the logger's part by the real firmware on this host. Every path ends
with the card's state: a file is marked synced only when the backend proved it has it."""

from __future__ import annotations

import time

import pytest

from racesense import devserver
from racesense.cli import main

from .conftest import TOKEN, Backend


def test_files_are_synced_analysed_and_their_laps_match_the_truth(
    backend: Backend, device_sim
) -> None:
    code, report, err = device_sim(
        "--backend", backend.origin, "--sessions", "2", "--laps", "3", "--seed", "101"
    )
    assert code == 0, err
    final = report["final"]
    assert report["outcome"] == "done" and final["files_sent"] == 2, err
    assert final["bytes"] == sum(f["bytes"] for f in report["files"])
    assert report["pending_before"] == [f["name"] for f in report["files"]]
    assert report["pending_after"] == []
    # The phone saw every state, in order, and the device timed its phases.
    marks = report["timeline_s"]
    order = ["info", "pake_b", "paired", "request_ack", "scanning", "joining", "joined"]
    order += ["uploading", "done"]
    assert [m for m in marks if m in order] == order, marks
    assert set(final["phases_ms"]) == {"join", "first_byte", "upload", "total"}
    assert "Phases (logger): join" in err and "Timeline (phone)" in err
    by_hash = {f["sha256"]: f for f in report["files"]}
    uploaded = backend.sync_files(report["sync_id"])
    assert sorted(s["sha256"] for s in uploaded) == sorted(by_hash)
    for summary in uploaded:
        doc = backend.analysed(summary["id"])
        assert doc["status"] == "ready", doc.get("error")
        assert doc["device_id"] == "RS-Core-51M0"
        truth = by_hash[summary["sha256"]]["lap_times_s"]
        laps = [lap["time_s"] for lap in doc["laps"] if lap["complete"]]
        assert laps == pytest.approx(truth, abs=0.05)
    # The device's report reached the backend too.
    assert backend.api(f"/api/syncs/{report['sync_id']}")["report"]["files_sent"] == 2


def test_a_board_that_gzips_sends_files_the_backend_analyses_as_sent(
    backend: Backend, device_sim
) -> None:
    code, report, err = device_sim(
        "--backend", backend.origin, "--sessions", "1", "--laps", "2", "--seed", "151",
        "--gzip-kbps", "4000", "--compress", "on",
    )  # fmt: skip
    assert code == 0 and report["outcome"] == "done", err
    (file,) = report["files"]
    stored = backend.api(f"/api/syncs/{report['sync_id']}")["report"]
    assert stored["encoding"] == "gzip"
    assert stored["bytes_sent"] == file["bytes"] and stored["wire_bytes"] < file["bytes"] / 2
    (summary,) = backend.sync_files(report["sync_id"])
    assert summary["sha256"] == file["sha256"]  # the file as it is on the card
    doc = backend.analysed(summary["id"])
    laps = [lap["time_s"] for lap in doc["laps"] if lap["complete"]]
    assert laps == pytest.approx(file["lap_times_s"], abs=0.05)


def test_hotspot_off_fails_with_ap_not_found_and_the_files_stay_pending(
    backend: Backend, device_sim
) -> None:
    """The hotspot never comes on: the firmware scans until its join deadline (4 s here,
    15 s by default), then gives up with the actionable error."""
    started = time.monotonic()
    code, report, err = device_sim(
        "--backend",
        backend.origin,
        "--sessions",
        "2",
        "--seed",
        "201",
        "--hotspot-off",
        "--join-deadline-ms",
        "4000",
    )
    assert code == 1
    final = report["final"]
    assert final["state"] == "failed" and final["error"] == "E_AP_NOT_FOUND", final
    assert final["files_left"] == 2 and final["files_sent"] == 0
    assert report["pending_after"] == report["pending_before"]
    assert backend.sync_files(report["sync_id"]) == []
    assert "switch it on" in err
    assert 4 <= time.monotonic() - started < 15


def test_a_wrong_hotspot_password(backend: Backend, device_sim) -> None:
    code, report, err = device_sim(
        "--backend", backend.origin, "--seed", "301", "--sessions", "1", "--phone-password", "nope"
    )
    assert code == 1
    assert report["final"]["error"] == "E_WRONG_PASSWORD", report["final"]
    assert report["pending_after"] == report["pending_before"] != []
    assert "refused the password" in err


def test_a_wrong_pairing_code_sends_nothing(backend: Backend, device_sim) -> None:
    code, report, err = device_sim(
        "--backend", backend.origin, "--seed", "401", "--sessions", "1", "--code", "1111-2222"
    )
    assert code == 1
    assert report["outcome"] == "refused" and report["error"]["code"] == "E_AUTH"
    assert report["final"] is None  # the phone stopped at the device's key confirmation
    assert "request_ack" not in report["timeline_s"]
    assert report["pending_after"] == report["pending_before"] != []
    assert "wrong pairing code" in err


def test_the_backend_unreachable_from_the_hotspot(backend: Backend, device_sim) -> None:
    """The phone made its sync on the laptop, but the URL it hands the logger leads
    nowhere the logger can reach: E_NETWORK after the uploader's retries."""
    dead = f"http://127.0.0.1:{devserver.free_port()}/api/upload"
    code, report, _err = device_sim(
        "--backend", backend.origin, "--seed", "501", "--sessions", "1", "--upload-url", dead
    )
    assert code == 1
    final = report["final"]
    assert final["error"] == "E_NETWORK" and final["files_left"] == 1, final
    assert report["pending_after"] == report["pending_before"] != []


def test_the_backend_down_for_the_phone_too(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    dead = f"http://127.0.0.1:{devserver.free_port()}"
    argv = ["device-sim", "--phone", "--token", TOKEN, "--backend", dead, "--sessions", "0"]
    assert main([*argv, "--storage", str(tmp_path / "sd")]) == 2
    assert "does not answer" in capsys.readouterr().out


def test_five_files_two_already_synced_three_are_sent_by_polling(
    backend: Backend, device_sim
) -> None:
    """Polling only, as on Bluefy: every answer read from `status`."""
    code, report, err = device_sim(
        "--backend", backend.origin, "--seed", "601", "--sessions", "5", "--laps", "1",
        "--synced", "2", "--poll",
    )  # fmt: skip
    assert code == 0, err
    names = [f["name"] for f in report["files"]]
    assert report["pending_before"] == names[2:]
    assert report["final"]["files_sent"] == 3 and report["pending_after"] == []
    sent = sorted(s["sha256"] for s in backend.sync_files(report["sync_id"]))
    assert sent == sorted(f["sha256"] for f in report["files"][2:])


def test_without_a_source_checkout_it_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racesense.devicesim import firmware

    monkeypatch.setenv(firmware.ENV_FIRMWARE_DIR, str(tmp_path / "nowhere"))
    monkeypatch.setattr(firmware, "_loaded", None)
    assert main(["device-sim", "--phone", "--storage", str(tmp_path / "sd")]) == 2
    assert "source checkout" in capsys.readouterr().err
    assert not (tmp_path / "sd").exists()
