"""Exceptions raised by snnedge: one class per kind of problem, all under SnnEdgeError.

Each class also subclasses the builtin exception whose meaning it shares (``ValueError`` for
bad input, ``LookupError`` for unknown names), so generic handlers keep working. The fields
of the problem (event index, layer name, byte offset...) are attributes of the exception.
"""
from __future__ import annotations

from typing import Any


class SnnEdgeError(Exception):
    """Base class of every snnedge error."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in fields.items():
            setattr(self, key, value)


class ShapeError(SnnEdgeError, ValueError):
    """An array has the wrong shape, size or dtype (attributes: what, expected, found)."""


class UnsortedEventsError(SnnEdgeError, ValueError):
    """Event timestamps go backwards (attributes: index, t_us, previous_t_us)."""


class LateEventError(SnnEdgeError, ValueError):
    """An event falls in a tick already completed by advance() (index, t_us, open_tick, open_t_us)."""


class EventOutOfRangeError(SnnEdgeError, ValueError):
    """An event addresses a neuron outside the model's input (index, field, value, limit)."""


class ParameterOverflowError(SnnEdgeError, ValueError):
    """A parameter does not fit its integer format (layer, parameter, value, range)."""


class ModelError(SnnEdgeError, ValueError):
    """The model description is inconsistent (layer, problem)."""


class ModelFormatError(SnnEdgeError, ValueError):
    """A model file cannot be decoded (offset, problem)."""


class CheckpointError(SnnEdgeError, ValueError):
    """A checkpoint cannot be read or belongs to another model (problem)."""


class UnknownNameError(SnnEdgeError, LookupError):
    """A layer or connection name does not exist (kind, name, known)."""


class EventFormatError(SnnEdgeError, ValueError):
    """An event file does not follow its format (format, offset, expected, found).

    ``offset`` is the byte offset in the file where the problem starts."""


class TruncatedFileError(EventFormatError):
    """An event file ends inside a header, record or packet (format, offset, expected, found).

    Everything before ``offset`` was decoded (and yielded, when streaming)."""


class UnknownFormatError(SnnEdgeError, ValueError):
    """The format of a file is not recognised from its first bytes nor its name (path, expected, found)."""


class EventIOError(SnnEdgeError, OSError):
    """The system could not open, read or write an event file (path, kind, problem)."""


class UnencodableEventsError(SnnEdgeError, ValueError):
    """Events cannot be stored in the requested format (format, index, problem)."""


class InvalidParameterError(SnnEdgeError, ValueError):
    """A parameter or input value is not accepted, e.g. an encoder threshold <= 0 or a
    timestamp that goes back in time (attributes: what, parameter, value, expected)."""


class FrameError(SnnEdgeError, ValueError):
    """A wire-protocol frame cannot be decoded (offset: byte offset of the frame in the link's
    byte stream, reason: ``crc``, ``truncated``, ``escape``, ``too_long``, ``header``,
    ``payload``, ``type``). Sources count these and resynchronise; they never stop a stream."""

    offset: int
    reason: str


class ProtocolError(SnnEdgeError, ValueError):
    """The peer speaks an incompatible protocol (field, expected, found), e.g. a major
    version this build does not understand, or a sensor larger than the model's input."""


class DeviceError(SnnEdgeError, OSError):
    """A device or link cannot be opened or has gone away (url, problem)."""


class ConfigError(SnnEdgeError, ValueError):
    """A daemon configuration value is unknown or invalid (key: dotted name such as
    ``source.url``, problem)."""

    key: str
    problem: str


class MissingDependencyError(SnnEdgeError, ImportError):
    """An optional dependency is not installed (package, extra: the ``pip install
    'snnedge[extra]'`` that brings it), e.g. matplotlib for ``snnedge.plot``."""

    package: str
    extra: str


__all__ = [
    "SnnEdgeError",
    "ShapeError",
    "UnsortedEventsError",
    "LateEventError",
    "EventOutOfRangeError",
    "ParameterOverflowError",
    "ModelError",
    "ModelFormatError",
    "CheckpointError",
    "UnknownNameError",
    "EventFormatError",
    "TruncatedFileError",
    "UnknownFormatError",
    "EventIOError",
    "UnencodableEventsError",
    "InvalidParameterError",
    "FrameError",
    "ProtocolError",
    "DeviceError",
    "ConfigError",
    "MissingDependencyError",
]
