//! Population coding: each channel's value is seen by `N` neurons with Gaussian receptive
//! fields evenly spread over `[lo, hi]`; each neuron's response then drives a latency or a
//! rate code.
//!
//! Neuron `j` of channel `c` (event `x = c · N + j`) has centre `μ_j = lo + j · (hi - lo) /
//! (N - 1)` and width `σ` (default: two thirds of the spacing, as in Bohte et al. 2002), and
//! responds to value `v` with `r_j = exp(-(v - μ_j)² / (2σ²))` in `(0, 1]`. The responses go
//! to a [`LatencyEncoder`] (one window of `num_steps` per sample: the best-tuned neuron fires
//! first, neurons with `r < threshold` stay silent) or to a [`RateEncoder`] (held for
//! `num_steps` steps). Decoding: the centre of the first neuron to fire, or the
//! response-weighted mean of the centres, recovers the value to within the spacing.

use alloc::vec;
use alloc::vec::Vec;

use super::latency::{LatencyEncoder, LatencyMode, LatencyParams, SILENT};
use super::rate::{RateEncoder, RateMode, RateParams};
use super::rng::UNIT_STEPS;
use super::{bad_param, check_positive, frame_count, EventSink, Layout};
use crate::error::Result;

const WHAT: &str = "population encoder";

/// What turns the responses into spikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PopulationCode {
    /// One spike per neuron and sample (latency of the response, linear).
    Latency {
        /// Responses below this stay silent.
        threshold: f64,
    },
    /// A rate code of the response held for the window.
    Rate {
        /// Rate at response 1, in Hz.
        max_rate_hz: f64,
        /// Poisson or regular.
        mode: RateMode,
        /// Seed of the Poisson draws.
        seed: u64,
    },
}

/// Parameters of a [`PopulationEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationParams {
    /// Number of input channels.
    pub n_channels: usize,
    /// Neurons per channel (≥ 2).
    pub n_neurons: usize,
    /// Centre of the first neuron.
    pub lo: f64,
    /// Centre of the last neuron (> lo).
    pub hi: f64,
    /// Width of the receptive fields (> 0).
    pub sigma: f64,
    /// Steps per sample.
    pub num_steps: u32,
    /// Step length in microseconds.
    pub dt_us: u64,
    /// Latency or rate.
    pub code: PopulationCode,
    /// Time of step 0 in microseconds.
    pub t0_us: u64,
}

impl PopulationParams {
    /// The default width: two thirds of the spacing of the centres.
    pub fn default_sigma(lo: f64, hi: f64, n_neurons: usize) -> f64 {
        (hi - lo) / (n_neurons.max(2) - 1) as f64 / 1.5
    }
}

#[derive(Debug, Clone)]
enum Inner {
    Latency(LatencyEncoder),
    Rate(RateEncoder),
}

/// A streaming population encoder.
#[derive(Debug, Clone)]
pub struct PopulationEncoder {
    params: PopulationParams,
    centres: Vec<f64>,
    /// `-1 / (2σ²)`.
    gain: f64,
    /// Exponents below this give a response that codes no spike at all (see `responses`).
    silent_below: f64,
    inner: Inner,
    responses: Vec<f64>,
    /// The latency code's steps read from the exponent (see [`StepTable`]), when it applies.
    table: Option<StepTable>,
    /// Scratch: the exponents of one sample's neurons.
    exponents: Vec<f64>,
    /// Scratch: the (neuron, step) pairs of one sample's spikes.
    fired: Vec<(u32, u32)>,
}

/// Margin (in exponent units) around each step boundary of a [`StepTable`] within which the
/// step is computed with `exp` rather than read from the table. The boundaries are logarithms
/// of doubles in (0, 1], so their magnitude is below 745 and their rounding error below
/// 2·10^-13; `libm::exp` is within 1 ulp (a relative 2.2·10^-16, that is 2.2·10^-16 in the
/// exponent). 10^-9 covers both with a wide margin and is hit by a vanishing fraction of inputs.
const TABLE_MARGIN: f64 = 1e-9;

