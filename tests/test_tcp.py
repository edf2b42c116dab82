"""TCP event streams with real sockets and processes: ``tcp://`` against ``snnedge simulate
--listen``, ``tcp-listen://`` with ``snnedge simulate --connect`` dialling in (and a second
sensor), and the AEDAT 4 network stream from dv-processing's ``NetworkWriter`` (when it is
installed) and from a server replaying the bytes of a real DV recording; plus the bad input a
network brings: garbage, oversize length prefixes, truncated packets, a peer that vanishes.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import numpy as np
import pytest

from snnedge.daemon import validate
from snnedge.daemon.service import build_source
from snnedge.devices import Aedat4TcpSource, Packet, TcpServerSource, TcpSource, open_source
from snnedge.devices.protocol import FrameType, SensorInfo, encode_events, encode_frame
from snnedge.errors import ConfigError, DeviceError
from snnedge.events import EVENT_DTYPE
from snnedge.stream import Stream

from test_daemon import MODEL, cleanup, consume, finish, free_port, read_json_line, simulate  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_AEDAT4 = ROOT.parent / "shared" / "data" / "recordings" / "sample.aedat4"
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


class Collector:
    """Runs ``source.packets()`` in a thread and keeps every packet."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.packets: List[Packet] = []
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for p in self.source.packets():
                self.packets.append(p)
        except BaseException as e:  # pragma: no cover - reported by stop()
            self.error = e

    def events(self) -> np.ndarray:
        parts = [p.events for p in self.packets if len(p.events)]
        return np.concatenate(parts).astype(EVENT_DTYPE) if parts else np.zeros(0, EVENT_DTYPE)

    def wait(self, pred: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.02)
        return pred()

    def stop(self) -> None:
        self.source.close()
        self.thread.join(5)
        assert not self.thread.is_alive(), "the source did not stop on close()"
        assert self.error is None, self.error


# ---- snnedge frames over TCP, both roles ------------------------------------------------------


def test_tcp_client_reads_the_simulator_and_reconnects_counting_the_gap(cleanup):
    port = free_port()
    sim = simulate("--listen", f"127.0.0.1:{port}", "--rate", "20000", "--duration", "3", "--kick-after", "1",
                   "--wait-host", "20", "--linger", "1", "--no-bye")
    cleanup.append(sim)
    read_json_line(sim)
    src = open_source(f"tcp://127.0.0.1:{port}", reconnect_min_s=0.2, read_timeout_s=0.2)
    assert isinstance(src, TcpSource)
    s = Stream(src, MODEL, window_us=10_000)
    consume(s, lambda: sim.poll() is not None, timeout=30)
    stats = finish(sim)
    snap = s.snapshot()
    assert snap["reconnects"] >= 1 and snap["disconnects"] >= 1
    assert snap["events_dropped"]["link"] > 0
    # exact accounting across the reconnection
    assert snap["events_received"] + snap["events_dropped"]["link"] == stats["events_generated"]
    assert snap["events_received"] == stats["events_sent"]


def test_tcp_client_backs_off_while_nobody_listens_then_connects(cleanup):
    port = free_port()
    src = TcpSource(f"tcp://127.0.0.1:{port}", reconnect_min_s=0.05, reconnect_max_s=0.2, read_timeout_s=0.2)
    c = Collector(src)
    assert c.wait(lambda: src.counters.get("connect_failures") >= 3)
    sim = simulate("--listen", f"127.0.0.1:{port}", "--rate", "10000", "--duration", "1", "--wait-host", "20",
                   "--linger", "0.5")
    cleanup.append(sim)
    read_json_line(sim)
    assert c.wait(lambda: sim.poll() is not None, 30)
    c.wait(lambda: src.counters.get("events_received") >= 10000, 5)
    stats = finish(sim)
    c.stop()
    assert src.counters.get("events_received") == stats["events_sent"] == stats["events_generated"]
    assert src.sensor is not None and src.sensor.name == "snnedge-simulator"


