"""The wire protocol: round trips, resynchronisation after every kind of corruption, exact
accounting of lost events, and the streaming API's windows and queue policies."""
from __future__ import annotations

import asyncio
import random
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import snnedge as se
from snnedge.devices import IterSource, Packet, ReplaySource, SerialSource, now_ns
from snnedge.devices.protocol import (EV8_DTYPE, FrameDecoder, FrameType, SensorInfo, decode_body, encode_body,
                                      encode_events, encode_frame, pack_events, slip_wrap, unpack_events)
from snnedge.devices.udp import decode_aestream, encode_aestream
from snnedge.errors import FrameError, ShapeError
from snnedge.stream import BoundedQueue, Stream, astream, stream
from snnedge.synthetic import moving_bars

import os

MODEL = os.path.join(os.path.dirname(__file__), "..", "firmware_models", "motion_direction.snnm")


def random_events(n: int, seed: int = 0, width: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return se.make_events(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, width, n), rng.integers(0, width, n),
                          rng.integers(0, 2, n))


def test_event_dtype_survives_concatenate():
    ev, _ = moving_bars(0.5)
    assert ev.dtype == se.EVENT_DTYPE and ev.dtype.itemsize == 16


@pytest.mark.parametrize("fmt", ["ev8", "ev16"])
def test_events_round_trip(fmt):
    ev = random_events(500)
    frame = encode_events(ev, seq=3, first_index=1000, fmt=fmt)
    frames, errors = FrameDecoder().feed(frame)
    assert not errors and len(frames) == 1
    f = frames[0]
    assert f.type == FrameType.EVENTS and f.header["i"] == 1000 and f.header["n"] == 500
    np.testing.assert_array_equal(unpack_events(f), ev)


def test_ev8_is_8_bytes_and_checks_ranges():
    assert EV8_DTYPE.itemsize == 8
    ev = se.make_events([0, 2**32], [1, 2], [1, 2], [0, 1])
    with pytest.raises(ShapeError, match="t0"):
        pack_events(ev, "ev8")
    with pytest.raises(ShapeError, match="32768"):
        pack_events(se.make_events([0], [40000], [0], [1]), "ev8")


def test_time_unit_converts_to_microseconds():
    ev = se.make_events([0, 10, 20], [1, 2, 3], [0, 0, 0], [1, 1, 1])
    f = decode_body(encode_body(FrameType.EVENTS, {"s": 0, "i": 0, "n": 3, "t0": 0, "f": "ev8"},
                                pack_events(ev, "ev8")[1]))
    np.testing.assert_array_equal(unpack_events(f, time_unit_ns=100_000)["t"], [0, 1000, 2000])


def test_documented_example_frame():
    # docs/protocol.md section 7
    assert encode_frame(FrameType.TIME, {"t": 5}).hex(" ") == "c0 03 04 00 81 a1 74 05 81 29 73 81 c0"


def test_slip_escapes_end_and_esc_bytes():
    body = bytes([0xC0, 0xDB, 0x01, 0xDB, 0xDC, 0xC0])
    wrapped = slip_wrap(body)
    assert wrapped.count(b"\xc0") == 2  # only the delimiters
    frames, errors = FrameDecoder().feed(slip_wrap(encode_body(FrameType.TIME, {"t": 1}, body)))
    assert not errors and frames[0].payload == body


def test_bad_frames_are_named_with_offset_and_reason():
    d = FrameDecoder()
    good = encode_frame(FrameType.TIME, {"t": 5})
    body = bytearray(encode_body(FrameType.TIME, {"t": 6}))
    body[4] ^= 0x10
    crc_bad = slip_wrap(bytes(body))
    frames, errors = d.feed(good + crc_bad + b"\xc0\x01\x02\xc0" + b"\xc0\xdb\x05\x01\x02\x03\x04\x05\x06\xc0" + good)
    assert [f.header["t"] for f in frames] == [5, 5]
    reasons = [e.reason for e in errors]
    assert reasons == ["crc", "truncated", "escape"]
    assert errors[0].offset == len(good) + 1 and isinstance(errors[0], ValueError)  # first byte after its END
    assert d.bad_frames == {"crc": 1, "truncated": 1, "escape": 1}


def test_unknown_type_and_bad_header():
    for body, reason in ((b"\x09\x00\x00", "type"), (b"\x01\x02\x00\xc1\xc1", "header"), (b"\x01\x01\x00\x05", "header")):
        full = body + struct.pack("<I", zlib.crc32(body))
        with pytest.raises(FrameError) as e:
            decode_body(full, 77)
        assert e.value.reason == reason and e.value.offset == 77


def test_payload_size_mismatch_is_an_error():
    f = decode_body(encode_body(FrameType.EVENTS, {"s": 0, "i": 0, "n": 3, "t0": 0, "f": "ev8"}, b"\x00" * 16))
    with pytest.raises(FrameError, match="payload") as e:
        unpack_events(f)
    assert e.value.reason == "payload"


