"""The ``snnedge`` command line.

    snnedge run [--model M.snnm] [--duration S] [--speed 1] [--window-ms 50] [--json]
    snnedge daemon --config snnedge.toml [--check]
    snnedge simulate [--pty [--link PATH] | --listen HOST:PORT | --udp HOST:PORT] [--rate EV/S] ...
    snnedge info MODEL.snnm
    snnedge convert IN OUT [--format F] [--sensor-size WxH] [--on-error skip] [--shift-time]
    snnedge probe FILE...
    snnedge replay FILE_OR_DIR... [--model M.snnm] [--speed max|1|X] [--window-us N] [--out R.jsonl|R.npz]
                   [--raster R.png] [--no-progress] [--on-error stop|skip] [--json]
    snnedge view FILE [--out IMAGE.png|ANIM.gif] [--t0 US] [--t1 US] [--frame-us US] [--fps N]

``run`` is the daemon on the bundled defaults: the simulated DVS-like sensor (bars moving in
four directions, ``snnedge.synthetic``) in real time through the bundled model
``firmware_models/motion_direction.snnm``; it prints each window's decision next to the truth
as it comes and, when stopped (Ctrl-C or ``--duration``), a summary (events, synaptic
operations, latency, accuracy).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, List, Optional

import numpy as np

from .engine import Engine
from .events import EVENT_DTYPE, SPIKE_DTYPE
from .errors import SnnEdgeError
from .model import Model

if TYPE_CHECKING:
    from .devices import SimulatedSource
    from .replay import FileResult
    from .stream import WindowResult

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


class ConsoleSink:
    """``snnedge run``'s output: one line per decision next to the simulated truth (text), or
    everything collected for one JSON document at the end (``--json``)."""

    kind = "console"

    def __init__(self, source: "SimulatedSource", labels: List[str], show: Optional[int], as_json: bool,
                 collect: bool) -> None:
        self.source, self.labels, self.show, self.as_json, self.collect = source, labels, show, as_json, collect
        self.rows: List[dict] = []
        self.spikes: List[np.ndarray] = []
        self.shown = 0
        self.correct = 0
        self.judged = 0

    def emit(self, r: "WindowResult") -> None:
        if self.collect and len(r.spikes):
            self.spikes.append(r.spikes)
        if r.decision is None:
            return
        truth = self.source.truth(r.t_start_us, r.t_end_us)
        if truth is not None:
            self.judged += 1
            self.correct += truth == r.label
        row = dict(t_ms=r.t_start_us / 1000, truth=truth, decision=r.label, counts=r.counts.tolist(),
                   latency_us=round(r.latency_us, 1))
        if self.as_json:
            if self.collect:
                self.rows.append(row)
            return
        if self.show is None or self.shown < self.show:
            mark = "ok" if truth == r.label else ("-" if truth is None else "MISS")
            print(f"{row['t_ms']:9.1f}  {str(truth):<6} {str(r.label):<8} {row['counts']}  {mark}", flush=True)
        elif self.shown == self.show:
            print("   ... (more decisions not shown)", flush=True)
        self.shown += 1

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        self.flush()


def cmd_run(a: argparse.Namespace) -> int:
    """The daemon on the bundled defaults: the simulated sensor (moving bars) in real time
    through the bundled model, decisions printed as they come; Ctrl-C stops it cleanly."""
    from .daemon import Daemon, validate
    from .devices import SimulatedSource
    from .synthetic import stimulus_decisions

    path = a.model or bundled_model_path()
    model = Model.load(path)
    labels = model.metadata.get("outputs", "").split(",") if model.metadata.get("outputs") else \
        [str(i) for i in range(model.output_size)]
    if a.window_ms <= 0 or int(a.window_ms * 1000) % model.tick_us:
        print(f"snnedge: error: --window-ms must be a positive multiple of the model's tick "
              f"({model.tick_us / 1000:g} ms)", file=sys.stderr)
        return 1
    finite = a.duration is not None
    source = SimulatedSource(seed=a.seed, scene_s=a.duration if finite else 10.0, speed=a.speed, loop=not finite)
    console = ConsoleSink(source, labels, None if a.show < 0 else a.show, a.json, collect=finite)
    cfg = validate({
        "model": {"path": os.path.abspath(path), "window_us": int(a.window_ms * 1000)},
        "source": {"kind": "simulated", "seed": a.seed, "speed": a.speed, "loop": not finite},
        "sinks": [],
        "http": {"enabled": a.http is not None, "address": a.http or "127.0.0.1:0"},
        "log": {"level": a.log_level, "format": "text"},
    })
    daemon = Daemon(cfg, extra_sinks=[console], source=source)
    if not a.json:
        print(f"{model!r}")
        print(f"streaming the simulated sensor (bars moving on 32x32, "
              f"{'real time' if a.speed == 1 else ('as fast as possible' if a.speed == 0 else f'{a.speed:g}x')}) "
              f"in {a.window_ms:g} ms windows; " + (f"{a.duration:g} s" if finite else "Ctrl-C stops") + "\n",
              flush=True)
        print(f"{'t (ms)':>9}  {'truth':<6} {'decision':<8} output spikes " + "/".join(labels), flush=True)
    t0 = time.perf_counter()
    code = daemon.run()
    wall = time.perf_counter() - t0
    if code != 0 or daemon.stream is None:
        return code
    stats = daemon.stream.engine.stats()
    snap = daemon.stream.snapshot()
    spikes = np.concatenate(console.spikes, dtype=SPIKE_DTYPE) if console.spikes else np.zeros(0, SPIKE_DTYPE)
    segments = source.segments if finite else []
    correct = sum(d == seg.direction for d, seg in zip(stimulus_decisions(spikes, segments, labels), segments))
    simulated = a.duration if finite else wall * (a.speed or 1)
    summary = dict(
        model=os.path.basename(path), events=int(snap.get("events_in", 0)), simulated_s=round(simulated, 3),
        wall_s=round(wall, 4), events_per_s=round(snap.get("events_in", 0) / wall),
        real_time_factor=round(simulated / wall, 2), synops=int(stats["synops"]),
        synops_per_s=round(stats["synops"] / wall), output_spikes=int(stats["output_spikes"]),
        spikes_per_output={labels[i]: int(c) for i, c in enumerate(np.bincount(spikes["neuron"], minlength=len(labels)))}
        if finite else None,
        stimuli=len(segments), correct=int(correct), accuracy=round(correct / max(1, len(segments)), 4),
        window_decisions=console.shown if not a.json else console.judged, window_accuracy=round(
            console.correct / max(1, console.judged), 4),
        events_dropped=snap.get("events_dropped_total", 0), latency_us=daemon.stream.latency_percentiles(),
    )
    if a.json:
        print(json.dumps({"decisions": console.rows, "summary": summary}))
        return 0
    print(f"\n{summary['events']} events in {summary['wall_s']:.3f} s ({summary['events_per_s']} events/s, "
          f"{summary['synops_per_s'] / 1e6:.2f} M SynOps/s, real-time factor {summary['real_time_factor']:g}x), "
          f"{summary['events_dropped']} dropped; latency p50 {summary['latency_us']['p50']:.0f} us, "
          f"p99 {summary['latency_us']['p99']:.0f} us")
    if segments:
        print(f"decisions: {correct}/{len(segments)} stimuli correct ({100 * summary['accuracy']:.1f}%)")
    print(f"windows with a decision: {console.correct}/{console.judged} match the bar on screen "
          f"({100 * summary['window_accuracy']:.1f}%)")
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    from .devices.simulator import main as simulate

    return simulate(a)


def cmd_daemon(a: argparse.Namespace) -> int:
    from .daemon import run_daemon
    from .daemon.config import load_config

    if a.check:
        cfg = load_config(a.config)
        from .daemon import load_checked_model

        load_checked_model(cfg.model_path, cfg.window_us, cfg.labels)
        print(f"{a.config}: valid")
        return 0
    return run_daemon(a.config)


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
            fanout: float = int(np.prod(dst))
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
    from .formats import read_events

    return read_events(path)


def cmd_export(a: argparse.Namespace) -> int:
    from .models import import_nir, quantize

    net = import_nir(a.graph, dt=a.dt, tick_us=a.tick_us, reset=a.reset, framework=a.framework)
    calibration = [_read_any_events(p) for p in a.calibration]
    labels = [int(x) for x in a.labels.split(",")] if a.labels else None
    if a.outputs:
        net.metadata["labels"] = a.outputs.split(",")
    model, report = quantize(net, calibration, labels=labels, weight_bits=a.weight_bits, state_bits=a.state_bits,
                             leak=a.leak, granularity=a.granularity)
    command = "snnedge export " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "snnedge export"
    model = model.with_metadata(command=command)
    model.save(a.out)
    print(report.to_markdown())
    print(f"\nwrote {a.out} ({os.path.getsize(a.out)} bytes)")
    if a.report:
        with open(a.report, "w") as f:
            f.write(report.to_markdown() + "\n")
    return 0 if report.meets_target or not calibration else 2


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


def _segments(f: "FileResult", limit: int) -> str:
    """A file's window decisions as runs: "0-150 ms right, 150-200 none, ..." (ms from the
    first window's start), at most ``limit`` runs."""
    d = f.window_decisions
    if not len(d):
        return "no windows"
    cut = np.flatnonzero(np.diff(d)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(d)]])
    base = int(f.window_start_us[0])
    w_ms = f.window_us / 1000
    runs = []
    for a, b in zip(starts[:limit].tolist(), ends[:limit].tolist()):
        name = "none" if d[a] < 0 else f.labels[int(d[a])]
        t_a = (int(f.window_start_us[a]) - base) / 1000
        runs.append(f"{t_a:g}-{t_a + (b - a) * w_ms:g} {name}")
    more = len(starts) - limit
    return ", ".join(runs) + (f", ... ({more} more runs; every window is in --out)" if more > 0 else "")


