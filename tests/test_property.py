"""Property tests: the Rust engine equals the numpy reference bit for bit, on random networks of
every neuron model and connection kind (delays and recurrence included), and streaming
equals batch for random chunkings.

CI runs 200 networks per neuron model (each also checked under a random chunking); set
SNNEDGE_PROPERTY_EXAMPLES=5000 for a nightly-sized run.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnedge as se

from netgen import KINDS, random_events, random_network
from reference import simulate

EXAMPLES = int(os.environ.get("SNNEDGE_PROPERTY_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)


def reference_run(model: se.Model, events: np.ndarray, end_tick: int):
    evs = [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) for e in events]
    return simulate(model.spec, evs, end_tick)


def assert_same_as_reference(model: se.Model, engine: se.Engine, spikes: np.ndarray, events: np.ndarray, end_tick: int):
    ref_spikes, ref_states, ref_counts = reference_run(model, events, end_tick)
    got = [(int(s["t"]), int(s["neuron"])) for s in spikes]
    assert got == ref_spikes, f"output spikes differ\nengine:    {got[:20]}\nreference: {ref_spikes[:20]}"
    assert engine.open_tick == end_tick + 1
    for name, ref in ref_states.items():
        state = engine.state(name)
        assert sorted(state) == sorted(ref), (name, sorted(state), sorted(ref))
        for key, val in ref.items():
            np.testing.assert_array_equal(state[key].reshape(-1), val, err_msg=f"layer {name} state {key}")
    assert engine.stats()["layer_spikes"] == ref_counts


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(seed=st.integers(0, 2**63 - 1), data=st.data())
def test_engine_equals_reference(kind, seed, data):
    rng = np.random.default_rng(seed)
    model = random_network(rng, kind)
    events = random_events(rng, model)
    extra_ticks = data.draw(st.integers(0, 25), label="extra_ticks")

    # batch: run everything, then advance a few ticks
    engine = se.Engine(model)
    spikes = engine.run(events)
    last_tick = int(events["t"][-1]) // model.tick_us if len(events) else -1
    end_tick = max(last_tick, 0) + extra_ticks
    spikes = np.concatenate([spikes, engine.advance(end_tick * model.tick_us)])
    assert_same_as_reference(model, engine, spikes, events, end_tick)

    # streaming: random cuts, empty chunks, and advances between chunks that keep events on time
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=6), label="cuts"))
    engine2 = se.Engine(model)
    parts = []
    prev = 0
    for cut in cuts + [len(events)]:
        chunk = events[prev:cut]
        parts.append(engine2.feed(chunk))
        if cut < len(events) and len(chunk) and data.draw(st.booleans(), label="advance"):
            next_tick = int(events["t"][cut]) // model.tick_us
            last_fed_tick = int(chunk["t"][-1]) // model.tick_us
            if next_tick > last_fed_tick:
                parts.append(engine2.advance(next_tick * model.tick_us - 1))
        prev = cut
    parts.append(engine2.advance(end_tick * model.tick_us))
    streamed = np.concatenate(parts)
    np.testing.assert_array_equal(streamed, spikes)
    assert_same_as_reference(model, engine2, streamed, events, end_tick)
