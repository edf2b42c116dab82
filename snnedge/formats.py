"""Event files: read, stream, write and convert every common event-camera recording format.

Every reader returns ``EVENT_DTYPE`` arrays in one convention: ``t`` in microseconds that
never wraps, ``x``/``y`` with the origin at the top-left, ``p`` 0 (OFF) / 1 (ON). See
docs/formats.md for what each format stores and how it is mapped.

Binary formats (Prophesee EVT 2.0/2.1/3.0 ``.raw`` and DAT ``.dat``, AEDAT 2.0/3.1/4.0,
Event Stream ``.es``, N-MNIST ``.bin``) are decoded in Rust with the GIL released; numpy
``.npy``/``.npz`` structured arrays (Tonic's field names, any order and widths) and CSV are
read here. The format is recognised from the file's first bytes; the extension is only a hint
(and the only clue for headerless N-MNIST ``.bin`` files).

    events = read_events("recording.raw")                  # the whole file
    with open_events("recording.aedat4", chunk_us=10_000) as stream:
        print(stream.format, stream.sensor_size)
        for chunk in stream:                               # constant memory
            ...
    write_events("out.es", events, sensor_size=(640, 480))
"""
from __future__ import annotations

import csv
import io as _io
import itertools
import os
import tokenize
import zipfile
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import _core
from .errors import EventFormatError, ShapeError, SnnEdgeError, UnknownFormatError
from .events import EVENT_DTYPE, as_events

PathLike = Union[str, "os.PathLike[str]"]

#: Format keys written by :func:`write_events` and the extensions that select them.
WRITE_EXTENSIONS: Dict[str, str] = {
    ".npz": "npz", ".npy": "npy", ".csv": "csv", ".raw": "evt3", ".aedat4": "aedat4", ".es": "es",
    ".dat": "dat", ".bin": "nmnist",
}
_RUST_WRITE = {"evt2", "evt3", "aedat4", "es", "dat", "nmnist"}
_PY_FORMATS = {"npy", "npz", "csv"}
_RUST_FORMATS = {"evt2", "evt21", "evt3", "dat", "nmnist", "es", "aedat4", "aedat3", "aedat2"}
_ON_ERROR = ("stop", "skip")


def _words_to_events(words: np.ndarray) -> np.ndarray:
    # The Rust records are two little-endian u64 words per event: the same bytes as EVENT_DTYPE.
    return words.view(EVENT_DTYPE)


def _python_format(path: str, forced: Optional[str]) -> Optional[str]:
    """'npy', 'npz' or 'csv' when the file is one of the formats read in Python, else None."""
    if forced is not None:
        return forced if forced in _PY_FORMATS else None
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    ext = os.path.splitext(path)[1].lower()
    if head.startswith(b"PK\x03\x04") or (head.startswith(b"PK\x05\x06") and ext == ".npz"):
        return "npz"
    if ext in (".csv", ".txt"):
        return "csv"
    return None


# ---- numpy and CSV sources --------------------------------------------------------------------

def _npz_columns(path: str) -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            # Members that are not .npy arrays come back as bytes (found by fuzzing): ignored.
            members = {k: z[k] for k in z.keys()}
            cols = {k: v for k, v in members.items() if isinstance(v, np.ndarray)}
            keys = list(members)
            size = None
            if "sensor_size" in cols:
                s = np.asarray(cols["sensor_size"]).ravel()
                if s.size >= 2 and s.dtype.kind in "iu":
                    size = (int(s[0]), int(s[1]))
            structured = [k for k in cols if cols[k].dtype.names]
            if structured:
                key = "events" if "events" in structured else structured[0]
                return _checked_polarity(as_events(cols[key]), "npz", path), size
            names = {n: k for k in cols for n in ("t", "ts", "timestamp", "x", "y", "p", "polarity", "on") if k == n}
            if {"x"} <= set(names) and ({"t", "ts", "timestamp"} & set(names)):
                n = len(cols[next(iter(names.values()))])
                arr = np.zeros(n, dtype=[(k, cols[k].dtype) for k in names])
                for k in names:
                    arr[k] = cols[k]
                return _checked_polarity(as_events(arr), "npz", path), size
    except SnnEdgeError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, NotImplementedError, RuntimeError,
            OverflowError, MemoryError, zlib.error) as e:
        # What a damaged archive raises from zipfile, zlib and numpy's .npy parser (found by
        # fuzzing: a bad deflate stream, an unknown zip version, a truncated member).
        raise EventFormatError(f"{path}: not a readable .npz file ({e})", format="npz", offset=0,
                               expected="a zip archive of .npy arrays", found=str(e)) from None
    raise EventFormatError(
        f"{path}: no event array in the .npz file (keys {keys})", format="npz", offset=0,
        expected="a structured array with t, x, y, p fields, or arrays named t, x, y, p", found=str(keys))


