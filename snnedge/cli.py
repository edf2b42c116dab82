"""The ``snnedge`` command line.

    snnedge run [--model M.snnm] [--duration 10] [--seed 0] [--chunk-ms 10] [--json]
    snnedge info MODEL.snnm

``run`` is the main job on the bundled defaults: until the daemon lands it streams a
simulated DVS-like sensor (bars moving in four directions, ``snnedge.synthetic``) through the
bundled model ``firmware_models/motion_direction.snnm`` in chunks, prints the decision of each
stimulus next to the truth, and ends with a summary (events, synaptic operations, wall time,
real-time factor, accuracy).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional

import numpy as np

from .engine import Engine
from .errors import SnnEdgeError
from .model import Model

BUNDLED = "motion_direction.snnm"


def firmware_dir() -> str:
    """The firmware_models folder: next to the package (source tree, editable or wheel install)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "firmware_models"))


def bundled_model_path() -> str:
    for base in (os.path.join(os.getcwd(), "firmware_models"), firmware_dir()):
        path = os.path.join(base, BUNDLED)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"bundled model {BUNDLED} not found in ./firmware_models or {firmware_dir()}")


def cmd_run(a: argparse.Namespace) -> int:
    from .synthetic import DIRECTIONS, moving_bars

    path = a.model or bundled_model_path()
    model = Model.load(path)
    labels = model.metadata.get("outputs", ",".join(DIRECTIONS)).split(",")
    events, segments = moving_bars(duration_s=a.duration, seed=a.seed)
    engine = Engine(model)
    chunk_us = int(a.chunk_ms * 1000)
    bounds = np.searchsorted(events["t"], np.arange(0, int(a.duration * 1e6) + chunk_us, chunk_us))
    parts = []
    t0 = time.perf_counter()
    for k in range(len(bounds) - 1):
        parts.append(engine.feed(events[bounds[k]:bounds[k + 1]]))
    parts.append(engine.advance(int(a.duration * 1e6) - 1))
    wall = time.perf_counter() - t0
    spikes = np.concatenate(parts)
    stats = engine.stats()

    rows = []
    correct = 0
    for s in segments:
        sel = spikes[(spikes["t"] >= s.t_start_us) & (spikes["t"] < s.t_end_us + 10_000)]
        counts = np.bincount(sel["neuron"], minlength=len(labels))
        decision = labels[int(np.argmax(counts))] if counts.sum() else "none"
        correct += decision == s.direction
        rows.append(dict(t_ms=s.t_start_us / 1000, truth=s.direction, decision=decision, counts=counts.tolist()))
    summary = dict(
        model=os.path.basename(path), events=int(stats["input_events"]), simulated_s=a.duration,
        wall_s=round(wall, 4), events_per_s=round(stats["input_events"] / wall), real_time_factor=round(a.duration / wall, 1),
        synops=int(stats["synops"]), synops_per_s=round(stats["synops"] / wall), output_spikes=int(stats["output_spikes"]),
        spikes_per_output={labels[i]: int(c) for i, c in enumerate(np.bincount(spikes["neuron"], minlength=len(labels)))},
        stimuli=len(segments), correct=int(correct), accuracy=round(correct / max(1, len(segments)), 4),
    )
    if a.json:
        print(json.dumps({"decisions": rows, "summary": summary}))
        return 0
    print(f"{model!r}")
    print(f"stream: {len(events)} events, {a.duration:g} s simulated, fed in {a.chunk_ms:g} ms chunks\n")
    print(f"{'t (ms)':>9}  {'truth':<6} {'decision':<8} output spikes " + "/".join(labels))
    shown = rows if len(rows) <= a.show else rows[: a.show]
    for r in shown:
        mark = "ok" if r["truth"] == r["decision"] else "MISS"
        print(f"{r['t_ms']:9.1f}  {r['truth']:<6} {r['decision']:<8} {r['counts']}  {mark}")
    if len(rows) > len(shown):
        print(f"   ... {len(rows) - len(shown)} more")
    print(
        f"\n{summary['events']} events in {summary['wall_s']:.3f} s: {summary['events_per_s'] / 1e6:.2f} M events/s, "
        f"{summary['synops_per_s'] / 1e6:.1f} M SynOps/s, real-time factor {summary['real_time_factor']:g}x"
    )
    print(f"decisions: {correct}/{len(segments)} correct ({100 * summary['accuracy']:.1f}%)")
    return 0


