"""A readable numpy reference of the integer contract (docs/numerics.md).

Slow and obviously correct on purpose: every tick steps every neuron of every layer (no
event-driven shortcuts, no lazy catch-up), every connection is a dense integer matrix over
C-order indices, and delays are explicit look-ups into the spike history. The engine must
agree with it bit for bit.

    spikes, states, layer_spikes = simulate(spec, events, end_tick)

``spec`` is a model description dict (``Model.spec`` or a golden file's ``model``),
``events`` a sequence of (t_us, x, y, p), ``end_tick`` the last tick to compute (inclusive).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

DECAY_ONE = 65536
I32_MIN, I32_MAX = -(2**31), 2**31 - 1

_DT = {"int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8", "uint8": "u1", "uint16": "<u2", "uint32": "<u4"}


def tensor(t: Mapping[str, Any]) -> np.ndarray:
    data = t["data"]
    if isinstance(data, (bytes, bytearray)):
        arr = np.frombuffer(data, dtype=_DT[t["dtype"]]).astype(np.int64)
    else:
        arr = np.asarray(data, dtype=np.int64)
    return arr.reshape([int(d) for d in t["shape"]])


def decay(x: np.ndarray, alpha: int) -> np.ndarray:
    """x * alpha / 2^16, truncated toward zero (exact in int64)."""
    p = x.astype(np.int64) * int(alpha)
    return np.sign(p) * (np.abs(p) // DECAY_ONE)


def chw(shape: Sequence[int], hw_ok: bool = False) -> Tuple[int, int, int]:
    s = [int(d) for d in shape]
    if len(s) == 1:
        return 1, 1, s[0]
    if len(s) == 2 and hw_ok:
        return 1, s[0], s[1]
    return s[0], s[1], s[2]


def _window(i: int, k: int, s: int, p: int, n_out: int) -> List[Tuple[int, int]]:
    """(output position, kernel offset) pairs whose window covers input position i."""
    return [(o, i + p - o * s) for o in range(n_out) if 0 <= i + p - o * s < k]


def connection_matrices(c: Mapping[str, Any], src: Tuple[int, int, int], dst: Tuple[int, int, int]) -> Dict[int, np.ndarray]:
    """{delay: M} with M[target, source] the integer contribution of one source spike."""
    n_src, n_dst = int(np.prod(src)), int(np.prod(dst))
    kind = c["kind"]
    shift = int(c.get("shift", 0))
    base = int(c.get("delay", 0))
    out: Dict[int, np.ndarray] = {}

    def add(d: int, t: int, s: int, w: int) -> None:
        m = out.setdefault(d, np.zeros((n_dst, n_src), np.int64))
        m[t, s] += w

    if kind == "Dense":
        w = tensor(c["weight"]) << shift
        if c.get("delays") is None:
            out[base] = w.copy()
        else:
            d = tensor(c["delays"])
            for dv in np.unique(d):
                out[base + int(dv)] = np.where(d == dv, w, 0)
    elif kind == "Conv2d":
        w = tensor(c["weight"]) << shift
        co, ci, kh, kw = w.shape
        sh, sw = c.get("stride") or [1, 1]
        ph, pw = c.get("padding") or [0, 0]
        _, h, wd = src
        _, oh, ow = dst
        for cin in range(ci):
            for y in range(h):
                for x in range(wd):
                    s = (cin * h + y) * wd + x
                    for oy, ky in _window(y, kh, sh, ph, oh):
                        for ox, kx in _window(x, kw, sw, pw, ow):
                            for o in range(co):
                                add(base, (o * oh + oy) * ow + ox, s, int(w[o, cin, ky, kx]))
    elif kind == "Pool2d":
        kh, kw = c["kernel"]
        sh, sw = c.get("stride") or c["kernel"]
        ph, pw = c.get("padding") or [0, 0]
        wgt = int(c.get("weight", 1))
        if c["mode"] == "avg":
            area = kh * kw
            q = (abs(wgt) * 2 + area) // (2 * area)
            wgt = -q if wgt < 0 else q
        ch, h, wd = src
        _, oh, ow = dst
        out[base] = np.zeros((n_dst, n_src), np.int64)
        for cc in range(ch):
            for y in range(h):
                for x in range(wd):
                    s = (cc * h + y) * wd + x
                    for oy, _ in _window(y, kh, sh, ph, oh):
                        for ox, _ in _window(x, kw, sw, pw, ow):
                            add(base, (cc * oh + oy) * ow + ox, s, wgt)
    elif kind == "Sparse":
        ip = tensor(c["indptr"])
        idx = tensor(c["indices"])
        w = tensor(c["weights"]) << shift
        d = tensor(c["delays"]) if c.get("delays") is not None else np.zeros_like(idx)
        out.setdefault(base, np.zeros((n_dst, n_src), np.int64))
        for s in range(n_src):
            for k in range(ip[s], ip[s + 1]):
                add(base + int(d[k]), int(idx[k]), s, int(w[k]))
    else:
        raise ValueError(kind)
    return out


TRACE_ONE, TRACE_MAX = 1 << 15, (1 << 16) - 1
M64 = (1 << 64) - 1


def mix64(z):
    """SplitMix64 finaliser on uint64 numpy arrays (wrapping arithmetic)."""
    z = (z + np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def synapse_random(seed, t, j, i, phase):
    """mix64(mix64(mix64(seed ^ t) ^ (j << 32 | i)) ^ phase), broadcasting over j and i."""
    with np.errstate(over="ignore"):
        a = mix64(np.uint64(seed) ^ np.uint64(t))
        ji = (np.asarray(j, np.uint64) << np.uint64(32)) | np.asarray(i, np.uint64)
        return mix64(mix64(a ^ ji) ^ np.uint64(phase))


def stochastic_round(num, den, r):
    q = np.floor_divide(num, den)
    rem = np.mod(num, den)
    return q + ((r % np.uint64(den)).astype(np.int64) < rem).astype(np.int64)


def trunc_div(num, d):
    return np.sign(num) * (np.abs(num) // d)


def _traces(p, x, y, E, pre_counts, post_spikes):
    """Step 1 of the learning contract: decay every trace (and eligibility), then bump."""
    x[:] = decay(x, p["trace_decay_pre"])
    y[:] = decay(y, p["trace_decay_post"])
    rstdp = p.get("eligibility_decay") is not None
    if rstdp:
        E[:] = decay(E, p["eligibility_decay"])
    nearest = p.get("pairing", "all_to_all") == "nearest"
    for tr, counts in ((x, pre_counts), (y, post_spikes)):
        hit = counts > 0
        if nearest:
            tr[hit] = TRACE_ONE
        else:
            tr[hit] = np.minimum(tr[hit] + counts[hit] * TRACE_ONE, TRACE_MAX)


def stdp_step(p, W, x, y, t, pre_counts, post_spikes, E=None, reward=0, mask=None):
    """One tick of the learning contract on W[out, in] with traces x (pre) and y (post); with
    E[out, in] the eligibility traces of reward-modulated STDP and the tick's reward; with
    mask[out, in] the synapses of a sparse connection (the only entries that learn)."""
    if mask is None:
        mask = np.ones(W.shape, bool)
    _traces(p, x, y, E, pre_counts, post_spikes)
    rstdp = p.get("eligibility_decay") is not None
    lo, hi = int(p["w_min"]), int(p["w_max"])
    mult = p.get("rule", "additive") == "multiplicative"
    den = (1 << 31) * (max(hi - lo, 1) if mult else 1)
    n_out, n_in = W.shape
    ii = np.arange(n_out)
    jj = np.arange(n_in)
    I32 = (-(2**31), 2**31 - 1)
    for j in np.flatnonzero(pre_counts):
        for _ in range(int(pre_counts[j])):
            w = W[:, j]
            m = (w - lo) if mult else 1
            num = -(int(p["a_minus"]) * y * m)
            mk = mask[:, j]
            if rstdp:
                E[mk, j] = np.clip(E[:, j] + trunc_div(num, den >> 16), *I32)[mk]
            else:
                r = synapse_random(p.get("seed", 0), t, j, ii, 0)
                W[mk, j] = np.clip(w + stochastic_round(num, den, r), lo, hi)[mk]
    for i in np.flatnonzero(post_spikes):
        w = W[i, :]
        m = (hi - w) if mult else 1
        num = int(p["a_plus"]) * x * m
        mk = mask[i, :]
        if rstdp:
            E[i, mk] = np.clip(E[i, :] + trunc_div(num, den >> 16), *I32)[mk]
        else:
            r = synapse_random(p.get("seed", 0), t, jj, i, 1)
            W[i, mk] = np.clip(w + stochastic_round(num, den, r), lo, hi)[mk]
    if rstdp and reward != 0:
        ii2, jj2 = np.nonzero(E)
        if ii2.size:
            r = synapse_random(p.get("seed", 0), t, jj2, ii2, 2)
            W[ii2, jj2] = np.clip(W[ii2, jj2] + stochastic_round(int(reward) * E[ii2, jj2], 1 << 24, r), lo, hi)


def conv_pairs(c: Mapping[str, Any], src: Tuple[int, int, int], dst: Tuple[int, int, int]) -> np.ndarray:
    """Q[target, source] = the C-order index of the kernel weight the pair uses, or -1."""
    co, ci, kh, kw = tensor(c["weight"]).shape
    sh, sw = c.get("stride") or [1, 1]
    ph, pw = c.get("padding") or [0, 0]
    _, h, wd = src
    _, oh, ow = dst
    Q = np.full((int(np.prod(dst)), int(np.prod(src))), -1, np.int64)
    for cin in range(ci):
        for y in range(h):
            for x in range(wd):
                s = (cin * h + y) * wd + x
                for oy, ky in _window(y, kh, sh, ph, oh):
                    for ox, kx in _window(x, kw, sw, pw, ow):
                        for o in range(co):
                            Q[(o * oh + oy) * ow + ox, s] = ((o * ci + cin) * kh + ky) * kw + kx
    return Q


def conv_stdp_step(p, K, Q, x, y, t, pre_counts, post_spikes, E, reward):
    """One tick of the shared-weight contract: per phase, the traces of every pair that uses
    kernel weight q are summed (S), then q changes once by SR(-/+ a * S * m, den), keyed by
    (q, 2^32 - 1); exact Python integers."""
    _traces(p, x, y, E, pre_counts, post_spikes)
    lo, hi = int(p["w_min"]), int(p["w_max"])
    mult = p.get("rule", "additive") == "multiplicative"
    den = (1 << 31) * (max(hi - lo, 1) if mult else 1)
    rstdp = p.get("eligibility_decay") is not None
    flat, eflat = K.reshape(-1), E.reshape(-1)
    I32 = (-(2**31), 2**31 - 1)

    def phase(S, ph):
        for q in np.flatnonzero(S):
            w, s = int(flat[q]), int(S[q])
            num = -int(p["a_minus"]) * s * ((w - lo) if mult else 1) if ph == 0 else \
                int(p["a_plus"]) * s * ((hi - w) if mult else 1)
            if rstdp:
                d = den >> 16
                quot = abs(num) // d * (1 if num >= 0 else -1)
                eflat[q] = min(max(int(eflat[q]) + quot, I32[0]), I32[1])
            else:
                r = int(synapse_random(p.get("seed", 0), t, q, 0xFFFFFFFF, ph))
                step = num // den + (1 if r % den < num % den else 0)
                flat[q] = min(max(w + step, lo), hi)

    if int(p["a_minus"]) != 0 and pre_counts.any():
        S = np.zeros(flat.size, np.int64)
        for j in np.flatnonzero(pre_counts):
            v = Q[:, j] >= 0
            np.add.at(S, Q[v, j], y[v] * int(pre_counts[j]))
        phase(S, 0)
    if int(p["a_plus"]) != 0 and post_spikes.any():
        S = np.zeros(flat.size, np.int64)
        for i in np.flatnonzero(post_spikes):
            v = Q[i, :] >= 0
            np.add.at(S, Q[i, v], x[v])
        phase(S, 1)
    if rstdp and reward != 0:
        for q in np.flatnonzero(eflat):
            r = int(synapse_random(p.get("seed", 0), t, q, 0xFFFFFFFF, 2))
            num = int(reward) * int(eflat[q])
            step = num // (1 << 24) + (1 if r % (1 << 24) < num % (1 << 24) else 0)
            flat[q] = min(max(int(flat[q]) + step, lo), hi)


def layer_order(spec: Mapping[str, Any], mats: List[Dict[int, np.ndarray]]) -> List[int]:
    names = [l["name"] for l in spec["layers"]]
    n = len(names)
    deps = {i: set() for i in range(n)}
    for c, m in zip(spec["connections"], mats):
        if c["source"] != "input" and 0 in m and np.any(m[0]):
            deps[names.index(c["target"])].add(names.index(c["source"]))
        elif c["source"] != "input" and 0 in m:
            deps[names.index(c["target"])].add(names.index(c["source"]))
    order: List[int] = []
    while len(order) < n:
        nxt = next(i for i in range(n) if i not in order and deps[i] <= set(order))
        order.append(nxt)
    return order


def simulate(spec: Mapping[str, Any], events: Sequence[Tuple[int, int, int, int]], end_tick: int,
             rewards: Sequence[Tuple[int, int]] = ()):
    tick_us = int(spec["tick_us"])
    in_shape = [int(d) for d in spec["input_shape"]]
    src_geo = {"input": chw(in_shape, hw_ok=True)}
    layers = spec["layers"]
    for l in layers:
        src_geo[l["name"]] = chw(l["shape"])
    n_in = int(np.prod(src_geo["input"]))
    T = end_tick + 1

    # input spike counts per tick
    x_in = np.zeros((T, n_in), np.int64)
    _, H, W = src_geo["input"]
    for (t, x, y, p) in events:
        c = p if len(in_shape) == 3 else 0
        x_in[t // tick_us, (c * H + y) * W + x] += 1

    conns = spec["connections"]
    mats = [connection_matrices(c, src_geo[c["source"]], src_geo[c["target"]]) for c in conns]
    order = layer_order(spec, mats)
    # learning state: unshifted weights and traces per plastic connection
    plastic = {}
    for ci, c in enumerate(conns):
        if c.get("plasticity"):
            if c["kind"] == "Sparse":  # a dense matrix with a mask of the synapses
                n_src = int(np.prod(src_geo[c["source"]]))
                W = np.zeros((int(np.prod(src_geo[c["target"]])), n_src), np.int64)
                ip, idx = tensor(c["indptr"]), tensor(c["indices"])
                pre_of = np.repeat(np.arange(n_src), np.diff(ip))
                W[idx, pre_of] = tensor(c["weights"])
                mask = np.zeros(W.shape, bool)
                mask[idx, pre_of] = True
                synapses = (idx, pre_of)
            elif c["kind"] == "Conv2d":  # the kernel, and which kernel weight each pair uses
                K = tensor(c["weight"]).copy()
                Q = conv_pairs(c, src_geo[c["source"]], src_geo[c["target"]])
                plastic[ci] = dict(p=c["plasticity"], W=K, Q=Q, x=np.zeros(Q.shape[1], np.int64),
                                   y=np.zeros(Q.shape[0], np.int64), shift=int(c.get("shift", 0)),
                                   on=c["plasticity"].get("enabled", True), E=np.zeros_like(K), synapses=None)
                continue
            else:
                W = tensor(c["weight"]).copy()
                mask, synapses = None, None
            plastic[ci] = dict(p=c["plasticity"], W=W, x=np.zeros(W.shape[1], np.int64),
                               y=np.zeros(W.shape[0], np.int64), shift=int(c.get("shift", 0)),
                               on=c["plasticity"].get("enabled", True), E=np.zeros_like(W), mask=mask,
                               synapses=synapses)
    reward_at: Dict[int, int] = {}
    for t_us, value in rewards:
        reward_at[t_us // tick_us] = reward_at.get(t_us // tick_us, 0) + int(value)

    names = [l["name"] for l in layers]
    sizes = [int(np.prod(src_geo[n])) for n in names]
    hist = {n: np.zeros((T, s), np.int64) for n, s in zip(names, sizes)}
    st = []
    for l, n in zip(layers, sizes):
        bits = int(l.get("state_bits", 24))
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        bias = np.zeros(n, np.int64)
        if l.get("bias") is not None:
            bias = np.broadcast_to(tensor(l["bias"]).reshape(-1), (n,)).astype(np.int64)
        bias_syn = np.zeros(n, np.int64)
        if l.get("bias_syn") is not None:
            bias_syn = np.broadcast_to(tensor(l["bias_syn"]).reshape(-1), (n,)).astype(np.int64)
        theta0 = np.zeros(n, np.int64)
        if l.get("theta_init") is not None:  # per-neuron threshold offsets (docs/numerics.md)
            theta0 = np.broadcast_to(tensor(l["theta_init"]).reshape(-1), (n,)).astype(np.int64).copy()
        st.append(dict(v=np.zeros(n, np.int64), i=np.zeros(n, np.int64), theta=theta0,
                       r=np.zeros(n, np.int64), lo=lo, hi=hi, bias=bias, bias_syn=bias_syn))

    for t in range(T):
        for li in order:
            l, s, name = layers[li], st[li], names[li]
            a = np.zeros(sizes[li], np.int64)
            for c, m in zip(conns, mats):
                if c["target"] != name:
                    continue
                for d, M in m.items():
                    if t - d < 0:
                        continue
                    spikes_in = x_in[t - d] if c["source"] == "input" else hist[c["source"]][t - d]
                    a += M @ spikes_in
            a = np.clip(a, I32_MIN, I32_MAX)
            kind = l["neuron"]
            lo, hi = s["lo"], s["hi"]
            if kind in ("CubaLIF", "CubaLI"):
                s["i"] = np.clip(decay(s["i"], l["decay_syn"]) + a + s["bias_syn"], lo, hi)
                x = s["i"]
            else:
                x = a
            s["theta"] = decay(s["theta"], l.get("adapt_decay", DECAY_ONE))
            ref = s["r"] > 0
            s["r"] = np.where(ref, s["r"] - 1, s["r"])
            dm = l.get("decay_mem") if l.get("decay_mem") is not None else DECAY_ONE
            vn = np.clip(decay(s["v"], dm) + x + s["bias"], lo, hi)
            s["v"] = np.where(ref, s["v"], vn)
            if kind in ("IF", "LIF", "CubaLIF"):
                thr = int(l["threshold"]) + s["theta"]
                spk = (~ref) & (s["v"] >= thr)
                if l.get("reset", "subtract") == "subtract":
                    reset_v = np.clip(s["v"] - thr, lo, hi)
                else:
                    reset_v = np.full_like(s["v"], int(l.get("v_reset", 0)))
                s["v"] = np.where(spk, reset_v, s["v"])
                s["r"] = np.where(spk, int(l.get("refractory", 0)), s["r"])
                s["theta"] = np.where(spk, np.clip(s["theta"] + int(l.get("adapt_increment", 0)), 0, hi), s["theta"])
                hist[name][t] = spk.astype(np.int64)
        for ci, ps in plastic.items():
            if not ps["on"]:
                continue
            c = conns[ci]
            pre = x_in[t] if c["source"] == "input" else hist[c["source"]][t]
            if "Q" in ps:
                conv_stdp_step(ps["p"], ps["W"], ps["Q"], ps["x"], ps["y"], t, pre, hist[c["target"]][t], ps["E"],
                               reward_at.get(t, 0))
                flat = np.concatenate([ps["W"].reshape(-1), [0]])
                mats[ci] = {0: flat[ps["Q"]] << ps["shift"]}  # Q = -1 (no pair) picks the 0
            else:
                stdp_step(ps["p"], ps["W"], ps["x"], ps["y"], t, pre, hist[c["target"]][t], ps["E"],
                          reward_at.get(t, 0), ps["mask"])
                mats[ci] = {0: ps["W"] << ps["shift"]}

    out_name = spec.get("output") or names[-1]
    ts, ns = np.nonzero(hist[out_name])
    spikes = sorted((int(t) * tick_us, int(n)) for t, n in zip(ts, ns))
    states = {}
    for l, s, n in zip(layers, st, names):
        d = {"v": s["v"].copy()}
        if l["neuron"] in ("CubaLIF", "CubaLI"):
            d["i"] = s["i"].copy()
        has_init = l.get("theta_init") is not None and bool(np.any(tensor(l["theta_init"])))
        if int(l.get("adapt_increment", 0)) != 0 or (l.get("theta_state") and l["neuron"] in ("IF", "LIF", "CubaLIF")) \
                or has_init:
            d["theta"] = s["theta"].copy()
        if int(l.get("refractory", 0)) > 0:
            d["refractory"] = s["r"].copy()
        states[n] = d
    layer_spikes = {n: int(hist[n].sum()) for n in names}
    simulate.learned = {conns[ci]["name"]: (ps["W"] if ps["synapses"] is None else ps["W"][ps["synapses"]], ps["x"], ps["y"])
                        for ci, ps in plastic.items()}
    simulate.eligibility = {conns[ci]["name"]: ps["E"] for ci, ps in plastic.items()}
    return spikes, states, layer_spikes
