//! Neuron dynamics: one tick of the integer contract, and the exact catch-up of idle ticks.
//!
//! All six NIR neuron models (IF, LIF, CubaLIF, LI, CubaLI, Integrator) are one update with
//! switches: `has_current` (a synaptic current state between input and membrane), `spiking`,
//! the two decay factors (65536 = no leak), refractory ticks and an adaptive threshold.
//!
//! One tick for one neuron, with `a` the exact sum of this tick's synaptic input (already
//! saturated to i32) and `S` saturation to the state range (`docs/numerics.md`, "One tick"):
//!
//! ```text
//! 1. i  <- S(decay(i, decay_syn) + a + bias_syn)      (current models only)
//!    x  <- i  for current models, a otherwise          (the drive of the membrane)
//! 2. θ  <- decay(θ, adapt_decay)
//! 3. if r > 0:  r <- r - 1                             (refractory: v held, x discarded)
//!    else:      v <- S(decay(v, decay_mem) + x + bias)
//!               if spiking and v >= threshold + θ:
//!                   spike; v <- S(v - (threshold + θ)) or v_reset; r <- refractory;
//!                   θ <- S(θ + adapt_increment)
//! ```
//!
//! **Idle ticks.** After a tick, a neuron is *live* (it must be stepped next tick even without
//! input) if its current is non-zero, a bias is non-zero, or it spikes and `v >= threshold`.
//! Otherwise a tick without input cannot make it spike: the current stays 0, `|v|` can only
//! shrink and θ ≥ 0. Such a neuron is left alone, and when it is next touched, [`catch_up`]
//! applies the skipped ticks exactly (refractory countdown, then membrane decay; θ decay),
//! with loops that stop as soon as the state reaches zero.

use crate::fixed::{decay, decay_n, saturate, state_range, DECAY_ONE};

/// Reset applied after a spike, in compiled form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// `v <- v - (threshold + θ)`.
    Subtract,
    /// `v <- value`.
    ToValue(i32),
}

/// Compiled, validated parameters shared by every neuron of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronParams {
    /// Whether the neuron can spike.
    pub spiking: bool,
    /// Whether a synaptic current state sits between input and membrane.
    pub has_current: bool,
    /// Membrane decay, Q0.16.
    pub decay_mem: u32,
    /// Current decay, Q0.16 (only with `has_current`).
    pub decay_syn: u32,
    /// Threshold (≥ 1 for spiking layers).
    pub threshold: i32,
    /// Reset mode.
    pub reset: Reset,
    /// Refractory ticks.
    pub refractory: u32,
    /// θ increment per spike (≥ 0; 0 = no adaptation).
    pub adapt_increment: i32,
    /// θ decay per tick, Q0.16.
    pub adapt_decay: u32,
    /// θ is a state even without increments (a frozen learned θ).
    pub theta_state: bool,
    /// Lower bound of current and membrane (state_bits).
    pub lo: i64,
    /// Upper bound of current, membrane and θ (state_bits).
    pub hi: i64,
}

impl NeuronParams {
    /// Whether θ is a state of this layer.
    pub fn adaptive(&self) -> bool {
        self.adapt_increment != 0 || self.theta_state
    }

    /// Parameters of a plain LIF (no current, no refractory period, no adaptation).
    pub fn lif(decay_mem: u32, threshold: i32, reset: Reset, state_bits: u32) -> Self {
        let (lo, hi) = state_range(state_bits);
        NeuronParams {
            spiking: true,
            has_current: false,
            decay_mem,
            decay_syn: DECAY_ONE,
            threshold,
            reset,
            refractory: 0,
            adapt_increment: 0,
            adapt_decay: DECAY_ONE,
            theta_state: false,
            lo,
            hi,
        }
    }
}

/// Mutable state of one neuron, gathered from the layer's arrays for one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeuronState {
    /// Membrane potential.
    pub v: i32,
    /// Synaptic current (0 for models without one).
    pub i: i32,
    /// Adaptive threshold offset θ (≥ 0).
    pub theta: i32,
    /// Refractory ticks left.
    pub r: u32,
}

/// Outcome of one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepResult {
    /// The neuron spiked this tick.
    pub spike: bool,
    /// The neuron must be stepped next tick even without input.
    pub live: bool,
}

