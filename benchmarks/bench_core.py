#!/usr/bin/env python3
"""Core engine throughput on the shared workloads W1 and W2, against baselines run in the same session.

    python benchmarks/bench_core.py [--shared ../shared] [--data /tmp/bench-data] [--reps 3]

For each workload the network is built in integer form with the weights of the shared int8
baseline (`shared/bench/peers/rust_limit.py`): per-layer symmetric int8 weights (scale
max|w|/127), leak 0.9 as the Q0.16 factor 58982, reset by subtraction, zero delay. The state
carries FRAC_BITS fractional bits: each weight is added shifted left by FRAC_BITS (the
connection's `shift`) and the threshold is round(2^FRAC_BITS / scale). Without them the
contract's per-tick truncation of the leak costs about half a weight unit per tick, which on
W2 (thresholds near 94 units) cost 45% of the output spikes against the float reference. It runs through the public Python API (`Engine.run` on the whole
array, and `Engine.feed` in 10 ms chunks), and the script also runs the plain numpy
event-driven baseline (`numpy_event.py`) and the int8 loop (`rust_limit.py`) in the same
session, so every figure is reported as a ratio measured on the same machine in the same run.
The idle check advances the network by 10 simulated seconds with no input.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

import snnedge as se

HERE = os.path.dirname(os.path.abspath(__file__))
LEAK_Q16 = 58982  # round(0.9 * 65536)
FRAC_BITS = 8


def q8(w: np.ndarray):
    s = float(np.abs(w).max()) / 127.0
    return np.clip(np.round(w / s), -127, 127).astype(np.int8), s


def build(d: dict, workload: str) -> se.Model:
    wo, s2 = q8(d["w_out"])
    if workload == "W1":
        wi, s1 = q8(d["w_in"])
        n_hid = wi.shape[1]
        first = se.Dense("fc1", "input", "hidden", wi.T, shift=FRAC_BITS)
        hid_shape = (n_hid,)
        in_shape = (2, 34, 34)
    else:
        wc, s1 = q8(d["w_conv"])
        first = se.Conv2d("conv", "input", "hidden", wc, stride=2, shift=FRAC_BITS)
        hid_shape = (8, 62, 62)
        in_shape = (2, 128, 128)
    layers = [
        se.LIF("hidden", hid_shape, decay_mem=LEAK_Q16, threshold=round(2**FRAC_BITS / s1), reset="subtract"),
        se.LIF("out", (wo.shape[1],), decay_mem=LEAK_Q16, threshold=round(2**FRAC_BITS / s2), reset="subtract"),
    ]
    conns = [first, se.Dense("fc2", "hidden", "out", wo.T, shift=FRAC_BITS)]
    return se.Model(in_shape, 1000, layers, conns, name=f"bench-{workload}")


def events_of(d: dict, workload: str) -> np.ndarray:
    side = 34 if workload == "W1" else 128
    ch = d["ch"].astype(np.int64)
    b = d["bin"].astype(np.int64)
    frac = np.minimum(999, np.floor((d["t_ms"] - b) * 1000.0).astype(np.int64))
    t_us = b * 1000 + np.maximum(frac, 0)
    p, rem = np.divmod(ch, side * side)
    y, x = np.divmod(rem, side)
    return se.make_events(t_us, x, y, p)


def run_whole(model: se.Model, ev: np.ndarray, n_steps: int):
    eng = se.Engine(model)
    t0 = time.perf_counter()
    spikes = eng.run(ev)
    wall = time.perf_counter() - t0
    spikes = np.concatenate([spikes, eng.advance(n_steps * 1000 - 1)])
    return wall, eng, spikes


def run_chunked(model: se.Model, ev: np.ndarray, n_steps: int, chunk_us: int = 10_000):
    eng = se.Engine(model)
    bounds = np.searchsorted(ev["t"], np.arange(0, n_steps * 1000 + chunk_us, chunk_us))
    chunks = [ev[bounds[k]:bounds[k + 1]] for k in range(len(bounds) - 1)]
    out = []
    t0 = time.perf_counter()
    for c in chunks:
        out.append(eng.feed(c))
    out.append(eng.advance(n_steps * 1000 - 1))
    wall = time.perf_counter() - t0
    return wall, eng, np.concatenate(out)


def run_peer(shared: str, data: str, script: str, workload: str) -> dict:
    r = subprocess.run([sys.executable, os.path.join(shared, "bench", "peers", script), "--workload", workload,
                        "--data", data], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--data", default="/tmp/bench-data")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default=None, choices=["W1", "W2"])
    ap.add_argument("--no-peers", action="store_true", help="skip the numpy/int8 baselines")
    ap.add_argument("--out", default=None, help="write the JSON results here")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "bench"))
    import workloads  # type: ignore

    results = []
    for workload in (["W1", "W2"] if a.only is None else [a.only]):
        d = workloads.load(workload, a.data)
        model = build(d, workload)
        ev = events_of(d, workload)
        n_steps = int(d["n_steps"])
        rounds = []
        for _ in range(a.reps):
            r = {}
            if not a.no_peers:
                r["numpy"] = run_peer(a.shared, a.data, "numpy_event.py", workload)
                r["int8"] = run_peer(a.shared, a.data, "rust_limit.py", workload)
            w_whole, eng, spikes = run_whole(model, ev, n_steps)
            w_chunk, eng_c, spikes_c = run_chunked(model, ev, n_steps)
            assert np.array_equal(spikes, spikes_c), "chunked output differs from whole-array output"
            st = eng.stats()
            # idle: 10 simulated seconds without input after the load
            t0 = time.perf_counter()
            eng.advance(n_steps * 1000 + 10_000_000)
            w_idle = time.perf_counter() - t0
            r.update(whole_s=w_whole, chunk_s=w_chunk, idle_10s_s=w_idle, synops=st["synops"],
                     hidden_spikes=st["layer_spikes"]["hidden"],
                     out_counts=np.bincount(spikes["neuron"], minlength=model.output_size).tolist())
            rounds.append(r)
            print(json.dumps({"workload": workload, **{k: v for k, v in r.items() if k not in ("numpy", "int8")}}),
                  file=sys.stderr)
        n_ev = len(ev)
        med = lambda key: float(np.median([r[key] for r in rounds]))  # noqa: E731
        res = {
            "workload": workload, "events": n_ev, "sim_s": n_steps / 1000, "synops": rounds[0]["synops"],
            "whole_s": med("whole_s"), "chunk_10ms_s": med("chunk_s"), "idle_10s_s": med("idle_10s_s"),
            "events_per_s": n_ev / med("whole_s"), "events_per_s_chunked": n_ev / med("chunk_s"),
            "synops_per_s": rounds[0]["synops"] / med("whole_s"),
            "hidden_spikes": rounds[0]["hidden_spikes"], "out_counts": rounds[0]["out_counts"],
            # cost of 10 s at rest vs the same span under load (the load's wall time scaled to 10 s)
            "idle_cost_ratio": med("idle_10s_s") / (med("whole_s") * 10.0 / (n_steps / 1000)),
        }
        if not a.no_peers:
            res["numpy_s"] = float(np.median([r["numpy"]["wall_s"] for r in rounds]))
            res["int8_s"] = float(np.median([r["int8"]["wall_s"] for r in rounds]))
            res["speedup_vs_numpy"] = float(np.median([r["numpy"]["wall_s"] / r["whole_s"] for r in rounds]))
            res["speedup_vs_numpy_chunked"] = float(np.median([r["numpy"]["wall_s"] / r["chunk_s"] for r in rounds]))
            res["fraction_of_int8_loop"] = float(np.median([r["int8"]["wall_s"] / r["whole_s"] for r in rounds]))
            res["numpy_out_counts"] = rounds[0]["numpy"]["out_counts"]
            res["numpy_hidden_spikes"] = rounds[0]["numpy"]["hidden_spikes"]
            res["int8_out_counts"] = rounds[0]["int8"]["out_counts"]
        results.append(res)
        print(json.dumps(res))
    meta = {"date": datetime.date.today().isoformat(), "snnedge": se.__version__, "numpy": np.__version__,
            "reps": a.reps, "machine": os.uname().machine, "cpus": os.cpu_count()}
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
    print("\n| workload | events/s (whole) | events/s (10 ms chunks) | SynOps/s | x numpy-event | "
          "x numpy (chunked) | share of int8 loop | idle 10 s / loaded 10 s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['workload']} | {r['events_per_s'] / 1e6:.2f} M | {r['events_per_s_chunked'] / 1e6:.2f} M | "
              f"{r['synops_per_s'] / 1e9:.2f} G | {r.get('speedup_vs_numpy', float('nan')):.1f}x | "
              f"{r.get('speedup_vs_numpy_chunked', float('nan')):.1f}x | {r.get('fraction_of_int8_loop', float('nan')):.2f} | "
              f"{r['idle_cost_ratio'] * 100:.3f}% |")


if __name__ == "__main__":
    main()
