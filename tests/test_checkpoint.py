"""Checkpoints: a restored run continues bit for bit as the uninterrupted one; a learning run
killed with SIGKILL at random moments (also while writing a checkpoint) always leaves a loadable
checkpoint from which it resumes to the same result; bad checkpoints are refused clearly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import snnedge as se

from netgen import random_events, random_network
from test_learning import RULES, events_for, plastic_network


def final_state(model: se.Model, eng: se.Engine) -> dict:
    out = {name: eng.state(name) for name, _, _ in model.layers}
    for c in model.spec["connections"]:
        if c.get("plasticity"):
            out["w:" + c["name"]] = eng.weights(c["name"])
    out["stats"] = eng.stats()
    return out


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        if k == "stats":
            assert a[k] == b[k]
        elif isinstance(a[k], dict):
            for kk in a[k]:
                np.testing.assert_array_equal(a[k][kk], b[k][kk], err_msg=f"{k}.{kk}")
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("seed", range(40))
def test_restored_run_equals_uninterrupted(tmp_path, seed):
    rng = np.random.default_rng(seed)
    if seed % 2:
        model = plastic_network(rng, *RULES[seed % 4])
        events = events_for(rng, model)
    else:
        model = random_network(rng, ["IF", "LIF", "CubaLIF", "LI"][seed % 4])
        events = random_events(rng, model)
    end = (int(events["t"][-1]) if len(events) else 0) + 20 * model.tick_us
    whole = se.Engine(model)
    ref_out = np.concatenate([whole.feed(events), whole.advance(end)])
    cut = int(rng.integers(0, len(events) + 1))
    a = se.Engine(model)
    out = [a.feed(events[:cut])]
    tick = lambda k: int(events["t"][k]) // model.tick_us  # noqa: E731
    if 0 < cut < len(events) and tick(cut) > tick(cut - 1) and rng.random() < 0.5:
        out.append(a.advance(tick(cut) * model.tick_us - 1))  # time passes up to the next event's tick
    path = tmp_path / "c.snnc"
    a.checkpoint(path)
    b = se.Engine.restore(model, path)
    out += [b.feed(events[cut:]), b.advance(end)]
    np.testing.assert_array_equal(np.concatenate(out), ref_out)
    assert_same(final_state(model, b), final_state(model, whole))


def test_bad_checkpoints_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    model = plastic_network(rng, "additive", "nearest")
    eng = se.Engine(model)
    eng.feed(events_for(rng, model))
    p = tmp_path / "c.snnc"
    eng.checkpoint(p)
    raw = p.read_bytes()
    for mutate in (lambda b: b[:-5], lambda b: b[:10], lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:],
                   lambda b: b"\x00" + b[1:]):
        (tmp_path / "bad.snnc").write_bytes(mutate(raw))
        with pytest.raises(se.CheckpointError):
            se.Engine.restore(model, tmp_path / "bad.snnc")
    other = plastic_network(np.random.default_rng(4), "additive", "nearest")
    with pytest.raises(se.CheckpointError, match="another description"):
        se.Engine.restore(other, p)


LEARNER = textwrap.dedent("""
    import sys, numpy as np, snnedge as se
    model = se.load_model(sys.argv[1])
    ev = np.load(sys.argv[2])
    ckpt = sys.argv[3]
    import os
    eng = se.Engine.restore(model, ckpt) if os.path.exists(ckpt) else se.Engine(model)
    done = eng.stats()["input_events"]
    print("start", done, flush=True)
    for k in range(done, len(ev), 25):
        eng.feed(ev[k:k + 25])
        eng.checkpoint(ckpt)
    eng.advance(int(ev["t"][-1]))
    eng.checkpoint(ckpt)
    print("finished", flush=True)
""")


def learning_model() -> se.Model:
    rng = np.random.default_rng(11)
    stdp = se.STDP(a_plus=1 << 21, a_minus=1 << 19, trace_decay_pre=62000, trace_decay_post=62000, w_min=0,
                   w_max=100, rule="multiplicative", pairing="all_to_all", seed=5)
    layers = [se.LIF("exc", (40,), decay_mem=60000, threshold=300, refractory=2, adapt_increment=20),
              se.LIF("inh", (40,), decay_mem=50000, threshold=50)]
    conns = [se.Dense("in_exc", "input", "exc", rng.integers(0, 60, (40, 200)), plasticity=stdp),
             se.Dense("exc_inh", "exc", "inh", np.eye(40, dtype=np.int64) * 100),
             se.Dense("inh_exc", "inh", "exc", -(1 - np.eye(40, dtype=np.int64)) * 100, shift=1, delay=1)]
    return se.Model((200,), 1000, layers, conns)


def test_sigkill_during_learning_always_leaves_a_loadable_checkpoint(tmp_path):
    model = learning_model()
    mpath = tmp_path / "m.snnm"
    model.save(mpath)
    rng = np.random.default_rng(1)
    ev = se.make_events(np.sort(rng.integers(0, 6_000_000, 60_000)), rng.integers(0, 200, 60_000))
    np.save(tmp_path / "ev.npy", ev)
    (tmp_path / "learner.py").write_text(LEARNER)
    # the uninterrupted run
    ref = se.Engine(model)
    ref.feed(ev)
    ref.advance(int(ev["t"][-1]))
    ckpt = tmp_path / "c.snnc"
    kills = 0
    for round_ in range(12):
        p = subprocess.Popen([sys.executable, str(tmp_path / "learner.py"), str(mpath), str(tmp_path / "ev.npy"),
                              str(ckpt)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        line = p.stdout.readline()
        assert line.startswith("start"), line
        time.sleep(float(rng.uniform(0.02, 0.3)))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait(timeout=60)
        if ckpt.exists():
            se.Engine.restore(model, ckpt)  # always loadable, whatever the moment of the kill
    # finish without interruption from the last checkpoint
    p = subprocess.run([sys.executable, str(tmp_path / "learner.py"), str(mpath), str(tmp_path / "ev.npy"), str(ckpt)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "finished" in p.stdout, p.stderr
    done = se.Engine.restore(model, ckpt)
    assert kills >= 6
    np.testing.assert_array_equal(done.weights("in_exc"), ref.weights("in_exc"))
    assert done.stats()["layer_spikes"] == ref.stats()["layer_spikes"]
    for name in ("exc", "inh"):
        for k, v in ref.state(name).items():
            np.testing.assert_array_equal(done.state(name)[k], v)


@pytest.mark.parametrize("seed", range(10))
def test_restore_keeps_eligibility_and_pending_rewards(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    model = plastic_network(rng, "additive", "all_to_all", rstdp=True)
    events = events_for(rng, model)
    end = (int(events["t"][-1]) if len(events) else 0) + 10 * model.tick_us
    rewards = sorted((int(rng.integers(0, end + 1)), int(rng.integers(-400, 400))) for _ in range(4))
    whole = se.Engine(model)
    for t, r in rewards:
        whole.reward(r, t)
    ref = np.concatenate([whole.feed(events), whole.advance(end)])
    cut = int(rng.integers(0, len(events) + 1))
    a = se.Engine(model)
    for t, r in rewards:
        a.reward(r, t)
    out = [a.feed(events[:cut])]
    a.checkpoint(tmp_path / "c.snnc")
    b = se.Engine.restore(model, tmp_path / "c.snnc")
    out += [b.feed(events[cut:]), b.advance(end)]
    np.testing.assert_array_equal(np.concatenate(out), ref)
    assert_same(final_state(model, b), final_state(model, whole))
