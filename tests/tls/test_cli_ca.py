"""`racesense ca show|export|rotate`, in-process and as a real subprocess."""

from __future__ import annotations

import io
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from racesense.cli import main
from racesense.tls import LocalCA, ServerCertificates, colon_hex


def test_show_creates_the_ca_and_describes_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "racesense", "ca", "show", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Created a new local CA" in done.stderr
    ca = LocalCA.load_or_create(tmp_path / "tls")
    assert colon_hex(ca.ca_sha256) in done.stdout
    assert ca.subject in done.stdout and str(tmp_path / "tls" / "ca.crt") in done.stdout
    assert "192.168.0.0/16" in done.stdout and "none yet" in done.stdout
    assert "PRIVATE" not in done.stdout + done.stderr


def test_show_lists_the_server_certificate(tmp_path: Path, capsys) -> None:
    ca = LocalCA.load_or_create(tmp_path / "tls")
    ServerCertificates(ca).current(["racesense.local"], ["10.1.2.3"])
    assert main(["ca", "show", "--data-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "Created" not in captured.err
    assert "racesense.local" in captured.out and "10.1.2.3" in captured.out


@pytest.mark.parametrize("form", ["crt", "pem", "mobileconfig"])
def test_export_round_trips(tmp_path: Path, form: str) -> None:
    out = tmp_path / f"ca.{form}"
    assert (
        main(["ca", "export", "--format", form, "-o", str(out), "--data-dir", str(tmp_path)]) == 0
    )
    ca = LocalCA.load_or_create(tmp_path / "tls")
    data = out.read_bytes()
    if form == "crt":
        assert x509.load_der_x509_certificate(data) == ca.certificate
    elif form == "pem":
        assert x509.load_pem_x509_certificate(data) == ca.certificate
    else:
        assert plistlib.loads(data)["PayloadContent"][0]["PayloadContent"] == ca.ca_der()


def test_export_to_stdout_is_the_der(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "racesense", "ca", "export", "-o", "-", "--data-dir", str(tmp_path)],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == LocalCA.load_or_create(tmp_path / "tls").ca_der()


def test_rotate_without_yes_and_without_a_tty_refuses(tmp_path: Path, capsys, monkeypatch) -> None:
    before = LocalCA.load_or_create(tmp_path / "tls").ca_sha256
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert main(["ca", "rotate", "--data-dir", str(tmp_path)]) != 0
    assert "--yes" in capsys.readouterr().err
    assert LocalCA.load_or_create(tmp_path / "tls").ca_sha256 == before


def test_rotate_with_yes_tells_to_reinstall(tmp_path: Path, capsys) -> None:
    before = LocalCA.load_or_create(tmp_path / "tls").ca_sha256
    assert main(["ca", "rotate", "--yes", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    after = LocalCA.load_or_create(tmp_path / "tls").ca_sha256
    assert after != before
    assert colon_hex(before) in out and colon_hex(after) in out
    assert "must now install the new one" in out and "remove the old one" in out


def test_rotate_repairs_a_damaged_ca(tmp_path: Path, capsys) -> None:
    LocalCA.load_or_create(tmp_path / "tls")
    (tmp_path / "tls" / "ca.key").write_bytes(b"damaged")
    assert main(["ca", "show", "--data-dir", str(tmp_path)]) == 2
    assert "racesense ca rotate" in capsys.readouterr().err
    assert main(["ca", "rotate", "--yes", "--data-dir", str(tmp_path)]) == 0
    assert main(["ca", "show", "--data-dir", str(tmp_path)]) == 0