def _npy_array(path: str) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError, OSError, OverflowError, MemoryError, SyntaxError, UnicodeDecodeError,
            tokenize.TokenError) as e:
        # numpy's header parser raises these on a damaged header (found by fuzzing).
        raise EventFormatError(f"{path}: not a readable .npy file ({e})", format="npy", offset=0,
                               expected="a .npy array without Python objects", found=str(e)) from None
    return arr


def _csv_blocks(path: str, block: int = 1 << 16) -> Iterator[np.ndarray]:
    """CSV with a header naming the columns (t/x/y/p and aliases, any order), or t,x,y,p without."""
    try:
        yield from _csv_blocks_raw(path, block)
    except SnnEdgeError:
        raise
    except (UnicodeDecodeError, csv.Error, ValueError, OverflowError) as e:
        # Found by fuzzing: bytes that are not UTF-8, a NUL byte, header names that are empty
        # or repeated.
        raise EventFormatError(f"{path}: not a readable CSV event file ({type(e).__name__}: {e})", format="csv",
                               offset=0, expected="UTF-8 text, a header naming t, x, y, p once each, and numbers",
                               found=f"{type(e).__name__}: {e}") from None


def _csv_blocks_raw(path: str, block: int) -> Iterator[np.ndarray]:
    with open(path, newline="") as f:
        reader = csv.reader(line for line in f if line.strip() and not line.lstrip().startswith("#"))
        first = next(reader, None)
        if first is None:
            return
        first = [c.strip() for c in first]
        try:
            [float(c) for c in first]
            names = ["t", "x", "y", "p"][: len(first)]
            pending: List[List[str]] = [first]
        except ValueError:
            names = [c.lower() for c in first]
            pending = []
        line_no = 1 if pending else 2
        while True:
            rows = pending + list(itertools.islice(reader, block))
            pending = []
            if not rows:
                return
            try:
                data = np.array(rows, dtype=np.float64)
            except ValueError as e:
                raise EventFormatError(f"{path}: line {line_no}+: {e}", format="csv", offset=0,
                                       expected="numbers in every column", found=str(e)) from None
            if data.ndim != 2 or data.shape[1] != len(names):
                raise EventFormatError(f"{path}: rows from line {line_no} do not have {len(names)} columns",
                                       format="csv", offset=0, expected=f"{len(names)} columns",
                                       found=str(data.shape))
            arr = np.zeros(len(data), dtype=[(n, np.float64) for n in names])
            for i, n in enumerate(names):
                arr[n] = data[:, i]
            yield _checked_polarity(as_events(arr), "csv", path)
            line_no += len(rows)


def _rechunk(blocks: Iterator[np.ndarray], chunk_events: Optional[int], chunk_us: Optional[int]) -> Iterator[np.ndarray]:
    """The chunking of the Rust reader, for sources read in Python (same windows, same cuts)."""
    pending = np.zeros(0, EVENT_DTYPE)
    window_end: Optional[int] = None
    exhausted = False
    max_events = None if chunk_events is None else max(1, int(chunk_events))
    width = None if chunk_us is None else max(1, int(chunk_us))
    while True:
        while len(pending):
            cut = None
            if width is not None:
                first = int(pending["t"][0])
                if window_end is None:
                    window_end = first + width
                elif first >= window_end:
                    window_end = window_end + (first - window_end) // width * width + width
                later = np.flatnonzero(pending["t"] >= window_end)
                if later.size:
                    cut = int(later[0])
            if max_events is not None and len(pending) >= max_events:
                cut = max_events if cut is None else min(cut, max_events)
            if cut is None and (exhausted or (max_events is None and width is None)):
                cut = len(pending)
            if cut is None:
                break
            cut = max(1, cut)
            yield pending[:cut]
            pending = pending[cut:]
        if exhausted:
            return
        nxt = next(blocks, None)
        if nxt is None:
            exhausted = True
        else:
            # dtype given: numpy 2 drops EVENT_DTYPE's padding otherwise (13-byte records)
            pending = np.concatenate([pending, nxt], dtype=EVENT_DTYPE) if len(pending) else nxt


