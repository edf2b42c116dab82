"""NIR import, the float simulation and quantization, on the NIR paper graphs (../shared/data/nir_paper).

Task facts (Pedersen et al. 2024, reference/nir.md): task 1, lif_norse.nir driven at dt = 1e-4 by
the paper's input spike train, spikes at steps 460, 510, 710, 760 in the exact solution, in Norse
and in snnTorch (paper/01_lif/lif_{exact,norse,snntorch}.csv of neuromorphs/NIR, BSD-3-Clause);
task 2, cnn_sinabs.nir on sample_nmnist.bin in 1 ms bins, every framework predicts class 4.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import snnedge as se

nir = pytest.importorskip("nir")
from snnedge.models import NIRImportError, import_nir, quantize  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
GRAPHS = os.path.join(DATA, "nir_paper")
# input spike steps of the NIR paper's task 1 (column 0 of paper/01_lif/lif_exact.csv)
TASK1_INPUT = [60, 220, 270, 310, 320, 350, 370, 400, 410, 430, 440, 450, 460, 470, 480, 490, 500, 510, 520, 530,
               670, 680, 690, 700, 710, 720, 730, 740, 750, 760, 770, 780, 840, 850]
TASK1_SPIKES = [460, 510, 710, 760]

needs_data = pytest.mark.skipif(not os.path.isdir(GRAPHS), reason="shared NIR graphs not available")


def read_nmnist(path: str) -> np.ndarray:
    """An independent N-MNIST decoder for these tests (reference/formats.md 1.9)."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    t = t + np.cumsum(y == 240) * (1 << 13)
    keep = y != 240
    return se.make_events(t[keep], x[keep], y[keep], raw[keep, 2] >> 7)


def task1_events(tick_us: int) -> np.ndarray:
    return se.make_events(np.array(TASK1_INPUT) * tick_us, 0)


@needs_data
@pytest.mark.parametrize("name,dt", [("lif_norse", 1e-4), ("lif_rockpool", 1e-4), ("two_lif_neurons", 1e-4),
                                     ("cnn_sinabs", 1.0), ("braille_noDelay_bias_zero", 1e-4),
                                     ("braille_noDelay_noBias_subtract", 1e-4)])
def test_all_paper_graphs_import_and_quantize(name, dt):
    net = import_nir(os.path.join(GRAPHS, f"{name}.nir"), dt=dt, tick_us=1000 if name == "cnn_sinabs" else None)
    assert net.layers and net.output
    assert net.metadata["source_sha256"]
    model, report = quantize(net, [], state_bits=24, leak="multiply")
    assert model.output == net.output
    assert [n for n, _, _ in model.layers] == [l.name for l in net.layers]


