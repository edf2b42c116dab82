"""Event files: every shared real recording against its published ground truth, streaming ==
batch for every chunking, write-then-read round trips for every writer (random arrays with
time wraps and empty chunks), bad input (truncated, corrupt, wrong magic, lying sizes), and
agreement with the public reference decoders where they are installed (test-only)."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

import snnedge as se

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
needs_data = pytest.mark.skipif(not RECORDINGS.is_dir(), reason=f"shared recordings not found at {RECORDINGS}")


def xyp_sum(ev: np.ndarray) -> int:
    return int((ev["x"].astype(np.int64) * 1000003 + ev["y"].astype(np.int64) * 1009 + ev["p"].astype(np.int64)).sum())


# Ground truth copied from ../shared/data/README.md (decoded there by two independent public
# decoders that agreed): events, t first, t last, x range, y range, ON, OFF, xyp_sum.
GROUND_TRUTH = {
    "evt2_sample.raw": ("evt2", (640, 480), 539481, 1317888, 1367888, (60, 599), (18, 475), 367855, 171626,
                        171922691285155),
    "sample.aedat4": ("aedat4", (320, 240), 111954, 1605537493718345, 1605537494308262, (0, 319), (0, 239), 55023,
                      56931, 18357701933320),
    "sample_nmnist.bin": ("nmnist", None, 4325, 654, 311175, (0, 33), (0, 33), 2145, 2180, 74529803895),
    "sample_ncars.dat": ("dat", None, 2009, 0, 99952, (0, 77), (0, 41), 1350, 659, 93498108888),
}


@needs_data
@pytest.mark.parametrize("name", sorted(GROUND_TRUTH))
def test_recording_matches_ground_truth(name):
    fmt, size, n, t0, t1, xr, yr, on, off, fp = GROUND_TRUTH[name]
    ev = se.read_events(RECORDINGS / name)
    assert ev.dtype == se.EVENT_DTYPE
    assert len(ev) == n
    assert (int(ev["t"][0]), int(ev["t"][-1])) == (t0, t1)
    assert (int(ev["x"].min()), int(ev["x"].max())) == xr
    assert (int(ev["y"].min()), int(ev["y"].max())) == yr
    assert (int((ev["p"] == 1).sum()), int((ev["p"] == 0).sum())) == (on, off)
    assert xyp_sum(ev) == fp
    with se.open_events(RECORDINGS / name) as s:
        assert s.format == fmt
        assert s.sensor_size == size


@needs_data
def test_header_only_aedat2_has_no_events():
    ev = se.read_events(RECORDINGS / "sample_aedat_header.aedat")
    assert len(ev) == 0
    assert se.probe(RECORDINGS / "sample_aedat_header.aedat")["format"] == "aedat2"


@needs_data
@pytest.mark.parametrize("name", sorted(GROUND_TRUTH))
@pytest.mark.parametrize("chunking", [dict(chunk_events=1), dict(chunk_events=4097), dict(chunk_us=1000),
                                      dict(chunk_us=33_333, chunk_events=500), dict()])
def test_streaming_equals_batch(name, chunking):
    if chunking.get("chunk_events") == 1 and name in ("evt2_sample.raw", "sample.aedat4"):
        chunking = dict(chunk_events=7)  # one event per chunk is slow on the big files
    whole = se.read_events(RECORDINGS / name)
    chunks = list(se.open_events(RECORDINGS / name, **chunking))
    assert all(c.dtype == se.EVENT_DTYPE for c in chunks)
    assert all(len(c) > 0 for c in chunks)
    if "chunk_events" in chunking:
        assert max(len(c) for c in chunks) <= chunking["chunk_events"]
    if "chunk_us" in chunking:
        w = chunking["chunk_us"]
        t0 = int(whole["t"][0])
        for c in chunks:  # each chunk inside one window aligned on the first event
            k = (c["t"].astype(np.int64) - t0) // w
            assert k.min() == k.max()
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


@needs_data
def test_probe():
    info = se.probe(RECORDINGS / "evt2_sample.raw")
    assert info["format"] == "evt2" and info["sensor_size"] == (640, 480)
    assert info["metadata"]["evt"] == "2.0"
    assert se.probe(RECORDINGS / "sample_ncars.dat")["events"] == 2009
    info = se.probe(RECORDINGS / "sample.aedat4")
    assert info["metadata"]["compression"] == "LZ4"


# ---- round trips ------------------------------------------------------------------------------

def random_events(n, seed, width=640, height=480, t_start=0, span=2**26, wraps=True):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n)).astype(np.uint64) + np.uint64(t_start)
    if wraps and n > 10:  # jumps across the EVT 3.0 (2^24) and EVT 2.0 (2^34) counters
        t[n // 3:] += np.uint64(3 * 2**24 + 17)
        t[2 * n // 3:] += np.uint64(2**34 + 5)
    ev = se.make_events(t, rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n))
    ev[:: max(1, n // 10)]["t"] = ev[:: max(1, n // 10)]["t"]  # keep dtype; duplicates of t are common below
    if n > 4:
        ev["t"][1] = ev["t"][0]  # same timestamp twice
    return ev


WRITERS = [("evt2", ".raw"), ("evt3", ".raw"), ("aedat4", ".aedat4"), ("es", ".es"), ("dat", ".dat"),
           ("nmnist", ".bin"), ("npz", ".npz"), ("npy", ".npy"), ("csv", ".csv")]


@pytest.mark.parametrize("fmt,ext", WRITERS)
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_write_then_read_round_trip(tmp_path, fmt, ext, n):
    kw = {}
    if fmt == "es":
        kw = dict(span=2**24, wraps=False)  # Event Stream spends a byte per 127 us of silence
    if fmt == "dat":
        kw = dict(span=2**31, wraps=False)  # 32-bit times
    if fmt == "nmnist":
        kw = dict(width=34, height=34, span=2**25, wraps=False)
    ev = random_events(n, seed=n, **kw)
    size = (34, 34) if fmt == "nmnist" else (640, 480)
    path = tmp_path / f"out{ext}"
    # Written in several chunks, some empty, to exercise the streaming writers.
    with se.formats.EventFileWriter(path, size, fmt) as w:
        for part in np.array_split(ev, 5) if n else [ev]:
            w.write(part)
            w.write(ev[:0])
    back = se.read_events(path, format=fmt if fmt in ("nmnist",) else None)
    np.testing.assert_array_equal(back, ev)
    if n:
        for chunk_us in (10_000, 2**24):
            np.testing.assert_array_equal(np.concatenate(list(se.open_events(path, chunk_us=chunk_us))), ev)


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_aedat4_codecs(tmp_path, compression):
    ev = random_events(70_000, seed=3, width=346, height=260, t_start=1_605_537_493_718_345)
    path = tmp_path / "x.aedat4"
    se.write_events(path, ev, (346, 260), compression=compression)
    np.testing.assert_array_equal(se.read_events(path), ev)
    assert se.probe(path)["metadata"]["compression"] == {"none": "none", "lz4": "LZ4", "zstd": "Zstd"}[compression]


def test_writers_check_sensor_size_and_order(tmp_path):
    ev = se.make_events([0, 1], [5, 700], [0, 0], [1, 1])
    with pytest.raises(se.UnencodableEventsError) as e:
        se.write_events(tmp_path / "a.raw", ev, (640, 480))
    assert e.value.index == 1
    unsorted = se.make_events([10, 5], [1, 1], [1, 1], [1, 1])
    with pytest.raises(se.UnsortedEventsError):
        se.write_events(tmp_path / "b.raw", unsorted, (640, 480), format="evt2")
    with pytest.raises(se.UnknownFormatError):
        se.write_events(tmp_path / "c.xyz", ev[:1], (640, 480))


def test_tonic_style_arrays_any_field_order(tmp_path):
    n = 100
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 10**6, n))
    tonic = np.zeros(n, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    tonic["x"], tonic["y"], tonic["t"], tonic["p"] = rng.integers(0, 34, n), rng.integers(0, 34, n), t, rng.integers(0, 2, n)
    np.save(tmp_path / "a.npy", tonic)
    nmnist_style = np.zeros(n, dtype=[("t", int), ("p", int), ("y", int), ("x", int)])
    for k in "txyp":
        nmnist_style[k] = tonic[k]
    np.savez(tmp_path / "b.npz", nmnist_style)
    expected = se.make_events(t, tonic["x"], tonic["y"], tonic["p"].astype(np.uint8))
    np.testing.assert_array_equal(se.read_events(tmp_path / "a.npy"), expected)
    np.testing.assert_array_equal(se.read_events(tmp_path / "b.npz"), expected)
    (tmp_path / "c.csv").write_text("x,y,p,t\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in
                                                         zip(tonic["x"], tonic["y"], tonic["p"].astype(int), t)))
    np.testing.assert_array_equal(se.read_events(tmp_path / "c.csv"), expected)
    # as input everywhere: a Tonic array straight into the writer
    se.write_events(tmp_path / "d.es", tonic, (34, 34))
    np.testing.assert_array_equal(se.read_events(tmp_path / "d.es"), expected)


# ---- bad input --------------------------------------------------------------------------------

@needs_data
def test_truncated_evt2_yields_everything_then_raises(tmp_path):
    data = (RECORDINGS / "evt2_sample.raw").read_bytes()
    cut = len(data) - 2 - 4 * 1000
    (tmp_path / "t.raw").write_bytes(data[:cut])
    with pytest.raises(se.TruncatedFileError) as e:
        se.read_events(tmp_path / "t.raw")
    assert e.value.offset == cut - 2  # the incomplete word starts 2 bytes before the end
    assert "4-byte EVT 2.0 word" in e.value.expected
    full = se.read_events(RECORDINGS / "evt2_sample.raw")
    partial = e.value.events
    np.testing.assert_array_equal(partial, full[: len(partial)])
    assert len(full) - len(partial) <= 1001
    # streaming: every chunk before the fault, then the error
    got = []
    with pytest.raises(se.TruncatedFileError):
        for c in se.open_events(tmp_path / "t.raw", chunk_events=10_000):
            got.append(c)
    np.testing.assert_array_equal(np.concatenate(got), partial)
    # skip: the incomplete word is counted, not raised
    s = se.open_events(tmp_path / "t.raw", on_error="skip")
    np.testing.assert_array_equal(s.read_all(), partial)
    assert s.skipped_bytes == 2 and s.fault_count == 1


def aedat4_packets(data: bytes):
    """(offset, stream id, size) of each packet of an AEDAT 4 file."""
    n = struct.unpack_from("<I", data, 14)[0]
    pos = 18 + n
    out = []
    while pos + 8 <= len(data):
        sid, size = struct.unpack_from("<iI", data, pos)
        out.append((pos, sid, size))
        pos += 8 + size
    return out


@needs_data
def test_corrupt_aedat4_packet_stop_and_skip(tmp_path):
    data = bytearray((RECORDINGS / "sample.aedat4").read_bytes())
    packets = [p for p in aedat4_packets(bytes(data)) if p[1] == 0]
    pos, _, size = packets[3]
    data[pos + 8 + 4: pos + 8 + size - 8] = b"\xff" * (size - 12)  # garbage inside the LZ4 frame
    (tmp_path / "c.aedat4").write_bytes(bytes(data))
    with pytest.raises(se.EventFormatError) as e:
        se.read_events(tmp_path / "c.aedat4")
    assert e.value.offset == pos + 8 and "decompress" in e.value.expected
    s = se.open_events(tmp_path / "c.aedat4", on_error="skip")
    ev = s.read_all()
    assert s.fault_count == 1 and s.skipped_bytes == size  # from the fault to the next packet
    full = se.read_events(RECORDINGS / "sample.aedat4")
    assert len(ev) < len(full)
    # what remains is the full stream minus one packet's events, in order
    head = e.value.events
    np.testing.assert_array_equal(ev[: len(head)], head)
    np.testing.assert_array_equal(ev[len(head):], full[len(full) - (len(ev) - len(head)):])


@needs_data
def test_aedat4_lying_sizes_do_not_allocate(tmp_path):
    data = bytearray((RECORDINGS / "sample.aedat4").read_bytes())
    pos = aedat4_packets(bytes(data))[2][0]
    lying = bytearray(data)
    struct.pack_into("<I", lying, pos + 4, 200_000_000)  # packet larger than the file
    (tmp_path / "l.aedat4").write_bytes(bytes(lying))
    with pytest.raises(se.TruncatedFileError) as e:
        se.read_events(tmp_path / "l.aedat4")
    assert e.value.offset == pos
    header = bytearray(data)
    struct.pack_into("<I", header, 14, 0xFFFFFFF0)  # IOHeader size
    (tmp_path / "h.aedat4").write_bytes(bytes(header))
    with pytest.raises(se.EventFormatError) as e:
        se.read_events(tmp_path / "h.aedat4")
    assert e.value.offset == 14


def test_wrong_magic_and_unknown_files(tmp_path):
    (tmp_path / "x.xyz").write_bytes(b"this is not an event file at all")
    with pytest.raises(se.UnknownFormatError) as e:
        se.read_events(tmp_path / "x.xyz")
    assert "this is not" in e.value.found
    (tmp_path / "y.es").write_bytes(b"Event Stream\x03\x00\x00\x01\x10\x00\x10\x00")
    with pytest.raises(se.EventFormatError) as e:
        se.read_events(tmp_path / "y.es")
    assert e.value.offset == 12 and "version 2" in e.value.expected
    with pytest.raises(FileNotFoundError):
        se.read_events(tmp_path / "missing.raw")


def test_es_out_of_range_event_is_skipped(tmp_path):
    ev = se.make_events([1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 0, 1])
    se.write_events(tmp_path / "a.es", ev, (10, 10))
    data = bytearray((tmp_path / "a.es").read_bytes())
    struct.pack_into("<H", data, 20 + 5 + 1, 500)  # x of the second event
    (tmp_path / "b.es").write_bytes(bytes(data))
    with pytest.raises(se.EventFormatError) as e:
        se.read_events(tmp_path / "b.es")
    assert e.value.offset == 25
    s = se.open_events(tmp_path / "b.es", on_error="skip")
    np.testing.assert_array_equal(s.read_all(), ev[[0, 2]])
    assert s.fault_count == 1


@needs_data
@pytest.mark.parametrize("name", ["evt2_sample.raw", "sample.aedat4", "sample_ncars.dat", "sample_nmnist.bin"])
def test_every_truncation_point_is_clean(tmp_path, name):
    """Cut the file at many points: never a crash or a hang, and always a prefix of the events."""
    data = (RECORDINGS / name).read_bytes()
    full = se.read_events(RECORDINGS / name)
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(0, len(data), 25).tolist() + [0, 1, 5, 20, len(data) - 1]))
    for cut in cuts:
        p = tmp_path / f"cut{cut}{Path(name).suffix}"
        p.write_bytes(data[:cut])
        try:
            ev = se.read_events(p)
        except (se.EventFormatError, se.UnknownFormatError) as e:
            ev = getattr(e, "events", full[:0])
        np.testing.assert_array_equal(ev, full[: len(ev)])
        p.unlink()


# ---- reference decoders (test-only, skipped when not installed) --------------------------------

@needs_data
def test_evt2_matches_expelliarmus():
    expelliarmus = pytest.importorskip("expelliarmus")
    w = expelliarmus.Wizard(encoding="evt2")
    w.set_file(str(RECORDINGS / "evt2_sample.raw"))
    ref = w.read()
    ev = se.read_events(RECORDINGS / "evt2_sample.raw")
    for k in "txyp":
        np.testing.assert_array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64))


@needs_data
def test_aedat4_matches_aedat_and_faery():
    aedat = pytest.importorskip("aedat")
    ref = np.concatenate([p["events"] for p in aedat.Decoder(str(RECORDINGS / "sample.aedat4")) if "events" in p])
    ev = se.read_events(RECORDINGS / "sample.aedat4")
    np.testing.assert_array_equal(ev["t"], ref["t"])
    np.testing.assert_array_equal(ev["x"], ref["x"])
    np.testing.assert_array_equal(ev["y"], ref["y"])
    np.testing.assert_array_equal(ev["p"], ref["on"].astype(np.uint8))
    faery = pytest.importorskip("faery")
    fr = faery.events_stream_from_file(RECORDINGS / "sample.aedat4").to_array()
    np.testing.assert_array_equal(ev["t"], fr["t"])
    np.testing.assert_array_equal(ev["p"], fr["on"].astype(np.uint8))


@needs_data
def test_nmnist_matches_tonic():
    tonic_io = pytest.importorskip("tonic.io")
    ref = tonic_io.read_mnist_file(str(RECORDINGS / "sample_nmnist.bin"),
                                   dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    ev = se.read_events(RECORDINGS / "sample_nmnist.bin")
    for k in "txyp":
        np.testing.assert_array_equal(ev[k].astype(np.int64), ref[k])


@needs_data
def test_dat_matches_expelliarmus():
    expelliarmus = pytest.importorskip("expelliarmus")
    w = expelliarmus.Wizard(encoding="dat")
    w.set_file(str(RECORDINGS / "sample_ncars.dat"))
    ref = w.read()
    ev = se.read_events(RECORDINGS / "sample_ncars.dat")
    for k in "txyp":
        np.testing.assert_array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64))


def evt3_words_every_type(openeb_drops=True):
    """An EVT 3.0 body with every word type, vectors, an EM row, rows past the height, a time
    that moves forward (TIME_LOW falls back each time TIME_HIGH moves) and three 24-bit wraps."""
    rng = np.random.default_rng(7)
    t = 0
    times = set()
    w = [0x8000, 0x6000]
    for step in range(3000):
        t += int(rng.integers(0, 400)) + (2**24 - 2**23 if step in (1000, 2000, 2500) else 0)
        high = (t >> 12) & 0xFFF
        if high != ((w_t := getattr(evt3_words_every_type, "_last", 0)) >> 12) & 0xFFF or t >> 24 != w_t >> 24:
            while (w_t >> 24) < (t >> 24):  # make each wrap visible: 4095 then 0
                w += [0x8000 | 4095, 0x8000]
                w_t = ((w_t >> 24) + 1) << 24
            w.append(0x8000 | high)
        evt3_words_every_type._last = t
        w.append(0x6000 | (t & 0xFFF))
        w.append(0x0000 | int(rng.integers(0, 720)))
        kind = step % 6
        if kind in (0, 1):
            times.add(t)
        if kind == 0:
            w.append(0x2000 | int(rng.integers(0, 1280)) | (int(rng.integers(0, 2)) << 11))
        elif kind == 1:
            w += [0x3000 | int(rng.integers(0, 1200)) | (int(rng.integers(0, 2)) << 11), 0x4000 | int(rng.integers(0, 4096)),
                  0x4000 | int(rng.integers(0, 4096)), 0x5000 | int(rng.integers(0, 256))]
        elif kind == 2:
            w += [0xA000 | int(rng.integers(0, 2)), 0xE014, 0x7000 | 5, 0xF000 | 77]
        elif kind == 3 and openeb_drops:
            w += [0x1000 | 5, 0x2000 | 3]  # EM row: OpenEB drops the ADDR_X
        elif kind == 4 and openeb_drops:
            w += [0x0000 | 800, 0x2000 | 4]  # row past the 720 height: OpenEB drops it
        else:
            w += [0xD000, 0xF000, 0xF000]  # IMU-like payload words
    evt3_words_every_type._last = 0
    return np.array(w, dtype="<u2").tobytes(), times


def test_generated_evt3_matches_evt3_package_and_shows_expelliarmus_error(tmp_path):
    body, times = evt3_words_every_type()
    path = tmp_path / "g.raw"
    path.write_bytes(b"% format EVT3;height=720;width=1280\n% end\n" + body)
    ev = se.read_events(path)
    assert len(ev) > 3000
    # every event carries the time the generator was at (wraps unwound), and time only moves on
    assert set(ev["t"].tolist()) <= times and int(ev["t"][-1]) > 2**24
    assert np.all(np.diff(ev["t"].astype(np.int64)) >= 0)
    evt3 = pytest.importorskip("evt3")
    # evt3 0.4.1 keeps ADDR_X words on EM rows and on rows past the sensor height, which
    # OpenEB drops (its decoder's is_valid = is_cd && y < height): 500 + 500 events here.
    ref = evt3.decode_file(str(path))
    assert len(ref.x) - len(ev) == 1000 and int((ref.y >= 720).sum()) == 500
    # Without those two cases, it agrees exactly (time wraps included).
    body, _ = evt3_words_every_type(openeb_drops=False)
    path.write_bytes(b"% format EVT3;height=720;width=1280\n% end\n" + body)
    ev = se.read_events(path)
    ref = evt3.decode_file(str(path))
    np.testing.assert_array_equal(ev["t"], ref.timestamp)
    np.testing.assert_array_equal(ev["x"], ref.x)
    np.testing.assert_array_equal(ev["y"], ref.y)
    np.testing.assert_array_equal(ev["p"], ref.polarity)
    # expelliarmus 1.1.12 (formats.md 1.7) adds 4096 us whenever TIME_LOW decreases, which
    # double-counts each TIME_HIGH step: same events, a clock that runs ahead. (It also stops at
    # EXT_TRIGGER words, so it gets a file of CD events only, written by our EVT 3.0 writer.)
    expelliarmus = pytest.importorskip("expelliarmus")
    cd = random_events(2000, seed=11, width=1280, height=720, wraps=False, span=2**22)
    se.write_events(path, cd, (1280, 720), format="evt3")
    w = expelliarmus.Wizard(encoding="evt3")
    w.set_file(str(path))
    bad = w.read()
    np.testing.assert_array_equal(se.read_events(path), cd)
    assert len(bad) == len(cd)
    np.testing.assert_array_equal(bad["x"], cd["x"])
    np.testing.assert_array_equal(bad["y"], cd["y"])
    assert int(bad["t"][-1]) > int(cd["t"][-1])


def test_es_matches_event_stream_package(tmp_path):
    event_stream = pytest.importorskip("event_stream")
    ev = random_events(5000, seed=9, width=346, height=260, span=2**22, wraps=False)
    path = tmp_path / "a.es"
    se.write_events(path, ev, (346, 260))
    ref = np.concatenate(list(event_stream.Decoder(str(path))))
    np.testing.assert_array_equal(ref["t"], ev["t"])
    np.testing.assert_array_equal(ref["x"], ev["x"])
    np.testing.assert_array_equal(259 - ref["y"].astype(np.int64), ev["y"])  # the package returns raw (bottom-left) y
    # and the other direction: a file written by the reference encoder
    raw = np.zeros(len(ev), event_stream.dvs_dtype)
    raw["t"], raw["x"], raw["y"], raw["on"] = ev["t"], ev["x"], 259 - ev["y"].astype(np.int64), ev["p"] == 1
    with event_stream.Encoder(str(tmp_path / "b.es"), "dvs", 346, 260) as enc:
        enc.write(raw)
    np.testing.assert_array_equal(se.read_events(tmp_path / "b.es"), ev)


def test_evt2_and_evt3_written_files_match_faery(tmp_path):
    faery = pytest.importorskip("faery")
    ev = random_events(3000, seed=4, width=1280, height=720, wraps=False, span=2**23)
    for fmt in ("evt2", "evt3"):
        path = tmp_path / f"{fmt}.raw"
        se.write_events(path, ev, (1280, 720), format=fmt)
        ref = faery.events_stream_from_file(path).to_array()
        np.testing.assert_array_equal(ref["t"], ev["t"])
        np.testing.assert_array_equal(ref["x"], ev["x"])
        np.testing.assert_array_equal(ref["y"], ev["y"])


def test_cli_convert(tmp_path):
    from snnedge.cli import main

    ev = random_events(2000, seed=5, width=320, height=240, wraps=False, span=2**20)
    se.write_events(tmp_path / "a.aedat4", ev, (320, 240))
    assert main(["convert", str(tmp_path / "a.aedat4"), str(tmp_path / "b.raw")]) == 0
    assert main(["convert", str(tmp_path / "b.raw"), str(tmp_path / "c.es")]) == 0
    assert main(["convert", str(tmp_path / "c.es"), str(tmp_path / "d.npz")]) == 0
    np.testing.assert_array_equal(se.read_events(tmp_path / "d.npz"), ev)
    assert se.probe(tmp_path / "c.es")["sensor_size"] == (320, 240)
    assert main(["probe", str(tmp_path / "b.raw")]) == 0


# ---- formats without a shared sample: files built here from the published layouts ----------

def test_aedat31_polarity_packets_built_from_libcaer_layout(tmp_path):
    """Two polarity packets (one with an invalid event, one with a timestamp overflow) and a
    frame packet in between, packed as libcaer's common.h / polarity.h describe them."""
    def packet(ev_type, events, size, overflow=0, raw=None):
        body = raw if raw is not None else b"".join(events)
        n = len(body) // size
        return struct.pack("<hhiiiiii", ev_type, 1, size, 4, overflow, n, n, n) + body

    def pol(x, y, p, t, valid=1):
        return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, t)

    body = packet(1, [pol(3, 4, 1, 10), pol(5, 6, 0, 20, valid=0), pol(7, 8, 0, 30)], 8)
    body += packet(2, [], 16, raw=bytes(64))  # a "frame" packet: skipped
    body += packet(1, [pol(345, 259, 1, 5)], 8, overflow=1)
    (tmp_path / "a.aedat").write_bytes(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DAVIS346\r\n#!END-HEADER\r\n" + body)
    ev = se.read_events(tmp_path / "a.aedat")
    np.testing.assert_array_equal(ev, se.make_events([10, 30, 2**31 + 5], [3, 7, 345], [4, 8, 259], [1, 0, 1]))
    assert se.probe(tmp_path / "a.aedat")["format"] == "aedat3"
    # a packet whose header lies about its capacity: truncated, the first packet still decoded
    lying = body[: len(body) - 8] + b""
    (tmp_path / "b.aedat").write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + lying)
    with pytest.raises(se.TruncatedFileError) as e:
        se.read_events(tmp_path / "b.aedat")
    assert len(e.value.events) == 2


