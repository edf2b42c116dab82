"""The Python API: dtypes, conversions, errors (what, where, and nothing lost), model files,
engine controls, and exhaustive sweeps of the leak and threshold steps over the int16 domain."""
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
from reference import DECAY_ONE, decay, simulate


def small_model(**kw) -> se.Model:
    layers = [se.LIF("hid", (3,), decay_mem=60000, threshold=50), se.IF("out", (2,), threshold=40)]
    conns = [se.Dense("fc1", "input", "hid", np.array([[30, 10, 0, 5], [5, 30, 10, 0], [0, 5, 30, 10]])),
             se.Dense("fc2", "hid", "out", np.array([[40, 10, 0], [0, 10, 40]]))]
    return se.Model((4,), kw.pop("tick_us", 1000), layers, conns, **kw)


def stream(n=300, seed=0, n_in=4, span_us=200_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return se.make_events(np.sort(rng.integers(0, span_us, n)), rng.integers(0, n_in, n))


# ---- dtypes -------------------------------------------------------------------------------

def test_dtypes_are_pinned():
    assert se.EVENT_DTYPE == np.dtype({"names": ["t", "x", "y", "p"], "formats": ["<u8", "<u2", "<u2", "u1"],
                                       "offsets": [0, 8, 10, 12], "itemsize": 16})
    assert se.SPIKE_DTYPE == np.dtype({"names": ["t", "neuron"], "formats": ["<u8", "<u4"], "offsets": [0, 8],
                                       "itemsize": 16})
    assert se._core.EVENT_RECORD_BYTES == se.EVENT_DTYPE.itemsize
    assert se._core.SPIKE_RECORD_BYTES == se.SPIKE_DTYPE.itemsize


def test_event_bytes_reach_the_engine_intact():
    # A 1x1 model whose input index is x: each event spikes the output neuron given by x,
    # so the output echoes (t, x) and proves that t and x are read from the right bytes.
    n = 300
    model = se.Model((n,), 1, [se.IF("out", (n,), threshold=1)],
                     [se.Dense("id", "input", "out", np.eye(n, dtype=np.int8))])
    t = np.arange(1, 1 + 2**40, 2**40 // 7, dtype=np.uint64)[:7]
    ev = se.make_events(t, np.arange(7) * 40)
    out = se.Engine(model).run(ev)
    assert out["t"].tolist() == t.tolist()
    assert out["neuron"].tolist() == (np.arange(7) * 40).tolist()


def test_tonic_and_other_layouts_are_converted():
    tonic = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    tonic["x"] = [1, 2, 3]; tonic["t"] = [10, 20, 30]; tonic["p"] = [True, False, True]
    ev = se.as_events(tonic)
    assert ev.dtype == se.EVENT_DTYPE
    assert ev["t"].tolist() == [10, 20, 30] and ev["x"].tolist() == [1, 2, 3] and ev["p"].tolist() == [1, 0, 1]
    pm = np.zeros(2, dtype=[("ts", "<u4"), ("x", "<u1"), ("y", "<u1"), ("polarity", "<i1")])
    pm["polarity"] = [-1, 1]
    assert se.as_events(pm)["p"].tolist() == [0, 1]
    plain = np.array([[5, 1, 0, 1], [6, 2, 0, 0]])
    assert se.as_events(plain)["x"].tolist() == [1, 2]
    with pytest.raises(se.ShapeError):
        se.as_events(np.array([(0.5, 1)], dtype=[("t", "<f8"), ("x", "<u2")]))
    with pytest.raises(se.ShapeError, match="'x'"):
        se.as_events(np.array([[0, -1, 0, 0]]))
    with pytest.raises(se.ShapeError):
        se.as_events(np.zeros((3, 3)))


# ---- errors: what, where, nothing lost ----------------------------------------------------

def test_unsorted_events_name_the_index_and_consume_nothing():
    model = small_model()
    ev = stream()
    bad = ev.copy()
    bad["t"][120] = bad["t"][119] - 1 if bad["t"][119] else 0
    bad["t"][119] = bad["t"][120] + 5
    eng = se.Engine(model)
    with pytest.raises(se.UnsortedEventsError) as e:
        eng.feed(bad)
    assert e.value.index == 120 and isinstance(e.value, ValueError)
    assert "event 120" in str(e.value)
    # nothing of the rejected chunk was consumed: the same engine still gives the clean result
    assert eng.open_tick == 0 and eng.stats()["input_events"] == 0
    np.testing.assert_array_equal(eng.run(ev), se.Engine(model).run(ev))


def test_unsorted_across_chunks_and_late_events():
    eng = se.Engine(small_model())
    eng.feed(se.make_events([5000], [0]))
    with pytest.raises(se.UnsortedEventsError) as e:
        eng.feed(se.make_events([4000], [0]))
    assert e.value.index == 0 and e.value.previous_t_us == 5000
    eng.advance(9999)
    with pytest.raises(se.LateEventError) as e:
        eng.feed(se.make_events([9500], [1]))
    assert e.value.open_tick == 10 and e.value.open_t_us == 10_000
    eng.feed(se.make_events([10_000], [1]))  # the next tick is fine


def test_events_outside_the_input_layout():
    eng = se.Engine(small_model())
    with pytest.raises(se.EventOutOfRangeError) as e:
        eng.feed(se.make_events([1, 2, 3], [0, 4, 1]))
    assert (e.value.index, e.value.field, e.value.value, e.value.limit) == (1, "x", 4, 4)
    with pytest.raises(se.EventOutOfRangeError) as e:
        eng.feed(se.make_events([1], [0], y=1))
    assert e.value.field == "y"
    conv = se.Model((2, 4, 4), 1000, [se.IF("o", (2, 4, 4), threshold=5)],
                    [se.Conv2d("c", "input", "o", np.ones((2, 2, 1, 1), np.int8))])
    with pytest.raises(se.EventOutOfRangeError) as e:
        se.Engine(conv).feed(se.make_events([1], [0], [0], [2]))
    assert e.value.field == "p" and e.value.limit == 2


def test_model_errors_name_layer_and_problem():
    w = np.ones((2, 4), np.int8)
    with pytest.raises(se.ShapeError, match='connection "fc" weight'):
        se.Model((3,), 1000, [se.IF("o", (2,), threshold=1)], [se.Dense("fc", "input", "o", w)])
    with pytest.raises(se.ParameterOverflowError) as e:
        se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)], [se.Dense("fc", "input", "o", w.astype(int) * 200)])
    assert e.value.layer == "fc"
    with pytest.raises(se.ParameterOverflowError, match="threshold"):
        se.Model((4,), 1000, [se.IF("o", (2,), threshold=200, state_bits=8)], [se.Dense("fc", "input", "o", w)])
    with pytest.raises(se.ParameterOverflowError, match="weight"):
        se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)], [se.Dense("fc", "input", "o", w * 9, weight_bits=4)])
    with pytest.raises(se.ModelError, match="needs decay_mem"):
        se.Model((4,), 1000, [se.Layer("o", "LIF", (2,), threshold=3)], [se.Dense("fc", "input", "o", w)])
    with pytest.raises(se.ModelError, match="does not spike"):
        se.Model((4,), 1000, [se.LI("o", (2,), decay_mem=3, threshold=4)], [se.Dense("fc", "input", "o", w)])
    with pytest.raises(se.ModelError, match="not a layer"):
        se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)], [se.Dense("fc", "input", "nope", w)])
    with pytest.raises(se.ModelError, match="integer"):
        se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)], [se.Dense("fc", "input", "o", w * 0.5)])
    with pytest.raises(se.ModelError, match=r'\["rec"\].*delay >= 1') as e:
        se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)],
                 [se.Dense("fc", "input", "o", w), se.Dense("rec", "o", "o", np.eye(2, dtype=np.int8))])
    assert isinstance(e.value, ValueError)
    se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)],
             [se.Dense("fc", "input", "o", w), se.Dense("rec", "o", "o", np.eye(2, dtype=np.int8), delay=1)])
    with pytest.raises(se.ShapeError, match="target layer"):
        se.Model((2, 8, 8), 1000, [se.IF("o", (3, 8, 8), threshold=1)],
                 [se.Conv2d("c", "input", "o", np.ones((3, 2, 3, 3), np.int8))])
    with pytest.raises(se.UnknownNameError):
        se.Engine(small_model()).state("nope")


