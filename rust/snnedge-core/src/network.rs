//! Immutable, validated network parameters: what the engine runs, shared by every stream.
//!
//! [`NetworkParams::compile`] checks a [`ModelSpec`] completely (names, shapes, integer ranges,
//! zero-delay cycles) and lays it out for the engine (see [`crate::synapse`] for layouts).
//! Every error names the layer or connection and says what was expected.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::buffer::Aligned;
use crate::error::{check_range, invalid, Error, Result};
use crate::fixed::{state_range, DECAY_ONE, MAX_WEIGHT_SHIFT};
use crate::model::spec::{ConnectionSpec, LayerSpec, ModelSpec, NeuronKind, PoolMode, ResetMode, Tensor};
use crate::neuron::{NeuronParams, Reset};
use crate::synapse::{window_table, ConnKind, ConnParams, DenseWeights, Layout, Node};

/// Largest delay in ticks (per connection plus per synapse).
pub const MAX_DELAY: u32 = 65_535;
/// Largest number of neurons in one layer (a 640x480 sensor with 16 channels fits four times).
pub const MAX_LAYER_NEURONS: usize = 1 << 23;
/// Largest number of neurons in the whole network.
pub const MAX_NETWORK_NEURONS: usize = 1 << 24;
/// Largest number of accumulator entries of one layer's ring of delay slots.
///
/// These limits bound what an engine allocates for a model whose file is small (a layer
/// needs no weights to exist): about 40 bytes per neuron plus 4 per ring entry, so at most a
/// few hundred MiB, checked when the model is loaded.
pub const MAX_RING_ENTRIES: usize = 1 << 25;

/// A compiled layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerParams {
    /// Name.
    pub name: String,
    /// Neuron model.
    pub kind: NeuronKind,
    /// User-visible shape.
    pub shape: Vec<u32>,
    /// Internal layout.
    pub layout: Layout,
    /// Neuron parameters.
    pub neuron: NeuronParams,
    /// Bias per neuron (internal order); empty when all zero.
    pub bias: Vec<i32>,
    /// Current bias per neuron (internal order); empty when all zero.
    pub bias_syn: Vec<i32>,
    /// Initial threshold offset θ per neuron (internal order); empty when all zero.
    pub theta_init: Vec<i32>,
    /// Outgoing connections (indices into `NetworkParams::connections`).
    pub outgoing: Vec<usize>,
    /// Number of delay slots (largest incoming delay + 1).
    pub ring_len: usize,
}

/// A compiled, validated network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkParams {
    /// Model name.
    pub name: String,
    /// Tick length in microseconds.
    pub tick_us: u64,
    /// Input shape as declared.
    pub input_shape: Vec<u32>,
    /// Input layout (C-order).
    pub input: Layout,
    /// Index of the input field that selects the channel: true when the input is `(C, H, W)`.
    pub input_uses_p: bool,
    /// Connections leaving the input node.
    pub input_outgoing: Vec<usize>,
    /// Layers in processing order (a topological order of the zero-delay connections).
    pub layers: Vec<LayerParams>,
    /// Connections.
    pub connections: Vec<ConnParams>,
    /// Index of the output layer.
    pub output: usize,
    /// Indices of the plastic connections (in spec order: the order learning runs in a tick).
    pub plastic: Vec<usize>,
    /// The spec it was compiled from (kept for saving and for introspection).
    pub spec: ModelSpec,
}

fn shape_layout(what: &str, shape: &[u32], hwc: bool) -> Result<Layout> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let (c, h, w) = match dims.as_slice() {
        [n] => (1, 1, *n),
        [h, w] if !hwc => (1, *h, *w),
        [c, h, w] => (*c, *h, *w),
        _ => {
            return Err(Error::Shape {
                what: what.into(),
                expected: if hwc { "(N,) or (C, H, W)".into() } else { "(N,), (H, W) or (C, H, W)".into() },
                found: format!("{shape:?}"),
            })
        }
    };
    if c == 0 || h == 0 || w == 0 || c.saturating_mul(h).saturating_mul(w) > MAX_LAYER_NEURONS {
        return Err(Error::Shape {
            what: what.into(),
            expected: format!("non-empty, at most {MAX_LAYER_NEURONS} neurons"),
            found: format!("{shape:?}"),
        });
    }
    Ok(Layout { c, h, w, hwc })
}

