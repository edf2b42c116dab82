"""Pictures of events and spikes: raster plots, accumulated event frames, animations, firing rates.

    from snnedge import plot
    plot.raster(result.files[0].spikes, labels=result.labels, path="raster.png")
    frame = plot.event_frame(events, (640, 480))          # numpy (2, H, W): OFF and ON counts
    plot.plot_frame(events, (640, 480), path="frame.png")
    plot.animate(events, (640, 480), "clip.gif", frame_us=10_000, fps=20)
    plot.rates(engine, path="rates.png")                   # mean firing rate per layer

Drawing needs matplotlib (the optional ``[plot]`` extra: ``pip install 'snnedge[plot]'``); it
is imported only when a function draws, and its absence raises
:class:`~snnedge.errors.MissingDependencyError`. :func:`event_frame` and :func:`layer_rates`
are numpy only. With ``path`` a figure is drawn off-screen (no GUI) and saved; with ``ax`` the
drawing goes into that axes; with neither, into a new pyplot figure.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import MissingDependencyError, ShapeError
from .events import as_events

if TYPE_CHECKING:
    from .engine import Engine
    from .model import Model
    from .replay import FileResult, ReplayResult

PathLike = Union[str, "os.PathLike[str]"]

#: The colour of raster markers (matplotlib's first default colour).
SPIKE_COLOR = "#1f77b4"


def require_matplotlib() -> Any:
    """The ``matplotlib`` module, or :class:`MissingDependencyError` naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "drawing needs matplotlib, which is not installed: pip install 'snnedge[plot]'",
            package="matplotlib", extra="plot") from None
    return matplotlib


def _axes(ax: Any, path: Optional[PathLike], figsize: Tuple[float, float]) -> Any:
    """``ax`` itself, or a new axes: off-screen (Agg, no pyplot) when saving to ``path``."""
    require_matplotlib()
    if ax is not None:
        return ax
    if path is not None:
        from matplotlib.figure import Figure

        return Figure(figsize=figsize).add_subplot()
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _save(ax: Any, path: Optional[PathLike], dpi: int = 100) -> None:
    if path is not None:
        fig = ax.get_figure()
        fig.tight_layout()
        fig.savefig(os.fspath(path), dpi=dpi)


# ---- spikes ---------------------------------------------------------------------------------

def raster(spikes: np.ndarray, labels: Optional[Sequence[str]] = None, ax: Any = None,
           path: Optional[PathLike] = None, *, t0_us: Optional[int] = None, n_outputs: Optional[int] = None,
           title: Optional[str] = None, color: str = SPIKE_COLOR, dpi: int = 100) -> Any:
    """Raster plot of output spikes (``SPIKE_DTYPE``): one ``|`` marker per spike at its time
    (ms after ``t0_us``, default 0) and neuron (one row per output, named by ``labels``).
    Returns the matplotlib collection of markers (``.get_offsets()`` has one row per spike;
    ``.axes`` is the axes)."""
    sp = np.asarray(spikes)
    if sp.dtype.names is None or not {"t", "neuron"} <= set(sp.dtype.names):
        raise ShapeError(f"raster: expected spikes with t and neuron fields (SPIKE_DTYPE), found {sp.dtype}",
                         what="spikes", expected="SPIKE_DTYPE", found=str(sp.dtype))
    n = n_outputs if n_outputs is not None else (len(labels) if labels else (int(sp["neuron"].max()) + 1 if len(sp) else 1))
    a = _axes(ax, path, (8.0, 1.2 + 0.35 * n))
    base = 0 if t0_us is None else int(t0_us)
    x = (sp["t"].astype(np.int64) - base) / 1000.0
    y = sp["neuron"].astype(np.int64)
    coll = a.scatter(x, y, marker="|", s=60, linewidths=1.0, color=color)
    a.set_ylim(-0.5, n - 0.5)
    a.set_yticks(range(n))
    a.set_yticklabels(list(labels) if labels else [str(i) for i in range(n)])
    a.set_xlabel("time (ms)" if t0_us is None else "time since the first event (ms)")
    a.set_ylabel("output")
    if title:
        a.set_title(title, fontsize=9)
    _save(a, path, dpi)
    return coll


def raster_files(result: "ReplayResult", path: Optional[PathLike] = None, max_files: int = 16, dpi: int = 100) -> List[Any]:
    """One raster per replayed file (the first ``max_files``), stacked in one figure, each in
    ms from its file's first event; returns the marker collections."""
    require_matplotlib()
    files = result.files[:max_files]
    n_out = len(result.labels)
    rows = max(1, len(files))
    h = 1.0 + 0.35 * n_out
    if path is not None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.0, 0.6 + h * rows))
        axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    else:
        import matplotlib.pyplot as plt

        axes = plt.subplots(rows, 1, squeeze=False, figsize=(8.0, 0.6 + h * rows))[1][:, 0]
    colls = []
    for ax, f in zip(axes, files):
        counts = "/".join(str(int(c)) for c in f.counts.tolist())
        title = f"{os.path.basename(f.path)}: {len(f.spikes)} output spikes ({counts}), decision {f.label}"
        if not f.ok:
            title += " [failed: partial]"
        colls.append(raster(f.spikes, result.labels, ax=ax, t0_us=f.t_first_us, n_outputs=n_out, title=title))
    if path is not None:
        fig = axes[0].get_figure()
        fig.tight_layout()
        fig.savefig(os.fspath(path), dpi=dpi)
    return colls


