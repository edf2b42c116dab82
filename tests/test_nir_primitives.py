"""Every NIR primitive, on small synthetic graphs: the importer (which composes linear chains
into connections) must simulate exactly like a direct node-by-node executor of the NIR
equations written here, and the quantized model must agree with the float one."""
from __future__ import annotations

import numpy as np
import pytest

import snnedge as se

nir = pytest.importorskip("nir")
from snnedge.models import import_nir, quantize  # noqa: E402
from snnedge.models.floatnet import conv2d  # noqa: E402

DT = 1e-3


def direct(graph, frames: np.ndarray, dt: float, reset: str = "value"):
    """Node-by-node forward Euler of a flat NIR graph (no cycles), one step at a time."""
    nodes, edges = graph.nodes, graph.edges
    order, seen = [], set()

    def visit(n):
        if n in seen:
            return
        for a, b in edges:
            if b == n:
                visit(a)
        seen.add(n)
        order.append(n)

    for n in nodes:
        visit(n)
    state = {n: {} for n in nodes}
    delay_buf = {n: [] for n in nodes}
    outs = []
    in_shape = tuple(np.asarray(nodes["input"].input_type["input"]).tolist())
    for k in range(frames.shape[0]):
        val = {}
        for n in order:
            node = nodes[n]
            kind = type(node).__name__
            ins = [val[a] for a, b in edges if b == n]
            x = sum(ins) if ins else None
            if kind == "Input":
                val[n] = frames[k].reshape(in_shape)
            elif kind == "Output":
                val[n] = x
                outs.append(np.asarray(x).reshape(-1).copy())
            elif kind == "Affine":
                val[n] = node.weight @ x.reshape(-1) + node.bias
            elif kind == "Linear":
                val[n] = node.weight @ x.reshape(-1)
            elif kind == "Scale":
                val[n] = node.scale * x
            elif kind == "Flatten":
                val[n] = x.reshape(-1)
            elif kind == "Conv2d":
                y = conv2d(x, node.weight, node.stride, node.padding)
                val[n] = y + node.bias[:, None, None]
            elif kind == "Conv1d":
                y = conv2d(x[:, None, :], node.weight[:, :, None, :], (1, int(node.stride[0])), (0, int(node.padding[0])))
                val[n] = y[:, 0, :] + node.bias[:, None]
            elif kind in ("SumPool2d", "AvgPool2d"):
                c = x.shape[0]
                kern = np.zeros((c, c) + tuple(node.kernel_size))
                for i in range(c):
                    kern[i, i] = 1.0
                y = conv2d(x, kern, node.stride, node.padding)
                val[n] = y / np.prod(node.kernel_size) if kind == "AvgPool2d" else y
            elif kind == "Delay":
                steps = int(round(float(np.asarray(node.delay).reshape(-1)[0]) / dt))
                delay_buf[n].append(x)
                val[n] = delay_buf[n][-1 - steps] if len(delay_buf[n]) > steps else np.zeros_like(x)
            elif kind == "Threshold":
                val[n] = (x > node.threshold).astype(float)
            else:
                s = state[n]
                v = s.get("v", np.zeros(np.shape(x)))
                if kind in ("IF", "I"):
                    v = v + dt * node.r * x
                elif kind in ("LIF", "LI"):
                    v = v + dt / node.tau * (node.v_leak - v + node.r * x)
                elif kind in ("CubaLIF", "CubaLI"):
                    i = s.get("i", np.zeros(np.shape(x)))
                    i = i + dt / node.tau_syn * (-i + node.w_in * x)
                    v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
                    s["i"] = i
                z = np.zeros(np.shape(v))
                if kind in ("IF", "LIF", "CubaLIF"):
                    z = (v > node.v_threshold).astype(float)
                    v = np.where(z > 0, v - node.v_threshold if reset == "subtract" else node.v_reset, v)
                    val[n] = z
                else:
                    val[n] = v
                s["v"] = v
    return np.array(outs)


def frames_for(net, rng, steps, rate=0.3):
    n_in = int(np.prod(net.input_shape))
    return (rng.random((steps, n_in)) < rate).astype(float)


def run_both(graph, steps=60, reset="value", seed=0):
    net = import_nir(graph, dt=DT, reset=reset)
    rng = np.random.default_rng(seed)
    fr = frames_for(net, rng, steps)
    ref = direct(graph, fr, DT, reset)
    r = net.run(frames=fr, record=True)
    out = net.layer(net.output)
    got = r.spikes[net.output].astype(float) if out.spiking else r.potentials[net.output]
    return net, fr, ref, got


