#!/usr/bin/env python3
"""Draws the figures of docs/encoders.md: for each encoder, a signal and the raster it produces.

    pip install "snnedge[plot]"            # matplotlib
    python docs/make_encoder_figures.py    # writes docs/img/encoders/*.png

Every input is synthetic or ships with scikit-learn (the digit), and every encoder is seeded,
so the figures come out the same each time.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

import snnedge as se

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    raise SystemExit('matplotlib is needed: pip install "snnedge[plot]"') from None

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "img", "encoders")
ON, OFF = "#1f77b4", "#d62728"


def raster(ax, ev, ylabel="channel (x)", t_scale=1e3, y=None):
    """Events as dots: ON blue, OFF red; time in ms."""
    yy = ev["x"] if y is None else y
    for p, colour in ((1, ON), (0, OFF)):
        m = ev["p"] == p
        if m.any():
            ax.scatter(ev["t"][m] / t_scale, yy[m], s=4, c=colour, marker="|" if len(ev) > 3000 else "o",
                       linewidths=0.8, label="ON" if p else "OFF")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel)


def save(fig, name):
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, name), dpi=80)
    plt.close(fig)
    print("wrote", name)


def fig_rate():
    v = np.linspace(0.0, 1.0, 16) ** 2
    ev = se.encode.rate(v, 200, dt_us=1000, max_rate_hz=200.0, seed=1)
    reg = se.encode.rate(v, 200, dt_us=1000, max_rate_hz=200.0, mode="regular")
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 3, 3]})
    ax[0].barh(np.arange(16), v, color="grey")
    ax[0].set_xlabel("intensity")
    ax[0].set_ylabel("channel (x)")
    raster(ax[1], ev)
    ax[1].set_title("rate, Poisson (200 Hz at 1)")
    raster(ax[2], reg)
    ax[2].set_title("rate, regular")
    save(fig, "rate.png")


def digit():
    try:
        from sklearn.datasets import load_digits

        return load_digits().images[0] / 16.0
    except ImportError:
        yy, xx = np.mgrid[0:8, 0:8]
        return np.clip(1.0 - np.abs(np.hypot(yy - 3.5, xx - 3.5) - 2.5), 0, 1)


def fig_latency():
    img = digit()
    lin = se.encode.latency(img, 32, mode="linear")
    log = se.encode.latency(img, 32, mode="log", threshold=0.05)
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1.2, 3, 3]})
    ax[0].imshow(img, cmap="gray")
    ax[0].set_title("8x8 digit")
    ax[0].axis("off")
    for a, ev, title in ((ax[1], lin, "latency, linear"), (ax[2], log, "latency, log (threshold 0.05)")):
        raster(a, ev, ylabel="pixel (y * 8 + x)", y=ev["y"].astype(int) * 8 + ev["x"])
        a.set_title(title)
        a.set_xlim(-1, 32)
    save(fig, "latency.png")


def fig_population():
    t = np.arange(60)
    v = 0.5 + 0.45 * np.sin(t / 9.0)
    pe = se.encode.PopulationEncoder(1, 12, lo=0.0, hi=1.0, num_steps=10, dt_us=1000)
    ev = pe.push(v)
    fig, ax = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True)
    ax[0].plot((t * 10 + 5), v, color="grey")
    ax[0].set_ylabel("value")
    raster(ax[1], ev, ylabel="neuron (centre)")
    ax[1].set_yticks(range(0, 12, 2), [f"{c:.2f}" for c in pe.centres[::2]])
    ax[0].set_title("population: 12 Gaussian fields over [0, 1], latency in 10-step windows")
    save(fig, "population.png")


def fig_delta():
    fs = 1000
    t = np.arange(2000) / fs
    x = np.stack([np.sin(2 * np.pi * 1.0 * t), 0.6 * np.sin(2 * np.pi * 3.1 * t) + 0.2 * (t > 1.2)], axis=1)
    lv = se.encode.delta(x, threshold=0.1, sample_rate_hz=fs)
    sd = se.encode.delta(x * 0.02, threshold=0.1, sample_rate_hz=fs, mode="sigma_delta")
    fig, ax = plt.subplots(3, 1, figsize=(10, 5.5), sharex=True)
    ax[0].plot(t * 1e3, x[:, 0], label="channel 0")
    ax[0].plot(t * 1e3, x[:, 1], label="channel 1")
    rec = x[0, 0] + 0.1 * np.cumsum(np.where(lv["p"][lv["x"] == 0] == 1, 1, -1))
    ax[0].step(lv["t"][lv["x"] == 0] / 1e3, rec, where="post", color="k", lw=0.8, label="level reconstruction, ch 0")
    ax[0].legend(fontsize=7, loc="upper right")
    ax[0].set_ylabel("signal")
    raster(ax[1], lv)
    ax[1].set_title("level crossing, threshold 0.1")
    raster(ax[2], sd)
    ax[2].set_title("sigma-delta (input x 0.02, threshold 0.1): rate follows |x|")
    for a in ax[1:]:
        a.set_yticks([0, 1])
    save(fig, "delta.png")


def speech():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.wav")
        if shutil.which("espeak-ng"):
            subprocess.run(["espeak-ng", "-s", "150", "-w", path, "spiking networks listen"], check=True,
                           capture_output=True)
            return se.encode.read_wav(path)
    fs = 16000
    t = np.arange(int(1.5 * fs)) / fs
    return 0.3 * np.sin(2 * np.pi * (200 * t + 1500 * t**2)), fs


def fig_audio():
    x, fs = speech()
    d = se.encode.audio(x, fs, n_channels=32)
    lif = se.encode.audio(x, fs, n_channels=32, encoder="lif")
    fig, ax = plt.subplots(3, 1, figsize=(10, 6.5), sharex=True)
    ax[0].plot(np.arange(len(x)) / fs * 1e3, x, color="grey", lw=0.4)
    ax[0].set_ylabel("sound")
    ax[0].set_title("audio front end, 32 bands 100 Hz - 8 kHz (espeak-ng: 'spiking networks listen')")
    raster(ax[1], d, ylabel="band (low to high)")
    ax[1].set_title("delta on the log envelope (2.2 dB steps)")
    raster(ax[2], lif, ylabel="band (low to high)")
    ax[2].set_title("LIF per band (threshold 0.05 amplitude x ms, tau 10 ms)")
    save(fig, "audio.png")


def fig_frames():
    h, w, n = 24, 48, 16
    xx = np.arange(w)[None, :]
    frames = np.stack([np.where(xx < 8 + 2 * k, 220, 30) * np.ones((h, 1)) for k in range(n)]).astype(np.uint8)
    frames[8:] = np.stack([np.where(xx < 8 + 2 * 7 - 2 * (k - 7), 220, 30) * np.ones((h, 1))
                           for k in range(8, n)]).astype(np.uint8)
    ev = se.encode.frames_to_events(frames, fps=100, threshold=0.3, shot_noise_rate_hz=2.0, seed=1)
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1.5, 1.5, 3]})
    ax[0].imshow(frames[4], cmap="gray", vmin=0, vmax=255)
    ax[0].set_title("frame 4: edge moving right")
    ax[1].imshow(frames[12], cmap="gray", vmin=0, vmax=255)
    ax[1].set_title("frame 12: moving back")
    for a in ax[:2]:
        a.set_xticks([])
        a.set_yticks([])
    raster(ax[2], ev, ylabel="column (x), all rows")
    ax[2].set_title("events (ON blue, OFF red; a few noise events)")
    save(fig, "frames.png")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for f in (fig_rate, fig_latency, fig_population, fig_delta, fig_audio, fig_frames):
        f()


if __name__ == "__main__":
    main()
