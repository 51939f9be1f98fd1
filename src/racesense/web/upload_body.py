"""Reading an upload body as it streams in: every way an ESP32 or a browser sends a file.

- multipart/form-data, one or more file parts under any field name, with or without
  a filename or a part Content-Type;
- a raw body (text/csv, application/octet-stream, ESP-IDF's default
  application/x-www-form-urlencoded, or no Content-Type at all);
- `Content-Encoding: gzip`, decompressed as it arrives.

Bytes go straight to temporary files while they are hashed (`BlobWriter`), so memory
stays flat whatever the size. The event loop only collects what arrives: inflating,
parsing, hashing and writing run in a worker thread, a batch of up to BATCH_BYTES at a
time, so one large upload never holds up the other requests. The size cap applies to
the decompressed bytes too, so a gzip bomb stops at the cap. Nothing is committed here:
the caller commits every file only once the whole body has arrived intact.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from racesense.store.blobs import BlobStore, BlobWriter
from racesense.web.errors import ApiError

INFLATE_STEP = 1 << 20  # decompress at most 1 MiB at a time
# Bytes collected on the event loop before a worker thread takes them: large enough that
# the hop to the thread costs nothing, small enough that memory stays flat.
BATCH_BYTES = 256 * 1024
# A client slower than this on average (after its first body_timeout_s) is dropped: a
# logger on a weak hotspot manages tens of KB/s; a trickle only holds a worker.
MIN_RATE_BPS = 1024
FIELD_LIMIT = 64 * 1024  # a nameless, typeless part bigger than this is a file
MAX_PARTS = 100  # a logger sends a handful of files per request
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_filename(name: str | None) -> str | None:
    """The client's file name, refused if it tries to name a path."""
    if name is None:
        return None
    name = name.strip()
    if not name:
        return None
    if _CONTROL.search(name) or "/" in name or "\\" in name or name in (".", ".."):
        raise ApiError(400, "bad_filename", f"The file name {name!r} is not a plain file name.")
    if len(name.encode("utf-8")) > 255:
        raise ApiError(400, "bad_filename", "The file name is longer than 255 bytes.")
    return name


def generated_name() -> str:
    return f"upload-{secrets.token_hex(4)}.bin"


@dataclass
class ReceivedFile:
    writer: BlobWriter
    filename: str


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    writer: BlobWriter | None = None
    buffer: bytearray = field(default_factory=bytearray)