def _tensor_bytes(t: Optional[dict]) -> int:
    if not t:
        return 0
    data = t["data"]
    return len(data) if isinstance(data, (bytes, bytearray)) else int(np.prod(t["shape"])) * {"int8": 1, "uint8": 1}.get(t["dtype"], 4)


def model_summary(model: Model) -> dict:
    """Layers, connection sizes in bytes, parameter counts, and SynOps per input event."""
    spec = model.spec
    shapes = {l["name"]: tuple(l["shape"]) for l in spec["layers"]}
    shapes["input"] = tuple(spec["input_shape"])
    layers = []
    for l in spec["layers"]:
        n = int(np.prod(l["shape"]))
        layers.append(dict(name=l["name"], neuron=l["neuron"], shape=list(l["shape"]), neurons=n,
                           state_bits=l.get("state_bits", 24), threshold=l.get("threshold"),
                           decay_mem=l.get("decay_mem"), bias_bytes=_tensor_bytes(l.get("bias")) + _tensor_bytes(l.get("bias_syn"))))
    conns = []
    per_event = 0.0
    for c in spec["connections"]:
        kind = c["kind"]
        src, dst = shapes[c["source"]], shapes[c["target"]]
        n_src = int(np.prod(src))
        if kind == "Dense":
            params = int(np.prod(c["weight"]["shape"]))
            fanout = int(np.prod(dst))
            nbytes = _tensor_bytes(c["weight"]) + _tensor_bytes(c.get("delays"))
        elif kind == "Conv2d":
            co, ci, kh, kw = c["weight"]["shape"]
            params = co * ci * kh * kw
            sh, sw = c.get("stride") or (1, 1)
            fanout = co * (kh / sh) * (kw / sw)  # covered outputs per input pixel, on average
            nbytes = _tensor_bytes(c["weight"])
        elif kind == "Pool2d":
            kh, kw = c["kernel"]
            sh, sw = c.get("stride") or c["kernel"]
            params, fanout, nbytes = 1, (kh / sh) * (kw / sw), 0
        else:
            params = int(np.prod(c["weights"]["shape"]))
            fanout = params / max(1, n_src)
            nbytes = sum(_tensor_bytes(c.get(k)) for k in ("indptr", "indices", "weights", "delays"))
        if c["source"] == "input":
            per_event += fanout
        conns.append(dict(name=c["name"], kind=kind, source=c["source"], target=c["target"], params=params,
                          bytes=nbytes, shift=c.get("shift", 0), delay=c.get("delay", 0), synops_per_spike=round(fanout, 2)))
    return dict(name=spec.get("name", ""), input_shape=list(spec["input_shape"]), tick_us=spec["tick_us"],
                output=model.output, layers=layers, connections=conns,
                parameters=sum(c["params"] for c in conns), weight_bytes=sum(c["bytes"] for c in conns),
                synops_per_input_event=round(per_event, 2), metadata=model.metadata)


def cmd_info(a: argparse.Namespace) -> int:
    model = Model.load(a.model)
    info = model_summary(model)
    if a.json:
        print(json.dumps(info))
        return 0
    print(repr(model))
    print(f"file: {a.model} ({os.path.getsize(a.model)} bytes); output layer: {model.output}; "
          f"tick {model.tick_us} us")
    print(f"parameters: {info['parameters']} ({info['weight_bytes']} bytes of weights); "
          f"SynOps per input event (input connections): {info['synops_per_input_event']}")
    print(f"\n{'layer':<16} {'neuron':<10} {'shape':<16} {'neurons':>8} {'bits':>5} {'threshold':>10}")
    for l in info["layers"]:
        print(f"{l['name']:<16} {l['neuron']:<10} {str(l['shape']):<16} {l['neurons']:>8} {l['state_bits']:>5} "
              f"{str(l['threshold']):>10}")
    print(f"\n{'connection':<28} {'kind':<7} {'source -> target':<24} {'params':>9} {'bytes':>9} {'shift':>5} "
          f"{'delay':>5} {'SynOps/spike':>12}")
    for c in info["connections"]:
        print(f"{c['name'][:28]:<28} {c['kind']:<7} {(c['source'] + ' -> ' + c['target'])[:24]:<24} {c['params']:>9} "
              f"{c['bytes']:>9} {c['shift']:>5} {c['delay']:>5} {c['synops_per_spike']:>12}")
    meta = model.metadata
    if meta:
        print()
        for k, v in sorted(meta.items()):
            if k != "quant_report":
                print(f"  {k}: {v}")
    return 0


