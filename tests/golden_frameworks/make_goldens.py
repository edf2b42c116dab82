#!/usr/bin/env python3
"""Runs the NIR paper graphs in the frameworks' own simulators (Norse and snnTorch, through their
NIR importers) and stores inputs and outputs as golden files for tests/test_nir_frameworks.py.

Needs torch, norse, snntorch, nir (an optional, heavy environment); the tests only read the
.npz files this writes, so they run without torch.

    python tests/golden_frameworks/make_goldens.py [--shared ../shared]
"""
import argparse
import os

import nir
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TASK1_INPUT = [60, 220, 270, 310, 320, 350, 370, 400, 410, 430, 440, 450, 460, 470, 480, 490, 500, 510, 520, 530,
               670, 680, 690, 700, 710, 720, 730, 740, 750, 760, 770, 780, 840, 850]


def run(module, frames: np.ndarray) -> np.ndarray:
    """Steps a framework module (input, state) -> (output, state) over frames [T, ...]."""
    state, out = None, []
    with torch.no_grad():
        for t in range(frames.shape[0]):
            y, state = module(torch.tensor(frames[t][None], dtype=torch.float32), state)
            out.append(y.detach().numpy().reshape(-1).copy())
    return np.array(out)


def read_nmnist(path: str):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    t = t + np.cumsum(y == 240) * (1 << 13)
    keep = y != 240
    return t[keep], x[keep], y[keep], (raw[keep, 2] >> 7)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared"))
    a = ap.parse_args()
    graphs = os.path.join(a.shared, "data", "nir_paper")
    import norse.torch as norse
    from snntorch import import_nir as sn

    def importers(g, dt):
        return {"norse": lambda: norse.from_nir(g, dt=dt), "snntorch": lambda: sn.import_from_nir(g)}

    out = {}
    # task 1: one LIF neuron, the paper's input spike train, dt = 1e-4
    g = nir.read(os.path.join(graphs, "lif_norse.nir"))
    fr = np.zeros((1000, 1)); fr[TASK1_INPUT, 0] = 1.0
    for name, mk in importers(g, 1e-4).items():
        out[f"lif_norse.{name}"] = run(mk(), fr)
    out["lif_norse.input"] = fr
    # task 2: the CNN on sample_nmnist.bin in 1 ms frames (channel 0 OFF, 1 ON)
    g = nir.read(os.path.join(graphs, "cnn_sinabs.nir"))
    t, x, y, p = read_nmnist(os.path.join(a.shared, "data", "recordings", "sample_nmnist.bin"))
    steps = int(t.max() // 1000) + 1
    fr = np.zeros((steps, 2, 34, 34)); np.add.at(fr, (t // 1000, p, y, x), 1.0)
    for name, mk in importers(g, 1e-3).items():
        try:
            out[f"cnn_sinabs.{name}"] = run(mk(), fr)
        except Exception as e:  # an importer that cannot run the graph is recorded as such
            print(f"cnn_sinabs {name}: {type(e).__name__}: {e}")
    # task 3: the recurrent Braille networks on a seeded random 12-channel input, dt = 1e-4
    rng = np.random.default_rng(7)
    fr = (rng.random((300, 12)) < 0.15).astype(float)
    out["braille.input"] = fr
    for fname in ("braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"):
        g = nir.read(os.path.join(graphs, f"{fname}.nir"))
        for name, mk in importers(g, 1e-4).items():
            try:
                out[f"{fname}.{name}"] = run(mk(), fr)
            except Exception as e:
                print(f"{fname} {name}: {type(e).__name__}: {e}")
    meta = {"torch": torch.__version__, "norse": __import__("norse").__version__,
            "snntorch": __import__("snntorch").__version__, "nir": nir.__version__}
    np.savez_compressed(os.path.join(HERE, "frameworks.npz"), **out, meta=np.array(repr(meta)))
    for k, v in out.items():
        if not k.endswith(".input"):
            print(k, v.shape, "total", float(v.sum()))
    print(meta)


if __name__ == "__main__":
    main()