def test_over_long_frame_is_skipped_and_decoder_resyncs():
    d = FrameDecoder(max_frame_bytes=1000)
    frames, errors = d.feed(b"\x01" * 5000)
    assert errors and errors[0].reason == "too_long"
    frames, errors = d.feed(b"\x02" * 10 + encode_frame(FrameType.TIME, {"t": 9}))
    assert [f.header["t"] for f in frames] == [9]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 40), min_size=1, max_size=6), st.binary(max_size=200))
def test_any_chunking_and_garbage_between_frames(seed, cuts, garbage):
    """Frames split at arbitrary points with garbage in between: every good frame comes out,
    in order; garbage never produces a frame (a 2**-32 CRC collision aside)."""
    rng = random.Random(seed)
    frames_in = [encode_events(random_events(rng.randrange(0, 50), seed=k), k, 100 * k) for k in range(5)]
    stream_bytes = b""
    for f in frames_in:
        stream_bytes += garbage[: rng.randrange(len(garbage) + 1)] + f
    d = FrameDecoder()
    out = []
    pos = 0
    for c in cuts * 1000:
        if pos >= len(stream_bytes):
            break
        got, _ = d.feed(stream_bytes[pos:pos + c])
        out += got
        pos += c
    got, _ = d.feed(stream_bytes[pos:])
    out += got
    events_frames = [f for f in out if f.type == FrameType.EVENTS]
    assert [f.header["s"] for f in events_frames] == list(range(5))


def test_aestream_round_trip_and_malformed():
    ev = se.make_events([5, 6, 7], [1, 300, 32767], [2, 3, 0], [1, 0, 1])
    out = decode_aestream(encode_aestream(ev), 1234, {})
    assert out["t"].tolist() == [1234] * 3
    np.testing.assert_array_equal(out[["x", "y", "p"]], ev[["x", "y", "p"]])
    stamped = decode_aestream(encode_aestream(ev, timestamps=True), 0, {})
    np.testing.assert_array_equal(stamped, ev)
    with pytest.raises(FrameError):
        decode_aestream(b"\x00\x01\x02", 0, {})
    # the word layout AEStream documents: bit 31 no timestamp, x in 30..16, polarity 15, y 14..0
    word = struct.unpack("<I", encode_aestream(se.make_events([0], [5], [9], [1])))[0]
    assert word == (1 << 31) | (5 << 16) | (1 << 15) | 9


def test_aestream_timestamps_unwrap():
    state: dict = {}
    a = decode_aestream(encode_aestream(se.make_events([2**32 - 10], [1], [1], [1]), True), 0, state)
    b = decode_aestream(encode_aestream(se.make_events([2**32 + 5], [1], [1], [1]), True), 0, state)
    assert int(a["t"][0]) == 2**32 - 10 and int(b["t"][0]) == 2**32 + 5


def test_hello_fields_are_checked():
    info = SensorInfo(64, 48, 1000, "cam", 7)
    assert SensorInfo.from_header(info.to_header()).width == 64
    h = info.to_header()
    h["width"] = "wide"
    with pytest.raises(FrameError, match="width"):
        SensorInfo.from_header(h)


# ---- the streaming API ------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 997, 20_000])
def test_stream_equals_batch_for_any_chunking(chunk):
    ev, _ = moving_bars(2.0)
    m = se.load_model(MODEL)
    results = list(stream([ev[i:i + chunk] for i in range(0, len(ev), chunk)], m, window_us=20_000))
    spikes = np.concatenate([r.spikes for r in results])
    np.testing.assert_array_equal(spikes, se.Engine(m).run(ev)[: len(spikes)])
    assert sum(r.events for r in results) == len(ev)
    for r in results:
        assert r.t_end_us - r.t_start_us == 20_000 and r.t_start_us % 20_000 == 0
        assert np.all((r.spikes["t"] >= r.t_start_us) & (r.spikes["t"] < r.t_end_us))
        if r.decision is not None:
            assert r.counts[r.decision] == r.counts.max() and r.label == "right,left,down,up".split(",")[r.decision]


def test_window_must_be_a_multiple_of_the_tick():
    with pytest.raises(ValueError, match="window_us"):
        Stream(iter([]), MODEL, window_us=1500)


def test_late_and_out_of_range_events_are_counted_not_fed():
    a = se.make_events([1000, 2000], [1, 2], [1, 2], [1, 1])
    b = se.make_events([1500, 2500, 2600], [1, 40, 3], [1, 1, 99], [1, 1, 1])  # one late, two outside 32x32
    s = Stream([a, b], MODEL, window_us=1000)
    list(s)
    snap = s.snapshot()
    assert snap["events_dropped"] == {"late": 1, "out_of_range": 2}
    assert snap["events_in"] == 2


