//! The model description: plain data with integer parameters, as written in model files,
//! golden cases and by the Python builder. [`crate::network::NetworkParams::compile`] checks it
//! and turns it into the form the engine runs.
//!
//! Conventions (the same as PyTorch and NIR): a dense weight is `[out, in]`, a convolution
//! kernel `[out_channels, in_channels, kh, kw]`; layer shapes are `(N,)` or `(C, H, W)` and a
//! neuron's index is its C-order position in that shape.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The whole network: input layout, neuron layers, connections, output layer, tick length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name (free text).
    #[serde(default)]
    pub name: String,
    /// Length of one tick in microseconds (≥ 1). Event time `t` falls in tick `t / tick_us`.
    pub tick_us: u64,
    /// Input layout: `[N]` (event → index `x`), `[H, W]` (row `y`, column `x`) or
    /// `[C, H, W]` (channel `p`, row `y`, column `x`).
    pub input_shape: Vec<u32>,
    /// Neuron layers (any order; the engine orders them by their zero-delay connections).
    pub layers: Vec<LayerSpec>,
    /// Connections between the input and layers, and between layers.
    pub connections: Vec<ConnectionSpec>,
    /// Name of the layer whose spikes are the model's output (default: the last layer listed).
    #[serde(default)]
    pub output: Option<String>,
}

/// Neuron model of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NeuronKind {
    /// Integrate-and-fire: no leak, spikes.
    IF,
    /// Leaky integrate-and-fire: membrane decay, spikes.
    LIF,
    /// Current-based LIF: a decaying synaptic current feeds a leaky membrane; spikes.
    CubaLIF,
    /// Leaky integrator: like LIF, never spikes (a readout whose potentials are read).
    LI,
    /// Current-based leaky integrator: like CubaLIF, never spikes.
    CubaLI,
    /// Integrator: no leak, never spikes.
    Integrator,
}

/// What happens to the membrane after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResetMode {
    /// Subtract the effective threshold (threshold + adaptive offset).
    #[default]
    Subtract,
    /// Set the membrane to `v_reset` (0 unless given).
    Zero,
}

/// One layer of neurons and its parameters (all integers; see `docs/numerics.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Unique name (not `input`).
    pub name: String,
    /// Neuron model.
    pub neuron: NeuronKind,
    /// `[N]` or `[C, H, W]`.
    pub shape: Vec<u32>,
    /// Membrane decay per tick, Q0.16 (required for LIF, CubaLIF, LI, CubaLI; 65536 = none).
    #[serde(default)]
    pub decay_mem: Option<u32>,
    /// Synaptic current decay per tick, Q0.16 (required for CubaLIF and CubaLI).
    #[serde(default)]
    pub decay_syn: Option<u32>,
    /// Firing threshold (spiking models; ≥ 1).
    #[serde(default)]
    pub threshold: Option<i64>,
    /// Reset after a spike.
    #[serde(default)]
    pub reset: ResetMode,
    /// Membrane value after a spike when `reset` is `zero` (must be below the threshold).
    #[serde(default)]
    pub v_reset: i64,
    /// Ticks after a spike during which the membrane is held and input to it is discarded.
    #[serde(default)]
    pub refractory: u32,
    /// Adaptive threshold: amount added to the threshold offset θ at each spike (≥ 0).
    #[serde(default)]
    pub adapt_increment: i64,
    /// Adaptive threshold: decay of θ per tick, Q0.16.
    #[serde(default = "decay_one")]
    pub adapt_decay: u32,
    /// Keep a threshold offset θ even when `adapt_increment` is 0 (a learned θ that is
    /// frozen, set through `Engine.set_state`). Default: only when `adapt_increment > 0`.
    #[serde(default)]
    pub theta_state: bool,
    /// Width of the current, membrane and θ states in bits (2..=32, default 24).
    #[serde(default = "default_state_bits")]
    pub state_bits: u32,
    /// Constant input added to the membrane every tick: one value per neuron (the layer's
    /// shape, C-order) or a single value for all.
    #[serde(default)]
    pub bias: Option<Tensor>,
    /// Constant input added to the synaptic current every tick (CubaLIF and CubaLI only): one
    /// value per neuron or a single value. This is where a bias of the connection feeding a
    /// current-based neuron goes (NIR Affine before CubaLIF).
    #[serde(default)]
    pub bias_syn: Option<Tensor>,
    /// Initial threshold offset θ per neuron (one value per neuron, C-order, or a single value;
    /// `0..=` the state maximum; spiking models only). A layer with it keeps θ as with
    /// `theta_state`, starts from it and returns to it on reset. With `adapt_increment` 0 and
    /// `adapt_decay` 65536, `threshold + theta_init[n]` is a fixed per-neuron threshold: what
    /// per-channel quantization uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_init: Option<Tensor>,
}

