#!/usr/bin/env python3
"""Soak benchmark of the daemon: ``snnedge simulate`` over a pseudo-terminal at a fixed event
rate into ``snnedge daemon`` (serial source, bundled model), for a given time.

Every ``--sample-s`` it reads the daemon's /metrics (resident memory, CPU seconds, events,
drops) and the CPU time of the simulator from /proc; every window's latency comes from the
daemon's JSON-lines sink (``latency_us``: arrival of the packet that closed the window to the
decision). At the end it stops the daemon with SIGTERM, checks the exit code, and prints one
JSON document (and a markdown table with ``--markdown``).

    python benchmarks/soak_daemon.py --seconds 180 --rate 100000 --markdown
    python benchmarks/soak_daemon.py --seconds 1800          # the 30-minute soak

Also measures the idle cost: the daemon with a connected simulator that sends no events
(``--idle-s``), as CPU % of one core.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, List, Optional

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def scrape(port: int) -> Dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: Dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def dropped(m: Dict[str, float]) -> Dict[str, int]:
    return {k.split('reason="')[1].rstrip('"}'): int(v) for k, v in m.items()
            if k.startswith("snnedge_events_dropped_total{") and 'reason="none"' not in k}


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(what)


NICE: List[str] = []  # e.g. ["nice", "-n", "-10"] (--nice): what a unit's Nice= would do


def start_pair(tmp: str, rate: Optional[float], window_us: int, log_level: str = "warning",
               duration: Optional[float] = None) -> Dict[str, Any]:
    link = os.path.join(tmp, "sensor")
    sim_cmd = NICE + [sys.executable, "-m", "snnedge", "simulate", "--pty", "--link", link, "--wait-host", "30"]
    if rate is not None:
        sim_cmd += ["--rate", str(rate)]
    if duration is not None:
        sim_cmd += ["--duration", str(duration), "--linger", "3600"]
    sim = subprocess.Popen(sim_cmd, stdout=subprocess.PIPE, text=True, cwd=tmp)  # outside the source tree
    info = json.loads(sim.stdout.readline())  # type: ignore[union-attr]
    port = free_port()
    decisions = os.path.join(tmp, "windows.jsonl")
    cfg = os.path.join(tmp, "snnedge.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[model]
window_us = {window_us}
[source]
kind = "serial"
url = "{link}"
[queue]
policy = "drop_oldest"
[[sinks]]
kind = "jsonl"
path = "{decisions}"
only_decisions = false
[http]
address = "127.0.0.1:{port}"
[log]
level = "{log_level}"
""")
    daemon = subprocess.Popen(NICE + [sys.executable, "-m", "snnedge", "daemon", "--config", cfg], stderr=subprocess.PIPE,
                              text=True, cwd=tmp)
    wait_for(lambda: _up(port), 30, "daemon metrics endpoint")
    return dict(sim=sim, daemon=daemon, port=port, decisions=decisions, info=info)


def _up(port: int) -> bool:
    try:
        scrape(port)
        return True
    except OSError:
        return False


def stop_pair(p: Dict[str, Any]) -> Dict[str, Any]:
    t0 = time.monotonic()
    p["daemon"].send_signal(signal.SIGTERM)
    code = p["daemon"].wait(20)
    stop_s = time.monotonic() - t0
    p["sim"].send_signal(signal.SIGTERM)
    out, _ = p["sim"].communicate(timeout=20)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    return dict(daemon_exit=code, stop_s=round(stop_s, 3), simulator=lines[-1] if lines else None)


