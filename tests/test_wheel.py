"""The built wheel carries the built UI: installed from it, the server answers `/` with
the app and its assets, with no Node and no source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from racesense.web.ui import UI_DIR

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys, tempfile, pathlib
import racesense
assert racesense.__file__.startswith(sys.argv[1]), racesense.__file__
from fastapi.testclient import TestClient
from racesense.settings import Settings
from racesense.web.app import create_app
d = pathlib.Path(tempfile.mkdtemp())
app = create_app(Settings(data_dir=d, database_url=f"sqlite:///{d}/db"), start_workers=False)
with TestClient(app) as client:
    page = client.get("/")
    assert page.status_code == 200 and "<main" in page.text, page.status_code
    script = page.text.split('src="')[1].split('"')[0]
    asset = client.get(script)
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
print("served from the wheel")
"""


@pytest.mark.skipif(not (UI_DIR / "index.html").is_file(), reason="the UI is not built (make ui)")
def test_the_wheel_serves_the_ui_without_node(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*command, "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("racesense-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "racesense/web/ui_dist/index.html" in names
    assert any(n.startswith("racesense/web/ui_dist/assets/app-") for n in names)
    assert not any(n.startswith("ui/") or "node_modules" in n for n in names)
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    # The unpacked wheel comes first on the path, before this checkout's editable install.
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(installed)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "served from the wheel"
