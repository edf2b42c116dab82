"""Building integer models in Python: layers, connections and the immutable ``Model``.

A model is a description with integer parameters only (``docs/numerics.md`` says what each
number means). It is checked and compiled by the Rust core when the ``Model`` is created, so
every inconsistency is reported at once, naming the layer or connection::

    import numpy as np, snnedge as se
    model = se.Model(
        input_shape=(2, 34, 34), tick_us=1000,
        layers=[se.LIF("hidden", (256,), decay_mem=58982, threshold=120),
                se.LIF("out", (10,), decay_mem=58982, threshold=60)],
        connections=[se.Dense("fc1", "input", "hidden", w1),    # int8 [out, in]
                     se.Dense("fc2", "hidden", "out", w2)],
    )

The same description round-trips through ``Model.spec`` (a plain dict), ``Model.from_spec``,
and the ``.snnm`` file (``Model.save`` / ``Model.load``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import msgpack  # type: ignore[import-untyped]
import numpy as np

from . import _core
from .errors import ModelError, ParameterOverflowError, ShapeError

Shape = Tuple[int, ...]
ArrayLike = Any

NEURON_KINDS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator")
DECAY_ONE = 65536

_DTYPES = {
    "int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
    "uint8": "u1", "uint16": "<u2", "uint32": "<u4",
}


def _tensor(name: str, what: str, values: ArrayLike, dtype: str) -> Dict[str, Any]:
    """Encodes an integer array as a spec tensor, checking that it is integral and fits ``dtype``."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ModelError(
            f"invalid model: {name}: {what} must be an integer array, found {arr.dtype} "
            "(quantize float networks first)",
            layer=name, problem=f"{what} is not integer",
        )
    info = np.iinfo(np.dtype(_DTYPES[dtype]))
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        bad = int(np.flatnonzero((arr.ravel() < info.min) | (arr.ravel() > info.max))[0])
        raise ParameterOverflowError(
            f"{name}: parameter {what} element {bad} = {arr.ravel()[bad]} does not fit its integer "
            f"format (expected {info.min}..={info.max})",
            layer=name, parameter=f"{what} element {bad}", value=str(arr.ravel()[bad]),
            range=f"{info.min}..={info.max}",
        )
    return {
        "dtype": dtype,
        "shape": [int(d) for d in arr.shape],
        "data": np.ascontiguousarray(arr, dtype=_DTYPES[dtype]).tobytes(),
    }


