"""A sensor that speaks the wire protocol over any pyserial URL: a serial device or pty path,
``socket://host:port`` (TCP), ``rfc2217://host:port``, ``loop://``. ``snnedge.devices.tcp``
reuses this class (its reader, handshake and reconnection) with plain sockets in place of the
pyserial port: TCP client and server, and the AEDAT 4 network stream.

The reader blocks in ``select`` on the port and a wake-up pipe (timeout ``read_timeout_s``
only so a silent link is noticed); it never polls. When the device disappears (read error,
end of file, socket closed, BYE), it logs, counts a disconnect, waits with exponential backoff
(``reconnect_min_s`` doubling up to ``reconnect_max_s``, interruptible by ``close()``) and
reopens. Events lost meanwhile are counted from the gap in the stream index when the same
sensor session continues.
"""
from __future__ import annotations

import logging
import os
import select
import threading
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from ..errors import DeviceError, FrameError, ProtocolError
from .base import Packet, Source, now_ns
from .protocol import PROTOCOL_VERSION, Frame, FrameDecoder, FrameType, SensorInfo, encode_frame, unpack_events

log = logging.getLogger("snnedge.devices.serial")


class FrameHandler:
    """The protocol state of one sensor session, shared by the byte-stream and datagram
    sources: handshake, stream-index accounting, conversion to packets. Every event that does
    not reach a packet is counted in ``counters`` under ``events_dropped`` with its reason."""

    def __init__(self, source: Source, fallback_sensor: Optional[SensorInfo] = None) -> None:
        self.source = source
        self.counters = source.counters
        self.fallback = fallback_sensor
        self.expected_index: Optional[int] = None
        self.session = 0
        self._last_request_ns = 0

    def _unknown_session(self, header: Dict[str, Any]) -> bool:
        """A frame stamped with a session we have no HELLO for (the sensor restarted while we
        were away, or we joined late): ask for the HELLO; until it comes the frame is dropped."""
        ss = header.get("ss")
        if ss is None or (self.source.sensor is not None and ss == self.session):
            return False
        request = getattr(self.source, "_request_hello", None)
        if request is not None and now_ns() - self._last_request_ns > 200_000_000:
            self._last_request_ns = now_ns()
            request()
        return True

    def hello(self, frame: Frame) -> None:
        if frame.header.get("role") == "host":
            return  # our own request echoed back (loop://) or another host
        info = SensorInfo.from_header(frame.header, frame.offset)
        if info.version[0] != PROTOCOL_VERSION[0]:
            raise ProtocolError(f"sensor speaks protocol {info.version[0]}.{info.version[1]}, this host "
                                f"{PROTOCOL_VERSION[0]}.x", field="v", expected=PROTOCOL_VERSION[0], found=info.version[0])
        if self.source.sensor is None or info.session != self.session:
            log.info("sensor session %s: %s %dx%d, time unit %d ns", info.session, info.name, info.width, info.height,
                     info.time_unit_ns, extra={"fields": {"event": "sensor.hello", "session": info.session,
                                                          "sensor": info.name, "width": info.width,
                                                          "height": info.height}})
            if self.source.sensor is not None:
                self.counters.add("sessions")
            self.expected_index = None
        self.session = info.session
        self.source.sensor = info

    def _index(self, first: Any, n: int) -> bool:
        """Accounts for the stream index; False when the frame repeats already-seen events."""
        if not isinstance(first, int):
            return True
        if self.expected_index is not None:
            if first > self.expected_index:
                lost = first - self.expected_index
                self.counters.add("events_dropped", lost, reason="link")
                log.warning("%d events lost on the link", lost,
                            extra={"fields": {"event": "link.gap", "lost": lost, "index": self.expected_index}})
            elif first < self.expected_index:
                self.counters.add("events_dropped", n, reason="duplicate")
                return False
        self.expected_index = first + n
        return True

    def handle(self, frame: Frame, received_ns: int) -> Optional[Packet]:
        kind = frame.type
        if kind == FrameType.HELLO:
            self.hello(frame)
            return None
        if kind == FrameType.EVENTS:
            n = frame.header.get("n", 0)
            n = n if isinstance(n, int) and n >= 0 else 0
            sensor = self.source.sensor or self.fallback
            if sensor is None or self._unknown_session(frame.header):
                self.counters.add("events_dropped", n, reason="no_handshake")
                return None
            events = unpack_events(frame, sensor.time_unit_ns)
            if not self._index(frame.header.get("i"), n):
                return None
            self.counters.add("events_received", n)
            return Packet(events, int(events["t"][-1]) if n else None, received_ns, self.session)
        if kind == FrameType.TIME:
            t = frame.header.get("t")
            sensor = self.source.sensor or self.fallback
            if self._unknown_session(frame.header):
                return None
            if "i" in frame.header:
                self._index(frame.header["i"], 0)
            if isinstance(t, int) and t >= 0 and sensor is not None:
                return Packet(np.zeros(0, dtype=_event_dtype()), t * sensor.time_unit_ns // 1000, received_ns,
                              self.session)
            return None
        return None  # OUTPUT / BYE echoes are not ours to act on