def test_misused_builders_raise_model_errors_not_numpy_ones():
    """Arguments in the wrong order or of the wrong type: a ModelError naming the layer or
    connection and the parameter, never a numpy/int() error or a silently wrong model."""
    w = np.ones((2, 4), np.int8)
    dense = [se.Dense("fc", "input", "o", w)]
    cases = [
        (lambda: se.Model((4,), 1000, [se.Layer("o", (2,), "IF")], dense), "o: shape"),
        (lambda: se.Model((4,), 1000, [se.LIF("o", "2", decay_mem=60000, threshold=3)], dense), "o: shape"),
        (lambda: se.Model((4,), 1000, [se.LIF("o", (2,), decay_mem=60000, threshold="x")], dense), "o: threshold"),
        # a float factor would otherwise truncate to a decay of 0: the message gives the Q0.16 value
        (lambda: se.Model((4,), 1000, [se.LIF("o", (2,), decay_mem=0.9, threshold=3)], dense), "58982"),
        (lambda: se.Model((4,), 1000, [se.IF("o", (2,), threshold=1)],
                          [se.Dense("fc", "input", "o", w, shift="2")]), "fc: shift"),
        (lambda: se.Model((1, 4, 4), 1000, [se.IF("o", (1, 2, 2), threshold=1)],
                          [se.Conv2d("c", "input", "o", np.ones((1, 1, 2, 2), np.int8), stride="2")]), "c: stride"),
        (lambda: se.Model((4,), 1000.5, [se.IF("o", (2,), threshold=1)], dense), "tick_us"),
        (lambda: se.Model((4,), 1000, ["o"], dense), "snnedge layers"),
    ]
    for build, where in cases:
        with pytest.raises(se.ModelError, match=where):
            build()
    # integral numbers of any kind are fine, and a bare int is a 1-D shape
    m = se.Model(np.int64(4), 1000.0, [se.LIF("o", 2, decay_mem=np.uint16(60000), threshold=3.0)], dense)
    assert m.layer_shape("o") == (2,)


