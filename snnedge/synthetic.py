"""Synthetic event scenes: a DVS-like sensor watching simple stimuli, for trying things without
hardware. Deterministic for a given seed.

``moving_bars`` renders bright bars sweeping across the sensor in one of four directions: as a
bar moves, the pixels its leading edge enters brighten (ON events, p = 1) and the pixels its
trailing edge leaves darken (OFF events, p = 0). Each pixel crossing emits one event at a
random time inside its millisecond; some events are dropped and background noise is added,
as on a real sensor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .events import EVENT_DTYPE

#: Direction names, in the order of the bundled model's output neurons.
DIRECTIONS = ("right", "left", "down", "up")


@dataclass(frozen=True)
class Segment:
    """One stimulus of a scene: [t_start_us, t_end_us) with its direction label."""

    t_start_us: int
    t_end_us: int
    direction: str


def _bar(direction: str, t0_us: int, size: Tuple[int, int], width: int, speed_px_per_ms: float,
         rng: np.random.Generator, drop: float) -> Tuple[np.ndarray, int]:
    h, w = size
    horizontal = direction in ("right", "left")
    span = w if horizontal else h
    other = h if horizontal else w
    n_steps = span + width
    ts, xs, ys, ps = [], [], [], []
    for k in range(n_steps):
        t_step = t0_us + int(k * 1000 / speed_px_per_ms)
        for edge, pol in ((k, 1), (k - width, 0)):  # leading edge ON, trailing edge OFF
            if not 0 <= edge < span:
                continue
            pos = edge if direction in ("right", "down") else span - 1 - edge
            keep = rng.random(other) >= drop
            n = int(keep.sum())
            along = np.flatnonzero(keep)
            ts.append(t_step + rng.integers(0, int(1000 / speed_px_per_ms), n))
            if horizontal:
                xs.append(np.full(n, pos)); ys.append(along)
            else:
                xs.append(along); ys.append(np.full(n, pos))
            ps.append(np.full(n, pol))
    ev = np.zeros(sum(len(t) for t in ts), EVENT_DTYPE)
    if len(ev):
        ev["t"] = np.concatenate(ts); ev["x"] = np.concatenate(xs); ev["y"] = np.concatenate(ys)
        ev["p"] = np.concatenate(ps)
    return ev, t0_us + int(n_steps * 1000 / speed_px_per_ms)


def moving_bars(duration_s: float = 10.0, size: Tuple[int, int] = (32, 32), width: int = 3,
                speed_px_per_ms: float = 1.0, gap_ms: int = 60, noise_hz_per_pixel: float = 2.0,
                drop: float = 0.15, seed: int = 0) -> Tuple[np.ndarray, List[Segment]]:
    """A stream of bars in random directions, one after another, over ``duration_s`` seconds.

    Returns ``(events, segments)``: events sorted by time (``EVENT_DTYPE``, origin 0) and the
    ground truth, one ``Segment`` per bar.
    """
    rng = np.random.default_rng(seed)
    end_us = int(duration_s * 1e6)
    parts, segments = [], []
    t = gap_ms * 1000
    while True:
        direction = DIRECTIONS[int(rng.integers(0, 4))]
        ev, t_end = _bar(direction, t, size, width, speed_px_per_ms, rng, drop)
        if t_end > end_us:
            break
        parts.append(ev)
        segments.append(Segment(t, t_end, direction))
        t = t_end + gap_ms * 1000
    h, w = size
    n_noise = rng.poisson(noise_hz_per_pixel * h * w * duration_s)
    noise = np.zeros(n_noise, EVENT_DTYPE)
    noise["t"] = rng.integers(0, end_us, n_noise)
    noise["x"] = rng.integers(0, w, n_noise)
    noise["y"] = rng.integers(0, h, n_noise)
    noise["p"] = rng.integers(0, 2, n_noise)
    events = np.concatenate(parts + [noise], dtype=EVENT_DTYPE)  # numpy 2 drops the padding otherwise
    events = events[np.argsort(events["t"], kind="stable")]
    return events, segments


def stimulus_decisions(spikes: np.ndarray, segments: Sequence[Segment], labels: Sequence[str],
                       tail_us: int = 10_000) -> List[Optional[str]]:
    """The decision for each stimulus, as ``snnedge run`` scores it: the label of the output
    neuron with the most spikes (``SPIKE_DTYPE``) in ``[t_start_us, t_end_us + tail_us)``, the
    lowest index on a tie; None without a spike."""
    t = spikes["t"]
    out: List[Optional[str]] = []
    for seg in segments:
        sel = spikes["neuron"][(t >= seg.t_start_us) & (t < seg.t_end_us + tail_us)]
        out.append(str(labels[int(np.argmax(np.bincount(sel, minlength=len(labels))))]) if len(sel) else None)
    return out


__all__ = ["DIRECTIONS", "Segment", "moving_bars", "stimulus_decisions"]
