"""The sensor simulator behind ``snnedge simulate``: a process that speaks the wire protocol
over a pseudo-terminal, a TCP server socket, a TCP connection it dials, or UDP, and emits events from a synthetic scene or
a recording at a chosen event rate, so everything can be tried without hardware.

It can also misbehave on purpose (``faults``): flip bits in frames (CRC errors), cut frames
short, insert garbage bytes between frames, drop frames, vanish. It counts exactly which
events it failed to deliver whole, so tests can check that the host counted the same.

One thread does everything: ``select`` on the link's sockets with the time to the next frame
as timeout, so the simulator uses no CPU beyond the frames it sends.
"""
from __future__ import annotations

import errno
import json
import os
import random
import select
import socket
import sys
import termios
import time
import tty
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..events import EVENT_DTYPE
from .protocol import (PROTOCOL_VERSION, FrameDecoder, FrameType, SensorInfo, encode_body, encode_frame, pack_events,
                       slip_wrap)
from .udp import encode_aestream, parse_address

FAULT_KINDS = ("crc", "truncate", "garbage", "drop")


def parse_faults(text: str) -> Dict[str, float]:
    """``crc=0.01,truncate=0.01,garbage=0.02,drop=0.005`` -> probabilities per frame."""
    out: Dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, val = part.partition("=")
        if key not in FAULT_KINDS or not sep:
            raise ValueError(f"faults: expected KIND=PROBABILITY with KIND in {FAULT_KINDS}, found {part!r}")
        p = float(val)
        if not 0 <= p <= 1:
            raise ValueError(f"faults: probability of {key} must be in 0..1, found {val}")
        out[key] = p
    return out


class Scene:
    """Events of one pass of a scene, time-scaled to the requested rate, looped forever."""

    def __init__(self, events: np.ndarray, rate: Optional[float]) -> None:
        if not len(events):
            raise ValueError("the scene has no events")
        from ..events import as_events

        events = as_events(events)
        span = int(events["t"][-1]) + 1
        natural = len(events) / (span / 1e6)
        self.scale = natural / rate if rate else 1.0
        ev = events.copy()
        ev["t"] = (events["t"].astype(np.float64) * self.scale).astype(np.uint64)
        self.events = ev
        self.period_us = max(1, int(round(span * self.scale)))
        self.width = int(ev["x"].max()) + 1
        self.height = int(ev["y"].max()) + 1

    def between(self, t0: int, t1: int) -> np.ndarray:
        """Events with t0 <= t < t1 (sensor µs since start), across passes."""
        parts = []
        p0, p1 = t0 // self.period_us, (t1 - 1) // self.period_us
        for p in range(p0, p1 + 1):
            base = p * self.period_us
            lo = max(t0 - base, 0)
            hi = min(t1 - base, self.period_us)
            t = self.events["t"]
            a, b = np.searchsorted(t, np.uint64(lo)), np.searchsorted(t, np.uint64(hi))
            if b > a:
                part = self.events[a:b].copy()
                part["t"] += np.uint64(base)
                parts.append(part)
        if not parts:
            return np.zeros(0, EVENT_DTYPE)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, dtype=EVENT_DTYPE)


@dataclass
class SimStats:
    """What the simulator did; ``events_lost`` are events it did not deliver in a whole,
    valid frame (corrupted, cut, dropped, or no reader): a host must count the same number."""

    frames: int = 0
    events_generated: int = 0
    events_sent: int = 0
    events_lost: int = 0
    faults: Dict[str, int] = field(default_factory=lambda: {k: 0 for k in FAULT_KINDS})
    events_lost_by: Dict[str, int] = field(default_factory=dict)
    outputs_received: int = 0
    clients: int = 0

    def lose(self, reason: str, n: int) -> None:
        self.events_lost += n
        self.events_lost_by[reason] = self.events_lost_by.get(reason, 0) + n


