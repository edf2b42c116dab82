"""Learning in the daemon: learned weights and thresholds survive a sensor reconnection and a
restart (checkpoint at shutdown, resumed at start); a checkpoint that does not fit the model
is moved aside, never overwritten."""
from __future__ import annotations

import glob
import json

import numpy as np

import snnedge as se
from snnedge.daemon import Daemon, validate
from snnedge.synthetic import moving_bars


def plastic_model() -> se.Model:
    rng = np.random.default_rng(5)
    stdp = se.STDP(a_plus=1 << 21, a_minus=1 << 20, trace_decay_pre=60000, trace_decay_post=60000, w_min=0, w_max=60,
                   seed=9)
    layers = [se.Layer("out", "LIF", (4,), decay_mem=60000, threshold=120, adapt_increment=8, adapt_decay=65000)]
    conns = [se.Dense("in_out", "input", "out", rng.integers(0, 30, size=(4, 2 * 32 * 32)), plasticity=stdp)]
    return se.Model((2, 32, 32), 1000, layers, conns, name="plastic-daemon").with_metadata(outputs="right,left,down,up")


def daemon_config(tmp_path, model_path, events, checkpoint):
    rec = tmp_path / f"rec{len(events)}.npz"
    np.savez(rec, events=events)
    return validate({"model": {"path": str(model_path)},
                     "source": {"kind": "replay", "path": str(rec), "speed": 0.0},
                     "sinks": [{"kind": "jsonl", "path": str(tmp_path / "out.jsonl"), "only_decisions": False}],
                     "http": {"enabled": False}, "log": {"level": "warning"},
                     "checkpoint": {"interval_s": 0, "path": str(checkpoint)}})


def test_learned_state_round_trip_and_reset():
    model = plastic_model()
    ev, _ = moving_bars(0.5, seed=1)
    eng = se.Engine(model)
    w0 = eng.weights("in_out").copy()
    eng.run(ev)
    learned = eng.learned_state()
    assert not np.array_equal(learned["weights"]["in_out"], w0)
    assert learned["theta"]["out"].any()
    fresh = se.Engine(model)
    fresh.set_learned_state(learned)
    np.testing.assert_array_equal(fresh.weights("in_out"), learned["weights"]["in_out"])
    np.testing.assert_array_equal(fresh.state("out")["theta"], learned["theta"]["out"])


def test_daemon_checkpoints_at_shutdown_and_resumes_at_start(tmp_path):
    model = plastic_model()
    model_path = tmp_path / "plastic.snnm"
    model.save(model_path)
    ck = tmp_path / "learned.snnc"
    ev, _ = moving_bars(1.0, seed=2)
    d = Daemon(daemon_config(tmp_path, model_path, ev, ck), install_signals=False)
    assert d.run() == 0
    assert d.checkpoint.written == 1 and ck.exists()
    after_first = d.stream.engine.learned_state()
    assert not np.array_equal(after_first["weights"]["in_out"], se.Engine(model).weights("in_out"))
    saved = se.Engine.restore(model, ck)
    np.testing.assert_array_equal(saved.weights("in_out"), after_first["weights"]["in_out"])

    # a restart on a stream with no events: the engine starts from the saved weights
    d2 = Daemon(daemon_config(tmp_path, model_path, ev[:0], ck), install_signals=False)
    assert d2.run() == 0
    assert d2.checkpoint.resumed
    np.testing.assert_array_equal(d2.stream.engine.weights("in_out"), after_first["weights"]["in_out"])
    np.testing.assert_array_equal(d2.stream.engine.state("out")["theta"], after_first["theta"]["out"])


def test_daemon_moves_a_foreign_checkpoint_aside(tmp_path):
    model = plastic_model()
    model_path = tmp_path / "plastic.snnm"
    model.save(model_path)
    ck = tmp_path / "learned.snnc"
    ck.write_bytes(b"not a checkpoint at all" * 10)
    ev, _ = moving_bars(0.3, seed=3)
    d = Daemon(daemon_config(tmp_path, model_path, ev, ck), install_signals=False)
    assert d.run() == 0
    assert not d.checkpoint.resumed
    aside = glob.glob(str(ck) + ".rejected-*")
    assert len(aside) == 1 and open(aside[0], "rb").read() == b"not a checkpoint at all" * 10
    assert se.Engine.restore(model, ck).weights("in_out").shape == (4, 2048)  # a new, valid one


def test_stream_reset_keeps_learning():
    """A new sensor session restarts time but keeps the learned weights and thresholds."""
    from snnedge.stream import Stream

    model = plastic_model()
    ev, _ = moving_bars(0.5, seed=4)
    st = Stream(iter([ev]), model, window_us=50_000)
    st.engine.run(ev)
    learned = st.engine.learned_state()
    st._reset(session=12345)
    assert st.engine.open_tick == 0
    np.testing.assert_array_equal(st.engine.weights("in_out"), learned["weights"]["in_out"])
    np.testing.assert_array_equal(st.engine.state("out")["theta"], learned["theta"]["out"])
    json.dumps({k: list(v) for k, v in learned.items()})  # names are plain strings