def soak(seconds: float, rate: float, window_us: int, sample_s: float) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        p = start_pair(tmp, rate, window_us)
        dpid, spid = p["daemon"].pid, p["sim"].pid
        samples: List[Dict[str, Any]] = []
        t_start = time.monotonic()
        cpu_d0, cpu_s0 = proc_cpu_s(dpid), proc_cpu_s(spid)
        last = (t_start, cpu_d0, cpu_s0)
        while time.monotonic() - t_start < seconds:
            time.sleep(min(sample_s, max(0.0, seconds - (time.monotonic() - t_start))))
            now = time.monotonic()
            m = scrape(p["port"])
            cd, cs = proc_cpu_s(dpid), proc_cpu_s(spid)
            samples.append(dict(t_s=round(now - t_start, 1), rss_mb=round(m["snnedge_resident_memory_bytes"] / 2**20, 2),
                                daemon_cpu_pct=round(100 * (cd - last[1]) / (now - last[0]), 1),
                                simulator_cpu_pct=round(100 * (cs - last[2]) / (now - last[0]), 1),
                                events_in=int(m["snnedge_events_in_total"]), dropped=dropped(m),
                                p99_us=m.get('snnedge_latency_microseconds{quantile="0.99"}', 0.0)))
            last = (now, cd, cs)
        wall = time.monotonic() - t_start
        m = scrape(p["port"])
        cpu_d, cpu_s = proc_cpu_s(dpid) - cpu_d0, proc_cpu_s(spid) - cpu_s0
        end = stop_pair(p)
        lat, decisions, windows = [], 0, 0
        with open(p["decisions"]) as f:
            for line in f:
                r = json.loads(line)
                windows += 1
                decisions += r["decision"] is not None
                lat.append(r["latency_us"])
        lat_arr = np.asarray(lat[len(lat) // 20:])  # skip the first 5 % (start-up)
        rss = [s["rss_mb"] for s in samples]
        warm = rss[len(rss) // 4:] or rss
        return dict(
            seconds=round(wall, 1), rate=rate, window_us=window_us,
            events_in=int(m["snnedge_events_in_total"]), events_per_s=round(m["snnedge_events_in_total"] / wall),
            dropped=dropped(m), frames_bad={k.split('reason="')[1].rstrip('"}'): int(v) for k, v in m.items()
                                            if k.startswith("snnedge_frames_bad_total{") and "none" not in k},
            windows=windows, decisions=decisions,
            latency_us={f"p{q}": round(float(np.percentile(lat_arr, q)), 1) for q in (50, 90, 99, 99.9)}
            if len(lat_arr) else {}, latency_max_us=round(float(lat_arr.max()), 1) if len(lat_arr) else None,
            daemon_cpu_pct=round(100 * cpu_d / wall, 1), simulator_cpu_pct=round(100 * cpu_s / wall, 1),
            rss_mb_first=rss[0] if rss else None, rss_mb_after_warmup_min=min(warm) if warm else None,
            rss_mb_after_warmup_max=max(warm) if warm else None, rss_mb_last=rss[-1] if rss else None,
            samples=samples, **end)


def idle(seconds: float) -> Dict[str, Any]:
    """The daemon connected to a simulator whose scene has ended: a still world, a TIME
    heartbeat every 100 ms and nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        p = start_pair(tmp, None, 50_000, duration=0.5)
        time.sleep(2.0)
        pid = p["daemon"].pid
        c0, t0 = proc_cpu_s(pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc_cpu_s(pid), time.monotonic()
        rss = proc_rss(pid)
        end = stop_pair(p)
        return dict(idle_seconds=round(t1 - t0, 1), idle_cpu_pct=round(100 * (c1 - c0) / (t1 - t0), 3),
                    idle_rss_mb=round(rss / 2**20, 1), daemon_exit=end["daemon_exit"])


def markdown(r: Dict[str, Any], i: Optional[Dict[str, Any]]) -> str:
    lat = r["latency_us"]
    rows = [
        ("run", f"{r['seconds']:.0f} s at {r['rate']:,.0f} events/s requested, {r['window_us'] // 1000} ms windows"),
        ("events in (events/s)", f"{r['events_in']:,} ({r['events_per_s']:,})"),
        ("dropped events", json.dumps(r["dropped"]) if r["dropped"] else "0"),
        ("bad frames", json.dumps(r["frames_bad"]) if r["frames_bad"] else "0"),
        ("windows / with a decision", f"{r['windows']:,} / {r['decisions']:,}"),
        ("latency p50 / p90 / p99 / p99.9 (µs)", f"{lat.get('p50')} / {lat.get('p90')} / {lat.get('p99')} / "
                                                 f"{lat.get('p99.9')} (max {r['latency_max_us']})"),
        ("daemon CPU (% of one core)", f"{r['daemon_cpu_pct']}"),
        ("simulator CPU (% of one core)", f"{r['simulator_cpu_pct']}"),
        ("daemon RSS first / after warm-up min..max / last (MiB)",
         f"{r['rss_mb_first']} / {r['rss_mb_after_warmup_min']}..{r['rss_mb_after_warmup_max']} / {r['rss_mb_last']}"),
        ("SIGTERM to exit", f"{r['stop_s']} s, exit code {r['daemon_exit']}"),
    ]
    if i:
        rows.append(("idle daemon CPU / RSS", f"{i['idle_cpu_pct']} % over {i['idle_seconds']} s / {i['idle_rss_mb']} MiB"))
    return "| measure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--rate", type=float, default=100_000.0)
    ap.add_argument("--window-us", type=int, default=10_000)
    ap.add_argument("--sample-s", type=float, default=10.0)
    ap.add_argument("--idle-s", type=float, default=30.0, help="idle measurement length (0: skip)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--nice", type=int, default=None, help="run daemon and simulator at this nice level")
    a = ap.parse_args()
    if a.nice is not None:
        NICE[:] = ["nice", "-n", str(a.nice)]
    r = soak(a.seconds, a.rate, a.window_us, a.sample_s)
    i = idle(a.idle_s) if a.idle_s > 0 else None
    doc = {"soak": r, "idle": i, "load_average": os.getloadavg(), "nice": a.nice, "cpus": os.cpu_count()}
    print(json.dumps(doc, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
    if a.markdown:
        print(markdown(r, i))
    return 0 if r["daemon_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
