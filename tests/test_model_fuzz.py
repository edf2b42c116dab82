"""Fuzzing the model loader with mutated real .snnm files: every outcome is a loaded model or a
snnedge exception; never another exception, a crash, a hang or an unbounded allocation.

Half of the mutations recompute the checksum, so the msgpack decoder and the model compiler see
the damaged payload (otherwise the checksum rejects nearly everything). CI runs
SNNEDGE_FUZZ_SECONDS (default 15) seconds; a long run: SNNEDGE_FUZZ_SECONDS=600 pytest -k fuzz.
"""
from __future__ import annotations

import glob
import os
import struct
import time
import zlib

import numpy as np
import pytest

import snnedge as se

ROOT = os.path.join(os.path.dirname(__file__), "..", "firmware_models")
FILES = sorted(glob.glob(os.path.join(ROOT, "*.snnm")))
SECONDS = float(os.environ.get("SNNEDGE_FUZZ_SECONDS", "15"))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        op = int(rng.integers(0, 6))
        pos = int(rng.integers(0, len(b))) if b else 0
        if op == 0 and b:  # flip bits
            b[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # truncate
            del b[pos:]
        elif op == 2:  # insert random bytes
            b[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif op == 3 and len(b) > pos + 4:  # overwrite with an interesting integer
            val = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            b[pos:pos + 4] = struct.pack("<I", val)
        elif op == 4 and b:  # delete a span
            del b[pos:pos + int(rng.integers(1, 32))]
        elif op == 5 and len(b) > pos + 1:  # msgpack-ish: set a type byte to a big container/bin header
            b[pos] = int(rng.choice([0xC6, 0xDB, 0xDD, 0xDF, 0xC5, 0xDC, 0xDE, 0x9F, 0x8F]))
    if len(b) >= 24 and rng.random() < 0.5:  # keep the header consistent so the payload is decoded
        payload = bytes(b[24:])
        b[12:16] = struct.pack("<I", zlib.crc32(payload) & 0xFFFFFFFF)
        b[16:24] = struct.pack("<Q", len(payload))
    return bytes(b)


def test_model_files_exist():
    assert len(FILES) >= 3


def test_fuzz_model_loader(tmp_path):
    rng = np.random.default_rng(int(os.environ.get("SNNEDGE_FUZZ_SEED", "12345")))
    originals = [open(p, "rb").read() for p in FILES]
    path = tmp_path / "m.snnm"
    outcomes = {"loaded": 0, "rejected": 0}
    deadline = time.monotonic() + SECONDS
    n = 0
    while time.monotonic() < deadline or n < 200:
        data = mutate(originals[n % len(originals)], rng)
        path.write_bytes(data)
        try:
            m = se.Model.load(path)
        except se.SnnEdgeError as e:
            assert str(e)
            outcomes["rejected"] += 1
        else:
            outcomes["loaded"] += 1
            eng = se.Engine(m)  # what the model makes an engine allocate is bounded at load
            eng.advance(10 * m.tick_us)
        n += 1
    assert outcomes["rejected"] > 0
    print(f"fuzz: {n} mutated files, {outcomes}")
