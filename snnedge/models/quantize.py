"""Quantization of a ``FloatNetwork`` to the integer contract (docs/numerics.md), with a report
that says in numbers what it costs.

How a float layer becomes integers (per neuron ``n``; ``sigma`` is the layer's state scale,
integer units per float unit of membrane):

- per-step factors: ``a_mem = dt/tau`` (LIF, LI), ``dt/tau_mem`` (current models), 1 for IF
  and Integrator; the membrane decay ``alpha_mem = 1 - a_mem`` in Q0.16 (``leak="multiply"``)
  or the nearest ``1 - 2^-k`` (``leak="shift"``, the bit-shift decay of Xylo-like hardware);
- a spike's contribution to the membrane is ``g * W`` with ``g = a_mem * r`` (IF: ``dt * r``;
  current models: ``a_mem * r * dt/tau_syn * w_in``, entering the current); it becomes the int
  weight ``round(sigma * g * W / 2^shift)``, added shifted left by ``shift`` (chosen per
  connection so that the largest weight just fits ``weight_bits``);
- ``v_leak`` and Affine biases become the membrane bias ``round(sigma * a_mem * (v_leak + r * b))``
  (current models: the bias enters the current, ``bias_syn``);
- the threshold ``floor(sigma * v_threshold) + 1`` (integer ``>=`` equals float ``>``), the
  reset value ``round(sigma * v_reset)``;
- ``sigma`` is chosen per layer from calibration: the largest ``|v|`` (and threshold, reset)
  the float network reached, with headroom, mapped to the top of the state range. Thresholds
  that differ per neuron are equalised by a per-neuron scale folded into the weight rows;
- or per channel (``granularity="channel"``): each neuron of a spiking layer (each output
  channel of a convolution) gets its own scale, so that its largest incoming weight uses the
  whole weight range as far as its membrane range leaves room; its threshold becomes
  ``threshold + theta_init[n]`` (docs/numerics.md section 12). Readouts keep one scale, so
  their potentials stay comparable.

``quantize`` tries the choices the format allows (state width 16/24/32 bits, leak by multiply
or by shift, scales per layer, then per channel, at the given weight width), runs the integer engine on the calibration data next
to the float network, and keeps the cheapest choice that meets the fidelity target.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..engine import Engine
from ..errors import ModelError, SnnEdgeError
from ..model import DECAY_ONE, Conv2d, Dense, Layer, Model
from .floatnet import FloatConnection, FloatLayer, FloatNetwork

HEADROOM = 2.0
MAX_SHIFT = 16


@dataclass
class LayerReport:
    name: str
    kind: str
    neurons: int
    scale: float
    threshold: Optional[int]
    decay_mem: int
    shifts: Dict[str, int]
    clipped_weights: float
    max_weight: int
    saturated_states: float
    rate_float: float
    rate_int: float
    status: str  # ok, dead, runaway, silent (never spikes in float either), readout


@dataclass
class Candidate:
    state_bits: int
    leak: str
    weight_bits: int
    output_agreement: float
    count_error: float
    spike_agreement: float
    accuracy_int: Optional[float]
    meets_target: bool
    granularity: str = "layer"


@dataclass
class QuantReport:
    """What quantization did and what it costs (per layer and for the network)."""

    weight_bits: int
    state_bits: int
    leak: str
    layers: List[LayerReport]
    samples: int
    output_agreement: float  # share of samples whose decision (argmax of output counts) matches float
    count_error: float  # mean over samples of sum|int - float| / sum(float) of the output counts
    spike_agreement: Dict[str, float]  # per layer: integer spikes / float spikes
    count_error_max: float = 0.0  # the same, worst sample
    accuracy_float: Optional[float] = None
    accuracy_int: Optional[float] = None
    target: Dict[str, float] = field(default_factory=dict)
    meets_target: bool = True
    candidates: List[Candidate] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    granularity: str = "layer"  # scales per layer, or per channel (output neuron / conv channel)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_markdown(self) -> str:
        lines = [
            f"**Quantization**: int{self.weight_bits} weights, {self.state_bits}-bit states, leak by {self.leak}, "
            f"scales per {self.granularity}; "
            f"{self.samples} calibration samples.",
            "",
            f"- decision agreement with float: {100 * self.output_agreement:.1f}%",
            f"- output count error (sum |int - float| / sum float): mean {100 * self.count_error:.2f}%, "
            f"worst sample {100 * self.count_error_max:.2f}%",
        ]
        if self.accuracy_float is not None:
            lines.append(f"- accuracy: float {100 * self.accuracy_float:.2f}%, integer {100 * (self.accuracy_int or 0):.2f}%")
        target = ", ".join(f"{k} {v}" for k, v in self.target.items())
        lines.append(f"- target ({target}): {'met' if self.meets_target else 'NOT met'}")
        lines += ["", "| layer | kind | neurons | scale | threshold | shifts | clipped w | saturated v | rate float | rate int | int/float spikes | status |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for l in self.layers:
            sh = ", ".join(f"{k}:{v}" for k, v in l.shifts.items())
            agree = self.spike_agreement.get(l.name, float("nan"))
            lines.append(f"| {l.name} | {l.kind} | {l.neurons} | {l.scale:.4g} | {l.threshold} | {sh} | "
                         f"{100 * l.clipped_weights:.2f}% | {100 * l.saturated_states:.3f}% | {l.rate_float:.4f} | "
                         f"{l.rate_int:.4f} | {agree:.3f} | {l.status} |")
        if self.candidates:
            lines += ["", "| candidate | decision agreement | count error | int/float spikes (min) | meets target |",
                      "|---|---|---|---|---|"]
            for c in self.candidates:
                lines.append(f"| int{c.weight_bits} w, {c.state_bits}-bit, {c.leak}, per {c.granularity} | "
                             f"{100 * c.output_agreement:.1f}% | "
                             f"{100 * c.count_error:.2f}% | {c.spike_agreement:.3f} | {'yes' if c.meets_target else 'no'} |")
        for w in self.warnings:
            lines.append(f"\n> warning: {w}")
        return "\n".join(lines)

    def plot(self, path: Optional[str] = None):
        """Bar plot of per-layer firing rates, float vs integer (needs matplotlib)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [l.name for l in self.layers]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names)), 3))
        ax.bar(x - 0.2, [l.rate_float for l in self.layers], 0.4, label="float")
        ax.bar(x + 0.2, [l.rate_int for l in self.layers], 0.4, label=f"int{self.weight_bits}")
        ax.set_xticks(x, names, rotation=30)
        ax.set_ylabel("spikes / neuron / step")
        ax.legend()
        fig.tight_layout()
        if path:
            fig.savefig(path, dpi=120)
        return fig


