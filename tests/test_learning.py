"""Online learning: the engine equals the numpy reference bit for bit with learning on, for every
rule (additive / multiplicative x all-to-all / nearest), on random networks and random
chunkings; control of learning at run time; weight normalisation.

CI runs 200 networks per rule; SNNEDGE_PROPERTY_EXAMPLES raises it."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnedge as se

from netgen import random_layer
from reference import simulate

EXAMPLES = int(os.environ.get("SNNEDGE_PROPERTY_EXAMPLES", "200"))
RULES = [("additive", "all_to_all"), ("additive", "nearest"), ("multiplicative", "all_to_all"),
         ("multiplicative", "nearest")]
# reward-modulated STDP (eligibility traces, rewards delivered by the test)
RSTDP_RULES = [("additive", "all_to_all", True), ("multiplicative", "nearest", True)]
# sparse connections: each rule once, and reward-modulated
RULES_SPARSE = [(r, p, False) for r, p in RULES] + RSTDP_RULES


def plastic_network(rng: np.random.Generator, rule: str, pairing: str, rstdp: bool = False,
                    sparse: bool = False) -> se.Model:
    n_in = int(rng.integers(2, 12))
    n_a = int(rng.integers(1, 8))
    n_b = int(rng.integers(1, 6))
    kind_a = str(rng.choice(["IF", "LIF", "CubaLIF"]))
    kind_b = str(rng.choice(["IF", "LIF", "CubaLIF", "LI"]))
    layers = [random_layer(rng, "a", kind_a, (n_a,)), random_layer(rng, "b", kind_b, (n_b,))]

    def stdp(bits: int) -> se.STDP:
        hi_w = 2 ** (bits - 1) - 1
        w_max = int(rng.integers(1, hi_w + 1))
        w_min = int(rng.integers(-hi_w - 1, w_max + 1)) if rng.random() < 0.5 else 0
        return se.STDP(a_plus=int(rng.integers(0, 1 << 23)), a_minus=int(rng.integers(0, 1 << 23)),
                       trace_decay_pre=int(rng.choice([0, 30000, 62000, 65000, 65536])),
                       trace_decay_post=int(rng.choice([0, 30000, 62000, 65000, 65536])),
                       w_min=w_min, w_max=w_max, rule=rule, pairing=pairing, seed=int(rng.integers(0, 2**63)),
                       eligibility_decay=int(rng.choice([0, 50000, 64000, 65536])) if rstdp else None)

    conns = []
    for name, src, tgt, n_src, n_tgt in (("in_a", "input", "a", n_in, n_a), ("a_b", "a", "b", n_a, n_b)):
        bits = int(rng.choice([8, 8, 16]))
        p = stdp(bits)
        w = rng.integers(p.w_min, p.w_max + 1, size=(n_tgt, n_src))
        plasticity = p if (name == "in_a" or rng.random() < 0.7) else None
        shift = int(rng.choice([0, 2, 4]))
        if sparse:  # a random subset of the pairs, listed in a random order within each row
            post, pre = np.nonzero(rng.random((n_tgt, n_src)) < rng.uniform(0.1, 1.0))
            perm = rng.permutation(len(pre))
            conns.append(se.Sparse.from_coo(name, src, tgt, n_src, pre[perm], post[perm], w[post, pre][perm],
                                            shift=shift, weight_bits=bits, plasticity=plasticity))
        else:
            conns.append(se.Dense(name, src, tgt, w, shift=shift, weight_bits=bits, plasticity=plasticity))
    if rng.random() < 0.5:
        conns.append(se.Dense("rec", "b", "a", rng.integers(-60, 60, size=(n_a, n_b)), delay=1))
    return se.Model((n_in,), int(rng.choice([1, 1000])), layers, conns)


def events_for(rng: np.random.Generator, model: se.Model) -> np.ndarray:
    n_in = model.input_shape[0]
    n = int(rng.integers(0, 200))
    span = int(rng.integers(1, 60)) * model.tick_us
    t = np.sort(rng.integers(0, span, n))
    return se.make_events(t, rng.integers(0, n_in, n))


def check(model: se.Model, engine: se.Engine, spikes: np.ndarray, events: np.ndarray, end_tick: int, rewards=()):
    evs = [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) for e in events]
    ref_spikes, ref_states, _ = simulate(model.spec, evs, end_tick, rewards)
    assert [(int(s["t"]), int(s["neuron"])) for s in spikes] == ref_spikes
    for name, ref in ref_states.items():
        for key, val in ref.items():
            np.testing.assert_array_equal(engine.state(name)[key].reshape(-1), val, err_msg=f"{name}.{key}")
    for name, (W, x, y) in simulate.learned.items():
        np.testing.assert_array_equal(engine.weights(name), W, err_msg=f"weights of {name}")
        tr = engine.traces(name)
        np.testing.assert_array_equal(tr["pre"], x, err_msg=f"pre traces of {name}")
        np.testing.assert_array_equal(tr["post"], y, err_msg=f"post traces of {name}")


@pytest.mark.parametrize("rule,pairing", RULES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**63 - 1), data=st.data())
def test_learning_engine_equals_reference(rule, pairing, seed, data):
    rng = np.random.default_rng(seed)
    model = plastic_network(rng, rule, pairing)
    events = events_for(rng, model)
    extra = data.draw(st.integers(0, 20), label="extra")
    last = int(events["t"][-1]) // model.tick_us if len(events) else 0
    end_tick = last + extra
    eng = se.Engine(model)
    spikes = np.concatenate([eng.run(events), eng.advance(end_tick * model.tick_us)])
    check(model, eng, spikes, events, end_tick)
    # random chunking gives the same learning
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=5), label="cuts"))
    eng2 = se.Engine(model)
    parts, prev = [], 0
    for cut in cuts + [len(events)]:
        parts.append(eng2.feed(events[prev:cut]))
        prev = cut
    parts.append(eng2.advance(end_tick * model.tick_us))
    np.testing.assert_array_equal(np.concatenate(parts), spikes)
    for name in simulate.learned:
        np.testing.assert_array_equal(eng2.weights(name), eng.weights(name))


@pytest.mark.parametrize("rule,pairing,rstdp", RULES_SPARSE)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**63 - 1), data=st.data())
def test_sparse_learning_equals_reference(rule, pairing, rstdp, seed, data):
    """Sparse plastic connections learn like the dense reference restricted to their synapses."""
    rng = np.random.default_rng(seed)
    model = plastic_network(rng, rule, pairing, rstdp, sparse=True)
    events = events_for(rng, model)
    last = int(events["t"][-1]) // model.tick_us if len(events) else 0
    end_tick = last + data.draw(st.integers(0, 20), label="extra")
    rewards = sorted((int(rng.integers(0, (end_tick + 1) * model.tick_us)), int(rng.integers(-600, 600)))
                     for _ in range(int(rng.integers(0, 6)) if rstdp else 0))
    eng = se.Engine(model)
    for t_us, value in rewards:
        eng.reward(value, t_us)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4), label="cuts"))
    parts, prev = [], 0
    for cut in cuts + [len(events)]:
        parts.append(eng.feed(events[prev:cut]))
        prev = cut
    parts.append(eng.advance(end_tick * model.tick_us))
    check(model, eng, np.concatenate(parts), events, end_tick, rewards)


def plastic_conv_network(rng: np.random.Generator, rule: str, pairing: str, rstdp: bool = False) -> se.Model:
    """input (C, H, W) -conv(plastic)-> a (C', H', W') -dense(maybe plastic)-> b."""
    c_in, h, w = int(rng.integers(1, 3)), int(rng.integers(3, 7)), int(rng.integers(3, 7))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    c_out = int(rng.integers(1, 4))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    n_b = int(rng.integers(1, 5))
    layers = [random_layer(rng, "a", str(rng.choice(["IF", "LIF", "CubaLIF"])), (c_out, oh, ow)),
              random_layer(rng, "b", str(rng.choice(["IF", "LIF", "LI"])), (n_b,))]

    def stdp(bits: int) -> se.STDP:
        hi_w = 2 ** (bits - 1) - 1
        w_max = int(rng.integers(1, hi_w + 1))
        w_min = int(rng.integers(-hi_w - 1, w_max + 1)) if rng.random() < 0.5 else 0
        return se.STDP(a_plus=int(rng.integers(0, 1 << 22)), a_minus=int(rng.integers(0, 1 << 22)),
                       trace_decay_pre=int(rng.choice([0, 30000, 62000, 65536])),
                       trace_decay_post=int(rng.choice([0, 30000, 62000, 65536])),
                       w_min=w_min, w_max=w_max, rule=rule, pairing=pairing, seed=int(rng.integers(0, 2**63)),
                       eligibility_decay=int(rng.choice([0, 50000, 64000, 65536])) if rstdp else None)

    bits = int(rng.choice([8, 8, 16]))
    p = stdp(bits)
    kernel = rng.integers(p.w_min, p.w_max + 1, size=(c_out, c_in, kh, kw))
    conns = [se.Conv2d("conv", "input", "a", kernel, stride=(sh, sw), padding=(ph, pw), shift=int(rng.choice([0, 2])),
                       weight_bits=bits, plasticity=p)]
    p2 = stdp(8)
    w2 = rng.integers(p2.w_min, p2.w_max + 1, size=(n_b, c_out * oh * ow))
    conns.append(se.Dense("a_b", "a", "b", w2, plasticity=p2 if rng.random() < 0.5 else None))
    return se.Model((c_in, h, w), int(rng.choice([1, 1000])), layers, conns)


@pytest.mark.parametrize("rule,pairing,rstdp", RULES_SPARSE)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**63 - 1), data=st.data())
def test_conv_learning_equals_reference(rule, pairing, rstdp, seed, data):
    """Shared-weight learning on convolutions: the engine equals the reference, whatever the
    chunking, with rewards in the reward-modulated mode."""
    rng = np.random.default_rng(seed)
    model = plastic_conv_network(rng, rule, pairing, rstdp)
    c_in, h, w = model.input_shape
    n = int(rng.integers(0, 300))
    span = int(rng.integers(1, 40)) * model.tick_us
    events = se.make_events(np.sort(rng.integers(0, span, n)), rng.integers(0, w, n), rng.integers(0, h, n),
                            rng.integers(0, c_in, n))
    last = int(events["t"][-1]) // model.tick_us if len(events) else 0
    end_tick = last + data.draw(st.integers(0, 15), label="extra")
    rewards = sorted((int(rng.integers(0, (end_tick + 1) * model.tick_us)), int(rng.integers(-600, 600)))
                     for _ in range(int(rng.integers(0, 6)) if rstdp else 0))
    eng = se.Engine(model)
    for t_us, value in rewards:
        eng.reward(value, t_us)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4), label="cuts"))
    parts, prev = [], 0
    for cut in cuts + [len(events)]:
        parts.append(eng.feed(events[prev:cut]))
        prev = cut
    parts.append(eng.advance(end_tick * model.tick_us))
    check(model, eng, np.concatenate(parts), events, end_tick, rewards)