def _array_blocks(arr: np.ndarray, block: int = 1 << 18, fmt: str = "npy", path: str = "") -> Iterator[np.ndarray]:
    for i in range(0, len(arr), block):
        yield _checked_polarity(as_events(np.asarray(arr[i:i + block])), fmt, path)


def _checked_polarity(ev: np.ndarray, fmt: str, path: str) -> np.ndarray:
    """`ev`, after checking that every polarity is 0 or 1 (as_events accepts any uint8, as the
    engine does; a file read must follow the convention: found by fuzzing)."""
    if len(ev) and int(ev["p"].max()) > 1:
        i = int(np.argmax(ev["p"] > 1))
        raise EventFormatError(f"{path}: polarity {int(ev['p'][i])} at event {i} of a block", format=fmt, offset=0,
                               expected="polarity 0/1, boolean or -1/1", found=str(int(ev["p"][i])))
    return ev


# ---- the stream object ------------------------------------------------------------------------

class EventStream:
    """An iterator over the chunks of one event file (``EVENT_DTYPE`` arrays).

    Attributes: ``path``, ``format`` (a key such as ``"evt3"``), ``format_name``,
    ``sensor_size`` ((width, height) or None when the file does not say), ``metadata`` (header
    keys and values), and, with ``on_error="skip"``, ``skipped_bytes``, ``fault_count`` and
    ``faults`` (the first exceptions skipped).

    Chunks are at most ``chunk_events`` events and lie inside one window of ``chunk_us``
    microseconds (windows start at the first event's time; windows without events are
    skipped); with neither, each chunk is what one block (about 1 MiB) of the file decodes to.
    Memory stays constant whatever the file size (``.npz`` and CSV files aside, which are read
    whole / line block by line block).
    """

    def __init__(self, path: PathLike, chunk_events: Optional[int] = None, chunk_us: Optional[int] = None,
                 format: Optional[str] = None, on_error: str = "stop") -> None:
        self.path = os.fspath(path)
        if on_error not in _ON_ERROR:
            raise ShapeError(f"on_error: expected 'stop' or 'skip', found {on_error!r}",
                             what="on_error", expected="'stop' or 'skip'", found=repr(on_error))
        if format is not None and format not in _PY_FORMATS | _RUST_FORMATS:
            raise ShapeError(f"format: unknown format {format!r}", what="format",
                             expected=", ".join(sorted(_PY_FORMATS | _RUST_FORMATS)), found=repr(format))
        if not os.path.exists(self.path):
            raise FileNotFoundError(2, "No such file or directory", self.path)
        self.chunk_events = chunk_events
        self.chunk_us = chunk_us
        self.on_error = on_error
        self._reader: Optional[_core.EventReader] = None
        self._chunks: Optional[Iterator[np.ndarray]] = None
        self.metadata: Dict[str, str] = {}
        self.sensor_size: Optional[Tuple[int, int]] = None
        py = _python_format(self.path, format)
        if py is None:
            self._reader = _core.EventReader(self.path, format, on_error)
            self.format = self._reader.format
            self.format_name = self._reader.format_name
            self.sensor_size = self._reader.sensor_size
            self.metadata = dict(self._reader.metadata)
        else:
            self.format = py
            self.format_name = {"npy": "numpy .npy", "npz": "numpy .npz", "csv": "CSV"}[py]
            if py == "npy":
                blocks: Iterator[np.ndarray] = _array_blocks(_npy_array(self.path), path=self.path)
            elif py == "npz":
                arr, self.sensor_size = _npz_columns(self.path)
                blocks = _array_blocks(arr, fmt="npz", path=self.path)
            else:
                blocks = _csv_blocks(self.path)
            self._chunks = _rechunk(blocks, chunk_events, chunk_us)

    @property
    def skipped_bytes(self) -> int:
        return self._reader.skipped_bytes if self._reader is not None else 0

    @property
    def fault_count(self) -> int:
        return self._reader.fault_count if self._reader is not None else 0

    @property
    def faults(self) -> List[BaseException]:
        return list(self._reader.faults()) if self._reader is not None else []

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> np.ndarray:
        if self._reader is not None:
            words = self._reader.next_chunk(self.chunk_events, self.chunk_us)
            if words is None:
                raise StopIteration
            return _words_to_events(words)
        assert self._chunks is not None
        return next(self._chunks)

    def read_all(self) -> np.ndarray:
        """The rest of the file as one array (raises after decoding what precedes a fault)."""
        if self._reader is not None:
            words, n, err = self._reader.read_all()
            events = _words_to_events(words[: 2 * n])
            if err is not None:
                err.events = events  # what was decoded before the fault
                raise err
            return events
        parts = list(self)
        return np.concatenate(parts, dtype=EVENT_DTYPE) if parts else np.zeros(0, EVENT_DTYPE)

    def close(self) -> None:
        self._reader = None
        self._chunks = iter(())

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventStream({self.path!r}, format={self.format!r}, sensor_size={self.sensor_size})"


