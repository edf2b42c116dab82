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
]