def test_tcp_listen_takes_a_sensor_that_dials_in(cleanup):
    src = TcpServerSource("tcp-listen://127.0.0.1:0", read_timeout_s=0.2)
    host, port = src.address
    assert host == "127.0.0.1" and port > 0
    s = Stream(src, MODEL, window_us=10_000)
    sim = simulate("--connect", f"{host}:{port}", "--rate", "20000", "--duration", "2", "--wait-host", "20",
                   "--linger", "0.5")
    cleanup.append(sim)
    read_json_line(sim)
    results = consume(s, lambda: sim.poll() is not None, timeout=30)
    stats = finish(sim)
    snap = s.snapshot()
    assert stats["events_sent"] == stats["events_generated"] > 30_000
    assert snap["events_received"] == stats["events_sent"]
    assert snap["events_in"] == stats["events_sent"]
    assert len([r for r in results if r.decision is not None]) > 10


def _sensor_client(address: Any, session: int, events: np.ndarray, first_index: int = 0) -> socket.socket:
    """A minimal sensor in this process: connects, says HELLO, sends one EVENTS frame."""
    sock = socket.create_connection(address, timeout=5)
    info = SensorInfo(32, 32, 1000, "test-sensor", session)
    sock.sendall(encode_frame(FrameType.HELLO, info.to_header())
                 + encode_events(events, 0, first_index, extra={"ss": session}))
    return sock