class QuantizationError(ModelError):
    """The float network cannot be expressed in the integer format (layer, problem)."""


def _uniform(name: str, what: str, a: np.ndarray, rtol: float = 1e-6) -> float:
    a = np.asarray(a, np.float64).reshape(-1)
    if a.size and np.any(np.abs(a - a[0]) > rtol * max(1e-30, abs(a[0]))):
        raise QuantizationError(f"invalid model: {name}: {what} differs between neurons "
                                f"({a.min():.4g}..{a.max():.4g}); the engine needs one value per layer",
                                layer=name, problem=f"{what} not uniform")
    return float(a[0]) if a.size else 0.0


def _decay_q16(factor: float, leak: str) -> int:
    factor = min(max(factor, 0.0), 1.0)
    if leak == "shift" and 0.0 < factor < 1.0:
        k = max(1, min(16, round(-math.log2(1.0 - factor))))
        return DECAY_ONE - (1 << (16 - k))
    return int(round(factor * DECAY_ONE))


@dataclass
class _LayerPlan:
    layer: FloatLayer
    kind: str
    decay_mem: int
    decay_syn: Optional[int]
    gain: np.ndarray  # per neuron: float contribution to v (or to the current) per unit input
    bias: np.ndarray  # per neuron, float units of v per step (membrane bias)
    bias_syn_gain: np.ndarray  # per neuron: factor turning a connection bias into a current bias
    sigma: np.ndarray  # per neuron state scale
    threshold: Optional[int]
    v_reset: int
    theta_init: Optional[np.ndarray] = None  # per neuron threshold offsets (per-channel scales)


