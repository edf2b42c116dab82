"""The always-on daemon: one stream from a source through a model to sinks, with systemd
readiness and watchdog, health and metrics, orderly stop and live reload.

Threads: the source's reader (blocking I/O), the processing thread (engine and sinks), the
HTTP server, and the main thread, which sleeps in ``select`` on a self-pipe that signal
handlers and ``request_*`` calls write to, waking only for signals, watchdog pings and
checkpoint deadlines. Nothing polls.

SIGTERM / SIGINT: STOPPING=1, the source closes, the processing thread drains what was
already received, closes the open window, the sinks flush and close, the checkpoint hook runs
a last time, exit 0. SIGHUP: the configuration file is read and validated and the new model
loaded and checked while the old one keeps running; only then is the model swapped at the
next window boundary and changed sinks replaced. A reload that fails changes nothing.
"""
from __future__ import annotations

import collections
import fcntl
import glob
import logging
import os
import select
import signal
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..devices import (AnalogSerialSource, Aedat4TcpSource, ReplaySource, SerialSource, SimulatedSource, Source, TcpServerSource,
                       TcpSource, UdpSource, image_source,
                       now_ns, wav_source)
from ..devices.base import Counters
from ..engine import Engine
from ..errors import ConfigError, SnnEdgeError
from ..events import make_events
from ..model import Model
from ..sinks import JsonLinesSink, MqttSink, SerialReplySink, Sink, SocketSink
from ..stream import Stream, WindowResult, _labels_of, check_model_for_sensor
from .config import DaemonConfig, SinkConfig, SourceConfig, load_config
from .http import MetricsServer, Metric, cpu_seconds, render_prometheus, resident_memory_bytes
from .logs import setup_logging
from .memory import HeapTrimmer, heap_info
from .notify import Notifier

log = logging.getLogger("snnedge.daemon")


# -- components: each built from its validated config section by a typed constructor ----------


def bundled_model_path() -> str:
    from ..cli import bundled_model_path as find

    return find()


def load_checked_model(path: str, window_us: int, labels: Optional[Sequence[str]],
                       input_shape: Optional[Tuple[int, ...]] = None) -> Model:
    """Loads a model and checks it can serve: window a multiple of its tick, labels matching
    its outputs, the same input as the running model (on reload), and a short run on probe
    events. Raises ``ConfigError`` / ``SnnEdgeError`` naming the problem."""
    model = Model.load(path or bundled_model_path())
    if window_us % model.tick_us:
        raise ConfigError(f"model.window_us: {window_us} is not a multiple of the model's tick ({model.tick_us} us)",
                          key="model.window_us", problem="not a multiple of the tick")
    if labels is not None and len(labels) != model.output_size:
        raise ConfigError(f"model.labels: {len(labels)} labels for {model.output_size} output neurons",
                          key="model.labels", problem="count")
    if input_shape is not None and tuple(model.input_shape) != tuple(input_shape):
        raise ConfigError(f"model.path: the new model's input {model.input_shape} differs from the running "
                          f"model's {tuple(input_shape)}", key="model.path", problem="input shape")
    shape = model.input_shape
    probe = make_events(np.arange(0, 16 * model.tick_us, model.tick_us),
                        np.arange(16) % shape[-1], (np.arange(16) % shape[-2]) if len(shape) >= 2 else 0,
                        np.arange(16) % 2 if len(shape) == 3 and shape[0] > 1 else 0)
    Engine(model).run(probe)
    return model