def test_sparse_with_every_pair_learns_like_dense():
    """A sparse connection listing every pair (rows in any order) is the dense connection."""
    rng = np.random.default_rng(7)
    n_in, n_out = 12, 6
    stdp = se.STDP(a_plus=1 << 22, a_minus=3 << 20, trace_decay_pre=60000, trace_decay_post=60000, w_min=-20,
                   w_max=100, seed=3, rule="multiplicative")
    w = rng.integers(0, 60, size=(n_out, n_in))
    layer = se.Layer("out", "LIF", (n_out,), threshold=150, decay_mem=60000)
    post, pre = np.nonzero(np.ones_like(w))
    perm = rng.permutation(len(pre))
    sparse = se.Sparse.from_coo("c", "input", "out", n_in, pre[perm], post[perm], w[post, pre][perm], plasticity=stdp)
    models = [se.Model((n_in,), 1000, [layer], [conn]) for conn in (se.Dense("c", "input", "out", w, plasticity=stdp),
                                                                   sparse)]
    events = se.make_events(np.sort(rng.integers(0, 300_000, 3000)), rng.integers(0, n_in, 3000))
    engines = [se.Engine(m) for m in models]
    outs = [e.run(events) for e in engines]
    np.testing.assert_array_equal(outs[0], outs[1])
    dense_w, sparse_w = engines[0].weights("c"), engines[1].weights("c")
    assert not np.array_equal(dense_w, w), "the weights did not learn"
    ip, idx = np.asarray(sparse.indptr), np.asarray(sparse.indices)
    np.testing.assert_array_equal(sparse_w, dense_w[idx, np.repeat(np.arange(n_in), np.diff(ip))])
    # set_weights takes the layout weights() returns
    engines[1].set_weights("c", sparse_w[::-1].copy())
    np.testing.assert_array_equal(engines[1].weights("c"), sparse_w[::-1])
    with pytest.raises(se.ShapeError):
        engines[1].set_weights("c", dense_w)