def _plan_layer(l: FloatLayer, dt: float, leak: str, vmax: float, bits: int) -> _LayerPlan:
    n = l.size
    kind = l.kind
    ones = np.ones(n)
    if kind in ("LIF", "LI"):
        a = dt / l.param("tau")
        a_u = _uniform(l.name, "dt/tau", a)
        gain = a * l.param("r")
        bias = a * l.param("v_leak")
        decay_mem, decay_syn = _decay_q16(1.0 - a_u, leak), None
        syn_gain = np.zeros(n)
    elif kind in ("IF", "Integrator"):
        gain = dt * l.param("r")
        bias = np.zeros(n)
        decay_mem, decay_syn = DECAY_ONE, None
        syn_gain = np.zeros(n)
    elif kind in ("CubaLIF", "CubaLI"):
        am = dt / l.param("tau_mem")
        as_ = dt / l.param("tau_syn")
        decay_mem = _decay_q16(1.0 - _uniform(l.name, "dt/tau_mem", am), leak)
        decay_syn = _decay_q16(1.0 - _uniform(l.name, "dt/tau_syn", as_), leak)
        gain = am * l.param("r") * as_ * l.param("w_in")
        bias = am * l.param("v_leak")
        syn_gain = gain
    elif kind == "Threshold":
        gain = ones
        bias = np.zeros(n)
        decay_mem, decay_syn = 0, None
        syn_gain = np.zeros(n)
    else:
        raise QuantizationError(f"invalid model: {l.name}: unknown kind {kind}", layer=l.name, problem="kind")
    hi = 2 ** (bits - 1) - 1
    spiking = kind in ("IF", "LIF", "CubaLIF", "Threshold")
    if spiking:
        thr = l.param("v_threshold")
        if np.any(thr <= 0):
            raise QuantizationError(f"invalid model: {l.name}: thresholds must be positive", layer=l.name,
                                    problem="threshold <= 0")
        vr = l.param("v_reset") if "v_reset" in l.params else np.zeros(n)
        ref = float(thr.max())
        span = max(vmax, ref, float(np.abs(vr).max()) if vr.size else 0.0)
        sig0 = hi / (HEADROOM * span)
        # equal integer thresholds: per-neuron scale sigma_n = sig0 * ref / thr_n
        sigma = sig0 * ref / thr
        threshold = int(math.floor(sig0 * ref)) + 1
        v_reset_f = vr * sigma
        v_reset = int(round(_uniform(l.name, "v_reset (scaled)", v_reset_f, rtol=1e-3)))
        if l.reset == "subtract":
            v_reset = 0
        v_reset = min(v_reset, threshold - 1)
    else:
        span = max(vmax, 1e-12)
        sigma = np.full(n, hi / (HEADROOM * span))
        threshold, v_reset = None, 0
    return _LayerPlan(l, "LIF" if kind == "Threshold" else kind, decay_mem, decay_syn, gain, bias, syn_gain,
                      sigma, threshold, v_reset)


