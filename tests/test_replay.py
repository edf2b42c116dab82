"""Offline replay (snnedge.replay, `snnedge replay`): against Engine.run on the whole file,
numpy recounts of the windows, corrupt files in a directory, the results files, pacing."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import snnedge as se
from snnedge.synthetic import moving_bars

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
BUNDLED = ROOT / "firmware_models" / "motion_direction.snnm"
CNN = ROOT / "firmware_models" / "nmnist_cnn_sinabs.snnm"


@pytest.fixture(scope="module")
def model() -> se.Model:
    return se.Model.load(BUNDLED)


def bars(seconds: float, seed: int) -> np.ndarray:
    return moving_bars(seconds, size=(32, 32), seed=seed)[0]


def write_chunked(path: Path, events: np.ndarray, size=(32, 32), block: int = 2000) -> None:
    """Written block by block (AEDAT 4: one packet per block, so a truncation keeps the packets before)."""
    from snnedge.formats import EventFileWriter

    with EventFileWriter(path, size) as w:
        for i in range(0, len(events), block):
            w.write(events[i:i + block])


def recount_windows(spikes: np.ndarray, starts: np.ndarray, window_us: int, n_out: int):
    """The per-window spike counts and decisions, window by window in plain numpy."""
    counts, decisions = [], []
    for s in starts.tolist():
        sel = spikes[(spikes["t"] >= s) & (spikes["t"] < s + window_us)]
        c = np.bincount(sel["neuron"].astype(np.int64), minlength=n_out)
        counts.append(c)
        decisions.append(int(np.argmax(c)) if c.sum() else -1)
    return np.array(counts, np.int64).reshape(-1, n_out), np.array(decisions, np.int64)


# ---- equal to the engine on the whole file ----------------------------------------------------

@pytest.mark.parametrize("ext", [".raw", ".aedat4", ".npz", ".es", ".dat"])
@pytest.mark.parametrize("chunk", [997, 1 << 16])
def test_replay_equals_engine_run_whatever_the_chunking(tmp_path, model, ext, chunk):
    ev = bars(1.5, seed=4)
    path = tmp_path / f"rec{ext}"
    se.write_events(path, ev, (32, 32))
    whole = se.read_events(path)
    expect = se.Engine(model).run(whole)
    r = se.replay(path, model, progress=False, chunk_events=chunk)
    f = r.files[0]
    assert f.ok and f.events == len(whole) == len(ev)
    assert f.spikes.dtype == se.SPIKE_DTYPE
    np.testing.assert_array_equal(f.spikes, expect)
    assert len(expect) > 100  # the test means something: the bars make the model spike
    # the engine's counters of the replay equal those of the one-shot run
    eng = se.Engine(model)
    eng.run(whole)
    assert f.stats == eng.stats()


def test_paced_replay_cuts_by_time_and_still_equals_engine_run(tmp_path, model):
    ev = bars(0.4, seed=5)
    path = tmp_path / "rec.raw"
    se.write_events(path, ev, (32, 32))
    r = se.replay(path, model, speed=20.0, progress=False)
    np.testing.assert_array_equal(r.files[0].spikes, se.Engine(model).run(ev))


def test_windows_and_decisions_equal_a_numpy_recount(tmp_path, model):
    ev = bars(2.0, seed=6)
    path = tmp_path / "rec.aedat4"
    se.write_events(path, ev, (32, 32))
    for window_us in (50_000, 7_000):
        f = se.replay(path, model, window_us=window_us, progress=False).files[0]
        n_out = model.output_size
        W = window_us
        first, last = int(ev["t"][0]) // W, int(ev["t"][-1]) // W
        np.testing.assert_array_equal(f.window_start_us, np.arange(first, last + 1) * W)
        counts, decisions = recount_windows(f.spikes, f.window_start_us, W, n_out)
        np.testing.assert_array_equal(f.window_counts, counts)
        np.testing.assert_array_equal(f.window_decisions, decisions)
        assert counts.sum() == len(f.spikes)
        # events per window: a histogram of the events read whole
        hist, _ = np.histogram(ev["t"].astype(np.int64), bins=np.append(f.window_start_us, f.window_start_us[-1] + W))
        np.testing.assert_array_equal(f.window_events, hist)
        np.testing.assert_array_equal(f.counts, np.bincount(f.spikes["neuron"].astype(np.int64), minlength=n_out))
        labels = model.metadata["outputs"].split(",")
        assert f.window_labels == ["none" if d < 0 else labels[d] for d in decisions]
        assert f.label == labels[int(np.argmax(f.counts))]
        assert -1 in decisions or W == 50_000  # short windows include silent ones


def test_engine_is_reset_for_each_file(tmp_path, model):
    ev = bars(1.0, seed=7)
    for name in ("a.npz", "b.npz"):
        se.write_events(tmp_path / name, ev, (32, 32))
    r = se.replay(tmp_path, model, progress=False)
    assert [os.path.basename(f.path) for f in r.files] == ["a.npz", "b.npz"]
    np.testing.assert_array_equal(r.files[0].spikes, r.files[1].spikes)
    assert r.files[0].stats == r.files[1].stats
    assert r.events == 2 * len(ev) and r.output_spikes == 2 * len(r.files[0].spikes)
    assert r.synops == 2 * r.files[0].stats["synops"]


# ---- failures -------------------------------------------------------------------------------

def make_dir_with_a_truncated_file(tmp_path: Path):
    d = tmp_path / "recs"
    d.mkdir()
    good_a, bad, good_c = bars(1.0, seed=11), bars(1.0, seed=12), bars(1.0, seed=13)
    se.write_events(d / "a.raw", good_a, (32, 32))
    write_chunked(d / "b.aedat4", bad)
    se.write_events(d / "c.npz", good_c, (32, 32))
    (d / "notes.txt.bak").write_text("not an event file, ignored")
    data = (d / "b.aedat4").read_bytes()
    (d / "b.aedat4").write_bytes(data[: len(data) * 2 // 3])
    return d, good_a, bad, good_c


def test_directory_with_a_truncated_file_keeps_partial_results(tmp_path, model):
    d, good_a, bad, good_c = make_dir_with_a_truncated_file(tmp_path)
    with pytest.raises(se.TruncatedFileError) as e:
        se.read_events(d / "b.aedat4")
    decoded = e.value.events  # what the reader decoded before the fault
    assert 0 < len(decoded) < len(bad)
    r = se.replay(d, model, progress=False)
    assert [os.path.basename(f.path) for f in r.files] == ["a.raw", "b.aedat4", "c.npz"]
    a, b, c = r.files
    assert a.ok and c.ok and not b.ok and not r.ok and r.failed == [b]
    assert isinstance(b.error, se.TruncatedFileError)
    np.testing.assert_array_equal(a.spikes, se.Engine(model).run(good_a))
    np.testing.assert_array_equal(c.spikes, se.Engine(model).run(good_c))
    assert b.events == len(decoded)
    np.testing.assert_array_equal(b.spikes, se.Engine(model).run(decoded))
    assert b.summary()["error"].startswith("TruncatedFileError")
    assert r.events == len(good_a) + len(decoded) + len(good_c)


def test_sensor_larger_than_the_model_input_fails_that_file(model):
    path = RECORDINGS / "evt2_sample.raw"
    if not path.exists():
        pytest.skip("shared recordings not available")
    assert tuple(se.probe(path)["sensor_size"]) == (640, 480)
    r = se.replay(path, model, progress=False)
    f = r.files[0]
    assert not r.ok and isinstance(f.error, se.ShapeError) and f.events == 0
    assert "640x480" in str(f.error) and "[2, 32, 32]" in str(f.error)


def test_bad_parameters_raise_named_errors(tmp_path, model):
    se.write_events(tmp_path / "a.npz", bars(0.2, seed=1), (32, 32))
    with pytest.raises(se.InvalidParameterError, match="speed"):
        se.replay(tmp_path, model, speed=0)
    with pytest.raises(se.InvalidParameterError, match="speed"):
        se.replay(tmp_path, model, speed="fast")
    with pytest.raises(se.InvalidParameterError, match="multiple of the model's tick"):
        se.replay(tmp_path, model, window_us=1500)
    with pytest.raises(se.InvalidParameterError, match=".jsonl or .npz"):
        se.replay(tmp_path, model, out=tmp_path / "r.txt")
    with pytest.raises(FileNotFoundError):
        se.replay(tmp_path / "missing.raw", model)


# ---- results files ----------------------------------------------------------------------------

def test_jsonl_and_npz_results(tmp_path, model):
    d, *_ = make_dir_with_a_truncated_file(tmp_path)
    r = se.replay(d, model, out=tmp_path / "r.jsonl", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [x["type"] for x in rows].count("file") == 3 and rows[-1]["type"] == "total"
    for f in r.files:
        wins = [x for x in rows if x["type"] == "window" and x["path"] == f.path]
        assert [w["t_start_us"] for w in wins] == f.window_start_us.tolist()
        assert [w["label"] for w in wins] == f.window_labels
        assert sum(sum(w["counts"]) for w in wins) == len(f.spikes)
        summ = next(x for x in rows if x["type"] == "file" and x["path"] == f.path)
        assert summ["output_spikes"] == len(f.spikes) and summ["ok"] == f.ok and summ["events"] == f.events
    assert rows[-1]["failed"] == 1 and rows[-1]["events"] == r.events
    assert rows[-1]["output_spikes"] == sum(len(f.spikes) for f in r.files)

    se.replay(d, model, out=tmp_path / "r.npz", progress=False)
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        assert z["files"].tolist() == [f.path for f in r.files]
        assert z["labels"].tolist() == r.labels
        for i, f in enumerate(r.files):
            np.testing.assert_array_equal(z[f"spikes_{i}"], f.spikes)
            assert z[f"spikes_{i}"].dtype == se.SPIKE_DTYPE
            np.testing.assert_array_equal(z[f"window_decisions_{i}"], f.window_decisions)
            np.testing.assert_array_equal(z[f"window_counts_{i}"], f.window_counts)
            assert (str(z[f"error_{i}"]) == "") == f.ok
        assert json.loads(str(z["summary"]))["events"] == r.events


# ---- pacing ---------------------------------------------------------------------------------

def test_speed_1_takes_at_least_the_recording_duration(tmp_path, model):
    ev = bars(0.5, seed=8)
    se.write_events(tmp_path / "a.raw", ev, (32, 32))
    duration_s = (int(ev["t"][-1]) - int(ev["t"][0])) / 1e6
    t0 = time.perf_counter()
    r = se.replay(tmp_path / "a.raw", model, speed=1.0, progress=False)
    assert time.perf_counter() - t0 >= duration_s  # a lower bound only (the machine may be slow)
    assert r.files[0].wall_s >= duration_s
    t0 = time.perf_counter()
    se.replay(tmp_path / "a.raw", model, speed=4.0, progress=False)
    assert time.perf_counter() - t0 >= duration_s / 4


# ---- the command line -------------------------------------------------------------------------

def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnedge", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_replay_directory_results_and_raster(tmp_path, model):
    pytest.importorskip("matplotlib")
    d = tmp_path / "recs"
    d.mkdir()
    for i, ext in enumerate((".raw", ".aedat4", ".es")):
        se.write_events(d / f"rec{i}{ext}", bars(1.0, seed=20 + i), (32, 32))
    out, png = tmp_path / "results.jsonl", tmp_path / "raster.png"
    p = run_cli("replay", str(d), "--out", str(out), "--raster", str(png), cwd=tmp_path)  # default model: bundled
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr  # no progress line when stderr is not a terminal
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    total = rows[-1]
    assert total["type"] == "total" and total["files"] == 3 and total["failed"] == 0
    # the same replay in-process gives the same counts
    r = se.replay(d, model, progress=False)
    assert total["output_spikes"] == r.output_spikes > 0
    assert total["spikes_per_output"] == dict(zip(r.labels, r.counts.tolist()))
    assert f"output spikes: {r.output_spikes} (" in p.stdout
    # the raster: the PNG exists and is an image with spike-coloured pixels; drawing the same
    # results draws one marker per spike the summary counts
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    blue = np.all(np.abs(img - np.array([0x1F, 0x77, 0xB4])) < 40, axis=2)
    assert blue.sum() > 100
    from snnedge.plot import raster_files

    colls = raster_files(r, path=tmp_path / "again.png")
    assert sum(len(c.get_offsets()) for c in colls) == total["output_spikes"]


def test_cli_replay_exit_code_1_when_a_file_fails(tmp_path):
    d, *_ = make_dir_with_a_truncated_file(tmp_path)
    p = run_cli("replay", str(d), "--model", str(BUNDLED), "--json", cwd=tmp_path)
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert [f["ok"] for f in doc["files"]] == [True, False, True]
    assert doc["files"][1]["events"] > 0 and "TruncatedFileError" in doc["files"][1]["error"]
    assert "b.aedat4" in p.stderr
    p = run_cli("replay", str(d / "a.raw"), "--model", str(BUNDLED), cwd=tmp_path)
    assert p.returncode == 0 and "decision:" in p.stdout


# ---- real recordings --------------------------------------------------------------------------

def test_real_nmnist_recording_through_the_bundled_cnn():
    path = RECORDINGS / "sample_nmnist.bin"
    if not path.exists():
        pytest.skip("shared recordings not available")
    model = se.Model.load(CNN)
    assert tuple(model.input_shape) == (2, 34, 34)
    r = se.replay(path, model, progress=False)
    f = r.files[0]
    assert f.ok and f.events == 4325  # the count in ../shared/data/README.md
    np.testing.assert_array_equal(f.spikes, se.Engine(model).run(se.read_events(path)))
    assert len(f.spikes) > 0
    counts, decisions = recount_windows(f.spikes, f.window_start_us, f.window_us, model.output_size)
    np.testing.assert_array_equal(f.window_decisions, decisions)


def test_real_evt2_recording_through_a_model_built_for_its_sensor():
    path = RECORDINGS / "evt2_sample.raw"
    if not path.exists():
        pytest.skip("shared recordings not available")
    w, h = se.probe(path)["sensor_size"]
    # 640x480 ON/OFF -> 16x16 sum pooling -> 2x30x40 IF -> 4 quadrant neurons
    pooled = se.IF("pooled", (2, h // 16, w // 16), threshold=40)
    quad = np.zeros((4, 2, h // 16, w // 16), np.int64)
    for q in range(4):
        quad[q, :, (q // 2) * (h // 32):(q // 2 + 1) * (h // 32), (q % 2) * (w // 32):(q % 2 + 1) * (w // 32)] = 1
    out = se.IF("quadrant", (4,), threshold=20)
    model = se.Model((2, h, w), 1000, [pooled, out],
                     [se.SumPool2d("pool", "input", "pooled", 16), se.Dense("fc", "pooled", "quadrant", quad.reshape(4, -1))])
    r = se.replay(path, model, window_us=10_000, progress=False)
    f = r.files[0]
    assert f.ok and f.events == 539481 and f.sensor_size == (640, 480)
    expect = se.Engine(model).run(se.read_events(path))
    np.testing.assert_array_equal(f.spikes, expect)
    assert len(expect) > 0
    assert f.duration_us == 1367888 - 1317888
    counts, decisions = recount_windows(f.spikes, f.window_start_us, 10_000, 4)
    np.testing.assert_array_equal(f.window_counts, counts)
    assert math.isclose(f.real_time_factor, f.duration_us / 1e6 / f.wall_s)


def test_progress_line_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    d = tmp_path / "recs"
    d.mkdir()
    se.write_events(d / "a.dat", bars(0.5, seed=30), (32, 32))  # fixed-size records: the count is known
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "snnedge", "replay", str(d), "--speed", "2"], stdout=subprocess.PIPE,
                         stderr=slave, text=True, cwd=tmp_path)
    os.close(slave)
    out, _ = p.communicate(timeout=120)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    text = data.decode()
    assert p.returncode == 0 and "total: 1 files" in out
    assert "\r[1/1] a.dat" in text and "M events/s" in text and "real-time x" in text and "%" in text
    p = subprocess.run([sys.executable, "-m", "snnedge", "replay", str(d), "--no-progress"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == ""


def test_event_outside_the_model_input_keeps_the_events_before_it(tmp_path, model):
    # a .npy file says no sensor size: the engine finds the bad event, in the middle of a chunk
    ev = bars(1.0, seed=31)
    bad = len(ev) * 3 // 5
    ev[bad]["x"] = 40
    np.save(tmp_path / "a.npy", ev)
    r = se.replay(tmp_path / "a.npy", model, progress=False, chunk_events=4096)
    f = r.files[0]
    assert isinstance(f.error, se.EventOutOfRangeError) and f.error.index == bad
    assert str(f.error).startswith(f"{tmp_path / 'a.npy'}: event {bad}: x = 40")
    assert f.events == bad
    np.testing.assert_array_equal(f.spikes, se.Engine(model).run(ev[:bad]))