def build_source(cfg: SourceConfig) -> Source:
    o = cfg.options
    if cfg.kind == "serial":
        return SerialSource(o["url"], baudrate=o["baudrate"], reconnect_min_s=o["reconnect_min_s"],
                            reconnect_max_s=o["reconnect_max_s"], read_timeout_s=o["read_timeout_s"])
    if cfg.kind == "tcp":
        timing = {k: o[k] for k in ("reconnect_min_s", "reconnect_max_s", "read_timeout_s")}
        if o["format"] == "aedat4":
            return Aedat4TcpSource("aedat4+tcp://" + o["connect"], width=o["width"], height=o["height"],
                                   max_packet_bytes=o["max_packet_bytes"], **timing)
        if o["listen"] is not None:
            return TcpServerSource("tcp-listen://" + o["listen"], on_second=o["on_second"], **timing)
        return TcpSource("tcp://" + o["connect"], **timing)
    if cfg.kind == "udp":
        return UdpSource(o["bind"], format=o["format"], width=o["width"], height=o["height"])
    if cfg.kind == "replay":
        return ReplaySource(o["path"], speed=float(o["speed"]), loop=o["loop"])
    if cfg.kind == "analog":
        return AnalogSerialSource(o["url"], o["channels"], threshold=o["threshold"], threshold_off=o["threshold_off"],
                                  sample_rate_hz=float(o["sample_rate_hz"]), mode=o["mode"],
                                  refractory_us=o["refractory_us"], baudrate=o["baudrate"],
                                  reconnect_min_s=o["reconnect_min_s"], reconnect_max_s=o["reconnect_max_s"],
                                  read_timeout_s=o["read_timeout_s"])
    if cfg.kind == "wav":
        audio = {"n_channels": o["channels"], "f_lo": float(o["f_lo"]), "encoder": o["encoder"]}
        if o["f_hi"] is not None:
            audio["f_hi"] = float(o["f_hi"])
        if o["threshold"] is not None:
            audio["threshold"] = float(o["threshold"])
        return wav_source(o["path"], speed=float(o["speed"]), loop=o["loop"], **audio)
    if cfg.kind == "images":
        opts = {"fps": float(o["fps"])} if o["method"] == "frames" else {"num_steps": o["num_steps"]}
        return image_source(o["path"], method=o["method"], speed=float(o["speed"]), loop=o["loop"], **opts)
    return SimulatedSource(scene=o["scene"], seed=o["seed"], speed=float(o["speed"]), loop=o["loop"])


def build_sink(cfg: SinkConfig, source: Source) -> Sink:
    o = cfg.options
    if cfg.kind == "jsonl":
        return JsonLinesSink(o["path"], only_decisions=cfg.only_decisions, counters=o["counters"])
    if cfg.kind == "serial":
        return SerialReplySink(source, only_decisions=cfg.only_decisions)
    if cfg.kind == "socket":
        return SocketSink(path=o["path"], address=o["address"], only_decisions=cfg.only_decisions,
                          max_pending=o["max_pending"])
    return MqttSink(o["host"], o["port"], o["topic"], o["qos"], o["client_id"], only_decisions=cfg.only_decisions,
                    retain=o["retain"])


class CheckpointHook:
    """Learned state on disk: called from the processing thread every ``interval_s`` (0: never
    periodically) and once at shutdown, with the running engine, between windows.

    With a ``path``, ``save`` writes ``engine.checkpoint(path)`` (atomic: a crash leaves the
    previous checkpoint or the new one), and ``resume`` at start copies the learned weights
    and adaptive thresholds of a checkpoint written for the same model into the new engine
    (time restarts with the new stream; see docs/daemon.md). A checkpoint that does not fit
    the model is moved aside (``PATH.rejected-<unix time>``), never overwritten.
    """

    def __init__(self, interval_s: float, path: str) -> None:
        self.interval_s = interval_s
        self.path = path
        self.calls = 0
        self.written = 0
        self.failures = 0
        self.resumed = False
        self._last_ns = now_ns()

    def due(self) -> bool:
        return self.interval_s > 0 and now_ns() - self._last_ns >= self.interval_s * 1e9

    def save(self, engine: Engine, reason: str) -> None:
        self._last_ns = now_ns()
        self.calls += 1
        if not self.path:
            log.debug("checkpoint hook (%s): no checkpoint.path, nothing saved", reason,
                      extra={"fields": {"event": "checkpoint.skipped", "reason": reason}})
            return
        t0 = now_ns()
        try:
            engine.checkpoint(self.path)
        except (OSError, SnnEdgeError) as e:
            self.failures += 1
            log.error("checkpoint (%s) to %s failed: %s", reason, self.path, e,
                      extra={"fields": {"event": "checkpoint.failed", "reason": reason, "path": self.path}})
            return
        self.written += 1
        log.info("checkpoint (%s) written to %s", reason, self.path,
                 extra={"fields": {"event": "checkpoint.written", "reason": reason, "path": self.path,
                                   "ms": round((now_ns() - t0) / 1e6, 2)}})

    def resume(self, engine: Engine, model: Model) -> bool:
        """Copies the learned state of the checkpoint at ``path`` (if any) into ``engine``, after
        removing the temporary files of writes a crash interrupted (never renamed into place)."""
        if not self.path:
            return False
        directory, base = os.path.split(os.path.abspath(self.path))
        for stale in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(base)}.snnc-*")):
            try:
                os.unlink(stale)
                log.info("removed %s, left by an interrupted checkpoint write", stale,
                         extra={"fields": {"event": "checkpoint.stale_removed", "path": stale}})
            except OSError:
                pass
        if not os.path.exists(self.path):
            return False
        try:
            saved = Engine.restore(model, self.path)
            engine.set_learned_state(saved.learned_state())
        except (OSError, SnnEdgeError) as e:
            aside = f"{self.path}.rejected-{int(time.time())}"
            os.replace(self.path, aside)
            log.error("checkpoint %s does not fit the model (%s): kept as %s, starting from the model's weights",
                      self.path, e, aside, extra={"fields": {"event": "checkpoint.rejected", "path": aside}})
            return False
        self.resumed = True
        log.info("learned state resumed from %s", self.path,
                 extra={"fields": {"event": "checkpoint.resumed", "path": self.path}})
        return True