def test_aedat2_dvs128_and_davis_built_from_jaer_layout(tmp_path):
    recs = [(0, (5 << 8) | (9 << 1) | 1, 100), (1, (127 << 8) | (0 << 1) | 0, 2**32 - 10), (2, (1 << 8) | (2 << 1), 30)]
    body = b"".join(struct.pack(">II", a, t) for _, a, t in recs)
    (tmp_path / "a.aedat").write_bytes(b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n" + body)
    ev = se.read_events(tmp_path / "a.aedat")
    # third record: 30 after 2^32 - 10 is the 32-bit counter wrapping
    np.testing.assert_array_equal(ev, se.make_events([100, 2**32 - 10, 2**32 + 30], [5, 127, 1], [9, 0, 2], [1, 0, 0]))
    davis = [((100 << 22) | (200 << 12) | (1 << 11), 7), ((1 << 31), 8), ((1 << 10), 9), ((0 << 22) | (0 << 12), 10)]
    body = b"".join(struct.pack(">II", a, t) for a, t in davis)
    (tmp_path / "b.aedat").write_bytes(b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis346B\r\n" + body)
    ev = se.read_events(tmp_path / "b.aedat")
    # APS (bit 31) and IMU (bit 10) records skipped; jAER's bottom-left origin flipped as Tonic does
    np.testing.assert_array_equal(ev, se.make_events([7, 10], [345 - 200, 345], [259 - 100, 259], [1, 0]))
    assert se.probe(tmp_path / "b.aedat")["sensor_size"] == (346, 260)


def test_evt21_built_from_openeb_layout(tmp_path):
    def word(ty, rest):
        return struct.pack("<Q", (ty << 60) | rest)

    th = lambda v: word(0x8, v << 32)  # noqa: E731
    cd = lambda p, t6, x, y, mask: word(p, (t6 << 54) | (x << 43) | (y << 32) | mask)  # noqa: E731
    body = cd(1, 0, 0, 0, 1) + th(3) + cd(1, 5, 32, 7, 0b101) + cd(0, 6, 64, 8, 1 << 31) + th((1 << 28) - 1) + th(0) + cd(1, 1, 0, 0, 1)
    (tmp_path / "a.raw").write_bytes(b"% format EVT21;height=720;width=1280\n% end\n" + body)
    ev = se.read_events(tmp_path / "a.raw")
    # before the first TIME_HIGH: dropped; the last TIME_HIGH going from max to 0 is a loop (+2^34)
    np.testing.assert_array_equal(ev, se.make_events([197, 197, 198, 2**34 + 1], [32, 34, 95, 0], [7, 7, 8, 0], [1, 1, 0, 1]))
    legacy = b"".join(struct.pack("<Q", ((w := struct.unpack("<Q", body[i:i + 8])[0]) >> 32) | ((w & 0xFFFFFFFF) << 32))
                      for i in range(0, len(body), 8))
    (tmp_path / "b.raw").write_bytes(b"% format EVT21;endianness=legacy;height=720;width=1280\n% end\n" + legacy)
    np.testing.assert_array_equal(se.read_events(tmp_path / "b.raw"), ev)