/// Largest window for which a [`StepTable`] is built (its construction bisects each of the
/// `T` boundaries over the 62 bits of a double in (0, 1]).
const TABLE_MAX_STEPS: u32 = 1024;

/// The latency step of a response `r = exp(x)` read from the exponent `x` without `exp`.
///
/// Why: `exp` per neuron was the dearest step of the population code. The step of a response
/// is a monotone function of it (`r ≥ θ`, then `floor((1 - min(r, 1))(T - 1) + 0.5)`: every
/// floating-point operation in it is monotone), so the responses giving step `≤ s` are those
/// `≥ R_s`, the smallest double for which the latency encoder gives step `≤ s` (found by
/// bisection at construction, with the latency encoder's own `spike_step`). With
/// `X_s = ln R_s`: if `x ≥ X_s + m` then `libm::exp(x) ≥ R_s`, and if `x ≤ X_s - m` then
/// `libm::exp(x) < R_s`, for the margin `m` = [`TABLE_MARGIN`]. So the step of `x` is the
/// number of boundaries above it whenever no boundary lies within `m` of `x`; otherwise (and
/// for NaN) the step is computed as before, with `exp` and `spike_step`. The result is the
/// same bit for bit as computing every response: this is a shortcut, not an approximation.
/// Rejected: a table of `exp` over a grid of `x` (inputs are arbitrary doubles, so it would
/// not give the same bits), and a faster `exp` (`f32` or a short polynomial), which would
/// change the documented numerics.
#[derive(Debug, Clone)]
struct StepTable {
    /// `X_s = ln R_s` for `s` in `0..T`, decreasing (`+∞` where no response reaches step `s`).
    bounds: Vec<f64>,
    /// `lo[s] = X_s + m` (`-∞` for `s = T`): `x ≥ lo[s]` is certainly above boundary `s`.
    lo: Vec<f64>,
    /// `hi[s] = X_{s-1} - m` (`+∞` for `s = 0`): `x ≤ hi[s]` is certainly below boundary `s - 1`.
    hi: Vec<f64>,
    /// Exponents below `hi[T]` are certainly silent.
    silent_at_most: f64,
}

impl StepTable {
    /// The table for a latency encoder's steps, or `None` where it does not apply (threshold
    /// 0, where `exp` underflowing to 0 still spikes, or windows over [`TABLE_MAX_STEPS`]).
    fn new(latency: &LatencyEncoder) -> Option<Self> {
        let p = latency.params();
        // The threshold is finite (checked by the latency encoder).
        if p.threshold <= 0.0 || p.num_steps > TABLE_MAX_STEPS {
            return None;
        }
        let one = 1.0f64.to_bits();
        let mut bounds = Vec::with_capacity(p.num_steps as usize);
        for s in 0..p.num_steps {
            let reaches = |bits: u64| latency.spike_step(f64::from_bits(bits)).is_some_and(|st| st <= s);
            if !reaches(one) {
                bounds.push(f64::INFINITY);
                continue;
            }
            // Smallest bit pattern in [0, 1.0] (ordered like the values) that reaches step s.
            let lo = super::first_bits_where(0, one, reaches);
            bounds.push(libm::log(f64::from_bits(lo)));
        }
        let t = bounds.len();
        let lo: Vec<f64> =
            bounds.iter().map(|&b| b + TABLE_MARGIN).chain(core::iter::once(f64::NEG_INFINITY)).collect();
        let hi: Vec<f64> = core::iter::once(f64::INFINITY).chain(bounds.iter().map(|&b| b - TABLE_MARGIN)).collect();
        Some(StepTable { silent_at_most: hi[t], bounds, lo, hi })
    }

