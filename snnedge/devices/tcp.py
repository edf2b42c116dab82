"""Event streams over TCP, in both roles, and the AEDAT 4 network stream.

``TcpSource`` (``tcp://HOST:PORT``): connects to a sensor (or a bridge) that serves snnedge
wire-protocol frames, as ``socket://`` does through pyserial but without it; reconnects with
backoff when the connection fails or breaks.

``TcpServerSource`` (``tcp-listen://HOST:PORT``): listens (loopback unless told otherwise) and
takes the sensor that connects, for sensors that dial out (a board behind NAT, a
microcontroller with a TCP client). One sensor at a time: a second connection replaces the
first (``on_second="replace"``, the default: a sensor that rebooted reconnects before the
host notices its old connection is dead, and must not be locked out), or is refused and
closed at once (``on_second="reject"``). Both are counted (``connections_replaced``,
``connections_rejected``) and logged.

``Aedat4TcpSource`` (``aedat4+tcp://HOST:PORT``): connects to the AEDAT 4 network stream that
iniVation's DV software (network output, TCP server) and dv-processing's ``NetworkWriter``
serve: on each connection the server sends its IOHeader (``u32`` size, then the IOHeader
flatbuffer, as in a file without the ``#!AER-DAT4.0`` line), then packets framed as in a file
(``i32`` stream id, ``u32`` size, ``size`` bytes, compressed with the header's codec). The
packets are decoded by the Rust AEDAT 4 file decoder (``_core.Aedat4StreamDecoder``).

All three are ``SerialSource`` subclasses: the same reader loop, wire-protocol decoder,
handshake, counters and reconnection with backoff; only how a link is opened and read
differs. Every size read from the network is checked before anything is allocated for it. A
length-prefixed stream has no marker to resynchronise at, so an AEDAT 4 stream whose header or
packet size is out of bounds, or whose framing is broken, is dropped and reconnected (the
server starts every connection with a fresh IOHeader); a packet that frames correctly but does
not decode (a bad flatbuffer, a corrupt LZ4 frame) is dropped alone and counted.
"""
from __future__ import annotations

import logging
import os
import select
import socket
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..errors import DeviceError, ProtocolError
from ..events import EVENT_DTYPE
from .base import Packet, now_ns
from .protocol import SensorInfo
from .serial import SerialSource
from .udp import parse_address

log = logging.getLogger("snnedge.devices.tcp")

#: Largest AEDAT 4 IOHeader accepted from the network (DV's are a few kB of XML).
MAX_AEDAT4_HEADER_BYTES = 1 << 20
#: Default largest AEDAT 4 packet accepted (DV sends packets of a few hundred kB at most).
MAX_AEDAT4_PACKET_BYTES = 16 << 20


