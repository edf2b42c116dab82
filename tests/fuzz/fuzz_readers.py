"""Long fuzzing campaign of one event-file reader: hypothesis mutates seed files (real
recordings and files built from each format's published layout) and every case is read whole
and streamed, in both error modes. A case fails when it raises anything but a snnedge error
(or ``FileNotFoundError``), when streaming and batch reading disagree, when a polarity is not
0/1, when it crashes the process (a panic, an abort, a signal) or when it hangs.

    python tests/fuzz/fuzz_readers.py --format evt3 --minutes 10
    python tests/fuzz/fuzz_readers.py --list

The cases run in a worker process; this process watches it. A case that runs longer than
``--case-timeout`` seconds is a hang: the worker is killed and restarted. Each failing input is
saved as ``tests/fuzz_corpus/<format>/<kind>-<sha1>.<ext>`` (with a ``.txt`` saying what
happened); ``tests/test_formats_fuzz.py`` reads every file of that folder in the normal suite,
so a fixed bug stays fixed. A summary (cases run, minutes, failures) is written as JSON to
``tests/fuzz/results/<format>.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import re
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
CORPUS = ROOT / "tests" / "fuzz_corpus"

#: reader -> file extension of its cases
FORMATS = {
    "evt3": ".raw", "evt2": ".raw", "evt21": ".raw", "aedat4": ".aedat4", "es": ".es", "dat": ".dat",
    "nmnist": ".bin", "aedat3": ".aedat", "aedat2": ".aedat", "npy": ".npy", "npz": ".npz", "csv": ".csv",
}
#: failures of one kind and message saved at most this many times
MAX_SAVED_PER_SIGNATURE = 3
#: a real recording's prefix used as a seed (keeps each case fast)
REAL_PREFIX = 200_000


# ---- seeds -------------------------------------------------------------------------------------

def _events(n, seed, width=34, height=34, span=2**25):
    import numpy as np

    import snnedge as se

    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n))
    return se.make_events(t, rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n))


def _written(fmt, events, size, **kw):
    import snnedge as se

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x" + FORMATS[fmt])
        se.write_events(p, events, size, **kw)
        return Path(p).read_bytes()


def _evt3_every_type() -> bytes:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_formats import evt3_words_every_type  # the generator of the EVT 3.0 tests

    body, _ = evt3_words_every_type()
    return b"% format EVT3;height=720;width=1280\n% end\n" + body[:6000]


def _evt21() -> bytes:
    words = [(0x8 << 60) | (3 << 32)] + [(1 << 60) | (x << 54) | ((32 * (x % 8)) << 43) | (x << 32)
                                        | (x * 2654435761 & 0xFFFFFFFF) for x in range(60)]
    words += [(0xA << 60) | (5 << 54) | 1, (0xE << 60) | (0x14 << 32), (0x8 << 60) | (((1 << 28) - 1) << 32), 0x8 << 60]
    words += [(0 << 60) | (7 << 54) | (64 << 43) | (9 << 32) | 0xF0F0]
    head = b"% format EVT21;height=720;width=1280\n% end\n"
    body = b"".join(struct.pack("<Q", w) for w in words)
    legacy = b"".join(struct.pack("<Q", ((w >> 32) | ((w & 0xFFFFFFFF) << 32))) for w in words)
    return head + body, b"% format EVT21;endianness=legacy;height=720;width=1280\n% end\n" + legacy


def _aedat3() -> list:
    def packet(ev_type, body, size, overflow=0):
        n = len(body) // size
        return struct.pack("<hhiiiiii", ev_type, 1, size, 4, overflow, n, n, n) + body

    pol = b"".join(struct.pack("<Ii", (x << 17) | ((x % 7) << 2) | ((x & 1) << 1) | (x % 5 != 0), 10 * x) for x in range(50))
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DAVIS346\r\n#!END-HEADER\r\n"
    return [head + packet(1, pol, 8) + packet(2, bytes(64), 16) + packet(1, pol[:80], 8, overflow=1)]


def _aedat2() -> list:
    dvs128 = b"".join(struct.pack(">II", ((x % 128) << 8) | ((x % 128) << 1) | (x & 1), (7 * x + (2**32 - 400 if x > 40 else 0)) % 2**32)
                      for x in range(60))
    davis = b"".join(struct.pack(">II", ((x % 260) << 22) | ((x % 346) << 12) | ((x & 1) << 11) | ((x % 9 == 0) << 31)
                                 | ((x % 11 == 0) << 10), 5 * x) for x in range(60))
    return [b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n" + dvs128,
            b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis346B\r\n" + davis]


def _numpy_seeds(fmt) -> list:
    import io

    import numpy as np

    ev = _events(80, 3)
    tonic = np.zeros(len(ev), dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    for k in "xyt":
        tonic[k] = ev[k]
    tonic["p"] = ev["p"] == 1
    other = np.zeros(len(ev), dtype=[("t", "<u4"), ("p", "u1"), ("y", ">u2"), ("x", "<i8")])
    for k in "txyp":
        other[k] = ev[k]
    out = []
    if fmt == "npy":
        for arr in (tonic, other, ev):
            b = io.BytesIO()
            np.save(b, arr)
            out.append(b.getvalue())
    else:
        for kw in ({"events": tonic, "sensor_size": np.array([34, 34])}, {"arr_0": other},
                   {"t": ev["t"], "x": ev["x"], "y": ev["y"], "p": ev["p"]}):
            b = io.BytesIO()
            np.savez(b, **kw)
            out.append(b.getvalue())
        b = io.BytesIO()
        np.savez_compressed(b, events=ev)
        out.append(b.getvalue())
    return out


def seeds(fmt) -> list:
    """The seed files of one reader, as bytes."""
    ev = _events(300, 0)
    real = {"evt2": "evt2_sample.raw", "aedat4": "sample.aedat4", "dat": "sample_ncars.dat", "nmnist": "sample_nmnist.bin",
            "aedat2": "sample_aedat_header.aedat"}
    out = []
    if fmt in real and (RECORDINGS / real[fmt]).exists():
        out.append((RECORDINGS / real[fmt]).read_bytes()[:REAL_PREFIX])
    if fmt in ("evt2", "evt3", "es", "dat", "nmnist"):
        out.append(_written(fmt, ev, (34, 34), format=fmt))
    if fmt in ("evt2", "evt3"):
        wide = _events(400, 1, 1280, 720, span=2**26)
        out.append(_written(fmt, wide, (1280, 720), format=fmt))
    if fmt == "evt3":
        out.append(_evt3_every_type())
    if fmt == "aedat4":
        for c in ("none", "lz4", "zstd"):
            out.append(_written(fmt, ev, (34, 34), compression=c))
    if fmt == "es":
        out.append(_written(fmt, _events(300, 5, 346, 260, span=2**22), (346, 260), format="es"))
    if fmt == "evt21":
        out.extend(_evt21())
    if fmt == "aedat3":
        out.extend(_aedat3())
    if fmt == "aedat2":
        out.extend(_aedat2())
    if fmt in ("npy", "npz"):
        out.extend(_numpy_seeds(fmt))
    if fmt == "csv":
        rows = "".join(f"{int(e['t'])},{int(e['x'])},{int(e['y'])},{int(e['p'])}\n" for e in ev[:60])
        out += [("t,x,y,p\n" + rows).encode(), rows.encode(), ("# comment\nx, y, polarity, timestamp\n"
                + "".join(f"{int(e['x'])}, {int(e['y'])}, {int(e['p'])}, {int(e['t'])}\n" for e in ev[:60])).encode()]
    return out


# ---- one case ----------------------------------------------------------------------------------

class CaseFailure(Exception):
    """A case that broke a rule (kind: 'error' or 'mismatch')."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def check_file(path: Path, mode: str, chunking: dict) -> None:
    """Reads `path` whole and streamed; raises CaseFailure on anything but clean behaviour."""
    import numpy as np

    import snnedge as se

    allowed = (se.SnnEdgeError, FileNotFoundError)
    try:
        whole = se.read_events(path, on_error=mode)
        err = None
    except allowed as e:
        whole = getattr(e, "events", None)
        err = type(e)
    except BaseException as e:  # noqa: BLE001 - a panic from Rust is a BaseException
        raise CaseFailure("error", f"read_events({mode}): {type(e).__name__}: {e}\n{traceback.format_exc()}") from None
    got = []
    try:
        for c in se.open_events(path, on_error=mode, **chunking):
            got.append(c)
        err2 = None
    except allowed as e:
        err2 = type(e)
    except BaseException as e:  # noqa: BLE001
        raise CaseFailure("error", f"open_events({mode}, {chunking}): {type(e).__name__}: {e}\n{traceback.format_exc()}") from None
    if err != err2:
        raise CaseFailure("mismatch", f"read_events raised {err}, open_events {err2} ({mode}, {chunking})")
    if whole is not None:
        streamed = np.concatenate(got) if got else whole[:0]
        if len(streamed) != len(whole) or not np.array_equal(streamed, whole):
            raise CaseFailure("mismatch", f"streamed {len(streamed)} events != read {len(whole)} ({mode}, {chunking})")
        if whole.dtype != se.EVENT_DTYPE:
            raise CaseFailure("mismatch", f"dtype {whole.dtype}")
        if len(whole) and int(whole["p"].max()) > 1:
            raise CaseFailure("mismatch", f"polarity {int(whole['p'].max())} not in {{0, 1}}")
    try:
        se.probe(path)
    except allowed:
        pass
    except BaseException as e:  # noqa: BLE001
        raise CaseFailure("error", f"probe: {type(e).__name__}: {e}\n{traceback.format_exc()}") from None