@needs_data
@pytest.mark.parametrize("reset", ["subtract", "value"])
def test_task1_spikes_at_the_exact_solution_steps(reset):
    net = import_nir(os.path.join(GRAPHS, "lif_norse.nir"), dt=1e-4, reset=reset)
    assert net.tick_us == 100
    ev = task1_events(net.tick_us)
    r = net.run(ev, n_steps=1000)
    assert np.flatnonzero(r.spikes[net.output][:, 0]).tolist() == TASK1_SPIKES
    model, report = quantize(net, [ev], n_steps=1000)
    out = se.Engine(model).run(ev)
    steps = (out["t"] // net.tick_us).tolist()
    assert len(steps) == len(TASK1_SPIKES)
    assert all(abs(a - b) <= 1 for a, b in zip(steps, TASK1_SPIKES))
    assert report.meets_target and report.output_agreement == 1.0


@needs_data
def test_task2_cnn_predicts_4_in_float_and_int8():
    net = import_nir(os.path.join(GRAPHS, "cnn_sinabs.nir"), dt=1.0, tick_us=1000)
    kinds = [c.kind for c in net.connections]
    assert kinds == ["conv", "conv", "conv", "dense", "dense"]  # sum pooling folded into the 3rd conv
    ev = read_nmnist(os.path.join(DATA, "recordings", "sample_nmnist.bin"))
    assert len(ev) == 4325 and int((ev["p"] == 1).sum()) == 2145  # the data README's ground truth
    r = net.run(ev)
    fc = r.counts(net.output)
    assert int(np.argmax(fc)) == 4
    model, report = quantize(net, [ev], weight_bits=8)
    out = se.Engine(model).run(ev)
    ic = np.bincount(out["neuron"], minlength=10)
    assert int(np.argmax(ic)) == 4
    # output counts within 5% of float: the count vector (L1) and the winning class
    assert np.abs(ic - fc).sum() / fc.sum() <= 0.05
    assert abs(int(ic[4]) - int(fc[4])) <= 0.05 * fc[4]
    assert report.output_agreement == 1.0 and report.count_error <= 0.05
    md = report.to_markdown()
    assert "| 12 | IF | 10 |" in md


@needs_data
@pytest.mark.parametrize("name,reset", [("braille_noDelay_bias_zero", "value"), ("braille_noDelay_noBias_subtract", "subtract")])
def test_braille_recurrent_graphs_float_vs_int(name, reset):
    net = import_nir(os.path.join(GRAPHS, f"{name}.nir"), dt=1e-4, reset=reset)
    rec = [c for c in net.connections if c.recurrent]
    assert len(rec) == 1 and rec[0].delay == 1 and rec[0].source == rec[0].target
    rng = np.random.default_rng(1)
    samples = []
    for k in range(6):
        t = np.sort(rng.integers(0, 30_000, 400))
        samples.append(se.make_events(t, rng.integers(0, 12, t.size)))
    model, report = quantize(net, samples, n_steps=300)
    assert model.layer_shape(net.output) == (7,)
    for name_l, ratio in report.spike_agreement.items():
        assert 0.9 <= ratio <= 1.1, (name_l, ratio)
    assert report.output_agreement >= 5 / 6


def test_recurrence_is_found_and_biases_reach_current_neurons():
    n_in, n = 3, 4
    rng = np.random.default_rng(2)
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n_in])}),
            "fc": nir.Affine(weight=rng.normal(size=(n, n_in)), bias=np.full(n, 0.5)),
            "lif": nir.CubaLIF(tau_syn=np.full(n, 2e-3), tau_mem=np.full(n, 4e-3), r=np.ones(n), v_leak=np.zeros(n),
                               v_threshold=np.ones(n), w_in=np.ones(n)),
            "rec": nir.Linear(weight=rng.normal(size=(n, n))),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
    )
    net = import_nir(g, dt=1e-3)
    by_name = {c.name: c for c in net.connections}
    assert by_name["lif->rec->lif"].delay == 1 and by_name["lif->rec->lif"].recurrent
    assert np.allclose(net.layer("lif").params["bias"], 0.5) and "input->fc->lif" in by_name
    model, _ = quantize(net, [], state_bits=24, leak="multiply")
    assert "bias_syn" in model.spec["layers"][0] and model.spec["layers"][0]["bias_syn"] is not None


def test_import_errors_name_the_node():
    good = dict(input=nir.Input(input_type={"input": np.array([3])}),
                output=nir.Output(output_type={"output": np.array([2])}))
    g = nir.NIRGraph(nodes={**good, "fc": nir.Linear(weight=np.ones((2, 5))),
                            "lif": nir.IF(r=np.ones(2), v_threshold=np.ones(2))},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(NIRImportError) as e:
        import_nir(g, dt=1.0)
    assert e.value.node == "fc" and "weight" in str(e.value)
    assert isinstance(e.value, se.ModelError)
    g2 = nir.NIRGraph(nodes={**good, "lif": nir.LIF(tau=np.array([-1.0, 1.0]), r=np.ones(2), v_leak=np.zeros(2),
                                                    v_threshold=np.ones(2)),
                             "fc": nir.Linear(weight=np.ones((2, 3)))},
                      edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(NIRImportError, match="tau must be positive"):
        import_nir(g2, dt=1.0)
    with pytest.raises(ValueError):
        import_nir(g2, dt=0)
