"""Importing NIR graphs (the interchange format of snnTorch, Norse, Sinabs, Rockpool,
SpikingJelly, Lava-dl) into a ``FloatNetwork``.

What the importer does, and why (see ``../shared/reference/nir.md`` for the mistakes found in
today's importers):

- **Time is explicit.** ``dt`` is the step the network was trained with (NIR files do not say;
  snnTorch and the NIR paper graphs assume 1e-4 s, Sinabs has no time unit: use ``dt=1``).
  ``tick_us`` is how long one step lasts in the event stream (default: ``dt``).
- **Reset is explicit.** NIR neurons reset to ``v_reset``; a network trained with reset by
  subtraction loses that in the file, so ``reset="subtract"`` (or ``"value"``, the default)
  chooses, and the choice is recorded.
- **Every parameter counts**: ``tau``, ``r``, ``v_leak``, ``v_threshold``, ``v_reset``, and for
  CubaLIF ``tau_syn``, ``tau_mem``, ``w_in``; Affine biases; Delay nodes.
- **Linear chains are composed.** Between two neuron layers (or the input and a layer), any
  chain of Affine/Linear/Conv/Pool/Flatten/Scale/Delay nodes becomes one connection: a
  convolution where the chain is a convolution (a sum pooling before it is folded into its
  kernel), otherwise a dense matrix. Biases are propagated through the rest of the chain.
- **Cycles** (recurrent weights) are found by a depth-first search from the input; the edge
  that closes a cycle carries the previous step's spikes (a connection with delay 1).

Anything unsupported or inconsistent raises ``NIRImportError`` naming the node and the problem.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ModelError
from .floatnet import FloatConnection, FloatLayer, FloatNetwork

NEURONS = {"IF": "IF", "LIF": "LIF", "CubaLIF": "CubaLIF", "LI": "LI", "CubaLI": "CubaLI", "I": "Integrator",
           "Threshold": "Threshold"}
LINEAR = ("Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale", "Delay")
#: Largest dense matrix a composed chain may become (entries).
MAX_DENSE = 1 << 26


class NIRImportError(ModelError):
    """A NIR graph cannot be imported (attributes: node, problem)."""

    def __init__(self, node: str, problem: str) -> None:
        super().__init__(f"NIR node {node!r}: {problem}", layer=node, problem=problem)
        self.node = node


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _shape(t: Any) -> Optional[Tuple[int, ...]]:
    if t is None:
        return None
    a = np.asarray(t).reshape(-1)
    if a.size == 0:
        return None
    return tuple(int(d) for d in a)


def _strip_batch(shape: Tuple[int, ...]) -> Tuple[int, ...]:
    """Drops leading batch dimensions of size 1 beyond what a layer shape can have; a 2-D
    shape is NIR's (channels, length) of 1-D convolutions and becomes (C, 1, L)."""
    s = tuple(shape)
    while len(s) > 3 and s[0] == 1:
        s = s[1:]
    while len(s) == 2 and s[0] == 1:
        s = s[1:]
    if len(s) == 2:
        s = (s[0], 1, s[1])
    return s


# ---- graph flattening ---------------------------------------------------------------------

