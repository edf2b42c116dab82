"""Event file decoding throughput against the public reference decoders, in one run, and the
peak memory of streaming a small and a large file.

    python benchmarks/bench_formats.py [--repeats 21] [--big-mb 1024] [--out results.md]

Reads the shared recordings from ../shared/data/recordings (EVT 2.0, AEDAT 4) and generates
the EVT 3.0 and Event Stream files it needs (no real sample of those is shared) in a temporary
folder. Throughput is the median over repeats of a whole-file decode to arrays, in million
events per second; the ratio column is snnedge over the fastest reference measured in the same
run (the decoders take turns in each repeat, so a slow phase of the shared machine hits them
alike). Reference decoders missing from the environment are left out.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import snnedge as se

ROOT = Path(__file__).resolve().parents[1]
REC = ROOT.parent / "shared" / "data" / "recordings"


def timed_interleaved(fns, repeats):
    """(events, median seconds) per decoder, the decoders taking turns in each round so that
    a slow phase of the shared machine hits all of them alike."""
    n = [len(fn()) for fn in fns]  # warm-up (file cache, imports)
    ts = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            r = fn()
            ts[i].append(time.perf_counter() - t)
            n[i] = len(r)
            del r
    return [(n[i], statistics.median(ts[i])) for i in range(len(fns))]


def refs_evt2(path):
    out = {}
    try:
        import expelliarmus

        w = expelliarmus.Wizard(encoding="evt2")
        w.set_file(str(path))
        out["expelliarmus 1.1.12 (C)"] = w.read
    except ImportError:
        pass
    try:
        import faery

        out["faery 0.7.1 (Rust)"] = lambda: faery.events_stream_from_file(path).to_array()
    except ImportError:
        pass
    return out


def refs_evt3(path):
    out = {}
    try:
        import evt3

        out["evt3 0.4.1 (Rust)"] = lambda: evt3.decode_file(str(path)).x
    except ImportError:
        pass
    try:
        import faery

        out["faery 0.7.1 (Rust)"] = lambda: faery.events_stream_from_file(path).to_array()
    except ImportError:
        pass
    return out


def refs_aedat4(path):
    out = {}
    try:
        import aedat

        out["aedat 2.3.0 (Rust)"] = lambda: np.concatenate(
            [p["events"] for p in aedat.Decoder(str(path)) if "events" in p])
    except ImportError:
        pass
    try:
        import faery

        out["faery 0.7.1 (Rust)"] = lambda: faery.events_stream_from_file(path).to_array()
    except ImportError:
        pass
    return out


def refs_es(path):
    out = {}
    try:
        import event_stream

        out["event_stream 1.6.3 (C++)"] = lambda: np.concatenate(list(event_stream.Decoder(str(path))))
    except ImportError:
        pass
    try:
        import faery

        out["faery 0.7.1 (Rust)"] = lambda: faery.events_stream_from_file(path).to_array()
    except ImportError:
        pass
    return out


def synthetic(n, width, height, seed, span_us):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span_us, n))
    return se.make_events(t, rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n))


# The peak is VmHWM of the child's own address space. Not getrusage's ru_maxrss: Linux keeps it
# across exec, so a child forked from this (large) process reported this process's size
# (136 MiB for any file in the 2026-12-04 run, the 2026-11-28 figures have the same flaw).
PEAK_SCRIPT = """
import sys, snnedge as se
n = 0
for chunk in se.open_events(sys.argv[1]):
    n += len(chunk)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(n, hwm)
"""


def peak_rss_mb(path):
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True, check=True)
    n, kb = out.stdout.split()
    return int(n), int(kb) / 1024


def write_big_evt3(path, target_bytes):
    ev = synthetic(1 << 20, 1280, 720, 1, 1 << 22)
    with se.formats.EventFileWriter(path, (1280, 720), "evt3") as w:
        offset = 0
        while os.path.getsize(path) < target_bytes:
            chunk = ev.copy()
            chunk["t"] += np.uint64(offset)
            w.write(chunk)
            offset += 1 << 22


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--big-mb", type=int, default=1024)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        evt3_path = tmp / "gen4_like.raw"
        se.write_events(evt3_path, synthetic(219_596, 1280, 720, 0, 2_000_000), (1280, 720), format="evt3")
        es_path = tmp / "dvs.es"
        se.write_events(es_path, synthetic(473_225, 346, 260, 2, 5_000_000), (346, 260))
        cases = [("EVT 2.0", REC / "evt2_sample.raw", refs_evt2), ("EVT 3.0", evt3_path, refs_evt3),
                 ("AEDAT 4 (LZ4)", REC / "sample.aedat4", refs_aedat4), ("ES DVS", es_path, refs_es)]
        for name, path, refs in cases:
            if not path.exists():
                continue
            decoders = {"snnedge read_events": lambda: se.read_events(path), **refs(path)}
            results = [(rname, *nt) for rname, nt in zip(decoders, timed_interleaved(list(decoders.values()), a.repeats))]
            n, t = results[0][1], results[0][2]
            for rname, rn, rt in results:
                # speed relative to snnedge in this run: below 1 means slower than snnedge
                rows.append((name, path.name, rname, rn, rn / rt / 1e6, (rn / rt) / (n / t)))
        mem = []
        small = tmp / "small.raw"
        write_big_evt3(small, 10 << 20)
        big = tmp / "big.raw"
        write_big_evt3(big, a.big_mb << 20)
        for p in (small, big):
            n, mb = peak_rss_mb(p)
            mem.append((p.name, os.path.getsize(p) / 2**20, n, mb))
    lines = ["| format | file | decoder | events | Mev/s | speed relative to snnedge |",
             "|---|---|---|---|---|---|"]
    for name, fname, rname, n, mev, ratio in rows:
        lines.append(f"| {name} | {fname} | {rname} | {n} | {mev:.1f} | {ratio:.2f} |")
    lines += ["", "| streamed file (open_events, default chunks) | size MiB | events | peak RSS MiB |", "|---|---|---|---|"]
    for fname, size, n, mb in mem:
        lines.append(f"| {fname} | {size:.0f} | {n} | {mb:.1f} |")
    lines += ["", f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
