"""Fuzzing the readers with hypothesis: mutated real recordings and mutated generated files of
every format, read whole and streamed, in both error modes. Nothing may crash, hang or raise
anything but a snnedge error; streaming must still equal batch.

The default run is short (part of the test suite); the long campaign is
``SNNEDGE_FUZZ_EXAMPLES=20000 pytest tests/test_formats_fuzz.py`` (see docs/formats.md)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnedge as se

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
EXAMPLES = int(os.environ.get("SNNEDGE_FUZZ_EXAMPLES", "40"))


def _generated(fmt: str) -> bytes:
    """A small valid file of each written format (made by snnedge's writers), as seeds."""
    import tempfile

    rng = np.random.default_rng(0)
    n = 300
    t = np.sort(rng.integers(0, 2**25, n))
    ev = se.make_events(t, rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n))
    ext = {"evt2": ".raw", "evt3": ".raw", "aedat4": ".aedat4", "aedat4z": ".aedat4", "es": ".es", "dat": ".dat",
           "nmnist": ".bin"}[fmt]
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x" + ext)
        if fmt == "aedat4z":
            se.write_events(p, ev, (34, 34), compression="zstd")
        else:
            se.write_events(p, ev, (34, 34), format=fmt)
        return open(p, "rb").read()


def _handmade() -> dict:
    """Seeds for the formats snnedge reads but does not write (layouts as in test_formats.py)."""
    import struct

    pol = b"".join(struct.pack("<Ii", (x << 17) | ((x % 7) << 2) | ((x & 1) << 1) | 1, 10 * x) for x in range(50))
    aedat3 = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 50, 50, 50) + pol
    aedat2 = b"#!AER-DAT2.0\r\n# AEChip: Davis346B\r\n" + b"".join(
        struct.pack(">II", (x << 22) | (x << 12) | ((x & 1) << 11), 7 * x) for x in range(60))
    words = [(0x8 << 60) | (3 << 32)] + [(1 << 60) | (x << 54) | ((32 * (x % 8)) << 43) | (x << 32) | (x * 2654435761 & 0xFFFFFFFF)
                                        for x in range(60)]
    evt21 = b"% format EVT21;height=720;width=1280\n% end\n" + b"".join(struct.pack("<Q", w) for w in words)
    return {"aedat3": aedat3, "aedat2": aedat2, "evt21": evt21}


SEEDS = {f: _generated(f) for f in ("evt2", "evt3", "aedat4", "aedat4z", "es", "dat", "nmnist")}
SEEDS.update(_handmade())
for name in ("evt2_sample.raw", "sample.aedat4", "sample_ncars.dat", "sample_nmnist.bin"):
    if (RECORDINGS / name).exists():
        data = (RECORDINGS / name).read_bytes()
        SEEDS["real:" + name] = data[:200_000]  # a prefix keeps each example fast
EXT = {"evt2": ".raw", "evt3": ".raw", "aedat4": ".aedat4", "aedat4z": ".aedat4", "es": ".es", "dat": ".dat",
       "nmnist": ".bin", "aedat3": ".aedat", "aedat2": ".aedat", "evt21": ".raw", "real:evt2_sample.raw": ".raw", "real:sample.aedat4": ".aedat4",
       "real:sample_ncars.dat": ".dat", "real:sample_nmnist.bin": ".bin"}

mutation = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8)


def mutate(data: bytes, edits, cut) -> bytes:
    b = bytearray(data)
    for pos, val in edits:
        if b:
            b[int(pos * len(b))] = val
    if cut is not None and b:
        b = b[: int(cut * len(b))]
    return bytes(b)


def read_both_ways(path: Path, mode: str):
    try:
        whole = se.read_events(path, on_error=mode)
        err = None
    except (se.SnnEdgeError, FileNotFoundError) as e:
        whole = getattr(e, "events", None)
        err = type(e)
    got = []
    try:
        for c in se.open_events(path, chunk_events=97, on_error=mode):
            got.append(c)
        err2 = None
    except se.SnnEdgeError as e:
        err2 = type(e)
    assert err == err2
    if whole is not None:
        np.testing.assert_array_equal(np.concatenate(got) if got else whole[:0], whole)


@pytest.mark.parametrize("seed", sorted(SEEDS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutation, cut=st.one_of(st.none(), st.floats(0, 1)), mode=st.sampled_from(["stop", "skip"]))
def test_mutated_files_never_crash(tmp_path, seed, edits, cut, mode):
    path = tmp_path / ("f" + EXT[seed])
    path.write_bytes(mutate(SEEDS[seed], edits, cut))
    read_both_ways(path, mode)


# ---- the fuzzing corpus: every input the long campaign found failing, kept as a regression -----

CORPUS = ROOT / "tests" / "fuzz_corpus"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*/*") if p.suffix != ".txt") if CORPUS.exists() else []


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS_FILES])
@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_fuzz_corpus_regressions(tmp_path, path, mode):
    """Inputs found by tests/fuzz/fuzz_readers.py (see its .txt for what happened): read whole
    and streamed in every chunking the campaign uses, they must behave (a snnedge error at
    most, streaming equal to batch, polarity 0/1) within the time limit the campaign gives."""
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    from fuzz_readers import check_file

    # the campaign names each case by its reader's extension: keep it (it is a format hint)
    case = tmp_path / ("case" + path.suffix)
    case.write_bytes(path.read_bytes())
    for chunking in ({"chunk_events": 1}, {"chunk_events": 97}, {}, {"chunk_us": 1000},
                     {"chunk_events": 50, "chunk_us": 100_000}):
        check_file(case, mode, chunking)
