"""Offline replay: recorded event files through a model, chunk by chunk, with a summary.

    result = snnedge.replay("recordings/", "model.snnm", window_us=50_000, out="results.jsonl")
    for f in result.files:
        print(f.path, f.events, f.counts, f.label, f.error)
    print(result.events, result.real_time_factor)

Each file is streamed with :func:`snnedge.open_events` (constant memory whatever its size)
through one :class:`snnedge.Engine`, reset before each file. The output spikes of a file are
exactly those of ``Engine.run`` on the whole file read at once (however the file is cut into
chunks): the engine closes the last event's tick at the end, and nothing after it. A ``.wav``
file is turned into events on the fly by the audio front end (``snnedge.encode``), one band per
column of the model's input.

Windows are ``[k * window_us, (k + 1) * window_us)`` of recording time (aligned to multiples
of ``window_us``, as in :func:`snnedge.stream`), from the window of the first event to the
window of the last one, silent windows included. A window's decision is the output neuron
with the most spikes in it (the lowest index on ties), ``None`` ("none") without output spikes;
a file's decision is the same over all its spikes.

A file that fails (a corrupt or truncated file, a sensor larger than the model's input, an
event the model cannot take) keeps the results of everything decoded and fed before the fault,
carries the exception in ``error``, and the next files still run. The work per chunk is a
handful of numpy calls; nothing is done per event in Python.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .engine import Engine
from .errors import InvalidParameterError, ShapeError, SnnEdgeError
from .events import SPIKE_DTYPE
from .formats import open_events
from .model import Model

PathLike = Union[str, "os.PathLike[str]"]

#: Extensions of the files a directory replay picks up (the format itself is recognised from
#: each file's first bytes, see docs/formats.md).
EVENT_EXTENSIONS = (".raw", ".dat", ".bin", ".es", ".aedat", ".aedat2", ".aedat3", ".aedat4", ".npy", ".npz", ".csv",
                    ".wav")


class _WavEvents:
    """A WAV file as an event stream: the audio front end (``snnedge.encode``) with one band per
    column of the model's input, in 10 ms chunks (what ``open_events`` gives for event files)."""

    format = "wav (audio front end)"
    skipped_bytes = 0
    fault_count = 0

    def __init__(self, path: str, n_channels: int) -> None:
        from .encode import iter_wav_events

        self.sensor_size = (int(n_channels), 1)
        self._chunks = iter_wav_events(path, chunk_ms=10.0, n_channels=int(n_channels))

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._chunks)

    def close(self) -> None:
        pass

_CHUNK_EVENTS = 1 << 16  # 1 MiB of events per feed at speed="max"
_PACE_CHUNK_US = 10_000  # with pacing, a chunk is at most 10 ms of recording (sleeps stay fine-grained)


def labels_of(model: Model) -> List[str]:
    """Output neuron names from the model's ``outputs`` (or ``labels``) metadata, else indices."""
    text = model.metadata.get("outputs") or model.metadata.get("labels") or ""
    names = [s.strip() for s in str(text).strip("[]").replace("'", "").split(",") if s.strip()]
    return names if len(names) == model.output_size else [str(i) for i in range(model.output_size)]


def check_input_fits(model: Model, sensor_size: Optional[Tuple[int, int]], what: str = "recording") -> None:
    """Raises :class:`ShapeError` when events of a ``(width, height)`` sensor cannot all map to
    the model's input (docs/numerics.md, section 4). Nothing is checked when the size is unknown
    (the engine then checks every event as it comes)."""
    if sensor_size is None:
        return
    w, h = int(sensor_size[0]), int(sensor_size[1])
    shape = tuple(model.input_shape)
    if len(shape) >= 2:
        fits, expected = w <= shape[-1] and h <= shape[-2], f"at most {shape[-1]}x{shape[-2]} (W x H)"
    else:
        fits, expected = h == 1 and w <= shape[0], f"at most {shape[0]}x1 (input shape {list(shape)})"
    if not fits:
        raise ShapeError(f"{what}: the sensor is {w}x{h} but the model's input {list(shape)} takes {expected}",
                         what=f"{what}: sensor size", expected=expected, found=f"{w}x{h}")