def mutate(data: bytes, ops) -> bytes:
    """Applies hypothesis-drawn edits: byte sets, integer overwrites, deletions, insertions,
    duplications and a final cut."""
    b = bytearray(data)
    for op in ops:
        kind, pos, a, blob = op
        if not b and kind != "insert":
            continue
        i = int(pos * len(b))
        if kind == "byte":
            b[i] = a & 0xFF
        elif kind == "int":
            width, val, big = blob
            raw = (val & ((1 << (8 * width)) - 1)).to_bytes(width, "big" if big else "little")
            b[i:i + width] = raw
        elif kind == "delete":
            del b[i:i + a]
        elif kind == "insert":
            b[i:i] = blob
        elif kind == "dup":
            b[i:i] = b[i:i + a]
        elif kind == "cut":
            del b[i:]
    return bytes(b)


def _strategies():
    from hypothesis import strategies as st

    pos = st.floats(0, 1, exclude_max=True)
    interesting = st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FF, 0x800, 0xFFF, 0x1000, 0x7FFF, 0x8000, 0xFFFF,
                                   0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1])
    op = st.one_of(
        st.tuples(st.just("byte"), pos, st.integers(0, 255), st.none()),
        st.tuples(st.just("int"), pos, st.just(0),
                  st.tuples(st.sampled_from([2, 4, 8]), st.one_of(interesting, st.integers(0, 2**64 - 1)), st.booleans())),
        st.tuples(st.just("delete"), pos, st.integers(1, 64), st.none()),
        st.tuples(st.just("insert"), pos, st.just(0), st.binary(min_size=1, max_size=32)),
        st.tuples(st.just("dup"), pos, st.integers(1, 256), st.none()),
        st.tuples(st.just("cut"), pos, st.just(0), st.none()),
    )
    chunking = st.sampled_from([{"chunk_events": 1}, {"chunk_events": 97}, {}, {"chunk_us": 1000},
                                {"chunk_events": 50, "chunk_us": 100_000}])
    return st.lists(op, min_size=1, max_size=8), st.sampled_from(["stop", "skip"]), chunking