def _int(owner: str, what: str, v: Any) -> int:
    """An integer parameter (Python or numpy integer, or an integral float); anything else is a
    ModelError naming the layer or connection, not a numpy or int() error."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    hint = ""
    if isinstance(v, (float, np.floating)) and "decay" in what and 0.0 <= float(v) <= 1.0:
        hint = f" (decay factors are Q0.16 integers: round({float(v)} * 65536) = {round(float(v) * DECAY_ONE)})"
    raise ModelError(f"invalid model: {owner}: {what} must be an integer, found {v!r}{hint}",
                     layer=owner, problem=f"{what} is not an integer")


def _shape(owner: str, v: Any) -> List[int]:
    """A shape: a positive integer or a sequence of them."""
    dims = [v] if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
        raise ModelError(f"invalid model: {owner}: shape must be a tuple of positive integers, found {v!r}",
                         layer=owner, problem="bad shape")
    out = [_int(owner, "shape", d) for d in dims]
    if not out or any(d < 1 for d in out):
        raise ModelError(f"invalid model: {owner}: shape must be a tuple of positive integers, found {v!r}",
                         layer=owner, problem="bad shape")
    return out


def _weight_dtype(bits: int) -> str:
    return "int16" if bits == 16 else "int8"


def _pair(v: Any, owner: str = "", what: str = "value") -> List[int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return [int(v), int(v)]
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise ModelError(f"invalid model: {owner}: {what} must be an int or a pair, found {v!r}", layer=owner,
                         problem="bad pair")
    a = [_int(owner, what, x) for x in v]
    if len(a) != 2:
        raise ModelError(f"invalid model: {owner}: {what} must be an int or a pair, found {v!r}", layer=owner,
                         problem="bad pair")
    return a


@dataclass(frozen=True)
class Layer:
    """A layer of neurons with integer parameters (see docs/numerics.md, "Neuron models")."""

    name: str
    neuron: str
    shape: Shape
    decay_mem: Optional[int] = None
    decay_syn: Optional[int] = None
    threshold: Optional[int] = None
    reset: str = "subtract"
    v_reset: int = 0
    refractory: int = 0
    adapt_increment: int = 0
    adapt_decay: int = DECAY_ONE
    theta_state: bool = False
    state_bits: int = 24
    bias: Optional[ArrayLike] = None
    bias_syn: Optional[ArrayLike] = None
    theta_init: Optional[ArrayLike] = None

    def to_spec(self, extra_bias: Optional[np.ndarray] = None) -> Dict[str, Any]:
        if not isinstance(self.name, str):
            raise ModelError(f"invalid model: a layer's name must be a string, found {self.name!r} "
                             "(arguments are name, neuron kind, shape)", layer=str(self.name), problem="bad name")
        if not isinstance(self.neuron, str) or self.neuron not in NEURON_KINDS:
            raise ModelError(
                f"invalid model: {self.name}: unknown neuron kind {self.neuron!r} (expected one of {NEURON_KINDS})",
                layer=self.name, problem="unknown neuron kind",
            )
        spec: Dict[str, Any] = {
            "name": self.name,
            "neuron": self.neuron,
            "shape": _shape(self.name, self.shape),
            "reset": self.reset,
            "v_reset": _int(self.name, "v_reset", self.v_reset),
            "refractory": _int(self.name, "refractory", self.refractory),
            "adapt_increment": _int(self.name, "adapt_increment", self.adapt_increment),
            "adapt_decay": _int(self.name, "adapt_decay", self.adapt_decay),
            "theta_state": bool(self.theta_state),
            "state_bits": _int(self.name, "state_bits", self.state_bits),
        }
        for key in ("decay_mem", "decay_syn", "threshold"):
            val = getattr(self, key)
            if val is not None:
                spec[key] = _int(self.name, key, val)
        bias = None if self.bias is None else np.asarray(self.bias)
        if extra_bias is not None:
            bias = extra_bias if bias is None else np.broadcast_to(bias, extra_bias.shape) + extra_bias
        if bias is not None:
            spec["bias"] = _tensor(self.name, "bias", np.asarray(bias).reshape(-1), "int32")
        if self.bias_syn is not None:
            spec["bias_syn"] = _tensor(self.name, "bias_syn", np.asarray(self.bias_syn).reshape(-1), "int32")
        if self.theta_init is not None:
            spec["theta_init"] = _tensor(self.name, "theta_init", np.asarray(self.theta_init).reshape(-1), "int32")
        return spec


def IF(name: str, shape: Shape, threshold: int, **kw: Any) -> Layer:
    """Integrate-and-fire neurons (no leak)."""
    return Layer(name, "IF", tuple(_shape(name, shape)), threshold=threshold, **kw)


def LIF(name: str, shape: Shape, decay_mem: int, threshold: int, **kw: Any) -> Layer:
    """Leaky integrate-and-fire neurons; ``decay_mem`` is the per-tick factor in Q0.16."""
    return Layer(name, "LIF", tuple(_shape(name, shape)), decay_mem=decay_mem, threshold=threshold, **kw)


def CubaLIF(name: str, shape: Shape, decay_mem: int, decay_syn: int, threshold: int, **kw: Any) -> Layer:
    """Current-based LIF: a decaying synaptic current drives a leaky membrane."""
    return Layer(name, "CubaLIF", tuple(_shape(name, shape)), decay_mem=decay_mem, decay_syn=decay_syn, threshold=threshold, **kw)


def LI(name: str, shape: Shape, decay_mem: int, **kw: Any) -> Layer:
    """Leaky integrator readout (never spikes; read its potentials with Engine.state)."""
    return Layer(name, "LI", tuple(_shape(name, shape)), decay_mem=decay_mem, **kw)


def CubaLI(name: str, shape: Shape, decay_mem: int, decay_syn: int, **kw: Any) -> Layer:
    """Current-based leaky integrator readout (never spikes)."""
    return Layer(name, "CubaLI", tuple(_shape(name, shape)), decay_mem=decay_mem, decay_syn=decay_syn, **kw)


def Integrator(name: str, shape: Shape, **kw: Any) -> Layer:
    """Integrator readout without leak (never spikes)."""
    return Layer(name, "Integrator", tuple(_shape(name, shape)), **kw)


@dataclass(frozen=True)
class STDP:
    """Pair-based STDP on a dense connection (docs/numerics.md, "Learning").

    ``a_plus``/``a_minus``: weight change, in 2^-16 weight units, for a trace of 1.0 at a post
    (potentiation) or pre (depression) spike; ``trace_decay_pre``/``trace_decay_post``: Q0.16
    factors per tick (e.g. ``round(exp(-1/20) * 65536)`` for 20 ticks); ``rule``: ``"additive"``
    or ``"multiplicative"`` (weight-dependent); ``pairing``: ``"all_to_all"`` or ``"nearest"``;
    ``w_min``/``w_max``: weight bounds; ``seed``: of the stochastic rounding.
    ``eligibility_decay`` (Q0.16): reward-modulated STDP; pair changes accumulate in per-synapse
    eligibility traces and weights move only when ``Engine.reward`` delivers a reward.
    """

    a_plus: int
    a_minus: int
    trace_decay_pre: int
    trace_decay_post: int
    w_min: int
    w_max: int
    rule: str = "additive"
    pairing: str = "all_to_all"
    seed: int = 0
    enabled: bool = True
    eligibility_decay: Optional[int] = None

    def to_spec(self) -> Dict[str, Any]:
        return {k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v)
                for k, v in self.__dict__.items() if not (k == "eligibility_decay" and v is None)}


@dataclass(frozen=True)
class Dense:
    """All-to-all connection; ``weight`` is ``[out, in]`` (C-order neuron indices).

    ``bias`` (one value per target neuron) is added to the target layer's bias. ``delays``
    (``[out, in]``, ticks) gives every synapse its own extra delay.
    """

    name: str
    source: str
    target: str
    weight: ArrayLike
    shift: int = 0
    delay: int = 0
    delays: Optional[ArrayLike] = None
    weight_bits: int = 8
    bias: Optional[ArrayLike] = None
    plasticity: Optional[STDP] = None

    def to_spec(self) -> Dict[str, Any]:
        spec: Dict[str, Any] = {
            "kind": "Dense", "name": self.name, "source": self.source, "target": self.target,
            "weight": _tensor(self.name, "weight", self.weight, _weight_dtype(self.weight_bits)),
            "shift": _int(self.name, "shift", self.shift), "delay": _int(self.name, "delay", self.delay),
            "weight_bits": _int(self.name, "weight_bits", self.weight_bits),
        }
        if self.delays is not None:
            spec["delays"] = _tensor(self.name, "delays", self.delays, "uint32")
        if self.plasticity is not None:
            spec["plasticity"] = self.plasticity.to_spec()
        return spec


@dataclass(frozen=True)
class Conv2d:
    """2-D convolution; ``weight`` is ``[C_out, C_in, kh, kw]``; an input spike touches only
    the outputs whose window covers it."""

    name: str
    source: str
    target: str
    weight: ArrayLike
    stride: Union[int, Sequence[int]] = 1
    padding: Union[int, Sequence[int]] = 0
    shift: int = 0
    delay: int = 0
    weight_bits: int = 8
    plasticity: Optional[STDP] = None

    def to_spec(self) -> Dict[str, Any]:
        spec: Dict[str, Any] = {
            "kind": "Conv2d", "name": self.name, "source": self.source, "target": self.target,
            "weight": _tensor(self.name, "weight", self.weight, _weight_dtype(self.weight_bits)),
            "stride": _pair(self.stride, self.name, "stride"), "padding": _pair(self.padding, self.name, "padding"),
            "shift": _int(self.name, "shift", self.shift), "delay": _int(self.name, "delay", self.delay),
            "weight_bits": _int(self.name, "weight_bits", self.weight_bits),
        }
        if self.plasticity is not None:
            spec["plasticity"] = self.plasticity.to_spec()
        return spec


@dataclass(frozen=True)
class SumPool2d:
    """Channel-wise sum pooling: each spike adds ``weight`` to every window covering it."""

    name: str
    source: str
    target: str
    kernel: Union[int, Sequence[int]]
    stride: Optional[Union[int, Sequence[int]]] = None
    padding: Union[int, Sequence[int]] = 0
    weight: int = 1
    delay: int = 0
    mode: str = field(default="sum", init=False)

    def to_spec(self) -> Dict[str, Any]:
        spec: Dict[str, Any] = {
            "kind": "Pool2d", "name": self.name, "source": self.source, "target": self.target,
            "mode": self.mode, "kernel": _pair(self.kernel, self.name, "kernel"),
            "padding": _pair(self.padding, self.name, "padding"),
            "weight": _int(self.name, "weight", self.weight), "delay": _int(self.name, "delay", self.delay),
        }
        if self.stride is not None:
            spec["stride"] = _pair(self.stride, self.name, "stride")
        return spec


@dataclass(frozen=True)
class AvgPool2d(SumPool2d):
    """Channel-wise average pooling: each spike adds ``weight / (kh * kw)`` (rounded to
    nearest, ties away from zero) to every window covering it."""

    mode: str = field(default="avg", init=False)


@dataclass(frozen=True)
class Sparse:
    """Explicit synapses in CSR form: row ``s`` of ``indptr``/``indices``/``weights`` lists
    the targets of source neuron ``s``; ``delays`` gives each synapse an extra delay."""

    name: str
    source: str
    target: str
    indptr: ArrayLike
    indices: ArrayLike
    weights: ArrayLike
    delays: Optional[ArrayLike] = None
    shift: int = 0
    delay: int = 0
    weight_bits: int = 8
    plasticity: Optional[STDP] = None

    @classmethod
    def from_coo(cls, name: str, source: str, target: str, n_source: int, pre: ArrayLike, post: ArrayLike,
                 weights: ArrayLike, delays: Optional[ArrayLike] = None, **kw: Any) -> "Sparse":
        """Builds the CSR rows from (pre, post, weight[, delay]) lists of synapses."""
        pre = np.asarray(pre, dtype=np.int64)
        order = np.argsort(pre, kind="stable")
        counts = np.bincount(pre, minlength=n_source)
        if counts.size > n_source:
            raise ShapeError(f"connection {name!r}: a pre index is >= n_source = {n_source}",
                             what=f"connection {name!r} pre", expected=f"< {n_source}", found=str(int(pre.max())))
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return cls(name, source, target, indptr, np.asarray(post)[order], np.asarray(weights)[order],
                   None if delays is None else np.asarray(delays)[order], **kw)

    def to_spec(self) -> Dict[str, Any]:
        spec: Dict[str, Any] = {
            "kind": "Sparse", "name": self.name, "source": self.source, "target": self.target,
            "indptr": _tensor(self.name, "indptr", self.indptr, "uint32"),
            "indices": _tensor(self.name, "indices", self.indices, "uint32"),
            "weights": _tensor(self.name, "weights", self.weights, _weight_dtype(self.weight_bits)),
            "shift": _int(self.name, "shift", self.shift), "delay": _int(self.name, "delay", self.delay),
            "weight_bits": _int(self.name, "weight_bits", self.weight_bits),
        }
        if self.delays is not None:
            spec["delays"] = _tensor(self.name, "delays", self.delays, "uint32")
        if self.plasticity is not None:
            spec["plasticity"] = self.plasticity.to_spec()
        return spec


Connection = Union[Dense, Conv2d, SumPool2d, AvgPool2d, Sparse]


def _spec_to_plain(obj: Any) -> Any:
    """Spec with tensors as int lists (JSON-friendly)."""
    if isinstance(obj, dict):
        if set(obj) == {"dtype", "shape", "data"} and isinstance(obj["data"], (bytes, bytearray)):
            arr = np.frombuffer(obj["data"], dtype=_DTYPES[obj["dtype"]])
            return {"dtype": obj["dtype"], "shape": list(obj["shape"]), "data": arr.tolist()}
        return {k: _spec_to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_spec_to_plain(v) for v in obj]
    return obj


def tensor_array(t: Mapping[str, Any]) -> np.ndarray:
    """Decodes a spec tensor (bytes or int list) to a numpy array of its shape."""
    data = t["data"]
    if isinstance(data, (bytes, bytearray)):
        arr = np.frombuffer(data, dtype=_DTYPES[t["dtype"]]).astype(np.int64)
    else:
        arr = np.asarray(data, dtype=np.int64)
    return arr.reshape([int(d) for d in t["shape"]])


class Model:
    """An immutable network with integer parameters, checked and compiled by the core.

    Build it from layers and connections (``Model(input_shape, tick_us, layers,
    connections)``), from a spec dict (``Model.from_spec``) or from a ``.snnm`` file
    (``Model.load``). Any number of ``Engine`` objects can run one model.
    """

    def __init__(
        self,
        input_shape: Shape,
        tick_us: int,
        layers: Sequence[Layer],
        connections: Sequence[Connection],
        output: Optional[str] = None,
        name: str = "",
    ) -> None:
        extra: Dict[str, np.ndarray] = {}
        for l in layers:
            if not isinstance(l, Layer):
                raise ModelError(f"invalid model: layers must be snnedge layers (se.LIF(...), se.Layer(...)), "
                                 f"found {type(l).__name__}", layer="", problem="not a layer")
        sizes = {l.name: int(np.prod(_shape(l.name, l.shape))) for l in layers}
        for c in connections:
            b = getattr(c, "bias", None)
            if b is not None:
                if c.target not in sizes:
                    raise ModelError(f"invalid model: {c.name}: target {c.target!r} is not a layer",
                                     layer=c.name, problem="unknown target")
                b = np.broadcast_to(np.asarray(b, dtype=np.int64).reshape(-1), (sizes[c.target],))
                extra[c.target] = extra.get(c.target, 0) + b
        spec = {
            "name": name,
            "tick_us": _int("model", "tick_us", tick_us),
            "input_shape": _shape("input", input_shape),
            "layers": [l.to_spec(extra.get(l.name)) for l in layers],
            "connections": [c.to_spec() for c in connections],
        }
        if output is not None:
            spec["output"] = output
        self._init_compiled(_core.CompiledModel.from_spec_msgpack(msgpack.packb(spec, use_bin_type=True)))

    def _init_compiled(self, compiled: "_core.CompiledModel") -> None:
        self._compiled = compiled
        self._spec: Dict[str, Any] = msgpack.unpackb(compiled.spec_msgpack(), raw=False)
        self._metadata: Dict[str, str] = dict(compiled.metadata)

    @classmethod
    def _from_compiled(cls, compiled: "_core.CompiledModel") -> "Model":
        m = cls.__new__(cls)
        m._init_compiled(compiled)
        return m

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "Model":
        """Builds a model from a spec dict (tensors as bytes or as int lists, as in golden files)."""
        return cls._from_compiled(_core.CompiledModel.from_spec_msgpack(msgpack.packb(dict(spec), use_bin_type=True)))

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Model":
        """Reads a ``.snnm`` model file (magic, version and checksum are checked; nothing is executed)."""
        with open(path, "rb") as f:
            data = f.read()
        return cls._from_compiled(_core.CompiledModel.from_file_bytes(data))

    def with_metadata(self, **items: Any) -> "Model":
        """A copy of this model (sharing its compiled network) with metadata entries added;
        values are stored as text (dicts and lists as JSON)."""
        m = Model.__new__(Model)
        m._compiled, m._spec = self._compiled, self._spec
        m._metadata = dict(self._metadata)
        for k, v in items.items():
            m._metadata[str(k)] = v if isinstance(v, str) else json.dumps(v)
        return m

    def save(self, path: Union[str, os.PathLike], metadata: Optional[Mapping[str, str]] = None) -> None:
        """Writes a ``.snnm`` model file atomically (temporary file, fsync, rename), with the
        model's metadata, ``metadata`` on top, and the writing snnedge version."""
        meta = dict(self._metadata)
        meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
        meta["snnedge_version"] = _core.__version__
        data = self._compiled.to_file_bytes(meta)
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @property
    def spec(self) -> Dict[str, Any]:
        """The model description (tensors as little-endian bytes)."""
        return self._spec

    def to_plain(self) -> Dict[str, Any]:
        """The description with tensors as integer lists (for JSON)."""
        return _spec_to_plain(self._spec)

    @property
    def name(self) -> str:
        return self._compiled.name

    @property
    def tick_us(self) -> int:
        return self._compiled.tick_us

    @property
    def input_shape(self) -> Shape:
        return tuple(self._compiled.input_shape)

    @property
    def output(self) -> str:
        """Name of the output layer."""
        return self._compiled.output

    @property
    def layers(self) -> List[Tuple[str, str, Shape]]:
        """(name, neuron kind, shape) of each layer, in processing order."""
        return [(n, k, tuple(s)) for n, k, s in self._compiled.layers]

    def layer_shape(self, name: str) -> Shape:
        for n, _, s in self.layers:
            if n == name:
                return s
        from .errors import UnknownNameError
        raise UnknownNameError(f"no layer named {name!r}; the model has: {', '.join(n for n, _, _ in self.layers)}",
                               kind="layer", name=name, known=[n for n, _, _ in self.layers])

    @property
    def output_size(self) -> int:
        return int(np.prod(self.layer_shape(self.output)))

    @property
    def metadata(self) -> Dict[str, str]:
        """Text metadata: what a model file carried, or what ``with_metadata`` added."""
        return dict(self._metadata)

    @property
    def synapse_count(self) -> int:
        return self._compiled.synapse_count

    def __repr__(self) -> str:
        layers = ", ".join(f"{n}:{k}{list(s)}" for n, k, s in self.layers)
        return f"Model({self.name!r}, input={list(self.input_shape)}, tick_us={self.tick_us}, layers=[{layers}])"


def load_model(path: Union[str, os.PathLike]) -> Model:
    """Reads a ``.snnm`` model file (see docs/model-format.md); same as ``Model.load``."""
    return Model.load(path)


__all__ = [
    "load_model", "Model", "Layer", "IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator",
    "Dense", "STDP", "Conv2d", "SumPool2d", "AvgPool2d", "Sparse", "tensor_array", "DECAY_ONE", "NEURON_KINDS",
]