fn decay_one() -> u32 {
    crate::fixed::DECAY_ONE
}

fn default_state_bits() -> u32 {
    24
}

fn default_weight_bits() -> u32 {
    8
}

/// Pooling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// Each input spike adds `weight` to every window that covers it.
    Sum,
    /// Each input spike adds `weight / (kh * kw)` (rounded to nearest, ties away from zero).
    Avg,
}

/// A connection from the input (`"input"`) or a layer to a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum ConnectionSpec {
    /// Every source neuron to every target neuron.
    Dense {
        /// Unique connection name.
        name: String,
        /// `input` or a layer name.
        source: String,
        /// A layer name.
        target: String,
        /// `[out, in]` integer weights.
        weight: Tensor,
        /// Left shift applied to each weight when it is added (0..=16).
        #[serde(default)]
        shift: u32,
        /// Delay in ticks for every synapse.
        #[serde(default)]
        delay: u32,
        /// Per-synapse extra delays in ticks, `[out, in]` (added to `delay`).
        #[serde(default)]
        delays: Option<Tensor>,
        /// Declared weight width: 4, 8 or 16 bits.
        #[serde(default = "default_weight_bits")]
        weight_bits: u32,
        /// Online learning on this connection (delay 0, no per-synapse delays).
        #[serde(default)]
        plasticity: Option<PlasticitySpec>,
    },
    /// 2-D convolution from a `(C_in, H, W)` source to a `(C_out, H_out, W_out)` target.
    Conv2d {
        /// Unique connection name.
        name: String,
        /// `input` or a layer name.
        source: String,
        /// A layer name.
        target: String,
        /// `[C_out, C_in, kh, kw]` integer kernel.
        weight: Tensor,
        /// `[sh, sw]` (default `[1, 1]`).
        #[serde(default)]
        stride: Option<[u32; 2]>,
        /// `[ph, pw]` zero padding (default `[0, 0]`).
        #[serde(default)]
        padding: Option<[u32; 2]>,
        /// Left shift applied to each weight when it is added (0..=16).
        #[serde(default)]
        shift: u32,
        /// Delay in ticks.
        #[serde(default)]
        delay: u32,
        /// Declared weight width: 4, 8 or 16 bits.
        #[serde(default = "default_weight_bits")]
        weight_bits: u32,
        /// Online learning of the shared kernel (delay 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plasticity: Option<PlasticitySpec>,
    },
    /// Channel-wise sum or average pooling from `(C, H, W)` to `(C, H_out, W_out)`.
    Pool2d {
        /// Unique connection name.
        name: String,
        /// `input` or a layer name.
        source: String,
        /// A layer name.
        target: String,
        /// Sum or average.
        mode: PoolMode,
        /// `[kh, kw]`.
        kernel: [u32; 2],
        /// `[sh, sw]` (default: the kernel).
        #[serde(default)]
        stride: Option<[u32; 2]>,
        /// `[ph, pw]` (default `[0, 0]`).
        #[serde(default)]
        padding: Option<[u32; 2]>,
        /// Contribution of one input spike (before the average's division).
        #[serde(default = "one_i64")]
        weight: i64,
        /// Delay in ticks.
        #[serde(default)]
        delay: u32,
    },
    /// Explicit synapses in compressed sparse rows (one row per source neuron).
    Sparse {
        /// Unique connection name.
        name: String,
        /// `input` or a layer name.
        source: String,
        /// A layer name.
        target: String,
        /// `[n_source + 1]` row pointers.
        indptr: Tensor,
        /// `[nnz]` target neuron indices (C-order).
        indices: Tensor,
        /// `[nnz]` integer weights.
        weights: Tensor,
        /// `[nnz]` per-synapse extra delays in ticks (added to `delay`).
        #[serde(default)]
        delays: Option<Tensor>,
        /// Left shift applied to each weight when it is added (0..=16).
        #[serde(default)]
        shift: u32,
        /// Delay in ticks for every synapse.
        #[serde(default)]
        delay: u32,
        /// Declared weight width: 4, 8 or 16 bits.
        #[serde(default = "default_weight_bits")]
        weight_bits: u32,
        /// Online learning on the synapses (delay 0, no per-synapse delays, at most one
        /// synapse per pair).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plasticity: Option<PlasticitySpec>,
    },
}