fn shape_err(what: &str, expected: impl ToString, found: impl ToString) -> Error {
    Error::Shape { what: what.into(), expected: expected.to_string(), found: found.to_string() }
}

/// A per-neuron parameter given as one value or one per neuron (C-order), in internal order;
/// empty when absent or all zero.
fn per_neuron(name: &str, what: &str, t: Option<&Tensor>, layout: Layout, lo: i64, hi: i64) -> Result<Vec<i32>> {
    let Some(t) = t else { return Ok(Vec::new()) };
    let label = format!("layer {name:?} {what}");
    let vals = t.to_i64(&label)?;
    for &b in &vals {
        check_range(name, what, b, lo, hi)?;
    }
    let n = layout.len();
    let full: Vec<i64> = if vals.len() == 1 {
        vec![vals[0]; n]
    } else if vals.len() == n {
        vals
    } else {
        return Err(shape_err(&label, format!("1 or {n} values (the layer's shape)"), vals.len()));
    };
    if full.iter().all(|&b| b == 0) {
        return Ok(Vec::new());
    }
    let mut out = vec![0i32; n];
    for (logical, &b) in full.iter().enumerate() {
        out[layout.from_logical(logical)] = b as i32;
    }
    Ok(out)
}

type CompiledLayer = (Layout, NeuronParams, Vec<i32>, Vec<i32>, Vec<i32>);

fn compile_layer(l: &LayerSpec) -> Result<CompiledLayer> {
    let name = l.name.as_str();
    let layout = shape_layout(&format!("layer {name:?} shape"), &l.shape, true)?;
    check_range(name, "state_bits", l.state_bits as i64, 2, 32)?;
    let (lo, hi) = state_range(l.state_bits);
    use NeuronKind::*;
    let (spiking, has_current, leaky) = match l.neuron {
        IF => (true, false, false),
        LIF => (true, false, true),
        CubaLIF => (true, true, true),
        LI => (false, false, true),
        CubaLI => (false, true, true),
        Integrator => (false, false, false),
    };
    let decay_mem = match (leaky, l.decay_mem) {
        (true, Some(d)) => d,
        (true, None) => return Err(invalid(name, format!("{:?} needs decay_mem (Q0.16, 0..=65536)", l.neuron))),
        (false, None) => DECAY_ONE,
        (false, Some(d)) if d == DECAY_ONE => d,
        (false, Some(_)) => {
            return Err(invalid(name, format!("{:?} has no leak; decay_mem must be absent or 65536", l.neuron)))
        }
    };
    check_range(name, "decay_mem", decay_mem as i64, 0, DECAY_ONE as i64)?;
    let decay_syn = match (has_current, l.decay_syn) {
        (true, Some(d)) => d,
        (true, None) => return Err(invalid(name, format!("{:?} needs decay_syn (Q0.16, 0..=65536)", l.neuron))),
        (false, None) => DECAY_ONE,
        (false, Some(_)) => {
            return Err(invalid(name, format!("{:?} has no synaptic current; remove decay_syn", l.neuron)))
        }
    };
    check_range(name, "decay_syn", decay_syn as i64, 0, DECAY_ONE as i64)?;
    check_range(name, "adapt_decay", l.adapt_decay as i64, 0, DECAY_ONE as i64)?;
    let threshold = match (spiking, l.threshold) {
        (true, Some(t)) => {
            check_range(name, "threshold", t, 1, hi)?;
            t as i32
        }
        (true, None) => return Err(invalid(name, format!("{:?} needs a threshold", l.neuron))),
        (false, None) => 0,
        (false, Some(_)) => return Err(invalid(name, format!("{:?} does not spike; remove threshold", l.neuron))),
    };
    if !spiking && (l.refractory != 0 || l.adapt_increment != 0 || l.v_reset != 0) {
        return Err(invalid(
            name,
            format!("{:?} does not spike; refractory, adapt_increment and v_reset must be 0", l.neuron),
        ));
    }
    check_range(name, "adapt_increment", l.adapt_increment, 0, hi)?;
    if spiking {
        check_range(name, "v_reset", l.v_reset, lo, threshold as i64 - 1)?;
    }
    if l.reset == ResetMode::Subtract && l.v_reset != 0 {
        return Err(invalid(name, "v_reset is only used with reset = zero"));
    }
    let reset = match l.reset {
        ResetMode::Subtract => Reset::Subtract,
        ResetMode::Zero => Reset::ToValue(l.v_reset as i32),
    };
    let bias = per_neuron(name, "bias", l.bias.as_ref(), layout, lo, hi)?;
    let bias_syn = per_neuron(name, "bias_syn", l.bias_syn.as_ref(), layout, lo, hi)?;
    if !has_current && !bias_syn.is_empty() {
        return Err(invalid(name, format!("{:?} has no synaptic current; bias_syn must be absent or zero", l.neuron)));
    }
    let theta_init = per_neuron(name, "theta_init", l.theta_init.as_ref(), layout, 0, hi)?;
    if !spiking && !theta_init.is_empty() {
        return Err(invalid(name, format!("{:?} does not spike; theta_init must be absent or zero", l.neuron)));
    }
    let neuron = NeuronParams {
        spiking,
        has_current,
        decay_mem,
        decay_syn,
        threshold,
        reset,
        refractory: l.refractory,
        adapt_increment: l.adapt_increment as i32,
        theta_state: (l.theta_state || !theta_init.is_empty()) && spiking,
        adapt_decay: l.adapt_decay,
        lo,
        hi,
    };
    Ok((layout, neuron, bias, bias_syn, theta_init))
}