def _flatten_graph(graph: Any, prefix: str = "") -> Tuple[Dict[str, Any], List[Tuple[str, str]]]:
    """Nested graphs become dotted names; edges to a subgraph go to its Input nodes, edges from
    it leave from its Output nodes."""
    import nir

    nodes: Dict[str, Any] = {}
    edges: List[Tuple[str, str]] = []
    sub_in: Dict[str, List[str]] = {}
    sub_out: Dict[str, List[str]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            n2, e2 = _flatten_graph(node, full + ".")
            nodes.update(n2)
            edges.extend(e2)
            sub_in[full] = [k for k, v in n2.items() if isinstance(v, nir.Input) and k.count(".") == full.count(".") + 1]
            sub_out[full] = [k for k, v in n2.items() if isinstance(v, nir.Output) and k.count(".") == full.count(".") + 1]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        srcs = sub_out.get(a, [a])
        dsts = sub_in.get(b, [b])
        for s in srcs:
            for d in dsts:
                edges.append((s, d))
    return nodes, edges


def _bypass_io(nodes: Dict[str, Any], edges: List[Tuple[str, str]], top_inputs: List[str], top_outputs: List[str]):
    """Removes the Input/Output nodes of nested graphs (pass-throughs), keeping the top ones."""
    import nir

    inner = [k for k, v in nodes.items() if isinstance(v, (nir.Input, nir.Output)) and k not in top_inputs + top_outputs]
    for k in inner:
        preds = [a for a, b in edges if b == k]
        succs = [b for a, b in edges if a == k]
        edges = [(a, b) for a, b in edges if k not in (a, b)] + [(p, s) for p in preds for s in succs]
        del nodes[k]
    return nodes, edges


# ---- linear maps ----------------------------------------------------------------------------

@dataclass
class _Map:
    """A composed linear map on C-order vectors: identity, conv (with stride/padding), pool
    (sum or avg, not yet folded) or dense. ``in_shape``/``out_shape`` are (C, H, W) or (N,)."""

    kind: str
    in_shape: Tuple[int, ...]
    out_shape: Tuple[int, ...]
    weight: Optional[np.ndarray] = None
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    pool: Optional[Tuple[str, Tuple[int, int], Tuple[int, int], Tuple[int, int]]] = None
    delay: int = 0
    delays: Optional[np.ndarray] = None  # per source neuron (only at the start of a chain)

    @property
    def w(self) -> np.ndarray:
        """The weight of a dense or conv map (which always has one)."""
        if self.weight is None:
            raise AssertionError(f"{self.kind} map without a weight")
        return self.weight

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Applies the map to one C-order vector (used for biases and densification)."""
        from .floatnet import conv2d

        if self.kind == "identity":
            return x.copy()
        if self.kind == "dense":
            return self.weight @ x
        c, h, w = _chw(self.in_shape)
        if self.kind == "conv":
            return conv2d(x.reshape(c, h, w), self.w, self.stride, self.padding).reshape(-1)
        if self.pool is None:
            raise AssertionError(f"{self.kind} map without pool parameters")
        mode, k, s, p = self.pool
        kern = np.zeros((c, c, k[0], k[1]))
        for ch in range(c):
            kern[ch, ch] = 1.0 / (k[0] * k[1]) if mode == "avg" else 1.0
        return conv2d(x.reshape(c, h, w), kern, s, p).reshape(-1)

    def to_dense(self, node: str) -> np.ndarray:
        if self.kind == "dense":
            return self.w
        if self.n_in * self.n_out > MAX_DENSE:
            raise NIRImportError(node, f"composing this chain needs a {self.n_out}x{self.n_in} dense matrix "
                                       f"(more than {MAX_DENSE} entries); only conv after sum pooling is folded")
        eye = np.eye(self.n_in)
        return np.stack([self.apply(eye[j]) for j in range(self.n_in)], axis=1)


def _chw(shape: Tuple[int, ...]) -> Tuple[int, int, int]:
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (shape[0], 1, shape[1])
    return (1, 1, shape[0])


def _out_len(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_node(name: str, node: Any, in_shape: Tuple[int, ...]) -> _Map:
    """A Conv1d/Conv2d node as a conv map on (C, H, W) (Conv1d: H = 1); groups and dilation
    are expanded into a plain kernel (zeros), which is exact."""
    w = _arr(node.weight)
    is1d = type(node).__name__ == "Conv1d"
    if is1d:
        w = w[:, :, None, :]
    co, cig, kh, kw = w.shape
    stride = tuple(int(x) for x in np.broadcast_to(np.asarray(node.stride).reshape(-1), (1 if is1d else 2,)))
    pad = node.padding
    if isinstance(pad, str):
        raise NIRImportError(name, f"padding {pad!r} is not supported; give explicit padding")
    pad = tuple(int(x) for x in np.broadcast_to(np.asarray(pad).reshape(-1), (1 if is1d else 2,)))
    dil = tuple(int(x) for x in np.broadcast_to(np.asarray(node.dilation).reshape(-1), (1 if is1d else 2,)))
    if is1d:
        stride, pad, dil = (1,) + stride, (0,) + pad, (1,) + dil
    groups = int(node.groups)
    c, h, wd = _chw(in_shape)
    if cig * groups != c:
        raise NIRImportError(name, f"weight expects {cig * groups} input channels, the input has {c}")
    if groups > 1:
        full = np.zeros((co, c, kh, kw))
        og = co // groups
        for g in range(groups):
            full[g * og:(g + 1) * og, g * cig:(g + 1) * cig] = w[g * og:(g + 1) * og]
        w = full
    if dil != (1, 1):
        dk = np.zeros((co, c, dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1))
        dk[:, :, ::dil[0], ::dil[1]] = w
        w = dk
    oh = _out_len(h, w.shape[2], stride[0], pad[0])
    ow = _out_len(wd, w.shape[3], stride[1], pad[1])
    if oh < 1 or ow < 1:
        raise NIRImportError(name, f"kernel {w.shape[2:]} does not fit the input {in_shape}")
    out = (co, oh, ow)
    bias = getattr(node, "bias", None)
    m = _Map("conv", (c, h, wd), out, weight=w, stride=stride, padding=pad)  # type: ignore[arg-type]
    m_bias = None
    if bias is not None and np.asarray(bias).size:
        b = _arr(bias).reshape(-1)
        m_bias = np.repeat(b, oh * ow) if b.size == co else np.broadcast_to(b, (co * oh * ow,)).copy()
    return m, m_bias  # type: ignore[return-value]


def _pool_node(name: str, node: Any, in_shape: Tuple[int, ...]) -> _Map:
    k = tuple(int(x) for x in np.broadcast_to(np.asarray(node.kernel_size).reshape(-1), (2,)))
    s = tuple(int(x) for x in np.broadcast_to(np.asarray(node.stride).reshape(-1), (2,)))
    p = tuple(int(x) for x in np.broadcast_to(np.asarray(node.padding).reshape(-1), (2,)))
    c, h, w = _chw(in_shape)
    out = (c, _out_len(h, k[0], s[0], p[0]), _out_len(w, k[1], s[1], p[1]))
    mode = "avg" if type(node).__name__ == "AvgPool2d" else "sum"
    return _Map("pool", (c, h, w), out, pool=(mode, k, s, p))  # type: ignore[arg-type]


def _compose(name: str, first: _Map, second: _Map) -> _Map:
    """second ∘ first."""
    if first.kind == "identity":
        out = second
        out.in_shape = first.in_shape if second.kind == "dense" else second.in_shape
        out.delay += first.delay
        out.delays = first.delays if second.delays is None else second.delays
        return out
    if second.kind == "identity":
        first.out_shape = second.out_shape
        first.delay += second.delay
        return first
    if first.kind == "pool" and second.kind == "conv" and first.pool is not None:
        mode, k, s, p = first.pool
        c, h, w = first.in_shape
        if k == s and p == (0, 0) and h % k[0] == 0 and w % k[1] == 0:
            # conv over a k-pooled grid == conv with the kernel repeated k times, stride and
            # padding multiplied by k (exact when the pool covers the input without remainder)
            kern = np.repeat(np.repeat(second.w, k[0], axis=2), k[1], axis=3)
            if mode == "avg":
                kern = kern / (k[0] * k[1])
            stride = (second.stride[0] * k[0], second.stride[1] * k[1])
            pad = (second.padding[0] * k[0], second.padding[1] * k[1])
            return _Map("conv", first.in_shape, second.out_shape, weight=kern, stride=stride, padding=pad,
                        delay=first.delay + second.delay, delays=first.delays)
    dense = second.to_dense(name) @ first.to_dense(name)
    return _Map("dense", first.in_shape, second.out_shape, weight=dense, delay=first.delay + second.delay,
                delays=first.delays)


def _linear_map(name: str, node: Any, in_shape: Tuple[int, ...]) -> Tuple[_Map, Optional[np.ndarray]]:
    """The map of one linear node on an input of ``in_shape``, and its bias (output C-order)."""
    kind = type(node).__name__
    n_in = int(np.prod(in_shape))
    if kind in ("Affine", "Linear"):
        w = _arr(node.weight)
        if w.ndim != 2 or w.shape[1] != n_in:
            raise NIRImportError(name, f"weight {w.shape} does not take the {n_in} inputs arriving here {in_shape}")
        bias = _arr(node.bias).reshape(-1) if kind == "Affine" else None
        if bias is not None and bias.size not in (1, w.shape[0]):
            raise NIRImportError(name, f"bias of {bias.size} values for {w.shape[0]} outputs")
        if bias is not None:
            bias = np.broadcast_to(bias, (w.shape[0],)).copy()
        return _Map("dense", in_shape, (w.shape[0],), weight=w), bias
    if kind in ("Conv1d", "Conv2d"):
        return _conv_node(name, node, in_shape)  # type: ignore[return-value]
    if kind in ("SumPool2d", "AvgPool2d"):
        return _pool_node(name, node, in_shape), None
    if kind == "Flatten":
        return _Map("identity", in_shape, (n_in,)), None
    if kind == "Scale":
        s = np.broadcast_to(_arr(node.scale).reshape(-1), (n_in,))
        return _Map("dense", in_shape, in_shape, weight=np.diag(s)), None
    raise NIRImportError(name, f"{kind} is not a linear node")


# ---- the importer ---------------------------------------------------------------------------

def _read(path_or_graph: Any) -> Tuple[Any, Dict[str, Any]]:
    import nir

    info: Dict[str, Any] = {}
    if isinstance(path_or_graph, (str, os.PathLike)):
        path = os.fspath(path_or_graph)
        with open(path, "rb") as f:
            info["source_sha256"] = hashlib.sha256(f.read()).hexdigest()
        info["source"] = os.path.basename(path)
        try:
            graph = nir.read(path)
        except Exception as e:  # nir's type checker rejects some real exports (Rockpool)
            try:
                graph = nir.read(path, type_check=False)
                info["type_check"] = f"skipped: {e}"
            except Exception as e2:
                raise NIRImportError(path, f"cannot read the file: {e2}") from e2
        return graph, info
    if isinstance(path_or_graph, nir.NIRGraph):
        return path_or_graph, info
    raise TypeError(f"import_nir needs a path or a nir.NIRGraph, got {type(path_or_graph).__name__}")


def import_nir(path_or_graph: Any, dt: float, tick_us: Optional[int] = None, reset: Optional[str] = None,
               framework: Optional[str] = None) -> FloatNetwork:
    """Imports a NIR graph (file or ``nir.NIRGraph``) as a ``FloatNetwork``.

    ``dt``: the training time step in seconds. ``tick_us``: the length of one step in the
    event stream (default ``dt``). ``reset``: ``"value"`` (reset to ``v_reset``, NIR's
    semantics, the default) or ``"subtract"`` (the threshold is subtracted), for every spiking
    layer. ``framework``: recorded in the metadata.
    """
    import nir

    if not dt or dt <= 0:
        raise ValueError(f"dt must be a positive time step in seconds, got {dt!r}")
    reset = reset or "value"
    if reset in ("zero", "to_value", "value"):
        reset = "value"
    elif reset != "subtract":
        raise ValueError(f"reset must be 'value' or 'subtract', got {reset!r}")
    graph, info = _read(path_or_graph)
    nodes, edges = _flatten_graph(graph)
    top_in = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    top_out = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(top_in) != 1:
        raise NIRImportError("<graph>", f"expected exactly one Input node, found {top_in}")
    if len(top_out) != 1:
        raise NIRImportError("<graph>", f"expected exactly one Output node, found {top_out}")
    nodes, edges = _bypass_io(nodes, edges, top_in, top_out)
    inp, outp = top_in[0], top_out[0]
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in NEURONS and kind not in LINEAR and kind not in ("Input", "Output"):
            raise NIRImportError(name, f"{kind} is not supported (supported: {sorted(NEURONS) + list(LINEAR)})")

    # Input shape.
    in_type = getattr(nodes[inp], "input_type", {}) or {}
    in_shape = _shape(next(iter(in_type.values()), None)) if in_type else None
    if in_shape is None:
        raise NIRImportError(inp, "the Input node declares no shape")
    in_shape = _strip_batch(in_shape)

    succ: Dict[str, List[str]] = {k: [] for k in nodes}
    pred: Dict[str, List[str]] = {k: [] for k in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise NIRImportError(a if a not in nodes else b, "an edge refers to a node that does not exist")
        succ[a].append(b)
        pred[b].append(a)

    # Back edges (close a cycle) by depth-first search from the input, in edge order.
    back: set = set()
    state: Dict[str, int] = {}
    stack = [(inp, iter(succ[inp]))]
    state[inp] = 1
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            state[node] = 2
            stack.pop()
            continue
        if state.get(nxt) == 1:
            back.add((node, nxt))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(succ[nxt])))
    unreached = [k for k in nodes if k not in state]
    if unreached:
        raise NIRImportError(unreached[0], "not reachable from the Input node")

    # Shapes: propagate along forward edges in topological order.
    shapes: Dict[str, Tuple[int, ...]] = {inp: in_shape}
    order: List[str] = []
    indeg = {k: sum(1 for a in pred[k] if (a, k) not in back) for k in nodes}
    ready = [inp]
    while ready:
        k = ready.pop(0)
        order.append(k)
        for b in succ[k]:
            if (k, b) in back:
                continue
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    for k in order:
        if k == inp:
            continue
        ins = [shapes[a] for a in pred[k] if (a, k) not in back and a in shapes]
        if not ins:
            raise NIRImportError(k, "no input shape could be derived")
        s_in = ins[0]
        node = nodes[k]
        kind = type(node).__name__
        if kind in NEURONS:
            shapes[k] = _strip_batch(s_in) if len(s_in) > 1 else s_in
            declared = _neuron_shape(node)
            if declared is not None and int(np.prod(declared)) != int(np.prod(shapes[k])):
                raise NIRImportError(k, f"parameters have shape {declared}, the input arriving here has {shapes[k]}")
            if declared is not None and len(declared) in (1, 3):
                shapes[k] = declared
        elif kind in ("Output", "Delay"):
            shapes[k] = s_in
        else:
            m, _ = _linear_map(k, node, s_in)
            shapes[k] = m.out_shape

    # Layers: every neuron node, plus a pass-through readout when a linear node feeds the Output.
    layers: List[FloatLayer] = []
    layer_of: Dict[str, str] = {}
    for k in order:
        node = nodes[k]
        kind = type(node).__name__
        if kind in NEURONS:
            layers.append(_neuron_layer(k, node, shapes[k], reset, dt))
            layer_of[k] = k
    out_preds = [a for a in pred[outp]]
    if len(out_preds) != 1:
        raise NIRImportError(outp, f"the Output node must have one input, it has {out_preds}")
    output_layer = out_preds[0]
    if output_layer not in layer_of:
        # a linear readout: an LI layer with tau = dt gives v = r * x every step
        name = f"{output_layer}.readout"
        n = int(np.prod(shapes[output_layer]))
        layers.append(FloatLayer(name, "LI", shapes[output_layer],
                                 {"tau": np.full(n, dt), "r": np.ones(n), "v_leak": np.zeros(n)}, reset, "<readout>"))
        layer_of[name] = name
        pred[name] = [output_layer]
        output_layer = name
        order.append(name)

    # Connections: walk back from every layer through linear/delay nodes to the sources.
    conns: List[FloatConnection] = []
    for l in layers:
        paths: List[List[str]] = []

        def walk(node: str, path: List[str]) -> None:
            for a in pred[node]:
                if a == inp or a in layer_of:
                    paths.append([a] + path)
                elif a in path:
                    raise NIRImportError(a, "a cycle through linear nodes only (no neuron on it) cannot be simulated")
                elif type(nodes[a]).__name__ in LINEAR:
                    walk(a, [a] + path)
                else:
                    raise NIRImportError(a, f"cannot route {type(nodes[a]).__name__} into {l.name}")

        walk(l.name, [l.name])
        for path in paths:
            conns.append(_path_connection(path, nodes, shapes, back, inp, dt, len(conns)))
        # biases of linear nodes reaching this layer through linear-only chains
        bias = _reaching_bias(l.name, nodes, pred, shapes, inp, layer_of)
        if bias is not None:
            l.params["bias"] = bias
    # layer order: topological over same-step connections
    layer_names = [l.name for l in layers]
    net = FloatNetwork(input_shape=tuple(in_shape), layers=_topo(layers, conns), connections=conns,
                       output=output_layer, dt=float(dt), tick_us=int(tick_us or max(1, round(dt * 1e6))),
                       reset=reset, metadata=dict(info))
    net.metadata.update({"dt": float(dt), "reset": reset, "framework": framework or "", "nodes": len(nodes),
                         "layers": layer_names})
    return net


def _neuron_shape(node: Any) -> Optional[Tuple[int, ...]]:
    for key in ("v_threshold", "tau", "tau_mem", "r"):
        if hasattr(node, key):
            a = np.asarray(getattr(node, key))
            if a.ndim >= 1 and a.size > 1:
                return _strip_batch(tuple(int(d) for d in a.shape))
    return None


def _neuron_layer(name: str, node: Any, shape: Tuple[int, ...], reset: str, dt: float) -> FloatLayer:
    kind = NEURONS[type(node).__name__]
    n = int(np.prod(shape))
    params: Dict[str, np.ndarray] = {}

    def get(key: str, default: Optional[float] = None) -> np.ndarray:
        if hasattr(node, key) and getattr(node, key) is not None:
            a = _arr(getattr(node, key)).reshape(-1)
        elif default is not None:
            a = np.array([default])
        else:
            raise NIRImportError(name, f"{kind} needs {key}")
        if a.size not in (1, n):
            raise NIRImportError(name, f"{key} has {a.size} values for {n} neurons")
        return np.broadcast_to(a, (n,)).copy()

    if kind in ("LIF", "LI"):
        params["tau"] = get("tau")
    if kind in ("CubaLIF", "CubaLI"):
        params["tau_syn"] = get("tau_syn")
        params["tau_mem"] = get("tau_mem")
        params["w_in"] = get("w_in", 1.0)
    if kind != "Threshold":
        params["r"] = get("r", 1.0)
    if kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
        params["v_leak"] = get("v_leak", 0.0)
    if kind in ("IF", "LIF", "CubaLIF"):
        params["v_threshold"] = get("v_threshold")
    if kind == "Threshold":
        params["v_threshold"] = get("threshold")
    if kind in ("IF", "LIF", "CubaLIF"):
        params["v_reset"] = get("v_reset", 0.0)
    for key, val in params.items():
        if not np.all(np.isfinite(val)):
            raise NIRImportError(name, f"{key} has non-finite values")
        if key.startswith("tau") and np.any(val <= 0):
            raise NIRImportError(name, f"{key} must be positive")
    return FloatLayer(name, kind, tuple(shape), params, reset, name)


def _delay_steps(name: str, node: Any, dt: float, n: int) -> np.ndarray:
    d = np.broadcast_to(_arr(node.delay).reshape(-1), (n,))
    steps = np.round(d / dt)
    if np.any(steps < 0) or np.any(np.abs(steps * dt - d) > 1e-6 * max(1.0, float(np.abs(d).max()))):
        raise NIRImportError(name, f"delays {np.unique(d)[:4]} s are not whole multiples of dt = {dt}")
    return steps.astype(np.int64)


def _path_connection(path: List[str], nodes: Dict[str, Any], shapes: Dict[str, Tuple[int, ...]], back: set,
                     inp: str, dt: float, k: int) -> FloatConnection:
    src, target = path[0], path[-1]
    src_shape = shapes[src]
    m = _Map("identity", src_shape, src_shape)
    recurrent = any((a, b) in back for a, b in zip(path, path[1:]))
    for i, name in enumerate(path[1:-1]):
        node = nodes[name]
        if type(node).__name__ == "Delay":
            steps = _delay_steps(name, node, dt, m.n_out)
            if np.all(steps == steps[0]):
                m.delay += int(steps[0])
            elif m.kind == "identity":
                m.delays = steps if m.delays is None else m.delays + steps
            else:
                raise NIRImportError(name, "delays that differ per element are supported only right after a neuron layer")
            continue
        op, _ = _linear_map(name, node, m.out_shape)
        m = _compose(name, m, op)
    if int(np.prod(m.out_shape)) != int(np.prod(shapes[target])):
        raise NIRImportError(target, f"receives {m.out_shape} from {src!r} but has shape {shapes[target]}")
    name = "->".join(p for p in path)
    delay = m.delay + (1 if recurrent else 0)
    if m.kind == "conv" and len(shapes[target]) == 3:
        return FloatConnection(name, "input" if src == inp else src, target, "conv", m.w, m.stride,
                               m.padding, delay, m.delays, recurrent, tuple(path[1:-1]))
    if m.kind == "identity":
        w = np.eye(m.n_in)
    else:
        w = m.to_dense(target)
    return FloatConnection(name, "input" if src == inp else src, target, "dense", w, (1, 1), (0, 0), delay,
                           m.delays, recurrent, tuple(path[1:-1]))


def _reaching_bias(layer: str, nodes: Dict[str, Any], pred: Dict[str, List[str]], shapes: Dict[str, Tuple[int, ...]],
                   inp: str, layer_of: Dict[str, str]) -> Optional[np.ndarray]:
    """Sum of the biases of linear nodes upstream of ``layer`` (through linear-only chains),
    each carried through the rest of its chain."""
    total: Optional[np.ndarray] = None

    def chains(node: str, tail: List[str]) -> None:
        nonlocal total
        for a in pred[node]:
            if a == inp or a in layer_of:
                continue
            kind = type(nodes[a]).__name__
            if kind in ("Affine", "Conv1d", "Conv2d"):
                in_shape = shapes[pred[a][0]] if pred[a] else shapes[a]
                _, b = _linear_map(a, nodes[a], in_shape)
                if b is not None and np.any(b):
                    x = b.astype(np.float64)
                    shape = shapes[a]
                    for t in tail:
                        if type(nodes[t]).__name__ == "Delay":
                            continue
                        op, _ = _linear_map(t, nodes[t], shape)
                        x = op.apply(x)
                        shape = op.out_shape
                    total = x if total is None else total + x
            chains(a, [a] + tail)

    chains(layer, [])
    return total


def _topo(layers: List[FloatLayer], conns: List[FloatConnection]) -> List[FloatLayer]:
    names = [l.name for l in layers]
    deps = {n: {c.source for c in conns if c.target == n and c.delay == 0 and c.delays is None and c.source != "input"}
            for n in names}
    out: List[str] = []
    while len(out) < len(names):
        nxt = [n for n in names if n not in out and deps[n] <= set(out)]
        if not nxt:
            raise NIRImportError(names[0], "the layers form a loop without delay")
        out.append(nxt[0])
    by = {l.name: l for l in layers}
    return [by[n] for n in out]


__all__ = ["import_nir", "NIRImportError"]