def test_sparse_plasticity_rejects_what_it_cannot_learn():
    stdp = se.STDP(a_plus=1 << 20, a_minus=1 << 20, trace_decay_pre=60000, trace_decay_post=60000, w_min=0, w_max=50)
    layer = se.Layer("out", "IF", (3,), threshold=10)

    def model(**kw):
        args = dict(pre=[0, 1, 2], post=[0, 1, 2], weights=[1, 2, 3])
        args.update(kw)
        extra = {k: v for k, v in args.items() if k not in ("pre", "post", "weights")}
        conn = se.Sparse.from_coo("c", "input", "out", 3, args["pre"], args["post"], args["weights"],
                                  plasticity=stdp, **extra)
        return se.Model((3,), 1000, [layer], [conn])

    se.Engine(model())
    with pytest.raises(se.ModelError, match="repeats the pair"):
        se.Engine(model(pre=[0, 1, 0], post=[2, 1, 2]))
    with pytest.raises(se.ModelError, match="per-synapse delays"):
        se.Engine(model(delays=[0, 1, 0]))
    with pytest.raises(se.ModelError, match="delay 0"):
        se.Engine(model(delay=2))
    with pytest.raises(se.ParameterOverflowError, match="plasticity bounds"):
        se.Engine(model(weights=[1, 2, 60]))