def _per_channel(p: _LayerPlan, incoming: List[FloatConnection], vmax_n: Optional[np.ndarray], bits: int) -> None:
    """Per-channel scales for one spiking layer (docs/numerics.md section 12): each neuron (each
    output channel of a convolution) gets the scale that lets its own largest incoming weight use
    the whole weight range, as far as its membrane range (calibration) leaves room in the state;
    its threshold becomes ``threshold + theta_init[n]``. Changes ``p`` in place."""
    l = p.layer
    if p.threshold is None or not incoming:
        return
    if l.reset != "subtract" and "v_reset" in l.params and np.any(l.param("v_reset") != 0):
        return  # one reset value per layer: scales must stay equal
    n = l.size
    r = np.zeros(n)
    chan = None
    g = np.abs(p.gain * np.ones(n))
    for c in incoming:
        w = np.abs(c.weight)
        if c.kind == "conv":
            co = w.shape[0]
            chan = co
            pk = np.repeat(w.reshape(co, -1).max(axis=1), n // co) * g
        else:
            pk = w.reshape(w.shape[0], -1).max(axis=1) * g
        top = float(pk.max()) if pk.size else 0.0
        if top > 0:
            r = np.maximum(r, pk / top)
    f = np.where(r > 0, 1.0 / np.where(r > 0, r, 1.0), 1.0)
    hi = 2 ** (bits - 1) - 1
    thr = l.param("v_threshold") * np.ones(n)
    span = np.maximum(thr, vmax_n if vmax_n is not None else thr)
    room = (hi / HEADROOM) / (p.sigma * span)
    f = np.clip(np.minimum(f, room), 1.0, 256.0)
    if chan:
        f = np.repeat(f.reshape(chan, -1).min(axis=1), n // chan)
    p.sigma = p.sigma * f
    p.theta_init = np.zeros(n, np.int64)  # marks the layer per-channel; set by _thresholds


def _thresholds(p: _LayerPlan, bits: int) -> None:
    """The integer threshold (and per-neuron offsets) from the plan's scales."""
    thr = p.layer.param("v_threshold") * np.ones(p.layer.size)
    if p.theta_init is not None:
        per = np.floor(p.sigma * thr).astype(np.int64) + 1
        base = int(per.min())
        p.threshold = base
        p.theta_init = np.minimum(per - base, 2 ** (bits - 1) - 1 - base)
        return
    ref = float(thr.max())
    sig0 = float((p.sigma * thr).max()) / ref
    p.threshold = int(math.floor(sig0 * ref)) + 1
    if "v_reset" in p.layer.params and p.layer.reset != "subtract":
        p.v_reset = min(int(round(float((p.layer.param("v_reset") * p.sigma).mean()))), p.threshold - 1)


def _int_weights(contrib: np.ndarray, bits: int) -> Tuple[np.ndarray, int, float]:
    """Integer weights and shift for float contributions (integer units); share clipped."""
    wmax = 2 ** (bits - 1) - 1
    m = float(np.abs(contrib).max()) if contrib.size else 0.0
    shift = 0
    if m > 0:
        shift = max(0, min(MAX_SHIFT, math.ceil(math.log2(m / wmax)) if m > wmax else 0))
    w = np.round(contrib / (1 << shift))
    clipped = float(np.mean(np.abs(w) > wmax)) if w.size else 0.0
    w = np.clip(w, -wmax - 1, wmax).astype(np.int64)
    return w, shift, clipped


def build_integer_model(net: FloatNetwork, vmax: Dict[str, float], state_bits: int = 24, leak: str = "multiply",
                        weight_bits: int = 8, granularity: str = "layer",
                        vmax_neurons: Optional[Dict[str, np.ndarray]] = None) -> Tuple[Model, Dict[str, Dict[str, Any]]]:
    """The integer ``Model`` for one choice of widths, leak and scale granularity ("layer" or
    "channel"); also per-layer details. ``vmax_neurons``: per-neuron membrane peaks from
    calibration (per-channel scales use them to stay inside the state range)."""
    if granularity not in ("layer", "channel"):
        raise QuantizationError(f"invalid model: granularity must be 'layer' or 'channel', found {granularity!r}",
                                layer="", problem="granularity")
    plans = {l.name: _plan_layer(l, net.dt, leak, vmax.get(l.name, 0.0), state_bits) for l in net.layers}
    if granularity == "channel":
        for name, p in plans.items():
            if p.layer.spiking:
                _per_channel(p, [c for c in net.connections if c.target == name],
                             (vmax_neurons or {}).get(name), state_bits)
                _thresholds(p, state_bits)
    # A scale so fine that the largest weight needs more than MAX_SHIFT would clip weights:
    # cap each layer's scale so that its largest contribution fits weight_bits << MAX_SHIFT.
    wmax = 2 ** (weight_bits - 1) - 1
    for name, p in plans.items():
        peak = 0.0
        for c in net.connections:
            if c.target == name and c.weight.size:
                w = np.abs(c.weight)
                row = np.abs(p.gain * p.sigma)
                peak = max(peak, float((w.reshape(w.shape[0], -1).max(axis=1) * row.reshape(w.shape[0], -1).max(axis=1)).max())
                           if c.kind == "conv" else float((w * row[:, None]).max()))
        limit = wmax * float(1 << MAX_SHIFT)
        if peak > limit:
            f = limit / peak
            p.sigma = p.sigma * f
            if p.threshold is not None:
                _thresholds(p, state_bits)
    details: Dict[str, Dict[str, Any]] = {n: {"shifts": {}, "clipped": 0.0, "max_weight": 0, "sigma": float(p.sigma.mean()),
                                              "threshold": p.threshold, "decay_mem": p.decay_mem,
                                              "per_channel": p.theta_init is not None and bool(np.any(p.theta_init))}
                                          for n, p in plans.items()}
    conns = []
    bias_v: Dict[str, np.ndarray] = {n: p.sigma * p.bias for n, p in plans.items()}
    bias_i: Dict[str, np.ndarray] = {n: np.zeros(p.layer.size) for n, p in plans.items()}
    for l in net.layers:
        if "bias" in l.params:
            p = plans[l.name]
            b = l.param("bias")
            if p.kind in ("CubaLIF", "CubaLI"):
                bias_i[l.name] = bias_i[l.name] + p.sigma * p.bias_syn_gain * b
            else:
                bias_v[l.name] = bias_v[l.name] + p.gain * p.sigma * b
    for c in net.connections:
        p = plans[c.target]
        row = p.gain * p.sigma  # per target neuron: integer units per unit input
        if c.kind == "conv":
            co = c.weight.shape[0]
            per_ch = row.reshape(co, -1)
            ch_scale = per_ch[:, 0]
            if np.any(np.abs(per_ch - ch_scale[:, None]) > 1e-6 * np.abs(ch_scale[:, None]).clip(1e-30)):
                raise QuantizationError(f"invalid model: {c.target}: parameters differ between positions of a channel",
                                        layer=c.target, problem="conv scale")
            contrib = c.weight * ch_scale[:, None, None, None]
            w, shift, clipped = _int_weights(contrib, weight_bits)
            conn: Any = Conv2d(_safe(c.name), _lname(c.source), _lname(c.target), w, stride=c.stride, padding=c.padding,
                          shift=shift, delay=c.delay, weight_bits=weight_bits)
        else:
            contrib = c.weight * row[:, None]
            w, shift, clipped = _int_weights(contrib, weight_bits)
            delays = None
            if c.delays is not None:
                delays = np.broadcast_to(c.delays[None, :], w.shape)
            conn = Dense(_safe(c.name), _lname(c.source), _lname(c.target), w, shift=shift, delay=c.delay,
                         delays=delays, weight_bits=weight_bits)
        conns.append(conn)
        d = details[c.target]
        d["shifts"][_safe(c.name)] = shift
        d["clipped"] = max(d["clipped"], clipped)
        d["max_weight"] = max(d["max_weight"], int(np.abs(w).max()) if w.size else 0)
    layers = []
    hi = 2 ** (state_bits - 1) - 1
    for l in net.layers:
        p = plans[l.name]
        kw: Dict[str, Any] = {"state_bits": state_bits}
        b = np.clip(np.round(bias_v[l.name]), -hi - 1, hi).astype(np.int64)
        if np.any(b):
            kw["bias"] = b
        if p.kind in ("CubaLIF", "CubaLI"):
            kw["decay_syn"] = p.decay_syn
            bs = np.clip(np.round(bias_i[l.name]), -hi - 1, hi).astype(np.int64)
            if np.any(bs):
                kw["bias_syn"] = bs
        if p.kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
            kw["decay_mem"] = p.decay_mem
        if p.threshold is not None:
            kw["threshold"] = min(p.threshold, hi)
            if p.theta_init is not None and np.any(p.theta_init):
                kw["theta_init"] = p.theta_init
            if l.reset == "subtract":
                kw["reset"] = "subtract"
            else:
                kw["reset"] = "zero"
                kw["v_reset"] = p.v_reset
        layers.append(Layer(_lname(l.name), p.kind, tuple(l.shape), **kw))
    model = Model(tuple(net.input_shape), net.tick_us, layers, conns, output=_lname(net.output),
                  name=str(net.metadata.get("source", "")))
    return model, details


def _lname(name: str) -> str:
    return name


def _safe(name: str) -> str:
    return name


def _float_stats(net: FloatNetwork, samples: Sequence[Any], n_steps: Optional[int]) -> Dict[str, Any]:
    vmax = {l.name: 0.0 for l in net.layers}
    vmax_n = {l.name: np.zeros(l.size) for l in net.layers}
    counts: List[Dict[str, np.ndarray]] = []
    totals = {l.name: 0.0 for l in net.layers}
    steps_total = 0
    for ev in samples:
        r = net.run(ev, n_steps=n_steps, record=True)
        for l in net.layers:
            pot = np.abs(r.potentials[l.name])
            vmax[l.name] = max(vmax[l.name], float(pot.max()) if pot.size else 0.0)
            if pot.size:
                vmax_n[l.name] = np.maximum(vmax_n[l.name], pot.reshape(-1, l.size).max(axis=0))
            totals[l.name] += float(r.spikes[l.name].sum())
        counts.append({l.name: r.spikes[l.name].sum(axis=0) for l in net.layers})
        steps_total += r.spikes[net.output].shape[0]
    return {"vmax": vmax, "vmax_n": vmax_n, "counts": counts, "totals": totals, "steps": steps_total}


def _saturation(net: FloatNetwork, samples: Sequence[Any], n_steps: Optional[int], sigma: Dict[str, float],
                bits: int) -> Dict[str, float]:
    hi = 2 ** (bits - 1) - 1
    out = {l.name: 0.0 for l in net.layers}
    total = {l.name: 0 for l in net.layers}
    for ev in samples[:8]:
        r = net.run(ev, n_steps=n_steps, record=True)
        for l in net.layers:
            pv = r.potentials[l.name]
            out[l.name] += float((np.abs(pv) * sigma[l.name] >= hi).sum())
            total[l.name] += pv.size
    return {k: out[k] / max(1, total[k]) for k in out}


def _int_run(model: Model, ev: Any, n_steps: Optional[int], tick_us: int) -> Tuple[Dict[str, int], np.ndarray]:
    eng = Engine(model)
    spikes = eng.feed(ev)
    end = (n_steps * tick_us - 1) if n_steps else None
    if end is None:
        evs = np.asarray(ev)
        end = int(evs["t"][-1]) if len(evs) else 0
    spikes = np.concatenate([spikes, eng.advance(end)])
    counts = np.bincount(spikes["neuron"], minlength=model.output_size)
    return dict(eng.stats()["layer_spikes"]), counts


def quantize(net: FloatNetwork, calibration: Sequence[Any] = (), labels: Optional[Sequence[int]] = None,
             weight_bits: int = 8, state_bits: Optional[int] = None, leak: Optional[str] = None,
             target: Optional[Dict[str, float]] = None, n_steps: Optional[int] = None,
             granularity: Optional[str] = None) -> Tuple[Model, QuantReport]:
    """Quantizes ``net`` to integers and reports what it costs.

    ``calibration``: event arrays (one per sample); the float network runs on them to choose
    the state scales, and both networks run on them for the report. ``labels``: the class of
    each sample (accuracy float vs integer). ``state_bits``/``leak``: fix a choice instead of
    searching. ``target``: ``{"output_agreement": 0.95, "count_error": 0.05}`` by default; the
    cheapest choice (fewest state bits, shift before multiply) meeting it is kept, else the best.
    ``granularity``: ``"layer"`` or ``"channel"`` scales; by default per-layer choices are tried
    first and per-channel ones (a threshold per neuron, docs/numerics.md section 12) only when
    none of them meets the target.
    ``n_steps``: steps to simulate per sample (default: through the sample's last event).
    """
    samples = list(calibration)
    target = dict(target or {"output_agreement": 0.95, "count_error": 0.05})
    fstats: Dict[str, Any] = _float_stats(net, samples, n_steps) if samples else {"vmax": {}, "counts": [], "totals": {}, "steps": 0}
    vmax = dict(fstats["vmax"])
    warnings: List[str] = []
    if not samples:
        warnings.append("no calibration data: scales come from thresholds only and nothing was compared")
        for l in net.layers:
            thr = float(l.param("v_threshold").max()) if "v_threshold" in l.params else 1.0
            vmax[l.name] = 2.0 * thr
    grans = [granularity] if granularity else ["layer", "channel"]
    if samples:
        choices = [(sb, lk, g) for g in grans for sb in ([state_bits] if state_bits else [16, 24, 32])
                   for lk in ([leak] if leak else ["shift", "multiply"])]
    else:  # nothing to compare against: one safe choice
        choices = [(state_bits or 24, leak or "multiply", granularity or "layer")]
    float_dec = [int(np.argmax(c[net.output])) if c[net.output].sum() else -1 for c in fstats["counts"]]
    results: List[Dict[str, Any]] = []
    for sb, lk, gran in choices:
        if gran != choices[0][2] and any(r["meets"] for r in results):
            break  # a cheaper granularity already meets the target
        try:
            model, details = build_integer_model(net, vmax, sb, lk, weight_bits, gran, fstats.get("vmax_n"))
        except SnnEdgeError as e:
            warnings.append(f"{sb}-bit/{lk}/per {gran}: {e}")
            continue
        if gran == "channel" and not any(d["per_channel"] for d in details.values()) and granularity is None:
            continue  # per-channel scales change nothing here
        layer_tot = {l.name: 0 for l in net.layers}
        agree, correct = 0, 0
        errs: List[float] = []
        for k, ev in enumerate(samples):
            lay, counts = _int_run(model, ev, n_steps, net.tick_us)
            for n in layer_tot:
                layer_tot[n] += lay.get(_lname(n), 0)
            fc = fstats["counts"][k][net.output]
            dec = int(np.argmax(counts)) if counts.sum() else -1
            agree += dec == float_dec[k]
            errs.append(float(np.abs(counts - fc).sum() / max(float(fc.sum()), 1.0)))
            if labels is not None:
                correct += dec == int(labels[k])
        n_samples = max(1, len(samples))
        oa = agree / n_samples
        cerr = float(np.mean(errs)) if errs else 0.0
        cmax = float(np.max(errs)) if errs else 0.0
        sa = {l: (layer_tot[l] / fstats["totals"][l]) if fstats["totals"].get(l) else (1.0 if layer_tot[l] == 0 else float("inf"))
              for l in layer_tot}
        meets = bool(samples) and oa >= target.get("output_agreement", 0.0) and cerr <= target.get("count_error", float("inf"))
        results.append(dict(sb=sb, lk=lk, gran=gran, model=model, details=details, oa=oa, cerr=cerr, cmax=cmax, sa=sa,
                            layer_tot=layer_tot,
                            acc=(correct / n_samples) if labels is not None else None, meets=meets))
    if not results:
        raise QuantizationError("invalid model: no quantization choice could be built: " + "; ".join(warnings),
                                layer="", problem="no choice")
    chosen = next((r for r in results if r["meets"]), None)
    if chosen is None:
        chosen = max(results, key=lambda r: (r["oa"], -r["cerr"]))
        if samples:
            warnings.append("no choice met the fidelity target; kept the best one")
    sat = _saturation(net, samples, n_steps, {n: d["sigma"] for n, d in chosen["details"].items()}, chosen["sb"]) \
        if samples else {l.name: 0.0 for l in net.layers}
    steps = max(1, fstats["steps"])
    layer_reports = []
    for l in net.layers:
        d = chosen["details"][l.name]
        rf = fstats["totals"].get(l.name, 0.0) / (steps * l.size) if samples else 0.0
        ri = chosen["layer_tot"].get(l.name, 0) / (steps * l.size) if samples else 0.0
        if not l.spiking:
            status = "readout"
        elif rf == 0 and ri == 0:
            status = "silent"
        elif ri == 0:
            status = "dead"
        elif rf > 0 and ri > 3 * rf:
            status = "runaway"
        else:
            status = "ok"
        if status in ("dead", "runaway"):
            warnings.append(f"layer {l.name} is {status} after quantization (rate float {rf:.4g}, integer {ri:.4g})")
        layer_reports.append(LayerReport(l.name, l.kind, l.size, d["sigma"], d["threshold"], d["decay_mem"], d["shifts"],
                                         d["clipped"], d["max_weight"], sat[l.name], rf, ri, status))
    acc_f = None
    if labels is not None and samples:
        acc_f = float(np.mean([fd == int(y) for fd, y in zip(float_dec, labels)]))
    report = QuantReport(
        weight_bits=weight_bits, state_bits=chosen["sb"], leak=chosen["lk"], layers=layer_reports, samples=len(samples),
        output_agreement=chosen["oa"], count_error=chosen["cerr"], count_error_max=chosen["cmax"],
        spike_agreement={k: float(v) for k, v in chosen["sa"].items()}, accuracy_float=acc_f, accuracy_int=chosen["acc"],
        target=target, meets_target=chosen["meets"],
        candidates=[Candidate(r["sb"], r["lk"], weight_bits, r["oa"], r["cerr"],
                              float(min([v for v in r["sa"].values() if np.isfinite(v)], default=1.0)), r["acc"], r["meets"],
                              r["gran"])
                    for r in results],
        warnings=warnings, granularity=chosen["gran"],
    )
    meta: Dict[str, Any] = {
        "source": net.metadata.get("source", ""), "source_sha256": net.metadata.get("source_sha256", ""),
        "framework": net.metadata.get("framework", ""), "dt": repr(net.dt), "tick_us": str(net.tick_us),
        "reset": net.reset, "input_shape": list(net.input_shape),
        "quantization": f"int{weight_bits} weights, {chosen['sb']}-bit states, leak by {chosen['lk']}, "
                        f"scales per {chosen['gran']}; "
                        f"decision agreement {100 * chosen['oa']:.1f}%, count error {100 * chosen['cerr']:.1f}% "
                        f"on {len(samples)} samples",
        "quant_report": report.to_dict(),
    }
    if len(net.input_shape) == 3:
        meta["sensor_size"] = [int(net.input_shape[2]), int(net.input_shape[1])]
    if "labels" in net.metadata:
        meta["outputs"] = ",".join(str(x) for x in net.metadata["labels"])
    return chosen["model"].with_metadata(**meta), report


__all__ = ["quantize", "QuantReport", "LayerReport", "QuantizationError", "build_integer_model"]
