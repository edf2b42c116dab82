"""The ``snnedge`` command line.

    snnedge run [--model M.snnm] [--duration 10] [--seed 0] [--chunk-ms 10] [--json]
    snnedge info MODEL.snnm
    snnedge convert IN OUT [--format F] [--sensor-size WxH] [--on-error skip] [--shift-time]
    snnedge probe FILE...

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


def cmd_info(a: argparse.Namespace) -> int:
    model = Model.load(a.model)
    print(repr(model))
    print(f"output layer: {model.output}; synapses: {model.synapse_count}")
    for k, v in sorted(model.metadata.items()):
        print(f"  {k}: {v}")
    return 0


def _sensor_size(text: Optional[str]) -> Optional[tuple]:
    if text is None:
        return None
    w, _, h = text.lower().partition("x")
    return (int(w), int(h))


def cmd_convert(a: argparse.Namespace) -> int:
    from .formats import convert

    t0 = time.perf_counter()
    s = convert(a.input, a.output, format=a.format, sensor_size=_sensor_size(a.sensor_size),
                on_error=a.on_error, shift_time=a.shift_time)
    wall = time.perf_counter() - t0
    w, h = s["sensor_size"]
    msg = f"{a.input} ({s['format_in']}) -> {a.output} ({s['format_out']}): {s['events']} events, {w}x{h}, {wall:.2f} s"
    if s["faults"]:
        msg += f"; skipped {s['faults']} bad units ({s['skipped_bytes']} bytes)"
    if s["t0_us"] is not None:
        msg += f"; times shifted by -{s['t0_us']} us"
    print(msg)
    return 0


def cmd_probe(a: argparse.Namespace) -> int:
    from .formats import probe

    for path in a.files:
        info = probe(path)
        meta = info.pop("metadata")
        if a.json:
            info["metadata"] = {k: v for k, v in meta.items() if k != "description"}
            print(json.dumps({"path": path, **info}))
            continue
        size = info["sensor_size"]
        print(f"{path}: {info['format_name']}, sensor {size[0]}x{size[1]}" if size else f"{path}: {info['format_name']}",
              end="")
        print(f", {info['file_size']} bytes" + (f", {info['events']} events" if info["events"] is not None else ""))
        for k, v in meta.items():
            if k != "description":
                print(f"  {k}: {v}")
    return 0


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
    i.set_defaults(func=cmd_info)
    c = sub.add_parser("convert", help="convert an event file to another format (streaming)")
    c.add_argument("input")
    c.add_argument("output", help="format from the extension (.npz .npy .csv .raw=EVT3 .aedat4 .es .dat .bin) or --format")
    c.add_argument("--format", default=None, help="evt2, evt3, aedat4, es, dat, nmnist, npz, npy, csv")
    c.add_argument("--sensor-size", default=None, metavar="WxH", help="default: the input header's, else the events' extent")
    c.add_argument("--on-error", choices=["stop", "skip"], default="stop")
    c.add_argument("--shift-time", action="store_true", help="subtract the first event's time")
    c.set_defaults(func=cmd_convert)
    pr = sub.add_parser("probe", help="format, sensor size and header of event files")
    pr.add_argument("files", nargs="+")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_probe)
    a = ap.parse_args(argv)
    try:
        return int(a.func(a))
    except (SnnEdgeError, OSError) as e:
        print(f"snnedge: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
