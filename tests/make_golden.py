#!/usr/bin/env python3
"""Writes the golden cases in firmware_models/golden/ (model + input events + expected output).

Expected spikes, states and spike counts come from the numpy reference (tests/reference.py),
never from the engine; the worked example of docs/numerics.md is also checked against the
values printed in that document. Both the Rust tests (rust/snnedge-core/tests/golden.rs) and
the Python tests (tests/test_golden.py) run every case.

    python tests/make_golden.py          # rewrite all cases
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import snnedge as se  # noqa: E402
from netgen import random_events, random_network  # noqa: E402
from reference import simulate  # noqa: E402

OUT = os.path.join(HERE, "..", "firmware_models", "golden")


def case(name: str, description: str, model: se.Model, events: np.ndarray, end_t_us: int) -> dict:
    evs = [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in events]
    end_tick = end_t_us // model.tick_us
    spikes, states, counts = simulate(model.spec, [tuple(e) for e in evs], end_tick)
    doc = {
        "description": description,
        "model": model.to_plain(),
        "events": evs,
        "end_t_us": end_t_us,
        "expected_spikes": [list(s) for s in spikes],
        "expected_state": {n: {k: v.tolist() for k, v in st.items()} for n, st in states.items()},
        "expected_layer_spikes": counts,
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    return doc


def worked_example() -> None:
    model = se.Model((2,), 1000, [se.LIF("out", (1,), decay_mem=32768, threshold=10)],
                     [se.Dense("fc", "input", "out", np.array([[6, 4]]))], name="worked-example")
    ev = se.make_events([100, 900, 1500, 3200], [0, 1, 0, 0])
    doc = case("worked_example", "docs/numerics.md section 9", model, ev, 3200)
    assert doc["expected_spikes"] == [[0, 0]], doc["expected_spikes"]
    assert doc["expected_state"]["out"]["v"] == [7], doc["expected_state"]


def neuron_features() -> None:
    """Refractory period, adaptive threshold, reset to a value, bias, saturation at 8 bits."""
    w = np.array([[40, -30, 90], [20, 20, 20], [127, 127, 127]])
    layers = [
        se.CubaLIF("cuba", (3,), decay_mem=60000, decay_syn=40000, threshold=100, refractory=2,
                   adapt_increment=25, adapt_decay=64000, bias=[0, 3, -2], bias_syn=[4, 0, -3]),
        se.LIF("sat8", (3,), decay_mem=50000, threshold=100, reset="zero", v_reset=-5, state_bits=8),
        se.LI("readout", (2,), decay_mem=62000),
    ]
    conns = [
        se.Dense("in_cuba", "input", "cuba", w),
        se.Dense("in_sat", "input", "sat8", w * 1, shift=1),
        se.Dense("cuba_out", "cuba", "readout", np.array([[50, -20, 10], [-5, 60, 30]])),
        se.Dense("sat_out", "sat8", "readout", np.array([[7, 7, 7], [-7, 0, 7]]), delay=2),
    ]
    model = se.Model((3,), 500, layers, conns, output="cuba", name="neuron-features")
    rng = np.random.default_rng(7)
    t = np.sort(rng.integers(0, 40_000, 120))
    ev = se.make_events(t, rng.integers(0, 3, 120))
    case("neuron_features", "CubaLIF with refractory/adaptation/bias, 8-bit saturation, reset to value, LI readout",
         model, ev, 45_000)


def conv_pool_dense() -> None:
    rng = np.random.default_rng(11)
    layers = [
        se.IF("conv", (4, 6, 6), threshold=60),
        se.IF("pool", (4, 3, 3), threshold=2, reset="zero"),
        se.LIF("fc", (5,), decay_mem=58982, threshold=40),
    ]
    conns = [
        se.Conv2d("c1", "input", "conv", rng.integers(-20, 60, (4, 2, 3, 3)), stride=2, padding=1),
        se.SumPool2d("p1", "conv", "pool", 2),
        se.Dense("d1", "pool", "fc", rng.integers(-40, 80, (5, 36)), bias=rng.integers(-2, 3, 5)),
    ]
    model = se.Model((2, 12, 12), 1000, layers, conns, name="conv-pool-dense")
    n = 600
    t = np.sort(rng.integers(0, 50_000, n))
    ev = se.make_events(t, rng.integers(0, 12, n), rng.integers(0, 12, n), rng.integers(0, 2, n))
    case("conv_pool_dense", "Conv2d (stride 2, padding 1) -> IF -> sum pool 2x2 -> dense with bias -> LIF",
         model, ev, 52_000)


def recurrent_delays() -> None:
    rng = np.random.default_rng(13)
    n = 6
    pre, post = np.nonzero(rng.random((n, n)) < 0.5)
    layers = [se.LIF("rec", (n,), decay_mem=61000, threshold=50, refractory=1),
              se.IF("out", (2,), threshold=30)]
    conns = [
        se.Dense("in", "input", "rec", rng.integers(0, 40, (n, 4)), delays=rng.integers(0, 4, (n, 4))),
        se.Sparse.from_coo("loop", "rec", "rec", n, pre, post, rng.integers(-30, 50, pre.size),
                           delays=rng.integers(0, 5, pre.size), delay=1),
        se.Dense("readout", "rec", "out", rng.integers(-10, 30, (2, n)), delay=3),
        se.Dense("back", "out", "rec", rng.integers(-20, 20, (n, 2)), delay=2),
    ]
    model = se.Model((4,), 250, layers, conns, name="recurrent-delays")
    m = 200
    t = np.sort(rng.integers(0, 25_000, m))
    ev = se.make_events(t, rng.integers(0, 4, m))
    case("recurrent_delays", "recurrent sparse loop with per-synapse delays, dense with per-synapse delays, feedback",
         model, ev, 30_000)


def accumulator_spill() -> None:
    """Thousands of 16-bit contributions (2^29 each) into one neuron in one tick: the exact sum
    exceeds int32 before saturation, so the engine must spill to 64 bits."""
    layers = [se.Integrator("acc", (2,), state_bits=32)]
    conns = [se.Dense("big", "input", "acc", np.array([[16384, -16384], [16384, 16384]]), shift=15, weight_bits=16)]
    model = se.Model((2,), 1000, layers, conns, name="accumulator-spill")
    # tick 0: 5 x (+2^29) on neuron 0 and 5 x (+2^29) on neuron 1 from x=0, then 7 x from x=1
    t = np.array([0] * 5 + [10] * 7 + [1000] * 3)
    x = np.array([0] * 5 + [1] * 7 + [0] * 3)
    case("accumulator_spill", "exact tick input beyond int32 then one saturation (weight 16384 << 15)",
         model, se.make_events(t, x), 1000)


def random_cases() -> None:
    for k, kind in enumerate(("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator")):
        rng = np.random.default_rng(1000 + k)
        model = random_network(rng, kind)
        ev = random_events(rng, model, max_ticks=60, max_events=150)
        last = int(ev["t"][-1]) if len(ev) else 0
        case(f"random_{kind.lower()}", f"random network (tests/netgen.py seed {1000 + k}, focus {kind})",
             model, ev, last + 10 * model.tick_us)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    worked_example()
    neuron_features()
    conv_pool_dense()
    recurrent_delays()
    accumulator_spill()
    random_cases()
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