class Link:
    """Where frames go. ``write`` returns False when the frame could not be written whole."""

    def fds(self) -> List[int]:
        return []

    def on_readable(self, fd: int) -> List[bytes]:
        return []

    def write(self, data: bytes) -> bool:
        raise NotImplementedError

    def describe(self) -> Dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class PtyLink(Link):
    """A pseudo-terminal in raw mode; the host opens ``slave_path`` (or the ``link`` symlink)."""

    def __init__(self, link: Optional[str] = None) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        os.set_blocking(self.master, False)
        self.slave_path = os.ttyname(self.slave)
        self.link = link
        if link:
            tmp = f"{link}.tmp{os.getpid()}"
            os.symlink(self.slave_path, tmp)
            os.replace(tmp, link)
        self._pending = b""

    def fds(self) -> List[int]:
        return [self.master]

    def on_readable(self, fd: int) -> List[bytes]:
        try:
            return [os.read(self.master, 65536)]
        except OSError:
            return []

    def write(self, data: bytes) -> bool:
        try:
            n = os.write(self.master, data)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EIO):
                return False
            raise
        if n < len(data):
            # a partial frame went out: finish it blocking-ish so the stream stays framed
            rest = data[n:]
            deadline = time.monotonic() + 0.5
            while rest and time.monotonic() < deadline:
                select.select([], [self.master], [], 0.05)
                try:
                    rest = rest[os.write(self.master, rest):]
                except BlockingIOError:
                    continue
            return not rest
        return True

    def describe(self) -> Dict[str, Any]:
        return {"pty": self.slave_path, "link": self.link}

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpLink(Link):
    """A TCP server: every connected client gets the frames (a pyserial ``socket://`` URL on the
    host). A client that cannot keep up loses whole frames, never parts of one."""

    MAX_PENDING = 1 << 20

    def __init__(self, address: str) -> None:
        host, port = parse_address(address, "listen")
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((host, port))
        self.server.listen(4)
        self.server.setblocking(False)
        self.address = self.server.getsockname()[:2]
        self.clients: Dict[int, Tuple[socket.socket, bytearray]] = {}
        self.new_clients: List[int] = []

    def fds(self) -> List[int]:
        return [self.server.fileno()] + list(self.clients)

    def on_readable(self, fd: int) -> List[bytes]:
        if fd == self.server.fileno():
            try:
                conn, _ = self.server.accept()
            except BlockingIOError:
                return []
            self._adopt(conn)
            return []
        return self._receive(fd)

    def _adopt(self, conn: socket.socket) -> None:
        """A new host connection: non-blocking, no Nagle delay, greeted at the next frame."""
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.clients[conn.fileno()] = (conn, bytearray())
        self.new_clients.append(conn.fileno())

    def _receive(self, fd: int) -> List[bytes]:
        """What a host sent; a closed or failed connection is dropped."""
        if fd not in self.clients:
            return []
        conn, _ = self.clients[fd]
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if not data:
            self.drop_client(fd)
            return []
        return [data]

    def drop_client(self, fd: int) -> None:
        conn, _ = self.clients.pop(fd, (None, None))
        if conn is not None:
            conn.close()

    def send_to(self, fd: int, data: bytes) -> bool:
        conn, pending = self.clients[fd]
        try:
            if pending:
                n = conn.send(bytes(pending))
                del pending[:n]
            if pending:
                if len(pending) > self.MAX_PENDING:
                    return False
                pending += data
                return True
            n = conn.send(data)
            if n < len(data):
                pending += data[n:]
            return True
        except (BlockingIOError, InterruptedError):
            if len(pending) > self.MAX_PENDING:
                return False
            pending += data
            return True
        except OSError:
            self.drop_client(fd)
            return False

    def write(self, data: bytes) -> bool:
        if not self.clients:
            return False
        ok = True
        for fd in list(self.clients):
            ok = self.send_to(fd, data) and ok
        return ok

    def describe(self) -> Dict[str, Any]:
        return {"listen": f"{self.address[0]}:{self.address[1]}"}

    def close(self) -> None:
        for fd in list(self.clients):
            self.drop_client(fd)
        self.server.close()