def cmd_replay(a: argparse.Namespace) -> int:
    """Replays event files (or directories of them) through a model; prints a summary per file
    and a total. Exit code 0 only when every file succeeded."""
    from .replay import replay

    path = a.model or bundled_model_path()
    model = Model.load(path)
    result = replay(a.inputs, model, speed=a.speed, window_us=a.window_us, out=a.out, raster=a.raster,
                    progress=not a.no_progress, on_error=a.on_error)
    total = result.summary()
    for f in result.failed:
        print(f"snnedge: failed: {f.path}: {type(f.error).__name__}: {f.error}", file=sys.stderr)
    if a.json:
        print(json.dumps({"model": os.path.basename(path), "files": [f.summary() for f in result.files],
                          "total": total}))
        return 0 if result.ok else 1
    labels = result.labels
    print(f"{model!r}")
    print(f"windows of {result.window_us / 1000:g} ms; output spikes per output: {'/'.join(labels)}")
    for f in result.files:
        s = f.summary()
        print(f"\n{f.path}: {s['format'] or '?'}" + (f", sensor {f.sensor_size[0]}x{f.sensor_size[1]}" if f.sensor_size else ""))
        if f.error is not None:
            print(f"  FAILED: {s['error']}")
            print("  partial results (everything decoded before the fault):")
        rtf = f"{s['real_time_factor']:g}x" if s["real_time_factor"] is not None else "-"
        print(f"  {f.events} events over {f.duration_us / 1e6:.3f} s in {f.wall_s:.3f} s "
              f"({s['events_per_s'] or 0} events/s, real-time factor {rtf}); {f.synops} synaptic operations"
              + (f"; skipped {f.skipped_bytes} bytes in {f.faults} faults" if f.faults else ""))
        print(f"  output spikes: {len(f.spikes)} ({', '.join(f'{k} {v}' for k, v in s['spikes_per_output'].items())}); "
              f"decision: {f.label}")
        tally = ", ".join(f"{k} {v}" for k, v in s["window_decisions"].items())
        print(f"  windows: {s['windows']} ({tally})")
        print(f"  window decisions (ms): {_segments(f, 12)}")
    rtf = f"{total['real_time_factor']:g}x" if total["real_time_factor"] is not None else "-"
    print(f"\ntotal: {len(result.files)} files, {len(result.failed)} failed; {total['events']} events in "
          f"{total['wall_s']:.3f} s ({total['events_per_s'] or 0} events/s, real-time factor {rtf}); "
          f"{total['synops']} synaptic operations")
    print(f"output spikes: {total['output_spikes']} ({', '.join(f'{k} {v}' for k, v in total['spikes_per_output'].items())})")
    print("windows: " + ", ".join(f"{k} {v}" for k, v in total["window_decisions"].items()))
    if a.out:
        print(f"results: {a.out}")
    if a.raster:
        print(f"raster: {a.raster}")
    return 0 if result.ok else 1