def find_event_files(paths: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    """The files to replay: each path itself, or for a directory its event files (by extension,
    hidden files skipped, not recursive), sorted by name."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: List[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            names = sorted(n for n in os.listdir(p) if not n.startswith(".")
                           and os.path.splitext(n)[1].lower() in EVENT_EXTENSIONS
                           and os.path.isfile(os.path.join(p, n)))
            files.extend(os.path.join(p, n) for n in names)
        elif os.path.exists(p):
            files.append(p)
        else:
            raise FileNotFoundError(2, "No such file or directory", p)
    return files


@dataclass
class FileResult:
    """What one file gave. ``spikes`` (``SPIKE_DTYPE``) are the model's output spikes;
    ``window_start_us``, ``window_events``, ``window_counts`` (windows x outputs) and
    ``window_decisions`` (output index, -1 for none) describe the consecutive windows;
    ``counts`` are the output spikes per output neuron over the file; ``stats`` are the
    engine's counters after the file (``synops``, ``layer_spikes``, ...); ``error`` is the
    exception that stopped the file, if any (its results up to the fault are kept)."""

    path: str
    labels: List[str]
    window_us: int
    format: Optional[str] = None
    sensor_size: Optional[Tuple[int, int]] = None
    events: int = 0
    t_first_us: Optional[int] = None
    t_last_us: Optional[int] = None
    spikes: np.ndarray = field(default_factory=lambda: np.zeros(0, SPIKE_DTYPE))
    window_start_us: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    window_events: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    window_counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    window_decisions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stats: Dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    skipped_bytes: int = 0
    faults: int = 0
    error: Optional[BaseException] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def duration_us(self) -> int:
        """Recording time covered: last event's time minus the first's (0 without events)."""
        return 0 if self.t_first_us is None or self.t_last_us is None else self.t_last_us - self.t_first_us

    @property
    def decision(self) -> Optional[int]:
        """The output neuron with the most spikes over the file (lowest index on ties), or None."""
        return int(np.argmax(self.counts)) if self.counts.size and self.counts.sum() else None

    @property
    def label(self) -> str:
        d = self.decision
        return "none" if d is None else self.labels[d]

    @property
    def window_labels(self) -> List[str]:
        return ["none" if d < 0 else self.labels[d] for d in self.window_decisions.tolist()]

    @property
    def synops(self) -> int:
        return int(self.stats.get("synops", 0))

    @property
    def real_time_factor(self) -> Optional[float]:
        """Recording time over wall time (above 1: faster than the sensor produced it)."""
        return self.duration_us / 1e6 / self.wall_s if self.duration_us and self.wall_s > 0 else None

    def summary(self) -> Dict[str, Any]:
        """The file's summary as plain JSON-able values (no per-window or per-spike data)."""
        rtf = self.real_time_factor
        return {
            "type": "file", "path": self.path, "format": self.format,
            "sensor_size": list(self.sensor_size) if self.sensor_size else None,
            "ok": self.ok, "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
            "events": self.events, "t_first_us": self.t_first_us, "t_last_us": self.t_last_us,
            "duration_us": self.duration_us, "output_spikes": int(len(self.spikes)),
            "spikes_per_output": {l: int(c) for l, c in zip(self.labels, self.counts.tolist())},
            "decision": self.decision, "label": self.label, "windows": int(len(self.window_decisions)),
            "window_us": self.window_us,
            "window_decisions": {l: n for l, n in _tally(self.window_labels, self.labels).items()},
            "synops": self.synops, "layer_spikes": {k: int(v) for k, v in self.stats.get("layer_spikes", {}).items()},
            "wall_s": round(self.wall_s, 6), "events_per_s": round(self.events / self.wall_s) if self.wall_s > 0 else None,
            "real_time_factor": None if rtf is None else round(rtf, 3),
            "skipped_bytes": self.skipped_bytes, "faults": self.faults,
        }

    def window_rows(self) -> Iterable[Dict[str, Any]]:
        """One dict per window: start, end, events, spikes per output, decision."""
        starts = self.window_start_us.tolist()
        evs = self.window_events.tolist()
        counts = self.window_counts.tolist()
        labels = self.window_labels
        for i, d in enumerate(self.window_decisions.tolist()):
            yield {"type": "window", "path": self.path, "t_start_us": starts[i], "t_end_us": starts[i] + self.window_us,
                   "events": evs[i], "counts": counts[i], "decision": None if d < 0 else d, "label": labels[i]}


def _tally(names: Sequence[str], labels: Sequence[str]) -> Dict[str, int]:
    out = {l: 0 for l in list(labels) + ["none"]}
    for n in names:
        out[n] += 1
    return {k: v for k, v in out.items() if v}


@dataclass
class ReplayResult:
    """Per-file results (``files``) and totals over them."""

    files: List[FileResult]
    labels: List[str]
    window_us: int
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def failed(self) -> List[FileResult]:
        return [f for f in self.files if not f.ok]

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def counts(self) -> np.ndarray:
        total = np.zeros(len(self.labels), np.int64)
        for f in self.files:
            if f.counts.size:
                total += f.counts
        return total

    @property
    def output_spikes(self) -> int:
        return int(self.counts.sum())

    @property
    def synops(self) -> int:
        return sum(f.synops for f in self.files)

    @property
    def duration_us(self) -> int:
        return sum(f.duration_us for f in self.files)

    @property
    def real_time_factor(self) -> Optional[float]:
        return self.duration_us / 1e6 / self.wall_s if self.duration_us and self.wall_s > 0 else None

    def summary(self) -> Dict[str, Any]:
        rtf = self.real_time_factor
        windows: Dict[str, int] = {}
        for f in self.files:
            for k, v in _tally(f.window_labels, self.labels).items():
                windows[k] = windows.get(k, 0) + v
        return {
            "type": "total", "files": len(self.files), "failed": len(self.failed), "ok": self.ok,
            "events": self.events, "output_spikes": self.output_spikes,
            "spikes_per_output": {l: int(c) for l, c in zip(self.labels, self.counts.tolist())},
            "file_decisions": {f.path: f.label for f in self.files},
            "windows": sum(len(f.window_decisions) for f in self.files), "window_us": self.window_us,
            "window_decisions": windows, "synops": self.synops, "duration_us": self.duration_us,
            "wall_s": round(self.wall_s, 6), "events_per_s": round(self.events / self.wall_s) if self.wall_s > 0 else None,
            "real_time_factor": None if rtf is None else round(rtf, 3),
        }


# ---- progress -------------------------------------------------------------------------------

class Progress:
    """A one-line progress display on a terminal (``\\r``, no dependency): file, events,
    events/s, real-time factor; refreshed at most 10 times a second. Silent when ``enabled``
    is false or the stream is not a terminal."""

    def __init__(self, enabled: bool, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(enabled) and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._width = 0

    def update(self, prefix: str, events: int, total: Optional[int], wall_s: float, rec_us: int,
               force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        pct = f" {100.0 * events / total:5.1f}%" if total else ""
        eps = events / wall_s if wall_s > 0 else 0.0
        rtf = rec_us / 1e6 / wall_s if wall_s > 0 else 0.0
        line = f"{prefix}{pct} {events:,} events  {eps / 1e6:.2f} M events/s  real-time x{rtf:.1f}"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


# ---- the loop -------------------------------------------------------------------------------

def _parse_speed(speed: Union[str, float, None]) -> Optional[float]:
    """None for "max" (as fast as possible), else the factor over recorded speed."""
    if speed is None or (isinstance(speed, str) and speed.strip().lower() == "max"):
        return None
    try:
        x = float(speed)
    except (TypeError, ValueError):
        x = float("nan")
    if not x > 0 or x == float("inf"):
        raise InvalidParameterError(f"speed: expected 'max' or a positive number, found {speed!r}",
                                    what="speed", parameter="speed", value=speed, expected="'max' or > 0")
    return x


def _window_us(model: Model, window_us: Optional[int]) -> int:
    tick = model.tick_us
    if window_us is None:
        return max(tick, (50_000 // tick) * tick)
    if isinstance(window_us, bool) or not isinstance(window_us, (int, np.integer)) or window_us <= 0 \
            or window_us % tick:
        raise InvalidParameterError(
            f"window_us must be a positive multiple of the model's tick ({tick} us), found {window_us!r}",
            what="window_us", parameter="window_us", value=window_us, expected=f"a positive multiple of {tick}")
    return int(window_us)


def _replay_file(engine: Engine, path: str, labels: List[str], window_us: int, speed: Optional[float],
                 on_error: str, progress: Progress, prefix: str, chunk_events: int) -> FileResult:
    model = engine.model
    n_out = len(labels)
    res = FileResult(path=path, labels=labels, window_us=window_us, counts=np.zeros(n_out, np.int64),
                     window_counts=np.zeros((0, n_out), np.int64))
    engine.reset()
    spikes: List[np.ndarray] = []
    # events per window, as (first window index, counts of consecutive windows) per chunk
    ev_windows: List[Tuple[int, np.ndarray]] = []
    total: Optional[int] = None
    t_start = time.perf_counter()
    t_pace0 = t_start
    stream: Any = None
    try:
        if path.lower().endswith(".wav"):
            stream = _WavEvents(path, model.input_shape[-1])
        else:
            stream = open_events(path, chunk_events=chunk_events, chunk_us=None if speed is None else _PACE_CHUNK_US,
                                 on_error=on_error)
        res.format, res.sensor_size = stream.format, stream.sensor_size
        check_input_fits(model, stream.sensor_size, what=path)
        if progress.enabled:  # the event count, for a percentage, where the format makes it cheap
            try:
                total = _probe_events(path)
            except (SnnEdgeError, OSError):
                total = None
        for chunk in stream:
            if not len(chunk):
                continue
            t = chunk["t"]
            if res.t_first_us is None:
                res.t_first_us = int(t[0])
                t_pace0 = time.perf_counter()  # the recording's clock starts at its first event
            if speed is not None:
                due = t_pace0 + (int(t[-1]) - res.t_first_us) / 1e6 / speed
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            try:
                s = engine.feed(chunk)
            except SnnEdgeError as e:
                # the engine refused the chunk before consuming any of it and names the bad event by
                # its index in the chunk: feed what precedes it, and say where it is in the file
                bad = getattr(e, "index", None)
                if isinstance(bad, int) and 0 <= bad < len(chunk):
                    head = chunk[:bad]
                    if len(head):
                        _account(res, engine.feed(head), head, spikes, ev_windows)
                    text, local = str(e), f"event {bad}:"
                    e.index = res.events  # type: ignore[attr-defined]
                    e.args = (f"{path}: event {res.events}:{text[len(local):]}" if text.startswith(local)
                              else f"{path}: event {res.events} of the file: {text}",)
                else:
                    e.args = (f"{path}: events {res.events}..{res.events + len(chunk) - 1}: {e}",)
                raise
            _account(res, s, chunk, spikes, ev_windows)
            progress.update(prefix, res.events, total, time.perf_counter() - t_start, int(t[-1]) - res.t_first_us)
    except (SnnEdgeError, OSError) as e:
        res.error = e
    if res.t_last_us is not None:
        try:
            s = engine.advance(res.t_last_us)  # close the last event's tick, as Engine.run does
            if len(s):
                spikes.append(s)
        except SnnEdgeError as e:  # pragma: no cover - advance to a reached time cannot fail
            res.error = res.error or e
    res.wall_s = time.perf_counter() - t_start
    if stream is not None:
        res.skipped_bytes, res.faults = stream.skipped_bytes, stream.fault_count
        stream.close()
    res.stats = engine.stats()
    res.spikes = np.concatenate(spikes, dtype=SPIKE_DTYPE) if spikes else np.zeros(0, SPIKE_DTYPE)
    _windows(res, ev_windows, n_out)
    return res


def _account(res: FileResult, spikes_now: np.ndarray, chunk: np.ndarray, spikes: List[np.ndarray],
             ev_windows: List[Tuple[int, np.ndarray]]) -> None:
    """Books a fed chunk: its output spikes, its events per window, the event count and time."""
    if len(spikes_now):
        spikes.append(spikes_now)
    t = chunk["t"]
    W = res.window_us
    # events per window: the chunk is sorted, so its window edges cut it (no per-event division)
    w0, w1 = int(t[0]) // W, int(t[-1]) // W
    edges = np.searchsorted(t, np.arange(w0, w1 + 2, dtype=np.uint64) * np.uint64(W))
    ev_windows.append((w0, edges[1:] - edges[:-1]))
    res.events += len(chunk)
    res.t_last_us = int(t[-1])


def _probe_events(path: str) -> Optional[int]:
    from .formats import probe

    if os.path.splitext(path)[1].lower() in (".npz", ".csv"):
        return None  # probing would read the whole file once more
    n = probe(path)["events"]
    return None if n is None else int(n)


def _windows(res: FileResult, ev_windows: List[Tuple[int, np.ndarray]], n_out: int) -> None:
    """Per-window event counts, spike counts and decisions, from the per-chunk tallies and the
    spikes (a few numpy calls per file)."""
    if res.t_first_us is None or res.t_last_us is None:
        return
    W = res.window_us
    sp = res.spikes
    lo, hi = res.t_first_us, res.t_last_us
    if len(sp):  # a model with biases can spike before the first event
        lo, hi = min(lo, int(sp["t"].min())), max(hi, int(sp["t"].max()))
    first, last = lo // W, hi // W
    n = last - first + 1
    res.window_start_us = (np.arange(n, dtype=np.int64) + first) * W
    evs = np.zeros(n, np.int64)
    for w0, c in ev_windows:
        evs[w0 - first: w0 - first + len(c)] += c
    res.window_events = evs
    idx = (sp["t"] // np.uint64(W)).astype(np.int64) - first
    flat = np.bincount(idx * n_out + sp["neuron"].astype(np.int64), minlength=n * n_out)
    res.window_counts = flat[: n * n_out].reshape(n, n_out)
    silent = res.window_counts.sum(axis=1) == 0
    res.window_decisions = np.where(silent, -1, np.argmax(res.window_counts, axis=1)).astype(np.int64)
    res.counts = np.bincount(sp["neuron"].astype(np.int64), minlength=n_out)[:n_out].astype(np.int64)


# ---- result files ---------------------------------------------------------------------------

def _out_kind(out: PathLike) -> str:
    ext = os.path.splitext(os.fspath(out))[1].lower()
    if ext in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if ext == ".npz":
        return "npz"
    raise InvalidParameterError(f"out: cannot tell the results format from {os.fspath(out)!r}; use .jsonl or .npz",
                                what="out", parameter="out", value=os.fspath(out), expected=".jsonl or .npz")


def write_npz(result: ReplayResult, path: PathLike) -> None:
    """Results as a numpy archive (no pickle): ``files``, ``labels``, ``window_us``, and per file
    ``i``: ``spikes_i`` (SPIKE_DTYPE), ``window_start_us_i``, ``window_events_i``,
    ``window_counts_i`` (windows x outputs), ``window_decisions_i`` (-1: none), ``counts_i``,
    ``error_i`` (empty when it succeeded); plus ``summary``, the total as a JSON string."""
    arrays: Dict[str, np.ndarray] = {
        "files": np.array([f.path for f in result.files], dtype=str),
        "labels": np.array(result.labels, dtype=str),
        "window_us": np.array(result.window_us, np.int64),
        "summary": np.array(json.dumps(result.summary())),
    }
    for i, f in enumerate(result.files):
        arrays[f"spikes_{i}"] = f.spikes
        arrays[f"window_start_us_{i}"] = f.window_start_us
        arrays[f"window_events_{i}"] = f.window_events
        arrays[f"window_counts_{i}"] = f.window_counts
        arrays[f"window_decisions_{i}"] = f.window_decisions
        arrays[f"counts_{i}"] = f.counts
        arrays[f"error_{i}"] = np.array("" if f.error is None else f"{type(f.error).__name__}: {f.error}")
    with open(os.fspath(path), "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def replay(paths: Union[PathLike, Sequence[PathLike]], model: Union[Model, PathLike], *,
           speed: Union[str, float] = "max", window_us: Optional[int] = None, out: Optional[PathLike] = None,
           raster: Optional[PathLike] = None, progress: bool = True, on_error: str = "stop",
           chunk_events: int = _CHUNK_EVENTS) -> ReplayResult:
    """Replays event files (or directories of them) through ``model``; returns a
    :class:`ReplayResult`.

    ``speed``: ``"max"`` (as fast as possible), ``1.0`` (the recording's own pace: each chunk is
    fed when its last event is due on the wall clock), or any factor ``x > 0``. ``window_us``:
    the decision window (default 50 ms, a multiple of the model's tick). ``out``: also write the
    results, as JSON lines (``.jsonl``: one line per window, one per file, one total) or numpy
    (``.npz``, see :func:`write_npz`). ``raster``: also draw the output spikes of every file to
    this image (needs matplotlib, the ``[plot]`` extra). ``progress``: a progress line on
    stderr when it is a terminal. ``on_error``: what the readers do with a corrupt part of a
    file: ``"stop"`` ends that file there (an error in its result), ``"skip"`` resynchronises
    and counts the skipped bytes. ``chunk_events``: events per engine call (memory; the
    output does not depend on it).

    Files that fail do not stop the replay; ``result.ok`` says whether all succeeded.
    """
    m = model if isinstance(model, Model) else Model.load(model)
    pace = _parse_speed(speed)
    W = _window_us(m, window_us)
    if on_error not in ("stop", "skip"):
        raise InvalidParameterError(f"on_error: expected 'stop' or 'skip', found {on_error!r}",
                                    what="on_error", parameter="on_error", value=on_error, expected="'stop' or 'skip'")
    if isinstance(chunk_events, bool) or not isinstance(chunk_events, (int, np.integer)) or chunk_events < 1:
        raise InvalidParameterError(f"chunk_events: expected a positive integer, found {chunk_events!r}",
                                    what="chunk_events", parameter="chunk_events", value=chunk_events, expected=">= 1")
    kind = _out_kind(out) if out is not None else None
    if raster is not None:
        from .plot import require_matplotlib
        require_matplotlib()
    files = find_event_files(paths)
    labels = labels_of(m)
    engine = Engine(m)
    prog = Progress(progress)
    result = ReplayResult(files=[], labels=labels, window_us=W)
    jl: Optional[IO[str]] = open(os.fspath(out), "w") if kind == "jsonl" and out is not None else None
    t0 = time.perf_counter()
    try:
        for i, path in enumerate(files):
            name = os.path.basename(path)
            r = _replay_file(engine, path, labels, W, pace, on_error, prog, f"[{i + 1}/{len(files)}] {name}",
                             int(chunk_events))
            prog.end()
            result.files.append(r)
            if jl is not None:
                for row in r.window_rows():
                    jl.write(json.dumps(row) + "\n")
                jl.write(json.dumps(r.summary()) + "\n")
                jl.flush()
        result.wall_s = time.perf_counter() - t0
        if jl is not None:
            jl.write(json.dumps(result.summary()) + "\n")
    finally:
        prog.end()
        if jl is not None:
            jl.close()
    if kind == "npz" and out is not None:
        write_npz(result, out)
    if raster is not None:
        from .plot import raster_files
        raster_files(result, path=raster)
    return result


__all__ = ["replay", "ReplayResult", "FileResult", "find_event_files", "check_input_fits", "labels_of",
           "write_npz", "EVENT_EXTENSIONS", "Progress"]
