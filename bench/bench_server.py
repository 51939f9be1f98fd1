"""Benchmarks of the backend, against a real `racesense serve` on loopback.

    .venv/bin/python bench/bench_server.py [--mb 100] [--latency-uploads 20] [--clients 20]

1. Upload throughput: one large file over loopback, against `sha256sum` on the same
   file in the same run (target: at least 1/3 of its speed), and the server's RSS
   growth meanwhile (target: at most 32 MB). Linux: RSS read from /proc.
2. Upload-to-ready latency, with warm workers: p95 from the end of the upload (its
   answer received) to the `ready` event on `GET /api/events`, as the UI learns it, for
   20-minute 25 Hz RS-Core sessions (target: at most 120 ms) and for one-hour ones
   (target: at most 250 ms).
3. Concurrency: N clients uploading at once (target: all succeed).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from racesense import devserver
from racesense.synth import demo_circuit, make_session, to_rscore_csv

TOKEN = "bench-admin-token-" + os.urandom(8).hex()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def post_file(port: int, path: Path | None = None, data: bytes | None = None) -> dict:
    size = path.stat().st_size if path else len(data or b"")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.putrequest("POST", "/api/upload")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    if path is not None:
        with path.open("rb") as f:
            while chunk := f.read(256 * 1024):
                conn.send(chunk)
    else:
        conn.send(data or b"")
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status not in (200, 201):
        raise RuntimeError(f"upload failed: {response.status} {body}")
    return dict(body["files"][0])


def session_status(port: int, session_id: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/api/sessions/{session_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    return str(json.loads(conn.getresponse().read())["status"])


def throughput(port: int, pid: int, tmp: Path, mb: int) -> None:
    path = tmp / "big.bin"
    block = hashlib.sha256(b"racesense").digest() * 32768  # 1 MiB, not compressible to nothing
    with path.open("wb") as f:
        for i in range(mb):
            f.write(block[i % 7 :] + block[: i % 7])
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    sha_s = time.perf_counter() - start

    base = rss_bytes(pid)
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    post_file(port, path)
    up_s = time.perf_counter() - start
    done.set()
    sampler.join()
    size = path.stat().st_size
    print(f"sha256sum         : {size / sha_s / 1e6:8.1f} MB/s")
    print(f"upload (loopback) : {size / up_s / 1e6:8.1f} MB/s")
    print(f"speed ratio       : {sha_s / up_s:8.2f}  (target >= 0.33)")
    print(f"server RSS growth : {(peak[0] - base) / 1e6:8.1f} MB (target <= 32 MB)")


class ReadyEvents:
    """Listens on `GET /api/events`, as the UI does, and notes when each session's
    final status arrives."""

    def __init__(self, port: int) -> None:
        self.arrived: dict[str, float] = {}
        self._changed = threading.Condition()
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self._conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {TOKEN}"})
        self._response = self._conn.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._response:
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            if event.get("type") == "session" and event.get("status") in ("ready", "failed"):
                with self._changed:
                    self.arrived[event["id"]] = time.perf_counter()
                    self._changed.notify_all()

    def wait(self, session_id: str, timeout_s: float = 60.0) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: session_id in self.arrived, timeout_s):
                raise RuntimeError(f"session {session_id} never became ready")
            return self.arrived[session_id]


def latency(
    port: int, events: ReadyEvents, uploads: int, laps: int, label: str, target_ms: float
) -> None:
    circuit = demo_circuit()
    sessions = [  # made first: the timings are of the server alone
        to_rscore_csv(
            make_session(circuit, rate_hz=25, laps=laps, seed=1000 * laps + seed).telemetry
        )
        for seed in range(uploads)
    ]
    times = []
    for data in sessions:
        item = post_file(port, data=data)
        uploaded = time.perf_counter()  # the answer has arrived: the upload is over
        times.append(events.wait(item["session_id"]) - uploaded)
        assert session_status(port, item["session_id"]) == "ready"
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"upload->ready {label}: median {statistics.median(times) * 1000:4.0f} ms, "
        f"p95 {p95 * 1000:4.0f} ms over {uploads} sessions of "
        f"{len(sessions[0]) / 1e6:.1f} MB (target p95 <= {target_ms:.0f} ms)"
    )


def concurrency(port: int, clients: int) -> None:
    payloads = [
        f"# client {i}\n".encode() + os.urandom(256 * 1024).hex().encode() for i in range(clients)
    ]
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda d: post_file(port, data=d), payloads))
    ok = sum(1 for r in results if not r["duplicate"])
    print(f"concurrent uploads: {ok}/{clients} succeeded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--latency-uploads", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    env = {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_MAX_UPLOAD_MB": "1024"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        devserver.running(Path(tmp) / "data", env, workers=None) as (server, port),
    ):
        throughput(port, server.pid, Path(tmp), args.mb)
        # 20 minutes at 25 Hz: about 12 laps of Racesense Park; an hour, about 38.
        events = ReadyEvents(port)
        latency(port, events, args.latency_uploads, 12, "20 min", 120)
        latency(port, events, args.latency_uploads, 38, "1 hour", 250)
        concurrency(port, args.clients)


if __name__ == "__main__":
    main()
