"""The spike encoders as live sources (issue "encoders", item 2): an analog channel over a
serial line (a real pseudo-terminal), a WAV file and an image folder, through the source API
and through the daemon built from its TOML configuration. Each is compared with the encoder
called directly on the same data (``snnedge.encode``), so the source adds nothing and loses
nothing; garbage on the line is counted and never becomes events."""
from __future__ import annotations

import json
import os
import threading
import time
import wave

import numpy as np
import pytest

import snnedge as se
from snnedge.daemon import Daemon, validate
from snnedge.devices import AnalogSerialSource, ReplaySource, image_source, open_source, wav_source
from snnedge.errors import ConfigError


def _events_of(source, until, timeout: float = 20.0, start=None) -> np.ndarray:
    """Collects a source's events on a thread until ``until(total)`` holds (or times out);
    ``start`` runs once the source is connected (pyserial drops input pending at open)."""
    got = []
    total = [0]

    def pump():
        for pkt in source.packets():
            got.append(pkt.events)
            total[0] += len(pkt.events)
            if source.closed:
                return

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    deadline = time.monotonic() + timeout
    if start is not None:
        while time.monotonic() < deadline and not source.connected:
            time.sleep(0.01)
        time.sleep(0.1)
        start()
    while time.monotonic() < deadline and not until(total[0]):
        time.sleep(0.02)
    source.close()
    th.join(5)
    assert not th.is_alive()
    out = np.zeros(sum(len(g) for g in got), se.EVENT_DTYPE)
    k = 0
    for g in got:
        out[k:k + len(g)] = g
        k += len(g)
    return out


def _signal(n: int = 600) -> np.ndarray:
    t = np.arange(n) / 1000.0
    return np.stack([np.sin(2 * np.pi * 3 * t), 0.5 * np.cos(2 * np.pi * 5 * t)], axis=1)


def _lines_with_garbage(x: np.ndarray) -> bytes:
    out = []
    for k, row in enumerate(x):
        out.append(f"{row[0]:.6f},{row[1]:.6f}\n".encode())
        if k % 97 == 5:
            out.append(b"hello\n")               # not numbers
        if k % 131 == 7:
            out.append(b"0.1,0.2,0.3\n")         # wrong number of channels
        if k % 151 == 9:
            out.append(b"nan 0.5\n")             # not finite
    return b"".join(out)


def test_analog_serial_source_over_a_pty_equals_the_delta_encoder():
    x = _signal()
    # what the source sees, as text: six decimals
    clean = np.array([[float(f"{a:.6f}"), float(f"{b:.6f}")] for a, b in x])
    expect = se.encode.delta(clean, threshold=0.05, sample_rate_hz=1000.0)
    assert len(expect) > 100
    master, slave = os.openpty()
    try:
        src = AnalogSerialSource(os.ttyname(slave), 2, threshold=0.05, sample_rate_hz=1000.0, read_timeout_s=0.05)
        data = _lines_with_garbage(x) + b"\x00\xff" * 3000  # a long binary tail without a newline
        writer = threading.Thread(target=lambda: [os.write(master, data[i:i + 257]) or time.sleep(0.001)
                                                  for i in range(0, len(data), 257)], daemon=True)
        got = _events_of(src, lambda n: n >= len(expect), start=writer.start)
        writer.join(10)
    finally:
        os.close(master)
        os.close(slave)
    assert np.array_equal(got, expect)
    c = src.counters
    assert c.get("lines_bad", "not_a_number") == sum(1 for k in range(len(x)) if k % 97 == 5)
    assert c.get("lines_bad", "channels") == sum(1 for k in range(len(x)) if k % 131 == 7)
    assert c.get("lines_bad", "not_finite") == sum(1 for k in range(len(x)) if k % 151 == 9)
    assert c.get("lines_bad", "too_long") >= 1  # the binary tail
    assert c.get("samples_received") == len(x)


def _write_wav(path, rate=16000, seconds=0.5):
    t = np.arange(int(rate * seconds)) / rate
    sig = 0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.1) + 0.2 * np.sin(2 * np.pi * 1500 * t) * (t > 0.3)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((sig * 32767).astype("<i2").tobytes())


def test_wav_and_image_sources_equal_the_encoders(tmp_path):
    wav = tmp_path / "tone.wav"
    _write_wav(wav)
    expect = se.encode.wav_to_events(wav, n_channels=16)
    assert len(expect) > 50
    for src in (wav_source(wav, speed=0, n_channels=16), open_source(str(wav), speed=0, n_channels=16)):
        assert isinstance(src, ReplaySource) and src.sensor.width == 16
        assert np.array_equal(_events_of(src, lambda n: n >= len(expect)), expect)

    folder = tmp_path / "frames"
    folder.mkdir()
    frames = np.zeros((8, 12, 16), np.uint8)
    for k in range(8):
        frames[k, :, 2 * k:2 * k + 3] = 200  # a bright bar moving right
        np.save(folder / f"{k:03d}.npy", frames[k])
    expect = se.encode.frames_to_events(frames, fps=50.0)
    assert len(expect) > 20
    src = image_source(str(folder), method="frames", fps=50.0, speed=0)
    assert (src.sensor.width, src.sensor.height) == (16, 12)
    assert np.array_equal(_events_of(src, lambda n: n >= len(expect)), expect)
    assert isinstance(open_source(str(folder), fps=50.0, speed=0), ReplaySource)