# ---- worker and watchdog -----------------------------------------------------------------------

def _save(fmt: str, kind: str, data: bytes, message: str, counts: dict) -> str:
    # One signature per kind, reader call and exception type (messages carry offsets and bytes).
    m = re.search(r"(\w+)\([^)]*\): (\w+)", message)
    sig = f"{kind}:{m.group(1)}:{m.group(2)}" if m else kind + ":" + re.sub(r"[0-9]+", "N", message)[:60]
    counts[sig] = counts.get(sig, 0) + 1
    folder = CORPUS / fmt
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{kind}-{hashlib.sha1(data).hexdigest()[:12]}{FORMATS[fmt]}"
    if counts[sig] <= MAX_SAVED_PER_SIGNATURE:
        (folder / name).write_bytes(data)
        (folder / (name + ".txt")).write_text(message + "\n")
    return name


def worker(fmt: str, deadline: float, state, queue, case_path: str) -> None:
    """Runs cases until `deadline` (time.time()), batch after batch of hypothesis examples."""
    from hypothesis import HealthCheck, given, settings

    ops, modes, chunkings = _strategies()
    from hypothesis import strategies as st

    seed_list = seeds(fmt)
    path = Path(case_path)
    counts: dict = {}

    @settings(max_examples=500, deadline=None, database=None, phases=["generate"],
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(seed_list) - 1), ops, modes, chunkings)
    def batch(k, edits, mode, chunking):
        if time.time() >= deadline:
            return
        data = mutate(seed_list[k], edits)
        path.write_bytes(data)
        with state.get_lock():
            state[0] = time.time()  # case start (the watchdog's clock)
        try:
            check_file(path, mode, chunking)
        except CaseFailure as f:
            name = _save(fmt, f.kind, data, f"{f}\n(mode {mode}, chunking {chunking})", counts)
            queue.put({"kind": f.kind, "file": name, "message": str(f).splitlines()[0][:300]})
        with state.get_lock():
            state[0] = 0.0
            state[1] += 1

    while time.time() < deadline:
        batch()