def test_model_file_round_trip_and_corruption(tmp_path):
    model = small_model(name="small")
    path = tmp_path / "m.snnm"
    model.save(path, metadata={"source": "test"})
    back = se.Model.load(path)
    assert back.spec == model.spec
    assert back.metadata == {"source": "test", "snnedge_version": se.__version__}
    ev = stream()
    np.testing.assert_array_equal(se.Engine(back).run(ev), se.Engine(model).run(ev))
    raw = path.read_bytes()
    for offset in (0, 8, 12, len(raw) - 3):
        bad = bytearray(raw)
        bad[offset] ^= 0x40
        p = tmp_path / f"bad{offset}.snnm"
        p.write_bytes(bytes(bad))
        with pytest.raises(se.ModelFormatError) as e:
            se.Model.load(p)
        assert e.value.offset is not None
    (tmp_path / "short.snnm").write_bytes(raw[:30])
    with pytest.raises(se.ModelFormatError, match="payload"):
        se.Model.load(tmp_path / "short.snnm")
    (tmp_path / "tiny.snnm").write_bytes(raw[:10])
    with pytest.raises(se.ModelFormatError, match="header"):
        se.Model.load(tmp_path / "tiny.snnm")


def test_shipped_correlator_matches_its_builder_and_manifest():
    # the hand-built model kept for comparison with the trained default (tests/test_motion_model.py)
    import hashlib
    import json
    root = os.path.join(os.path.dirname(__file__), "..")
    sys.path.insert(0, os.path.join(root, "examples"))
    from build_motion_model import build
    shipped = se.Model.load(os.path.join(root, "firmware_models", "motion_reichardt.snnm"))
    assert shipped.spec == build().spec
    manifest = json.load(open(os.path.join(root, "firmware_models", "manifest.json")))
    digest = hashlib.sha256(open(os.path.join(root, "firmware_models", "motion_reichardt.snnm"), "rb").read()).hexdigest()
    assert manifest["motion_reichardt.snnm"]["sha256"] == digest


# ---- engine controls ----------------------------------------------------------------------

def test_reset_state_and_stats():
    model = small_model()
    eng = se.Engine(model)
    ev = stream()
    first = eng.run(ev)
    st = eng.stats()
    assert st["input_events"] == len(ev) and st["synops"] >= 3 * len(ev)
    assert eng.state("hid")["v"].shape == (3,)
    eng.reset()
    assert eng.open_tick == 0 and eng.stats()["input_events"] == 0
    np.testing.assert_array_equal(eng.run(ev), first)


def test_idle_network_costs_no_ticks():
    eng = se.Engine(small_model())
    eng.run(stream())
    computed = eng.stats()["ticks_computed"]
    eng.advance(10**12)  # 10^9 ticks of silence
    st = eng.stats()
    assert st["ticks"] == 10**9 + 1
    assert st["ticks_computed"] - computed < 200  # only while states still move
    assert eng.is_idle()


