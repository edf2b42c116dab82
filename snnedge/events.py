"""Event and spike arrays: the two record dtypes, and coercion of other event arrays.

``EVENT_DTYPE`` and ``SPIKE_DTYPE`` have exactly the byte layout of the Rust records
(``snnedge-core/src/event.rs``): little-endian, 16 bytes, aligned. Arrays in this dtype go to
the engine without a copy.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ShapeError

#: One sensor event: t (µs, uint64), x (column, uint16), y (row, uint16), p (0 OFF / 1 ON).
EVENT_DTYPE = np.dtype(
    {"names": ["t", "x", "y", "p"], "formats": ["<u8", "<u2", "<u2", "u1"], "offsets": [0, 8, 10, 12], "itemsize": 16}
)

#: One output spike: t (µs at the start of its tick, uint64), neuron (index in the output layer).
SPIKE_DTYPE = np.dtype({"names": ["t", "neuron"], "formats": ["<u8", "<u4"], "offsets": [0, 8], "itemsize": 16})

_ALIASES = {
    "t": ("t", "ts", "timestamp", "time"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "polarity", "pol", "on"),
}


def _field(arr: np.ndarray, key: str) -> Any:
    names = arr.dtype.names or ()
    for alias in _ALIASES[key]:
        if alias in names:
            return arr[alias]
    return None


def _check_int(name: str, col: np.ndarray, lo: int, hi: int) -> np.ndarray:
    if col.dtype == np.bool_:
        col = col.astype(np.uint8)
    if not np.issubdtype(col.dtype, np.integer):
        if np.issubdtype(col.dtype, np.floating) and col.size and np.all(np.isfinite(col)) and np.all(col == np.round(col)):
            col = col.astype(np.int64)
        elif col.size == 0:
            col = col.astype(np.int64)
        else:
            raise ShapeError(
                f"event field {name!r}: expected integers, found {col.dtype}",
                what=f"event field {name!r}", expected="integer", found=str(col.dtype),
            )
    if col.size:
        mn, mx = int(col.min()), int(col.max())
        if mn < lo or mx > hi:
            bad = int(np.flatnonzero((col < lo) | (col > hi))[0])
            raise ShapeError(
                f"event {bad}: field {name!r} = {int(col[bad])} does not fit {lo}..{hi}",
                what=f"event field {name!r}", expected=f"{lo}..{hi}", found=str(int(col[bad])),
            )
    return col


def as_events(events: Any) -> np.ndarray:
    """Returns ``events`` as a C-contiguous ``EVENT_DTYPE`` array (no copy when it already is).

    Accepts structured arrays with fields named as snnedge, Tonic or faery name them (``t``
    or ``ts``, ``x``, ``y``, ``p`` or ``polarity``) in any order and integer width, boolean
    polarity, polarity in {-1, 1}, and plain integer arrays of shape ``(N, 4)`` in the column
    order t, x, y, p.
    """
    if type(events) is np.ndarray and events.dtype == EVENT_DTYPE and events.ndim == 1 and events.flags.c_contiguous:
        return events  # the common case, checked first and cheaply (called once per chunk)
    arr = np.asarray(events)
    if arr.dtype == EVENT_DTYPE:
        if arr.ndim != 1:
            raise ShapeError(f"events: expected a 1-D array, found shape {arr.shape}",
                             what="events", expected="1-D", found=str(arr.shape))
        return np.ascontiguousarray(arr)
    if arr.dtype.names is None:
        if arr.ndim == 2 and arr.shape[1] == 4:
            cols = {"t": arr[:, 0], "x": arr[:, 1], "y": arr[:, 2], "p": arr[:, 3]}
        elif arr.size == 0:
            return np.zeros(0, EVENT_DTYPE)
        else:
            raise ShapeError(
                f"events: expected a structured array with fields t, x, y, p or an (N, 4) integer array, "
                f"found dtype {arr.dtype} and shape {arr.shape}",
                what="events", expected="EVENT_DTYPE or (N, 4)", found=f"{arr.dtype} {arr.shape}",
            )
    else:
        if arr.ndim != 1:
            raise ShapeError(f"events: expected a 1-D array, found shape {arr.shape}",
                             what="events", expected="1-D", found=str(arr.shape))
        cols = {}
        for key in ("t", "x", "y", "p"):
            col = _field(arr, key)
            if col is None and key in ("t", "x"):
                raise ShapeError(
                    f"events: no field for {key!r} among {arr.dtype.names}",
                    what="events", expected="fields t, x, y, p", found=str(arr.dtype.names),
                )
            cols[key] = col if col is not None else np.zeros(arr.shape[0], np.uint8)
            if np.ndim(cols[key]) != 1:
                # a sub-array field such as ('x', '<i2', (0,)): found by fuzzing .npy headers
                raise ShapeError(f"events: field {key!r} holds sub-arrays of shape {np.shape(cols[key])[1:]}",
                                 what=f"event field {key!r}", expected="one number per event",
                                 found=str(np.shape(cols[key])))
    p = np.asarray(cols["p"])
    if p.size and p.dtype != np.bool_ and np.issubdtype(p.dtype, np.signedinteger) and p.min() < 0:
        if not np.all((p == -1) | (p == 1)):
            raise ShapeError("events: polarity must be 0/1, boolean or -1/1",
                             what="event field 'p'", expected="0/1 or -1/1", found="other values")
        p = (p > 0).astype(np.uint8)
    out = np.empty(len(np.asarray(cols["t"])), EVENT_DTYPE)
    out["t"] = _check_int("t", np.asarray(cols["t"]), 0, 2**64 - 1)
    out["x"] = _check_int("x", np.asarray(cols["x"]), 0, 65535)
    out["y"] = _check_int("y", np.asarray(cols["y"]), 0, 65535)
    out["p"] = _check_int("p", p, 0, 255)
    return out


def make_events(t: Any, x: Any, y: Any = 0, p: Any = 1) -> np.ndarray:
    """Builds an ``EVENT_DTYPE`` array from columns (scalars broadcast)."""
    t = np.asarray(t)
    n = t.shape[0] if t.ndim else 1
    out = np.zeros(n, EVENT_DTYPE)
    out["t"] = _check_int("t", np.broadcast_to(t, (n,)), 0, 2**64 - 1)
    out["x"] = _check_int("x", np.broadcast_to(np.asarray(x), (n,)), 0, 65535)
    out["y"] = _check_int("y", np.broadcast_to(np.asarray(y), (n,)), 0, 65535)
    out["p"] = _check_int("p", np.broadcast_to(np.asarray(p), (n,)), 0, 255)
    return out


__all__ = ["EVENT_DTYPE", "SPIKE_DTYPE", "as_events", "make_events"]
