"""Sources that are not event sensors: the spike encoders (``snnedge.encode``) turn an analog
channel over serial, a WAV file or an image folder into events, and the daemon, ``stream`` and
replay take them like any other source.

- ``AnalogSerialSource``: text lines over a pyserial URL, one sample per line with one number
  per channel (``0.12,0.5`` or ``0.12 0.5``), at a fixed sample rate; the delta encoder
  (level crossing by default) makes ON/OFF events, channel on ``x``. Sensor time is the
  sample count over the sample rate, so chunking and read sizes change nothing. Lines that do
  not parse, have the wrong number of channels or hold NaN are counted (``lines_bad``) and
  skipped; a line longer than ``max_line_bytes`` without a newline is dropped (garbage).
- ``wav_source``: a WAV file through the audio front end (cochlea-like events).
- ``image_source``: an image folder (or ``(N, H, W)`` array) through the frame-to-event
  emulator (``method="frames"``) or the latency / rate encoders.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Iterator, List, Optional

import numpy as np

from ..encode import AudioEncoder, DeltaEncoder, images_to_events, iter_wav_events, read_image_folder, read_wav
from .base import Packet, ReplaySource, now_ns
from .protocol import SensorInfo
from .serial import SerialSource

_SPLIT = re.compile(rb"[,;\s]+")


class AnalogSerialSource(SerialSource):
    """Analog samples as text lines over a pyserial URL, delta-encoded to events (see the
    module documentation). ``threshold``, ``threshold_off``, ``mode`` and ``refractory_us`` as
    ``snnedge.encode.DeltaEncoder``."""

    kind = "analog"

    def __init__(self, url: str, n_channels: int, *, threshold: Any, sample_rate_hz: float,
                 threshold_off: Any = None, mode: str = "level", refractory_us: int = 0,
                 baudrate: int = 115_200, reconnect_min_s: float = 0.1, reconnect_max_s: float = 5.0,
                 read_timeout_s: float = 0.5, max_line_bytes: int = 4096) -> None:
        super().__init__(url, baudrate=baudrate, reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s,
                         read_timeout_s=read_timeout_s)
        self.n_channels = int(n_channels)
        self.encoder = DeltaEncoder(self.n_channels, threshold=threshold, threshold_off=threshold_off,
                                    sample_rate_hz=sample_rate_hz, mode=mode, refractory_us=refractory_us)
        self.max_line_bytes = int(max_line_bytes)
        self.sensor = SensorInfo(self.n_channels, 1, name="analog")
        self._pending = b""

    def _request_hello(self) -> None:
        """A plain analog line has no handshake."""

    def parse(self, data: bytes) -> np.ndarray:
        """Complete lines of ``data`` (after what is pending) as samples ``(T, n_channels)``;
        the unfinished tail waits for the next read."""
        buf = self._pending + data
        lines = buf.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > self.max_line_bytes:
            self.counters.add("lines_bad", reason="too_long")
            self._pending = b""
        rows: List[List[float]] = []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                row = [float(x) for x in _SPLIT.split(line) if x]
            except ValueError:
                self.counters.add("lines_bad", reason="not_a_number")
                continue
            if len(row) != self.n_channels:
                self.counters.add("lines_bad", reason="channels")
                continue
            if not all(math.isfinite(x) for x in row):
                self.counters.add("lines_bad", reason="not_finite")
                continue
            rows.append(row)
        self.counters.add("samples_received", len(rows))
        return np.asarray(rows, np.float64).reshape(-1, self.n_channels)

    def _session(self, port: Any) -> Iterator[Packet]:
        self._pending = b""  # a new connection starts a new line
        fd = self._fileno(port)
        while not self.closed:
            data = self._read(port, fd)
            if not data:
                continue
            received = now_ns()
            samples = self.parse(data)
            if not len(samples):
                continue
            self._session_good = True
            events = self.encoder.push(samples)
            self.counters.add("events_received", len(events))
            yield Packet(events, self.encoder.time_us - 1, received)


def wav_source(path: "str | os.PathLike[str]", speed: float = 1.0, loop: bool = False, chunk_ms: float = 10.0,
               **audio: Any) -> ReplaySource:
    """A WAV file through the audio front end (keyword arguments as ``AudioEncoder``), played
    at ``speed`` times real time (0: as fast as possible); ``loop`` repeats it."""
    n = int(audio.get("n_channels", 32))
    sensor = SensorInfo(n, 1, name="wav")
    if loop:
        samples, rate_hz = read_wav(path)
        return ReplaySource(AudioEncoder(rate_hz, **audio).push(samples), speed=speed, loop=True, sensor=sensor)
    return ReplaySource(iter_wav_events(path, chunk_ms=chunk_ms, **audio), speed=speed, sensor=sensor)


def image_source(images: Any, method: str = "frames", speed: float = 1.0, loop: bool = False,
                 **options: Any) -> ReplaySource:
    """An image folder or ``(N, H, W)`` array as events (``snnedge.encode.images_to_events``:
    ``method`` "frames" needs ``fps``; "latency" and "rate" take ``num_steps``)."""
    if method == "frames" and "fps" not in options and "t_us" not in options:
        options["fps"] = 30.0
    frames = read_image_folder(images) if isinstance(images, (str, os.PathLike)) else np.asarray(images)
    events = images_to_events(frames, method=method, **options)
    height, width = (int(frames.shape[1]), int(frames.shape[2])) if frames.ndim == 3 else (0, 0)
    return ReplaySource(events, speed=speed, loop=loop, sensor=SensorInfo(width, height, name="images"))


__all__ = ["AnalogSerialSource", "wav_source", "image_source"]