fn one_i64() -> i64 {
    1
}

impl ConnectionSpec {
    /// The connection's name.
    pub fn name(&self) -> &str {
        match self {
            ConnectionSpec::Dense { name, .. }
            | ConnectionSpec::Conv2d { name, .. }
            | ConnectionSpec::Pool2d { name, .. }
            | ConnectionSpec::Sparse { name, .. } => name,
        }
    }

    /// Source node name (`input` or a layer).
    pub fn source(&self) -> &str {
        match self {
            ConnectionSpec::Dense { source, .. }
            | ConnectionSpec::Conv2d { source, .. }
            | ConnectionSpec::Pool2d { source, .. }
            | ConnectionSpec::Sparse { source, .. } => source,
        }
    }

    /// Target layer name.
    pub fn target(&self) -> &str {
        match self {
            ConnectionSpec::Dense { target, .. }
            | ConnectionSpec::Conv2d { target, .. }
            | ConnectionSpec::Pool2d { target, .. }
            | ConnectionSpec::Sparse { target, .. } => target,
        }
    }
}

/// Weight dependence of an STDP rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StdpRule {
    /// The change does not depend on the weight.
    #[default]
    Additive,
    /// Potentiation scales with `w_max - w`, depression with `w - w_min`.
    Multiplicative,
}

/// How spikes enter the traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pairing {
    /// Each spike adds 1.0 to the trace (saturating): every pre/post pair counts.
    #[default]
    AllToAll,
    /// Each spike sets the trace to 1.0: only the nearest spike counts.
    Nearest,
}