def _tiny_model(path, n_in: int, shape=None) -> str:
    shape = shape or (2, 1, n_in)
    n = int(np.prod(shape))
    w = np.tile(np.array([[40], [-40]]), (1, n))
    model = se.Model(shape, 1000, [se.LIF("out", (2,), decay_mem=60000, threshold=100)],
                     [se.Dense("fc", "input", "out", w)], name="tiny")
    model.save(path)
    return str(path)


def test_daemon_runs_a_wav_and_an_image_folder_from_config(tmp_path):
    wav = tmp_path / "tone.wav"
    _write_wav(wav)
    expect = se.encode.wav_to_events(wav, n_channels=8)
    model = _tiny_model(tmp_path / "m.snnm", 8)
    out = tmp_path / "w.jsonl"
    cfg = validate({"model": {"path": model, "window_us": 10_000},
                    "source": {"kind": "wav", "path": str(wav), "speed": 0.0, "channels": 8},
                    "sinks": [{"kind": "jsonl", "path": str(out), "only_decisions": False}],
                    "http": {"enabled": False}, "log": {"level": "warning"}})
    assert Daemon(cfg, install_signals=False).run() == 0
    rows = [json.loads(line) for line in open(out)]
    assert sum(r["events"] for r in rows) == len(expect)

    folder = tmp_path / "imgs"
    folder.mkdir()
    for k in range(5):
        img = np.zeros((6, 10), np.uint8)
        img[:, 2 * k:2 * k + 2] = 255
        np.save(folder / f"{k}.npy", img)
    expect = se.encode.images_to_events(str(folder), method="frames", fps=100.0)
    model = _tiny_model(tmp_path / "m2.snnm", 0, shape=(2, 6, 10))
    out = tmp_path / "i.jsonl"
    cfg = validate({"model": {"path": model, "window_us": 10_000},
                    "source": {"kind": "images", "path": str(folder), "fps": 100.0, "speed": 0.0},
                    "sinks": [{"kind": "jsonl", "path": str(out), "only_decisions": False}],
                    "http": {"enabled": False}, "log": {"level": "warning"}})
    assert Daemon(cfg, install_signals=False).run() == 0
    assert sum(json.loads(line)["events"] for line in open(out)) == len(expect)


def test_daemon_analog_source_over_a_pty(tmp_path):
    x = _signal(800)
    clean = np.array([[float(f"{a:.6f}"), float(f"{b:.6f}")] for a, b in x])
    expect = se.encode.delta(clean, threshold=0.05, sample_rate_hz=1000.0)
    model = _tiny_model(tmp_path / "m.snnm", 2)
    out = tmp_path / "a.jsonl"
    master, slave = os.openpty()
    try:
        cfg = validate({"model": {"path": model, "window_us": 10_000},
                        "source": {"kind": "analog", "url": os.ttyname(slave), "channels": 2,
                                   "sample_rate_hz": 1000, "threshold": 0.05, "read_timeout_s": 0.05},
                        "sinks": [{"kind": "jsonl", "path": str(out), "only_decisions": False}],
                        "http": {"enabled": False}, "log": {"level": "warning"}})
        d = Daemon(cfg, install_signals=False)
        th = threading.Thread(target=lambda: setattr(d, "code", d.run()), daemon=True)
        th.start()
        assert d.ready.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (d.stream is not None and d.stream.source.connected):
            time.sleep(0.01)
        time.sleep(0.1)  # pyserial drops input pending at open
        os.write(master, _lines_with_garbage(x))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and d.stream.snapshot().get("events_received", 0) < len(expect):
            time.sleep(0.05)
        d.request_stop()
        th.join(15)
    finally:
        os.close(master)
        os.close(slave)
    assert not th.is_alive() and d.code == 0
    assert d.stream.snapshot()["events_received"] == len(expect)
    assert sum(json.loads(line)["events"] for line in open(out)) == len(expect)


def test_encoded_source_config_errors_name_the_key():
    with pytest.raises(ConfigError) as e:
        validate({"source": {"kind": "analog", "url": "/dev/ttyUSB0", "sample_rate_hz": 100, "threshold": 0.1}})
    assert e.value.key == "source.channels"
    with pytest.raises(ConfigError) as e:
        validate({"source": {"kind": "analog", "url": "x", "channels": 1, "sample_rate_hz": 100, "threshold": 0.1,
                             "mode": "sometimes"}})
    assert e.value.key == "source.mode"
    with pytest.raises(ConfigError) as e:
        validate({"source": {"kind": "images", "path": "x", "method": "dream"}})
    assert e.value.key == "source.method"


def test_replay_takes_a_wav_file_through_the_audio_front_end(tmp_path):
    wav = tmp_path / "tone.wav"
    _write_wav(wav)
    model = se.load_model(_tiny_model(tmp_path / "m.snnm", 16))
    ev = se.encode.wav_to_events(wav, n_channels=16)
    expect = se.Engine(model).run(ev)
    assert len(expect) > 0
    res = se.replay([str(tmp_path)], model, progress=False)  # a directory: the .wav is found
    (f,) = res.files
    assert f.ok and f.events == len(ev) and f.sensor_size == (16, 1)
    assert np.array_equal(f.spikes, expect)