def open_events(path: PathLike, chunk_events: Optional[int] = None, chunk_us: Optional[int] = None, *,
                format: Optional[str] = None, on_error: str = "stop") -> EventStream:
    """Opens an event file for streaming: an iterator of ``EVENT_DTYPE`` chunks.

    ``format`` forces a format key (``"evt2"``, ``"evt21"``, ``"evt3"``, ``"dat"``, ``"nmnist"``,
    ``"es"``, ``"aedat4"``, ``"aedat3"``, ``"aedat2"``, ``"npy"``, ``"npz"``, ``"csv"``) for files
    whose header does not say. ``on_error="stop"`` (default) yields every chunk decoded before a
    fault, then raises it (an :class:`~snnedge.EventFormatError` with the byte offset);
    ``on_error="skip"`` resynchronises where the format allows and counts what it skipped.
    """
    return EventStream(path, chunk_events, chunk_us, format=format, on_error=on_error)


def read_events(path: PathLike, *, format: Optional[str] = None, on_error: str = "stop") -> np.ndarray:
    """Reads a whole event file into one ``EVENT_DTYPE`` array.

    On a fault with ``on_error="stop"`` the exception is raised with the events decoded before
    it as its ``events`` attribute.
    """
    return EventStream(path, format=format, on_error=on_error).read_all()


