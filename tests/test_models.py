"""Models end to end: the classifier the repo trains (float vs int8 accuracy, a bad choice caught
by the report), the shipped firmware models and their manifest, and the export/info CLI."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import snnedge as se

pytest.importorskip("nir")
pytest.importorskip("sklearn")

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
sys.path.insert(0, os.path.join(ROOT, "examples"))


@pytest.fixture(scope="module")
def digits():
    from train_digits_snn import build
    return build(verbose=False, n_calib=120)


def test_digits_classifier_int8_within_one_point_of_float(digits):
    assert digits["float"] >= 0.9
    assert abs(digits["int"] - digits["float"]) <= 0.01
    rep = digits["report"]
    assert rep.meets_target and rep.output_agreement >= 0.95
    assert rep.accuracy_float is not None and abs(rep.accuracy_int - rep.accuracy_float) <= 0.01
    assert "accuracy: float" in rep.to_markdown()


def test_too_few_weight_bits_are_caught_by_the_report(digits):
    from snnedge.models import quantize
    from train_digits_snn import encode, load_digits_split

    xtr, _, ytr, _ = load_digits_split()
    calib = [encode(x) for x in xtr[:60]]
    _, good = quantize(digits["net"], calib, labels=ytr[:60], weight_bits=8, n_steps=64)
    _, bad = quantize(digits["net"], calib, labels=ytr[:60], weight_bits=4, n_steps=64)
    assert good.meets_target
    assert not bad.meets_target
    assert bad.count_error > 2 * good.count_error
    assert any("target" in w for w in bad.warnings)
    assert "NOT met" in bad.to_markdown()


def test_firmware_models_match_their_manifest():
    manifest = json.load(open(os.path.join(ROOT, "firmware_models", "manifest.json")))
    assert {"motion_direction.snnm", "motion_reichardt.snnm", "digits_mlp.snnm", "nmnist_cnn_sinabs.snnm",
            "braille_bias_zero.snnm", "braille_subtract.snnm"} <= set(manifest)
    for name, entry in manifest.items():
        path = os.path.join(ROOT, "firmware_models", name)
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == entry["sha256"], name
        m = se.load_model(path)
        assert list(m.input_shape) == entry["input_shape"]
        assert m.metadata["snnedge_version"]


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="shared data not available")
def test_shipped_nmnist_cnn_predicts_4():
    from test_nir import read_nmnist
    ev = read_nmnist(os.path.join(SHARED, "recordings", "sample_nmnist.bin"))
    out = se.Engine(se.load_model(os.path.join(ROOT, "firmware_models", "nmnist_cnn_sinabs.snnm"))).run(ev)
    assert int(np.argmax(np.bincount(out["neuron"], minlength=10))) == 4


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="shared data not available")
def test_cli_export_and_info(tmp_path):
    np.save(tmp_path / "task1.npy", se.make_events(np.array([60, 220, 270, 310, 320]) * 100, 0))
    out = tmp_path / "lif.snnm"
    r = subprocess.run([sys.executable, "-m", "snnedge", "export", os.path.join(SHARED, "nir_paper", "lif_norse.nir"),
                        "--dt", "1e-4", "--reset", "subtract", "--framework", "norse", "--calibration",
                        str(tmp_path / "task1.npy"), "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Quantization" in r.stdout and out.exists()
    r = subprocess.run([sys.executable, "-m", "snnedge", "info", str(out), "--json"], capture_output=True, text=True,
                       cwd=tmp_path, check=True)
    info = json.loads(r.stdout)
    assert info["synops_per_input_event"] == 1 and info["metadata"]["framework"] == "norse"
    assert info["metadata"]["source_sha256"] == hashlib.sha256(
        open(os.path.join(SHARED, "nir_paper", "lif_norse.nir"), "rb").read()).hexdigest()
    r = subprocess.run([sys.executable, "-m", "snnedge", "info",
                        os.path.join(ROOT, "firmware_models", "nmnist_cnn_sinabs.snnm")], capture_output=True,
                       text=True, cwd=tmp_path, check=True)
    assert "Conv2d" in r.stdout and "parameters" in r.stdout


def test_qat_forward_matches_the_integer_model(digits):
    from snnedge.models import qat
    from snnedge.models.quantize import build_integer_model
    from snnedge.model import tensor_array

    net = digits["net"]
    vmax = {l.name: 3.0 for l in net.layers}
    model, details = build_integer_model(net, vmax, 24, "multiply", 8)
    c = net.connections[0]
    layer = net.layer(c.target)
    sigma = details[c.target]["sigma"]
    w_eff = c.weight * (net.dt * layer.param("r"))[:, None]
    shift = details[c.target]["shifts"][c.name]
    w_int = tensor_array(model.spec["connections"][0]["weight"])
    np.testing.assert_allclose(qat.quant_weight_np(w_eff, sigma, 8, shift) * sigma / 2 ** shift, w_int, atol=1e-9)
    assert qat.weight_shift(float(np.abs(w_eff).max()) * sigma, 8) == shift
    # the leak: truncation of the decayed state on the integer grid equals the engine's D(x, alpha)
    from reference import decay
    x = np.arange(-5000, 5000, 7)
    alpha = 58982
    got = qat.trunc_state_np(x / 256.0 * qat.quant_decay_np(alpha / 65536), 256.0) * 256.0
    np.testing.assert_array_equal(np.round(got).astype(np.int64), decay(x, alpha))


def test_qat_torch_straight_through():
    torch = pytest.importorskip("torch")
    from snnedge.models import qat

    w = torch.randn(4, 3, requires_grad=True)
    q = qat.fake_quant_weight(w, scale=100.0, bits=8)
    q.sum().backward()
    assert torch.allclose(w.grad, torch.ones_like(w))
    np.testing.assert_allclose(q.detach().numpy(), qat.quant_weight_np(w.detach().numpy(), 100.0, 8), atol=1e-6)
