"""Plain numpy versions of the spike encoders (the readable reference of snnedge-core/src/encode).

Each function is the same algorithm as the Rust encoder, written for clarity: vectorised
over channels or pixels, a Python loop over time where the algorithm carries state from
one sample to the next. Same operations in the same order, so where no transcendental
function is involved (rate, linear latency, delta) the events are identical bit for bit;
where numpy's exp/log/sin may differ from libm's in the last bit (log latency, population,
audio, frames), the tests compare within a stated tolerance. The benchmark
(benchmarks/bench_encode.py) times these against the Rust encoders.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

import snnedge as se

GAMMA = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
NEVER = np.iinfo(np.uint64).max


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, np.uint64)
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int, stream: np.ndarray) -> np.ndarray:
    return mix64(np.uint64(seed) ^ mix64(np.asarray(stream, np.uint64) + GAMMA))


def draw(key: np.ndarray, counter: np.ndarray) -> np.ndarray:
    return mix64(np.asarray(key, np.uint64) + np.asarray(counter, np.uint64) * GAMMA)


def threshold(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, np.float64)
    out = np.zeros(p.shape, np.uint64)
    mid = (p > 0) & (p < 1)
    out[mid] = (p[mid] * 2.0**53).astype(np.uint64)
    out[p >= 1] = np.uint64(1 << 53)
    return out


def _events(t, c, p, width: int) -> np.ndarray:
    c = np.asarray(c, np.int64)
    out = np.zeros(len(c), se.EVENT_DTYPE)
    out["t"] = t
    out["x"] = c % width
    out["y"] = c // width
    out["p"] = p
    return out


def rate(values: np.ndarray, *, dt_us: int, max_rate_hz: float, mode: str = "poisson", seed: int = 0,
         t0_us: int = 0, width: Optional[int] = None) -> np.ndarray:
    """values: (T, C) intensities per step."""
    values = np.asarray(values, np.float64)
    n_steps, n = values.shape
    width = n if width is None else width
    p = values * (max_rate_hz * float(dt_us) / 1e6)
    p = np.where(p > 0, np.minimum(p, 1.0), 0.0)
    if mode == "poisson":
        keys = stream_key(seed, np.arange(n))
        k = np.arange(n_steps, dtype=np.uint64)[:, None]
        fire = (draw(keys[None, :], k) >> np.uint64(11)) < threshold(p)
    else:
        fire = np.zeros((n_steps, n), bool)
        acc = np.zeros(n)
        for k in range(n_steps):
            a = acc + p[k]
            fire[k] = a >= 1.0
            acc = np.where(fire[k], a - 1.0, a)
    ks, cs = np.nonzero(fire)
    return _events(t0_us + ks.astype(np.uint64) * np.uint64(dt_us), cs, 1, width)


def latency(samples: np.ndarray, *, num_steps: int, dt_us: int, mode: str = "linear", thresh: float = 0.01,
            t0_us: int = 0, width: Optional[int] = None) -> np.ndarray:
    """samples: (N, C), one window of num_steps per row."""
    v = np.asarray(samples, np.float64)
    n_win, n = v.shape
    width = n if width is None else width
    last = float(num_steps - 1)
    fires = ~np.isnan(v) & (v >= thresh)
    vc = np.minimum(np.where(fires, v, 1.0), 1.0)
    if mode == "linear":
        x = (1.0 - vc) * last
    else:
        x = np.log(vc) * (last / np.log(thresh))
    step = np.floor(x + 0.5).astype(np.int64)
    w, c = np.nonzero(fires)
    s = step[w, c]
    order = np.lexsort((c, s, w))
    w, c, s = w[order], c[order], s[order]
    t = t0_us + (w * num_steps + s).astype(np.uint64) * np.uint64(dt_us)
    return _events(t, c, 1, width)


def population_responses(values: np.ndarray, n_neurons: int, lo: float, hi: float, sigma: float) -> np.ndarray:
    """(N, C) values -> (N, C * n_neurons) responses."""
    v = np.asarray(values, np.float64)
    spacing = (hi - lo) / (n_neurons - 1)
    mu = lo + np.arange(n_neurons) * spacing
    gain = -1.0 / (2.0 * sigma * sigma)
    d = v[:, :, None] - mu[None, None, :]
    return np.exp(d * d * gain).reshape(v.shape[0], -1)


def delta(x: np.ndarray, *, thresh_on, thresh_off, mode: str = "level", refractory_us: int = 0,
          initial=None, max_events: int = 64, period_num: int = 1000, period_den: int = 1,
          t0_us: int = 0) -> np.ndarray:
    """x: (T, C) samples; the level / send_on_delta / sigma_delta codes of DeltaEncoder."""
    x = np.asarray(x, np.float64)
    n_samples, n = x.shape
    th_on = np.broadcast_to(np.asarray(thresh_on, np.float64), (n,))
    th_off = np.broadcast_to(np.asarray(thresh_off, np.float64), (n,))
    state = np.zeros(n)
    started = np.zeros(n, bool)
    if mode == "sigma_delta":
        started[:] = True
    elif initial is not None:
        state[:] = initial
        started[:] = True
    last = np.full(n, NEVER, np.uint64)
    cap = float(max_events)
    ts, cs, ps = [], [], []
    for k in range(n_samples):
        t = np.uint64(t0_us + k * period_num // period_den)
        xs = x[k]
        ok = np.isfinite(xs)
        if mode == "sigma_delta":
            state = np.where(ok, state + np.where(ok, xs, 0.0), state)
        else:
            first = ok & ~started
            state = np.where(first, xs, state)
            started |= first
            ok &= ~first
        if refractory_us > 0:
            ok &= (last == NEVER) | (t >= last + np.uint64(refractory_us))
        d = state if mode == "sigma_delta" else xs - state
        up = ok & (d >= th_on)
        down = ok & ~up & (-d >= th_off)
        if mode == "send_on_delta":
            n_up = up.astype(np.float64)
            n_down = down.astype(np.float64)
            state = np.where(up | down, xs, state)
        else:
            with np.errstate(invalid="ignore"):
                n_up = np.where(up, np.minimum(np.floor(d / th_on), cap), 0.0)
                n_down = np.where(down, np.minimum(np.floor(-d / th_off), cap), 0.0)
            sign = -1.0 if mode == "sigma_delta" else 1.0
            state = np.where(up, state + n_up * th_on * sign, state)
            state = np.where(down, state - n_down * th_off * sign, state)
        fired = up | down
        last = np.where(fired, t, last)
        counts = (n_up + n_down).astype(np.int64)
        if counts.any():
            ch = np.repeat(np.arange(n), counts)
            ts.append(np.full(len(ch), t, np.uint64))
            cs.append(ch)
            ps.append(np.repeat(up.astype(np.uint8), counts))
    if not ts:
        return np.zeros(0, se.EVENT_DTYPE)
    return _events(np.concatenate(ts), np.concatenate(cs), np.concatenate(ps), n)


def audio_coefficients(sample_rate_hz: int, n_channels: int, f_lo: float, f_hi: float, q=None):
    fs = float(sample_rate_hz)
    ratio = (f_hi / f_lo) ** (1.0 / (n_channels - 1))
    fc = f_lo * ratio ** np.arange(n_channels)
    q = np.sqrt(ratio) / (ratio - 1.0) if q is None else q
    w0 = 2.0 * np.pi * fc / fs
    alpha = np.sin(w0) / (2.0 * q)
    a0 = 1.0 + alpha
    return alpha / a0, -alpha / a0, -2.0 * np.cos(w0) / a0, (1.0 - alpha) / a0


def audio(samples: np.ndarray, sample_rate_hz: int, *, n_channels: int = 32, f_lo: float = 100.0,
          f_hi: float = 7200.0, encoder: str = "delta", threshold: float = 0.25, envelope_hz: float = 50.0,
          log_floor: float = 3e-3, tau_s: float = 0.01, t0_us: int = 0) -> np.ndarray:
    """The audio front end (no refractory): filterbank, rectifier, delta or LIF per band."""
    b0, b2, a1, a2 = audio_coefficients(sample_rate_hz, n_channels, f_lo, f_hi)
    fs = float(sample_rate_hz)
    z1 = np.zeros(n_channels)
    z2 = np.zeros(n_channels)
    s = np.asarray(samples, np.float64)
    if encoder == "delta":
        alpha = 1.0 - np.exp(-2.0 * np.pi * envelope_hz / fs)
        e1 = np.zeros(n_channels)
        e2 = np.zeros(n_channels)
        levels = np.empty((len(s), n_channels))
        for k in range(len(s)):
            y = b0 * s[k] + z1
            z1 = -a1 * y + z2
            z2 = b2 * s[k] - a2 * y
            h = np.maximum(y, 0.0)
            e1 = e1 + alpha * (h - e1)
            e2 = e2 + alpha * (e1 - e2)
            levels[k] = e2
        if log_floor > 0:
            levels = np.log(levels + log_floor)
        silence = np.log(log_floor) if log_floor > 0 else 0.0
        return delta(levels, thresh_on=threshold, thresh_off=threshold, initial=np.full(n_channels, silence),
                     max_events=1 << 16, period_num=10**6, period_den=sample_rate_hz, t0_us=t0_us)
    beta = np.exp(-1.0 / (tau_s * fs))
    gain = 1000.0 / fs
    v = np.zeros(n_channels)
    ts, cs = [], []
    for k in range(len(s)):
        y = b0 * s[k] + z1
        z1 = -a1 * y + z2
        z2 = b2 * s[k] - a2 * y
        v = beta * v + np.maximum(y, 0.0) * gain
        fire = v >= threshold
        if fire.any():
            v = np.where(fire, v - threshold, v)
            ch = np.flatnonzero(fire)
            ts.append(np.full(len(ch), t0_us + k * 10**6 // sample_rate_hz, np.uint64))
            cs.append(ch)
    if not ts:
        return np.zeros(0, se.EVENT_DTYPE)
    return _events(np.concatenate(ts), np.concatenate(cs), 1, n_channels)


def frames(frames_: np.ndarray, t_us: np.ndarray, *, th_on, th_off, refractory_us: int = 0,
           noise_rate_hz: float = 0.0, log_eps: float = 1e-3, max_events: int = 64, seed: int = 0) -> np.ndarray:
    """The frame-to-event emulator. frames_: (N, H, W) uint8 or floats in [0, 1]; th_on/th_off
    scalars or per-pixel arrays (take them from FrameEncoder.thresholds() with mismatch)."""
    f = np.asarray(frames_)
    n_frames, h, w = f.shape
    n = h * w
    if f.dtype == np.uint8:
        lut = np.log(np.arange(256) / 255.0 + log_eps)
        logs = lut[f.reshape(n_frames, n)]
    else:
        logs = np.log(np.maximum(np.nan_to_num(f.reshape(n_frames, n).astype(np.float64), nan=0.0), 0.0) + log_eps)
    th_on = np.broadcast_to(np.asarray(th_on, np.float64).reshape(-1), (n,))
    th_off = np.broadcast_to(np.asarray(th_off, np.float64).reshape(-1), (n,))
    ref = logs[0].copy()
    prev = logs[0].copy()
    last = np.full(n, NEVER, np.uint64)
    keys = stream_key(seed ^ 0x6E6F697365000000, np.arange(n)) if noise_rate_hz > 0 else None
    out = []
    for k in range(1, n_frames):
        t0, t = int(t_us[k - 1]), int(t_us[k])
        dt = t - t0
        cur = logs[k]
        d = cur - ref
        up = d >= th_on
        down = ~up & (-d >= th_off)
        th = np.where(up, th_on, th_off)
        sign = np.where(up, 1.0, -1.0)
        moving = up | down
        count = np.zeros(n)
        count[moving] = np.minimum(np.floor(d[moving] * sign[moving] / th[moving]), float(max_events))
        span = cur - prev
        with np.errstate(divide="ignore"):
            inv_span = 1.0 / span
        te_all, idx_all, p_all, kind_all = [], [], [], []
        j = 1.0
        while True:
            act = moving & (j <= count)
            if not act.any():
                break
            i = np.flatnonzero(act)
            level = ref[i] + sign[i] * j * th[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                fr = np.where(span[i] != 0.0, (level - prev[i]) * inv_span[i], 1.0)
            fr = np.where(fr > 0.0, np.minimum(fr, 1.0), 0.0)
            te = np.uint64(t0) + (fr * float(dt)).astype(np.uint64)
            if refractory_us > 0:
                ok = (last[i] == NEVER) | (te >= last[i] + np.uint64(refractory_us))
            else:
                ok = np.ones(len(i), bool)
            last[i[ok]] = te[ok]
            te_all.append(te[ok])
            idx_all.append(i[ok])
            p_all.append(up[i[ok]].astype(np.uint64))
            kind_all.append(np.zeros(int(ok.sum()), np.uint8))
            j += 1.0
        ref = np.where(moving, ref + sign * count * th, ref)
        prev = cur.copy()
        if keys is not None:
            thr = threshold(np.array([noise_rate_hz * float(dt) / 1e6]))[0]
            kk = np.uint64(2 * k)
            hit = (draw(keys, kk) >> np.uint64(11)) < thr
            d2 = draw(keys[hit], kk + np.uint64(1))
            te_all.append(np.uint64(t0 + 1) + (d2 >> np.uint64(1)) % np.uint64(dt))
            idx_all.append(np.flatnonzero(hit))
            p_all.append(d2 & np.uint64(1))
            kind_all.append(np.ones(len(d2), np.uint8))
        if te_all:
            te = np.concatenate(te_all)
            idx = np.concatenate(idx_all).astype(np.uint64)
            p = np.concatenate(p_all).astype(np.uint64)
            kind = np.concatenate(kind_all)
            # Time, then crossings before noise, then pixel (crossings of one pixel keep their order).
            order = np.lexsort((idx, kind, te))
            out.append(_events(te[order], idx[order].astype(np.int64), p[order], w))
    return np.concatenate(out).astype(se.EVENT_DTYPE) if out else np.zeros(0, se.EVENT_DTYPE)
