"""Random integer networks and event streams for the property tests.

Every network is valid by construction: each layer is fed from the input or an earlier
layer through a dense, sparse, convolution or pooling connection whose target shape fits;
optional extra connections add recurrence (delay >= 1) and per-synapse delays.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

import snnedge as se

KINDS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator")
SPIKING = ("IF", "LIF", "CubaLIF")
_DECAYS = (0, 1, 16384, 32768, 58982, 62000, 65000, 65535, 65536)


def _decay(rng: np.random.Generator) -> int:
    return int(rng.choice(_DECAYS)) if rng.random() < 0.6 else int(rng.integers(0, 65537))


def random_layer(rng: np.random.Generator, name: str, kind: str, shape: Tuple[int, ...]) -> se.Layer:
    bits = int(rng.choice([8, 12, 16, 24, 32]))
    hi = 2 ** (bits - 1) - 1
    kw: Dict[str, Any] = {"state_bits": bits}
    if kind in ("LIF", "CubaLIF", "LI", "CubaLI"):
        kw["decay_mem"] = _decay(rng)
    if kind in ("CubaLIF", "CubaLI"):
        kw["decay_syn"] = _decay(rng)
    if kind in SPIKING:
        thr = int(rng.integers(1, min(hi, 400) + 1))
        kw["threshold"] = thr
        if rng.random() < 0.4:
            kw["reset"] = "zero"
            kw["v_reset"] = int(rng.integers(max(-hi - 1, -60), thr))
        if rng.random() < 0.4:
            kw["refractory"] = int(rng.choice([1, 2, 5]))
        if rng.random() < 0.4:
            kw["adapt_increment"] = int(rng.integers(1, min(hi, 120) + 1))
            kw["adapt_decay"] = _decay(rng)
    n = int(np.prod(shape))
    if kind in SPIKING and rng.random() < 0.25:
        top = min(hi, 200)
        kw["theta_init"] = rng.integers(0, top + 1, size=n) if rng.random() < 0.7 else int(rng.integers(0, top + 1))
    if rng.random() < 0.3:
        kw["bias"] = rng.integers(-12, 13, size=n) if rng.random() < 0.7 else int(rng.integers(-12, 13))
    if kind in ("CubaLIF", "CubaLI") and rng.random() < 0.3:
        kw["bias_syn"] = rng.integers(-9, 10, size=n) if rng.random() < 0.7 else int(rng.integers(-9, 10))
    return se.Layer(name, kind, shape, **kw)


def _weights(rng: np.random.Generator, size: Any, bits: int) -> np.ndarray:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    w = rng.integers(lo, hi + 1, size=size)
    if rng.random() < 0.3:
        w[rng.random(size) < 0.5] = 0
    return w


def _geom(shape: Tuple[int, ...]) -> Tuple[int, int, int]:
    if len(shape) == 1:
        return 1, 1, shape[0]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    return shape  # type: ignore[return-value]


def random_connection(rng: np.random.Generator, name: str, src: str, src_shape: Tuple[int, ...],
                      tgt: str, tgt_shape: Tuple[int, ...], min_delay: int = 0, allow_delays: bool = True):
    n_src, n_tgt = int(np.prod(src_shape)), int(np.prod(tgt_shape))
    bits = int(rng.choice([4, 8, 8, 8, 16]))
    shift = int(rng.choice([0, 0, 0, 1, 3])) if bits != 16 else 0
    delay = min_delay + (int(rng.choice([0, 0, 1, 3])) if allow_delays else 0)
    if rng.random() < 0.5:
        delays = None
        if allow_delays and rng.random() < 0.3:
            delays = rng.integers(0, 4, size=(n_tgt, n_src))
        w = _weights(rng, (n_tgt, n_src), bits)
        if bits == 16:
            w = w // 64
        return se.Dense(name, src, tgt, w, shift=shift, delay=delay, delays=delays, weight_bits=bits)
    nnz = int(rng.integers(0, 3 * max(n_src, n_tgt) + 1))
    pre = rng.integers(0, n_src, size=nnz)
    post = rng.integers(0, n_tgt, size=nnz)
    w = _weights(rng, nnz, bits)
    if bits == 16:
        w = w // 64
    delays = rng.integers(0, 5, size=nnz) if (allow_delays and rng.random() < 0.4) else None
    return se.Sparse.from_coo(name, src, tgt, n_src, pre, post, w, delays, shift=shift, delay=delay, weight_bits=bits)


def random_network(rng: np.random.Generator, focus: str) -> se.Model:
    tick_us = int(rng.choice([1, 7, 1000]))
    if rng.random() < 0.4:
        in_shape: Tuple[int, ...] = (int(rng.integers(1, 9)),)
    elif rng.random() < 0.2:
        in_shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    else:
        in_shape = (int(rng.integers(1, 3)), int(rng.integers(3, 7)), int(rng.integers(3, 7)))
    nodes: List[Tuple[str, Tuple[int, ...]]] = [("input", in_shape)]
    layers: List[se.Layer] = []
    conns: List[Any] = []
    n_layers = int(rng.integers(1, 4))
    for k in range(n_layers):
        kind = focus if (k == n_layers - 1 or rng.random() < 0.5) else str(rng.choice(KINDS))
        name = f"l{k}"
        src, src_shape = nodes[int(rng.integers(len(nodes)))]
        c, h, w = _geom(src_shape)
        spatial = h > 1 and w > 1 and (len(src_shape) == 3 or src == "input")
        r = rng.random()
        if spatial and r < 0.35:
            kh, kw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
            sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
            # mostly a few channels; sometimes 8 to 10, so the engine's 8-lane blocks of output
            # channels (and their tails) are compared too
            co = int(rng.integers(1, 4)) if rng.random() < 0.75 else int(rng.integers(8, 11))
            oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
            shape: Tuple[int, ...] = (co, oh, ow)
            bits = int(rng.choice([4, 8, 16]))
            wt = _weights(rng, (co, c, kh, kw), bits)
            conn: Any = se.Conv2d(f"c{k}", src, name, wt, stride=(sh, sw), padding=(ph, pw),
                                  shift=int(rng.choice([0, 0, 2])), delay=int(rng.choice([0, 0, 2])), weight_bits=bits)
        elif spatial and r < 0.5:
            kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
            sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
            oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
            shape = (c, oh, ow)
            cls = se.SumPool2d if rng.random() < 0.5 else se.AvgPool2d
            wt_p = int(rng.integers(1, 200)) * int(rng.choice([1, -1]))
            if cls is se.AvgPool2d and abs(wt_p) * 2 < kh * kw:
                wt_p = kh * kw
            conn = cls(f"c{k}", src, name, (kh, kw), stride=(sh, sw), padding=(ph, pw), weight=wt_p,
                       delay=int(rng.choice([0, 0, 1])))
        else:
            if rng.random() < 0.6:
                # sometimes more than one 16-neuron block of the whole-layer pass
                shape = (int(rng.integers(1, 9)) if rng.random() < 0.75 else int(rng.integers(16, 41)),)
            else:
                shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            conn = random_connection(rng, f"c{k}", src, src_shape, name, shape)
        layers.append(random_layer(rng, name, kind, shape))
        conns.append(conn)
        nodes.append((name, shape))
    # extra connections: recurrence (delay >= 1, possibly to itself or backwards) and skips
    for j in range(int(rng.integers(0, 3))):
        a = int(rng.integers(1, len(nodes)))
        b = int(rng.integers(1, len(nodes)))
        backwards = b <= a
        (sname, sshape), (tname, tshape) = nodes[a], nodes[b]
        conns.append(random_connection(rng, f"x{j}", sname, sshape, tname, tshape, min_delay=1 if backwards else 0,
                                       allow_delays=True))
    return se.Model(in_shape, tick_us, layers, conns, name=f"random-{focus}")


def random_events(rng: np.random.Generator, model: se.Model, max_ticks: int = 40, max_events: int = 80) -> np.ndarray:
    shape = model.input_shape
    n = int(rng.integers(0, max_events + 1))
    span = int(rng.integers(1, max_ticks + 1)) * model.tick_us
    t0 = int(rng.choice([0, 0, 5 * model.tick_us]))
    t = np.sort(rng.integers(t0, t0 + span, size=n))
    if len(shape) == 1:
        x, y, p = rng.integers(0, shape[0], n), np.zeros(n, int), rng.integers(0, 2, n)
    elif len(shape) == 2:
        x, y, p = rng.integers(0, shape[1], n), rng.integers(0, shape[0], n), rng.integers(0, 2, n)
    else:
        x, y, p = rng.integers(0, shape[2], n), rng.integers(0, shape[1], n), rng.integers(0, shape[0], n)
    if n and rng.random() < 0.3:
        # bursts: many events of one neuron in one tick
        k = int(rng.integers(0, n))
        x[k:k + 10], y[k:k + 10], p[k:k + 10] = x[k], y[k], p[k]
    return se.make_events(t, x, y, p)
