#!/usr/bin/env python3
"""Draws the figures of docs/replay.md from a bundled run: two synthetic recordings (moving
bars on the bundled model's 32x32 sensor, ``snnedge.synthetic``) replayed through the bundled
model ``firmware_models/motion_direction.snnm`` by the ``snnedge replay`` command, and one of
them rendered by ``snnedge view``.

    pip install "snnedge[plot]"          # matplotlib
    python docs/make_replay_figures.py   # writes docs/img/replay/*.png and prints the summary

The scenes are seeded, so the figures come out the same each time.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import snnedge as se
from snnedge.synthetic import moving_bars

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "img", "replay")
MODEL = os.path.join(HERE, "..", "firmware_models", "motion_direction.snnm")


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        recs = os.path.join(tmp, "recordings")
        os.mkdir(recs)
        se.write_events(os.path.join(recs, "bars_a.raw"), moving_bars(1.5, seed=1)[0], (32, 32))
        se.write_events(os.path.join(recs, "bars_b.aedat4"), moving_bars(1.0, seed=2)[0], (32, 32))
        run = [sys.executable, "-m", "snnedge"]
        subprocess.run(run + ["replay", recs, "--model", MODEL, "--no-progress",
                              "--raster", os.path.join(OUT, "raster.png")], check=True)
        subprocess.run(run + ["view", os.path.join(recs, "bars_a.raw"), "--t0", "70000", "--t1", "90000",
                              "--out", os.path.join(OUT, "frame.png")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