class TcpClientLink(TcpLink):
    """Dials a host that listens (``tcp-listen://`` on the host): the sensor is the TCP client.
    Not connected, it tries again every ``retry_s`` (at the start of a frame period, before
    anything is sent, so a new connection always gets the HELLO before events); frames sent
    while no host is connected are lost and counted (``unsent``)."""

    def __init__(self, address: str, retry_s: float = 0.2) -> None:
        self.target = parse_address(address, "connect")
        self.address = self.target
        self.retry_s = retry_s
        self.clients = {}
        self.new_clients = []
        self._next_try = 0.0

    def _dial(self) -> None:
        if self.clients or time.monotonic() < self._next_try:
            return
        self._next_try = time.monotonic() + self.retry_s
        try:
            conn = socket.create_connection(self.target, timeout=1.0)
        except OSError:
            return
        self._adopt(conn)

    def fds(self) -> List[int]:
        self._dial()
        return list(self.clients)

    def on_readable(self, fd: int) -> List[bytes]:
        return self._receive(fd)

    def describe(self) -> Dict[str, Any]:
        return {"connect": f"{self.target[0]}:{self.target[1]}"}

    def close(self) -> None:
        for fd in list(self.clients):
            self.drop_client(fd)


class UdpLink(Link):
    """Datagrams to ``address``: one snnedge frame each, or AEStream/spif words."""

    def __init__(self, address: str, fmt: str = "snnedge") -> None:
        self.target = parse_address(address, "udp")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.fmt = fmt

    def write(self, data: bytes) -> bool:
        try:
            self.sock.sendto(data, self.target)
            return True
        except OSError:
            return False

    def describe(self) -> Dict[str, Any]:
        return {"udp": f"{self.target[0]}:{self.target[1]}", "format": self.fmt}

    def close(self) -> None:
        self.sock.close()


