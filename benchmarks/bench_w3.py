#!/usr/bin/env python3
"""Online learning throughput on the shared workload W3 (Diehl & Cook 2015 STDP/WTA on digits),
against peers run in the same session.

    python benchmarks/bench_w3.py [--shared ../shared] [--data /tmp/bench-data] [--reps 3] [--brian2 PY]

W3 (../shared/bench/README.md): 200 digit samples, pre-generated Poisson input (784 channels),
350 ms presentation + 150 ms rest per sample at 1 ms ticks, 100 excitatory neurons with
adaptive thresholds, 100 inhibitory neurons, STDP on the input weights, normalisation after
every sample. snnedge runs the integer network of examples/diehl_cook_digits.py through the
Python API, single thread, learning on; the float numpy reference of the same network runs on
a shortened input in the same session; Brian2 (Cython mode, the fastest peer of the shared
results) runs through ../shared/bench/peers/brian2.py when a Python with Brian2 is given.
Reported: training samples per second and the ratios measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

import diehl_cook_digits as dc  # noqa: E402


def w3_samples(shared: str, data: str):
    sys.path.insert(0, os.path.join(shared, "bench"))
    import workloads  # type: ignore

    d = workloads.load("W3", data)
    n = int(d["n_samples"])
    order = np.argsort(d["sample"], kind="stable")
    samples = dc.split_samples(d["sample"][order], d["t_ms"][order], d["ch"][order], n)
    return samples, d["w_init"].astype(np.float64)


def run_snnedge(samples, w_init) -> float:
    net = dc.IntegerDC(w_init)
    t0 = time.perf_counter()
    net.run(samples, learn=True)
    return len(samples) / (time.perf_counter() - t0)


def run_float(samples, w_init) -> float:
    ref = dc.FloatDC(w_init)
    t0 = time.perf_counter()
    ref.run(samples, learn=True)
    return len(samples) / (time.perf_counter() - t0)


def run_brian2(python: str, shared: str, data: str, n: int) -> dict:
    r = subprocess.run([python, os.path.join(shared, "bench", "peers", "brian2.py"), "--workload", "W3", "--mode",
                        "cython", "--data", data, "--samples", str(n)], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--data", default="/tmp/bench-data")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--brian2", default=None, help="a Python with brian2 (e.g. /tmp/venv-peers-brian2/bin/python)")
    ap.add_argument("--brian2-samples", type=int, default=50, help="Brian2 runs this many samples per round")
    ap.add_argument("--float-samples", type=int, default=20)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    samples, w_init = w3_samples(a.shared, a.data)
    rounds = []
    for _ in range(a.reps):
        r = {"snnedge": run_snnedge(samples, w_init), "float_numpy": run_float(samples[:a.float_samples], w_init)}
        if a.brian2:
            r["brian2_cython"] = run_brian2(a.brian2, a.shared, a.data, a.brian2_samples)["samples_per_s"]
        rounds.append(r)
        print(json.dumps(r), file=sys.stderr)
    med = {k: float(np.median([r[k] for r in rounds])) for k in rounds[0]}
    ratios = {f"x_{k}": float(np.median([r["snnedge"] / r[k] for r in rounds])) for k in rounds[0] if k != "snnedge"}
    res = {"samples": len(samples), "median_samples_per_s": med, "ratios": ratios, "rounds": rounds}
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