@pytest.mark.parametrize("rule,pairing,rstdp", RSTDP_RULES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**63 - 1), data=st.data())
def test_reward_modulated_learning_equals_reference(rule, pairing, rstdp, seed, data):
    rng = np.random.default_rng(seed)
    model = plastic_network(rng, rule, pairing, rstdp)
    events = events_for(rng, model)
    last = int(events["t"][-1]) // model.tick_us if len(events) else 0
    end_tick = last + data.draw(st.integers(0, 20), label="extra")
    n_rewards = int(rng.integers(0, 6))
    rewards = sorted((int(rng.integers(0, (end_tick + 1) * model.tick_us)), int(rng.integers(-600, 600)))
                     for _ in range(n_rewards))
    engines = []
    for chunked in (False, True):
        eng = se.Engine(model)
        for t_us, value in rewards:
            eng.reward(value, t_us)
        if chunked:
            cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4), label="cuts"))
            parts, prev = [], 0
            for cut in cuts + [len(events)]:
                parts.append(eng.feed(events[prev:cut]))
                prev = cut
        else:
            parts = [eng.run(events)]
        parts.append(eng.advance(end_tick * model.tick_us))
        check(model, eng, np.concatenate(parts), events, end_tick, rewards)
        engines.append(eng)
    with pytest.raises(se.LateEventError):  # tick 0 is complete: a reward there is late
        engines[0].reward(10, 0)


def test_rewards_move_weights_only_through_eligibility():
    stdp = se.STDP(a_plus=1 << 22, a_minus=1 << 20, trace_decay_pre=62000, trace_decay_post=62000, w_min=0, w_max=120,
                   eligibility_decay=64000, seed=1)
    w0 = np.full((3, 4), 30)
    model = se.Model((4,), 1000, [se.IF("o", (3,), threshold=60)], [se.Dense("d", "input", "o", w0, plasticity=stdp)])
    rng = np.random.default_rng(0)
    ev = se.make_events(np.sort(rng.integers(0, 100_000, 600)), rng.integers(0, 4, 600))
    eng = se.Engine(model)
    eng.run(ev)
    np.testing.assert_array_equal(eng.weights("d"), w0)  # no reward yet: only eligibility moved
    eng.reward(256, 100_500)
    eng.advance(101_000)
    assert not np.array_equal(eng.weights("d"), w0)
    pos = eng.weights("d").copy()
    neg = se.Engine(model)
    neg.run(ev)
    neg.reward(-256, 100_500)
    neg.advance(101_000)
    assert np.sign(neg.weights("d") - w0).sum() == -np.sign(pos - w0).sum()  # the reward's sign decides


def test_learning_changes_weights_and_can_be_switched_off():
    w0 = np.full((3, 4), 20)
    stdp = se.STDP(a_plus=1 << 22, a_minus=1 << 20, trace_decay_pre=62000, trace_decay_post=62000, w_min=0, w_max=120)
    model = se.Model((4,), 1000, [se.IF("o", (3,), threshold=60)],
                     [se.Dense("d", "input", "o", w0, plasticity=stdp)])
    rng = np.random.default_rng(0)
    ev = se.make_events(np.sort(rng.integers(0, 200_000, 2000)), rng.integers(0, 4, 2000))
    eng = se.Engine(model)
    eng.run(ev)
    assert not np.array_equal(eng.weights("d"), w0)
    assert eng.weights("d").min() >= 0 and eng.weights("d").max() <= 120
    frozen = se.Engine(model)
    frozen.set_learning("d", False)
    frozen.run(ev)
    np.testing.assert_array_equal(frozen.weights("d"), w0)
    # rates can change at run time; weights can be written and read back
    eng.set_learning_rates("d", a_plus=0, a_minus=0)
    before = eng.weights("d").copy()
    eng.feed(se.make_events([300_000, 300_500], [0, 1]))
    eng.advance(400_000)
    np.testing.assert_array_equal(eng.weights("d"), before)
    eng.set_weights("d", np.arange(12).reshape(3, 4))
    np.testing.assert_array_equal(eng.weights("d"), np.arange(12).reshape(3, 4))
    with pytest.raises(se.ParameterOverflowError):
        eng.set_weights("d", np.full((3, 4), 500))
    with pytest.raises(se.UnknownNameError):
        eng.set_learning("nope", True)
    with pytest.raises(se.ParameterOverflowError):
        se.Model((4,), 1000, [se.IF("o", (3,), threshold=60)],
                 [se.Dense("d", "input", "o", np.full((3, 4), 121), plasticity=stdp)])