/// Pair-based STDP on a dense, sparse or convolutional connection (see `plasticity.rs` and docs/numerics.md, "Learning").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlasticitySpec {
    /// Additive or multiplicative.
    #[serde(default)]
    pub rule: StdpRule,
    /// All-to-all or nearest-spike pairing.
    #[serde(default)]
    pub pairing: Pairing,
    /// Potentiation: weight change (in 2^-16 weight units) for a pre trace of 1.0 at a post spike.
    pub a_plus: i64,
    /// Depression: weight change (in 2^-16 weight units) for a post trace of 1.0 at a pre spike.
    pub a_minus: i64,
    /// Pre-synaptic trace decay per tick, Q0.16.
    pub trace_decay_pre: u32,
    /// Post-synaptic trace decay per tick, Q0.16.
    pub trace_decay_post: u32,
    /// Lower weight bound.
    pub w_min: i64,
    /// Upper weight bound.
    pub w_max: i64,
    /// Seed of the stochastic rounding.
    #[serde(default)]
    pub seed: u64,
    /// Learning on at start.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Reward-modulated STDP: pair changes go to per-synapse eligibility traces decaying by
    /// this Q0.16 factor per tick; a reward R (Q8) adds SR(R * e, 2^24) to each weight.
    #[serde(default)]
    pub eligibility_decay: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Element type of a [`Tensor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Signed 8-bit.
    Int8,
    /// Signed 16-bit.
    Int16,
    /// Signed 32-bit.
    Int32,
    /// Signed 64-bit.
    Int64,
    /// Unsigned 8-bit.
    Uint8,
    /// Unsigned 16-bit.
    Uint16,
    /// Unsigned 32-bit.
    Uint32,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Int8 | DType::Uint8 => 1,
            DType::Int16 | DType::Uint16 => 2,
            DType::Int32 | DType::Uint32 => 4,
            DType::Int64 => 8,
        }
    }
}

/// An integer array: element type, shape and data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Shape (C-order).
    pub shape: Vec<u32>,
    /// The elements.
    pub data: TensorData,
}

/// Elements of a [`Tensor`]: raw little-endian bytes (model files, the Python bridge) or a
/// list of integers (readable JSON golden cases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TensorData {
    /// One integer per element. (Listed first: serde_bytes would also accept a list of
    /// small integers as bytes.)
    Ints(Vec<i64>),
    /// Little-endian bytes, `dtype.size()` per element.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl Tensor {
    /// Number of elements the shape declares (saturating, so a huge shape cannot overflow).
    pub fn numel(&self) -> u64 {
        self.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
    }

    /// The elements as i64, after checking that the data matches dtype and shape.
    pub fn to_i64(&self, what: &str) -> crate::Result<Vec<i64>> {
        let n = self.numel();
        let found = match &self.data {
            TensorData::Bytes(b) => (b.len() / self.dtype.size()) as u64,
            TensorData::Ints(v) => v.len() as u64,
        };
        let exact = match &self.data {
            TensorData::Bytes(b) => b.len() % self.dtype.size() == 0,
            TensorData::Ints(_) => true,
        };
        if found != n || !exact {
            return Err(crate::Error::Shape {
                what: what.into(),
                expected: alloc::format!("{:?} ({} elements)", self.shape, n),
                found: alloc::format!("{} elements of {:?}", found, self.dtype),
            });
        }
        Ok(match &self.data {
            TensorData::Ints(v) => {
                let (lo, hi) = self.dtype_range();
                if let Some((k, &x)) = v.iter().enumerate().find(|(_, &x)| x < lo || x > hi) {
                    return Err(crate::Error::ParameterOverflow {
                        layer: what.into(),
                        parameter: alloc::format!("element {k}"),
                        value: alloc::format!("{x}"),
                        range: alloc::format!("{lo}..={hi} ({:?})", self.dtype),
                    });
                }
                v.clone()
            }
            TensorData::Bytes(b) => match self.dtype {
                DType::Int8 => b.iter().map(|&x| x as i8 as i64).collect(),
                DType::Uint8 => b.iter().map(|&x| x as i64).collect(),
                DType::Int16 => b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect(),
                DType::Uint16 => b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i64).collect(),
                DType::Int32 => {
                    b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect()
                }
                DType::Uint32 => {
                    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect()
                }
                DType::Int64 => b
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            },
        })
    }

    fn dtype_range(&self) -> (i64, i64) {
        match self.dtype {
            DType::Int8 => (i8::MIN as i64, i8::MAX as i64),
            DType::Int16 => (i16::MIN as i64, i16::MAX as i64),
            DType::Int32 => (i32::MIN as i64, i32::MAX as i64),
            DType::Int64 => (i64::MIN, i64::MAX),
            DType::Uint8 => (0, u8::MAX as i64),
            DType::Uint16 => (0, u16::MAX as i64),
            DType::Uint32 => (0, u32::MAX as i64),
        }
    }

    /// Builds an `int64` tensor from values (used by tests and builders).
    pub fn from_i64(shape: Vec<u32>, values: Vec<i64>) -> Self {
        Tensor { dtype: DType::Int64, shape, data: TensorData::Ints(values) }
    }
}
