"""Where window results go: JSON lines (stdout or a file), msgpack OUTPUT frames back over the
sensor's link, a local socket that several subscribers read, MQTT.

Every sink has ``emit(result)``, ``flush()`` and ``close()``, and counts what it sent and what
it had to drop in ``counters``. By default sinks publish only windows with a decision
(``only_decisions``). A sink never blocks the stream for long: a slow subscriber or broker
loses messages (counted), the sensor's events are not held up.
"""
from __future__ import annotations

import json
import logging
import os
import select
import socket
import sys
import threading
from typing import Any, Dict, IO, List, Optional, Tuple

from .devices.base import Counters, Source
from .devices.protocol import FrameType, encode_frame

log = logging.getLogger("snnedge.sinks")


class Sink:
    """Base class: filtering by ``only_decisions`` and the counters."""

    kind = "sink"

    def __init__(self, only_decisions: bool = True) -> None:
        self.only_decisions = only_decisions
        self.counters = Counters()

    def wants(self, result: Any) -> bool:
        return not self.only_decisions or result.decision is not None

    def emit(self, result: Any) -> None:
        if self.wants(result):
            self.publish(result)

    def publish(self, result: Any) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.flush()

    def describe(self) -> Dict[str, Any]:
        return {"kind": self.kind, **self.counters.snapshot()}


def result_message(result: Any, counters: bool = False) -> Dict[str, Any]:
    return result.to_dict(counters=counters)


class JsonLinesSink(Sink):
    """One JSON object per window on a stream (``-`` = stdout) or appended to a file."""

    kind = "jsonl"

    def __init__(self, path: str = "-", only_decisions: bool = True, counters: bool = False,
                 stream: Optional[IO[str]] = None) -> None:
        super().__init__(only_decisions)
        self.path = path
        self.with_counters = counters
        self._own = stream is None and path != "-"
        # line-buffered: a decision is on disk as soon as it is made, even if the process is killed
        self._out: IO[str] = stream if stream is not None else (sys.stdout if path == "-" else open(path, "a", buffering=1))

    def publish(self, result: Any) -> None:
        self._out.write(json.dumps(result_message(result, self.with_counters)) + "\n")
        self.counters.add("messages")

    def flush(self) -> None:
        try:
            self._out.flush()
        except ValueError:
            pass

    def close(self) -> None:
        self.flush()
        if self._own:
            self._out.close()


class SerialReplySink(Sink):
    """OUTPUT frames (msgpack header: window, decision, label, counts) back over the link the
    events came from: the actuation path to the sensor's microcontroller."""

    kind = "serial"

    def __init__(self, source: Source, only_decisions: bool = True) -> None:
        super().__init__(only_decisions)
        self.source = source

    def publish(self, result: Any) -> None:
        frame = encode_frame(FrameType.OUTPUT, {"role": "host", "t": result.t_start_us, "t_end": result.t_end_us,
                                                "d": result.decision, "label": result.label,
                                                "counts": result.counts.tolist()})
        if self.source.send(frame):
            self.counters.add("messages")
        else:
            self.counters.add("messages_dropped", reason="link_down")


