"""MicroPython's gzip compressor (uzlib) on RS-Core data: its ratio and its work per byte,
to size the logger's gzip window (firmware/gzip_body.py WBITS) and to estimate its speed
on an ESP32, where the device simulator's stand-in (devicesim/deflate.py) takes its rate.

    .venv/bin/python bench/bench_uzlib.py --micropython PATH [FILE ...]

PATH is a MicroPython checkout (its lib/uzlib is compiled here with bench/uzlib/driver.c,
which compresses as deflate.DeflateIO(stream, GZIP, wbits).write does). With no FILE: a
generated 20-minute 25 Hz RS-Core session and up to four of ../shared/data's recordings.
Not part of `make bench`: it needs a MicroPython checkout and a C compiler.

Per file and window: uzlib's ratio, its speed on this machine, and the byte comparisons
of its window search per input byte (counted in a second build); beside them the ratio
of the stand-in (zlib, level 6, fixed Huffman, the same window, at least 2**9). Every
output is decompressed and compared with its input. The ESP32 estimate assumes
CYCLES_PER_COMPARISON on its in-order core at 240 MHz: an assumption, printed as such.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_DATA = HERE.parent.parent / "shared" / "data"
WBITS = (8, 9, 10, 11, 12)
# The search's inner loop on an Xtensa LX6: a window load with a masked ring index, a
# source load, compare, branch, count: about 13 cycles, with CRC-32 and the output
# stream adding about 5% (an estimate, not a measurement on a board).
CYCLES_PER_COMPARISON = 13
ESP32_HZ = 240e6
SEARCH_LINE = "if (src[match_len] != hist)"


def build(uzlib: Path, work: Path) -> tuple[Path, Path]:
    src = work / "src"
    shutil.copytree(uzlib, src)
    lz77 = (src / "lz77.c").read_text()
    if SEARCH_LINE not in lz77:
        raise SystemExit(f"{uzlib}/lz77.c has no `{SEARCH_LINE}`: another uzlib version")
    counting = work / "count"
    counting.mkdir()
    for f in src.iterdir():
        shutil.copy(f, counting / f.name)
    patched = lz77.replace(
        SEARCH_LINE, "extern unsigned long long rs_comparisons; rs_comparisons++;\n" + SEARCH_LINE
    )
    (counting / "lz77.c").write_text(patched)
    binaries = []
    for name, include, extra in (("time", src, []), ("count", counting, ["-DCOUNT"])):
        out = work / f"driver-{name}"
        cmd = ["gcc", "-O2", *extra, f"-I{include}", "-o", str(out), str(HERE / "uzlib/driver.c")]
        subprocess.run(cmd, check=True)
        binaries.append(out)
    return binaries[0], binaries[1]


def run(binary: Path, path: Path, wbits: int, out: Path) -> dict[str, float]:
    line = subprocess.run(
        [str(binary), str(path), str(wbits), str(out)], check=True, capture_output=True, text=True
    ).stdout
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}


def standin_ratio(data: bytes, wbits: int) -> float:
    z = zlib.compressobj(6, zlib.DEFLATED, 16 + max(9, wbits), 8, zlib.Z_FIXED)
    return len(data) / len(z.compress(data) + z.flush())


def default_files(work: Path) -> list[Path]:
    from racesense.devicesim.sessions import synthetic_sessions

    (generated,) = synthetic_sessions(work / "sd", 1, laps=13, seed=1)  # ~20 min
    files = [generated.path]
    if SHARED_DATA.is_dir():
        found = sorted(
            p
            for p in SHARED_DATA.rglob("*")
            if p.is_file() and p.suffix.lower() in (".csv", ".log") and p.stat().st_size > 10_000
        )
        files += found[:4]
    else:
        print(f"(no {SHARED_DATA}: the generated session only)", file=sys.stderr)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micropython", type=Path, required=True, help="a MicroPython checkout")
    parser.add_argument("files", type=Path, nargs="*")
    args = parser.parse_args()
    uzlib = args.micropython / "lib" / "uzlib"
    if not (uzlib / "lz77.c").is_file():
        print(f"no {uzlib}/lz77.c: pass a MicroPython checkout", file=sys.stderr)
        return 2
    if shutil.which("gcc") is None:
        print("no gcc: install a C compiler", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rs-uzlib-") as tmp:
        work = Path(tmp)
        timing, counting = build(uzlib, work)
        files = args.files or default_files(work)
        print(
            "| file | KB | wbits | uzlib ratio | stand-in ratio | uzlib MB/s here"
            " | comparisons/byte | ESP32 estimate KB/s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for path in files:
            data = path.read_bytes()
            for wbits in WBITS:
                out = work / "out.gz"
                timed = run(timing, path, wbits, out)
                if gzip.decompress(out.read_bytes()) != data:
                    raise SystemExit(f"{path} at wbits {wbits}: the gzip does not round-trip")
                counted = run(counting, path, wbits, out)
                per_byte = counted["cmps"] / max(len(data), 1)
                esp32 = ESP32_HZ / (per_byte * CYCLES_PER_COMPARISON * 1.05) / 1000
                # zlib's smallest window is 2**9: the stand-in has no row at 8.
                stand_in = f"{standin_ratio(data, wbits):.2f}" if wbits >= 9 else "–"
                print(
                    f"| {path.name} | {len(data) / 1000:.0f} | {wbits}"
                    f" | {len(data) / timed['out']:.2f} | {stand_in}"
                    f" | {len(data) / timed['seconds'] / 1e6:.2f} | {per_byte:.0f} | {esp32:.0f} |"
                )
        print(
            f"\nESP32 estimate: {ESP32_HZ / 1e6:g} MHz / (comparisons per byte"
            f" x {CYCLES_PER_COMPARISON} cycles x 1.05): an assumption, not a measurement."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