def run(fmt: str, minutes: float, case_timeout: float, out: Path) -> dict:
    ctx = mp.get_context("spawn")
    start = time.time()
    commit = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()  # the code under test
    deadline = start + 60 * minutes
    state = ctx.Array("d", [0.0, 0.0])  # [start of the running case or 0, cases done]
    queue = ctx.Queue()
    failures = []
    restarts = 0
    done_before = 0.0
    with tempfile.TemporaryDirectory(prefix=f"snnedge-fuzz-{fmt}-") as tmp:
        case_path = os.path.join(tmp, "case" + FORMATS[fmt])
        while time.time() < deadline:
            proc = ctx.Process(target=worker, args=(fmt, deadline, state, queue, case_path), daemon=True)
            proc.start()
            kind = None
            while proc.is_alive():
                proc.join(0.5)
                # Drain while the worker runs: a worker whose queue is not read cannot exit.
                while not queue.empty():
                    failures.append(queue.get())
                started = state[0]
                if started and time.time() - started > case_timeout:
                    kind = "hang"
                    proc.kill()
                    proc.join()
            while not queue.empty():
                failures.append(queue.get())
            if kind is None and proc.exitcode not in (0, None):
                kind = f"crash{proc.exitcode}"
            if kind is not None:
                data = Path(case_path).read_bytes() if os.path.exists(case_path) else b""
                name = _save(fmt, kind, data, f"worker {kind} (exit code {proc.exitcode})", {})
                failures.append({"kind": kind, "file": name, "message": f"exit code {proc.exitcode}"})
                with state.get_lock():
                    state[0] = 0.0
                    state[1] += 1  # the case that failed counts as run
                restarts += 1
            done_before = state[1]
    import snnedge

    summary = {
        "format": fmt, "minutes": round((time.time() - start) / 60, 2), "cases": int(done_before),
        "failures": failures, "worker_restarts": restarts, "case_timeout_s": case_timeout,
        "seeds": len(seeds(fmt)), "snnedge": getattr(snnedge, "__version__", "?"),
        "commit": commit,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", choices=sorted(FORMATS))
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--case-timeout", type=float, default=30.0, help="seconds after which a case is a hang")
    ap.add_argument("--out", type=Path, default=None, help="summary JSON (default tests/fuzz/results/<format>.json)")
    ap.add_argument("--list", action="store_true", help="list the readers and their seed counts")
    a = ap.parse_args(argv)
    if a.list:
        for f in FORMATS:
            print(f, len(seeds(f)))
        return 0
    if a.format is None:
        ap.error("--format is required")
    out = a.out or HERE / "results" / f"{a.format}.json"
    s = run(a.format, a.minutes, a.case_timeout, out)
    print(json.dumps({k: v for k, v in s.items() if k != "failures"}), f"failures: {len(s['failures'])}")
    for f in s["failures"][:20]:
        print(" ", f)
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