class _Inflater:
    """Stream gzip decompression, at most INFLATE_STEP bytes of output at a time, so the
    caller can stop a bomb at its cap before it has grown. Every member of a
    multi-member gzip stream is inflated (what `cat a.gz b.gz` makes); anything else
    after a member is refused, never silently dropped."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(wbits=31)

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                if self._z.eof:  # a member ended: what follows must be another one
                    if not data.startswith(b"\x1f"):
                        raise ApiError(
                            400, "bad_gzip", "The gzip body has data after its end marker."
                        )
                    self._z = zlib.decompressobj(wbits=31)
                out = self._z.decompress(data, INFLATE_STEP)
                if out:
                    yield out
                data = self._z.unused_data if self._z.eof else self._z.unconsumed_tail
        except zlib.error as exc:
            raise ApiError(400, "bad_gzip", f"The gzip body is corrupt ({exc}).") from exc

    def finish(self) -> Iterator[bytes]:
        if not self._z.eof:
            raise ApiError(400, "bad_gzip", "The gzip body ends before its end marker.")
        yield self._z.flush()


class BodyReader:
    """Pulls the body from the client, inflates it, and counts it against the cap."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        gzip: bool,
        max_bytes: int,
        timeout_s: float,
    ) -> None:
        self._chunks = chunks
        self._inflater = _Inflater() if gzip else None
        self._max = max_bytes
        self._timeout = timeout_s
        self.received = 0  # bytes after decompression
        self._wire = 0  # bytes as sent
        self._started = time.monotonic()

    def _count(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """The pieces, each counted against the cap before it is passed on."""
        for piece in pieces:
            self.received += len(piece)
            if self.received > self._max:
                raise ApiError(
                    413, "too_large", f"The upload is larger than {self._max // (1024 * 1024)} MB."
                )
            yield piece

    async def _arrivals(self) -> AsyncIterator[bytes]:
        """The body as sent, chunk by chunk, with the silence and slowness limits."""
        while True:
            try:
                chunk = await asyncio.wait_for(anext(self._chunks), self._timeout)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise ApiError(
                    408, "timeout", f"The client sent nothing for {self._timeout:.0f} s."
                ) from exc
            if not chunk:
                continue
            self._wire += len(chunk)
            elapsed = time.monotonic() - self._started
            if elapsed > self._timeout and self._wire < MIN_RATE_BPS * elapsed:
                raise ApiError(
                    408, "timeout", f"The client sends slower than {MIN_RATE_BPS} bytes a second."
                )
            yield chunk

    async def batches(self) -> AsyncIterator[bytes]:
        """The body as sent, in batches of about BATCH_BYTES, for `decode`."""
        batch = bytearray()
        async for chunk in self._arrivals():
            batch += chunk
            if len(batch) >= BATCH_BYTES:
                yield bytes(batch)
                batch.clear()
        if batch:
            yield bytes(batch)

    def decode(self, wire: bytes) -> Iterator[bytes]:
        """A batch, inflated and counted against the cap (in a worker thread)."""
        return self._count(self._inflater.feed(wire) if self._inflater else [wire])

    def finish(self) -> Iterator[bytes]:
        """What the body still holds once it has all arrived."""
        return self._count(self._inflater.finish() if self._inflater else [])

    async def consume(self, sink: Callable[[bytes], object]) -> None:
        """Feed the whole body to `sink`, piece by piece, in a worker thread."""

        def feed(pieces: Iterator[bytes]) -> None:
            for piece in pieces:
                if piece:
                    sink(piece)

        def take(wire: bytes) -> None:
            feed(self.decode(wire))

        async for wire in self.batches():
            await asyncio.to_thread(take, wire)
        await asyncio.to_thread(lambda: feed(self.finish()))


async def read_raw(body: BodyReader, store: BlobStore, filename: str | None) -> list[ReceivedFile]:
    writer = await asyncio.to_thread(store.writer)
    try:
        await body.consume(writer.write)
    except BaseException:
        writer.abort()
        raise
    return [ReceivedFile(writer, filename or generated_name())]


class _MultipartCollector:
    """python-multipart callbacks -> parts streamed to blob writers."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.parts: list[_Part] = []
        self.finished = False
        self._current = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        # Raw bytes: a browser sends a UTF-8 file name as is, which no str round trip
        # through Latin-1 (what the parser's helpers assume) survives.
        self._headers: dict[str, bytes] = {}

    # -- callbacks --
    def on_part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise ApiError(413, "too_many_parts", f"An upload may hold at most {MAX_PARTS} parts.")
        self._current = _Part()
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value).strip()
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        part = self._current
        disposition, options = parse_options_header(self._headers.get("content-disposition", b""))
        del disposition
        raw_name = options.get(b"filename")
        part.name = (options.get(b"name") or b"").decode("utf-8", "replace") or None
        part.filename = safe_filename(raw_name.decode("utf-8", "replace") if raw_name else None)
        part.content_type = self._headers.get("content-type", b"").decode("latin-1") or None
        if part.filename is not None or part.content_type is not None:
            part.writer = self.store.writer()
        self.parts.append(part)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current
        piece = data[start:end]
        if part.writer is not None:
            part.writer.write(piece)
            return
        part.buffer += piece
        if len(part.buffer) > FIELD_LIMIT:  # too big for a form field: it is a file
            part.writer = self.store.writer()
            part.writer.write(bytes(part.buffer))
            part.buffer.clear()

    def on_part_end(self) -> None:
        if self._current.writer is not None:
            self._current.writer.close()

    def on_end(self) -> None:
        self.finished = True

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def abort(self) -> None:
        for part in self.parts:
            if part.writer is not None:
                part.writer.abort()

    def files(self) -> list[ReceivedFile]:
        explicit = [p for p in self.parts if p.writer is not None]
        if not explicit:
            # No part says it is a file: then every non-empty part is one.
            for part in self.parts:
                if part.buffer:
                    part.writer = self.store.writer()
                    part.writer.write(bytes(part.buffer))
                    part.buffer.clear()
            explicit = [p for p in self.parts if p.writer is not None]
        return [
            ReceivedFile(p.writer, p.filename or generated_name())
            for p in explicit
            if p.writer is not None
        ]


async def read_multipart(body: BodyReader, store: BlobStore, boundary: bytes) -> list[ReceivedFile]:
    collector = _MultipartCollector(store)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        await body.consume(parser.write)
        parser.finalize()
        if not collector.finished:
            raise ApiError(
                400, "bad_multipart", "The multipart body ends before its last boundary."
            )
        files = collector.files()
        if not files:
            raise ApiError(400, "no_file", "The multipart body holds no file.")
        return files
    except MultipartParseError as exc:
        collector.abort()
        raise ApiError(400, "bad_multipart", f"The multipart body is malformed ({exc}).") from exc
    except BaseException:
        collector.abort()
        raise


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, or None if it is not one."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "bad_multipart", "The multipart Content-Type has no valid boundary.")
    return boundary