def _keepalive(sock: socket.socket, idle_s: int = 10) -> None:
    """TCP keepalive, so a peer that vanished without a FIN (power cut, cable pulled) is
    noticed after about ``idle_s`` + 3 x 5 s even when no byte is being sent."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", idle_s), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)


class SocketPort:
    """A connected TCP socket with the part of pyserial's port interface ``SerialSource``
    uses (``fileno``, ``read``, ``write``, ``close``). ``read`` raises ``DeviceError`` when
    the peer closed the connection."""

    def __init__(self, sock: socket.socket, url: str) -> None:
        self.sock = sock
        self.url = url
        try:
            peer = sock.getpeername()
            self.peer = f"{peer[0]}:{peer[1]}"
        except OSError:
            self.peer = "?"
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, n: int) -> bytes:
        try:
            data = self.sock.recv(n)
        except (BlockingIOError, InterruptedError):
            return b""
        if not data:
            raise DeviceError(f"{self.url}: connection closed by the peer {self.peer}", url=self.url, problem="eof")
        return data

    def write(self, data: bytes) -> None:
        """Sends all of ``data`` (blocking up to 1 s; ``OSError`` when the link is broken)."""
        view = memoryview(data)
        while len(view):
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                if not select.select([], [self.sock], [], 1.0)[1]:
                    raise TimeoutError(f"{self.url}: peer not reading") from None
                continue
            view = view[sent:]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _split_url(url: str, scheme: str) -> Tuple[str, int]:
    if not url.startswith(scheme):
        raise ValueError(f"expected a {scheme}HOST:PORT URL, found {url!r}")
    return parse_address(url[len(scheme):], url)


class TcpSource(SerialSource):
    """Connects to ``tcp://HOST:PORT`` and reads snnedge wire-protocol frames (the reader,
    backoff and counters of ``SerialSource``)."""

    kind = "tcp"
    scheme = "tcp://"

    def __init__(self, url: str, reconnect_min_s: float = 0.1, reconnect_max_s: float = 5.0,
                 read_timeout_s: float = 0.5, hello_interval_s: float = 1.0, max_frame_bytes: int = 1 << 20,
                 connect_timeout_s: float = 5.0) -> None:
        if not url.startswith(self.scheme):
            url = self.scheme + url
        self.host, self.port = _split_url(url, self.scheme)
        super().__init__(url, reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s,
                         read_timeout_s=read_timeout_s, hello_interval_s=hello_interval_s,
                         max_frame_bytes=max_frame_bytes)
        self.connect_timeout_s = connect_timeout_s

    def _open(self) -> Any:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        return SocketPort(sock, self.url)

    def _peer_text(self, port: Any) -> str:
        return f" (peer {getattr(port, 'peer', '?')})"


class TcpServerSource(TcpSource):
    """Listens on ``tcp-listen://HOST:PORT`` (port 0 picks one: see ``address``) and reads
    snnedge frames from the sensor that connects; see the module docstring for a second
    connection. The port is bound at construction, so a bad or busy address fails at once
    (``DeviceError``)."""

    kind = "tcp-listen"
    scheme = "tcp-listen://"

    def __init__(self, url: str, on_second: str = "replace", backlog: int = 4, **options: Any) -> None:
        if on_second not in ("replace", "reject"):
            raise ValueError(f"on_second must be 'replace' or 'reject', found {on_second!r}")
        super().__init__(url, **options)
        self.on_second = on_second
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.server = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.server.bind((self.host, self.port))
            self.server.listen(backlog)
        except OSError as e:
            self.server.close()
            raise DeviceError(f"cannot listen on {self.host}:{self.port}: {e}", url=self.url,
                              problem=str(e)) from None
        self.server.setblocking(False)
        self.address: Tuple[str, int] = tuple(self.server.getsockname()[:2])  # type: ignore[assignment]
        self._next: Optional[SocketPort] = None

    def _accept(self) -> Optional[SocketPort]:
        try:
            conn, _ = self.server.accept()
        except (BlockingIOError, InterruptedError):
            return None
        return SocketPort(conn, self.url)

    def _open(self) -> Any:
        """Waits (interruptibly, without polling) for a sensor to connect; None when closed."""
        if self._next is not None:
            port, self._next = self._next, None
            return port
        while not self.closed:
            ready, _, _ = select.select([self.server.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
                continue
            accepted = self._accept()
            if accepted is not None:
                return accepted
        return None

    def _read(self, port: Any, fd: Optional[int]) -> bytes:
        fds = [self._wake_r, self.server.fileno()] + ([fd] if fd is not None else [])
        ready, _, _ = select.select(fds, [], [], self.read_timeout_s)
        if self._wake_r in ready:
            os.read(self._wake_r, 64)
            return b""
        if self.server.fileno() in ready:
            new = self._accept()
            if new is not None:
                self._second(port, new)
        if fd in ready:
            return bytes(port.read(65536))
        return b""

    def _second(self, current: SocketPort, new: SocketPort) -> None:
        if self.on_second == "reject":
            self.counters.add("connections_rejected")
            log.warning("%s: refused a second sensor connection from %s (one at a time; %s is connected)",
                        self.url, new.peer, current.peer,
                        extra={"fields": {"event": "source.connection_rejected", "url": self.url, "peer": new.peer}})
            new.close()
            return
        self.counters.add("connections_replaced")
        log.warning("%s: a new sensor connection from %s replaces the one from %s", self.url, new.peer, current.peer,
                    extra={"fields": {"event": "source.connection_replaced", "url": self.url, "peer": new.peer,
                                      "old_peer": current.peer}})
        if self._next is not None:
            self._next.close()
        self._next = new
        raise DeviceError(f"{self.url}: connection from {current.peer} replaced by {new.peer}", url=self.url,
                          problem="replaced")

    def packets(self) -> Iterator[Packet]:
        try:
            yield from super().packets()
        finally:
            if self._next is not None:
                self._next.close()
                self._next = None
            self.server.close()

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(listen=f"{self.address[0]}:{self.address[1]}", on_second=self.on_second)
        return d


class Aedat4TcpSource(TcpSource):
    """Connects to an AEDAT 4 network stream (``aedat4+tcp://HOST:PORT``: DV's TCP network
    output, dv-processing's ``NetworkWriter``) and yields its polarity events. The sensor size
    comes from the IOHeader's description (``width``/``height`` override or supply it).

    DV's timestamps are absolute microseconds (Unix time). When a reconnection brings events
    older than the last one seen (the server restarted, a recording looped), a new session
    begins (``Packet.session``), so the stream restarts its windows instead of calling the
    events late."""

    kind = "aedat4-tcp"
    scheme = "aedat4+tcp://"

    def __init__(self, url: str, width: Optional[int] = None, height: Optional[int] = None,
                 max_packet_bytes: int = MAX_AEDAT4_PACKET_BYTES, **options: Any) -> None:
        super().__init__(url, **options)
        from .. import _core

        if not 8 <= max_packet_bytes <= _core.Aedat4StreamDecoder.max_packet_bytes:
            raise ValueError(f"max_packet_bytes must be in 8..{_core.Aedat4StreamDecoder.max_packet_bytes}, "
                             f"found {max_packet_bytes}")
        self.max_packet_bytes = max_packet_bytes
        self.width, self.height = width, height
        self._session_id = 0
        self._last_t: Optional[int] = None
        self._decoder: Any = None

    def _request_hello(self) -> None:
        pass  # the server speaks first; nothing is ever written to it

    def _recv_exact(self, port: SocketPort, n: int, what: str) -> Optional[bytearray]:
        """Exactly ``n`` bytes (``n`` already checked against its bound), or None when the
        source was closed. A silent link only loops on ``select``'s timeout; a closed one
        raises ``DeviceError`` (counted as ``frames_bad{truncated}`` when it ends mid-unit)."""
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        fd = port.fileno()
        while got < n:
            ready, _, _ = select.select([fd, self._wake_r], [], [], self.read_timeout_s)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self.closed:
                return None
            if fd not in ready:
                continue
            try:
                k = port.sock.recv_into(view[got:], n - got)
            except (BlockingIOError, InterruptedError):
                continue
            if k == 0:
                if got:
                    self.counters.add("frames_bad", reason="truncated")
                raise DeviceError(f"{self.url}: connection closed by the peer {port.peer}"
                                  + (f" {got} bytes into {what} of {n}" if got else ""), url=self.url, problem="eof")
            got += k
            self.counters.add("bytes_received", k)
        return buf

    def _session(self, port: Any) -> Iterator[Packet]:
        from .. import _core
        from ..errors import EventFormatError

        size_bytes = self._recv_exact(port, 4, "the IOHeader size")
        if size_bytes is None:
            return
        size = int.from_bytes(size_bytes, "little")
        if not 12 <= size <= MAX_AEDAT4_HEADER_BYTES:
            self.counters.add("frames_bad", reason="header")
            raise ProtocolError(f"{self.url}: AEDAT 4 IOHeader size {size} is not in 12..{MAX_AEDAT4_HEADER_BYTES} "
                                f"(not an AEDAT 4 network stream?)", field="ioheader size",
                                expected=f"12..{MAX_AEDAT4_HEADER_BYTES}", found=size)
        body = self._recv_exact(port, size, "the IOHeader")
        if body is None:
            return
        try:
            decoder = _core.Aedat4StreamDecoder(bytes(size_bytes + body))
        except EventFormatError as e:
            self.counters.add("frames_bad", reason="header")
            raise ProtocolError(f"{self.url}: bad AEDAT 4 IOHeader: {e}", field="ioheader", expected="an IOHeader",
                                found=str(e)) from None
        if not decoder.event_streams:
            raise ProtocolError(f"{self.url}: the AEDAT 4 stream declares no event stream (streams: "
                                f"{decoder.streams})", field="streams", expected="an EVTS stream",
                                found=decoder.streams)
        self._decoder = decoder
        size_xy = decoder.sensor_size
        width = self.width or (size_xy[0] if size_xy else None)
        height = self.height or (size_xy[1] if size_xy else None)
        if not (width and height):
            raise ProtocolError(f"{self.url}: the AEDAT 4 header gives no sensor size; set width and height",
                                field="sizeX/sizeY", expected="a sensor size", found=None)
        self.sensor = SensorInfo(int(width), int(height), 1000, name="aedat4-tcp")
        self._session_good = True
        first_packet = True
        log.info("AEDAT 4 stream from %s: %dx%d, streams %s, compression %d", port.peer, width, height,
                 decoder.streams, decoder.compression,
                 extra={"fields": {"event": "aedat4.header", "width": width, "height": height,
                                   "compression": decoder.compression}})
        while not self.closed:
            head = self._recv_exact(port, 8, "a packet header")
            if head is None:
                return
            stream_id = int.from_bytes(head[0:4], "little", signed=True)
            psize = int.from_bytes(head[4:8], "little")
            if psize > self.max_packet_bytes:
                self.counters.add("frames_bad", reason="too_long")
                raise ProtocolError(f"{self.url}: AEDAT 4 packet of stream {stream_id} claims {psize} bytes, more than "
                                    f"max_packet_bytes {self.max_packet_bytes}; the framing is lost, reconnecting",
                                    field="packet size", expected=f"<= {self.max_packet_bytes}", found=psize)
            payload = self._recv_exact(port, psize, f"a packet of stream {stream_id}")
            if payload is None:
                return
            received = now_ns()
            words, fault = decoder.decode(bytes(head + payload))
            if fault is not None:
                if stream_id not in [s for s, _ in decoder.streams]:
                    # an undeclared stream id: the framing itself is suspect
                    self.counters.add("frames_bad", reason="stream")
                    raise ProtocolError(f"{self.url}: {fault}", field="stream id", expected=decoder.streams,
                                        found=stream_id)
                self.counters.add("frames_bad", reason="payload")
                log.debug("%s", fault, extra={"fields": {"event": "frame.bad", "reason": "payload"}})
                continue
            self.counters.add("packets")
            events = words.view(EVENT_DTYPE)
            if not len(events):
                continue
            if first_packet:
                first_packet = False
                if self._last_t is not None and int(events["t"][0]) < self._last_t:
                    self._session_id += 1
                    self.counters.add("sessions")
            self._last_t = int(events["t"][-1])
            self.counters.add("events_received", len(events))
            yield Packet(np.ascontiguousarray(events), self._last_t, received, self._session_id)

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(format="aedat4", max_packet_bytes=self.max_packet_bytes)
        return d


__all__ = ["TcpSource", "TcpServerSource", "Aedat4TcpSource", "SocketPort", "MAX_AEDAT4_HEADER_BYTES",
           "MAX_AEDAT4_PACKET_BYTES"]
