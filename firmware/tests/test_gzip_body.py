"""gzip_body: the chunk framing of a gzip body and the choice of when gzip pays, under
pytest and the MicroPython unix port alike. The gzip is read back by the interpreter's
own reader (CPython's gzip, MicroPython's deflate)."""

import io
import os

import deflate_stored

import gzip_body
from gzip_body import GZIP, IDENTITY, Gzipper, Pace, compressor, frame_bytes, predict_ms


def _inflate(data):
    try:
        import gzip
    except ImportError:  # MicroPython: its deflate reads gzip in every build
        import deflate

        return deflate.DeflateIO(io.BytesIO(data), deflate.GZIP).read()
    return gzip.decompress(data)


def _unchunk(body):
    """The data of an HTTP/1.1 chunked body; fails on any framing error."""
    out = b""
    i = 0
    while True:
        end = body.index(b"\r\n", i)
        size = int(body[i:end], 16)
        start = end + 2
        if size == 0:
            assert body[start:] == b"\r\n", body[start:]
            return out
        out += body[start : start + size]
        assert body[start + size : start + size + 2] == b"\r\n"
        i = start + size + 2


def _rows(count):
    lines = []
    for i in range(count):
        lat = f"-33.94981{i % 97:02d}"
        lon = f"-60.55208{i % 89:02d}"
        lines.append(f"{i * 40},{lat},{lon},85.0,{i % 200}.3,142.0,14,0.7\n")
    return "".join(lines).encode()


def test_compressor_needs_a_deflate_that_writes():
    assert compressor(None) is None
    assert compressor(deflate_stored) is deflate_stored

    class ReadOnly:
        class DeflateIO:
            def read(self):
                return b""

        GZIP = 3

    assert compressor(ReadOnly) is None
    try:
        import deflate
    except ImportError:
        return  # CPython: no such module
    # This interpreter's own: it compresses only if its build has DeflateIO.write.
    assert (compressor(deflate) is deflate) == hasattr(deflate.DeflateIO, "write")


def test_chunks_carry_the_whole_gzip_stream():
    data = _rows(300)
    out = bytearray(frame_bytes(4096))
    gz = Gzipper(deflate_stored, io, out)
    body = b""
    for i in range(0, len(data), 4096):
        body += bytes(gz.feed(memoryview(data)[i : i + 4096]))
    body += gz.finish(b"--tail--")
    assert body.endswith(b"\r\n0\r\n\r\n")
    stream = _unchunk(body)
    assert gz.out_bytes == len(stream)
    assert gz.in_bytes == len(data) + 8
    assert _inflate(stream) == data + b"--tail--"


def test_an_empty_feed_frames_nothing():
    gz = Gzipper(deflate_stored, io, bytearray(frame_bytes(64)))
    assert len(gz.feed(b"")) == 0
    assert _inflate(_unchunk(gz.finish())) == b""


def test_output_larger_than_the_frame_buffer_is_still_framed():
    # Stored blocks add 5 bytes per block and the header 10: a 64-byte buffer overflows.
    data = bytes(range(256)) * 2
    gz = Gzipper(deflate_stored, io, bytearray(64))
    body = bytes(gz.feed(data)) + gz.finish()
    assert _inflate(_unchunk(body)) == data


def test_predicted_times():
    assert predict_ms(100000, 100) == 1000
    # Compressed at 200 bytes/ms to a quarter: 500 ms compressing while the 250 ms of
    # sending goes on beside it; at 1000 bytes/ms the link is the slower.
    assert predict_ms(100000, 100, 200, 4.0) == 500
    assert predict_ms(100000, 100, 1000, 4.0) == 250


def test_nothing_measured_is_identity():
    pace = Pace()
    assert not pace.known() and not pace.wants_probe()
    assert pace.choose(10**6) == IDENTITY


def test_slow_link_fast_compressor_is_gzip_fast_link_is_identity():
    pace = Pace()
    pace.link_bytes_per_ms = 100.0  # 100 KB/s: a poor hotspot
    pace.deflate_bytes_per_ms = 400.0
    pace.ratio = 3.0
    assert pace.choose(10**6) == GZIP  # 10 s as it is, 3.3 s compressed (2.5 s compressing)
    pace.link_bytes_per_ms = 2500.0  # 20 Mbit/s
    assert pace.choose(10**6) == IDENTITY  # 0.4 s as it is, 2.5 s just compressing
    pace.link_bytes_per_ms = 100.0
    pace.ratio = 1.0  # data that does not compress
    assert pace.choose(10**6) == IDENTITY


def test_a_marginal_gain_stays_identity():
    pace = Pace()
    pace.link_bytes_per_ms = 100.0
    pace.deflate_bytes_per_ms = 1000.0
    pace.ratio = 1.15  # 10 s as it is; 8.7 s compressed: within GAIN's margin
    assert pace.choose(10**6) == IDENTITY


def test_uploads_measure_the_link_and_the_compressor():
    pace = Pace()
    pace.note_upload(1000, 10)  # too short to say anything
    assert not pace.known()
    pace.note_upload(200000, 2000)
    assert pace.link_bytes_per_ms == 100.0
    assert pace.wants_probe()
    pace.note_probe(4096, 1024, 8)
    assert pace.ratio == 4.0 and pace.deflate_bytes_per_ms == 512.0
    # A gzip upload paced by the link: 400 KB compressed to 100 KB in 1 s, answered
    # after 3 s.
    pace.note_upload(100000, 3000, 1000, 400000)
    assert pace.link_bytes_per_ms == 100000 / 3000
    assert pace.deflate_bytes_per_ms == 400.0 and pace.ratio == 4.0
    assert pace.gzip_unmeasured == 0


def test_compressor_bound_gzip_uploads_lead_to_a_measuring_identity_one():
    pace = Pace()
    pace.link_bytes_per_ms = 50.0
    pace.deflate_bytes_per_ms = 200.0
    pace.ratio = 3.0
    assert pace.choose(10**6) == GZIP
    for _ in range(gzip_body.EXPLORE_EVERY):
        assert pace.choose(10**6) == GZIP
        # Answered just after the compressing ended: the link kept up, its rate unknown.
        pace.note_upload(333333, 5200, 5000, 10**6)
        assert pace.link_bytes_per_ms == 50.0
    assert pace.choose(10**6) == IDENTITY  # measure the link again
    pace.note_upload(10**6, 2000)  # a faster phone now: 500 bytes/ms
    assert pace.gzip_unmeasured == 0 and pace.choose(10**6) == IDENTITY


def test_the_pace_is_kept_between_boots():
    path = "pace.txt"
    pace = Pace(path)
    pace.note_upload(200000, 1000)
    pace.note_upload(100000, 500, 500, 300000)  # gzip, bound by its compressor
    again = Pace(path)
    assert again.link_bytes_per_ms == 200.0
    assert again.deflate_bytes_per_ms == 600.0 and again.ratio == 3.0
    assert again.gzip_unmeasured == 1
    assert path + ".tmp" not in os.listdir()


def test_a_damaged_pace_file_is_measured_again():
    for text in ("garbage", "1 2", "1 2 3", "-5 1 1 0", "1 - 0 0", ""):
        with open("pace.txt", "w") as f:
            f.write(text)
        pace = Pace("pace.txt")
        assert not pace.known(), text


def test_modes_are_named():
    assert gzip_body.MODES == ("auto", "on", "off")