def _events(n: int, t0: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = t0 + np.arange(n) * 10
    ev["x"] = rng.integers(0, 32, n)
    ev["y"] = rng.integers(0, 32, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def test_tcp_listen_second_connection_replaces_the_first():
    src = TcpServerSource("tcp-listen://127.0.0.1:0", read_timeout_s=0.2)
    c = Collector(src)
    a_ev, b_ev = _events(100, 1000, 1), _events(50, 500, 2)
    a = _sensor_client(src.address, 1, a_ev)
    assert c.wait(lambda: src.counters.get("events_received") == 100)
    b = _sensor_client(src.address, 2, b_ev)  # the same sensor after a reboot: a new session
    assert c.wait(lambda: src.counters.get("events_received") == 150)
    assert src.counters.get("connections_replaced") == 1 and src.counters.get("reconnects") == 1
    # the old connection was closed by the host
    a.settimeout(5)
    assert c.wait(lambda: _closed(a))
    c.stop()
    a.close()
    b.close()
    got = c.events()
    assert np.array_equal(got, np.concatenate([a_ev, b_ev]))
    assert [p.session for p in c.packets if len(p.events)] == [1, 2]


def _closed(sock: socket.socket) -> bool:
    """True once the peer closed ``sock`` (the host's HELLO request may come first)."""
    try:
        sock.setblocking(False)
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_tcp_listen_reject_keeps_the_first_sensor():
    src = TcpServerSource("tcp-listen://127.0.0.1:0", on_second="reject", read_timeout_s=0.2)
    c = Collector(src)
    a = _sensor_client(src.address, 1, _events(100, 1000, 1))
    assert c.wait(lambda: src.counters.get("events_received") == 100)
    b = _sensor_client(src.address, 2, _events(50, 500, 2))
    assert c.wait(lambda: src.counters.get("connections_rejected") == 1)
    assert c.wait(lambda: _closed(b))
    a.sendall(encode_events(_events(10, 5000, 3), 1, 100, extra={"ss": 1}))
    assert c.wait(lambda: src.counters.get("events_received") == 110)
    c.stop()
    a.close()
    b.close()
    assert src.counters.get("reconnects") == 0


def test_tcp_listen_bad_address_fails_at_once():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(DeviceError, match="cannot listen"):
            TcpServerSource(f"tcp-listen://127.0.0.1:{taken.getsockname()[1]}")
    finally:
        taken.close()
    with pytest.raises(ValueError, match="host:port"):
        TcpSource("tcp://nowhere")


def test_tcp_listen_survives_garbage_and_a_vanished_peer():
    src = TcpServerSource("tcp-listen://127.0.0.1:0", read_timeout_s=0.2)
    c = Collector(src)
    raw = socket.create_connection(src.address)
    raw.sendall(os.urandom(5000) + b"\xc0" + b"\xdb\x01garbage\xc0")
    raw.close()  # vanishes
    assert c.wait(lambda: src.counters.get("disconnects") == 1)
    ev = _events(20, 100, 4)
    a = _sensor_client(src.address, 7, ev)
    assert c.wait(lambda: src.counters.get("events_received") == 20)
    c.stop()
    a.close()
    assert sum(v for k, r, v in src.counters.items() if k == "frames_bad") >= 1
    assert np.array_equal(c.events(), ev)


# ---- the AEDAT 4 network stream ----------------------------------------------------------------


def _aedat4_stream_bytes() -> bytes:
    """The network stream a DV server would send for the shared recording: the file without
    its magic line and without the file data table at its end."""
    data = SAMPLE_AEDAT4.read_bytes()
    assert data.startswith(AEDAT4_MAGIC)
    import snnedge._core as core

    table = int(dict(core.probe(str(SAMPLE_AEDAT4))["metadata"])["file_data_position"])
    return data[len(AEDAT4_MAGIC):table]


def _split_packets(stream: bytes) -> tuple:
    n = struct.unpack_from("<I", stream, 0)[0]
    header, pos, packets = stream[:4 + n], 4 + n, []
    while pos < len(stream):
        size = struct.unpack_from("<I", stream, pos + 4)[0]
        packets.append(stream[pos:pos + 8 + size])
        pos += 8 + size
    return header, packets


class ByteServer:
    """A TCP server that sends each connection the next item of ``scripts`` (a list of byte
    chunks; ``None`` as a chunk: wait until the test releases it), then closes it."""

    def __init__(self, scripts: List[List[Optional[bytes]]]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.address = self.sock.getsockname()
        self.scripts = list(scripts)
        self.release = threading.Event()
        self.served = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.scripts:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            script = self.scripts.pop(0)
            with conn:
                for chunk in script:
                    if chunk is None:
                        self.release.wait(30)
                        continue
                    conn.sendall(chunk)
            self.served += 1

    def close(self) -> None:
        self.sock.close()


def _reference_events() -> np.ndarray:
    """The recording's events through an independent decoder (the ``aedat`` package, used by
    tonic), else snnedge's own file reader."""
    try:
        import aedat
    except ImportError:
        import snnedge as se

        return se.read_events(str(SAMPLE_AEDAT4))
    parts = []
    for packet in aedat.Decoder(str(SAMPLE_AEDAT4)):
        if "events" in packet:
            e = packet["events"]
            out = np.zeros(len(e), EVENT_DTYPE)
            out["t"], out["x"], out["y"], out["p"] = e["t"], e["x"], e["y"], e["on"]
            parts.append(out)
    return np.concatenate(parts)


@pytest.mark.skipif(not SAMPLE_AEDAT4.exists(), reason="shared recording missing")
def test_aedat4_stream_of_a_real_recording_arrives_whole():
    stream = _aedat4_stream_bytes()
    # sent in awkward pieces: the source must reassemble size prefixes split across reads
    pieces = [stream[i:i + 997] for i in range(0, len(stream), 997)]
    server = ByteServer([pieces + [None]])
    src = open_source(f"aedat4+tcp://127.0.0.1:{server.address[1]}", read_timeout_s=0.2)
    assert isinstance(src, Aedat4TcpSource)
    c = Collector(src)
    ref = _reference_events()
    assert c.wait(lambda: src.counters.get("events_received") >= len(ref))
    server.release.set()
    c.stop()
    server.close()
    assert src.sensor is not None and (src.sensor.width, src.sensor.height) == (320, 240)
    assert np.array_equal(c.events(), ref)
    assert src.counters.get("frames_bad") == 0


@pytest.mark.skipif(not SAMPLE_AEDAT4.exists(), reason="shared recording missing")
def test_aedat4_stream_bad_input_is_counted_and_recovered():
    header, packets = _aedat4_stream_bytes_and_packets()
    good = header + b"".join(packets[:3])
    n_good = _count_events(header, packets[:3])
    corrupt = bytearray(packets[0])
    corrupt[8:24] = b"\xff" * 16  # inside the LZ4 frame: framing intact, payload bad
    oversize = struct.pack("<iI", 0, 0xFFFFFFF0)  # a 4 GB length prefix: must not be allocated
    scripts: List[List[Optional[bytes]]] = [
        [b"GET / HTTP/1.1\r\n\r\n"],                                # not AEDAT 4 at all
        [struct.pack("<I", 1 << 30)],                                # an IOHeader size out of bounds
        [header + bytes(corrupt) + packets[1]],                      # a bad packet, then a good one
        [header + packets[0] + oversize + b"\x00" * 64],             # an oversize length prefix
        [header + packets[0][:100]],                                 # the peer vanishes mid-packet
        [good, None],                                                # and finally all is well
    ]
    server = ByteServer(scripts)
    src = Aedat4TcpSource(f"aedat4+tcp://127.0.0.1:{server.address[1]}", reconnect_min_s=0.02,
                          reconnect_max_s=0.05, read_timeout_s=0.2, max_packet_bytes=1 << 20)
    c = Collector(src)
    n1, n0 = _count_events(header, packets[1:2]), _count_events(header, packets[:1])
    expected = n1 + n0 + n_good
    assert c.wait(lambda: src.counters.get("events_received") >= expected, 30)
    server.release.set()
    c.stop()
    server.close()
    snap = src.counters.snapshot()
    assert snap["frames_bad"] == {"header": 2, "payload": 1, "too_long": 1, "truncated": 1}
    assert snap["protocol_errors"] == 3 and snap["disconnects"] >= 2
    assert src.counters.get("events_received") == expected


def _aedat4_stream_bytes_and_packets() -> tuple:
    return _split_packets(_aedat4_stream_bytes())


def _count_events(header: bytes, packets: List[bytes]) -> int:
    import snnedge._core as core

    d = core.Aedat4StreamDecoder(header)
    return sum(len(d.decode(p)[0]) // 2 for p in packets)


# The dv-processing server runs in its own process: in-process, NetworkWriter's destructor
# joins its I/O thread, which may be waiting for the GIL to call its Python error callback
# (a deadlock seen in most runs with dv-processing 2.0.4); the process ends with os._exit.
DV_SERVER = r"""
import os, sys, time
import numpy as np
import dv_processing as dv
port, n = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(6)
ts = 1_700_000_000_000_000 + np.cumsum(rng.integers(0, 40, n))
xs, ys, ps = rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n)
np.save(sys.argv[3], np.stack([ts, xs, ys, ps]))
writer = dv.io.NetworkWriter("127.0.0.1", port, dv.io.Stream.EventStream(0, "events", "snnedge-test", (64, 48)))
print("listening", flush=True)
deadline = time.monotonic() + 30
while writer.getClientCount() < 1 and time.monotonic() < deadline:
    time.sleep(0.02)
for lo in range(0, n, 1000):  # five packets
    store = dv.EventStore()
    for k in range(lo, min(n, lo + 1000)):
        store.push_back(int(ts[k]), int(xs[k]), int(ys[k]), bool(ps[k]))
    writer.writeEvents(store)
while writer.getQueuedPacketCount() and time.monotonic() < deadline:
    time.sleep(0.02)
print("sent", flush=True)
sys.stdin.readline()
os._exit(0)
"""


def test_aedat4_stream_from_dv_processing_network_writer(tmp_path):
    pytest.importorskip("dv_processing")
    import subprocess
    import sys

    port, n = free_port(), 5000
    truth = tmp_path / "truth.npy"
    server = subprocess.Popen([sys.executable, "-c", DV_SERVER, str(port), str(n), str(truth)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(tmp_path))
    try:
        assert server.stdout.readline().strip() == "listening"
        src = Aedat4TcpSource(f"aedat4+tcp://127.0.0.1:{port}", reconnect_min_s=0.05, read_timeout_s=0.2)
        c = Collector(src)
        assert c.wait(lambda: src.counters.get("events_received") >= n, 30)
        c.stop()
    finally:
        server.communicate("stop\n", timeout=20)
    ts, xs, ys, ps = np.load(truth)
    got = c.events()
    assert len(got) == n
    assert np.array_equal(got["t"], ts) and np.array_equal(got["x"], xs) and np.array_equal(got["y"], ys)
    assert np.array_equal(got["p"], ps)
    assert (src.sensor.width, src.sensor.height) == (64, 48)
    assert src.counters.get("packets") == 5


# ---- configuration -----------------------------------------------------------------------------


def test_tcp_source_config_is_validated_with_the_key_named():
    def cfg(**source: Any) -> Any:
        return validate({"source": {"kind": "tcp", **source}})

    assert cfg(connect="127.0.0.1:9000").source.options["format"] == "snnedge"
    for bad, key in [
        ({}, "source.connect"),
        ({"connect": "a:1", "listen": "b:2"}, "source.connect"),
        ({"listen": "127.0.0.1:9000", "format": "aedat4"}, "source.listen"),
        ({"connect": "127.0.0.1:9000", "width": 32, "height": 32}, "source.width"),
        ({"connect": "127.0.0.1:9000", "format": "aedat4", "width": 32}, "source.height"),
        ({"connect": "127.0.0.1:9000", "format": "aedat4", "max_packet_bytes": 4}, "source.max_packet_bytes"),
        ({"connect": "127.0.0.1"}, "source.connect"),
        ({"listen": "127.0.0.1:1", "on_second": "both"}, "source.on_second"),
        ({"connect": "127.0.0.1:9000", "format": "evt3"}, "source.format"),
        ({"connect": "127.0.0.1:9000", "reconnect_min_s": 2.0, "reconnect_max_s": 1.0}, "source.reconnect_max_s"),
    ]:
        with pytest.raises(ConfigError) as e:
            cfg(**bad)
        assert e.value.key == key, (bad, e.value)
    s = build_source(cfg(listen="127.0.0.1:0", on_second="reject").source)
    assert isinstance(s, TcpServerSource) and s.on_second == "reject" and s.address[0] == "127.0.0.1"
    s.close()
    list(s.packets())  # closed: ends at once and releases the port
    a = build_source(cfg(connect="127.0.0.1:1", format="aedat4", width=10, height=20).source)
    assert isinstance(a, Aedat4TcpSource) and (a.width, a.height) == (10, 20)


# ---- resident memory: the heap trimmer (snnedge/daemon/memory.py) ------------------------------


def test_heap_trimmer_runs_only_when_due_and_after_activity(monkeypatch):
    from snnedge.daemon import memory

    calls: List[int] = []
    now = [1000.0]
    monkeypatch.setattr(memory.time, "monotonic", lambda: now[0])
    t = memory.HeapTrimmer(interval_s=60.0, trim=lambda pad: calls.append(pad) or 1)
    assert t.available and t.seconds_to_next() == 60.0
    assert not t.maybe(10)          # not due yet
    now[0] += 60
    assert t.maybe(10) and calls == [0]
    now[0] += 60
    assert not t.maybe(10)          # due, but nothing happened since: an idle daemon stays asleep
    now[0] += 30
    assert not t.maybe(11)          # activity, but not due
    now[0] += 30
    assert t.maybe(11) and t.calls == 2
    off = memory.HeapTrimmer(interval_s=0.0, trim=lambda pad: 1)
    assert not off.available and off.seconds_to_next() is None and not off.maybe(1)


def test_heap_trim_gives_back_freed_memory_and_heap_info_sees_it():
    from snnedge.daemon import memory

    if memory._malloc_trim is None or memory._mallinfo2 is None:
        pytest.skip("not glibc >= 2.33")
    # fragment the heap the way the reader/processing threads do: many blocks, every other freed
    blocks = [bytearray(4096) for _ in range(4096)]
    before = memory.heap_info()
    assert before["in_use"] >= 4096 * 4096 and before["system"] >= before["in_use"]
    del blocks[::2]  # 2048 holes between live blocks: malloc keeps them, as free
    mid = memory.heap_info()
    assert mid["free"] - before["free"] >= 0.9 * 2048 * 4096
    assert before["in_use"] - mid["in_use"] >= 0.9 * 2048 * 4096
    t = memory.HeapTrimmer(interval_s=1e-9)
    time.sleep(0.001)
    assert t.maybe("activity")
    del blocks
    assert t.calls == 1 and t.released_bytes >= 0
