#!/usr/bin/env python3
"""scikit-learn's 8x8 digit images as event streams, replayed through a small model.

Each image becomes one latency-coded window (``snnedge.encode.LatencyEncoder``): every pixel
spikes once, brighter pixels earlier (32 steps of 1 ms). The model is one layer of ten IF
neurons whose int8 weights are class templates (the mean training image of each digit minus
the mean of all, scaled to int8); no training loop. The first neuron to reach its threshold
names the digit (a time-to-first-spike decision: the template that matches the bright
pixels best gets there first); if none fires, the highest potential at the end.

    python examples/encode_digits.py [--rate]       # needs scikit-learn

``--rate`` codes each image as Poisson spike trains instead (``snnedge.encode.RateEncoder``,
intensity = spike probability per step) and decides by spike count.
"""
from __future__ import annotations

import argparse
from typing import Optional

import numpy as np

import snnedge as se

NUM_STEPS = 32
DT_US = 1000


def load():
    from sklearn.datasets import load_digits  # scikit-learn ships the data: no download

    d = load_digits()
    images = d.images / 16.0  # intensities in [0, 1]
    return images, d.target


def templates(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int8 weights [10, 64]: each class mean minus the overall mean, scaled to +-127."""
    flat = images.reshape(len(images), -1)
    t = np.stack([flat[labels == c].mean(axis=0) for c in range(10)]) - flat.mean(axis=0)
    return np.round(t / np.abs(t).max() * 127).astype(np.int8)


def build_model(w: np.ndarray, threshold: int) -> se.Model:
    return se.Model((8, 8), DT_US, [se.IF("digit", (10,), threshold=threshold)],
                    [se.Dense("templates", "input", "digit", w)], name="digit-templates")


def classify(model: se.Model, events: np.ndarray, rate: bool) -> int:
    engine = se.Engine(model)
    spikes = engine.run(events)
    engine.advance(NUM_STEPS * DT_US)
    if rate:
        counts = np.bincount(spikes["neuron"], minlength=10)
        if counts.max() > 0:
            return int(np.argmax(counts))
    elif len(spikes):
        first = spikes[spikes["t"] == spikes["t"].min()]
        return int(first["neuron"][0])
    return int(np.argmax(engine.state("digit")["v"]))


def run(limit: Optional[int] = None, rate: bool = False, seed: int = 0) -> dict:
    images, labels = load()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    if limit is not None:
        test = test[:limit]
    w = templates(images[train], labels[train])
    model = build_model(w, threshold=300 if not rate else 1000)
    rate_enc = se.encode.RateEncoder((8, 8), dt_us=DT_US, seed=seed)
    latency_enc = se.encode.LatencyEncoder((8, 8), NUM_STEPS, dt_us=DT_US)

    def encode(img: np.ndarray) -> np.ndarray:
        # One window per image, each starting at t = 0 for a fresh engine.
        if rate:
            rate_enc.reset()
            return rate_enc.hold(img, NUM_STEPS)
        latency_enc.reset()
        return latency_enc.push(img)

    correct = 0
    n_events = 0
    for i in test:
        ev = encode(images[i])
        n_events += len(ev)
        correct += classify(model, ev, rate) == labels[i]
    # The same templates on the images themselves (no spikes): what the code preserves.
    flat = images[test].reshape(len(test), -1)
    direct = float(np.mean(np.argmax(flat @ w.T.astype(np.float64), axis=1) == labels[test]))
    return {"images": len(test), "events": n_events, "accuracy": correct / len(test), "direct_accuracy": direct}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", action="store_true", help="Poisson rate code instead of latency")
    ap.add_argument("--limit", type=int, default=None, help="test on this many images only")
    args = ap.parse_args()
    r = run(args.limit, args.rate)
    code = "rate (Poisson)" if args.rate else "latency"
    print(f"{r['images']} test digits, {code} code, {r['events']} events "
          f"({r['events'] / r['images']:.0f} per image)")
    print(f"accuracy of the spiking template model: {r['accuracy']:.3f} "
          f"(the same templates on the raw images: {r['direct_accuracy']:.3f})")


if __name__ == "__main__":
    main()
