#!/usr/bin/env python3
"""Builds firmware_models/motion_reichardt.snnm: a direction-of-motion detector for a 32x32
event sensor, written by hand with synaptic delays (no training). It was the bundled default
model before the trained one (examples/train_motion_snn.py, motion_direction.snnm) and is kept
to compare with: it is exact for the simulator's bars (1 px/ms, 3 px wide, little noise) and
fails on other speeds and on heavy noise, where the trained network does not.

How it works (a Reichardt-style correlator in integer form): layer ``motion`` has four
channels (right, left, down, up) at every pixel. Each motion neuron gets the pixel under it
now, and one neighbour one tick (1 ms) earlier through a second convolution with delay 1.
Only the two together reach the threshold, so the neuron fires when an edge moved from that
neighbour to this pixel within a tick: that neighbour's side says the direction. Layer
``direction`` (4 LIF neurons) sums each channel; its spikes are the model's output.

    python examples/build_motion_model.py [OUT.snnm]
"""
from __future__ import annotations

import os
import sys

import numpy as np

import snnedge as se

SIZE = 32
# kernel offset (row, col) of the neighbour an edge comes from, per direction channel
NEIGHBOUR = {0: (1, 0), 1: (1, 2), 2: (0, 1), 3: (2, 1)}  # right, left, down, up
W_EDGE = 40
THRESHOLD = 60


def build() -> se.Model:
    now = np.zeros((4, 2, 3, 3), np.int8)
    before = np.zeros((4, 2, 3, 3), np.int8)
    for o, (ky, kx) in NEIGHBOUR.items():
        now[o, :, 1, 1] = W_EDGE          # this pixel, both polarities
        before[o, :, ky, kx] = W_EDGE     # the neighbour, one tick earlier
    readout = np.zeros((4, 4 * SIZE * SIZE), np.int8)
    for o in range(4):
        readout[o, o * SIZE * SIZE:(o + 1) * SIZE * SIZE] = 1
    layers = [
        se.LIF("motion", (4, SIZE, SIZE), decay_mem=16384, threshold=THRESHOLD, reset="zero"),
        se.LIF("direction", (4,), decay_mem=58982, threshold=6, reset="subtract"),
    ]
    conns = [
        se.Conv2d("now", "input", "motion", now, padding=1),
        se.Conv2d("before", "input", "motion", before, padding=1, delay=1),
        se.Dense("readout", "motion", "direction", readout),
    ]
    return se.Model((2, SIZE, SIZE), 1000, layers, conns, output="direction", name="motion-direction")


def with_metadata(model: se.Model) -> se.Model:
    """The metadata the shipped file carries (output labels: snnedge.synthetic.DIRECTIONS)."""
    return model.with_metadata(
        source="examples/build_motion_model.py", framework="snnedge (hand-built)", outputs="right,left,down,up",
        description="direction of motion of edges on a 32x32 DVS-like sensor (delay correlator)")


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "firmware_models", "motion_reichardt.snnm")
    with_metadata(build()).save(out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes); examples/export_firmware_models.py rewrites the manifest")


if __name__ == "__main__":
    main()