# ---- events ---------------------------------------------------------------------------------

def _size(sensor_size: Any) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in tuple(sensor_size)[:2])
    except (TypeError, ValueError):
        raise ShapeError(f"sensor_size: expected (width, height), found {sensor_size!r}",
                         what="sensor_size", expected="(width, height)", found=repr(sensor_size)) from None
    if w < 1 or h < 1:
        raise ShapeError(f"sensor_size: expected positive sizes, found {(w, h)}", what="sensor_size",
                         expected="positive", found=str((w, h)))
    return w, h


def event_frame(events: Any, sensor_size: Any, t0: Optional[int] = None, t1: Optional[int] = None) -> np.ndarray:
    """Events accumulated into an image: an int64 array ``(2, height, width)`` with the OFF
    (``[0]``) and ON (``[1]``) event counts of each pixel, over events with ``t0 <= t < t1``
    (µs, same time base as the events; default: all). Numpy only."""
    ev = as_events(events)
    w, h = _size(sensor_size)
    if t0 is not None or t1 is not None:
        t = ev["t"]
        keep = np.ones(len(ev), bool)
        if t0 is not None:
            keep &= t >= np.uint64(max(0, int(t0)))
        if t1 is not None:
            keep &= t < np.uint64(max(0, int(t1)))
        ev = ev[keep]
    x = ev["x"].astype(np.int64)
    y = ev["y"].astype(np.int64)
    if len(ev) and (int(x.max()) >= w or int(y.max()) >= h):
        bad = int(np.flatnonzero((x >= w) | (y >= h))[0])
        raise ShapeError(f"event_frame: event {bad} at x={int(x[bad])}, y={int(y[bad])} is outside the sensor {w}x{h}",
                         what="events", expected=f"x < {w}, y < {h}", found=f"x={int(x[bad])}, y={int(y[bad])}")
    p = (ev["p"] > 0).astype(np.int64)
    return np.bincount((p * h + y) * w + x, minlength=2 * h * w).reshape(2, h, w)


def frame_to_rgb(frame: np.ndarray, scale: Optional[float] = None) -> np.ndarray:
    """An ``event_frame`` as an RGB float image on white: ON pixels red, OFF pixels blue (both:
    dark), intensity by count up to ``scale`` (default: the 99th percentile of active pixels)."""
    off, on = frame[0].astype(np.float64), frame[1].astype(np.float64)
    if scale is None:
        active = (off + on)[(off + on) > 0]
        scale = max(1.0, float(np.percentile(active, 99))) if active.size else 1.0
    on_i, off_i = np.minimum(1.0, on / scale), np.minimum(1.0, off / scale)
    rgb = np.ones(off.shape + (3,))
    rgb[..., 0] -= off_i            # OFF removes red and green: blue
    rgb[..., 1] -= np.maximum(on_i, off_i)
    rgb[..., 2] -= on_i             # ON removes green and blue: red
    return np.clip(rgb, 0.0, 1.0)


def plot_frame(events: Any, sensor_size: Any, t0: Optional[int] = None, t1: Optional[int] = None, ax: Any = None,
               path: Optional[PathLike] = None, *, title: Optional[str] = None, dpi: int = 100) -> Any:
    """Draws :func:`event_frame` (ON red, OFF blue, white where nothing happened), origin at the
    top-left as in the events. ``events`` may also be a ready frame ``(2, H, W)``. Returns the
    matplotlib image."""
    arr = np.asarray(events)
    frame = arr if arr.dtype.names is None and arr.ndim == 3 else event_frame(events, sensor_size, t0, t1)
    h, w = frame.shape[1:]
    a = _axes(ax, path, (min(10.0, max(4.5, 2.0 + w / 64)), min(8.0, max(4.0, 1.5 + h / 64))))
    img = a.imshow(frame_to_rgb(frame), interpolation="nearest", origin="upper")
    a.set_xlabel("x")
    a.set_ylabel("y")
    a.set_title(title or f"{int(frame[1].sum())} ON (red), {int(frame[0].sum())} OFF (blue)", fontsize=9)
    _save(a, path, dpi)
    return img


