"""Golden cases (firmware_models/golden/*.json): model + events + expected output from the numpy
reference. The Rust test rust/snnedge-core/tests/golden.rs runs the same files."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

import snnedge as se

GOLDEN = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "firmware_models", "golden", "*.json")))


def test_golden_cases_exist():
    assert len(GOLDEN) >= 10


@pytest.mark.parametrize("path", GOLDEN, ids=[os.path.basename(p)[:-5] for p in GOLDEN])
@pytest.mark.parametrize("chunking", ["whole", "one-by-one"])
def test_golden(path, chunking):
    with open(path) as f:
        case = json.load(f)
    model = se.Model.from_spec(case["model"])
    ev = np.array([tuple(e) for e in case["events"]], dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    ev = se.as_events(ev)
    engine = se.Engine(model)
    if chunking == "whole":
        parts = [engine.feed(ev)]
    else:
        parts = [engine.feed(ev[k:k + 1]) for k in range(len(ev))]
    parts.append(engine.advance(case["end_t_us"]))
    spikes = np.concatenate(parts)
    assert [[int(s["t"]), int(s["neuron"])] for s in spikes] == case["expected_spikes"]
    for layer, expected in case["expected_state"].items():
        state = engine.state(layer)
        assert sorted(state) == sorted(expected)
        for key, values in expected.items():
            np.testing.assert_array_equal(state[key].reshape(-1), values, err_msg=f"{layer}.{key}")
    assert engine.stats()["layer_spikes"] == case["expected_layer_spikes"]
