"""What every event source shares: the packets it yields, its counters, and how it stops.

A source is anything with a blocking ``packets()`` iterator, a ``close()`` that makes that
iterator end promptly from another thread, a ``counters`` object and, once known, ``sensor``
metadata. Sources run in their own thread inside ``snnedge.stream``; they block in
``select``/``read`` with a timeout or on ``threading.Event.wait``, never in a polling loop.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..events import EVENT_DTYPE, as_events
from .protocol import SensorInfo

log = logging.getLogger("snnedge.devices")

_EMPTY = np.zeros(0, EVENT_DTYPE)


def now_ns() -> int:
    """The clock of arrival times and latencies (monotonic, nanoseconds)."""
    return time.monotonic_ns()


@dataclass
class Packet:
    """Events as they arrive from a source.

    ``events``: ``EVENT_DTYPE``, timestamps in microseconds of the sensor's clock.
    ``t_reached_us``: sensor time known to have passed (at least the last event's ``t``; a
    heartbeat without events carries only this), or None. ``received_ns``: arrival time
    (``now_ns``). ``session``: changes when the sensor restarted (its clock may restart).
    """

    events: np.ndarray
    t_reached_us: Optional[int]
    received_ns: int
    session: int = 0


class Counters:
    """Thread-safe integer counters, optionally split by a reason (``events_dropped`` by
    ``link``, ``queue_full``...). ``snapshot()`` gives plain dicts for JSON and metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Dict[Tuple[str, str], int] = {}

    def add(self, name: str, n: int = 1, reason: str = "") -> None:
        with self._lock:
            key = (name, reason)
            self._values[key] = self._values.get(key, 0) + int(n)

    def get(self, name: str, reason: Optional[str] = None) -> int:
        with self._lock:
            if reason is not None:
                return self._values.get((name, reason), 0)
            return sum(v for (k, _), v in self._values.items() if k == name)

    def snapshot(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        with self._lock:
            for (name, reason), v in sorted(self._values.items()):
                if reason:
                    out.setdefault(name, {})
                    if isinstance(out[name], dict):
                        out[name][reason] = v
                else:
                    out[name] = v
        return out

    def items(self) -> List[Tuple[str, str, int]]:
        with self._lock:
            return [(k, r, v) for (k, r), v in sorted(self._values.items())]


class Source:
    """Base class of event sources (see the module docstring for the contract)."""

    kind = "source"

    def __init__(self) -> None:
        self.counters = Counters()
        self.sensor: Optional[SensorInfo] = None
        self._closed = threading.Event()
        self.connected = False

    def packets(self) -> Iterator[Packet]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Packet]:
        return self.packets()

    def close(self) -> None:
        """Ends ``packets()`` promptly (from any thread)."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def send(self, data: bytes) -> bool:
        """Writes bytes back to the device (actuation). False when this source cannot or is
        not connected now."""
        return False

    def describe(self) -> Dict[str, Any]:
        return {"kind": self.kind, "connected": self.connected}


def load_event_file(path: str) -> np.ndarray:
    """Reads a recording: through ``snnedge.read_events`` when the file readers are present,
    otherwise ``.npy`` / ``.npz`` arrays of events (no pickle)."""
    import snnedge

    reader = getattr(snnedge, "read_events", None)
    if reader is not None:
        return as_events(reader(path))
    if not path.endswith((".npy", ".npz")):
        from ..errors import DeviceError

        raise DeviceError(f"cannot read events from {path} (supported here: .npy, .npz)", url=path,
                          problem="unsupported format")
    data = np.load(path, allow_pickle=False)
    if hasattr(data, "files"):
        data = data["events"] if "events" in data.files else data[data.files[0]]
    return as_events(data)


EventsLike = Union[np.ndarray, Iterable[Any], str, "os.PathLike[str]"]


class ReplaySource(Source):
    """Plays events as a live source: an array, a recording's path, or any iterable of event
    arrays (a file reader's chunks, a generator). With ``speed`` > 0 the events come at
    ``speed`` times their recorded pace (1.0: real time), released in slices of ``slice_us``
    of sensor time; with ``speed`` = 0 as fast as the consumer takes them. ``loop`` repeats
    an array or file forever, each pass shifted to follow the previous one."""

    kind = "replay"
    #: During silence in a recording, an empty packet (time reached) this often.
    HEARTBEAT_US = 100_000

    def __init__(self, events: EventsLike, speed: float = 1.0, slice_us: int = 1000, loop: bool = False,
                 sensor: Optional[SensorInfo] = None) -> None:
        super().__init__()
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        if slice_us <= 0:
            raise ValueError(f"slice_us must be > 0, got {slice_us}")
        self.speed = float(speed)
        self.slice_us = int(slice_us)
        self.loop = loop
        self._events = events
        self.sensor = sensor
        self.passes = 0

    def _chunks(self) -> Iterator[np.ndarray]:
        src = self._events
        if isinstance(src, (str, os.PathLike)):
            src = load_event_file(os.fspath(src))
        if isinstance(src, np.ndarray) or not hasattr(src, "__iter__"):
            arr = as_events(src)
            if self.sensor is None and len(arr):
                self.sensor = SensorInfo(int(arr["x"].max()) + 1, int(arr["y"].max()) + 1, name="replay")
            period = int(arr["t"][-1]) + 1 if len(arr) else 0
            offset = 0
            while True:
                if offset:
                    shifted = arr.copy()
                    shifted["t"] += np.uint64(offset)
                    yield shifted
                else:
                    yield arr
                self.passes += 1
                if not self.loop or period == 0:
                    return
                offset += period
        else:
            if self.loop:
                raise ValueError("loop=True needs an array or a file, not a one-shot iterator")
            for chunk in src:
                yield as_events(chunk)
            self.passes += 1

    def packets(self) -> Iterator[Packet]:
        self.connected = True
        start_wall: Optional[int] = None
        start_t: Optional[int] = None
        try:
            for chunk in self._chunks():
                if self.closed:
                    return
                n = len(chunk)
                if n == 0:
                    continue
                if self.speed == 0:
                    self.counters.add("events_received", n)
                    yield Packet(chunk, int(chunk["t"][-1]), now_ns())
                    continue
                t = chunk["t"]
                if start_t is None:
                    start_t, start_wall = int(t[0]), now_ns()
                first = int(t[0])
                # slice ends: every multiple of slice_us after the first event, through the first
                # one after the last event (so the last slice holds the last event)
                edges = np.arange(first - first % self.slice_us + self.slice_us, int(t[-1]) + self.slice_us + 1,
                                  self.slice_us, dtype=np.int64)
                cuts = np.searchsorted(t, edges.astype(np.uint64))
                lo = 0
                for edge, hi in zip(edges.tolist(), cuts.tolist()):
                    if hi == lo and edge <= int(t[-1]) and edge % self.HEARTBEAT_US >= self.slice_us:
                        continue  # silence: only a heartbeat every HEARTBEAT_US of sensor time
                    due_ns = start_wall + int((edge - start_t) * 1000 / self.speed)  # type: ignore[operator]
                    wait = (due_ns - now_ns()) / 1e9
                    if wait > 0 and self._closed.wait(wait):
                        return
                    part = chunk[lo:hi]
                    lo = hi
                    self.counters.add("events_received", len(part))
                    yield Packet(part, edge, now_ns())
        finally:
            self.connected = False


class IterSource(ReplaySource):
    """Any iterable of event arrays, passed on as fast as it yields (``ReplaySource`` with
    ``speed=0``)."""

    kind = "iterable"

    def __init__(self, chunks: Iterable[Any], sensor: Optional[SensorInfo] = None) -> None:
        super().__init__(chunks, speed=0.0, sensor=sensor)


class SimulatedSource(ReplaySource):
    """The synthetic sensor in-process: ``snnedge.synthetic.moving_bars`` looped forever at
    real time (``speed`` 1). ``truth(t_us)`` names the bar on screen at a time."""

    kind = "simulated"

    def __init__(self, scene: str = "bars", seed: int = 0, scene_s: float = 10.0, speed: float = 1.0,
                 loop: bool = True, size: Tuple[int, int] = (32, 32)) -> None:
        from ..synthetic import moving_bars

        if scene != "bars":
            raise ValueError(f"unknown scene {scene!r} (known: 'bars')")
        events, segments = moving_bars(duration_s=scene_s, size=size, seed=seed)
        self.segments = segments
        self.period_us = int(events["t"][-1]) + 1
        self._starts = np.array([s.t_start_us for s in segments], np.int64)
        super().__init__(events, speed=speed, loop=loop, sensor=SensorInfo(size[1], size[0], name="simulated-bars"))

    def truth(self, t_start_us: int, t_end_us: int) -> Optional[str]:
        """The direction of the bar overlapping [t_start_us, t_end_us) the most, if any."""
        base = (t_start_us // self.period_us) * self.period_us
        best, best_len = None, 0
        for s in self.segments:
            for shift in (base - self.period_us, base, base + self.period_us):
                a, b = s.t_start_us + shift, s.t_end_us + shift + 10_000
                overlap = min(b, t_end_us) - max(a, t_start_us)
                if overlap > best_len:
                    best, best_len = s.direction, overlap
        return best


__all__ = ["Packet", "Counters", "Source", "ReplaySource", "IterSource", "SimulatedSource", "load_event_file", "now_ns"]
