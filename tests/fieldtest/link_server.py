"""A test server for tests/fieldtest/test_link.py, run inside the link's namespace.

``python link_server.py HOST PORT``; prints ``ready`` once listening. Each connection
starts with one byte: ``E`` echoes everything back until EOF; ``S`` reads an 8-byte
big-endian length N, then N bytes, and answers one JSON line: the bytes after the
first read and the seconds between the first and the last read (the rate the link let
through, measured where the upload ends).
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import time


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = sock.recv(1)
        if mode == b"E":
            while data := sock.recv(65536):
                sock.sendall(data)
        elif mode == b"S":
            header = b""
            while len(header) < 8:
                header += sock.recv(8 - len(header))
            total, got = int.from_bytes(header[:8], "big"), 0
            first_at = last_at = 0.0
            first_size = 0
            while got < total:
                data = sock.recv(65536)
                if not data:
                    break
                last_at = time.monotonic()
                if not got:
                    first_at, first_size = last_at, len(data)
                got += len(data)
            answer = {"got": got, "after_first": got - first_size, "seconds": last_at - first_at}
            sock.sendall(json.dumps(answer).encode() + b"\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    with Server((sys.argv[1], int(sys.argv[2])), Handler) as server:
        print("ready", flush=True)
        server.serve_forever()
