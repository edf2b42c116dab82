"""The daemon killed with SIGKILL at random moments while it learns and checkpoints every few
milliseconds (so some kills land during a checkpoint write): the checkpoint always loads, the
restarted daemon resumes from it, and a final clean stop saves exactly what it resumed."""
from __future__ import annotations

import glob
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

import snnedge as se
from snnedge.synthetic import moving_bars

PY = [sys.executable, "-m", "snnedge"]
OUTSIDE = tempfile.gettempdir()  # run outside the source tree: import the installed package
KILLS = int(os.environ.get("SNNEDGE_KILLS", "10"))
N_OUT = 128


def plastic_model() -> se.Model:
    rng = np.random.default_rng(8)
    # 16-bit weights, 128 x 2048: a 0.5 MB checkpoint, so that a write takes long enough for
    # some kills to land inside one
    stdp = se.STDP(a_plus=1 << 23, a_minus=1 << 22, trace_decay_pre=60000, trace_decay_post=60000, w_min=0, w_max=600,
                   seed=4)
    layers = [se.Layer("out", "LIF", (N_OUT,), decay_mem=60000, threshold=1500, adapt_increment=60, adapt_decay=65300)]
    conns = [se.Dense("in_out", "input", "out", rng.integers(0, 300, size=(N_OUT, 2 * 32 * 32)), weight_bits=16,
                      plasticity=stdp)]
    return se.Model((2, 32, 32), 1000, layers, conns, name="plastic-kill").with_metadata(
        outputs=",".join(f"n{k}" for k in range(N_OUT)))


def write_config(tmp, model_path, recording, checkpoint, interval_s):
    cfg = tmp / f"daemon-{os.path.basename(recording)}-{interval_s}.toml"
    cfg.write_text(f"""
[model]
path = "{model_path}"
window_us = 2000
[source]
kind = "replay"
path = "{recording}"
speed = 1.0
[[sinks]]
kind = "jsonl"
path = "{tmp / 'decisions.jsonl'}"
[http]
enabled = false
[log]
level = "info"
[checkpoint]
interval_s = {interval_s}
path = "{checkpoint}"
""")
    return cfg


def read_until(proc, marker: str, timeout: float) -> str:
    """The stderr lines of ``proc`` up to the first holding ``marker`` (or the timeout)."""
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and marker not in text:
        r, _, _ = select.select([proc.stderr], [], [], 0.2)
        if r:
            line = proc.stderr.readline()
            if not line:
                break
            text += line
    return text


def start(cfg):
    return subprocess.Popen(PY + ["daemon", "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=OUTSIDE)


def test_sigkill_at_random_moments_checkpoint_always_loads_and_learning_resumes(tmp_path):
    model = plastic_model()
    model_path = tmp_path / "plastic.snnm"
    model.save(model_path)
    ev, _ = moving_bars(60.0, seed=6)
    rec = tmp_path / "bars.npz"
    np.savez(rec, events=ev)
    ck = tmp_path / "learned.snnc"
    cfg = write_config(tmp_path, model_path, rec, ck, 0.001)
    rng = np.random.default_rng(int(time.time()))
    initial = se.Engine(model).weights("in_out")
    resumed_logs = 0
    previous = None
    temp_pattern = str(tmp_path / ".learned.snnc.snnc-*")
    mid_write = 0
    expected_resumes = 0
    for k in range(KILLS):
        had_checkpoint = ck.exists()
        d = start(cfg)
        early = ""
        if had_checkpoint:
            # under load a daemon can take seconds to start: wait until it says it resumed,
            # then kill it at a random moment of its run
            expected_resumes += 1
            early = read_until(d, "checkpoint.resumed", 60)
        if k % 2:  # aimed: kill as soon as a checkpoint write has begun (its temporary file exists)
            deadline = time.monotonic() + 10
            time.sleep(float(rng.uniform(0.3, 1.0)))
            while not glob.glob(temp_pattern) and time.monotonic() < deadline:
                pass
        else:  # anywhere
            time.sleep(float(rng.uniform(0.6, 2.0)))
        d.send_signal(signal.SIGKILL)
        _, err = d.communicate(timeout=20)
        err = early + err
        assert d.returncode == -signal.SIGKILL
        mid_write += bool(glob.glob(temp_pattern))
        resumed_logs += err.count("checkpoint.resumed")
        if not ck.exists():
            assert k == 0, f"kill {k}: the checkpoint vanished\n{err[-2000:]}"
            continue
        w = se.Engine.restore(model, ck).weights("in_out")  # always loads
        if previous is not None:
            # every run starts from the last checkpoint, so nothing learned is ever lost
            assert not np.array_equal(w, initial)
        previous = w
    assert previous is not None, "no checkpoint was ever written"
    assert not np.array_equal(previous, initial), "nothing was learned"
    assert resumed_logs == expected_resumes >= KILLS - 2, "the restarted daemons did not resume"
    print(f"{mid_write} of {KILLS} kills landed inside a checkpoint write")
    assert mid_write >= 1, "no kill landed inside a checkpoint write"

    # a clean start on an empty stream resumes the last checkpoint and saves it back unchanged
    empty = tmp_path / "empty.npz"
    np.savez(empty, events=ev[:0])
    d = start(write_config(tmp_path, model_path, empty, ck, 0))
    _, err = d.communicate(timeout=30)
    assert d.returncode == 0, err[-2000:]
    assert "checkpoint.resumed" in err
    np.testing.assert_array_equal(se.Engine.restore(model, ck).weights("in_out"), previous)
    assert not glob.glob(str(tmp_path / ".learned.snnc.snnc-*")), "an interrupted write was left behind"
    json.dumps(err.splitlines()[-1:])  # the log stays line-structured