class Simulator:
    """Runs a scene out through a link at the scene's (scaled) pace. See ``snnedge simulate``."""

    def __init__(self, scene: Scene, link: Link, frame_us: int = 1000, packing: str = "ev8",
                 faults: Optional[Dict[str, float]] = None, fault_seed: int = 0, session: Optional[int] = None,
                 heartbeat_us: int = 100_000, received_log: Optional[str] = None, wall_clock: bool = True) -> None:
        self.scene = scene
        self.link = link
        self.frame_us = frame_us
        self.packing = packing
        self.faults = faults or {}
        self.rng = random.Random(fault_seed)
        self.session = session if session is not None else random.SystemRandom().randrange(1, 2**31)
        self.heartbeat_us = heartbeat_us
        self.sensor = SensorInfo(scene.width, scene.height, 1000, "snnedge-simulator", self.session)
        self.stats = SimStats()
        self.seq = 0
        self.index = 0
        self.decoder = FrameDecoder()
        self.received = open(received_log, "a") if received_log else None
        self.wall_clock = wall_clock

    def _hello(self) -> bytes:
        return encode_frame(FrameType.HELLO, self.sensor.to_header())

    def _send_raw(self, data: bytes) -> bool:
        return self.link.write(data)

    def _on_input(self, data: bytes) -> None:
        frames, _ = self.decoder.feed(data)
        for f in frames:
            if f.type == FrameType.HELLO and f.header.get("role") == "host":
                self._send_raw(self._hello())
            elif f.type == FrameType.OUTPUT:
                self.stats.outputs_received += 1
                if self.received is not None:
                    self.received.write(json.dumps(f.header, default=str) + "\n")
                    self.received.flush()

    def _events_frame(self, ev: np.ndarray) -> Tuple[bytes, int]:
        t0, payload = pack_events(ev, self.packing)
        header: Dict[str, Any] = {"s": self.seq, "i": self.index, "n": len(ev), "t0": t0, "f": self.packing,
                                  "ss": self.session}
        if self.wall_clock:
            header["w"] = time.monotonic_ns() // 1000
        return encode_body(FrameType.EVENTS, header, payload), len(ev)

    def send_events(self, ev: np.ndarray) -> None:
        n = len(ev)
        self.stats.events_generated += n
        if isinstance(self.link, UdpLink) and self.link.fmt == "aestream":
            for k in range(0, n, 1024):  # 4 KiB datagrams
                part = ev[k:k + 1024]
                if self._send_raw(encode_aestream(part)):
                    self.stats.events_sent += len(part)
                else:
                    self.stats.lose("unsent", len(part))
            return
        body, _ = self._events_frame(ev)
        self.seq += 1
        self.index += n
        self.stats.frames += 1
        f = self.faults
        if f.get("garbage") and self.rng.random() < f["garbage"]:
            self.stats.faults["garbage"] += 1
            self._send_raw(bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 64))))
        if f.get("drop") and self.rng.random() < f["drop"]:
            self.stats.faults["drop"] += 1
            self.stats.lose("drop", n)
            return
        if f.get("crc") and self.rng.random() < f["crc"]:
            self.stats.faults["crc"] += 1
            bad = bytearray(body)
            k = self.rng.randrange(len(bad))
            bad[k] ^= 1 << self.rng.randrange(8)
            self.stats.lose("crc", n)
            self._send_raw(slip_wrap(bytes(bad)))
            return
        if f.get("truncate") and self.rng.random() < f["truncate"]:
            self.stats.faults["truncate"] += 1
            wrapped = slip_wrap(body)
            self.stats.lose("truncate", n)
            self._send_raw(wrapped[: self.rng.randrange(1, len(wrapped) - 1)])
            return
        if self._send_raw(slip_wrap(body)):
            self.stats.events_sent += n
        else:
            self.stats.lose("unsent", n)

    def send_time(self, t_us: int) -> None:
        if isinstance(self.link, UdpLink) and self.link.fmt == "aestream":
            return
        self._send_raw(encode_frame(FrameType.TIME, {"t": t_us, "i": self.index, "ss": self.session}))

    def wait_for_host(self, timeout_s: float, stop: Optional[Any] = None) -> bool:
        """Blocks until a host asks for the HELLO (so a test counts every event from the first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (stop is None or not stop()):
            before = self.decoder.frames_ok
            for fd in select.select(self.link.fds(), [], [], 0.2)[0]:
                for data in self.link.on_readable(fd):
                    self._on_input(data)
            if isinstance(self.link, TcpLink) and self.link.new_clients:
                self.link.new_clients.clear()
            if self.decoder.frames_ok > before:
                return True
        return False

    def run(self, duration_s: Optional[float] = None, vanish_after_s: Optional[float] = None,
            kick_after_s: Optional[float] = None, stop: Optional[Any] = None) -> SimStats:
        """Sends frames until ``duration_s`` of sensor time (None: forever). ``vanish_after_s``:
        exit at once without BYE (a device pulled out); ``kick_after_s``: disconnect the TCP
        clients once (they reconnect and must count the events lost meanwhile)."""
        self._send_raw(self._hello())
        start = time.monotonic_ns()
        k = 0
        last_sent_t = 0
        end_us = int(duration_s * 1e6) if duration_s is not None else None
        kicked = False
        while stop is None or not stop():
            t0, t1 = k * self.frame_us, (k + 1) * self.frame_us
            if end_us is not None and t0 >= end_us:
                break
            due = start + t1 * 1000
            while True:
                now = time.monotonic_ns()
                timeout = max(0.0, (due - now) / 1e9)
                fds = self.link.fds()
                ready: List[int] = []
                if fds:
                    ready = select.select(fds, [], [], timeout)[0]
                else:
                    time.sleep(timeout)
                for fd in ready:
                    for data in self.link.on_readable(fd):
                        self._on_input(data)
                if isinstance(self.link, TcpLink) and self.link.new_clients:
                    for fd in self.link.new_clients:
                        if fd in self.link.clients:
                            self.link.send_to(fd, self._hello())
                            self.stats.clients += 1
                    self.link.new_clients.clear()
                if time.monotonic_ns() >= due:
                    break
            elapsed = (time.monotonic_ns() - start) / 1e9
            if vanish_after_s is not None and elapsed >= vanish_after_s:
                self._final_report()
                os._exit(0)
            if kick_after_s is not None and not kicked and elapsed >= kick_after_s and isinstance(self.link, TcpLink):
                kicked = True
                for fd in list(self.link.clients):
                    self.link.drop_client(fd)
            ev = self.scene.between(t0, t1 if end_us is None else min(t1, end_us))
            if len(ev):
                self.send_events(ev)
                last_sent_t = t1
            elif t1 - last_sent_t >= self.heartbeat_us:
                self.send_time(t1)
                last_sent_t = t1
            k += 1
        final_t = k * self.frame_us
        self.send_time(final_t)
        return self.stats

    def _final_report(self) -> None:
        report = {"stats": self.stats.__dict__, "session": self.session}
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()

    def close(self, bye: bool = True) -> None:
        if bye and not (isinstance(self.link, UdpLink) and self.link.fmt == "aestream"):
            self._send_raw(encode_frame(FrameType.BYE, {"role": "sensor", "i": self.index}))
        if self.received is not None:
            self.received.close()
        self.link.close()


def make_scene(scene: str = "bars", recording: Optional[str] = None, rate: Optional[float] = None, seed: int = 0,
               scene_s: float = 10.0) -> Scene:
    if recording:
        from .base import load_event_file

        ev = load_event_file(recording)
        ev = ev.copy()
        if len(ev):
            ev["t"] -= ev["t"][0]
        return Scene(ev, rate)
    if scene != "bars":
        raise ValueError(f"unknown scene {scene!r} (known: bars)")
    from ..synthetic import moving_bars

    ev, _ = moving_bars(duration_s=scene_s, seed=seed)
    return Scene(ev, rate)


def main(a: Any) -> int:
    """``snnedge simulate`` (arguments parsed in snnedge.cli)."""
    import signal

    scene = make_scene(a.scene, a.recording, a.rate, a.seed)
    link: Link
    if a.listen:
        link = TcpLink(a.listen)
    elif a.connect:
        link = TcpClientLink(a.connect)
    elif a.udp:
        link = UdpLink(a.udp, a.format)
    else:
        link = PtyLink(a.link)
    stopping = {"flag": False}

    def on_signal(signum: int, frame: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim = Simulator(scene, link, frame_us=a.frame_us, packing=a.packing, faults=parse_faults(a.faults),
                    fault_seed=a.fault_seed, session=a.session, received_log=a.received,
                    heartbeat_us=int(a.heartbeat_ms * 1000))
    info = dict(link.describe(), session=sim.session, pid=os.getpid(), rate=a.rate,
                natural_rate=round(len(scene.events) / (scene.period_us / 1e6)), width=scene.width, height=scene.height)
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    stop = lambda: stopping["flag"]  # noqa: E731
    if a.wait_host and not sim.wait_for_host(a.wait_host, stop):
        sys.stderr.write("snnedge simulate: no host asked for a HELLO in time\n")
    try:
        sim.run(a.duration, vanish_after_s=a.vanish_after, kick_after_s=a.kick_after, stop=stop)
        if a.linger:  # a still scene: only a TIME heartbeat every heartbeat period
            t_end = int(a.duration * 1e6) if a.duration else 0
            start = time.monotonic()
            next_beat = start + sim.heartbeat_us / 1e6
            while time.monotonic() - start < a.linger and not stopping["flag"]:
                fds = link.fds()
                timeout = max(0.0, next_beat - time.monotonic())
                for fd in (select.select(fds, [], [], timeout)[0] if fds else []):
                    for data in link.on_readable(fd):
                        sim._on_input(data)
                if time.monotonic() >= next_beat:
                    sim.send_time(t_end + int((time.monotonic() - start) * 1e6))
                    next_beat += sim.heartbeat_us / 1e6
    finally:
        sim._final_report()
        sim.close(bye=not a.no_bye)
        if a.link:
            try:
                os.unlink(a.link)
            except OSError:
                pass
    return 0


__all__ = ["Simulator", "Scene", "PtyLink", "TcpLink", "TcpClientLink", "UdpLink", "parse_faults", "make_scene", "SimStats",
           "PROTOCOL_VERSION"]
