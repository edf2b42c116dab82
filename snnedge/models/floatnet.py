"""A float network: the imported description, and its simulation in numpy.

This is the reference that quantization is measured against. It keeps every parameter of the
source graph (per-neuron time constants, resistances, leaks, thresholds, resets, biases,
delays) and simulates it the way the frameworks that export NIR agree on (``reference/nir.md``):

- forward Euler with one update per step of length ``dt``; for current-based neurons the
  current first, then the membrane with the new current;
- a spike when the membrane is strictly above threshold;
- a spike reaches the next layer in the same step; a connection marked ``recurrent`` (the
  edge that closes a cycle) carries the previous step's spikes (delay >= 1);
- the input of a neuron in a step is the sum over its connections of ``W @ s`` plus the
  layer's constant input ``params["bias"]`` (the biases of the linear nodes feeding it).

Per step, with ``x`` the input:

=========== ===========================================================================
IF          ``v += dt * r * x``
Integrator  ``v += dt * r * x`` (no spikes)
LIF, LI     ``v += dt / tau * (v_leak - v + r * x)``
CubaLIF,    ``I += dt / tau_syn * (-I + w_in * x)``;
CubaLI      ``v += dt / tau_mem * (v_leak - v + r * I)``
Threshold   ``z = x > v_threshold`` (stateless)
=========== ===========================================================================

Spiking layers then set ``z = v > v_threshold`` and reset ``v = v_reset`` where ``z``
(``reset="value"``) or ``v -= v_threshold`` (``reset="subtract"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..events import SPIKE_DTYPE, as_events

SPIKING = ("IF", "LIF", "CubaLIF", "Threshold")
KINDS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator", "Threshold")


@dataclass
class FloatLayer:
    """A population with float parameters, one value per neuron (C-order, flattened)."""

    name: str
    kind: str
    shape: Tuple[int, ...]
    params: Dict[str, np.ndarray]
    reset: str = "value"
    source: str = ""  # the NIR node it came from

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING

    def param(self, key: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.params[key], np.float64).reshape(-1), (self.size,))


@dataclass
class FloatConnection:
    """A linear map from a source (``"input"`` or a layer) to a layer.

    ``kind`` is ``"dense"`` (``weight[n_target, n_source]``) or ``"conv"``
    (``weight[C_out, C_in, kh, kw]`` with ``stride`` and ``padding``, on ``(C, H, W)``
    shapes). ``delay`` is in steps; ``delays`` (per source neuron, steps) adds a delay per
    source.
    """

    name: str
    source: str
    target: str
    kind: str
    weight: np.ndarray
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    delay: int = 0
    delays: Optional[np.ndarray] = None
    recurrent: bool = False
    source_nodes: Tuple[str, ...] = ()


@dataclass
class FloatResult:
    """What a float run produced: spikes per layer ``[steps, neurons]`` (bool), the output
    layer's spikes as ``SPIKE_DTYPE`` records, the membrane of every layer at each step
    (``[steps, neurons]``, when recorded) and the step length in µs."""

    spikes: Dict[str, np.ndarray]
    output: np.ndarray
    potentials: Dict[str, np.ndarray]
    tick_us: int

    def counts(self, layer: str) -> np.ndarray:
        return self.spikes[layer].sum(axis=0)


@dataclass
class FloatNetwork:
    """An imported network with float parameters (see the module documentation)."""

    input_shape: Tuple[int, ...]
    layers: List[FloatLayer]
    connections: List[FloatConnection]
    output: str
    dt: float
    tick_us: int
    reset: str = "value"
    metadata: Dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> FloatLayer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)

    def shape_of(self, node: str) -> Tuple[int, ...]:
        return self.input_shape if node == "input" else self.layer(node).shape

    # ---- simulation -------------------------------------------------------------------

    def input_frames(self, events: Any, n_steps: Optional[int] = None) -> np.ndarray:
        """Event counts per step and input neuron, ``[steps, n_input]`` (float64)."""
        ev = as_events(events)
        shape = self.input_shape
        n_in = int(np.prod(shape))
        steps = (ev["t"] // self.tick_us).astype(np.int64)
        if n_steps is None:
            n_steps = int(steps.max()) + 1 if len(ev) else 0
        keep = steps < n_steps
        ev, steps = ev[keep], steps[keep]
        if len(shape) == 3:
            idx = (ev["p"].astype(np.int64) * shape[1] + ev["y"]) * shape[2] + ev["x"]
        elif len(shape) == 2:
            idx = ev["y"].astype(np.int64) * shape[1] + ev["x"]
        else:
            idx = ev["x"].astype(np.int64)
        frames = np.zeros((n_steps, n_in))
        np.add.at(frames, (steps, idx), 1.0)
        return frames

    def run(self, events: Any = None, n_steps: Optional[int] = None, frames: Optional[np.ndarray] = None,
            record: bool = False) -> FloatResult:
        """Simulates ``n_steps`` steps (default: through the last event's step) on events or on
        ready-made input ``frames`` ``[steps, n_input]``."""
        if frames is None:
            frames = self.input_frames(events, n_steps)
        T = frames.shape[0]
        dt = self.dt
        order = [l.name for l in self.layers]
        spikes = {l.name: np.zeros((T, l.size), bool) for l in self.layers}
        pots = {l.name: np.zeros((T, l.size)) for l in self.layers} if record else {}
        v = {l.name: np.zeros(l.size) for l in self.layers}
        cur = {l.name: np.zeros(l.size) for l in self.layers}
        incoming: Dict[str, List[FloatConnection]] = {n: [] for n in order}
        for c in self.connections:
            incoming[c.target].append(c)
        for k in range(T):
            for name in order:
                l = self.layer(name)
                x = np.zeros(l.size)
                for c in incoming[name]:
                    x += _apply(c, self, frames, spikes, k)
                if "bias" in l.params:
                    x += l.params["bias"]
                v_new, i_new, z = _step(l, v[name], cur[name], x, dt)
                v[name], cur[name] = v_new, i_new
                spikes[name][k] = z
                if record:
                    pots[name][k] = v_new
        ts, ns = np.nonzero(spikes[self.output])
        out = np.zeros(ts.size, SPIKE_DTYPE)
        out["t"] = ts.astype(np.uint64) * np.uint64(self.tick_us)
        out["neuron"] = ns
        return FloatResult(spikes=spikes, output=out, potentials=pots, tick_us=self.tick_us)


def _source_spikes(c: FloatConnection, net: FloatNetwork, frames: np.ndarray, spikes: Dict[str, np.ndarray],
                   k: int) -> np.ndarray:
    """Source activity seen by the connection in step k (with its delays)."""
    src = frames if c.source == "input" else spikes[c.source]
    n_src = src.shape[1]
    if c.delays is None:
        j = k - c.delay
        return src[j].astype(np.float64) if j >= 0 else np.zeros(n_src)
    out = np.zeros(n_src)
    for d in np.unique(c.delays):
        j = k - c.delay - int(d)
        if j >= 0:
            sel = c.delays == d
            out[sel] = src[j][sel]
    return out


def _apply(c: FloatConnection, net: FloatNetwork, frames: np.ndarray, spikes: Dict[str, np.ndarray], k: int) -> np.ndarray:
    s = _source_spikes(c, net, frames, spikes, k)
    if not s.any():
        return np.zeros(net.layer(c.target).size)
    if c.kind == "dense":
        return c.weight @ s
    shape = net.shape_of(c.source)
    cin, h, w = shape if len(shape) == 3 else (1,) + tuple(shape) if len(shape) == 2 else (1, 1, shape[0])
    return conv2d(s.reshape(cin, h, w), c.weight, c.stride, c.padding).reshape(-1)


def conv2d(x: np.ndarray, k: np.ndarray, stride: Sequence[int], padding: Sequence[int]) -> np.ndarray:
    """Plain cross-correlation (PyTorch's Conv2d) of ``x[C, H, W]`` with ``k[O, C, kh, kw]``."""
    ph, pw = padding
    sh, sw = stride
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, k.shape[2:], axis=(1, 2))[:, ::sh, ::sw]
    return np.einsum("chwij,ocij->ohw", win, k, optimize=True)


def _step(l: FloatLayer, v: np.ndarray, i: np.ndarray, x: np.ndarray, dt: float):
    kind = l.kind
    if kind == "Threshold":
        z = x > l.param("v_threshold")
        return v, i, z
    r = l.param("r")
    if kind in ("IF", "Integrator"):
        v = v + dt * r * x
    elif kind in ("LIF", "LI"):
        v = v + dt / l.param("tau") * (l.param("v_leak") - v + r * x)
    elif kind in ("CubaLIF", "CubaLI"):
        i = i + dt / l.param("tau_syn") * (-i + l.param("w_in") * x)
        v = v + dt / l.param("tau_mem") * (l.param("v_leak") - v + r * i)
    else:
        raise ValueError(kind)
    if kind in ("IF", "LIF", "CubaLIF"):
        thr = l.param("v_threshold")
        z = v > thr
        if z.any():
            v = v.copy()
            if l.reset == "subtract":
                v[z] -= thr[z]
            else:
                v[z] = l.param("v_reset")[z]
        return v, i, z
    return v, i, np.zeros(l.size, bool)