def merge_packets(packets: List[Packet]) -> List[Packet]:
    """The packets decoded from one read, merged per session into as few as possible: when the
    host falls behind, one read holds many frames, and handing them on as one batch costs one
    queue hand-off and one engine call instead of one per frame."""
    if len(packets) < 2:
        return packets
    out: List[Packet] = []
    run: List[Packet] = []
    for p in packets + [None]:  # type: ignore[list-item]
        if run and (p is None or p.session != run[0].session):
            if len(run) == 1:
                out.append(run[0])
            else:
                evs = [q.events for q in run if len(q.events)]
                reached = [q.t_reached_us for q in run if q.t_reached_us is not None]
                events = np.concatenate(evs, dtype=_event_dtype()) if evs else run[0].events
                out.append(Packet(events, max(reached) if reached else None, run[0].received_ns, run[0].session))
            run = []
        if p is not None:
            run.append(p)
    return out


def _event_dtype() -> Any:
    from ..events import EVENT_DTYPE

    return EVENT_DTYPE


class SerialSource(Source):
    """Events from a device speaking the snnedge wire protocol over a pyserial URL."""

    kind = "serial"

    def __init__(self, url: str, baudrate: int = 3_000_000, reconnect_min_s: float = 0.1,
                 reconnect_max_s: float = 5.0, read_timeout_s: float = 0.5, hello_interval_s: float = 1.0,
                 max_frame_bytes: int = 1 << 20) -> None:
        super().__init__()
        if reconnect_min_s <= 0 or reconnect_max_s < reconnect_min_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        self.url = url
        self.baudrate = baudrate
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.read_timeout_s = read_timeout_s
        self.hello_interval_s = hello_interval_s
        self.decoder = FrameDecoder(max_frame_bytes)
        self.handler = FrameHandler(self)
        self._port: Any = None
        self._write_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self.last_error: Optional[str] = None
        self._session_good = False

    # -- link management --------------------------------------------------------------------

    def _open(self) -> Any:
        import serial

        try:
            port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0, write_timeout=1.0)
        except ValueError as e:  # pyserial: unknown URL scheme or bad parameter; retrying cannot help
            raise DeviceError(f"cannot open {self.url}: {e}", url=self.url, problem=str(e)) from None
        return port

    def _peer_text(self, port: Any) -> str:
        """`` (peer HOST:PORT)`` for logs where the link has a peer address, else ``""``."""
        return ""

    def _fileno(self, port: Any) -> Optional[int]:
        try:
            return int(port.fileno())
        except Exception:
            return None

    def _read(self, port: Any, fd: Optional[int]) -> bytes:
        if fd is not None:
            ready, _, _ = select.select([fd, self._wake_r], [], [], self.read_timeout_s)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
                return b""
            if fd in ready:
                data = port.read(65536)  # timeout 0: what is there now
                if not data and self.url.startswith("socket://"):
                    raise DeviceError("socket closed by the peer", url=self.url, problem="eof")
                return bytes(data)
            return b""
        port.timeout = min(self.read_timeout_s, 0.1)  # loop:// and others without a file descriptor
        data = port.read(1)
        if data:
            port.timeout = 0
            data += port.read(max(0, port.in_waiting))
        return bytes(data)

    def send(self, data: bytes) -> bool:
        with self._write_lock:
            port = self._port
            if port is None:
                self.counters.add("frames_not_sent")
                return False
            try:
                port.write(data)
                self.counters.add("frames_sent")
                return True
            except Exception as e:  # the reader notices the broken link and reconnects
                self.counters.add("frames_not_sent")
                log.debug("write failed: %s", e)
                return False

    def _request_hello(self) -> None:
        self.send(encode_frame(FrameType.HELLO, {"v": list(PROTOCOL_VERSION), "role": "host", "want": "hello"}))

    def close(self) -> None:
        super().close()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(url=self.url, sensor=self.sensor.to_header() if self.sensor else None, last_error=self.last_error)
        return d

    # -- the reader -------------------------------------------------------------------------

    def _session(self, port: Any) -> Iterator[Packet]:
        """Reads one connection until it breaks (an exception) or the source closes; yields
        packets. Sets ``self._session_good`` once anything good arrived (which resets the
        reconnect backoff)."""
        self.decoder.reset()
        fd = self._fileno(port)
        self._request_hello()  # on every connection: the sensor may have restarted
        last_hello = now_ns()
        while not self.closed:
            if self.sensor is None and now_ns() - last_hello > self.hello_interval_s * 1e9:
                self._request_hello()
                last_hello = now_ns()
            data = self._read(port, fd)
            if not data:
                continue
            received = now_ns()
            frames, errors = self.decoder.feed(data)
            for err in errors:
                self.counters.add("frames_bad", reason=err.reason)
                log.debug("%s", err, extra={"fields": {"event": "frame.bad", "reason": err.reason,
                                                       "offset": err.offset}})
            batch: List[Packet] = []
            for frame in frames:
                if frame.type == FrameType.BYE and frame.header.get("role") != "host":
                    for merged in merge_packets(batch):
                        yield merged
                    raise DeviceError("sensor said BYE", url=self.url, problem="bye")
                try:
                    pkt = self.handler.handle(frame, received)
                except FrameError as err:
                    self.counters.add("frames_bad", reason=err.reason)
                    n = frame.header.get("n", 0)
                    self.counters.add("events_dropped", n if isinstance(n, int) and n > 0 else 0,
                                      reason="bad_payload")
                    continue
                self._session_good = True
                if pkt is not None:
                    batch.append(pkt)
            for merged in merge_packets(batch):
                yield merged


    def packets(self) -> Iterator[Packet]:
        import serial

        delay = self.reconnect_min_s
        first = True
        try:
            while not self.closed:
                try:
                    port = self._open()
                    if port is None:  # closed while waiting for a connection (a listening source)
                        return
                except (serial.SerialException, OSError) as e:
                    self.counters.add("connect_failures")
                    self.last_error = str(e)
                    log.warning("cannot open %s: %s (retry in %.2f s)", self.url, e, delay,
                                extra={"fields": {"event": "source.open_failed", "url": self.url, "retry_s": delay}})
                    if self._closed.wait(delay):
                        return
                    delay = min(self.reconnect_max_s, delay * 2)
                    continue
                with self._write_lock:
                    self._port = port
                self.connected = True
                if not first:
                    self.counters.add("reconnects")
                log.info("connected to %s%s", self.url, self._peer_text(port),
                         extra={"fields": {"event": "source.connected", "url": self.url, "reconnect": not first}})
                first = False
                self._session_good = False
                try:
                    yield from self._session(port)
                except ProtocolError as e:
                    self.last_error = str(e)
                    self.counters.add("protocol_errors")
                    log.error("%s", e, extra={"fields": {"event": "source.protocol_error", "url": self.url}})
                except (serial.SerialException, OSError, DeviceError) as e:
                    self.last_error = str(e)
                    self.counters.add("disconnects")
                    log.warning("lost %s: %s (reconnect in %.2f s)", self.url, e, delay,
                                extra={"fields": {"event": "source.disconnected", "url": self.url,
                                                  "retry_s": delay}})
                finally:
                    with self._write_lock:
                        self._port = None
                    self.connected = False
                    try:
                        port.close()
                    except Exception:
                        pass
                if self.closed:
                    return
                if self._session_good:
                    delay = self.reconnect_min_s
                if self._closed.wait(delay):
                    return
                delay = min(self.reconnect_max_s, delay * 2)
        finally:
            self.connected = False

    def __del__(self) -> None:
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


__all__ = ["SerialSource", "FrameHandler"]
