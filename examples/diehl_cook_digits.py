#!/usr/bin/env python3
"""Unsupervised learning on the device: Diehl & Cook (2015) on scikit-learn's digits, in the
integer engine, next to a float numpy reference of the same network and schedule.

The network (BindsNET's DiehlAndCook2015 constants, as the shared workload W3): 784 Poisson
inputs (8x8 digits zoomed to 28x28, rate = pixel/16 x 63.75 Hz, 350 ms per sample then 150 ms
rest, 1 ms ticks) -> 100 excitatory LIF neurons (tau 100 ms, threshold 13 mV above rest,
reset 5 mV, refractory 5 ms, adaptive threshold +0.05 mV per spike) with STDP on the input
weights (nearest-spike traces, tau 20 ms, depression 1e-4, potentiation 1e-2, weights in
[0, 1], each neuron's weights normalised to sum 78.4 after every sample) -> 100 inhibitory
neurons (one-to-one, +22.5 mV) -> all other excitatory neurons (-17.5 mV, one tick later).

Integer form: 1 mV = 2032 state units; weights int8 with 1.0 = 127, added shifted left by 4;
decays exp(-1/tau) in Q0.16; learning rates in 2^-16 weight units per unit trace.

Evaluation (the protocol of ../shared/bench/results/w3-accuracy-2026-11-28.md): train one epoch
with learning on; freeze (learning off, thresholds frozen); present the training images again
and label each excitatory neuron by its highest mean response; predict the held-out images by
the label whose neurons respond most on average ("all activity").

    python examples/diehl_cook_digits.py [--train N] [--test N] [--float] [--picture rf.png]
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

import snnedge as se

T_PRESENT, T_REST = 350, 150
MV = 2032  # state units per mV (int8 weights) ...
W_ONE = 127  # ... and weight units for a weight of 1.0; int16 weights use FORMS[16]
# weight bits -> (state units per mV, weight units for 1.0, shift of the input weights, shift of
# the fixed exc<->inh weights)
FORMS = {8: (2032, 127, 4, 1), 16: (16384, 16384, 0, 5)}
NORM = 78.4
N_EXC = 100
P = dict(exc_tau=100.0, inh_tau=10.0, thr_exc=13.0, reset_exc=5.0, thr_inh=20.0, reset_inh=15.0, refr_exc=5,
         refr_inh=2, theta_plus=0.05, exc_to_inh=22.5, inh_to_exc=17.5, nu_pre=1e-4, nu_post=1e-2, tc_trace=20.0)


def q16(x: float) -> int:
    return int(round(x * 65536))


def build_model(w_init: np.ndarray, learning: bool = True, theta_state: bool = False, weight_bits: int = 8,
                seed: int = 2015) -> se.Model:
    """w_init: float [784, 100] in [0, 1]."""
    mv, w_one, sh_in, sh_fixed = FORMS[weight_bits]
    n_in, n_exc = w_init.shape
    w = np.clip(np.round(w_init * w_one), 0, w_one).astype(np.int64)
    stdp = se.STDP(a_plus=int(round(P["nu_post"] * w_one * 65536)), a_minus=int(round(P["nu_pre"] * w_one * 65536)),
                   trace_decay_pre=q16(math.exp(-1 / P["tc_trace"])), trace_decay_post=q16(math.exp(-1 / P["tc_trace"])),
                   w_min=0, w_max=w_one, rule="additive", pairing="nearest", seed=seed, enabled=learning)
    exc = se.LIF("exc", (n_exc,), decay_mem=q16(math.exp(-1 / P["exc_tau"])), threshold=int(P["thr_exc"] * mv),
                 reset="zero", v_reset=int(P["reset_exc"] * mv), refractory=P["refr_exc"],
                 adapt_increment=int(round(P["theta_plus"] * mv)) if learning else 0, theta_state=theta_state)
    inh = se.LIF("inh", (n_exc,), decay_mem=q16(math.exp(-1 / P["inh_tau"])), threshold=int(P["thr_inh"] * mv),
                 reset="zero", v_reset=int(P["reset_inh"] * mv), refractory=P["refr_inh"])
    eye = np.eye(n_exc, dtype=np.int64)
    conns = [
        se.Dense("input_exc", "input", "exc", w.T, shift=sh_in, weight_bits=weight_bits, plasticity=stdp),
        se.Dense("exc_inh", "exc", "inh", eye * int(round(P["exc_to_inh"] * mv / 2 ** sh_fixed)), weight_bits=16,
                 shift=sh_fixed),
        se.Dense("inh_exc", "inh", "exc", -(1 - eye) * int(round(P["inh_to_exc"] * mv / 2 ** sh_fixed)), weight_bits=16,
                 shift=sh_fixed, delay=1),
    ]
    return se.Model((n_in,), 1000, [exc, inh], conns, output="exc", name="diehl-cook-digits")


def sample_events(t_ms: np.ndarray, ch: np.ndarray, base_ms: int) -> np.ndarray:
    return se.make_events((base_ms + t_ms.astype(np.int64)) * 1000, ch)


def split_samples(sample: np.ndarray, t_ms: np.ndarray, ch: np.ndarray, n: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    bounds = np.searchsorted(sample, np.arange(n + 1))
    return [(t_ms[bounds[k]:bounds[k + 1]], ch[bounds[k]:bounds[k + 1]]) for k in range(n)]


class IntegerDC:
    """The integer network driven sample by sample."""

    def __init__(self, w_init: np.ndarray, weight_bits: int = 8, seed: int = 2015):
        self.weight_bits, self.seed = weight_bits, seed
        self.w_one = FORMS[weight_bits][1]
        self.model = build_model(w_init, weight_bits=weight_bits, seed=seed)
        self.engine = se.Engine(self.model)
        self.clock_ms = 0
        self.target = int(round(NORM * self.w_one))

    def run(self, samples, learn: bool) -> np.ndarray:
        counts = np.zeros((len(samples), N_EXC), np.int64)
        eng = self.engine
        for k, (t_ms, ch) in enumerate(samples):
            ev = sample_events(t_ms, ch, self.clock_ms)
            out = eng.feed(ev)
            self.clock_ms += T_PRESENT + T_REST
            out = np.concatenate([out, eng.advance(self.clock_ms * 1000 - 1)])
            counts[k] = np.bincount(out["neuron"], minlength=N_EXC)
            if learn:
                eng.normalize_weights("input_exc", self.target)
        return counts

    def freeze(self) -> None:
        """Learning off, thresholds frozen: a model without plasticity and theta increments,
        carrying the learned weights, thresholds and the whole state."""
        w = self.engine.weights("input_exc").T / self.w_one
        frozen = build_model(w, learning=False, theta_state=True, weight_bits=self.weight_bits, seed=self.seed)
        eng = se.Engine(frozen)
        eng.advance(self.clock_ms * 1000 - 1)
        for layer in ("exc", "inh"):
            st = self.engine.state(layer)
            eng.set_state(layer, **{k: v for k, v in st.items() if k in ("v", "theta", "refractory")})
        self.model, self.engine = frozen, eng


class FloatDC:
    """The float numpy reference of the same network and tick schedule (no rounding anywhere)."""

    def __init__(self, w_init: np.ndarray):
        self.w = w_init.astype(np.float64).copy()  # [784, 100]
        self.a_exc, self.a_inh = math.exp(-1 / P["exc_tau"]), math.exp(-1 / P["inh_tau"])
        self.a_tr = math.exp(-1 / P["tc_trace"])
        self.v = np.zeros(N_EXC); self.vi = np.zeros(N_EXC)
        self.r = np.zeros(N_EXC, int); self.ri = np.zeros(N_EXC, int)
        self.theta = np.zeros(N_EXC)
        self.x = np.zeros(self.w.shape[0]); self.y = np.zeros(N_EXC)
        self.inh_prev = np.zeros(N_EXC)
        self.learning = True
        self._norm()

    def _norm(self) -> None:
        s = self.w.sum(0)
        s[s == 0] = 1.0
        self.w *= NORM / s

    def _lif(self, v, r, a, inp, thr, reset, refr):
        ref = r > 0
        r = np.where(ref, r - 1, r)
        v = np.where(ref, v, v * a + inp)
        z = (~ref) & (v >= thr)
        v = np.where(z, reset, v)
        r = np.where(z, refr, r)
        return v, r, z

    def run(self, samples, learn: bool) -> np.ndarray:
        counts = np.zeros((len(samples), N_EXC), np.int64)
        eye_off = 1.0 - np.eye(N_EXC)
        for k, (t_ms, ch) in enumerate(samples):
            frames: Dict[int, np.ndarray] = {}
            for t, c in zip(t_ms, ch):
                frames.setdefault(int(t), []).append(int(c))
            for t in range(T_PRESENT + T_REST):
                pre = np.array(frames.get(t, []), int)
                inp = self.w[pre].sum(0) if pre.size else np.zeros(N_EXC)
                inp = inp - P["inh_to_exc"] * (eye_off @ self.inh_prev)
                thr = P["thr_exc"] + self.theta
                self.v, self.r, z = self._lif(self.v, self.r, self.a_exc, inp, thr, P["reset_exc"], P["refr_exc"])
                if learn:
                    self.theta = self.theta + P["theta_plus"] * z
                self.vi, self.ri, zi = self._lif(self.vi, self.ri, self.a_inh, P["exc_to_inh"] * z, P["thr_inh"],
                                                 P["reset_inh"], P["refr_inh"])
                self.inh_prev = zi.astype(float)
                counts[k] += z
                if learn:
                    self.x *= self.a_tr; self.y *= self.a_tr
                    if pre.size:
                        self.x[pre] = 1.0
                    self.y[z] = 1.0
                    for j in pre:  # depression at each pre spike
                        self.w[j] = np.clip(self.w[j] - P["nu_pre"] * self.y, 0, 1)
                    if z.any():  # potentiation at post spikes
                        self.w[:, z] = np.clip(self.w[:, z] + P["nu_post"] * self.x[:, None], 0, 1)
            if learn:
                self._norm()
        return counts


def assign_labels(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    rates = np.stack([counts[labels == k].mean(0) if (labels == k).any() else np.zeros(counts.shape[1])
                      for k in range(10)], 1)
    assign = rates.argmax(1)
    assign[rates.sum(1) == 0] = -1
    return assign


def all_activity(counts: np.ndarray, assign: np.ndarray) -> np.ndarray:
    r = np.full((counts.shape[0], 10), -1.0)
    for k in range(10):
        m = assign == k
        if m.any():
            r[:, k] = counts[:, m].mean(1)
    pred = r.argmax(1)
    pred[counts.sum(1) == 0] = -1
    return pred


def make_data(seed_w: int = 3003):
    """The W3-accuracy data recipe (../shared/bench/peers/gen_data.py): split, zoom, Poisson per ms."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    idx_tr, idx_te = train_test_split(np.arange(1797), test_size=0.3, random_state=42, stratify=d.target)
    imgs = np.stack([np.clip(zoom(im / 16.0, 3.5, order=1), 0, 1) for im in d.images])
    rates = imgs.reshape(1797, 784) * 63.75

    def spikes(idx, seed):
        rng = np.random.default_rng(seed)
        p = rates[idx] * 1e-3
        out = []
        for s in range(len(idx)):
            t_, c_ = np.nonzero(rng.random((T_PRESENT, 784)) < p[s][None, :])
            out.append((t_.astype(np.int64), c_.astype(np.int64)))
        return out

    w0 = 0.3 * np.random.default_rng(seed_w).random((784, N_EXC))
    return dict(train=spikes(idx_tr, 4001), label=spikes(idx_tr, 4002), test=spikes(idx_te, 4003),
                y_train=d.target[idx_tr], y_test=d.target[idx_te], w_init=w0)


