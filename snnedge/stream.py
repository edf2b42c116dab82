"""Live streams: a source's events through a model, one result per window of sensor time.

    for r in snnedge.stream("socket://127.0.0.1:7000", "model.snnm", window_us=50_000):
        print(r.t_start_us, r.label, r.counts, r.latency_us)

The source runs in its own thread and hands packets to the consumer through a bounded queue
(capacity counted in events). When the consumer is slower than the sensor the queue's
``policy`` decides: ``block`` (the source thread waits: a serial or TCP sensor then sees
backpressure; a UDP sender's datagrams are dropped by the kernel), ``drop_oldest`` (the
queued events that waited longest are discarded, keeping latency bounded) or ``drop_newest``
(arriving events are discarded). Every discarded event is counted (``events_dropped`` by
reason), and so are the events the source lost (``link``: a gap in the stream index, which
covers corrupt frames; ``late``: timestamps going backwards; ``out_of_range``: outside the
model's input).

Windows are ``[t_start_us, t_start_us + window_us)`` of sensor time, aligned to multiples of
``window_us``, and close when the sensor's time passes their end (a later event or a
heartbeat). A window's decision is the output neuron with the most spikes in it (the lowest
index on ties), None without output spikes. Windows with neither events nor spikes are
counted (``windows_idle``) but not yielded unless ``emit_idle``. ``latency_us`` is the time
from the arrival of the packet that closed the window to the result being ready.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from .devices import Counters, Packet, Source, now_ns, open_source
from .engine import Engine
from .events import EVENT_DTYPE, SPIKE_DTYPE
from .model import Model

log = logging.getLogger("snnedge.stream")

POLICIES = ("block", "drop_oldest", "drop_newest")
_NO_SPIKES = np.zeros(0, SPIKE_DTYPE)


@dataclass
class WindowResult:
    """One window of a stream: output spikes, their count per output neuron, the decision
    (index and label, None without spikes), input events in the window, synaptic operations,
    latency, and a snapshot of the stream's counters."""

    t_start_us: int
    t_end_us: int
    spikes: np.ndarray
    counts: np.ndarray
    decision: Optional[int]
    label: Optional[str]
    events: int
    synops: int
    latency_us: float
    counters: Dict[str, Any] = field(default_factory=dict)
    model_generation: int = 0

    def to_dict(self, counters: bool = False) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "t_start_us": self.t_start_us, "t_end_us": self.t_end_us, "decision": self.decision, "label": self.label,
            "counts": self.counts.tolist(), "events": self.events, "output_spikes": int(len(self.spikes)),
            "synops": self.synops, "latency_us": round(self.latency_us, 1), "model_generation": self.model_generation,
        }
        if counters:
            d["counters"] = self.counters
        return d


class BoundedQueue:
    """Packets from the source thread to the consumer. Capacity is in events (an empty packet
    weighs 1); the policy says what happens when it is full (module docstring)."""

    def __init__(self, capacity_events: int, policy: str, counters: Counters) -> None:
        if policy not in POLICIES:
            raise ValueError(f"queue policy must be one of {POLICIES}, found {policy!r}")
        if capacity_events < 1:
            raise ValueError(f"queue capacity must be >= 1 event, found {capacity_events}")
        self.capacity = int(capacity_events)
        self.policy = policy
        self.counters = counters
        self._items: Deque[Packet] = collections.deque()
        self._weight = 0
        self._cond = threading.Condition()
        self._closed = False
        self.high_water = 0

    @staticmethod
    def _w(p: Packet) -> int:
        return max(1, len(p.events))

    def put(self, pkt: Packet) -> None:
        w = self._w(pkt)
        with self._cond:
            if self._closed:
                return
            if self._weight + w > self.capacity and self._items:
                if self.policy == "block":
                    while self._weight + w > self.capacity and self._items and not self._closed:
                        self._cond.wait(0.5)
                    self.counters.add("queue_waits")
                elif self.policy == "drop_newest":
                    if len(pkt.events):
                        self.counters.add("events_dropped", len(pkt.events), reason="queue_full")
                        # time still moves on, so windows keep closing
                        pkt = Packet(np.zeros(0, EVENT_DTYPE), pkt.t_reached_us, pkt.received_ns, pkt.session)
                        w = 1
                    if self._weight + w > self.capacity:
                        return
                else:
                    while self._weight + w > self.capacity and self._items:
                        old = self._items.popleft()
                        self._weight -= self._w(old)
                        if len(old.events):
                            self.counters.add("events_dropped", len(old.events), reason="queue_full")
            self._items.append(pkt)
            self._weight += w
            self.high_water = max(self.high_water, self._weight)
            self._cond.notify_all()

    def get(self, timeout: float) -> Optional[Packet]:
        """The next packet; None on timeout or when closed and empty (see ``finished``)."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None
            pkt = self._items.popleft()
            self._weight -= self._w(pkt)
            self._cond.notify_all()
            return pkt

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._closed and not self._items

    def depth(self) -> int:
        with self._cond:
            return self._weight

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _labels_of(model: Model, labels: Optional[Sequence[str]]) -> List[str]:
    if labels:
        return [str(x) for x in labels]
    text = model.metadata.get("outputs") or model.metadata.get("labels") or ""
    names = [s.strip() for s in str(text).strip("[]").replace("'", "").split(",") if s.strip()]
    return names if len(names) == model.output_size else [str(i) for i in range(model.output_size)]


def check_model_for_sensor(model: Model, width: Optional[int], height: Optional[int]) -> None:
    """Raises ``ProtocolError`` when a sensor of this size cannot feed the model's input."""
    from .errors import ProtocolError

    shape = model.input_shape
    if width is None or height is None:
        return
    if len(shape) >= 2 and (width > shape[-1] or height > shape[-2]):
        raise ProtocolError(f"sensor is {width}x{height} but the model's input is {shape[-1]}x{shape[-2]} (W x H)",
                            field="width/height", expected=f"<= {shape[-1]}x{shape[-2]}", found=f"{width}x{height}")


