"""Per-channel scales in the quantizer (docs/numerics.md section 12): a layer whose neurons have
incoming weights of very different sizes loses its small-weight neurons with one scale per
layer at 4-bit weights, and keeps them with one scale per neuron. Compared against the float
simulation of the same network, neuron by neuron."""
from __future__ import annotations

import numpy as np
import pytest

import snnedge as se
from snnedge.models import quantize
from snnedge.models.floatnet import FloatConnection, FloatLayer, FloatNetwork

STEPS = 200


def two_scale_net() -> FloatNetwork:
    """16 inputs -> 8 IF (rows 0-3 strong weights from inputs 0-7, rows 4-7 weights 30x weaker
    from inputs 8-15, same threshold) -> 2 IF outputs."""
    rng = np.random.default_rng(1)
    w1 = np.zeros((8, 16))
    w1[:4, :8] = rng.uniform(0.3, 1.0, (4, 8))
    w1[4:, 8:] = 0.03 * rng.uniform(0.3, 1.0, (4, 8))
    w2 = np.zeros((2, 8))
    w2[0, :4] = 1.0
    w2[1, 4:] = 1.0
    dt = 1e-3
    hid = FloatLayer("h", "IF", (8,), {"r": np.full(8, 1 / dt), "v_threshold": np.full(8, 2.0)}, reset="subtract")
    out = FloatLayer("o", "IF", (2,), {"r": np.full(2, 1 / dt), "v_threshold": np.full(2, 3.0)}, reset="subtract")
    return FloatNetwork((16,), [hid, out], [FloatConnection("c1", "input", "h", "dense", w1),
                                           FloatConnection("c2", "h", "o", "dense", w2)], "o", dt, 1000,
                        reset="subtract")


def poisson(n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        rate = np.where((np.arange(16) >= 8) == bool(k % 2), 0.5, 0.1)
        t, ch = np.nonzero(rng.random((STEPS, 16)) < rate)
        out.append(se.make_events(t * 1000, ch))
    return out


def hidden_counts(model: se.Model, ev: np.ndarray) -> np.ndarray:
    spec = dict(model.spec)
    spec["output"] = "h"
    eng = se.Engine(se.Model.from_spec(spec))
    s = np.concatenate([eng.feed(ev), eng.advance(STEPS * 1000 - 1)])
    return np.bincount(s["neuron"], minlength=8)


def test_per_channel_scales_keep_small_weight_neurons_alive():
    net = two_scale_net()
    calib = poisson(20, 0)
    test = poisson(6, 99)
    per_layer, rep_l = quantize(net, calib, weight_bits=4, n_steps=STEPS, granularity="layer", state_bits=24,
                                leak="multiply")
    per_chan, rep_c = quantize(net, calib, weight_bits=4, n_steps=STEPS, granularity="channel", state_bits=24,
                               leak="multiply")
    assert rep_l.granularity == "layer" and rep_c.granularity == "channel"
    layer_h = per_chan.spec["layers"][0]
    assert "theta_init" in layer_h and "theta_init" not in per_layer.spec["layers"][0]
    fl = np.zeros(8)
    il = np.zeros(8)
    ic = np.zeros(8)
    for ev in test:
        fl += net.run(ev, n_steps=STEPS, record=False).spikes["h"].sum(axis=0)
        il += hidden_counts(per_layer, ev)
        ic += hidden_counts(per_chan, ev)
    assert fl[4:].min() > 10, "the weak-weight neurons fire in float"
    # one scale per layer: their 4-bit weights round to zero, the neurons go silent
    assert il[4:].sum() < 0.2 * fl[4:].sum()
    # one scale per neuron: every neuron within 10% of float
    np.testing.assert_allclose(ic, fl, rtol=0.10)
    assert rep_c.count_error < rep_l.count_error


def test_search_tries_per_channel_only_when_per_layer_misses_the_target():
    net = two_scale_net()
    calib = poisson(20, 0)
    _, rep4 = quantize(net, calib, weight_bits=4, n_steps=STEPS)
    grans = [c.granularity for c in rep4.candidates]
    assert "layer" in grans and "channel" in grans and grans.index("channel") > grans.index("layer")
    assert not any(c.meets_target for c in rep4.candidates if c.granularity == "layer")
    assert rep4.granularity == "channel" and rep4.meets_target
    assert "per channel" in rep4.to_markdown()
    _, rep8 = quantize(net, calib, weight_bits=8, n_steps=STEPS)
    if any(c.meets_target for c in rep8.candidates if c.granularity == "layer"):
        assert rep8.granularity == "layer"
        assert all(c.granularity == "layer" for c in rep8.candidates)
    with pytest.raises(se.ModelError, match="granularity"):
        quantize(net, calib[:2], weight_bits=8, n_steps=STEPS, granularity="tensor")


def test_per_channel_rescues_the_nmnist_cnn_at_4_bits():
    """The NIR paper's Sinabs N-MNIST CNN on the shared sample: at 4-bit weights one scale per
    layer misses the count target; one scale per conv channel meets it, and the decision holds."""
    import os

    pytest.importorskip("nir")
    root = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    graph = os.path.join(root, "nir_paper", "cnn_sinabs.nir")
    sample = os.path.join(root, "recordings", "sample_nmnist.bin")
    if not (os.path.exists(graph) and os.path.exists(sample)):
        pytest.skip("shared NIR graph or N-MNIST sample missing")
    from snnedge.models import import_nir

    ev = se.read_events(sample)
    net = import_nir(graph, dt=1.0, tick_us=1000, reset="value", framework="sinabs")
    runs = {g: quantize(net, [ev], labels=[4], weight_bits=4, granularity=g, state_bits=24, leak="multiply")[1]
            for g in ("layer", "channel")}
    assert runs["layer"].count_error > 0.05 and not runs["layer"].meets_target
    assert runs["channel"].count_error < 0.05 and runs["channel"].meets_target
    assert runs["channel"].accuracy_int == 1.0