    /// The step of exponent `x` (`T` for silent), or `None` when `x` is within the margin of
    /// a boundary.
    #[inline(always)]
    fn step(&self, x: f64) -> Option<u32> {
        let s = if self.bounds.len() <= 32 {
            // Vectorises: T compares and a sum.
            self.bounds.iter().map(|&b| (x < b) as usize).sum::<usize>()
        } else {
            self.bounds.partition_point(|&b| b > x)
        };
        if x >= self.lo[s] && x <= self.hi[s] {
            Some(s as u32)
        } else {
            None
        }
    }
}

impl PopulationEncoder {
    /// Checks the parameters and builds the encoder.
    pub fn new(params: PopulationParams) -> Result<Self> {
        if params.n_neurons < 2 {
            return Err(bad_param(WHAT, "n_neurons", params.n_neurons, ">= 2"));
        }
        if !(params.lo.is_finite() && params.hi.is_finite() && params.hi > params.lo) {
            return Err(bad_param(WHAT, "hi", params.hi, "finite lo < hi"));
        }
        check_positive(WHAT, "sigma", params.sigma)?;
        let total = params.n_channels.saturating_mul(params.n_neurons);
        let layout = Layout::line(total);
        layout.check(WHAT)?;
        let spacing = (params.hi - params.lo) / (params.n_neurons - 1) as f64;
        let centres: Vec<f64> = (0..params.n_neurons).map(|j| params.lo + j as f64 * spacing).collect();
        let inner = match params.code {
            PopulationCode::Latency { threshold } => Inner::Latency(LatencyEncoder::new(LatencyParams {
                layout,
                num_steps: params.num_steps,
                dt_us: params.dt_us,
                mode: LatencyMode::Linear,
                threshold,
                t0_us: params.t0_us,
            })?),
            PopulationCode::Rate { max_rate_hz, mode, seed } => {
                if params.num_steps == 0 {
                    return Err(bad_param(WHAT, "num_steps", 0, ">= 1"));
                }
                Inner::Rate(RateEncoder::new(RateParams {
                    layout,
                    dt_us: params.dt_us,
                    max_rate_hz,
                    mode,
                    seed,
                    t0_us: params.t0_us,
                })?)
            }
        };
        // Why skip exp: most neurons of a population are far from the value, and exp is
        // the dearest step. It is skipped only where the result provably codes nothing:
        // below the latency threshold (exp is monotone; the margin of 1e-9 covers libm's
        // sub-ulp error), or, for Poisson, below 2^-54 / p_max, where the spike probability
        // rounds to a zero threshold. Regular rate codes accumulate every response and skip
        // nothing.
        let silent_below = match params.code {
            PopulationCode::Latency { threshold } if threshold > 0.0 => libm::log(threshold) - 1e-9,
            PopulationCode::Rate { max_rate_hz, mode: RateMode::Poisson, .. } => {
                let p_max = (max_rate_hz * params.dt_us as f64 / 1e6).max(1e-300);
                libm::log(1.0 / (UNIT_STEPS * 2.0) / p_max) - 1e-9
            }
            _ => f64::NEG_INFINITY,
        };
        let table = match (&inner, params.code) {
            (Inner::Latency(e), PopulationCode::Latency { .. }) => StepTable::new(e),
            _ => None,
        };
        Ok(PopulationEncoder {
            table,
            exponents: vec![0.0; total],
            fired: Vec::new(),
            silent_below,
            gain: -1.0 / (2.0 * params.sigma * params.sigma),
            centres,
            inner,
            responses: vec![0.0; total],
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &PopulationParams {
        &self.params
    }

    /// The centres of the receptive fields.
    pub fn centres(&self) -> &[f64] {
        &self.centres
    }

    /// The step clock.
    pub fn clock(&self) -> &super::SampleClock {
        match &self.inner {
            Inner::Latency(e) => e.clock(),
            Inner::Rate(e) => e.clock(),
        }
    }

    /// Pins the next sample's first step to `t_us`.
    pub fn set_time(&mut self, t_us: u64) -> Result<()> {
        match &mut self.inner {
            Inner::Latency(e) => e.set_time(t_us),
            Inner::Rate(e) => e.set_time(t_us),
        }
    }

    /// Back to the initial state.
    pub fn reset(&mut self) {
        match &mut self.inner {
            Inner::Latency(e) => e.reset(),
            Inner::Rate(e) => e.reset(),
        }
    }

    /// The responses of the neurons of one channel to `v` (written to `out`, `N` values).
    /// Responses too small to code any spike are written as 0.
    pub fn responses(&self, v: f64, out: &mut [f64]) {
        for (r, &mu) in out.iter_mut().zip(&self.centres) {
            let d = v - mu;
            let x = d * d * self.gain;
            *r = if x < self.silent_below { 0.0 } else { libm::exp(x) };
        }
    }

    /// About how many events `n_values` values (whole samples of every channel) make, for
    /// sizing buffers: for the latency code, the neurons whose centre lies within the radius
    /// where the response reaches the threshold (an upper bound); for the rate codes, the
    /// expected count of a value halfway between two centres.
    pub fn events_hint(&self, n_values: usize) -> usize {
        let p = &self.params;
        let spacing = (p.hi - p.lo) / (p.n_neurons - 1) as f64;
        let per_value = match p.code {
            PopulationCode::Latency { threshold } => {
                let radius = if threshold > 0.0 && threshold < 1.0 {
                    p.sigma * libm::sqrt(-2.0 * libm::log(threshold))
                } else {
                    f64::INFINITY
                };
                (2.0 * radius / spacing + 2.0).min(p.n_neurons as f64)
            }
            PopulationCode::Rate { max_rate_hz, .. } => {
                let p_max = (max_rate_hz * p.dt_us as f64 / 1e6).clamp(0.0, 1.0);
                let mass = (2.5066 * p.sigma / spacing + 1.0).min(p.n_neurons as f64);
                mass * p_max * p.num_steps as f64
            }
        };
        (n_values as f64 * per_value) as usize + 64
    }

    /// Encodes `samples`: whole samples of every channel, one window of `num_steps` each.
    pub fn push(&mut self, samples: &[f64], out: &mut impl EventSink) -> Result<()> {
        let c_n = self.params.n_channels;
        frame_count(WHAT, samples.len(), c_n)?;
        if self.table.is_some() {
            for frame in samples.chunks_exact(c_n) {
                self.latency_window(frame, out);
            }
            return Ok(());
        }
        let n = self.params.n_neurons;
        let mut responses = core::mem::take(&mut self.responses);
        let mut result = Ok(());
        for frame in samples.chunks_exact(c_n) {
            for (c, &v) in frame.iter().enumerate() {
                self.responses(v, &mut responses[c * n..(c + 1) * n]);
            }
            result = match &mut self.inner {
                Inner::Latency(e) => e.push(&responses, out),
                Inner::Rate(e) => e.hold(&responses, self.params.num_steps as u64, out),
            };
            if result.is_err() {
                break;
            }
        }
        self.responses = responses;
        result
    }

    /// One sample of the latency code through the [`StepTable`]: the exponents of all
    /// neurons (a vectorised pass), then only the neurons that may spike, found 64 at a time
    /// from a bit mask (no branch per neuron), then a sparse counting sort.
    fn latency_window(&mut self, frame: &[f64], out: &mut impl EventSink) {
        let (Some(table), Inner::Latency(inner)) = (&self.table, &mut self.inner) else {
            return;
        };
        let n = self.params.n_neurons;
        for (xs, &v) in self.exponents.chunks_exact_mut(n).zip(frame) {
            for (x, &mu) in xs.iter_mut().zip(&self.centres) {
                let d = v - mu;
                *x = d * d * self.gain;
            }
        }
        self.fired.clear();
        let cut = table.silent_at_most;
        for (g, xs) in self.exponents.chunks(64).enumerate() {
            // Bit j: neuron 64g + j is above the certainly-silent range (NaN is not).
            let mut mask = 0u64;
            for (j, &x) in xs.iter().enumerate() {
                mask |= ((x > cut) as u64) << j;
            }
            while mask != 0 {
                let j = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let x = xs[j];
                let s = match table.step(x) {
                    Some(s) => s,
                    None => {
                        let r = if x < self.silent_below { 0.0 } else { libm::exp(x) };
                        inner.spike_step(r).unwrap_or(SILENT)
                    }
                };
                if s < self.params.num_steps {
                    self.fired.push(((64 * g + j) as u32, s));
                }
            }
        }
        inner.emit_sparse(&self.fired, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    /// The latency code through `exp` and the latency encoder, neuron by neuron (the path the
    /// step table replaces).
    fn through_exp(e: &PopulationEncoder, samples: &[f64]) -> Vec<Event> {
        let p = e.params();
        let PopulationCode::Latency { threshold } = p.code else { unreachable!() };
        let mut lat = LatencyEncoder::new(LatencyParams {
            layout: Layout::line(p.n_channels * p.n_neurons),
            num_steps: p.num_steps,
            dt_us: p.dt_us,
            mode: LatencyMode::Linear,
            threshold,
            t0_us: p.t0_us,
        })
        .unwrap();
        let mut responses = vec![0.0; p.n_channels * p.n_neurons];
        let mut out = Vec::new();
        for frame in samples.chunks_exact(p.n_channels) {
            for (c, &v) in frame.iter().enumerate() {
                e.responses(v, &mut responses[c * p.n_neurons..(c + 1) * p.n_neurons]);
            }
            lat.push(&responses, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn step_table_gives_the_bits_of_exp() {
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for (n, t, th) in [(16, 16, 0.05), (7, 3, 0.2), (12, 100, 0.01), (5, 1, 0.5), (70, 33, 1e-6)] {
            let mut e = PopulationEncoder::new(PopulationParams {
                n_channels: 3,
                n_neurons: n,
                lo: -1.0,
                hi: 2.0,
                sigma: PopulationParams::default_sigma(-1.0, 2.0, n),
                num_steps: t,
                dt_us: 10,
                code: PopulationCode::Latency { threshold: th },
                t0_us: 5,
            })
            .unwrap();
            let table = e.table.clone().unwrap();
            // Random values, and values whose exponent lands on, or one ulp either side of,
            // each boundary of the table (the cases the margin sends to exp).
            let mut values: Vec<f64> = (0..3000).map(|_| -1.5 + 4.0 * next()).collect();
            let (gain, mu) = (e.gain, e.centres()[n / 2]);
            for &b in table.bounds.iter().filter(|b| b.is_finite()) {
                let d = libm::sqrt(b / gain);
                for v in [mu + d, mu - d] {
                    values.extend([v, f64::from_bits(v.to_bits() + 1), f64::from_bits(v.to_bits() - 1)]);
                }
            }
            values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5, -1.0, 2.0]);
            values.truncate(values.len() / 3 * 3);
            let mut got = Vec::new();
            e.push(&values, &mut got).unwrap();
            assert_eq!(got, through_exp(&e, &values), "n={n} T={t} th={th}");
        }
    }

    #[test]
    fn first_spike_is_the_nearest_centre() {
        let mut e = PopulationEncoder::new(PopulationParams {
            n_channels: 1,
            n_neurons: 11,
            lo: 0.0,
            hi: 1.0,
            sigma: PopulationParams::default_sigma(0.0, 1.0, 11),
            num_steps: 32,
            dt_us: 1000,
            code: PopulationCode::Latency { threshold: 0.05 },
            t0_us: 0,
        })
        .unwrap();
        for v in [0.0, 0.13, 0.5, 0.77, 1.0] {
            let mut out = Vec::<Event>::new();
            e.reset();
            e.push(&[v], &mut out).unwrap();
            let first = out[0].x as f64 / 10.0;
            assert!((first - v).abs() <= 0.05 + 1e-12, "{v} -> {first}");
        }
    }
}
