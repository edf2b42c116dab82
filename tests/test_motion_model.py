"""The bundled default model, firmware_models/motion_direction.snnm (trained in snnTorch by
examples/train_motion_snn.py; torch is not needed here): it is the file the manifest names, and
on moving bars it was not trained on it decides as well as its report says, both through the
engine and through ``snnedge run``.

The accuracy is computed here from the engine's output spikes with the rule ``snnedge run``
scores (written out again below, independently of ``snnedge.synthetic.stimulus_decisions``);
the threshold is the held-out accuracy recorded in the manifest and the report, minus a margin
for the smaller sample.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import snnedge as se
from snnedge.synthetic import DIRECTIONS, moving_bars

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
FIRMWARE = os.path.join(ROOT, "firmware_models")
MODEL = os.path.join(FIRMWARE, "motion_direction.snnm")
CORRELATOR = os.path.join(FIRMWARE, "motion_reichardt.snnm")
MARGIN = 0.05  # ~100 bars here vs ~500 in the report
HELD_OUT_SEEDS = (3000, 3001)  # examples/train_motion_snn.py's test split (training: 1000-1029)


def manifest_entry() -> dict:
    with open(os.path.join(FIRMWARE, "manifest.json")) as f:
        return json.load(f)["motion_direction.snnm"]


def threshold() -> float:
    return manifest_entry()["test_accuracy_int"] - MARGIN


def bar_accuracy(spikes: np.ndarray, segments, tail_us: int = 10_000) -> float:
    """Per bar: the output neuron with the most spikes in [start, end + 10 ms) names the
    direction (lowest index on a tie); a bar without output spikes counts as wrong."""
    correct = 0
    for seg in segments:
        counts = np.zeros(len(DIRECTIONS), np.int64)
        for t, n in zip(spikes["t"].tolist(), spikes["neuron"].tolist()):
            if seg.t_start_us <= t < seg.t_end_us + tail_us:
                counts[n] += 1
        correct += bool(counts.sum()) and DIRECTIONS[int(np.argmax(counts))] == seg.direction
    return correct / len(segments)


def test_bundled_model_is_the_manifest_entry_and_its_report():
    entry = manifest_entry()
    with open(MODEL, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == entry["sha256"]
    assert os.path.getsize(MODEL) == entry["bytes"]
    m = se.load_model(MODEL)
    assert m.metadata["outputs"].split(",") == list(DIRECTIONS) and m.output_size == len(DIRECTIONS)
    assert list(m.input_shape) == [2, 32, 32] == entry["input_shape"] and m.tick_us == entry["tick_us"] == 1000
    assert m.metadata["framework"] == "snntorch" and entry["source"].startswith("examples/train_motion_snn.py")
    assert abs(float(m.metadata["test_accuracy_int"]) - entry["test_accuracy_int"]) < 1e-4
    # the report states the same held-out figures the manifest carries
    with open(os.path.join(FIRMWARE, entry["report"])) as f:
        report = f.read()
    for key in ("test_accuracy_float", "test_accuracy_int", "test_accuracy_correlator"):
        assert f"{100 * entry[key]:.2f}%" in report, key
    # int8 within 1 point of float on the held-out split, as the report claims
    assert abs(entry["test_accuracy_int"] - entry["test_accuracy_float"]) <= 0.01 + 1e-9


@pytest.mark.parametrize("seed", HELD_OUT_SEEDS)
def test_engine_decides_held_out_bars(seed):
    ev, segments = moving_bars(duration_s=5.0, seed=seed)
    out = se.Engine(se.load_model(MODEL)).run(ev)
    acc = bar_accuracy(out, segments)
    assert len(segments) >= 45
    assert acc >= threshold(), f"seed {seed}: {acc:.3f} < {threshold():.3f}"
    # the output is a few spikes per bar, not a constant chatter
    assert len(segments) <= len(out) <= 200 * len(segments)


def test_trained_model_beats_the_correlator_off_the_simulators_statistics():
    # faster bars in heavier noise than the simulator's: the delay correlator is tuned to 1 px/ms
    ev, segments = moving_bars(duration_s=4.0, seed=4100, speed_px_per_ms=2.0, noise_hz_per_pixel=30.0, drop=0.3)
    trained = bar_accuracy(se.Engine(se.load_model(MODEL)).run(ev), segments)
    correlator = bar_accuracy(se.Engine(se.load_model(CORRELATOR)).run(ev), segments)
    assert trained >= 0.8 and trained > correlator + 0.2, (trained, correlator)


def test_cli_run_decides_with_the_bundled_model(tmp_path):
    # outside the source tree, so `python -m snnedge` imports the installed package; default model
    r = subprocess.run([sys.executable, "-m", "snnedge", "run", "--duration", "5", "--json"], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    s = doc["summary"]
    assert s["model"] == "motion_direction.snnm"
    assert s["stimuli"] >= 45 and s["accuracy"] >= threshold()
    assert s["window_accuracy"] >= threshold() - MARGIN
    assert set(s["spikes_per_output"]) == set(DIRECTIONS)
    rows = doc["decisions"]
    assert len(rows) >= s["stimuli"] and {row["decision"] for row in rows} <= set(DIRECTIONS)
    judged = [row for row in rows if row["truth"] is not None]
    assert len(judged) == s["window_decisions"]
    assert np.mean([row["decision"] == row["truth"] for row in judged]) == pytest.approx(s["window_accuracy"], abs=1e-4)
    assert s["events"] > 50_000 and s["synops"] > s["events"] and s["events_dropped"] == 0
