"""Events in UDP datagrams, in two formats.

``snnedge``: each datagram holds one or more SLIP-framed protocol frames (``docs/protocol.md``);
a HELLO is welcome but the sensor size can also come from the configuration.

``aestream``: the datagrams AEStream's ``output udp`` sends (the SpiNNaker ``spif`` event
format): little-endian 32-bit words, bit 31 set when the event carries no timestamp, x in bits
30..16, polarity in bit 15, y in bits 14..0. With timestamps every event word is followed by a
32-bit microsecond timestamp word (bit 31 clear). Events without timestamps are stamped with
the host's clock on arrival (microseconds since the source started). A datagram that is not
a whole number of words, or mixes the two layouts, is dropped and counted.
"""
from __future__ import annotations

import logging
import os
import select
import socket
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from ..errors import DeviceError, FrameError, ProtocolError
from ..events import EVENT_DTYPE
from .base import Packet, Source, now_ns
from .protocol import FrameDecoder, SensorInfo
from .serial import FrameHandler

log = logging.getLogger("snnedge.devices.udp")

MAX_DATAGRAM = 65535


def parse_address(text: str, what: str = "address") -> Tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{what}: expected host:port, found {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def decode_aestream(data: bytes, t_now_us: int, ts_state: Dict[str, int]) -> np.ndarray:
    """One AEStream/spif datagram -> EVENT_DTYPE. Raises FrameError for a malformed one."""
    if len(data) % 4:
        raise FrameError(f"aestream datagram of {len(data)} bytes is not a whole number of 32-bit words",
                         offset=0, reason="truncated")
    words = np.frombuffer(data, "<u4")
    if not len(words):
        return np.zeros(0, EVENT_DTYPE)
    no_ts = (words >> 31).astype(bool)
    if no_ts.all():
        ev_words = words
        out = np.empty(len(words), EVENT_DTYPE)
        out["t"] = t_now_us
    else:
        if len(words) % 2 or no_ts[0::2].any():
            raise FrameError("aestream datagram mixes events with and without timestamps", offset=0, reason="payload")
        ev_words = words[0::2]
        ts = words[1::2].astype(np.int64)
        # 32-bit microsecond timestamps wrap every 71.6 minutes: unwrap against the last one seen
        epoch = ts_state.get("epoch", 0)
        last = ts_state.get("last", -1)
        full = ts + epoch
        wraps = np.concatenate([[full[0] < last - 2**31], np.diff(ts) < -2**31])
        full = full + np.cumsum(wraps) * 2**32
        ts_state["epoch"] = int(full[-1] - ts[-1])
        ts_state["last"] = int(full[-1])
        out = np.empty(len(ev_words), EVENT_DTYPE)
        out["t"] = full
    out["x"] = (ev_words >> 16) & 0x7FFF
    out["y"] = ev_words & 0x7FFF
    out["p"] = (ev_words >> 15) & 1
    return out


def encode_aestream(events: np.ndarray, timestamps: bool = False) -> bytes:
    """The inverse of ``decode_aestream`` (what AEStream sends), for the simulator and tests."""
    w = ((events["x"].astype(np.uint32) & 0x7FFF) << 16) | (events["y"].astype(np.uint32) & 0x7FFF) \
        | (events["p"].astype(np.uint32) & 1) << 15
    if not timestamps:
        return (w | np.uint32(1 << 31)).astype("<u4").tobytes()
    out = np.empty(2 * len(events), "<u4")
    out[0::2] = w
    out[1::2] = (events["t"] & 0xFFFFFFFF).astype(np.uint32)
    return out.tobytes()


class UdpSource(Source):
    """Listens for event datagrams on ``bind`` (``host:port``; port 0 picks one, see ``address``)."""

    kind = "udp"

    def __init__(self, bind: str = "127.0.0.1:0", format: str = "snnedge", width: Optional[int] = None,
                 height: Optional[int] = None, read_timeout_s: float = 0.5) -> None:
        super().__init__()
        if format not in ("snnedge", "aestream"):
            raise ValueError(f"unknown UDP format {format!r} (known: 'snnedge', 'aestream')")
        self.format = format
        host, port = parse_address(bind, "bind")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise DeviceError(f"cannot bind UDP {bind}: {e}", url=bind, problem=str(e)) from None
        self.address = self.sock.getsockname()[:2]
        fallback = SensorInfo(width, height, name=f"udp-{format}") if width and height else None
        if format == "aestream":
            self.sensor = fallback
        self.read_timeout_s = read_timeout_s
        self.handler = FrameHandler(self, fallback)
        self._wake_r, self._wake_w = os.pipe()
        self._t0_ns = now_ns()
        self._ts_state: Dict[str, int] = {}

    def close(self) -> None:
        super().close()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(address=f"{self.address[0]}:{self.address[1]}", format=self.format)
        return d

    def packets(self) -> Iterator[Packet]:
        self.connected = True
        fd = self.sock.fileno()
        try:
            while not self.closed:
                ready, _, _ = select.select([fd, self._wake_r], [], [], self.read_timeout_s)
                if self._wake_r in ready or fd not in ready:
                    continue
                data = self.sock.recv(MAX_DATAGRAM)
                received = now_ns()
                self.counters.add("datagrams")
                if self.format == "aestream":
                    try:
                        ev = decode_aestream(data, (received - self._t0_ns) // 1000, self._ts_state)
                    except FrameError as e:
                        self.counters.add("frames_bad", reason=e.reason)
                        self.counters.add("events_dropped", len(data) // 4, reason="bad_payload")
                        continue
                    self.counters.add("events_received", len(ev))
                    if len(ev):
                        yield Packet(ev, int(ev["t"][-1]), received)
                    continue
                decoder = FrameDecoder()
                frames, errors = decoder.feed(data + b"\xc0")
                for err in errors:
                    self.counters.add("frames_bad", reason=err.reason)
                for frame in frames:
                    try:
                        pkt = self.handler.handle(frame, received)
                    except (FrameError, ProtocolError) as e:
                        self.counters.add("frames_bad", reason=getattr(e, "reason", "protocol"))
                        continue
                    if pkt is not None:
                        yield pkt
        finally:
            self.connected = False
            self.sock.close()
            for f in (self._wake_r, self._wake_w):
                try:
                    os.close(f)
                except OSError:
                    pass


__all__ = ["UdpSource", "decode_aestream", "encode_aestream", "parse_address"]
