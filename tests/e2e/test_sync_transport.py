"""The logger's way into the laptop, picked by the page from the logger's BLE `info`:
https with the certificate pinned where it can (`tls`), else the upload-only plain port.
A real `racesense serve --tls on`; the page is the laptop's own browser (the plain port
serves it the whole app on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from racesense import devserver
from racesense.devicesim.sessions import synthetic_sessions

from .conftest import PAIRING_CODE, TOKEN, Backend, Phone


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data_dir = tmp_path_factory.mktemp("e2e-tls")
    env = {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_UPLOAD_HOST": "127.0.0.1"}
    env["RACESENSE_MDNS"] = "off"
    https_port, upload_port = devserver.free_port(), devserver.free_port()
    args = ["--tls", "on", "--https-port", str(https_port), "--upload-port", str(upload_port)]
    with devserver.running(data_dir, env, args=args, workers=1) as (_proc, port):
        yield Backend(port, {})


@pytest.mark.parametrize(
    ("tls", "said"),
    [
        (True, "Sent over https, the laptop's certificate pinned."),
        (False, "Sent over the laptop's upload-only http port"),
    ],
    ids=["https-pinned", "upload-only-port"],
)
def test_the_page_picks_the_way_from_the_loggers_info_and_says_which(
    make_core: Any, phone: Any, laptop: Backend, tmp_path: Path, tls: bool, said: str
) -> None:
    core = make_core(tls=tls)
    files = synthetic_sessions(core.config.storage_dir, 1, laps=1, seed=7901 + tls)
    core.hotspot.switch(True)
    p: Phone = phone(core, backend=laptop)
    p.tap_sync()
    p.wait_step("code")
    p.pair(PAIRING_CODE)
    p.wait_step("done", timeout_s=60, shot=f"sync-12-done-{'https' if tls else 'plain'}")
    assert said in p.dialog.locator("[data-transport]").inner_text()
    sent = laptop.api(f"/api/syncs/{p.sync_id()}")["files"]
    assert [f["sha256"] for f in sent] == [files[0].sha256]