def probe(path: PathLike, *, format: Optional[str] = None) -> Dict[str, Any]:
    """What a file is without decoding it all: format, sensor size, event count and duration
    where cheap (fixed-size records, numpy files), file size and header metadata."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(2, "No such file or directory", p)
    py = _python_format(p, format)
    if py is None:
        info = _core.probe(p, format)
        info["metadata"] = dict(info["metadata"])
        info["duration_us"] = None
        return info
    size = None
    if py == "npy":
        arr = _npy_array(p)
        ev = as_events(np.asarray(arr[:1]))
        last = as_events(np.asarray(arr[-1:])) if len(arr) else ev
        n = len(arr)
        duration = int(last["t"][0]) - int(ev["t"][0]) if n else 0
    elif py == "npz":
        evs, size = _npz_columns(p)
        n = len(evs)
        duration = int(evs["t"][-1]) - int(evs["t"][0]) if n else 0
    else:
        n, duration = None, None
    return {"format": py, "format_name": py, "sensor_size": size, "file_size": os.path.getsize(p),
            "data_offset": 0, "events": n, "duration_us": duration, "metadata": {}}


# ---- writing -----------------------------------------------------------------------------------

def _check_size(sensor_size: Any) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in tuple(sensor_size)[:2])
    except (TypeError, ValueError):
        raise ShapeError(f"sensor_size: expected (width, height), found {sensor_size!r}",
                         what="sensor_size", expected="(width, height)", found=repr(sensor_size)) from None
    if not (1 <= w <= 65535 and 1 <= h <= 65535):
        raise ShapeError(f"sensor_size: expected 1..65535, found {(w, h)}",
                         what="sensor_size", expected="1..65535", found=str((w, h)))
    return w, h


def _write_format(path: str, format: Optional[str]) -> str:
    if format is not None:
        if format not in _RUST_WRITE | _PY_FORMATS:
            raise ShapeError(f"format: cannot write {format!r}", what="format",
                             expected=", ".join(sorted(_RUST_WRITE | _PY_FORMATS)), found=repr(format))
        return format
    ext = os.path.splitext(path)[1].lower()
    if ext not in WRITE_EXTENSIONS:
        raise UnknownFormatError(
            f"{path}: cannot tell the format to write from the extension {ext!r}; pass format=",
            path=path, expected=", ".join(sorted(WRITE_EXTENSIONS)), found=ext)
    return WRITE_EXTENSIONS[ext]


class EventFileWriter:
    """Writes an event file chunk by chunk (``write``), closed by ``close`` or ``with``."""

    def __init__(self, path: PathLike, sensor_size: Any, format: Optional[str] = None, *,
                 compression: Optional[str] = None) -> None:
        self.path = os.fspath(path)
        self.format = _write_format(self.path, format)
        self.sensor_size = _check_size(sensor_size)
        self.events_written = 0
        self._rust: Optional[_core.EventWriter] = None
        self._parts: List[np.ndarray] = []
        self._csv: Optional[_io.TextIOWrapper] = None
        if self.format in _RUST_WRITE:
            self._rust = _core.EventWriter(self.path, self.format, *self.sensor_size, compression)
        elif self.format == "csv":
            self._csv = open(self.path, "w", newline="")
            self._csv.write("t,x,y,p\n")

    def write(self, events: Any) -> None:
        ev = as_events(events)
        w, h = self.sensor_size
        if self._rust is not None:
            self._rust.write(ev.view(np.uint8))
        else:
            if len(ev) and (int(ev["x"].max()) >= w or int(ev["y"].max()) >= h or int(ev["p"].max()) > 1):
                bad = int(np.flatnonzero((ev["x"] >= w) | (ev["y"] >= h) | (ev["p"] > 1))[0])
                from .errors import UnencodableEventsError
                raise UnencodableEventsError(
                    f"event {bad} cannot be written as {self.format}: outside the sensor size {w}x{h} or p not 0/1",
                    format=self.format, index=bad, problem="outside the sensor size")
            if self._csv is not None:
                np.savetxt(self._csv, np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1).astype(np.uint64),
                           fmt="%d", delimiter=",")
            else:
                self._parts.append(ev.copy())
        self.events_written += len(ev)

    def close(self) -> None:
        if self._rust is not None:
            self._rust.close()
            self._rust = None
        elif self._csv is not None:
            self._csv.close()
            self._csv = None
        elif self._parts is not None:
            ev = np.concatenate(self._parts, dtype=EVENT_DTYPE) if self._parts else np.zeros(0, EVENT_DTYPE)
            self._parts = []
            if self.format == "npy":
                with open(self.path, "wb") as f:
                    np.save(f, ev, allow_pickle=False)
            else:
                with open(self.path, "wb") as f:
                    np.savez_compressed(f, events=ev, sensor_size=np.array(self.sensor_size, np.uint32))

    def __enter__(self) -> "EventFileWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_events(path: PathLike, events: Any, sensor_size: Any, format: Optional[str] = None, *,
                 compression: Optional[str] = None) -> None:
    """Writes events to a file; the format comes from ``format`` or the extension (``.npz``,
    ``.npy``, ``.csv``, ``.raw`` = EVT 3.0, ``.aedat4``, ``.es``, ``.dat``, ``.bin``; ``format="evt2"``
    for EVT 2.0). ``compression`` ("lz4", default, "zstd" or "none") applies to AEDAT 4.
    Events are checked against ``sensor_size`` (width, height) and the format's fields.
    """
    with EventFileWriter(path, sensor_size, format, compression=compression) as w:
        w.write(events)


def convert(src: PathLike, dst: PathLike, *, format: Optional[str] = None, sensor_size: Any = None,
            chunk_events: int = 1 << 18, on_error: str = "stop", shift_time: bool = False) -> Dict[str, Any]:
    """Streams ``src`` into ``dst`` chunk by chunk; returns a summary dict.

    The sensor size comes from ``sensor_size``, else the source's header, else one pass over
    the events (max x + 1, max y + 1). ``shift_time`` subtracts the first event's time (for
    formats with relative time such as ``.es`` when the source has absolute Unix times).
    """
    size = None if sensor_size is None else _check_size(sensor_size)
    stream = open_events(src, chunk_events=chunk_events, on_error=on_error)
    if size is None:
        size = stream.sensor_size
    if size is None:
        mx, my = 0, 0
        for c in open_events(src, chunk_events=chunk_events, on_error=on_error):
            if len(c):
                mx, my = max(mx, int(c["x"].max())), max(my, int(c["y"].max()))
        size = (mx + 1, my + 1)
    t0: Optional[int] = None
    n = 0
    with EventFileWriter(dst, size, format) as w:
        for chunk in stream:
            if shift_time and len(chunk):
                if t0 is None:
                    t0 = int(chunk["t"][0])
                chunk = chunk.copy()
                chunk["t"] -= np.uint64(t0)
            w.write(chunk)
            n += len(chunk)
    return {"events": n, "sensor_size": size, "format_in": stream.format, "format_out": w.format,
            "skipped_bytes": stream.skipped_bytes, "faults": stream.fault_count, "t0_us": t0}


__all__ = ["read_events", "open_events", "write_events", "probe", "convert", "EventStream", "EventFileWriter"]
