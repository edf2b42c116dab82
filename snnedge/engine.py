"""The streaming engine: numpy events in, numpy spikes out (see docs/numerics.md for timing)."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, Optional, Union

import numpy as np

from . import _core
from .events import EVENT_DTYPE, SPIKE_DTYPE, as_events
from .errors import ShapeError
from .model import Model


_U8 = np.dtype(np.uint8)  # a dtype object: np.frombuffer converts np.uint8 on every call
_NO_BYTES = np.zeros(0, _U8)
_NO_BYTES.flags.writeable = False
_NO_SPIKES = np.zeros(0, SPIKE_DTYPE)


def _spikes(raw: bytearray) -> np.ndarray:
    # Most calls finish no output spike: a fresh view of one empty array is cheaper than
    # np.frombuffer (and behaves the same: empty, not owning its data).
    return np.frombuffer(raw, SPIKE_DTYPE) if raw else _NO_SPIKES.view()


def _event_bytes(events: Any) -> np.ndarray:
    """The bytes of the events as uint8, without a copy for EVENT_DTYPE arrays."""
    if not (type(events) is np.ndarray and events.dtype is EVENT_DTYPE and events.flags.c_contiguous):
        events = as_events(events)
    return np.frombuffer(events, _U8) if events.size else _NO_BYTES


class Engine:
    """One stream through a ``Model``.

    Events (``EVENT_DTYPE``, sorted by ``t``; Tonic and faery arrays are converted) map to
    ticks of ``model.tick_us`` microseconds. ``feed`` consumes any chunk and returns the
    output spikes that became final; the newest tick stays open until a later event or
    ``advance`` closes it, so the concatenated output is the same however the stream is cut.
    Long calls release the GIL and can be interrupted with Ctrl-C.
    """

    def __init__(self, model: Model) -> None:
        if not isinstance(model, Model):
            raise TypeError(f"Engine needs a snnedge.Model, got {type(model).__name__}")
        self._model = model
        self._core = _core.Engine(model._compiled)

    @property
    def model(self) -> Model:
        return self._model

    @property
    def open_tick(self) -> int:
        """First tick not yet complete (every earlier tick is final)."""
        return self._core.open_tick

    @property
    def time_us(self) -> int:
        """Start time of the first open tick, in microseconds."""
        return self._core.open_tick * self._model.tick_us

    def feed(self, events: Any) -> np.ndarray:
        """Consumes a chunk of events; returns the output spikes (``SPIKE_DTYPE``) now final.

        A chunk with a problem (unsorted or late timestamps, events outside the input layout)
        raises before anything of it is consumed.
        """
        # The body of _event_bytes and _spikes, inlined: streaming calls this once per chunk
        # (often a few hundred events), where two extra Python calls are a measurable share.
        if type(events) is np.ndarray and events.dtype is EVENT_DTYPE:
            try:
                data = np.frombuffer(events, _U8)  # raises for a non-contiguous view
            except ValueError:
                data = np.frombuffer(np.ascontiguousarray(events), _U8)
        else:
            data = _event_bytes(events)
        raw = self._core.feed(data)
        return np.frombuffer(raw, SPIKE_DTYPE) if raw else _NO_SPIKES.view()

    def advance(self, t_us: int) -> np.ndarray:
        """Declares time ``t_us`` reached: computes every tick up to and including the one that
        contains it, and returns their output spikes. Later events must fall in later ticks."""
        if t_us < 0:
            raise ValueError(f"advance: t_us must be >= 0, got {t_us}")
        return _spikes(self._core.advance(int(t_us)))

    def run(self, events: Any) -> np.ndarray:
        """``feed`` plus ``advance`` to the last event's tick: the whole output for ``events``."""
        return _spikes(self._core.run(_event_bytes(events)))

    def reset(self) -> None:
        """Back to the fresh state: zero states, time at tick 0, counters cleared."""
        self._core.reset()

    def is_idle(self) -> bool:
        """True when no neuron is moving on its own and no delayed input is waiting."""
        return self._core.is_idle()

    def state(self, layer: str) -> Dict[str, np.ndarray]:
        """Copies of a layer's states, shaped like the layer, at the end of the last complete
        tick: ``v`` (membrane), and where the model has them ``i`` (current), ``theta``
        (adaptive threshold offset) and ``refractory`` (ticks left)."""
        shape = self._model.layer_shape(layer)
        return {k: np.asarray(v).reshape(shape) for k, v in self._core.state(layer).items()}

    # ---- checkpoints -----------------------------------------------------------------------

    def checkpoint(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the whole mutable state (states, time, held-back events, delayed input, learned
        weights and traces, counters) to ``path`` atomically: a temporary file in the same
        directory, fsync, rename, fsync of the directory. A crash at any moment leaves either the
        previous checkpoint or the new one, never a mix."""
        data = self._core.checkpoint_bytes()
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        # named after the target, so that what a crash leaves behind can be found and removed
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.snnc-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @classmethod
    def restore(cls, model: Model, path: Union[str, "os.PathLike[str]"]) -> "Engine":
        """An engine in the state of a checkpoint written for ``model`` (checked): it continues
        bit for bit as the engine that wrote it would have."""
        with open(path, "rb") as f:
            data = f.read()
        eng = cls.__new__(cls)
        eng._model = model
        eng._core = _core.Engine.from_checkpoint(model._compiled, data)
        return eng

    # ---- learning ------------------------------------------------------------------------

    def set_learning(self, connection: str, enabled: bool) -> None:
        """Turns learning on or off on a plastic connection (its traces freeze while off)."""
        self._core.set_learning(connection, bool(enabled))

    def set_learning_rates(self, connection: str, a_plus: Optional[int] = None, a_minus: Optional[int] = None) -> None:
        """Changes the potentiation and/or depression rate of a plastic connection."""
        self._core.set_learning_rates(connection, a_plus, a_minus)

    def weights(self, connection: str) -> np.ndarray:
        """The current weights of a plastic connection (int32): ``[out, in]`` for a dense one,
        ``[nnz]`` in the order of the model's synapses for a sparse one."""
        shape, w = self._core.weights(connection)
        return np.asarray(w).reshape(shape)

    def set_weights(self, connection: str, weights: Any) -> None:
        """Replaces the weights of a plastic connection (integers within its bounds, in the
        shape :meth:`weights` returns)."""
        w = np.asarray(weights)
        if not np.issubdtype(w.dtype, np.integer):
            raise TypeError(f"weights must be integers, got {w.dtype}")
        shape, _ = self._core.weights(connection)
        if w.shape != tuple(shape):
            raise ShapeError(f"weights of {connection!r}: expected shape {tuple(shape)}, got {w.shape}",
                             what=f"weights of {connection!r}", expected=str(tuple(shape)), found=str(w.shape))
        self._core.set_weights(connection, w.astype(np.int64).reshape(-1).tolist())

    def traces(self, connection: str) -> Dict[str, np.ndarray]:
        """The pre- and post-synaptic traces of a plastic connection (1.0 = 32768)."""
        pre, post = self._core.traces(connection)
        return {"pre": np.asarray(pre), "post": np.asarray(post)}

    def reward(self, value: int, t_us: int) -> None:
        """Delivers a reward to the reward-modulated plastic connections in the tick that contains
        ``t_us`` (not before the first open tick). ``value`` is in Q8 (256 = 1.0); each weight
        then moves by its eligibility times the reward (docs/numerics.md, "Learning")."""
        self._core.reward(int(value), int(t_us))

    def normalize_weights(self, connection: str, target_sum: int) -> None:
        """Scales each target neuron's incoming weights to sum to ``target_sum`` (integer
        rounding as in docs/numerics.md)."""
        self._core.normalize_weights(connection, int(target_sum))

    def learned_state(self) -> Dict[str, Dict[str, np.ndarray]]:
        """What learning changed, as arrays: ``{"weights": {connection: weights},
        "theta": {layer: threshold offsets}}`` for the plastic connections and the layers with
        an adaptive threshold. :meth:`set_learned_state` writes it into another engine of the
        same model (after a reset, or one resumed from a checkpoint on a new time base)."""
        spec = self._model.spec
        weights = {c["name"]: self.weights(c["name"]) for c in spec["connections"] if c.get("plasticity")}
        theta = {l["name"]: self.state(l["name"])["theta"] for l in spec["layers"]
                 if int(l.get("adapt_increment", 0)) != 0 or l.get("theta_state")
                 or l.get("theta_init") is not None}
        return {"weights": weights, "theta": theta}

    def set_learned_state(self, state: Dict[str, Dict[str, Any]]) -> None:
        """Writes what :meth:`learned_state` returned (checked like ``set_weights`` and
        ``set_state``)."""
        for name, w in state.get("weights", {}).items():
            self.set_weights(name, w)
        for layer, theta in state.get("theta", {}).items():
            self.set_state(layer, theta=theta)

    def set_state(self, layer: str, **states: Any) -> None:
        """Writes layer states (``v``, ``i``, ``theta``, ``refractory``; integer arrays shaped like
        the layer) as the state at the end of the last complete tick."""
        for field, values in states.items():
            arr = np.asarray(values)
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"{field} must be integers, got {arr.dtype}")
            self._core.set_state(layer, field, arr.astype(np.int64).reshape(-1).tolist())

    def stats(self) -> Dict[str, Any]:
        """Counters: ticks, ticks_computed, input_events, synops, neuron_updates,
        output_spikes, layer_spikes (per layer)."""
        return self._core.stats()

    def __repr__(self) -> str:
        return f"Engine({self._model!r}, open_tick={self.open_tick})"


__all__ = ["Engine"]
