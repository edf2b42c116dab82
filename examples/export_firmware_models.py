#!/usr/bin/env python3
"""Regenerates every model in firmware_models/ and its manifest (source, command, quantization
report, checksums).

    python examples/export_firmware_models.py [--shared ../shared] [--only NAME.snnm ...]

``--only`` rebuilds (or re-records) just the named models; the manifest keeps every other entry.

- motion_direction.snnm: the bundled default model, trained in snnTorch by
  examples/train_motion_snn.py (torch is an optional dependency, so this script does not
  retrain it: it records the file that script wrote, with its report);
- motion_reichardt.snnm: the hand-built correlator it replaced, kept for comparison
  (examples/build_motion_model.py);
- digits_mlp.snnm: the classifier this repo trains (examples/train_digits_snn.py);
- nmnist_cnn_sinabs.snnm: the NIR paper's N-MNIST CNN (cnn_sinabs.nir, Sinabs, dt = 1 step,
  1 ms ticks, reset to zero), calibrated on ../shared/data/recordings/sample_nmnist.bin;
- braille_bias_zero.snnm / braille_subtract.snnm: the NIR paper's recurrent Braille networks
  (snnTorch, dt = 1e-4 s), calibrated on random 12-channel event streams (no Braille data
  ships with the repo; the report says how far integer and float agree on those).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import snnedge as se  # noqa: E402


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_nmnist(path: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    t = t + np.cumsum(y == 240) * (1 << 13)
    keep = y != 240
    return se.make_events(t[keep], x[keep], y[keep], raw[keep, 2] >> 7)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME", help="models to rebuild (default: all)")
    a = ap.parse_args()
    out_dir = os.path.join(ROOT, "firmware_models")
    manifest_path = os.path.join(out_dir, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):  # entries this script does not (re)build stay as they are
        with open(manifest_path) as f:
            manifest = json.load(f)

    def wanted(name: str) -> bool:
        return a.only is None or name in a.only

    def record(name: str, model: se.Model, report=None, source: str = "", command: str = "", extra=None,
               save: bool = True):
        path = os.path.join(out_dir, name)
        if save:
            model.save(path)
        entry = {"sha256": sha256(path), "bytes": os.path.getsize(path), "source": source, "command": command,
                 "input_shape": list(model.input_shape), "tick_us": model.tick_us,
                 "layers": [[n, k, list(s)] for n, k, s in model.layers], "synapses": model.synapse_count}
        if report is not None:
            rpath = os.path.join(out_dir, name.replace(".snnm", ".report.md"))
            with open(rpath, "w") as f:
                f.write(f"# {name}\n\n{report.to_markdown()}\n")
            entry["report"] = os.path.basename(rpath)
            entry["quantization"] = model.metadata.get("quantization", "")
        entry.update(extra or {})
        manifest[name] = entry
        print(f"{name}: {entry['bytes']} bytes, sha256 {entry['sha256'][:16]}")

    if wanted("motion_direction.snnm"):
        # trained by examples/train_motion_snn.py (needs torch); recorded as that script left it
        trained = se.Model.load(os.path.join(out_dir, "motion_direction.snnm"))
        md = trained.metadata
        record("motion_direction.snnm", trained,
               source="examples/train_motion_snn.py (snnTorch, synthetic moving bars)",
               command="python examples/train_motion_snn.py", save=False,
               extra={"report": "motion_direction.report.md", "quantization": md.get("quantization", ""),
                      "test_accuracy_float": float(md["test_accuracy_float"]),
                      "test_accuracy_int": float(md["test_accuracy_int"]),
                      "test_accuracy_correlator": float(md["test_accuracy_correlator"]),
                      "test_split": md.get("test_split", "")})

    if wanted("motion_reichardt.snnm"):
        from build_motion_model import build as build_motion, with_metadata as motion_metadata
        record("motion_reichardt.snnm", motion_metadata(build_motion()), source="examples/build_motion_model.py",
               command="python examples/export_firmware_models.py")

    if wanted("digits_mlp.snnm"):
        from train_digits_snn import build as build_digits
        d = build_digits(verbose=False)
        digits = d["model"].with_metadata(test_accuracy_float=f"{d['float']:.4f}", test_accuracy_int=f"{d['int']:.4f}",
                                          ann_accuracy=f"{d['ann']:.4f}",
                                          input_encoding="64 pixels on x; regular rate code, 2*value spikes over 64 x 1 ms")
        record("digits_mlp.snnm", digits, d["report"], "examples/train_digits_snn.py (sklearn digits)",
               "python examples/export_firmware_models.py",
               {"test_accuracy_float": round(d["float"], 4), "test_accuracy_int": round(d["int"], 4)})

    from snnedge.models import import_nir, quantize
    graphs = os.path.join(a.shared, "data", "nir_paper")
    if wanted("nmnist_cnn_sinabs.snnm"):
        nmnist = read_nmnist(os.path.join(a.shared, "data", "recordings", "sample_nmnist.bin"))
        net = import_nir(os.path.join(graphs, "cnn_sinabs.nir"), dt=1.0, tick_us=1000, reset="value", framework="sinabs")
        net.metadata["labels"] = [str(k) for k in range(10)]
        model, report = quantize(net, [nmnist], labels=[4])
        record("nmnist_cnn_sinabs.snnm", model, report,
               "../shared/data/nir_paper/cnn_sinabs.nir (NIR paper, BSD-3-Clause)",
               "snnedge export cnn_sinabs.nir --dt 1 --tick-us 1000 --reset value --calibration sample_nmnist.bin")

    rng = np.random.default_rng(0)
    calib = []
    for _ in range(16):
        t = np.sort(rng.integers(0, 30_000, 400))
        calib.append(se.make_events(t, rng.integers(0, 12, t.size)))
    for fname, out, reset in (("braille_noDelay_bias_zero.nir", "braille_bias_zero.snnm", "value"),
                              ("braille_noDelay_noBias_subtract.nir", "braille_subtract.snnm", "subtract")):
        if not wanted(out):
            continue
        net = import_nir(os.path.join(graphs, fname), dt=1e-4, reset=reset, framework="snntorch")
        model, report = quantize(net, calib, n_steps=300)
        record(out, model, report, f"../shared/data/nir_paper/{fname} (NIR paper, BSD-3-Clause)",
               f"snnedge export {fname} --dt 1e-4 --reset {reset} --calibration <16 random 12-channel streams>")

    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
