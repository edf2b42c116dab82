#!/usr/bin/env python3
"""Encoder throughput: snnedge's Rust encoders against the plain numpy version of the same
algorithm (tests/encode_reference.py) and, where it has one, snnTorch's ``spikegen``, all in
one run on the same input.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_encode.py [--reps 7] [--numpy-reps 5] [--out results/encode-DATE.json]

Figures are events per second (events produced / wall time, the median of ``--reps`` runs;
numpy and spikegen: ``--numpy-reps``) and ratios of medians measured in this run; the best
run of each side and the ratio of the bests are recorded too. Everything runs on one thread (``torch.set_num_threads(1)``): the
encoders are single-threaded and the machine is shared. snnTorch is optional; without
torch its column is left empty.

What each side does for "events":
- snnedge: the call returns an ``EVENT_DTYPE`` array (the events, sorted by time);
- numpy: the reference function returns the same array (bit-identical where the test suite
  says so);
- spikegen: returns a dense spike tensor; ``torch.nonzero`` then lists the spikes (the same
  content as an event array). snnTorch's ``delta`` is a different algorithm (one event when
  the difference to the previous sample exceeds the threshold, no reference carried), and
  its ``latency`` normalises the window slightly differently; they are the nearest
  equivalents, not the same computation.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import encode_reference as ref  # noqa: E402

import snnedge as se  # noqa: E402

enc = se.encode

try:  # optional: torch is a large download
    import torch
    from snntorch import spikegen

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
    spikegen = None


def n_events(out) -> int:
    return int(len(out)) if not hasattr(out, "shape") or out.ndim == 1 else int(out.shape[0])


def workloads(rng):
    w = {}
    # Rate: a 28x28 image (mean intensity 0.3) for 1000 steps of 1 ms.
    img = np.clip(rng.random((28, 28)) * 0.6, 0, 1)
    w["rate (Poisson, 28x28 x 1000 steps)"] = dict(
        rust=lambda: enc.rate(img, 1000, seed=1),
        numpy=lambda: ref.rate(np.broadcast_to(img.reshape(1, -1), (1000, 784)), dt_us=1000, max_rate_hz=1000.0,
                               seed=1, width=28),
        spikegen=(lambda: torch.nonzero(spikegen.rate(img_t, num_steps=1000))) if torch else None,
        setup=lambda: globals().__setitem__("img_t", torch.tensor(img, dtype=torch.float32)) if torch else None,
    )
    # Latency: 20,000 8x8 images (scikit-learn digits size), 32-step windows.
    digits = rng.random((20_000, 64))
    w["latency (linear, 20k x 64 ch, 32 steps)"] = dict(
        rust=lambda: enc.LatencyEncoder(64, 32).push(digits),
        numpy=lambda: ref.latency(digits, num_steps=32, dt_us=1000),
        spikegen=(lambda: torch.nonzero(spikegen.latency(dig_t, num_steps=32, linear=True, normalize=True,
                                                         threshold=0.01, clip=True))) if torch else None,
        setup=lambda: globals().__setitem__("dig_t", torch.tensor(digits, dtype=torch.float32)) if torch else None,
    )
    # Population: 20,000 values of 4 channels, 16 neurons each, 16-step latency windows.
    vals = rng.random((20_000, 4))
    pe_sigma = 1.0 / 15 / 1.5

    def pop_numpy():
        r = ref.population_responses(vals, 16, 0.0, 1.0, pe_sigma)
        return ref.latency(r, num_steps=16, dt_us=1000, thresh=0.05)

    w["population (4 ch x 16 neurons, 20k samples)"] = dict(
        rust=lambda: enc.PopulationEncoder(4, 16, num_steps=16).push(vals),
        numpy=pop_numpy,
        spikegen=None,
    )
    # Delta: 8 channels of smooth noise, 100,000 samples at 1 kHz, level crossing.
    sig = np.cumsum(rng.standard_normal((100_000, 8)), axis=0) * 0.05
    w["delta (level, 8 ch x 100k samples)"] = dict(
        rust=lambda: enc.delta(sig, threshold=0.1, sample_rate_hz=1000, max_events_per_sample=64),
        numpy=lambda: ref.delta(sig, thresh_on=0.1, thresh_off=0.1, max_events=64),
        spikegen=(lambda: torch.nonzero(spikegen.delta(sig_t, threshold=0.1, off_spike=True))) if torch else None,
        setup=lambda: globals().__setitem__("sig_t", torch.tensor(sig, dtype=torch.float32)) if torch else None,
    )
    # Audio: 4 s of a chirp plus noise at 16 kHz, 32 bands, delta on the log envelope.
    fs = 16_000
    t = np.arange(4 * fs) / fs
    sound = 0.3 * np.sin(2 * np.pi * (100 * t + 900 * t**2)) + 0.02 * rng.standard_normal(len(t))
    w["audio (32 bands, 4 s at 16 kHz, delta)"] = dict(
        rust=lambda: enc.audio(sound, fs, n_channels=32),
        numpy=lambda: ref.audio(sound, fs, n_channels=32, f_hi=7200.0),
        spikegen=None,
    )
    w["audio (32 bands, 4 s at 16 kHz, LIF)"] = dict(
        rust=lambda: enc.audio(sound, fs, n_channels=32, encoder="lif"),
        numpy=lambda: ref.audio(sound, fs, n_channels=32, f_hi=7200.0, encoder="lif", threshold=0.05),
        spikegen=None,
    )
    # Frames: 60 frames of 240x320, a textured pattern drifting 3 px per frame (uint8), 30 fps.
    yy, xx = np.mgrid[0:240, 0:500]
    tex = (127 + 100 * np.sin(xx / 7.0) * np.cos(yy / 11.0)).astype(np.uint8)
    video = np.stack([tex[:, 3 * k:3 * k + 320] for k in range(60)])
    ft = (np.arange(60) * 33_333).astype(np.uint64)
    w["frames (60 x 240x320 uint8, drifting texture)"] = dict(
        rust=lambda: enc.frames_to_events(video, ft),
        numpy=lambda: ref.frames(video, ft, th_on=0.2, th_off=0.2),
        spikegen=None,
    )
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--numpy-reps", type=int, default=5, help="runs of the numpy and spikegen sides")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for name, w in workloads(rng).items():
        if w.get("setup"):
            w["setup"]()
        # Interleave the runs so that both sides see the same machine load (it is shared and
        # noisy); report the median of each (and the best). The slow sides may run fewer times.
        t_r, t_n, t_s = [], [], []
        out_r = out_n = out_s = None
        for r in range(args.reps):
            t0 = time.perf_counter()
            out_r = w["rust"]()
            t_r.append(time.perf_counter() - t0)
            if r < max(1, min(args.reps, args.numpy_reps)):
                t0 = time.perf_counter()
                out_n = w["numpy"]()
                t_n.append(time.perf_counter() - t0)
                if w.get("spikegen"):
                    t0 = time.perf_counter()
                    out_s = w["spikegen"]()
                    t_s.append(time.perf_counter() - t0)
        best_r, best_n = min(t_r), min(t_n)
        t_r, t_n = float(np.median(t_r)), float(np.median(t_n))
        row = {"encoder": name, "events": len(out_r), "rust_s": t_r, "numpy_s": t_n,
               "numpy_events": len(out_n), "rust_events_per_s": len(out_r) / t_r,
               "numpy_events_per_s": len(out_n) / t_n, "x_numpy": (len(out_r) / t_r) / (len(out_n) / t_n),
               "rust_best_s": best_r, "numpy_best_s": best_n,
               "x_numpy_best": (len(out_r) / best_r) / (len(out_n) / best_n)}
        if t_s:
            k = n_events(out_s)
            m_s = float(np.median(t_s))
            row.update(spikegen_s=m_s, spikegen_events=k, spikegen_events_per_s=k / m_s,
                       x_spikegen=(len(out_r) / t_r) / (k / m_s))
        rows.append(row)
        sg = (f"{row['spikegen_events_per_s'] / 1e6:8.2f} M/s ({row['x_spikegen']:6.1f}x)"
              if "spikegen_s" in row else "       -")
        print(f"{name:48s} {row['events']:>10,d} ev  rust {row['rust_events_per_s'] / 1e6:8.2f} M/s  "
              f"numpy {row['numpy_events_per_s'] / 1e6:7.3f} M/s ({row['x_numpy']:6.1f}x, best/best "
              f"{row['x_numpy_best']:6.1f}x)  spikegen {sg}", flush=True)
    if args.out:
        meta = {"date": datetime.date.today().isoformat(), "snnedge": se.__version__, "numpy": np.__version__,
                "torch": getattr(torch, "__version__", None), "reps": args.reps, "numpy_reps": args.numpy_reps,
                "statistic": "median (best also recorded)"}
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
