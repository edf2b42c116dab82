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

use super::latency::{LatencyEncoder, LatencyMode, LatencyParams};
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
        Ok(PopulationEncoder {
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

    /// Encodes `samples`: whole samples of every channel, one window of `num_steps` each.
    pub fn push(&mut self, samples: &[f64], out: &mut impl EventSink) -> Result<()> {
        let c_n = self.params.n_channels;
        let n = self.params.n_neurons;
        frame_count(WHAT, samples.len(), c_n)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

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
