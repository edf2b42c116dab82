"""Event sources: devices speaking the wire protocol (serial, pty, TCP through pyserial URLs),
TCP streams as client or server (snnedge frames, or the AEDAT 4 network stream of iniVation's
DV and dv-processing), UDP streams (snnedge frames or AEStream's format), recordings played at recorded speed, any
iterable of event arrays, the in-process simulated sensor, and the spike encoders as sources
(an analog channel over serial, a WAV file, an image folder: ``snnedge.devices.encoded``).

``open_source(spec)`` picks one from a string:

========================================  ==============================================
``tcp://HOST:PORT``                       ``TcpSource``: connects, snnedge frames
``tcp-listen://HOST:PORT``                ``TcpServerSource``: listens, a sensor connects
``aedat4+tcp://HOST:PORT``                ``Aedat4TcpSource``: DV / dv-processing stream
``udp://HOST:PORT``                       ``UdpSource`` listening, snnedge frames
``aestream+udp://HOST:PORT``              ``UdpSource`` listening, AEStream / spif words
``PATH.npy``, ``PATH.npz`` (existing)     ``ReplaySource`` at recorded speed
``PATH.wav`` (existing)                   ``wav_source``: the audio front end, real time
a directory of images                     ``image_source``: the frame-to-event emulator
``simulated``                             ``SimulatedSource`` (moving bars, real time)
anything else                             ``SerialSource``: a pyserial URL or device path
========================================  ==============================================
"""
from __future__ import annotations

import os
from typing import Any

from .base import Counters, IterSource, Packet, ReplaySource, SimulatedSource, Source, load_event_file, now_ns
from .protocol import PROTOCOL_VERSION, Frame, FrameDecoder, FrameType, SensorInfo, encode_events, encode_frame
from .encoded import AnalogSerialSource, image_source, wav_source
from .serial import SerialSource
from .tcp import Aedat4TcpSource, TcpServerSource, TcpSource
from .udp import UdpSource


def open_source(spec: Any, **options: Any) -> Source:
    """A ``Source`` from a spec string (see the module docstring), a ``Source`` (returned as
    is), an event array or an iterable of event arrays (``IterSource``)."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text.startswith("tcp://"):
            return TcpSource(text, **options)
        if text.startswith("tcp-listen://"):
            return TcpServerSource(text, **options)
        if text.startswith("aedat4+tcp://"):
            return Aedat4TcpSource(text, **options)
        if text.startswith("udp://"):
            return UdpSource(text[len("udp://"):], format="snnedge", **options)
        if text.startswith("aestream+udp://"):
            return UdpSource(text[len("aestream+udp://"):], format="aestream", **options)
        if text.lower().endswith(".wav") and os.path.isfile(text):
            return wav_source(text, **options)
        if os.path.isdir(text):
            return image_source(text, **options)
        if text.endswith((".npy", ".npz")) or (os.path.isfile(text) and not text.startswith("/dev/")):
            return ReplaySource(text, **options)
        if text == "simulated":
            return SimulatedSource(**options)
        return SerialSource(text, **options)
    return IterSource([spec] if hasattr(spec, "dtype") else spec, **options)


__all__ = [
    "Source", "Packet", "Counters", "SerialSource", "TcpSource", "TcpServerSource", "Aedat4TcpSource", "UdpSource", "ReplaySource", "IterSource", "SimulatedSource",
    "open_source", "load_event_file", "now_ns", "SensorInfo", "FrameDecoder", "FrameType", "Frame",
    "PROTOCOL_VERSION", "encode_frame", "encode_events", "AnalogSerialSource", "wav_source", "image_source",
]