fn weight_range(name: &str, bits: u32) -> Result<(i64, i64)> {
    match bits {
        4 | 8 | 16 => Ok(state_range(bits)),
        _ => Err(Error::ParameterOverflow {
            layer: name.into(),
            parameter: "weight_bits".into(),
            value: format!("{bits}"),
            range: "4, 8 or 16".into(),
        }),
    }
}

fn check_weights(name: &str, w: &[i64], lo: i64, hi: i64) -> Result<()> {
    if let Some((k, &x)) = w.iter().enumerate().find(|(_, &x)| x < lo || x > hi) {
        return Err(Error::ParameterOverflow {
            layer: name.into(),
            parameter: format!("weight element {k}"),
            value: format!("{x}"),
            range: format!("{lo}..={hi}"),
        });
    }
    Ok(())
}

fn tensor_shape(t: &Tensor, what: &str, expected: &[usize]) -> Result<Vec<i64>> {
    let found: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
    if found != expected {
        return Err(shape_err(what, format!("{expected:?}"), format!("{found:?}")));
    }
    t.to_i64(what)
}

impl NetworkParams {
    /// Checks `spec` and compiles it.
    pub fn compile(spec: &ModelSpec) -> Result<NetworkParams> {
        if spec.tick_us == 0 {
            return Err(Error::ParameterOverflow {
                layer: "model".into(),
                parameter: "tick_us".into(),
                value: "0".into(),
                range: "at least 1".into(),
            });
        }
        let input = shape_layout("input_shape", &spec.input_shape, false)?;
        if spec.layers.is_empty() {
            return Err(invalid("", "the model has no layers"));
        }
        // Names.
        let mut names: Vec<&str> = Vec::new();
        for l in &spec.layers {
            if l.name.is_empty() || l.name == "input" || names.contains(&l.name.as_str()) {
                return Err(invalid(&l.name, "layer names must be unique, non-empty and not \"input\""));
            }
            names.push(&l.name);
        }
        let find = |n: &str| names.iter().position(|&x| x == n);
        let mut conn_names: Vec<&str> = Vec::new();
        for c in &spec.connections {
            if c.name().is_empty() || conn_names.contains(&c.name()) {
                return Err(invalid(c.name(), "connection names must be unique and non-empty"));
            }
            conn_names.push(c.name());
        }

        let mut compiled: Vec<CompiledLayer> = Vec::new();
        let mut total = 0usize;
        for l in &spec.layers {
            let c = compile_layer(l)?;
            total += c.0.len();
            if total > MAX_NETWORK_NEURONS {
                return Err(invalid(&l.name, format!("the network exceeds {MAX_NETWORK_NEURONS} neurons")));
            }
            compiled.push(c);
        }

        // Connections, against the spec's layer order (re-indexed after sorting).
        let mut conns: Vec<ConnParams> = Vec::new();
        let mut min_delay: Vec<u64> = Vec::new();
        for c in &spec.connections {
            let name = c.name();
            let source = if c.source() == "input" {
                Node::Input
            } else {
                Node::Layer(find(c.source()).ok_or_else(|| {
                    invalid(name, format!("source {:?} is neither \"input\" nor a layer", c.source()))
                })?)
            };
            let target =
                find(c.target()).ok_or_else(|| invalid(name, format!("target {:?} is not a layer", c.target())))?;
            let src = match source {
                Node::Input => input,
                Node::Layer(i) => compiled[i].0,
            };
            let dst = compiled[target].0;
            let (cp, md) = compile_connection(c, source, src, target, dst)?;
            conns.push(cp);
            min_delay.push(md);
        }

        // Processing order: topological over zero-delay edges (Kahn, stable by spec order).
        let n = spec.layers.len();
        let mut indeg = vec![0usize; n];
        for (c, &md) in conns.iter().zip(&min_delay) {
            if let (Node::Layer(_), 0) = (c.source, md) {
                indeg[c.target] += 1;
            }
        }
        let mut order: Vec<usize> = Vec::new();
        let mut done = vec![false; n];
        while order.len() < n {
            let Some(next) = (0..n).find(|&i| !done[i] && indeg[i] == 0) else {
                let stuck: Vec<&str> = conns
                    .iter()
                    .zip(&min_delay)
                    .filter(|(c, &md)| md == 0 && matches!(c.source, Node::Layer(s) if !done[s]) && !done[c.target])
                    .map(|(c, _)| c.name.as_str())
                    .collect();
                return Err(invalid(
                    "",
                    format!(
                        "the connections {stuck:?} form a loop with no delay; a recurrent connection needs delay >= 1 tick"
                    ),
                ));
            };
            done[next] = true;
            order.push(next);
            for (c, &md) in conns.iter().zip(&min_delay) {
                if md == 0 && c.source == Node::Layer(next) {
                    indeg[c.target] -= 1;
                }
            }
        }
        let mut rank = vec![0usize; n];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        for c in conns.iter_mut() {
            if let Node::Layer(s) = c.source {
                c.source = Node::Layer(rank[s]);
            }
            c.target = rank[c.target];
        }

        let mut layers: Vec<LayerParams> = Vec::new();
        for &i in &order {
            let (layout, neuron, bias, bias_syn, theta_init) = compiled[i].clone();
            let l = &spec.layers[i];
            layers.push(LayerParams {
                name: l.name.clone(),
                kind: l.neuron,
                shape: l.shape.clone(),
                layout,
                neuron,
                bias,
                bias_syn,
                theta_init,
                outgoing: Vec::new(),
                ring_len: 1,
            });
        }
        let mut input_outgoing = Vec::new();
        for (k, c) in conns.iter().enumerate() {
            match c.source {
                Node::Input => input_outgoing.push(k),
                Node::Layer(s) => layers[s].outgoing.push(k),
            }
            let max_d = c.delay as u64
                + match &c.kind {
                    ConnKind::Sparse { delays, .. } => delays.iter().copied().max().unwrap_or(0) as u64,
                    _ => 0,
                };
            let l = &mut layers[c.target];
            l.ring_len = l.ring_len.max(max_d as usize + 1);
            if l.ring_len.saturating_mul(l.layout.len()) > MAX_RING_ENTRIES {
                return Err(invalid(
                    &c.name,
                    format!(
                        "delay {max_d} on layer {:?} of {} neurons needs more than {MAX_RING_ENTRIES} accumulator entries",
                        l.name,
                        l.layout.len()
                    ),
                ));
            }
        }
        let output = match &spec.output {
            None => rank[n - 1],
            Some(o) => rank[find(o).ok_or_else(|| invalid("", format!("output {o:?} is not a layer")))?],
        };
        let plastic = conns.iter().enumerate().filter(|(_, c)| c.plastic.is_some()).map(|(k, _)| k).collect();
        Ok(NetworkParams {
            name: spec.name.clone(),
            tick_us: spec.tick_us,
            input_shape: spec.input_shape.clone(),
            input,
            input_uses_p: spec.input_shape.len() == 3,
            input_outgoing,
            layers,
            connections: conns,
            output,
            plastic,
            spec: spec.clone(),
        })
    }

