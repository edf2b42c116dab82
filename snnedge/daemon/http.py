"""Health and Prometheus metrics over HTTP on a loopback port (``/healthz``, ``/metrics``).

The server is the standard library's ``ThreadingHTTPServer`` in one thread that blocks in
``serve_forever`` (select with a 0.5 s poll interval to notice shutdown); a scrape costs a
few hundred microseconds and takes no lock on the stream's hot path.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Tuple

log = logging.getLogger("snnedge.daemon.http")


def resident_memory_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


Metric = Tuple[str, str, str, List[Tuple[Dict[str, str], float]]]  # name, type, help, samples


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_prometheus(metrics: List[Metric]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines = []
    for name, kind, help_text, samples in metrics:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            sample = f"{name}{{{lab}}}" if lab else name
            v = repr(float(value)) if isinstance(value, float) and value != int(value) else str(int(value))
            lines.append(f"{sample} {v}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves ``health()`` as JSON on /healthz (200 when its ``status`` is ``ok``, else 503)
    and ``metrics()`` as Prometheus text on /metrics."""

    def __init__(self, address: Tuple[str, int], health: Callable[[], Dict[str, Any]],
                 metrics: Callable[[], str]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                try:
                    if self.path.split("?")[0] == "/metrics":
                        body = outer.metrics().encode()
                        self._send(200, "text/plain; version=0.0.4; charset=utf-8", body)
                    elif self.path.split("?")[0] in ("/healthz", "/health", "/"):
                        h = outer.health()
                        self._send(200 if h.get("status") == "ok" else 503, "application/json",
                                   json.dumps(h).encode())
                    else:
                        self._send(404, "text/plain", b"not found\n")
                except Exception as e:  # a scrape must never take the daemon down
                    log.error("HTTP handler failed: %s", e, extra={"fields": {"event": "http.error"}})
                    self._send(500, "text/plain", b"internal error\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug(fmt, *args)

        self.health = health
        self.metrics = metrics
        self.server = ThreadingHTTPServer(address, Handler)
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.address = (str(host), int(port))
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="snnedge-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(2.0)


__all__ = ["MetricsServer", "render_prometheus", "resident_memory_bytes", "cpu_seconds"]
