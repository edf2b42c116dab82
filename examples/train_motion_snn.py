#!/usr/bin/env python3
"""Trains the bundled default model, firmware_models/motion_direction.snnm: a small spiking
network that tells the direction (right, left, down, up) of bars moving across a 32x32 event
sensor, trained in snnTorch on scenes the repo generates itself (``snnedge.synthetic``).

    pip install ".[train]"       # torch, snntorch, nirtorch: optional, only this script needs them
    python examples/train_motion_snn.py [--out firmware_models/motion_direction.snnm] [--epochs 16]

What it does, in order:

1. **Data.** ``snnedge.synthetic.moving_bars`` streams, cut into one clip per bar (10 ms
   before it starts to 10 ms after it ends, 1 ms frames of ON/OFF event counts). Two kinds of
   scene: the simulator's own statistics (bar width 3 px, 1 px/ms, 2 Hz/pixel noise, 15 %
   dropped events: what ``snnedge run`` shows), and varied ones (width 1-5 px, 0.75-2 px/ms,
   up to 30 Hz/pixel noise, up to 50 % dropped). Training, validation and test use disjoint
   seeds; seed 0, the one ``snnedge run`` plays by default, is in none of them.
2. **Network** (snnTorch, leaky integrate-and-fire, reset by subtraction, no biases):
   ``2x32x32 events -> conv 5x5 stride 2 -> 8x16x16 LIF -> conv 8x8 stride 8 -> 32 LIF ->
   linear -> 4 LIF``. Trained with surrogate gradients on the cross-entropy of each output
   neuron's spike count over the bar (so the most-spiking neuron names the direction, the
   decision rule of ``snnedge run``), plus a small cost per spike of a wrong neuron or outside
   a bar (``snnedge run`` also decides short windows, holding only part of a bar).
3. **Export.** ``snntorch.export_to_nir`` (dt = 1e-4 s, snnTorch's convention), imported with
   ``snnedge.models.import_nir`` as 1 ms ticks, quantized to int8 weights with
   ``snnedge.models.quantize`` (calibration: training clips).
4. **Evaluation** on the held-out test streams, run whole (state carried across bars, as in
   the daemon), with exactly ``snnedge run``'s decision rules: per bar, the output neuron with
   the most spikes from its start to 10 ms after its end (``snnedge.synthetic.stimulus_decisions``);
   per 50 ms window, the most-spiking neuron against the bar overlapping the window most. The
   float network (``FloatNetwork``, the NIR graph simulated in numpy), the int8 model
   (``snnedge.Engine``) and the hand-built correlator (``examples/build_motion_model.py``,
   ``firmware_models/motion_reichardt.snnm``) are scored on the same streams.

Writes the model, ``firmware_models/motion_direction.report.md`` and the NIR graph
(``--nir``, default /tmp/motion_direction.nir); ``examples/export_firmware_models.py --only
motion_direction.snnm`` (or a full run of it) rewrites the manifest entry from the saved model.
Deterministic: a second run gives the same weights (only the NIR file's hash in the metadata
changes, HDF5 stamps it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import snnedge as se  # noqa: E402
from snnedge.synthetic import DIRECTIONS, Segment, moving_bars, stimulus_decisions  # noqa: E402

SIZE = 32
TICK_US = 1000              # one step = 1 ms, as the simulator's bars move 1 px/ms
PRE_MS, POST_MS = 10, 10    # clip margins around a bar (POST_MS is snnedge run's tail too)
CLIP_MS = 72                # covers the slowest varied bar: 10 + (32 + 5) / 0.75 + 10 ms
WINDOW_US = 50_000          # snnedge run's default decision window
DT_NIR = 1e-4               # snnTorch's export writes tau = dt / (1 - beta) with this dt
WRONG_SPIKE_COST = 0.15     # loss per output spike of a wrong neuron or outside a bar

#: The simulator's scene statistics (snnedge.devices.SimulatedSource uses moving_bars' defaults).
DEFAULT_SCENE: Dict[str, float] = dict(width=3, speed_px_per_ms=1.0, noise_hz_per_pixel=2.0, drop=0.15)

#: Seeds: disjoint per split; 0 (snnedge run's default) in none of them.
SEEDS = {"train": range(1000, 1030), "val": range(2000, 2004), "test": range(3000, 3010),
         "test_varied": range(4000, 4010)}
SCENE_S = {"train": 4.0, "val": 4.0, "test": 5.0, "test_varied": 5.0}


VARIED_TEXT = "width 1-5 px, 0.75-2 px/ms, 2-30 Hz/pixel noise, 15-50% dropped events"


def varied_scene(seed: int) -> Dict[str, float]:
    """Scene statistics drawn per stream for the varied scenes (deterministic in the seed)."""
    rng = np.random.default_rng(seed + 7_000_000)
    return dict(width=int(rng.integers(1, 6)), speed_px_per_ms=float(rng.choice([0.75, 1.0, 1.5, 2.0])),
                noise_hz_per_pixel=float(rng.choice([2.0, 10.0, 30.0])), drop=float(rng.choice([0.15, 0.3, 0.5])))


def scene(split: str, seed: int) -> Tuple[np.ndarray, List[Segment], Dict[str, float]]:
    """One stream of a split: events, ground truth, the statistics used. Training and
    validation alternate default and varied streams; ``test`` is all default, ``test_varied``
    all varied."""
    varied = split == "test_varied" or (split in ("train", "val") and seed % 2 == 1)
    params = varied_scene(seed) if varied else dict(DEFAULT_SCENE)
    ev, segs = moving_bars(duration_s=SCENE_S[split], size=(SIZE, SIZE), seed=seed, **params)  # type: ignore[arg-type]
    return ev, segs, params


# ---- clips (training) ------------------------------------------------------------------------

@dataclass
class Clips:
    frames: np.ndarray      # [n, CLIP_MS, 2, 32, 32] uint8 event counts per 1 ms step
    mask: np.ndarray        # [n, CLIP_MS] bool: the steps a bar's decision is made over
    labels: np.ndarray      # [n] direction index
    events: List[np.ndarray]  # the clips as event arrays (t from 0), for calibration


def cut_clips(split: str) -> Clips:
    frames, masks, labels, events = [], [], [], []
    for seed in SEEDS[split]:
        ev, segs, _ = scene(split, seed)
        t = ev["t"].astype(np.int64)
        for s in segs:
            t0 = (s.t_start_us // TICK_US - PRE_MS) * TICK_US
            t1 = t0 + CLIP_MS * TICK_US
            sel = ev[(t >= t0) & (t < t1)].copy()
            sel["t"] -= np.uint64(t0)
            f = np.zeros((CLIP_MS, 2, SIZE, SIZE), np.uint8)
            np.add.at(f, (sel["t"].astype(np.int64) // TICK_US, sel["p"].astype(np.int64), sel["y"].astype(np.int64),
                          sel["x"].astype(np.int64)), 1)
            m = np.zeros(CLIP_MS, bool)
            m[(s.t_start_us - t0) // TICK_US:min(CLIP_MS, (s.t_end_us + POST_MS * 1000 - t0) // TICK_US)] = True
            frames.append(f); masks.append(m); labels.append(DIRECTIONS.index(s.direction)); events.append(sel)
    return Clips(np.stack(frames), np.stack(masks), np.array(labels), events)


# ---- the network (snnTorch) ------------------------------------------------------------------

def make_net(betas: Sequence[float] = (0.7, 0.8, 0.9)) -> Any:
    import snntorch as snn
    import torch
    from snntorch import surrogate

    grad = surrogate.fast_sigmoid(slope=10)

    def lif(shape: Tuple[int, ...], beta: float, **kw: Any) -> Any:
        # per-neuron beta and threshold tensors, so that the exported NIR nodes carry their shape
        return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape), spike_grad=grad, init_hidden=True,
                         reset_mechanism="subtract", reset_delay=False, **kw)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 8, 5, stride=2, padding=2, bias=False), lif((8, 16, 16), betas[0]),
        torch.nn.Conv2d(8, 8, 8, stride=8, bias=False), lif((8, 2, 2), betas[1]),
        torch.nn.Flatten(), torch.nn.Linear(32, 4, bias=False), lif((4,), betas[2], output=True),
    )
    # PyTorch's default init is scaled for dense inputs; events are sparse (a bar crosses a 5x5
    # patch as a line of a few events per step), so every layer would start silent and get no
    # useful gradient. These gains make each layer fire at 1-5% of its steps at the start.
    with torch.no_grad():
        for i, gain in ((0, 4.0), (2, 8.0), (5, 4.0)):
            net[i].weight.mul_(gain)
    return net


def run_net(net: Any, frames: Any) -> Any:
    """Output spikes ``[batch, steps, 4]`` for frames ``[batch, steps, 2, 32, 32]``."""
    import torch
    from snntorch import utils

    utils.reset(net)
    out = []
    for k in range(frames.shape[1]):
        spk, _ = net(frames[:, k])
        out.append(spk)
    return torch.stack(out, dim=1)


def clip_counts(net: Any, clips: Clips, batch: int = 128) -> np.ndarray:
    import torch

    res = []
    with torch.no_grad():
        for i in range(0, len(clips.labels), batch):
            x = torch.from_numpy(clips.frames[i:i + batch]).float()
            m = torch.from_numpy(clips.mask[i:i + batch]).float()
            res.append((run_net(net, x) * m[:, :, None]).sum(1).numpy())
    return np.concatenate(res)


def train(train_clips: Clips, val_clips: Clips, epochs: int, seed: int, verbose: bool) -> Tuple[Any, List[str]]:
    import torch

    torch.manual_seed(seed)
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    rng = np.random.default_rng(seed)
    log: List[str] = []
    n = len(train_clips.labels)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        tot, seen = 0.0, 0
        for idx in np.array_split(rng.permutation(n), max(1, n // 64)):
            x = torch.from_numpy(train_clips.frames[idx]).float()
            m = torch.from_numpy(train_clips.mask[idx]).float()
            y = torch.from_numpy(train_clips.labels[idx]).long()
            spk = run_net(net, x)
            counts = (spk * m[:, :, None]).sum(1)
            wrong = 1.0 - torch.nn.functional.one_hot(y, 4).float()
            # cross-entropy over the bar's spike counts (softmax sharpness 0.5 per spike) decides
            # the bar; snnedge run also decides every 50 ms window, which may hold only a bar's
            # first or last few ms: so every spike of a wrong neuron, and every spike outside
            # the bar, costs a little, and the network learns to stay silent while unsure
            loss = (torch.nn.functional.cross_entropy(0.5 * counts, y)
                    + WRONG_SPIKE_COST * (counts * wrong).sum(1).mean()
                    + WRONG_SPIKE_COST * (spk * (1.0 - m[:, :, None])).sum((1, 2)).mean())
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
            seen += len(idx)
        sched.step()
        vc = clip_counts(net, val_clips)
        vacc = float(np.mean([(int(np.argmax(c)) if c.sum() else -1) == y for c, y in zip(vc, val_clips.labels)]))
        purity = float(vc[np.arange(len(vc)), val_clips.labels].sum() / max(1.0, vc.sum()))
        line = f"epoch {epoch + 1}/{epochs}: loss {tot / seen:.4f}, validation: bar accuracy {100 * vacc:.2f}%, " \
               f"{100 * purity:.1f}% of output spikes name the bar's direction ({time.perf_counter() - t0:.0f} s)"
        log.append(line)
        if verbose:
            print(line, flush=True)
    return net, log


def export_nir(net: Any) -> Any:
    """snnTorch -> NIR, with the nodes renamed after what they are (they become layer names)."""
    import nir
    import torch
    from snntorch.export_nir import export_to_nir

    # the sample has a batch dimension (Flatten needs it); ignore_dims=[0] keeps it out of the
    # graph's types, and the per-neuron LIF parameters (make_net) let NIR infer every shape
    g = export_to_nir(net, torch.zeros(1, 2, SIZE, SIZE), ignore_dims=[0])
    names = {"0": "conv1", "1": "features", "2": "conv2", "3": "hidden", "4": "flatten", "5": "fc", "6": "direction"}
    nodes = {names.get(k, k): v for k, v in g.nodes.items()}
    edges = [(names.get(a, a), names.get(b, b)) for a, b in g.edges]
    return nir.NIRGraph(nodes=nodes, edges=edges)


# ---- evaluation with snnedge run's decision rules ---------------------------------------------

def window_decisions(spikes: np.ndarray, segments: Sequence[Segment], end_us: int,
                     window_us: int = WINDOW_US) -> Tuple[int, int]:
    """``snnedge run``'s window score: (correct, judged) over windows with a decision whose
    time overlaps a bar (or its 10 ms tail); the truth is the bar overlapping most."""
    correct = judged = 0
    win = spikes["t"].astype(np.int64) // window_us
    for w in range(end_us // window_us + 1):
        sel = spikes[win == w]
        if not len(sel):
            continue
        a, b = w * window_us, (w + 1) * window_us
        best, best_len = None, 0
        for s in segments:
            overlap = min(s.t_end_us + POST_MS * 1000, b) - max(s.t_start_us, a)
            if overlap > best_len:
                best, best_len = s.direction, overlap
        if best is None:
            continue
        judged += 1
        correct += DIRECTIONS[int(np.argmax(np.bincount(sel["neuron"], minlength=4)))] == best
    return correct, judged


@dataclass
class Score:
    correct: int = 0
    stimuli: int = 0
    win_correct: int = 0
    win_judged: int = 0
    output_spikes: int = 0
    events: int = 0
    synops: int = 0
    windows: int = 0        # 50 ms windows streamed

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.stimuli)

    @property
    def window_accuracy(self) -> float:
        return self.win_correct / max(1, self.win_judged)

    def add(self, spikes: np.ndarray, segments: Sequence[Segment], end_us: int) -> None:
        labels = list(DIRECTIONS)
        dec = stimulus_decisions(spikes, segments, labels)
        self.correct += sum(d == s.direction for d, s in zip(dec, segments))
        self.stimuli += len(segments)
        c, j = window_decisions(spikes, segments, end_us)
        self.win_correct += c
        self.win_judged += j
        self.output_spikes += len(spikes)
        self.windows += end_us // WINDOW_US + 1


def score_engine(model: se.Model, split: str) -> Score:
    sc = Score()
    for seed in SEEDS[split]:
        ev, segs, _ = scene(split, seed)
        eng = se.Engine(model)
        out = eng.run(ev)
        sc.add(out, segs, int(ev["t"][-1]))
        st = eng.stats()
        sc.events += len(ev)
        sc.synops += int(st["synops"])
    return sc


def score_float(net: Any, split: str) -> Score:
    sc = Score()
    for seed in SEEDS[split]:
        ev, segs, _ = scene(split, seed)
        out = net.run(ev).output
        sc.add(out, segs, int(ev["t"][-1]))
        sc.events += len(ev)
    return sc


# ---- all together --------------------------------------------------------------------------

def build(epochs: int = 16, seed: int = 0, nir_path: Optional[str] = None, verbose: bool = True) -> Dict[str, Any]:
    import nir
    import torch

    from build_motion_model import build as build_correlator
    from snnedge.models import import_nir, quantize

    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)  # small tensors: a second thread gains little and stalls on a busy machine
    t_start = time.perf_counter()
    tr, va = cut_clips("train"), cut_clips("val")
    t_data = time.perf_counter() - t_start
    if verbose:
        print(f"data: {len(tr.labels)} training clips, {len(va.labels)} validation clips ({t_data:.0f} s)", flush=True)
    t0 = time.perf_counter()
    net, log = train(tr, va, epochs, seed, verbose)
    t_train = time.perf_counter() - t0
    te = cut_clips("test")
    tc = clip_counts(net, te)
    torch_clip_acc = float(np.mean([(int(np.argmax(c)) if c.sum() else -1) == y for c, y in zip(tc, te.labels)]))

    graph = export_nir(net)
    nir_path = nir_path or os.path.join("/tmp", "motion_direction.nir")
    nir.write(nir_path, graph)
    fnet = import_nir(nir_path, dt=DT_NIR, tick_us=TICK_US, reset="subtract", framework="snntorch")
    fnet.metadata["labels"] = list(DIRECTIONS)
    fnet.metadata["source"] = "examples/train_motion_snn.py"
    calib_idx = np.random.default_rng(seed).choice(len(tr.labels), 64, replace=False)
    model, report = quantize(fnet, [tr.events[i] for i in calib_idx], labels=tr.labels[calib_idx], weight_bits=8,
                             n_steps=CLIP_MS)
    scores = {}
    for split in ("test", "test_varied"):
        scores[split] = {"float": score_float(fnet, split), "int8": score_engine(model, split),
                         "correlator": score_engine(build_correlator(), split)}
    res = dict(net=net, fnet=fnet, model=model, report=report, scores=scores, log=log, t_train=t_train,
               t_data=t_data, t_total=time.perf_counter() - t_start, torch_clip_acc=torch_clip_acc,
               n_train=len(tr.labels), n_val=len(va.labels), epochs=epochs, seed=seed, nir_path=nir_path)
    if verbose:
        print(summary_table(scores))
    return res


def summary_table(scores: Dict[str, Dict[str, Score]]) -> str:
    rows = ["| split | model | bars | bar accuracy | 50 ms windows judged | window accuracy | output spikes per bar | "
            "per 50 ms window: input events / SynOps / output spikes |", "|---|---|---|---|---|---|---|---|"]
    names = {"float": "trained, float (NIR graph in numpy)", "int8": "trained, int8 (`snnedge.Engine`)",
             "correlator": "hand-built correlator, `motion_reichardt.snnm`"}
    for split, by in scores.items():
        for k, s in by.items():
            w = max(1, s.windows)
            syn = f"{s.synops / w:.0f}" if s.synops else "-"
            rows.append(f"| {split} | {names[k]} | {s.stimuli} | {100 * s.accuracy:.2f}% | {s.win_judged} | "
                        f"{100 * s.window_accuracy:.2f}% | {s.output_spikes / max(1, s.stimuli):.1f} | "
                        f"{s.events / w:.0f} / {syn} / {s.output_spikes / w:.1f} |")
    return "\n".join(rows)


def metadata(res: Dict[str, Any]) -> Dict[str, str]:
    t = res["scores"]["test"]
    return dict(outputs=",".join(DIRECTIONS), source="examples/train_motion_snn.py", framework="snntorch",
                command="python examples/train_motion_snn.py",
                description="direction of motion of bars on a 32x32 DVS-like sensor "
                            "(trained SNN, snnTorch -> NIR -> int8)",
                test_accuracy_float=f"{t['float'].accuracy:.4f}", test_accuracy_int=f"{t['int8'].accuracy:.4f}",
                test_accuracy_correlator=f"{t['correlator'].accuracy:.4f}",
                test_split=f"moving_bars seeds {SEEDS['test'].start}..{SEEDS['test'].stop - 1}, "
                           f"{SCENE_S['test']:g} s each, simulator statistics",
                input_encoding="events (x, y, p) of a 32x32 sensor, 1 ms ticks")


def reading(sc: Dict[str, Dict[str, Score]]) -> str:
    """What the table says, in words (the figures come from the table)."""
    t, v = sc["test"], sc["test_varied"]
    ti, tc, vi, vc = t["int8"], t["correlator"], v["int8"], v["correlator"]
    return (
        f"Reading: on the simulator's statistics the int8 network decides {100 * ti.accuracy:.2f}% of the bars "
        f"right and the correlator {100 * tc.accuracy:.2f}%; per 50 ms window the correlator is right in "
        f"{100 * tc.window_accuracy:.2f}%, the network in {100 * ti.window_accuracy:.2f}% (it stays silent while "
        f"unsure, so it decides fewer windows: {ti.win_judged} vs {tc.win_judged}; its misses are single spikes "
        f"as a bar leaves the sensor). It costs {ti.synops / max(1, tc.synops):.2f}x the correlator's synaptic "
        f"operations and {ti.output_spikes / max(1, tc.output_spikes):.2f}x its output spikes. Off the simulator's "
        f"statistics the correlator, tuned to 1 px/ms bars, falls to {100 * vc.accuracy:.2f}% of the bars "
        f"({100 * vc.window_accuracy:.2f}% of windows) where the network keeps {100 * vi.accuracy:.2f}% "
        f"({100 * vi.window_accuracy:.2f}%).")


def write_report(res: Dict[str, Any], path: str, model_path: str) -> None:
    import snntorch
    import torch

    sc = res["scores"]
    t = sc["test"]
    m = res["model"]
    diff = 100 * (t["int8"].accuracy - t["float"].accuracy)
    lines = [
        "# motion_direction.snnm", "",
        "The bundled default model of `snnedge run`: direction of motion (right, left, down, up) of bars",
        "on a 32x32 event sensor. Trained in snnTorch by `examples/train_motion_snn.py`, exported to NIR,",
        "imported and quantized by snnedge. Regenerate with `python examples/train_motion_snn.py`",
        f"(torch {torch.__version__}, snntorch {snntorch.__version__}; seed {res['seed']}).", "",
        "## Network", "",
        "`2x32x32 events -> conv 5x5/2 (8 ch) -> 8x16x16 LIF -> conv 8x8/8 -> 32 LIF -> linear -> 4 LIF`",
        f"(leaky integrate-and-fire, beta 0.7 / 0.8 / 0.9 per 1 ms tick, reset by subtraction, no biases): "
        f"{m.synapse_count} synapses, {os.path.getsize(model_path)} bytes on disk, tick {m.tick_us} us.", "",
        "## Data and training", "",
        "Scenes from `snnedge.synthetic.moving_bars`, one clip per bar (10 ms before it to 10 ms after it, "
        f"{CLIP_MS} steps of 1 ms). Training: seeds {SEEDS['train'].start}..{SEEDS['train'].stop - 1} "
        f"({res['n_train']} bars), validation: seeds {SEEDS['val'].start}..{SEEDS['val'].stop - 1} "
        f"({res['n_val']} bars); "
        "even seeds use the simulator's statistics (width 3 px, 1 px/ms, 2 Hz/pixel noise, 15% drop), odd seeds "
        f"varied ones ({VARIED_TEXT}). Loss: cross-entropy of the output spike counts over the bar, plus "
        f"{WRONG_SPIKE_COST:g} per output spike of a wrong neuron or outside the bar. Adam, {res['epochs']} epochs, "
        f"{res['t_train']:.0f} s of training on the CPU ({res['t_data']:.0f} s to generate the data, "
        f"{res['t_total']:.0f} s for the whole script).", "",
        "```", *res["log"], "```", "",
        "## Held-out accuracy, with `snnedge run`'s decision rules", "",
        f"Test streams: `moving_bars` seeds {SEEDS['test'].start}..{SEEDS['test'].stop - 1} with the simulator's "
        f"statistics (`test`) and seeds {SEEDS['test_varied'].start}..{SEEDS['test_varied'].stop - 1} with varied "
        f"statistics (`test_varied`), {SCENE_S['test']:g} s each, run whole (state carried from bar to bar, as in "
        "the daemon). *Bar accuracy*: per bar, the output neuron with the most spikes from the bar's start to "
        "10 ms after its end names the direction (no spike: wrong); this is `snnedge run`'s `accuracy`. "
        "*Window accuracy*: per 50 ms window with output spikes, the most-spiking neuron against the bar "
        "overlapping the window most; `snnedge run`'s `window_accuracy`.", "",
        summary_table(sc), "",
        f"int8 vs float on `test`: {diff:+.2f} points (bar accuracy); on `test_varied`: "
        f"{100 * (sc['test_varied']['int8'].accuracy - sc['test_varied']['float'].accuracy):+.2f} points. "
        f"snnTorch's own accuracy on the `test` bars as separate clips: {100 * res['torch_clip_acc']:.2f}%.", "",
        reading(sc), "",
        "## Quantization", "", res["report"].to_markdown(), "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "firmware_models", "motion_direction.snnm"))
    ap.add_argument("--report", default=None, help="default: next to --out, .report.md")
    ap.add_argument("--nir", default=None, help="where to write the NIR graph (default /tmp/motion_direction.nir)")
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    res = build(a.epochs, a.seed, a.nir)
    model = res["model"].with_metadata(**metadata(res))
    model.save(a.out)
    report = a.report or a.out.replace(".snnm", ".report.md")
    write_report(res, report, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) and {report}; "
          "python examples/export_firmware_models.py --only motion_direction.snnm updates the manifest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