def test_pool_flatten_scale_affine_li():
    rng = np.random.default_rng(1)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([2, 3, 3])}),
        "scale": nir.Scale(scale=rng.uniform(0.5, 2.0, 18)),
        "fc": nir.Affine(weight=rng.normal(size=(5, 18)), bias=rng.normal(size=5)),
        "li": nir.LI(tau=np.full(5, 5e-3), r=np.ones(5), v_leak=np.full(5, 0.2)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }, edges=[("input", "pool"), ("pool", "flat"), ("flat", "scale"), ("scale", "fc"), ("fc", "li"), ("li", "output")],
        type_check=False)
    net, fr, ref, got = run_both(g)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_conv1d_cubali_and_integrator():
    rng = np.random.default_rng(2)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([3, 10])}),
        "conv": nir.Conv1d(input_shape=10, weight=rng.normal(size=(2, 3, 3)), stride=np.array([1]),
                           padding=np.array([1]), dilation=np.array([1]), groups=1, bias=rng.normal(size=2) * 0.1),
        "cli": nir.CubaLI(tau_syn=np.full((2, 10), 2e-3), tau_mem=np.full((2, 10), 4e-3), r=np.ones((2, 10)),
                          v_leak=np.zeros((2, 10)), w_in=np.ones((2, 10))),
        "output": nir.Output(output_type={"output": np.array([2, 10])}),
    }, edges=[("input", "conv"), ("conv", "cli"), ("cli", "output")], type_check=False)
    net, fr, ref, got = run_both(g)
    np.testing.assert_allclose(got, ref.reshape(got.shape), rtol=1e-9, atol=1e-9)


def test_delay_threshold_if_and_nested_graph():
    rng = np.random.default_rng(3)
    inner = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Affine(weight=rng.normal(size=(6, 4)) * 1.5, bias=np.full(6, 0.1)),
        "lif": nir.LIF(tau=np.full(6, 4e-3), r=np.full(6, 4.0), v_leak=np.zeros(6), v_threshold=np.full(6, 0.8),
                       v_reset=np.zeros(6)),
        "output": nir.Output(output_type={"output": np.array([6])}),
    }, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([4])}),
        "sub": inner,
        "delay": nir.Delay(delay=np.full(6, 3 * DT)),
        "lin": nir.Linear(weight=rng.normal(size=(3, 6)) * 2),
        "thr": nir.Threshold(threshold=np.full(3, 0.5)),
        "lin2": nir.Linear(weight=np.abs(rng.normal(size=(2, 3)))),
        "if": nir.IF(r=np.full(2, 300.0), v_threshold=np.ones(2), v_reset=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }, edges=[("input", "sub"), ("sub", "delay"), ("delay", "lin"), ("lin", "thr"), ("thr", "lin2"),
              ("lin2", "if"), ("if", "output")], type_check=False)
    net = import_nir(g, dt=DT)
    assert [l.kind for l in net.layers] == ["LIF", "Threshold", "IF"]
    assert any(c.delay == 3 for c in net.connections)
    flat = nir.NIRGraph(nodes={k: v for k, v in inner.nodes.items() if k not in ("input", "output")} | {
        k: v for k, v in g.nodes.items() if k != "sub"},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "delay")] + [e for e in g.edges if "sub" not in e],
        type_check=False)
    rng2 = np.random.default_rng(0)
    fr = frames_for(net, rng2, 80, 0.4)
    ref = direct(flat, fr, DT)
    r = net.run(frames=fr)
    np.testing.assert_array_equal(r.spikes[net.output].astype(float), ref)
    assert ref.sum() > 5
    # integer model on the same input: spike counts close to float
    ev_t, ev_x = np.nonzero(fr)
    ev = se.make_events(ev_t * net.tick_us, ev_x)
    model, report = quantize(net, [ev], n_steps=80)
    assert report.output_agreement == 1.0
    assert all(0.8 <= v <= 1.25 for v in report.spike_agreement.values())


def test_unsupported_node_is_named():
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2])}),
        "lin": nir.Linear(weight=np.ones((2, 2))),
        "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }, edges=[("input", "lin"), ("lin", "if"), ("if", "output"), ("input", "if")], type_check=False)
    net = import_nir(g, dt=DT)  # two paths into one layer are two connections
    assert len(net.connections) == 2