/// One tick of the contract (see the module documentation) for input `a`, membrane bias
/// `bias` and current bias `bias_syn` (0 for models without a current).
#[inline(always)]
pub fn step(p: &NeuronParams, s: &mut NeuronState, a: i32, bias: i32, bias_syn: i32) -> StepResult {
    // 1. current: Q(state) * Q0.16 -> truncated toward zero; + i32 input + bias in i64; saturate.
    let drive = if p.has_current {
        s.i = saturate(decay(s.i, p.decay_syn) as i64 + a as i64 + bias_syn as i64, p.lo, p.hi);
        s.i
    } else {
        a
    };
    // 2. adaptive offset decays every tick, spiking or not.
    if p.adapt_decay != DECAY_ONE {
        s.theta = decay(s.theta, p.adapt_decay);
    }
    let mut spike = false;
    if s.r > 0 {
        // 3a. refractory: membrane held, drive discarded.
        s.r -= 1;
    } else {
        // 3b. membrane: decay + drive + bias, exact in i64, saturated once.
        let v = decay(s.v, p.decay_mem) as i64 + drive as i64 + bias as i64;
        s.v = saturate(v, p.lo, p.hi);
        if p.spiking {
            let thr = p.threshold as i64 + s.theta as i64;
            if s.v as i64 >= thr {
                spike = true;
                s.v = match p.reset {
                    Reset::Subtract => saturate(s.v as i64 - thr, p.lo, p.hi),
                    Reset::ToValue(x) => x,
                };
                s.r = p.refractory;
                if p.adapt_increment != 0 {
                    s.theta = saturate(s.theta as i64 + p.adapt_increment as i64, 0, p.hi);
                }
            }
        }
    }
    let live = (p.has_current && s.i != 0) || bias != 0 || bias_syn != 0 || (p.spiking && s.v >= p.threshold);
    StepResult { spike, live }
}

/// Applies `idle` ticks without input to a neuron that was not live after its last update.
///
/// Exactly equal to `idle` calls of [`step`] with `a = 0` and zero biases on such a neuron:
/// the current is 0 and stays 0; θ decays every tick; the refractory counter runs down first
/// (membrane held), then the membrane decays for the remaining ticks; no spike can occur.
#[inline]
pub fn catch_up(p: &NeuronParams, s: &mut NeuronState, idle: u64) {
    if idle == 0 {
        return;
    }
    if p.adapt_decay != DECAY_ONE {
        s.theta = decay_n(s.theta, p.adapt_decay, idle);
    }
    let held = (s.r as u64).min(idle);
    s.r -= held as u32;
    s.v = decay_n(s.v, p.decay_mem, idle - held);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> NeuronParams {
        let (lo, hi) = state_range(16);
        NeuronParams {
            spiking: true,
            has_current: true,
            decay_mem: 60000,
            decay_syn: 50000,
            threshold: 1000,
            reset: Reset::Subtract,
            refractory: 3,
            adapt_increment: 200,
            adapt_decay: 65000,
            theta_state: false,
            lo,
            hi,
        }
    }

    #[test]
    fn catch_up_equals_idle_steps() {
        // From many non-live states, `catch_up(g)` equals g steps with zero input.
        let p = params();
        for v in [-32768, -500, -1, 0, 1, 400, 999] {
            for r in [0u32, 1, 2, 5] {
                for theta in [0, 7, 3000] {
                    let s0 = NeuronState { v, i: 0, theta, r };
                    for g in 0..50u64 {
                        let mut a = s0;
                        catch_up(&p, &mut a, g);
                        let mut b = s0;
                        for _ in 0..g {
                            let res = step(&p, &mut b, 0, 0, 0);
                            assert!(!res.spike);
                        }
                        assert_eq!(a, b, "v {v} r {r} theta {theta} g {g}");
                    }
                }
            }
        }
    }

    #[test]
    fn spike_reset_refractory_and_adaptation() {
        let p = params();
        let mut s = NeuronState::default();
        let r = step(&p, &mut s, 1500, 0, 0);
        // current 1500 -> membrane 1500 >= 1000: spike, subtract 1000, refractory 3, θ 200.
        assert!(r.spike);
        assert_eq!((s.i, s.v, s.r, s.theta), (1500, 500, 3, 200));
        assert!(r.live); // current non-zero
        let r = step(&p, &mut s, 0, 0, 0);
        assert!(!r.spike);
        assert_eq!(s.v, 500); // held
        assert_eq!(s.r, 2);
    }

    #[test]
    fn saturation_at_state_bits() {
        let p = NeuronParams::lif(DECAY_ONE, 30000, Reset::ToValue(0), 16);
        let mut s = NeuronState { v: -32000, ..Default::default() };
        step(&p, &mut s, -10_000, 0, 0);
        assert_eq!(s.v, -32768);
        let mut s = NeuronState::default();
        let r = step(&p, &mut s, 1 << 30, 0, 0);
        assert!(r.spike);
        assert_eq!(s.v, 0);
    }
}