    /// Index of the layer called `name`.
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        self.layers.iter().position(|l| l.name == name).ok_or_else(|| Error::UnknownName {
            kind: "layer",
            name: name.into(),
            known: self.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Total number of synapses (weights), for reports.
    pub fn synapse_count(&self) -> u64 {
        self.connections
            .iter()
            .map(|c| match &c.kind {
                ConnKind::Dense { n_out, .. } => (*n_out * c.src.len()) as u64,
                ConnKind::Conv { kernel, .. } => kernel.len() as u64,
                ConnKind::Pool { .. } => c.dst.len() as u64,
                ConnKind::Sparse { targets, .. } => targets.len() as u64,
            })
            .sum()
    }
}

/// Output size of a convolution or pooling along one axis, if the window fits.
fn out_len(n: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    if s == 0 || k == 0 || n + 2 * p < k {
        return None;
    }
    Some((n + 2 * p - k) / s + 1)
}

/// Largest |contribution| one spike may add to one neuron (keeps the i32 partial sums exact).
pub const MAX_CONTRIBUTION: u64 = 1 << 30;

fn compile_connection(
    c: &ConnectionSpec,
    source: Node,
    src: Layout,
    target: usize,
    dst: Layout,
) -> Result<(ConnParams, u64)> {
    let (cp, md) = compile_connection_inner(c, source, src, target, dst)?;
    let worst = match &cp.kind {
        ConnKind::Sparse { weights, delays, .. } if !delays.is_empty() => {
            weights.iter().map(|w| w.unsigned_abs() as u64).max().unwrap_or(0)
        }
        _ => cp.max_abs,
    };
    if worst > MAX_CONTRIBUTION {
        return Err(Error::ParameterOverflow {
            layer: cp.name.clone(),
            parameter: "weight << shift (summed over one source row for sparse)".into(),
            value: format!("{worst}"),
            range: format!("at most {MAX_CONTRIBUTION} in magnitude"),
        });
    }
    Ok((cp, md))
}

fn compile_connection_inner(
    c: &ConnectionSpec,
    source: Node,
    src: Layout,
    target: usize,
    dst: Layout,
) -> Result<(ConnParams, u64)> {
    let name = c.name();
    let check_delay = |d: u32| check_range(name, "delay", d as i64, 0, MAX_DELAY as i64);
    let check_shift = |s: u32| check_range(name, "shift", s as i64, 0, MAX_WEIGHT_SHIFT as i64);
    let mk = |delay: u32, shift: u32, max_abs: u64, kind: ConnKind| ConnParams {
        name: name.into(),
        source,
        src,
        target,
        dst,
        delay,
        shift,
        max_abs,
        kind,
        plastic: None,
    };
    match c {
        ConnectionSpec::Dense { weight, shift, delay, delays, weight_bits, plasticity, .. } => {
            check_delay(*delay)?;
            check_shift(*shift)?;
            let (lo, hi) = weight_range(name, *weight_bits)?;
            let (n_in, n_out) = (src.len(), dst.len());
            let w = tensor_shape(weight, &format!("connection {name:?} weight"), &[n_out, n_in])?;
            check_weights(name, &w, lo, hi)?;
            if let Some(dl) = delays {
                if plasticity.is_some() {
                    return Err(invalid(name, "a plastic connection cannot have per-synapse delays"));
                }
                // Per-synapse delays: compiled as sparse rows (a dense matrix of rings).
                let d = tensor_shape(dl, &format!("connection {name:?} delays"), &[n_out, n_in])?;
                let mut indptr = vec![0u32; n_in + 1];
                let mut targets = Vec::new();
                let mut weights = Vec::new();
                let mut extra = Vec::new();
                for s_int in 0..n_in {
                    let s_log = src.to_logical(s_int);
                    for t_int in 0..n_out {
                        let t_log = dst.to_logical(t_int);
                        let k = t_log * n_in + s_log;
                        check_range(name, "delays", d[k], 0, (MAX_DELAY - *delay) as i64)?;
                        if w[k] != 0 {
                            targets.push(t_int as u32);
                            weights.push((w[k] as i32) << shift);
                            extra.push(d[k] as u32);
                        }
                    }
                    indptr[s_int + 1] = targets.len() as u32;
                }
                let min_extra = extra.iter().copied().min().unwrap_or(0);
                return Ok((
                    mk(
                        *delay,
                        *shift,
                        0,
                        ConnKind::Sparse { indptr, targets, weights, delays: extra, order: Vec::new() },
                    ),
                    *delay as u64 + min_extra as u64,
                ));
            }
            let max_abs = (w.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0)) << shift;
            let mut rows = vec![0i64; n_in * n_out];
            for s_int in 0..n_in {
                let s_log = src.to_logical(s_int);
                for t_int in 0..n_out {
                    rows[s_int * n_out + t_int] = w[dst.to_logical(t_int) * n_in + s_log];
                }
            }
            let weights = if *weight_bits == 16 {
                DenseWeights::I16(Aligned::from_slice(&rows.iter().map(|&x| x as i16).collect::<Vec<_>>()))
            } else {
                DenseWeights::I8(Aligned::from_slice(&rows.iter().map(|&x| x as i8).collect::<Vec<_>>()))
            };
            let mut cp = mk(*delay, *shift, max_abs, ConnKind::Dense { weights, n_out });
            if let Some(pl) = plasticity {
                cp.plastic = Some(plastic_params(name, pl, lo, hi, *delay, &w)?);
                cp.max_abs = (pl.w_min.unsigned_abs().max(pl.w_max.unsigned_abs())) << shift;
            }
            Ok((cp, *delay as u64))
        }
        ConnectionSpec::Conv2d { weight, stride, padding, shift, delay, weight_bits, plasticity, .. } => {
            check_delay(*delay)?;
            check_shift(*shift)?;
            let (lo, hi) = weight_range(name, *weight_bits)?;
            let [sh, sw] = stride.unwrap_or([1, 1]).map(|x| x as usize);
            let [ph, pw] = padding.unwrap_or([0, 0]).map(|x| x as usize);
            let ws = &weight.shape;
            if ws.len() != 4 {
                return Err(shape_err(
                    &format!("connection {name:?} weight"),
                    "[C_out, C_in, kh, kw]",
                    format!("{ws:?}"),
                ));
            }
            let (c_out, c_in, kh, kw) = (ws[0] as usize, ws[1] as usize, ws[2] as usize, ws[3] as usize);
            let w = tensor_shape(weight, &format!("connection {name:?} weight"), &[c_out, c_in, kh, kw])?;
            check_weights(name, &w, lo, hi)?;
            if c_in != src.c {
                return Err(shape_err(&format!("connection {name:?} in_channels"), src.c, c_in));
            }
            let (oh, ow) = match (out_len(src.h, kh, sh, ph), out_len(src.w, kw, sw, pw)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(invalid(
                        name,
                        format!(
                            "kernel {kh}x{kw}, stride {sh}x{sw}, padding {ph}x{pw} do not fit a {}x{} input",
                            src.h, src.w
                        ),
                    ))
                }
            };
            if (dst.c, dst.h, dst.w) != (c_out, oh, ow) || !dst.hwc || dst.len() != c_out * oh * ow {
                return Err(shape_err(
                    &format!("connection {name:?} target layer"),
                    format!("({c_out}, {oh}, {ow})"),
                    format!("({}, {}, {})", dst.c, dst.h, dst.w),
                ));
            }
            let mut kernel = vec![0i32; c_in * kh * kw * c_out];
            for o in 0..c_out {
                for i in 0..c_in {
                    for y in 0..kh {
                        for x in 0..kw {
                            kernel[((i * kh + y) * kw + x) * c_out + o] =
                                (w[((o * c_in + i) * kh + y) * kw + x] as i32) << shift;
                        }
                    }
                }
            }
            let mut max_abs = (w.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0)) << shift;
            let mut plastic = None;
            if let Some(pl) = plasticity {
                plastic = Some(plastic_params(name, pl, lo, hi, *delay, &w)?);
                max_abs = (pl.w_min.unsigned_abs().max(pl.w_max.unsigned_abs())) << shift;
            }
            let mut cp = mk(
                *delay,
                *shift,
                max_abs,
                ConnKind::Conv {
                    kernel,
                    kh,
                    kw,
                    sh,
                    sw,
                    ph,
                    pw,
                    c_out,
                    rows: window_table(src.h, kh, sh, ph, oh),
                    cols: window_table(src.w, kw, sw, pw, ow),
                },
            );
            cp.plastic = plastic;
            Ok((cp, *delay as u64))
        }
        ConnectionSpec::Pool2d { mode, kernel, stride, padding, weight, delay, .. } => {
            check_delay(*delay)?;
            let [kh, kw] = kernel.map(|x| x as usize);
            let [sh, sw] = stride.unwrap_or(*kernel).map(|x| x as usize);
            let [ph, pw] = padding.unwrap_or([0, 0]).map(|x| x as usize);
            check_range(name, "weight", *weight, -(1 << 24), 1 << 24)?;
            let eff = match mode {
                PoolMode::Sum => *weight,
                PoolMode::Avg => {
                    let area = (kh * kw).max(1) as i64;
                    // round half away from zero
                    let q = (weight.abs() * 2 + area) / (2 * area);
                    let q = if *weight < 0 { -q } else { q };
                    if q == 0 && *weight != 0 {
                        return Err(invalid(
                            name,
                            format!("avg pooling weight {weight} divided by the window area {area} rounds to 0"),
                        ));
                    }
                    q
                }
            };
            let (oh, ow) = match (out_len(src.h, kh, sh, ph), out_len(src.w, kw, sw, pw)) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(invalid(name, format!("window {kh}x{kw} does not fit a {}x{} input", src.h, src.w))),
            };
            if (dst.c, dst.h, dst.w) != (src.c, oh, ow) {
                return Err(shape_err(
                    &format!("connection {name:?} target layer"),
                    format!("({}, {oh}, {ow})", src.c),
                    format!("({}, {}, {})", dst.c, dst.h, dst.w),
                ));
            }
            Ok((
                mk(
                    *delay,
                    0,
                    eff.unsigned_abs(),
                    ConnKind::Pool {
                        weight: eff as i32,
                        kh,
                        kw,
                        sh,
                        sw,
                        ph,
                        pw,
                        rows: window_table(src.h, kh, sh, ph, oh),
                        cols: window_table(src.w, kw, sw, pw, ow),
                    },
                ),
                *delay as u64,
            ))
        }
        ConnectionSpec::Sparse { indptr, indices, weights, delays, shift, delay, weight_bits, plasticity, .. } => {
            check_delay(*delay)?;
            check_shift(*shift)?;
            let (lo, hi) = weight_range(name, *weight_bits)?;
            let (n_in, n_out) = (src.len(), dst.len());
            let ip = tensor_shape(indptr, &format!("connection {name:?} indptr"), &[n_in + 1])?;
            let nnz = indices.numel() as usize;
            let idx = tensor_shape(indices, &format!("connection {name:?} indices"), &[nnz])?;
            let w = tensor_shape(weights, &format!("connection {name:?} weights"), &[nnz])?;
            check_weights(name, &w, lo, hi)?;
            let d = match delays {
                Some(t) => tensor_shape(t, &format!("connection {name:?} delays"), &[nnz])?,
                None => Vec::new(),
            };
            if ip[0] != 0 || ip[n_in] != nnz as i64 || ip.windows(2).any(|p| p[1] < p[0]) {
                return Err(invalid(name, format!("indptr must start at 0, never decrease and end at nnz = {nnz}")));
            }
            for (k, &t) in idx.iter().enumerate() {
                if t < 0 || t as usize >= n_out {
                    return Err(invalid(
                        name,
                        format!("indices[{k}] = {t} is outside the target layer (size {n_out})"),
                    ));
                }
            }
            for &x in &d {
                check_range(name, "delays", x, 0, (MAX_DELAY - *delay) as i64)?;
            }
            // Rows re-ordered to source internal indices, targets to target internal indices.
            let mut new_ptr = vec![0u32; n_in + 1];
            let mut targets = Vec::with_capacity(nnz);
            let mut wts = Vec::with_capacity(nnz);
            let mut extra = Vec::with_capacity(d.len());
            let mut max_abs = 0u64;
            for s_int in 0..n_in {
                let s_log = src.to_logical(s_int);
                let (k0, k1) = (ip[s_log] as usize, ip[s_log + 1] as usize);
                let mut row_abs = 0u64;
                for k in k0..k1 {
                    targets.push(dst.from_logical(idx[k] as usize) as u32);
                    wts.push((w[k] as i32) << shift);
                    row_abs += (w[k].unsigned_abs()) << shift;
                    if !d.is_empty() {
                        extra.push(d[k] as u32);
                    }
                }
                max_abs = max_abs.max(row_abs);
                new_ptr[s_int + 1] = targets.len() as u32;
            }
            if extra.iter().all(|&x| x == 0) {
                extra.clear();
            }
            let min_extra = extra.iter().copied().min().unwrap_or(0);
            let mut order = Vec::new();
            let mut plastic = None;
            if let Some(pl) = plasticity {
                if delays.is_some() {
                    return Err(invalid(name, "a plastic connection cannot have per-synapse delays"));
                }
                plastic = Some(plastic_params(name, pl, lo, hi, *delay, &w)?);
                // at most one synapse per (source, target) pair: learning is defined per pair
                let mut seen = alloc::collections::BTreeSet::new();
                for s_log in 0..n_in {
                    let (k0, k1) = (ip[s_log] as usize, ip[s_log + 1] as usize);
                    for (k, &t) in (k0..k1).zip(&idx[k0..k1]) {
                        if !seen.insert((s_log, t)) {
                            return Err(invalid(
                                name,
                                format!(
                                    "synapse {k} repeats the pair (source {s_log}, target {t}): a plastic \
                                     connection has at most one synapse per pair"
                                ),
                            ));
                        }
                    }
                }
                for s_int in 0..n_in {
                    let s_log = src.to_logical(s_int);
                    order.extend((ip[s_log] as u32)..(ip[s_log + 1] as u32));
                }
                let bound = pl.w_min.unsigned_abs().max(pl.w_max.unsigned_abs()) << shift;
                let widest = (0..n_in).map(|s| (ip[s + 1] - ip[s]) as u64).max().unwrap_or(0);
                max_abs = bound * widest;
            }
            let kind = ConnKind::Sparse { indptr: new_ptr, targets, weights: wts, delays: extra, order };
            let mut cp = mk(*delay, *shift, max_abs, kind);
            cp.plastic = plastic;
            Ok((cp, *delay as u64 + min_extra as u64))
        }
    }
}

