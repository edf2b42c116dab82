"""snnedge.plot: event frames against numpy histograms, the raster's pixels against the spikes,
GIF frame counts, layer rates against the engine's counters, and the missing-matplotlib error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import snnedge as se
from snnedge import plot
from snnedge.synthetic import moving_bars

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
BUNDLED = ROOT / "firmware_models" / "motion_direction.snnm"


def random_events(n: int, size=(37, 23), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, se.EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 100_000, n))
    ev["x"] = rng.integers(0, size[0], n)
    ev["y"] = rng.integers(0, size[1], n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


# ---- numpy only ---------------------------------------------------------------------------------

@pytest.mark.parametrize("window", [(None, None), (20_000, 61_000), (0, 1), (99_999, None)])
def test_event_frame_equals_numpy_histogram(window):
    w, h = 37, 23
    ev = random_events(5000, (w, h))
    t0, t1 = window
    frame = plot.event_frame(ev, (w, h), t0, t1)
    assert frame.shape == (2, h, w)
    sel = ev
    if t0 is not None:
        sel = sel[sel["t"] >= t0]
    if t1 is not None:
        sel = sel[sel["t"] < t1]
    for p in (0, 1):
        s = sel[sel["p"] == p]
        hist, _, _ = np.histogram2d(s["y"], s["x"], bins=[np.arange(h + 1), np.arange(w + 1)])
        np.testing.assert_array_equal(frame[p], hist.astype(np.int64))
    assert frame.sum() == len(sel)


def test_event_frame_outside_the_sensor_is_named():
    ev = random_events(100, (40, 23))
    with pytest.raises(se.ShapeError, match="outside the sensor 37x23"):
        plot.event_frame(ev, (37, 23))


def test_layer_rates_from_the_engine_counters():
    model = se.Model.load(BUNDLED)
    ev = moving_bars(1.0, seed=3)[0]
    eng = se.Engine(model)
    eng.run(ev)
    stats = eng.stats()
    r = plot.layer_rates(eng)
    seconds = stats["ticks"] * model.tick_us / 1e6
    sizes = {l["name"]: int(np.prod(l["shape"])) for l in model.spec["layers"]}
    assert r == {name: stats["layer_spikes"][name] / n / seconds for name, n in sizes.items()}
    assert r[model.spec["layers"][-1]["name"]] > 0
    with pytest.raises(se.ShapeError):
        plot.layer_rates(stats["layer_spikes"])  # counts alone: no model, no duration


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(se.MissingDependencyError, match=r"pip install 'snnedge\[plot\]'") as e:
        plot.raster(np.zeros(3, se.SPIKE_DTYPE), path="x.png")
    assert isinstance(e.value, ImportError) and e.value.extra == "plot"
    assert plot.event_frame(random_events(10), (37, 23)).sum() == 10  # numpy-only parts still work


# ---- drawings ---------------------------------------------------------------------------------

mpl = pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (pillow ships with matplotlib)


def test_raster_draws_one_marker_per_spike_in_the_right_rows_and_columns(tmp_path):
    rng = np.random.default_rng(5)
    n = 300
    sp = np.zeros(n, se.SPIKE_DTYPE)
    sp["t"] = np.sort(rng.integers(100_000, 400_000, n)) // 1000 * 1000
    sp["neuron"] = rng.choice([0, 2], n)  # rows 1 and 3 stay silent
    path = tmp_path / "r.png"
    coll = plot.raster(sp, ["a", "b", "c", "d"], path=path, dpi=100)
    offsets = np.asarray(coll.get_offsets())
    assert len(offsets) == n
    np.testing.assert_array_equal(offsets[:, 1], sp["neuron"])
    np.testing.assert_allclose(offsets[:, 0], sp["t"] / 1000.0)
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    marker = np.all(np.abs(img - np.array([0x1F, 0x77, 0xB4])) < 60, axis=2)
    # where each row and the time span land in the PNG (pixel origin at the top-left)
    ax = coll.axes
    height = img.shape[0]
    to_px = ax.transData.transform
    for row in range(4):
        y = height - to_px([[0, row]])[0][1]
        band = marker[max(0, int(y) - 4): int(y) + 5]
        assert (band.sum() > 0) == (row in (0, 2)), row
    x_lo = to_px([[sp["t"].min() / 1000.0, 0]])[0][0]
    x_hi = to_px([[sp["t"].max() / 1000.0, 0]])[0][0]
    cols = np.flatnonzero(marker.any(axis=0))
    assert x_lo - 3 <= cols.min() and cols.max() <= x_hi + 3


def test_plot_frame_and_view_image(tmp_path):
    ev = moving_bars(0.5, seed=2)[0]
    img = plot.plot_frame(ev, (32, 32), path=tmp_path / "f.png")
    arr = img.get_array()
    frame = plot.event_frame(ev, (32, 32))
    # red where only ON events, blue where only OFF, white where none
    only_on = (frame[1] > 0) & (frame[0] == 0)
    only_off = (frame[0] > 0) & (frame[1] == 0)
    none = frame.sum(axis=0) == 0
    assert np.all(arr[only_on][:, 0] == 1.0) and np.all(arr[only_on][:, 2] < 1.0)
    assert np.all(arr[only_off][:, 2] == 1.0) and np.all(arr[only_off][:, 0] < 1.0)
    assert np.all(arr[none] == 1.0)
    assert Image.open(tmp_path / "f.png").size[0] > 100


def test_animate_writes_the_expected_number_of_frames(tmp_path):
    ev = moving_bars(0.25, seed=1)[0]
    span = int(ev["t"][-1]) + 1 - int(ev["t"][0])
    n = plot.animate(ev, (32, 32), tmp_path / "a.gif", frame_us=20_000, fps=10)
    assert n == -(-span // 20_000)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == n
    n2 = plot.animate(ev, (32, 32), tmp_path / "b.gif", frame_us=50_000, t0=0, t1=200_000)
    assert n2 == 4
    with Image.open(tmp_path / "b.gif") as gif:
        assert gif.n_frames == 4


def test_rates_plot_has_one_bar_per_layer(tmp_path):
    model = se.Model.load(BUNDLED)
    rec = tmp_path / "a.npz"
    se.write_events(rec, moving_bars(0.5, seed=4)[0], (32, 32))
    res = se.replay(rec, model, progress=False).files[0]
    bars = plot.rates(res, model=model, path=tmp_path / "rates.png")
    expect = plot.layer_rates(res.stats["layer_spikes"], model, res.duration_us)
    assert [b.get_width() for b in bars] == list(expect.values())
    assert (tmp_path / "rates.png").exists()


def test_cli_view_png_and_gif(tmp_path):
    rec = tmp_path / "a.raw"
    ev = moving_bars(0.3, seed=6)[0]
    se.write_events(rec, ev, (32, 32))
    p = subprocess.run([sys.executable, "-m", "snnedge", "view", str(rec), "--out", "v.gif", "--frame-us", "50000",
                        "--t1", "200000"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    with Image.open(tmp_path / "v.gif") as gif:
        assert gif.n_frames == 4
    p = subprocess.run([sys.executable, "-m", "snnedge", "view", str(rec), "--out", "v.png"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"{len(ev)} events" in p.stdout and Image.open(tmp_path / "v.png").size[0] > 100


def test_view_a_real_recording(tmp_path):
    path = RECORDINGS / "sample.aedat4"
    if not path.exists():
        pytest.skip("shared recordings not available")
    p = subprocess.run([sys.executable, "-m", "snnedge", "view", str(path), "--out", "v.png", "--t1", "100000"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    ev = se.read_events(path)
    n = int(((ev["t"] - ev["t"][0]) < 100_000).sum())
    assert f"{n} events, sensor 320x240" in p.stdout
