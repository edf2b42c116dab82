#!/usr/bin/env python3
"""Trains a spiking classifier for scikit-learn's handwritten digits, exports it as a NIR graph,
imports and quantizes it to int8, and compares float and integer accuracy.

Training needs no deep-learning framework: a small ReLU network (64-64-10) is trained with
numpy, then converted to integrate-and-fire neurons with reset by subtraction (rate-based
ANN-to-SNN conversion; each layer's weights are normalised by the 99.9th percentile of its
activations on the training set, so a threshold of 1 keeps the rates in range). Inputs become
event streams: each pixel (0..16) fires regularly, `2 * value` spikes over 64 steps of 1 ms.

    python examples/train_digits_snn.py [--out firmware_models/digits_mlp.snnm] [--nir /tmp/digits_mlp.nir]

Prints the float and int8 accuracy on the held-out split, and the quantization report.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Tuple

import numpy as np

import snnedge as se

STEPS = 64  # steps (1 ms each) per sample
TICK_US = 1000


def load_digits_split(seed: int = 42):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    return train_test_split(d.data / 16.0, d.target, test_size=0.3, random_state=seed, stratify=d.target)


def train_ann(x: np.ndarray, y: np.ndarray, hidden: int = 64, epochs: int = 60, lr: float = 0.1, seed: int = 0):
    """Plain numpy SGD on a 64-hidden-64-10 ReLU network without biases (softmax cross-entropy)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, np.sqrt(2 / x.shape[1]), (hidden, x.shape[1]))
    w2 = rng.normal(0, np.sqrt(2 / hidden), (10, hidden))
    onehot = np.eye(10)[y]
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // 32)):
            h = np.maximum(0, x[idx] @ w1.T)
            z = h @ w2.T
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot[idx]) / len(idx)
            gh = (g @ w2) * (h > 0)
            w2 -= lr * g.T @ h
            w1 -= lr * gh.T @ x[idx]
    return w1, w2


def normalise(w1: np.ndarray, w2: np.ndarray, x: np.ndarray, rate_in: float) -> Tuple[np.ndarray, np.ndarray]:
    """Data-based weight normalisation: layer activations' 99.9th percentile becomes 1 spike/step."""
    a1 = np.maximum(0, (x * rate_in) @ w1.T)
    l1 = np.percentile(a1, 99.9)
    a2 = np.maximum(0, (a1 / l1) @ w2.T)
    l2 = np.percentile(a2, 99.9)
    return w1 / l1, w2 * l1 / l1 / l2


def to_nir(w1: np.ndarray, w2: np.ndarray):
    import nir

    n_h, n_in = w1.shape
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n_in])}),
            "fc1": nir.Linear(weight=w1.astype(np.float32)),
            "if1": nir.IF(r=np.ones(n_h, np.float32), v_threshold=np.ones(n_h, np.float32), v_reset=np.zeros(n_h, np.float32)),
            "fc2": nir.Linear(weight=w2.astype(np.float32)),
            "if2": nir.IF(r=np.ones(10, np.float32), v_threshold=np.ones(10, np.float32), v_reset=np.zeros(10, np.float32)),
            "output": nir.Output(output_type={"output": np.array([10])}),
        },
        edges=[("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "if2"), ("if2", "output")],
    )


def encode(img: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """Regular rate code: pixel value v in [0, 1] fires round(32 v) spikes evenly over the steps."""
    ts, xs = [], []
    for pix, v in enumerate(img):
        n = int(round(32 * v))
        if n:
            ts.append((np.arange(n) * steps // n) * TICK_US + 500)
            xs.append(np.full(n, pix))
    if not ts:
        return se.make_events(np.zeros(0, np.int64), np.zeros(0, np.int64))
    t, x = np.concatenate(ts), np.concatenate(xs)
    o = np.argsort(t, kind="stable")
    return se.make_events(t[o], x[o])


def predict_counts(counts: np.ndarray) -> int:
    return int(np.argmax(counts)) if counts.sum() else -1


def evaluate(model_or_net, samples: List[np.ndarray], labels: np.ndarray) -> float:
    correct = 0
    for ev, y in zip(samples, labels):
        if isinstance(model_or_net, se.Model):
            eng = se.Engine(model_or_net)
            out = np.concatenate([eng.feed(ev), eng.advance(STEPS * TICK_US - 1)])
            counts = np.bincount(out["neuron"], minlength=10)
        else:
            counts = model_or_net.run(ev, n_steps=STEPS).counts(model_or_net.output)
        correct += predict_counts(counts) == int(y)
    return correct / len(labels)


def build(out: str = None, nir_path: str = None, weight_bits: int = 8, n_calib: int = 200, verbose: bool = True):
    import nir

    from snnedge.models import import_nir, quantize

    xtr, xte, ytr, yte = load_digits_split()
    w1, w2 = train_ann(xtr, ytr)
    ann_acc = float(np.mean(np.argmax(np.maximum(0, xte @ w1.T) @ w2.T, axis=1) == yte))
    w1n, w2n = normalise(w1, w2, xtr, 32 / STEPS)
    graph = to_nir(w1n, w2n)
    nir_path = nir_path or os.path.join("/tmp", "digits_mlp.nir")
    nir.write(nir_path, graph)
    net = import_nir(nir_path, dt=1.0, tick_us=TICK_US, reset="subtract", framework="numpy (examples/train_digits_snn.py)")
    net.metadata["labels"] = [str(k) for k in range(10)]
    calib = [encode(x) for x in xtr[:n_calib]]
    model, report = quantize(net, calib, labels=ytr[:n_calib], weight_bits=weight_bits, n_steps=STEPS)
    test = [encode(x) for x in xte]
    acc_f = evaluate(net, test, yte)
    acc_i = evaluate(model, test, yte)
    if verbose:
        print(report.to_markdown())
        print(f"\nheld-out accuracy ({len(yte)} digits): ANN {100 * ann_acc:.2f}%, float SNN {100 * acc_f:.2f}%, "
              f"int{weight_bits} SNN {100 * acc_i:.2f}%")
    if out:
        model = model.with_metadata(test_accuracy_float=f"{acc_f:.4f}", test_accuracy_int=f"{acc_i:.4f}",
                                    ann_accuracy=f"{ann_acc:.4f}", command="python examples/train_digits_snn.py",
                                    input_encoding="64 pixels on x; regular rate code, 2*value spikes over 64 x 1 ms")
        model.save(out)
        if verbose:
            print(f"wrote {out}")
    return dict(ann=ann_acc, float=acc_f, int=acc_i, report=report, model=model, net=net)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--nir", default=None)
    ap.add_argument("--weight-bits", type=int, default=8)
    a = ap.parse_args()
    build(a.out, a.nir, a.weight_bits)


if __name__ == "__main__":
    sys.exit(main())