def test_idle_windows_are_skipped_and_counted():
    a = se.make_events([1000], [1], [1], [1])
    b = se.make_events([10_000_000_000], [2], [2], [1])  # 10^4 s later
    s = Stream([a, b], MODEL, window_us=1000)
    t = time.perf_counter()
    rs = list(s)
    assert time.perf_counter() - t < 2.0
    assert len(rs) <= 10
    assert s.snapshot()["windows_idle"] > 9_000_000


class _Flood:
    """A source that pushes packets as fast as possible and records nothing else."""

    def __init__(self, n_packets: int, per_packet: int) -> None:
        self.chunks = [random_events(per_packet, seed=k) for k in range(n_packets)]
        for k, c in enumerate(self.chunks):
            c["t"] = np.sort(c["t"]) // 1000 + k * 1000


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest", "block"])
def test_slow_consumer_policies_count_every_event(policy):
    flood = _Flood(200, 50)
    s = Stream(IterSource(flood.chunks), MODEL, window_us=1000, queue_events=500, policy=policy)
    total = 0
    for r in s:
        time.sleep(0.002)  # a slow consumer
        total += r.events
    snap = s.snapshot()
    dropped = snap.get("events_dropped", {}).get("queue_full", 0)
    assert snap["events_dropped_total"] == dropped  # no other kind of loss here
    assert total == snap["events_in"] and total + dropped == 200 * 50
    if policy == "block":
        assert dropped == 0
    else:
        assert dropped > 0
    assert s.queue.high_water <= 500 + 50


def test_bounded_queue_drop_oldest_keeps_newest():
    from snnedge.devices import Counters

    c = Counters()
    q = BoundedQueue(100, "drop_oldest", c)
    for k in range(5):
        q.put(Packet(random_events(40, k), k, now_ns()))
    kept = []
    while (p := q.get(0.01)) is not None:
        kept.append(p.t_reached_us)
    assert kept == [3, 4] and c.get("events_dropped", "queue_full") == 120


def test_replay_source_keeps_recorded_pace(tmp_path):
    ev = se.make_events(np.arange(0, 300_000, 1000), np.zeros(300, int), np.zeros(300, int), np.ones(300, int))
    path = tmp_path / "rec.npy"
    np.save(path, ev)
    t = time.monotonic()
    rs = list(stream(str(path), MODEL, window_us=100_000))
    wall = time.monotonic() - t
    assert 0.25 < wall < 2.0
    assert sum(r.events for r in rs) == 300


def test_async_twin_yields_the_same_windows():
    ev, _ = moving_bars(1.0)

    async def collect():
        return [r async for r in astream([ev], MODEL, window_us=50_000)]

    got = asyncio.run(asyncio.wait_for(collect(), 30))
    want = list(stream([ev], MODEL, window_us=50_000))
    assert [(r.t_start_us, r.decision) for r in got] == [(r.t_start_us, r.decision) for r in want]


def test_swap_model_at_window_boundary():
    ev, _ = moving_bars(1.0)
    m = se.load_model(MODEL)
    s = Stream([ev[i:i + 1000] for i in range(0, len(ev), 1000)], m, window_us=50_000)
    gens = []
    for k, r in enumerate(s):
        if k == 3:
            s.swap_model(se.load_model(MODEL))
        gens.append(r.model_generation)
    assert gens[:4] == [0, 0, 0, 0] and gens[-1] == 1


def test_serial_loop_url_round_trip():
    """pyserial's loop:// echoes what is written: the host's own HELLO request comes back and
    is ignored; a sensor HELLO and events written into the port come out as packets."""
    src = SerialSource("loop://", read_timeout_s=0.05)
    got = []

    def reader():
        for p in src.packets():
            got.append(p)
            if sum(len(x.events) for x in got) >= 30:
                src.close()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    deadline = time.monotonic() + 5
    while src._port is None and time.monotonic() < deadline:
        time.sleep(0.01)
    ev = random_events(30)
    src.send(encode_frame(FrameType.HELLO, SensorInfo(32, 32, 1000, "loop", 1).to_header()))
    src.send(encode_events(ev[:10], 0, 0) + b"\x00garbage\xc0" + encode_events(ev[10:], 1, 10))
    th.join(5)
    assert not th.is_alive()
    np.testing.assert_array_equal(np.concatenate([p.events for p in got if len(p.events)]), ev)
    assert src.counters.get("frames_bad") == 1
    assert src.sensor is not None and src.sensor.name == "loop"


def test_a_failing_sink_is_counted_and_does_not_stop_the_stream():
    class Broken:
        kind = "broken"

        def emit(self, r):
            raise OSError("disk full")

        def flush(self):
            pass

    class Good:
        kind = "good"
        n = 0

        def emit(self, r):
            self.n += 1

        def flush(self):
            pass

    ev, _ = moving_bars(1.0)
    good = Good()
    s = Stream([ev], MODEL, window_us=50_000, sinks=[Broken(), good])
    rs = list(s)
    assert good.n == len(rs) > 5
    assert s.snapshot()["sink_errors"] == {"broken": len(rs)}
