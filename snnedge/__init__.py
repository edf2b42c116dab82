"""snnedge: a fixed-point, event-driven spiking neural network runtime for event streams.

The Python API in one screen::

    import snnedge as se
    model = se.Model.load("firmware_models/motion_direction.snnm")   # or build one from layers
    engine = se.Engine(model)
    spikes = engine.feed(events)        # events: EVENT_DTYPE array, any chunk
    spikes = engine.advance(t_us)       # time passes without input
    engine.state("motion")["v"]         # membrane potentials, shaped like the layer
    events = se.read_events("rec.raw")  # any event file format (docs/formats.md)
    for chunk in se.open_events("rec.aedat4", chunk_us=10_000): ...

Encoders (``se.encode.rate``, ``latency``, ``population``, ``delta``, ``audio``,
``frames_to_events``) turn ordinary signals, images, audio and video into event streams
(docs/encoders.md).

Live sensors (docs/protocol.md, docs/daemon.md)::

    for r in se.stream("socket://127.0.0.1:7000", model, window_us=50_000):   # live sensors
        print(r.label, r.counts)

Recordings offline (docs/replay.md)::

    result = se.replay("recordings/", model, window_us=50_000, out="results.jsonl")
    se.plot.raster(result.files[0].spikes, result.labels, path="raster.png")   # [plot] extra

See docs/numerics.md for the integer contract the engine implements bit for bit.
"""
from __future__ import annotations

from . import _core, encode, plot
from .engine import Engine
from .errors import (
    CheckpointError,
    ConfigError,
    DeviceError,
    EventFormatError,
    EventIOError,
    EventOutOfRangeError,
    FrameError,
    InvalidParameterError,
    LateEventError,
    MissingDependencyError,
    ModelError,
    ModelFormatError,
    ParameterOverflowError,
    ProtocolError,
    ShapeError,
    SnnEdgeError,
    TruncatedFileError,
    UnencodableEventsError,
    UnknownFormatError,
    UnknownNameError,
    UnsortedEventsError,
)
from .events import EVENT_DTYPE, SPIKE_DTYPE, as_events, make_events
from .formats import EventStream, convert, open_events, probe, read_events, write_events
from .model import (
    IF,
    LI,
    LIF,
    AvgPool2d,
    Conv2d,
    CubaLI,
    CubaLIF,
    Dense,
    Integrator,
    Layer,
    Model,
    STDP,
    Sparse,
    SumPool2d,
    load_model,
)
from .replay import FileResult, ReplayResult, replay
from .stream import Stream, WindowResult, astream, stream

__version__: str = _core.__version__

__all__ = [
    "EVENT_DTYPE", "SPIKE_DTYPE", "as_events", "make_events",
    "Model", "load_model", "Engine", "Layer", "IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator",
    "Dense", "STDP", "Conv2d", "SumPool2d", "AvgPool2d", "Sparse",
    "SnnEdgeError", "ShapeError", "UnsortedEventsError", "LateEventError", "EventOutOfRangeError",
    "ParameterOverflowError", "ModelError", "ModelFormatError", "UnknownNameError", "CheckpointError",
    "read_events", "open_events", "write_events", "probe", "convert", "EventStream",
    "EventFormatError", "TruncatedFileError", "UnknownFormatError", "EventIOError", "UnencodableEventsError",
    "InvalidParameterError", "encode",
    "ParameterOverflowError", "ModelError", "ModelFormatError", "UnknownNameError",
    "FrameError", "ProtocolError", "DeviceError", "ConfigError",
    "stream", "astream", "Stream", "WindowResult",
    "replay", "ReplayResult", "FileResult", "plot", "MissingDependencyError",
]