class Stream:
    """A running stream (see the module docstring). Iterate it for ``WindowResult``s; call
    ``close()`` from any thread to stop; ``swap_model()`` replaces the model at the next
    window boundary without stopping the source."""

    def __init__(self, source: Any, model: Union[Model, str, "os.PathLike[str]"], window_us: Optional[int] = None, *,
                 queue_events: int = 1 << 20, policy: str = "block", emit_idle: bool = False,
                 labels: Optional[Sequence[str]] = None, sinks: Sequence[Any] = (), finish: bool = True) -> None:
        self.model = model if isinstance(model, Model) else Model.load(model)
        tick = self.model.tick_us
        if window_us is None:
            window_us = max(tick, (50_000 // tick) * tick)
        if not isinstance(window_us, int) or window_us <= 0 or window_us % tick:
            raise ValueError(f"window_us must be a positive multiple of the model's tick ({tick} us), found {window_us!r}")
        self.window_us = window_us
        self.source: Source = open_source(source)
        self.counters = Counters()
        self.queue = BoundedQueue(queue_events, policy, self.counters)
        self.emit_idle = emit_idle
        self.labels = _labels_of(self.model, labels)
        self.sinks = list(sinks)
        self.finish = finish
        self.engine = Engine(self.model)
        self._n_out = self.model.output_size  # a property that walks the spec: read once
        self.model_generation = 0
        self._pending_model: Optional[Model] = None
        self._pending_labels: Optional[Sequence[str]] = None
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.error: Optional[BaseException] = None
        self.latencies_us: Deque[float] = collections.deque(maxlen=4096)
        self.last_activity_ns = now_ns()
        self._session: Optional[int] = None
        self._win_start: Optional[int] = None
        self._last_t: Optional[int] = None
        self._spikes: List[np.ndarray] = []
        self._win_events = 0
        self._synops_mark = 0
        self._started = False
        shape = self.model.input_shape
        self._limits = (shape[0], shape[1], shape[2]) if len(shape) == 3 else None
        self.on_idle: Optional[Callable[[], None]] = None

    # -- control ----------------------------------------------------------------------------

    def start(self) -> "Stream":
        if not self._started:
            self._started = True
            self._thread = threading.Thread(target=self._pump, name=f"snnedge-source-{self.source.kind}", daemon=True)
            self._thread.start()
        return self

    def _pump(self) -> None:
        try:
            for pkt in self.source.packets():
                self.queue.put(pkt)
                if self._stop.is_set():
                    break
        except BaseException as e:  # handed to the consumer, which re-raises it
            self.error = e
            log.error("source failed: %s", e, extra={"fields": {"event": "source.failed", "error": str(e)}})
        finally:
            self.queue.close()

    def close(self) -> None:
        """Stops the source and ends iteration (the consumer finishes what is queued only when
        it was already draining; see ``finish``)."""
        self._stop.set()
        self.source.close()
        self.queue.close()

    def join(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def swap_model(self, model: Model, labels: Optional[Sequence[str]] = None) -> None:
        """Uses ``model`` from the next window on (the current one finishes on the old model)."""
        if model.input_shape != self.model.input_shape:
            from .errors import ModelError

            raise ModelError(f"new model's input {model.input_shape} differs from the running model's "
                             f"{self.model.input_shape}", layer="input", problem="input shape")
        with self._lock:
            self._pending_model = model
            self._pending_labels = labels

    def snapshot(self) -> Dict[str, Any]:
        """Counters of the stream and its source together, plus engine totals and queue depth."""
        out = self.source.counters.snapshot()
        for k, v in self.counters.snapshot().items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = {**out[k], **v}
            else:
                out[k] = v
        drops = out.get("events_dropped", {})
        out["events_dropped_total"] = sum(drops.values()) if isinstance(drops, dict) else int(drops or 0)
        out["queue_depth"] = self.queue.depth()
        return out

    # -- the consumer -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[WindowResult]:
        self.start()
        try:
            while True:
                pkt = self.queue.get(0.5)
                self.last_activity_ns = now_ns()
                if pkt is None:
                    if self.queue.finished:
                        break
                    if self.on_idle is not None:
                        self.on_idle()
                    continue
                for r in self._process(pkt):
                    self._emit(r)
                    yield r
            if self.error is not None and not self._stop.is_set():
                raise self.error
            if self.finish and not self._stop.is_set():
                for r in self._flush():
                    self._emit(r)
                    yield r
        finally:
            self.close()
            for sink in self.sinks:
                try:
                    sink.flush()
                except Exception as e:
                    log.warning("flushing sink %s: %s", getattr(sink, "kind", sink), e)

    def _emit(self, r: WindowResult) -> None:
        """Hands a result to every sink; a failing sink is counted and logged (the first
        failure and every 100th), never allowed to stop the stream or the other sinks."""
        for sink in self.sinks:
            try:
                sink.emit(r)
            except Exception as e:
                kind = str(getattr(sink, "kind", type(sink).__name__))
                n = self.counters.get("sink_errors", kind)
                self.counters.add("sink_errors", reason=kind)
                if n % 100 == 0:
                    log.error("sink %s failed (%d times so far): %s", kind, n + 1, e,
                              extra={"fields": {"event": "sink.failed", "sink": kind, "count": n + 1}})

    def _filter(self, ev: np.ndarray) -> np.ndarray:
        t = ev["t"]
        prev = self._last_t
        if prev is None:
            prev = int(t[0])
        if int(t[0]) < prev or (len(t) > 1 and bool(np.any(t[1:] < t[:-1]))):
            running = np.maximum.accumulate(np.maximum(t, np.uint64(prev)))
            before = np.concatenate([np.array([prev], np.uint64), running[:-1]])
            keep = t >= before
            self.counters.add("events_dropped", int((~keep).sum()), reason="late")
            ev = ev[keep]
        if self._limits is not None and len(ev):
            c, h, w = self._limits
            ok = (ev["x"] < w) & (ev["y"] < h) & (ev["p"] < c)
            if not ok.all():
                self.counters.add("events_dropped", int((~ok).sum()), reason="out_of_range")
                ev = ev[ok]
        return ev

    def _reset(self, session: int) -> None:
        if self._session is not None:
            self.counters.add("stream_resets")
            log.info("sensor session changed: stream restarts", extra={"fields": {"event": "stream.reset",
                                                                                "session": session}})
        self._session = session
        # a new sensor session restarts time, not learning: weights and thresholds carry over
        learned = self.engine.learned_state()
        self.engine.reset()
        self.engine.set_learned_state(learned)
        self._win_start = None
        self._last_t = None
        self._spikes = []
        self._win_events = 0
        self._synops_mark = 0

    def _feed(self, ev: np.ndarray) -> None:
        if len(ev):
            s = self.engine.feed(ev)
            if len(s):
                self._spikes.append(s)
            self._win_events += len(ev)
            self.counters.add("events_in", len(ev))

    def _close_window(self, received_ns: int) -> WindowResult:
        assert self._win_start is not None
        end = self._win_start + self.window_us
        s = self.engine.advance(end - 1)
        if len(s):
            self._spikes.append(s)
        spikes = np.concatenate(self._spikes, dtype=SPIKE_DTYPE) if self._spikes else _NO_SPIKES
        counts = np.bincount(spikes["neuron"], minlength=self._n_out) if len(spikes) else \
            np.zeros(self._n_out, np.int64)
        decision = int(np.argmax(counts)) if len(spikes) else None
        synops = int(self.engine.stats()["synops"])
        latency = (now_ns() - received_ns) / 1000.0
        r = WindowResult(self._win_start, end, spikes, counts, decision,
                         self.labels[decision] if decision is not None and decision < len(self.labels) else None,
                         self._win_events, synops - self._synops_mark, latency, model_generation=self.model_generation)
        self._synops_mark = synops
        self._spikes = []
        self._win_events = 0
        self._win_start = end
        self.counters.add("windows")
        if decision is not None:
            self.counters.add("decisions")
        self.latencies_us.append(latency)
        r.counters = self.snapshot()
        with self._lock:
            pending, labels = self._pending_model, self._pending_labels
            self._pending_model = None
        if pending is not None:
            self._install(pending, labels, end)
        return r

    def _install(self, model: Model, labels: Optional[Sequence[str]], t_us: int) -> None:
        engine = Engine(model)
        if t_us > 0:
            engine.advance(t_us - 1)
        self.model, self.engine = model, engine
        self._n_out = model.output_size
        self.labels = _labels_of(model, labels)
        self._synops_mark = 0
        self.model_generation += 1
        self.counters.add("model_swaps")
        log.info("model swapped at t=%d us", t_us, extra={"fields": {"event": "stream.model_swapped", "t_us": t_us,
                                                                   "generation": self.model_generation}})

    def _process(self, pkt: Packet) -> List[WindowResult]:
        out: List[WindowResult] = []
        if pkt.session != self._session:
            self._reset(pkt.session)
        ev = pkt.events
        if len(ev):
            ev = self._filter(ev)
        reached = pkt.t_reached_us
        if len(ev):
            last = int(ev["t"][-1])
            self._last_t = last
            reached = last if reached is None else max(reached, last)
        if self._win_start is None:
            if not len(ev):
                return out
            first = int(ev["t"][0])
            self._win_start = first - first % self.window_us
            if self._win_start > 0:
                self.engine.advance(self._win_start - 1)
        if reached is not None and self._last_t is not None and reached > self._last_t:
            self._last_t = reached
        W = self.window_us
        i = 0
        t = ev["t"]
        while reached is not None and self._win_start + W <= reached:
            end = self._win_start + W
            j = int(np.searchsorted(t, np.uint64(end))) if len(ev) else 0
            self._feed(ev[i:j])
            i = j
            busy = self._win_events > 0 or bool(self._spikes)
            r = self._close_window(pkt.received_ns)
            if busy or len(r.spikes) or self.emit_idle:
                out.append(r)
            else:
                self.counters.add("windows_idle")
            if not self.emit_idle and self.engine.is_idle():
                horizon = int(t[i]) if i < len(ev) else reached  # no input before the next event
                skip = (min(horizon, reached) - self._win_start) // W
                if skip > 0:  # nothing can happen in these windows: jump over them at once
                    self.counters.add("windows", skip)
                    self.counters.add("windows_idle", skip)
                    self._win_start += skip * W
        self._feed(ev[i:])
        return out

    def _flush(self) -> List[WindowResult]:
        """At the end of a finite source: closes the open window if anything happened in it."""
        if self._win_start is None or (self._win_events == 0 and not self._spikes and self.engine.is_idle()):
            return []
        return [self._close_window(now_ns())]

    def latency_percentiles(self, qs: Sequence[float] = (50, 90, 99)) -> Dict[str, float]:
        lat = list(self.latencies_us)
        if not lat:
            return {f"p{q:g}": 0.0 for q in qs}
        arr = np.percentile(np.asarray(lat), qs)
        return {f"p{q:g}": round(float(v), 1) for q, v in zip(qs, arr)}


def stream(source: Any, model: Union[Model, str, "os.PathLike[str]"], window_us: Optional[int] = None,
           **options: Any) -> Iterator[WindowResult]:
    """Yields one ``WindowResult`` per window of ``window_us`` microseconds of sensor time.

    ``source``: a ``snnedge.devices`` source, a spec string for ``open_source`` (pyserial URL
    or device path, ``udp://host:port``, ``aestream+udp://host:port``, a ``.npy``/``.npz``
    recording), an event array or any iterable of event arrays. ``model``: a ``Model`` or a
    path. Options: ``queue_events``, ``policy`` (``block``, ``drop_oldest``,
    ``drop_newest``), ``emit_idle``, ``labels``, ``sinks``. Closing the generator stops the
    source.
    """
    s = Stream(source, model, window_us, **options)
    try:
        yield from s
    finally:
        s.close()


async def astream(source: Any, model: Union[Model, str, "os.PathLike[str]"], window_us: Optional[int] = None,
                  **options: Any) -> AsyncIterator[WindowResult]:
    """The async twin of ``stream``: the source and the engine run in worker threads, the
    event loop only awaits results."""
    s = Stream(source, model, window_us, **options)
    it = iter(s)
    loop = asyncio.get_running_loop()
    end = object()
    try:
        while True:
            r = await loop.run_in_executor(None, next, it, end)
            if r is end:
                break
            yield r  # type: ignore[misc]
    finally:
        s.close()
        await loop.run_in_executor(None, s.join, 2.0)


def pipe(results: Iterable[WindowResult], *sinks: Any) -> Iterator[WindowResult]:
    """Passes results through to ``sinks`` (each gets ``emit(result)``) and yields them on."""
    try:
        for r in results:
            for s in sinks:
                s.emit(r)
            yield r
    finally:
        for s in sinks:
            s.flush()


__all__ = ["Stream", "WindowResult", "BoundedQueue", "stream", "astream", "pipe", "POLICIES", "check_model_for_sensor"]