/// Checks the learning parameters of a plastic connection against its weights.
fn plastic_params(
    name: &str,
    pl: &crate::model::spec::PlasticitySpec,
    lo: i64,
    hi: i64,
    delay: u32,
    w: &[i64],
) -> Result<crate::plasticity::StdpParams> {
    check_range(name, "plasticity.w_min", pl.w_min, lo, hi)?;
    check_range(name, "plasticity.w_max", pl.w_max, pl.w_min, hi)?;
    check_range(name, "plasticity.a_plus", pl.a_plus, 0, 1 << 24)?;
    check_range(name, "plasticity.a_minus", pl.a_minus, 0, 1 << 24)?;
    check_range(name, "plasticity.trace_decay_pre", pl.trace_decay_pre as i64, 0, DECAY_ONE as i64)?;
    check_range(name, "plasticity.trace_decay_post", pl.trace_decay_post as i64, 0, DECAY_ONE as i64)?;
    if let Some(d) = pl.eligibility_decay {
        check_range(name, "plasticity.eligibility_decay", d as i64, 0, DECAY_ONE as i64)?;
    }
    if delay != 0 {
        return Err(invalid(name, "a plastic connection must have delay 0"));
    }
    if let Some((k, &x)) = w.iter().enumerate().find(|(_, &x)| x < pl.w_min || x > pl.w_max) {
        return Err(Error::ParameterOverflow {
            layer: name.into(),
            parameter: format!("weight element {k}"),
            value: format!("{x}"),
            range: format!("{}..={} (the plasticity bounds)", pl.w_min, pl.w_max),
        });
    }
    Ok(crate::plasticity::StdpParams::from_spec(pl))
}