def cmd_view(a: argparse.Namespace) -> int:
    """Renders a recording: one accumulated ON/OFF image (.png, ...) or an animation (.gif).
    --t0/--t1 are microseconds after the first event."""
    from . import plot
    from .formats import open_events

    plot.require_matplotlib()
    out = a.out or os.path.splitext(os.path.basename(a.file))[0] + ".png"
    gif = out.lower().endswith(".gif")
    stream = open_events(a.file, chunk_events=1 << 18)
    size = stream.sensor_size
    parts: List[np.ndarray] = []
    frame = None
    first: Optional[int] = None
    n = 0
    for chunk in stream:  # keeps only the events of [t0, t1)
        if not len(chunk):
            continue
        if first is None:
            first = int(chunk["t"][0])
        t = chunk["t"]
        keep = t >= np.uint64(first + (a.t0 or 0))
        if a.t1 is not None:
            keep &= t < np.uint64(first + a.t1)
        sel = chunk[keep]
        if not len(sel):
            continue
        n += len(sel)
        if gif or size is None:
            parts.append(sel)
        else:
            f = plot.event_frame(sel, size)
            frame = f if frame is None else frame + f
    events = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
    if size is None:
        size = (int(events["x"].max()) + 1, int(events["y"].max()) + 1) if len(events) else (1, 1)
    name = os.path.basename(a.file)
    if gif:
        t0 = None if first is None else first + (a.t0 or 0)
        t1 = None if first is None or a.t1 is None else first + a.t1
        frames = plot.animate(events, size, out, frame_us=a.frame_us, fps=a.fps, t0=t0, t1=t1)
        print(f"{a.file}: {n} events, sensor {size[0]}x{size[1]} -> {out} ({frames} frames of {a.frame_us} us)")
        return 0
    if frame is None:
        frame = plot.event_frame(events, size)
    plot.plot_frame(frame, size, path=out, title=f"{name}: {int(frame[1].sum())} ON (red), {int(frame[0].sum())} OFF (blue)")
    print(f"{a.file}: {n} events, sensor {size[0]}x{size[1]} -> {out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="snnedge", description="Event-driven spiking neural network runtime")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the daemon on the bundled defaults (simulated sensor, bundled model)")
    r.add_argument("--model", default=None, help="a .snnm model (default: the bundled motion_direction.snnm)")
    r.add_argument("--duration", type=float, default=None,
                   help="stop after this many simulated seconds (default: run until Ctrl-C)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--speed", type=float, default=1.0, help="1: real time (default), 0: as fast as possible")
    r.add_argument("--window-ms", type=float, default=50.0, help="decision window (default 50 ms)")
    r.add_argument("--show", type=int, default=-1, help="decisions to print (default: all)")
    r.add_argument("--json", action="store_true", help="print one JSON document at the end instead of text")
    r.add_argument("--http", default=None, metavar="HOST:PORT", help="serve /healthz and /metrics here")
    r.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("daemon", help="the always-on service: source -> model -> sinks, from a TOML config")
    d.add_argument("--config", required=True, help="the TOML configuration (see docs/daemon.md)")
    d.add_argument("--check", action="store_true", help="validate the configuration and the model, then exit")
    d.set_defaults(func=cmd_daemon)
    sm = sub.add_parser("simulate", help="a sensor simulator speaking the wire protocol over a pty, TCP or UDP")
    where = sm.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="a pseudo-terminal (default); its path is printed")
    where.add_argument("--listen", default=None, metavar="HOST:PORT",
                       help="a TCP server (hosts use tcp:// or socket://)")
    where.add_argument("--connect", default=None, metavar="HOST:PORT",
                       help="dial a host that listens (tcp-listen://), redialling when it is not there")
    where.add_argument("--udp", default=None, metavar="HOST:PORT", help="send datagrams to this address")
    sm.add_argument("--link", default=None, help="with --pty: also make this symlink to the pty (stable path)")
    sm.add_argument("--format", default="snnedge", choices=["snnedge", "aestream"], help="UDP datagram format")
    sm.add_argument("--scene", default="bars", choices=["bars"])
    sm.add_argument("--recording", default=None, help="play this .npy/.npz recording instead of a scene")
    sm.add_argument("--rate", type=float, default=None, help="events/s (the scene is time-scaled to it)")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--duration", type=float, default=None, help="seconds of sensor time (default: forever)")
    sm.add_argument("--frame-us", type=int, default=1000, help="sensor time per EVENTS frame (default 1000)")
    sm.add_argument("--packing", default="ev8", choices=["ev8", "ev16"])
    sm.add_argument("--faults", default="", help="e.g. crc=0.01,truncate=0.01,garbage=0.02,drop=0.005")
    sm.add_argument("--fault-seed", type=int, default=0)
    sm.add_argument("--session", type=int, default=None, help="session id (default: random)")
    sm.add_argument("--wait-host", type=float, default=0.0, metavar="S",
                    help="wait up to S seconds for a host's HELLO before starting the scene")
    sm.add_argument("--vanish-after", type=float, default=None, metavar="S", help="exit abruptly after S seconds")
    sm.add_argument("--kick-after", type=float, default=None, metavar="S", help="drop TCP clients once after S s")
    sm.add_argument("--linger", type=float, default=0.0, metavar="S",
                    help="stay S seconds after the scene ends, sending only heartbeats")
    sm.add_argument("--heartbeat-ms", type=float, default=100.0, help="TIME frame period when no events (100)")
    sm.add_argument("--no-bye", action="store_true", help="do not send BYE at the end")
    sm.add_argument("--received", default=None, help="append OUTPUT frames from the host here (JSON lines)")
    sm.set_defaults(func=cmd_simulate)
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
    x.add_argument("--granularity", choices=["layer", "channel"], default=None,
                   help="scales per layer or per channel (default: per layer, per channel if that misses the target)")
    x.add_argument("--out", required=True)
    x.add_argument("--report", default=None, help="also write the report (markdown) here")
    x.set_defaults(func=cmd_export)
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
    rp = sub.add_parser("replay", help="replay event files or directories through a model, with a summary")
    rp.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    rp.add_argument("--model", default=None, help="a .snnm model (default: the bundled motion_direction.snnm)")
    rp.add_argument("--speed", default="max", help="max (as fast as possible, default), 1 (recorded speed) or a factor")
    rp.add_argument("--window-us", type=int, default=None, help="decision window in us (default 50000)")
    rp.add_argument("--out", default=None, help="results file: .jsonl (a line per window, file, total) or .npz")
    rp.add_argument("--raster", default=None, help="draw the output spikes to this image (needs matplotlib)")
    rp.add_argument("--on-error", choices=["stop", "skip"], default="stop",
                    help="corrupt data: end the file there (stop, default) or resynchronise (skip)")
    rp.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    rp.add_argument("--json", action="store_true", help="print the summaries as one JSON document")
    rp.set_defaults(func=cmd_replay)
    vw = sub.add_parser("view", help="render a recording to an image (.png) or an animation (.gif)")
    vw.add_argument("file")
    vw.add_argument("--out", default=None, help="IMAGE.png (accumulated ON/OFF) or ANIM.gif (default: NAME.png)")
    vw.add_argument("--t0", type=int, default=None, help="start, us after the first event (default 0)")
    vw.add_argument("--t1", type=int, default=None, help="end, us after the first event (default: the last event)")
    vw.add_argument("--frame-us", type=int, default=10_000, help="time per animation frame (default 10000)")
    vw.add_argument("--fps", type=int, default=20, help="animation frames per second (default 20)")
    vw.set_defaults(func=cmd_view)
    a = ap.parse_args(argv)
    try:
        return int(a.func(a))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`snnedge info MODEL | head`): stop quietly, as Unix tools do, and
        # keep Python from complaining again when it flushes stdout at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it
    except (SnnEdgeError, OSError, ValueError) as e:
        print(f"snnedge: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