def test_dense_steady_state_matches_reference():
    # every tick has input for every hidden neuron: the whole-layer fast path, compared with the reference
    rng = np.random.default_rng(5)
    layers = [se.LIF("h", (40,), decay_mem=58982, threshold=90), se.LIF("o", (5,), decay_mem=50000, threshold=70)]
    conns = [se.Dense("a", "input", "h", rng.integers(-40, 100, (40, 30))), se.Dense("b", "h", "o", rng.integers(-50, 90, (5, 40)))]
    model = se.Model((30,), 100, layers, conns)
    t = np.sort(np.concatenate([np.arange(0, 30_000, 100), rng.integers(0, 30_000, 4000)]))
    ev = se.make_events(t, rng.integers(0, 30, t.size))
    eng = se.Engine(model)
    out = eng.run(ev)
    spikes, states, counts = simulate(model.spec, [(int(a), int(b), 0, 1) for a, b in zip(ev["t"], ev["x"])], int(t[-1]) // 100)
    assert [(int(a), int(b)) for a, b in zip(out["t"], out["neuron"])] == spikes
    np.testing.assert_array_equal(eng.state("h")["v"], states["h"]["v"])
    assert counts["h"] > 100


def test_ctrl_c_interrupts_a_long_call(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, snnedge as se, sys
        m = se.Model((1,), 1, [se.LIF("o", (1000,), decay_mem=60000, threshold=100, bias=1)],
                     [se.Dense("d", "input", "o", np.ones((1000, 1), np.int8))])
        e = se.Engine(m)
        print("ready", flush=True)
        try:
            e.advance(10**12)
        except KeyboardInterrupt:
            print("interrupted", e.open_tick > 0, flush=True)
    """)
    # cwd outside the source tree, so that the installed package is imported
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    assert out.strip() == "interrupted True"


# ---- exhaustive sweeps over the int16 domain ----------------------------------------------

ALL_INT16 = np.arange(-(2**15), 2**15, dtype=np.int64)


@pytest.mark.parametrize("alpha", [0, 1, 4096, 32768, 58982, 65535, DECAY_ONE])
def test_leak_step_over_all_int16(alpha):
    # LI neurons with bias b: after tick 0, v = b; after tick 1, v = D(b) + b. One neuron per value.
    n = ALL_INT16.size
    model = se.Model((1,), 1, [se.LI("li", (n,), decay_mem=alpha, state_bits=32, bias=ALL_INT16)],
                     [se.Dense("none", "input", "li", np.zeros((n, 1), np.int8))])
    eng = se.Engine(model)
    eng.advance(1)
    v = eng.state("li")["v"].astype(np.int64)
    np.testing.assert_array_equal(v - ALL_INT16, decay(ALL_INT16, alpha))


@pytest.mark.parametrize("threshold,reset,bits", [(1, "subtract", 16), (1000, "zero", 16), (32767, "subtract", 16),
                                                  (77, "zero", 24)])
def test_threshold_step_over_all_int16(threshold, reset, bits):
    # IF neurons driven by bias b for one tick: spike iff b >= threshold; then the reset.
    n = ALL_INT16.size
    model = se.Model((1,), 1, [se.IF("f", (n,), threshold=threshold, reset=reset, bias=ALL_INT16, state_bits=bits)],
                     [se.Dense("none", "input", "f", np.zeros((n, 1), np.int8))])
    eng = se.Engine(model)
    eng.advance(0)
    assert eng.stats()["layer_spikes"]["f"] == int((ALL_INT16 >= threshold).sum())
    v = eng.state("f")["v"].astype(np.int64)
    expect = np.where(ALL_INT16 >= threshold, ALL_INT16 - threshold if reset == "subtract" else 0, ALL_INT16)
    np.testing.assert_array_equal(v, expect)


def test_cli_run_main_job(tmp_path):
    model = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "firmware_models", "motion_direction.snnm"))
    r = subprocess.run([sys.executable, "-m", "snnedge", "run", "--duration", "3", "--json", "--model", model],
                       capture_output=True, text=True, check=True, cwd=tmp_path)
    import json
    doc = json.loads(r.stdout)
    s = doc["summary"]
    assert s["stimuli"] >= 25 and s["accuracy"] >= 0.9
    assert s["events"] > 10_000 and s["synops"] > s["events"]


def test_many_events_in_one_tick_sum_exactly():
    # 700 events of weight -128 / +127 in one tick: the batched 16-bit row sums split at 255 rows
    w = np.array([[-128, 127], [127, -128], [-128, -128]], np.int64)
    model = se.Model((2,), 1000, [se.Integrator("acc", (3,), state_bits=32)], [se.Dense("d", "input", "acc", w)])
    t = np.sort(np.concatenate([np.full(700, 10), np.full(300, 1500), np.arange(2000, 2600)]))
    x = np.random.default_rng(3).integers(0, 2, t.size)
    ev = se.make_events(t, x)
    eng = se.Engine(model)
    eng.run(ev)
    _, states, _ = simulate(model.spec, [(int(a), int(b), 0, 1) for a, b in zip(t, x)], int(t[-1]) // 1000)
    np.testing.assert_array_equal(eng.state("acc")["v"], states["acc"]["v"])
    counts = np.bincount(x, minlength=2)
    np.testing.assert_array_equal(eng.state("acc")["v"], w @ counts)


def test_whole_layer_pass_saturates_exactly_with_huge_inputs():
    # 24-bit LIF layer in the whole-layer pass: inputs far beyond the state range (2^29 per
    # event, both signs) together with a bias; compared with the reference.
    rng = np.random.default_rng(9)
    w = rng.choice([-16384, -3, 0, 5, 16384], size=(20, 6))
    layers = [se.LIF("h", (20,), decay_mem=60000, threshold=2**22, bias=rng.integers(-2**22, 2**22, 20)),
              se.LIF("h16", (20,), decay_mem=50000, threshold=30000, state_bits=16, reset="zero")]
    conns = [se.Dense("a", "input", "h", w, shift=15, weight_bits=16),
             se.Dense("b", "input", "h16", w, shift=15, weight_bits=16)]
    model = se.Model((6,), 10, layers, conns, output="h")
    t = np.sort(rng.integers(0, 3000, 900))
    ev = se.make_events(t, rng.integers(0, 6, t.size))
    eng = se.Engine(model)
    out = eng.run(ev)
    spikes, states, counts = simulate(model.spec, [(int(a), int(b), 0, 1) for a, b in zip(ev["t"], ev["x"])], int(t[-1]) // 10)
    assert [(int(a), int(b)) for a, b in zip(out["t"], out["neuron"])] == spikes
    for name in ("h", "h16"):
        np.testing.assert_array_equal(eng.state(name)["v"], states[name]["v"])
    assert counts["h"] > 50


def test_theta_init_is_a_per_neuron_threshold(tmp_path):
    """``theta_init`` (what per-channel quantization uses): neuron n fires at threshold +
    theta_init[n], keeps it after reset and across save/load, and is checked like any parameter."""
    w = np.full((3, 1), 4, np.int8)  # every input event adds 4 to each of the 3 neurons
    layers = [se.IF("o", (3,), threshold=8, theta_init=[0, 4, 12])]
    model = se.Model((1,), 1000, layers, [se.Dense("fc", "input", "o", w)])
    ev = se.make_events(np.arange(0, 20_000, 1000), np.zeros(20, int))
    eng = se.Engine(model)
    spikes = eng.run(ev)
    # subtract reset by the neuron's own threshold 8 + theta: period 2, 3 and 5 events
    for n, period in enumerate([2, 3, 5]):
        got = spikes["t"][spikes["neuron"] == n] // 1000
        assert list(got) == list(range(period - 1, 20, period)), (n, got)
    ref, _, _ = simulate(model.spec, ev, 19)
    assert sorted((int(t), int(n)) for t, n in zip(spikes["t"], spikes["neuron"])) == ref
    assert list(eng.state("o")["theta"]) == [0, 4, 12]
    eng.reset()
    assert list(eng.state("o")["theta"]) == [0, 4, 12]
    model.save(tmp_path / "m.snnm")
    again = se.Engine(se.load_model(tmp_path / "m.snnm")).run(ev)
    assert np.array_equal(again, spikes)
    with pytest.raises(se.ParameterOverflowError, match="theta_init"):
        se.Model((1,), 1000, [se.IF("o", (3,), threshold=8, theta_init=[0, -1, 2])], [se.Dense("fc", "input", "o", w)])
    with pytest.raises(se.ShapeError, match="theta_init"):
        se.Model((1,), 1000, [se.IF("o", (3,), threshold=8, theta_init=[1, 2])], [se.Dense("fc", "input", "o", w)])
    with pytest.raises(se.ModelError, match="does not spike"):
        se.Model((1,), 1000, [se.LI("o", (3,), decay_mem=3, theta_init=[1, 2, 3])], [se.Dense("fc", "input", "o", w)])


def test_cli_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """`snnedge info MODEL | head`: when the reader has gone, the command stops without a
    traceback or an error message (exit status 141, as for SIGPIPE)."""
    model = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "firmware_models", "motion_direction.snnm"))
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written
    try:
        p = subprocess.run([sys.executable, "-m", "snnedge", "info", model], stdout=w, stderr=subprocess.PIPE,
                           timeout=60, cwd=tmp_path)  # outside the source tree: the installed package
    finally:
        os.close(w)
    assert p.returncode == 141
    assert p.stderr == b""