# -- the daemon ---------------------------------------------------------------------------------


class Daemon:
    """Runs a ``DaemonConfig``. ``run()`` blocks until stopped and returns the exit code.
    ``extra_sinks`` are added to the configured ones (``snnedge run`` adds its console)."""

    def __init__(self, config: DaemonConfig, extra_sinks: Sequence[Any] = (), source: Optional[Source] = None,
                 install_signals: bool = True, log_stream: Any = None) -> None:
        self.config = config
        self.extra_sinks: List[Any] = list(extra_sinks)  # anything with emit/flush/close
        self.install_signals = install_signals
        self.log_stream = log_stream
        self.notifier = Notifier()
        self.counters = Counters()
        self._given_source = source
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._requests: Deque[str] = collections.deque()
        self.stream: Optional[Stream] = None
        self.sinks: List[Sink] = []
        self.http: Optional[MetricsServer] = None
        self.checkpoint = CheckpointHook(config.checkpoint_interval_s, config.checkpoint_path)
        self.started_ns = now_ns()
        self.state = "starting"
        self._proc: Optional[threading.Thread] = None
        self._proc_error: Optional[BaseException] = None
        self._synops_samples: Deque[Tuple[int, int]] = collections.deque(maxlen=64)
        self._synops_total = 0
        self.last_result_ns: Optional[int] = None
        self.ready = threading.Event()
        self.model_path = config.model_path
        self.heap_trimmer = HeapTrimmer()  # see snnedge/daemon/memory.py for why

    # -- requests from signals or other threads --------------------------------------------

    def _request(self, what: str) -> None:
        self._requests.append(what)
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass

    def request_stop(self) -> None:
        self._request("stop")

    def request_reload(self) -> None:
        self._request("reload")

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._requests.append("reload" if signum == signal.SIGHUP else "stop")

    # -- lifecycle -----------------------------------------------------------------------------

    def _build_sinks(self, configs: Sequence[SinkConfig], source: Source) -> List[Sink]:
        built: List[Sink] = []
        try:
            for c in configs:
                built.append(build_sink(c, source))
        except BaseException:
            for s in built:
                s.close()
            raise
        return built

    def start(self) -> None:
        cfg = self.config
        setup_logging(cfg.log_level, cfg.log_format, self.log_stream)
        model = load_checked_model(cfg.model_path, cfg.window_us, cfg.labels)
        source = self._given_source or build_source(cfg.source)
        if source.sensor is not None:
            check_model_for_sensor(model, source.sensor.width, source.sensor.height)
        self.sinks = self._build_sinks(cfg.sinks, source)
        self.stream = Stream(source, model, cfg.window_us, queue_events=cfg.queue_capacity, policy=cfg.queue_policy,
                             labels=cfg.labels, sinks=self.sinks + self.extra_sinks)
        self.stream.on_idle = self._on_idle
        self.checkpoint.resume(self.stream.engine, model)
        if cfg.http_address:
            from ..devices.udp import parse_address

            self.http = MetricsServer(parse_address(cfg.http_address, "http.address"), self.health, self.metrics)
            self.http.start()
        self.stream.start()
        self._proc = threading.Thread(target=self._process, name="snnedge-processing", daemon=True)
        self._proc.start()
        self.state = "running"
        self.ready.set()
        where = f"{self.http.address[0]}:{self.http.address[1]}" if self.http else "off"
        log.info("ready: model %s, source %s, %d sinks, metrics %s", model.name, source.kind, len(self.sinks), where,
                 extra={"fields": {"event": "daemon.ready", "model": model.name, "source": source.kind,
                                   "http": where, "pid": os.getpid()}})
        self.notifier.ready(f"streaming from {source.kind}")

    def _on_idle(self) -> None:
        if self.checkpoint.due() and self.stream is not None:
            self.checkpoint.save(self.stream.engine, "periodic")

    def _process(self) -> None:
        assert self.stream is not None
        try:
            for r in self.stream:
                self._account(r)
                if self.checkpoint.due():
                    self.checkpoint.save(self.stream.engine, "periodic")
        except BaseException as e:
            self._proc_error = e
            log.error("processing stopped: %s", e, extra={"fields": {"event": "daemon.processing_failed"}})
        finally:
            self._request("processing_ended")

    def _account(self, r: WindowResult) -> None:
        t = now_ns()
        self.last_result_ns = t
        self._synops_total += r.synops
        self._synops_samples.append((t, self._synops_total))
        if r.label is not None:
            self.counters.add("decisions_by_label", reason=r.label)

    def run(self) -> int:
        """Starts, serves until stopped, stops in order. Returns the exit code."""
        old_handlers = {}
        if self.install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            old_wakeup = signal.set_wakeup_fd(self._wake_w)
        try:
            try:
                self.start()
            except (SnnEdgeError, OSError) as e:
                log.error("cannot start: %s", e, extra={"fields": {"event": "daemon.start_failed",
                                                                   "key": getattr(e, "key", None)}})
                self._shutdown()
                return 2
            code = self._serve()
            self._shutdown()
            return code
        finally:
            if old_handlers:
                signal.set_wakeup_fd(old_wakeup)
                for sig, h in old_handlers.items():
                    signal.signal(sig, h)

    def _serve(self) -> int:
        interval = self.notifier.watchdog_interval_s
        next_ping = time.monotonic()
        while True:
            timeout = None
            if interval:
                timeout = max(0.0, next_ping - time.monotonic())
            if self.checkpoint.interval_s > 0:
                timeout = min(timeout if timeout is not None else 3600.0, self.checkpoint.interval_s)
            trim_in = self.heap_trimmer.seconds_to_next()
            if trim_in is not None:
                timeout = trim_in if timeout is None else min(timeout, trim_in)
            if not self._requests:
                try:
                    select.select([self._wake_r], [], [], timeout)
                except InterruptedError:
                    pass
            try:
                while os.read(self._wake_r, 512):
                    pass
            except (BlockingIOError, OSError):
                pass
            while self._requests:
                what = self._requests.popleft()
                if what == "stop":
                    log.info("stopping on request", extra={"fields": {"event": "daemon.stop_requested"}})
                    return 0
                if what == "reload":
                    self.reload()
                if what == "processing_ended":
                    if self._proc_error is not None:
                        return 1
                    log.info("source ended", extra={"fields": {"event": "daemon.source_ended"}})
                    return 0
            if self.stream is not None:
                self.heap_trimmer.maybe(self.stream.counters.get("events_in"))
            if interval and time.monotonic() >= next_ping:
                if self._healthy_for_watchdog(interval):
                    self.notifier.watchdog()
                next_ping = time.monotonic() + interval

    def _healthy_for_watchdog(self, interval: float) -> bool:
        """Only ping while the processing thread is alive and has woken recently (it wakes at
        least every 0.5 s even when the sensor is silent), so a hang gets us restarted."""
        if self._proc is None or not self._proc.is_alive() or self.stream is None:
            return False
        return (now_ns() - self.stream.last_activity_ns) < max(2.0, 2 * interval) * 1e9

    def _shutdown(self) -> None:
        self.state = "stopping"
        self.notifier.stopping()
        if self.stream is not None:
            self.stream.source.close()  # the processing thread drains what was received, then ends
            if self._proc is not None:
                self._proc.join(10.0)
                if self._proc.is_alive():
                    log.error("processing did not finish in 10 s; abandoning it",
                              extra={"fields": {"event": "daemon.drain_timeout"}})
                    self.stream.close()
                    self._proc.join(2.0)
            self.checkpoint.save(self.stream.engine, "shutdown")
        for s in self.sinks + self.extra_sinks:
            try:
                s.close()
            except Exception as e:
                log.warning("closing sink %s: %s", s.kind, e)
        if self.http is not None:
            self.http.stop()
        snap = self.stream.snapshot() if self.stream is not None else {}
        log.info("stopped", extra={"fields": {"event": "daemon.stopped", "events_in": snap.get("events_in", 0),
                                              "events_dropped": snap.get("events_dropped_total", 0),
                                              "windows": snap.get("windows", 0)}})
        self.state = "stopped"
        self.notifier.close()

    # -- reload ------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-reads the configuration file and the model; swaps only if everything checks out."""
        assert self.stream is not None
        self.notifier.reloading()
        try:
            new = load_config(self.config.path) if self.config.path else self.config
            model = load_checked_model(new.model_path, self.stream.window_us, new.labels,
                                       self.stream.model.input_shape)
            if new.window_us != self.stream.window_us:
                raise ConfigError("model.window_us: changing the window needs a restart", key="model.window_us",
                                  problem="needs restart")
            for section, a, b in (("source", new.source, self.config.source),
                                  ("queue", (new.queue_capacity, new.queue_policy),
                                   (self.config.queue_capacity, self.config.queue_policy)),
                                  ("http", new.http_address, self.config.http_address)):
                if a != b:
                    log.warning("%s settings changed: they apply after a restart", section,
                                extra={"fields": {"event": "daemon.reload_needs_restart", "section": section}})
            sinks = None
            if new.sinks != self.config.sinks:
                sinks = self._build_sinks(new.sinks, self.stream.source)
        except (SnnEdgeError, OSError) as e:
            self.counters.add("reloads", reason="failed")
            log.error("reload failed, keeping the running model and config: %s", e,
                      extra={"fields": {"event": "daemon.reload_failed", "key": getattr(e, "key", None)}})
            self.notifier.ready("reload failed; running the previous configuration")
            return False
        self.stream.swap_model(model, new.labels)
        if sinks is not None:
            old = self.sinks
            self.sinks = sinks
            self.stream.sinks = self.sinks + self.extra_sinks
            for s in old:
                s.close()
        setup_logging(new.log_level, new.log_format, self.log_stream)
        self.model_path = new.model_path
        self.config = DaemonConfig(**{**new.__dict__, "source": self.config.source,
                                      "queue_capacity": self.config.queue_capacity,
                                      "queue_policy": self.config.queue_policy,
                                      "http_address": self.config.http_address})
        self.counters.add("reloads", reason="ok")
        log.info("reloaded: model %s", model.name, extra={"fields": {"event": "daemon.reloaded", "model": model.name}})
        self.notifier.ready("reloaded")
        return True

    # -- health and metrics --------------------------------------------------------------------

    def synops_per_second(self) -> float:
        s = list(self._synops_samples)
        now = now_ns()
        recent = [x for x in s if now - x[0] < 10e9]
        if len(recent) < 2:
            return 0.0
        (t0, a), (t1, b) = recent[0], recent[-1]
        return (b - a) / ((t1 - t0) / 1e9) if t1 > t0 else 0.0

    def health(self) -> Dict[str, Any]:
        st = self.stream
        src = st.source if st is not None else None
        alive = self._proc is not None and self._proc.is_alive()
        status = "ok" if (self.state == "running" and alive and src is not None and src.connected) else \
            ("starting" if self.state == "starting" else ("stopping" if self.state in ("stopping", "stopped")
                                                          else "degraded"))
        return {
            "status": status, "state": self.state, "pid": os.getpid(),
            "uptime_s": round((now_ns() - self.started_ns) / 1e9, 3),
            "processing_alive": alive,
            "source": src.describe() if src is not None else None,
            "model": {"name": st.model.name, "path": self.model_path or "bundled", "generation": st.model_generation}
            if st is not None else None,
            "last_result_age_s": round((now_ns() - self.last_result_ns) / 1e9, 3) if self.last_result_ns else None,
        }

    def metrics(self) -> str:
        st = self.stream
        snap = st.snapshot() if st is not None else {}
        m: List[Metric] = []

        def counter(name: str, help_text: str, value: Any) -> None:
            m.append((name, "counter", help_text, [({}, float(value or 0))]))

        def by_reason(name: str, help_text: str, values: Any, label: str = "reason") -> None:
            samples = [({label: k}, float(v)) for k, v in sorted(values.items())] if isinstance(values, dict) else []
            m.append((name, "counter", help_text, samples or [({label: "none"}, 0.0)]))

        counter("snnedge_events_received_total", "Events received from the source.", snap.get("events_received"))
        counter("snnedge_events_in_total", "Events fed to the model.", snap.get("events_in"))
        by_reason("snnedge_events_dropped_total", "Events dropped, by reason.", snap.get("events_dropped", {}))
        by_reason("snnedge_frames_bad_total", "Bad frames discarded, by reason.", snap.get("frames_bad", {}))
        counter("snnedge_windows_total", "Windows closed.", snap.get("windows"))
        by_reason("snnedge_decisions_total", "Decisions, by label.",
                  self.counters.snapshot().get("decisions_by_label", {}), label="label")
        lat = st.latency_percentiles((50, 90, 99)) if st is not None else {}
        m.append(("snnedge_latency_microseconds", "summary",
                  "Packet arrival to decision, over the last 4096 windows.",
                  [({"quantile": q}, lat.get(k, 0.0)) for q, k in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))]))
        counter("snnedge_synops_total", "Synaptic operations.", self._synops_total)
        m.append(("snnedge_synops_per_second", "gauge", "Synaptic operations per second over the last 10 s.",
                  [({}, round(self.synops_per_second(), 1))]))
        m.append(("snnedge_resident_memory_bytes", "gauge", "Resident set size.", [({}, resident_memory_bytes())]))
        heap = heap_info()
        if heap:
            m.append(("snnedge_heap_bytes", "gauge", "C heap (glibc malloc, all arenas): in use, free but kept, "
                      "from the system.", [({"kind": k}, float(v)) for k, v in sorted(heap.items())]))
        counter("snnedge_heap_trims_total", "malloc_trim calls (at most one a minute, only after activity).",
                self.heap_trimmer.calls)
        counter("snnedge_heap_trim_released_bytes_total", "Resident memory malloc_trim gave back.",
                self.heap_trimmer.released_bytes)
        counter("snnedge_cpu_seconds_total", "User and system CPU time.", round(cpu_seconds(), 3))
        counter("snnedge_reconnects_total", "Reconnections to the source.", snap.get("reconnects"))
        counter("snnedge_disconnects_total", "Source links lost.", snap.get("disconnects"))
        m.append(("snnedge_queue_depth_events", "gauge", "Events waiting in the queue.", [({}, snap.get("queue_depth", 0))]))
        by_reason("snnedge_reloads_total", "SIGHUP reloads, by result.", self.counters.snapshot().get("reloads", {}),
                  label="result")
        m.append(("snnedge_model_generation", "gauge", "Models swapped in since start.",
                  [({}, st.model_generation if st is not None else 0)]))
        m.append(("snnedge_source_connected", "gauge", "1 while the source is connected.",
                  [({}, 1 if st is not None and st.source.connected else 0)]))
        counter("snnedge_checkpoint_calls_total", "Checkpoint hook calls.", self.checkpoint.calls)
        counter("snnedge_checkpoints_written_total", "Checkpoints written.", self.checkpoint.written)
        counter("snnedge_checkpoint_failures_total", "Checkpoints that could not be written.", self.checkpoint.failures)
        return render_prometheus(m)


def run_daemon(config_path: str, log_stream: Any = None) -> int:
    """``snnedge daemon --config PATH``: exit 2 for a bad configuration (the error names the key)."""
    import faulthandler
    import sys

    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)  # stack dump for operators
    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        setup_logging("info", "json", log_stream)
        log.error("%s", e, extra={"fields": {"event": "config.invalid", "key": e.key}})
        return 2
    return Daemon(cfg, log_stream=log_stream).run()


__all__ = ["Daemon", "run_daemon", "build_source", "build_sink", "load_checked_model", "CheckpointHook"]
