"""Offline replay throughput (``snnedge.replay``, speed="max") on the shared recordings, against
``Engine.run`` on the same events read whole, in the same run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_replay.py [--reps 7] [--out results.json]

For each recording: the model (the bundled N-MNIST CNN for the 34x34 N-MNIST sample; for the
larger sensors a small model built here to fit them: 16x16 sum pooling of the ON/OFF input
into IF neurons, then 4 IF neurons for the quadrants), then medians over ``reps`` rounds of

- ``replay``: ``snnedge.replay(path, model, speed="max")``, everything included (decoding,
  chunking, the engine, per-window decisions), no progress line;
- ``read+run``: ``read_events(path)`` then ``Engine.run`` on the whole array;
- ``run``: ``Engine.run`` alone on the array read beforehand.

Throughput in events/s; the real-time factor is the recording's span (first to last event)
over the replay's wall time. The ratio columns are replay over read+run and over run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

import snnedge as se

ROOT = Path(__file__).resolve().parents[1]
REC = ROOT.parent / "shared" / "data" / "recordings"


def pooled_model(w: int, h: int) -> se.Model:
    """ON/OFF -> 16x16 sum pooling -> IF -> 4 quadrant IF neurons (a model that fits the sensor)."""
    ph, pw = h // 16, w // 16
    quad = np.zeros((4, 2, ph, pw), np.int64)
    for q in range(4):
        quad[q, :, (q // 2) * (ph // 2):(q // 2 + 1) * (ph // 2), (q % 2) * (pw // 2):(q % 2 + 1) * (pw // 2)] = 1
    return se.Model((2, ph * 16, pw * 16), 1000,
                    [se.IF("pooled", (2, ph, pw), threshold=40), se.IF("quadrant", (4,), threshold=20)],
                    [se.SumPool2d("pool", "input", "pooled", 16),
                     se.Dense("fc", "pooled", "quadrant", quad.reshape(4, -1))])


def median_time(fn: Any, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench(path: Path, model: se.Model, reps: int) -> Dict[str, Any]:
    ev = se.read_events(path)
    engine = se.Engine(model)

    def run_whole() -> None:
        engine.reset()
        engine.run(ev)

    def read_run() -> None:
        engine.reset()
        engine.run(se.read_events(path))

    res = se.replay(path, model, progress=False)
    f = res.files[0]
    assert f.ok and f.events == len(ev)
    engine.reset()
    assert np.array_equal(f.spikes, engine.run(ev)), "replay must equal Engine.run"
    t_replay = median_time(lambda: se.replay(path, model, progress=False), reps)
    t_read_run = median_time(read_run, reps)
    t_run = median_time(run_whole, reps)
    span_s = f.duration_us / 1e6
    return {
        "file": path.name, "events": len(ev), "span_s": span_s, "model": model.name or "pooled", "input": list(model.input_shape),
        "output_spikes": int(len(f.spikes)), "synops": f.synops,
        "replay_s": t_replay, "read_run_s": t_read_run, "run_s": t_run,
        "replay_events_per_s": len(ev) / t_replay, "read_run_events_per_s": len(ev) / t_read_run,
        "run_events_per_s": len(ev) / t_run, "real_time_factor": span_s / t_replay,
        "replay_over_read_run": t_read_run / t_replay, "replay_over_run": t_run / t_replay,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=None, help="also write the rows as JSON")
    a = ap.parse_args()
    cases = []
    nmnist = REC / "sample_nmnist.bin"
    if nmnist.exists():
        cases.append((nmnist, se.Model.load(ROOT / "firmware_models" / "nmnist_cnn_sinabs.snnm")))
    for name in ("sample.aedat4", "evt2_sample.raw"):
        p = REC / name
        if p.exists():
            w, h = se.probe(p)["sensor_size"]
            cases.append((p, pooled_model(w, h)))
    rows: List[Dict[str, Any]] = [bench(p, m, a.reps) for p, m in cases]
    print(f"| recording | events | span | model input | replay events/s | real-time factor | "
          f"read+run events/s | run events/s | replay / read+run | replay / run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['file']} | {r['events']:,} | {r['span_s'] * 1000:.0f} ms | {'x'.join(map(str, r['input']))} | "
              f"{r['replay_events_per_s'] / 1e6:.2f} M | {r['real_time_factor']:.1f}x | "
              f"{r['read_run_events_per_s'] / 1e6:.2f} M | {r['run_events_per_s'] / 1e6:.2f} M | "
              f"{r['replay_over_read_run']:.2f} | {r['replay_over_run']:.2f} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"reps": a.reps, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