def test_normalize_weights():
    stdp = se.STDP(a_plus=0, a_minus=0, trace_decay_pre=0, trace_decay_post=0, w_min=0, w_max=127)
    w = np.array([[10, 20, 30, 40], [0, 0, 0, 0], [1, 1, 1, 1]])
    model = se.Model((4,), 1000, [se.IF("o", (3,), threshold=60)], [se.Dense("d", "input", "o", w, plasticity=stdp)])
    eng = se.Engine(model)
    eng.normalize_weights("d", 50)
    got = eng.weights("d")
    expect = np.where(w.sum(1, keepdims=True) > 0,
                      np.floor_divide(2 * w * 50 + w.sum(1, keepdims=True), 2 * np.maximum(w.sum(1, keepdims=True), 1)), w)
    np.testing.assert_array_equal(got, np.clip(expect, 0, 127))
    assert got[0].sum() == 50 and got[2].sum() == 52


def test_set_state_writes_thresholds_and_membranes():
    model = se.Model((2,), 1000, [se.LIF("o", (3,), decay_mem=65000, threshold=100, theta_state=True)],
                     [se.Dense("d", "input", "o", np.full((3, 2), 60))])
    eng = se.Engine(model)
    eng.set_state("o", theta=[0, 10, 500])
    out = eng.run(se.make_events([0, 10], [0, 1]))  # 120 this tick: spikes where 120 >= 100 + theta
    assert out["neuron"].tolist() == [0, 1]
    np.testing.assert_array_equal(eng.state("o")["theta"], [0, 10, 500])  # frozen: no increment, no decay
    eng.set_state("o", v=[99, 200, 0])
    assert eng.advance(1000)["neuron"].tolist() == [1]  # 200 decays to 198 >= 110; 99 -> 98 < 100
    with pytest.raises(se.ParameterOverflowError):
        eng.set_state("o", theta=[-1, 0, 0])
    with pytest.raises(se.ShapeError):
        eng.set_state("o", v=[1, 2])
    with pytest.raises(se.ModelError):
        eng.set_state("o", i=[0, 0, 0])


@pytest.mark.parametrize("kind", ["sparse", "conv"])
def test_sparse_and_conv_learning_survive_a_checkpoint(tmp_path, kind):
    """Checkpoint half-way, restore, continue: the same spikes and weights as one run."""
    rng = np.random.default_rng(11)
    if kind == "sparse":  # a network with enough synapses and events to learn
        model = plastic_network(rng, "additive", "all_to_all", sparse=True)
        events = events_for(rng, model)
        while len(events) < 100 or model.spec["connections"][0]["indices"]["shape"][0] < 20:
            model = plastic_network(rng, "additive", "all_to_all", sparse=True)
            events = events_for(rng, model)
        name = "in_a"
    else:
        model = plastic_conv_network(rng, "multiplicative", "all_to_all", rstdp=True)
        c_in, h, w = model.input_shape
        n = 400
        events = se.make_events(np.sort(rng.integers(0, 60 * model.tick_us, n)), rng.integers(0, w, n),
                                rng.integers(0, h, n), rng.integers(0, c_in, n))
        name = "conv"
    half = len(events) // 2
    whole, first = se.Engine(model), se.Engine(model)
    if kind == "conv":
        for e in (whole, first):
            e.reward(300, int(events["t"][half]) + 2 * model.tick_us)
    w0 = whole.weights(name).copy()
    ref = np.concatenate([whole.feed(events), whole.advance(int(events["t"][-1]) + 5 * model.tick_us)])
    assert not np.array_equal(whole.weights(name), w0), "nothing learned"
    out = [first.feed(events[:half])]
    first.checkpoint(tmp_path / "half.snnc")
    second = se.Engine.restore(model, tmp_path / "half.snnc")
    out += [second.feed(events[half:]), second.advance(int(events["t"][-1]) + 5 * model.tick_us)]
    np.testing.assert_array_equal(np.concatenate(out), ref)
    np.testing.assert_array_equal(second.weights(name), whole.weights(name))
