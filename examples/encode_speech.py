#!/usr/bin/env python3
"""A spoken sentence as cochlea-like events, replayed through a small model.

The WAV file is made here with espeak-ng (Debian package ``espeak-ng``) or, without it, a
sox chirp (``sox``); any 16-bit PCM WAV can be given instead. ``snnedge.encode`` reads it
with the standard ``wave`` module and runs the audio front end: 32 band-pass channels,
log-spaced from 100 Hz to 8 kHz, half-wave rectification and a level-crossing encoder on
each band's log envelope (ON when the band gets louder by 2.2 dB, OFF when quieter). The
events stream through the encoder 10 ms at a time (``iter_wav_events``), as a live source
would, and feed a model of four LIF neurons, one per quarter of the spectrum (low to high),
that fire on onsets in their part of the spectrum.

    python examples/encode_speech.py [FILE.wav] [--text "..."]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile

import numpy as np

import snnedge as se

BANDS = 32
GROUPS = 4
TICK_US = 1000


def make_wav(path: str, text: str) -> str:
    """Speaks ``text`` into ``path`` with espeak-ng, or writes a sox chirp; returns the tool used."""
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-s", "150", "-w", path, text], check=True, capture_output=True)
        return "espeak-ng"
    if shutil.which("sox"):
        subprocess.run(["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", path, "synth", "1.5", "sine", "200-6000",
                        "vol", "0.5"], check=True, capture_output=True)
        return "sox"
    raise SystemExit("neither espeak-ng nor sox is installed (apt-get install espeak-ng sox), and no WAV was given")


def build_model() -> se.Model:
    """Band b excites onset neuron b // 8 (ON events only: input shape (2, 1, 32), p = channel)."""
    w = np.zeros((GROUPS, 2 * BANDS), np.int8)
    for g in range(GROUPS):
        w[g, BANDS + g * (BANDS // GROUPS): BANDS + (g + 1) * (BANDS // GROUPS)] = 10  # p = 1 (ON) channel
    return se.Model((2, 1, BANDS), TICK_US, [se.LIF("onset", (GROUPS,), decay_mem=52429, threshold=40)],
                    [se.Dense("bands", "input", "onset", w)], name="speech-onsets")


def run(wav: str) -> dict:
    engine = se.Engine(build_model())
    counts = np.zeros(BANDS, np.int64)
    spikes = []
    n = 0
    for chunk in se.encode.iter_wav_events(wav, chunk_ms=10.0, n_channels=BANDS):
        counts += np.bincount(chunk["x"], minlength=BANDS)
        n += len(chunk)
        spikes.append(engine.feed(chunk))
    samples, rate_hz = se.encode.read_wav(wav)
    spikes.append(engine.advance(int(len(samples) * 1e6 / rate_hz)))
    out = np.concatenate(spikes) if spikes else np.zeros(0, se.SPIKE_DTYPE)
    return {"seconds": len(samples) / rate_hz, "rate_hz": rate_hz, "events": n, "band_counts": counts,
            "onset_spikes": np.bincount(out["neuron"], minlength=GROUPS)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wav", nargs="?", help="a 16-bit PCM WAV file (default: speak --text)")
    ap.add_argument("--text", default="Spiking networks listen at the edge.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = args.wav
        if wav is None:
            wav = os.path.join(tmp, "speech.wav")
            print(f"made {wav} with {make_wav(wav, args.text)}")
        r = run(wav)
    print(f"{r['seconds']:.2f} s at {r['rate_hz']} Hz -> {r['events']} events "
          f"({r['events'] / r['seconds']:.0f}/s) on {BANDS} bands")
    print("events per band (low to high):", " ".join(str(int(c)) for c in r["band_counts"]))
    print("onset neuron spikes (low, mid-low, mid-high, high):", r["onset_spikes"].tolist())


if __name__ == "__main__":
    main()