def animate(events: Any, sensor_size: Any, path: PathLike, frame_us: int = 10_000, fps: int = 20, *,
            t0: Optional[int] = None, t1: Optional[int] = None, dpi: int = 80) -> int:
    """Writes an animated GIF of the events (``matplotlib``'s ``PillowWriter``): frame ``k``
    accumulates the events with ``t0 + k * frame_us <= t < t0 + (k + 1) * frame_us`` (``t0``
    default: the first event; ``t1`` default: just after the last). Every frame is titled with
    its time. Returns the number of frames, ``ceil((t1 - t0) / frame_us)``."""
    require_matplotlib()
    ev = as_events(events)
    w, h = _size(sensor_size)
    if frame_us <= 0 or fps <= 0:
        raise ShapeError(f"animate: frame_us and fps must be positive, found {frame_us}, {fps}",
                         what="frame_us/fps", expected="> 0", found=f"{frame_us}, {fps}")
    if t0 is None:
        t0 = int(ev["t"][0]) if len(ev) else 0
    if t1 is None:
        t1 = int(ev["t"][-1]) + 1 if len(ev) else t0 + frame_us
    n = max(1, -(-(int(t1) - int(t0)) // int(frame_us)))
    # frame k is the slice edges[k]:edges[k + 1] of the (sorted) events
    edges = np.searchsorted(ev["t"], np.uint64(t0) + np.arange(n + 1, dtype=np.uint64) * np.uint64(frame_us))
    edges[-1] = np.searchsorted(ev["t"], np.uint64(t1))
    edges[0] = np.searchsorted(ev["t"], np.uint64(t0))
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(min(8.0, max(4.5, 1.5 + w / 64)), min(6.0, max(4.0, 1.2 + h / 64))))
    ax = fig.add_subplot()
    img = ax.imshow(np.ones((h, w, 3)), interpolation="nearest", origin="upper")
    ax.set_xticks([])
    ax.set_yticks([])
    title = ax.set_title("", fontsize=9)

    def draw(k: int) -> Any:
        img.set_data(frame_to_rgb(event_frame(ev[edges[k]:edges[k + 1]], (w, h))))
        # the title also keeps consecutive frames distinct (GIF writers merge identical frames)
        title.set_text(f"frame {k + 1}/{n}: {(k * frame_us) / 1000:.1f}-{((k + 1) * frame_us) / 1000:.1f} ms, "
                       f"{int(edges[k + 1] - edges[k])} events")
        return img, title

    anim = FuncAnimation(fig, draw, frames=n, blit=False)
    anim.save(os.fspath(path), writer=PillowWriter(fps=int(fps)), dpi=dpi)
    return n


# ---- firing rates ---------------------------------------------------------------------------

def layer_rates(source: Union["Engine", "FileResult", Dict[str, int]], model: Optional["Model"] = None,
                duration_us: Optional[int] = None) -> Dict[str, float]:
    """Mean firing rate per layer (spikes per neuron per second) from the engine's per-layer
    spike counters (``Engine.stats()["layer_spikes"]``).

    ``source``: an :class:`Engine` (its counters over its whole run, time from 0 to its open
    tick), a replay :class:`FileResult` (``model`` needed; time from its first to its last
    event), or a dict of spike counts per layer (``model`` and ``duration_us`` needed). The
    rate is an average over the layer's neurons and the whole span: bursts are not visible."""
    from .engine import Engine

    if isinstance(source, Engine):
        model = source.model
        stats = source.stats()
        counts = dict(stats["layer_spikes"])
        if duration_us is None:
            duration_us = int(stats["ticks"]) * model.tick_us
    elif isinstance(source, dict):
        counts = dict(source)
    else:
        counts = dict(source.stats.get("layer_spikes", {}))
        if duration_us is None:
            duration_us = source.duration_us
    if model is None or duration_us is None:
        raise ShapeError("layer_rates: a model and a duration are needed with spike counts alone",
                         what="model/duration_us", expected="given", found="missing")
    seconds = max(int(duration_us), 1) / 1e6
    out = {}
    for name, _kind, shape in model.layers:
        n = int(np.prod(shape))
        out[name] = float(counts.get(name, 0)) / n / seconds
    return out


def rates(source: Union["Engine", "FileResult", Dict[str, int]], model: Optional["Model"] = None,
          duration_us: Optional[int] = None, ax: Any = None, path: Optional[PathLike] = None, dpi: int = 100) -> Any:
    """Horizontal bars of :func:`layer_rates` (Hz per neuron, one bar per layer, in the model's
    order). Returns the matplotlib bar container."""
    r = layer_rates(source, model, duration_us)
    a = _axes(ax, path, (6.0, 1.2 + 0.4 * len(r)))
    names = list(r)
    bars = a.barh(range(len(names)), [r[k] for k in names], color=SPIKE_COLOR)
    a.set_yticks(range(len(names)))
    a.set_yticklabels(names)
    a.invert_yaxis()
    a.set_xlabel("mean firing rate (spikes per neuron per second)")
    for i, k in enumerate(names):
        a.text(r[k], i, f" {r[k]:.3g}", va="center", fontsize=8)
    _save(a, path, dpi)
    return bars


__all__ = ["raster", "raster_files", "event_frame", "frame_to_rgb", "plot_frame", "animate", "layer_rates", "rates",
           "require_matplotlib", "SPIKE_COLOR"]