class SocketSink(Sink):
    """A local socket several subscribers can read: a Unix socket path (default) or a
    loopback ``host:port``. Each subscriber gets JSON lines from when it connects; a
    subscriber whose buffer exceeds ``max_pending`` bytes loses messages (counted), and one
    that stops reading for good is dropped. An accept thread blocks in ``select``."""

    kind = "socket"

    def __init__(self, path: Optional[str] = None, address: Optional[str] = None, only_decisions: bool = True,
                 max_pending: int = 1 << 20, mode: int = 0o660) -> None:
        super().__init__(only_decisions)
        if (path is None) == (address is None):
            raise ValueError("SocketSink needs exactly one of path (Unix socket) or address (host:port)")
        self.max_pending = max_pending
        if path is not None:
            if os.path.exists(path):
                os.unlink(path)
            self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.server.bind(path)
            os.chmod(path, mode)
            self.where = path
        else:
            from .devices.udp import parse_address

            host, port = parse_address(address or "", "address")
            self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.server.bind((host, port))
            h, p = self.server.getsockname()[:2]
            self.where = f"{h}:{p}"
        self.path = path
        self.server.listen(16)
        self._lock = threading.Lock()
        self._clients: List[Tuple[socket.socket, bytearray]] = []
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="snnedge-socket-sink", daemon=True)
        self._thread.start()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._clients)

    def _accept_loop(self) -> None:
        while not self._closed:
            with self._lock:
                waiting = [c for c, buf in self._clients if buf]
                readers = [c for c, _ in self._clients]
            r, w, _ = select.select([self.server, self._wake_r, *readers], waiting, [], 1.0)  # type: ignore[type-var]
            if self._wake_r in r:
                os.read(self._wake_r, 64)
            if self.server in r and not self._closed:
                try:
                    conn, _ = self.server.accept()
                except OSError:
                    continue
                conn.setblocking(False)
                with self._lock:
                    self._clients.append((conn, bytearray()))
                self.counters.add("subscribers_connected")
            for c in r:
                if c is self.server or not isinstance(c, socket.socket):  # the listener, the wake-up pipe
                    continue
                try:
                    if not c.recv(4096):  # subscribers do not talk; EOF means gone
                        self._drop(c)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._drop(c)
            for c in w:
                self._write_pending(c)

    def _drop(self, conn: socket.socket) -> None:
        with self._lock:
            self._clients = [(c, b) for c, b in self._clients if c is not conn]
        conn.close()

    def _write_pending(self, conn: socket.socket) -> None:
        with self._lock:
            buf = next((b for c, b in self._clients if c is conn), None)
            if not buf:
                return
            try:
                n = conn.send(bytes(buf))
                del buf[:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                buf.clear()

    def publish(self, result: Any) -> None:
        line = (json.dumps(result_message(result)) + "\n").encode()
        wake = False
        with self._lock:
            for conn, buf in self._clients:
                if len(buf) + len(line) > self.max_pending:
                    self.counters.add("messages_dropped", reason="slow_subscriber")
                    continue
                if not buf:
                    try:
                        n = conn.send(line)
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    except OSError:
                        continue
                    if n < len(line):
                        buf += line[n:]
                        wake = True
                else:
                    buf += line
                    wake = True
                self.counters.add("messages")
        if wake:
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(2.0)
        with self._lock:
            for c, buf in self._clients:
                try:
                    c.setblocking(True)
                    c.settimeout(0.5)
                    if buf:
                        c.sendall(bytes(buf))
                except OSError:
                    pass
                c.close()
            self._clients = []
        self.server.close()
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


class MqttSink(Sink):
    """Publishes each result as JSON to ``topic`` on an MQTT broker (paho-mqtt, the ``mqtt``
    extra). paho's network thread does the I/O; while the broker is away messages queue in
    paho up to ``max_queued`` and beyond that are dropped (counted)."""

    kind = "mqtt"

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, topic: str = "snnedge/decisions", qos: int = 0,
                 client_id: str = "", only_decisions: bool = True, keepalive_s: int = 30, max_queued: int = 1000,
                 retain: bool = False) -> None:
        super().__init__(only_decisions)
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            from .errors import ConfigError

            raise ConfigError("the MQTT sink needs paho-mqtt: pip install 'snnedge[mqtt]'", key="sink.kind",
                              problem="paho-mqtt missing") from None
        self.topic, self.qos, self.retain = topic, qos, retain
        try:
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        except AttributeError:  # paho-mqtt 1.x
            self.client = mqtt.Client(client_id=client_id)
        self.client.max_queued_messages_set(max_queued)
        self.where = f"{host}:{port}"
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(1, 5)
        self.client.connect_async(host, port, keepalive_s)
        self.client.loop_start()

    def _on_connect(self, *args: Any) -> None:
        self.counters.add("connects")
        log.info("MQTT connected to %s", self.where, extra={"fields": {"event": "mqtt.connected", "broker": self.where}})

    def _on_disconnect(self, *args: Any) -> None:
        self.counters.add("disconnects")
        log.warning("MQTT disconnected from %s", self.where, extra={"fields": {"event": "mqtt.disconnected"}})

    def publish(self, result: Any) -> None:
        info = self.client.publish(self.topic, json.dumps(result_message(result)), qos=self.qos, retain=self.retain)
        if info.rc == 0:
            self.counters.add("messages")
            self._last = info
        else:
            self.counters.add("messages_dropped", reason=f"rc{info.rc}")

    def flush(self, timeout_s: float = 2.0) -> None:
        """Waits (bounded) until the last accepted message has left (QoS 0) or been acknowledged."""
        last = getattr(self, "_last", None)
        if last is not None and self.client.is_connected():
            try:
                last.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                pass

    def close(self) -> None:
        self.flush()
        try:
            self.client.disconnect()
            self.client.loop_stop()
        except Exception:
            pass


__all__ = ["Sink", "JsonLinesSink", "SerialReplySink", "SocketSink", "MqttSink"]