def _read_any_events(path: str) -> np.ndarray:
    from . import events as _events

    reader = getattr(sys.modules["snnedge"], "read_events", None)
    if reader is not None:
        return reader(path)
    if path.endswith((".npy", ".npz")):
        data = np.load(path, allow_pickle=False)
        if hasattr(data, "files"):
            data = data[data.files[0]]
        return _events.as_events(data)
    raise SnnEdgeError(f"cannot read events from {path} (supported here: .npy, .npz)")


def cmd_export(a: argparse.Namespace) -> int:
    from .models import import_nir, quantize

    net = import_nir(a.graph, dt=a.dt, tick_us=a.tick_us, reset=a.reset, framework=a.framework)
    calibration = [_read_any_events(p) for p in a.calibration]
    labels = [int(x) for x in a.labels.split(",")] if a.labels else None
    if a.outputs:
        net.metadata["labels"] = a.outputs.split(",")
    model, report = quantize(net, calibration, labels=labels, weight_bits=a.weight_bits, state_bits=a.state_bits,
                             leak=a.leak)
    command = "snnedge export " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "snnedge export"
    model = model.with_metadata(command=command)
    model.save(a.out)
    print(report.to_markdown())
    print(f"\nwrote {a.out} ({os.path.getsize(a.out)} bytes)")
    if a.report:
        with open(a.report, "w") as f:
            f.write(report.to_markdown() + "\n")
    return 0 if report.meets_target or not calibration else 2


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="snnedge", description="Event-driven spiking neural network runtime")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the main job on the bundled defaults (simulated sensor, bundled model)")
    r.add_argument("--model", default=None, help="a .snnm model (default: the bundled motion_direction.snnm)")
    r.add_argument("--duration", type=float, default=10.0, help="simulated seconds (default 10)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--chunk-ms", type=float, default=10.0, help="stream the events in chunks of this length")
    r.add_argument("--show", type=int, default=12, help="decisions to print")
    r.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    r.set_defaults(func=cmd_run)
    i = sub.add_parser("info", help="describe a model file")
    i.add_argument("model")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)
    x = sub.add_parser("export", help="NIR graph -> quantized .snnm model (prints the quantization report)")
    x.add_argument("graph", help="a .nir file")
    x.add_argument("--dt", type=float, required=True, help="the training time step in seconds")
    x.add_argument("--tick-us", type=int, default=None, help="length of one step in the event stream (default dt)")
    x.add_argument("--reset", choices=["value", "subtract"], default=None)
    x.add_argument("--framework", default=None, help="the framework the graph came from (recorded)")
    x.add_argument("--calibration", nargs="*", default=[], help="event files for calibration and the report")
    x.add_argument("--labels", default=None, help="comma-separated class of each calibration file")
    x.add_argument("--outputs", default=None, help="comma-separated names of the output neurons")
    x.add_argument("--weight-bits", type=int, default=8, choices=[4, 8, 16])
    x.add_argument("--state-bits", type=int, default=None, choices=[16, 24, 32])
    x.add_argument("--leak", choices=["multiply", "shift"], default=None)
    x.add_argument("--out", required=True)
    x.add_argument("--report", default=None, help="also write the report (markdown) here")
    x.set_defaults(func=cmd_export)
    a = ap.parse_args(argv)
    try:
        return int(a.func(a))
    except (SnnEdgeError, FileNotFoundError) as e:
        print(f"snnedge: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