def evaluate(net, data, n_train: int, n_test: int) -> Dict[str, float]:
    t0 = time.perf_counter()
    net.run(data["train"][:n_train], learn=True)
    t_train = time.perf_counter() - t0
    if isinstance(net, IntegerDC):
        net.freeze()
    else:
        net.learning = False
    c_lb = net.run(data["label"][:n_train], learn=False)
    c_te = net.run(data["test"][:n_test], learn=False)
    assign = assign_labels(c_lb, data["y_train"][:n_train])
    pred = all_activity(c_te, assign)
    acc = float(np.mean(pred == data["y_test"][:n_test]))
    return dict(accuracy=acc, train_s=t_train, train_samples_per_s=n_train / t_train,
                exc_spikes_per_sample=float(c_te.sum(1).mean()), assigned=int((assign >= 0).sum()))


def receptive_fields(weights_784x100: np.ndarray, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = weights_784x100.reshape(28, 28, 10, 10).transpose(2, 0, 3, 1).reshape(280, 280)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(w, cmap="hot_r", interpolation="nearest")
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title("learned input weights of the 100 excitatory neurons")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=1257)
    ap.add_argument("--test", type=int, default=540)
    ap.add_argument("--float", action="store_true", help="also run the float numpy reference")
    ap.add_argument("--weight-bits", type=int, default=8, choices=[8, 16])
    ap.add_argument("--seeds", type=int, default=1, help="integer runs with this many stochastic-rounding seeds")
    ap.add_argument("--picture", default=None, help="write the 10x10 receptive-field grid here (PNG; needs matplotlib)")
    a = ap.parse_args()
    data = make_data()
    accs = []
    for k in range(a.seeds):
        net = IntegerDC(data["w_init"], a.weight_bits, seed=2015 + k)
        res = evaluate(net, data, a.train, a.test)
        accs.append(res["accuracy"])
        print(f"integer (int{a.weight_bits} weights, seed {2015 + k}): accuracy {100 * res['accuracy']:.1f}% on {a.test} "
              f"test digits after {a.train} training samples; training {res['train_samples_per_s']:.1f} samples/s; "
              f"{res['assigned']} neurons labelled")
    if a.seeds > 1:
        print(f"integer mean {100 * np.mean(accs):.2f}% (min {100 * min(accs):.1f}, max {100 * max(accs):.1f})")
    if a.float:
        ref = FloatDC(data["w_init"])
        rf = evaluate(ref, data, a.train, a.test)
        print(f"float:   accuracy {100 * rf['accuracy']:.1f}% on the same split and schedule; "
              f"training {rf['train_samples_per_s']:.1f} samples/s")
    if a.picture:
        receptive_fields(net.engine.weights("input_exc").T / net.w_one, a.picture)
        print(f"wrote {a.picture}")


if __name__ == "__main__":
    main()
