//! Rate coding: an intensity per channel and step becomes a spike train whose rate follows it.
//!
//! Each step lasts `dt_us`. The spike probability of channel `c` in step `k` is
//! `p = min(max(v, 0) · p_max, 1)`, with `p_max = max_rate_hz · dt_us / 10^6` (the
//! probability at intensity 1; `max_rate_hz = 10^6 / dt_us` gives `p = v`, as snnTorch's
//! `spikegen.rate`).
//!
//! - **Poisson** (Bernoulli per step): channel `c` spikes in step `k` when
//!   `draw(key(seed, c), k) >> 11 < threshold(p)` ([`super::rng`]). Over `n` steps the count
//!   is Binomial(n, p), the discrete-time Poisson process.
//! - **Regular**: an accumulator per channel adds `p` each step and spikes (subtracting 1)
//!   when it reaches 1: the most even train with the same mean rate, no randomness.
//!
//! At most one spike per channel and step. Events are at `t(k)` (the step's start), `x`/`y`
//! from the channel, `p = 1`.

use alloc::vec;
use alloc::vec::Vec;

use super::rng::{draw, stream_key, threshold};
use super::{bad_param, check_non_negative, event_from_words, frame_count, EventSink, Layout, SampleClock};
use crate::error::Result;
use crate::Event;

const WHAT: &str = "rate encoder";

/// How the spikes are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateMode {
    /// Independent Bernoulli draws per step (seeded, counter-based).
    Poisson,
    /// Deterministic, evenly spaced spikes (an accumulator per channel).
    Regular,
}

/// Parameters of a [`RateEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateParams {
    /// Channels and their event coordinates.
    pub layout: Layout,
    /// Step length in microseconds (> 0).
    pub dt_us: u64,
    /// Spike rate at intensity 1, in Hz (≥ 0).
    pub max_rate_hz: f64,
    /// Poisson or regular.
    pub mode: RateMode,
    /// Seed of the random draws (Poisson only).
    pub seed: u64,
    /// Time of step 0 in microseconds.
    pub t0_us: u64,
}

/// A streaming rate encoder.
#[derive(Debug, Clone)]
pub struct RateEncoder {
    params: RateParams,
    /// Probability per step at intensity 1.
    p_max: f64,
    keys: Vec<u64>,
    acc: Vec<f64>,
    clock: SampleClock,
    /// `(x, y)` of each channel.
    xy: Vec<[u16; 2]>,
    /// The second record word of each channel's event ([`super::event_word`]).
    words: Vec<u64>,
    /// Scratch: the probability of each channel for the held frame.
    prob: Vec<f64>,
    /// Scratch: the channels that can fire, as parallel arrays (key, integer threshold,
    /// channel) so that the draws of one step run as one vectorisable loop.
    act_keys: Vec<u64>,
    act_thr: Vec<u64>,
    act_ch: Vec<u32>,
    /// Scratch: per 64 active channels, which fire in the current step (bit `j`: active
    /// channel `64g + j`).
    masks: Vec<u64>,
    /// Scratch: the record word of each active channel.
    act_words: Vec<u64>,
}

impl RateEncoder {
    /// Checks the parameters and builds the encoder.
    pub fn new(params: RateParams) -> Result<Self> {
        params.layout.check(WHAT)?;
        if params.dt_us == 0 {
            return Err(bad_param(WHAT, "dt_us", 0, "> 0"));
        }
        check_non_negative(WHAT, "max_rate_hz", params.max_rate_hz)?;
        let n = params.layout.n_channels;
        let p_max = params.max_rate_hz * params.dt_us as f64 / 1e6;
        let keys = (0..n as u64).map(|c| stream_key(params.seed, c)).collect();
        let clock = SampleClock::new(WHAT, params.t0_us, params.dt_us, 1)?;
        Ok(RateEncoder {
            p_max,
            keys,
            acc: vec![0.0; n],
            clock,
            xy: params.layout.coords(),
            words: params.layout.words(1),
            prob: vec![0.0; n],
            act_keys: Vec::with_capacity(n),
            act_thr: Vec::with_capacity(n),
            act_ch: Vec::with_capacity(n),
            masks: Vec::new(),
            act_words: Vec::with_capacity(n),
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &RateParams {
        &self.params
    }

    /// The step clock (index and time of the next step).
    pub fn clock(&self) -> &SampleClock {
        &self.clock
    }

    /// Pins the next step to `t_us` (not earlier than the last step).
    pub fn set_time(&mut self, t_us: u64) -> Result<()> {
        let earliest = self.clock.last_time();
        self.clock.set_time(WHAT, t_us, earliest)
    }

    /// Back to the initial state (step 0 at `t0_us`, accumulators empty).
    pub fn reset(&mut self) {
        self.acc.iter_mut().for_each(|a| *a = 0.0);
        self.clock.reset(self.params.t0_us);
    }

    /// The spike probability per step of intensity `v`.
    #[inline(always)]
    fn probability(&self, v: f64) -> f64 {
        let p = v * self.p_max;
        if p > 0.0 {
            if p < 1.0 {
                p
            } else {
                1.0
            }
        } else {
            0.0
        }
    }

    /// About how many events `steps` steps of `values` (whole steps of every channel) make:
    /// the expected count plus a margin of a few standard deviations. For sizing buffers.
    pub fn expected_events(&self, values: &[f64], steps: u64) -> usize {
        let mean: f64 = values.iter().map(|&v| self.probability(v)).sum::<f64>() * steps as f64;
        (mean + 4.0 * libm::sqrt(mean) + self.params.layout.n_channels as f64 + 64.0) as usize
    }

    /// Encodes time-varying intensities: `samples` holds whole steps of every channel
    /// (step-major), one step per `n_channels` values.
    pub fn push(&mut self, samples: &[f64], out: &mut impl EventSink) -> Result<()> {
        let n = self.params.layout.n_channels;
        frame_count(WHAT, samples.len(), n)?;
        for frame in samples.chunks_exact(n) {
            self.hold(frame, 1, out)?;
        }
        Ok(())
    }

    /// Encodes the intensities `values` (one per channel) held for `steps` steps. Equal to
    /// [`push`](Self::push) with `steps` copies of `values`, and faster.
    pub fn hold(&mut self, values: &[f64], steps: u64, out: &mut impl EventSink) -> Result<()> {
        let n = self.params.layout.n_channels;
        if frame_count(WHAT, values.len(), n)? != 1 {
            return Err(crate::Error::Shape {
                what: "rate encoder values".into(),
                expected: alloc::format!("{n} values (one per channel)"),
                found: alloc::format!("{} values", values.len()),
            });
        }
        self.act_keys.clear();
        self.act_thr.clear();
        self.act_ch.clear();
        for (c, &v) in values.iter().enumerate() {
            let p = self.probability(v);
            self.prob[c] = p;
            if p > 0.0 {
                self.act_keys.push(self.keys[c]);
                self.act_thr.push(threshold(p));
                self.act_ch.push(c as u32);
            }
        }
        let k0 = self.clock.next_index();
        match self.params.mode {
            RateMode::Poisson => {
                // Per step, the draws of every active channel in one branch-free loop per 64
                // channels (the compiler runs it on vector lanes; a spike is a coin flip the
                // branch predictor cannot learn) into a bit mask, then the events of the set
                // bits, in channel order, straight into the output.
                //
                // Why masks: the loop that compacted a byte per channel into a list of firing
                // channels cost as much as the draws (a store and an add per channel, firing
                // or not); walking the set bits costs per firing channel only.
                let groups = self.act_ch.len().div_ceil(64);
                self.masks.clear();
                self.masks.resize(groups, 0);
                self.act_words.clear();
                self.act_words.extend(self.act_ch.iter().map(|&c| self.words[c as usize]));
                for k in k0..k0.saturating_add(steps) {
                    let mut total = 0usize;
                    for ((m, keys), thrs) in
                        self.masks.iter_mut().zip(self.act_keys.chunks(64)).zip(self.act_thr.chunks(64))
                    {
                        let mut mask = 0u64;
                        for (j, (&key, &thr)) in keys.iter().zip(thrs).enumerate() {
                            mask |= (((draw(key, k) >> 11) < thr) as u64) << j;
                        }
                        *m = mask;
                        total += mask.count_ones() as usize;
                    }
                    let t = self.clock.time_of(k);
                    let slots = out.append_slots(total);
                    let mut i = 0;
                    for (&mask, words) in self.masks.iter().zip(self.act_words.chunks(64)) {
                        let mut mask = mask;
                        while mask != 0 {
                            let j = mask.trailing_zeros() as usize;
                            mask &= mask - 1;
                            slots[i] = event_from_words(t, words[j]);
                            i += 1;
                        }
                    }
                }
            }
            RateMode::Regular => {
                for k in k0..k0.saturating_add(steps) {
                    let t = self.clock.time_of(k);
                    for &c in &self.act_ch {
                        let c = c as usize;
                        let a = self.acc[c] + self.prob[c];
                        if a >= 1.0 {
                            self.acc[c] = a - 1.0;
                            let [x, y] = self.xy[c];
                            out.push_event(Event::new(t, x, y, 1));
                        } else {
                            self.acc[c] = a;
                        }
                    }
                }
            }
        }
        self.clock.advance(steps);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(mode: RateMode, n: usize) -> RateEncoder {
        RateEncoder::new(RateParams {
            layout: Layout::line(n),
            dt_us: 1000,
            max_rate_hz: 1000.0,
            mode,
            seed: 5,
            t0_us: 0,
        })
        .unwrap()
    }

    #[test]
    fn hold_equals_push_and_chunking() {
        for mode in [RateMode::Poisson, RateMode::Regular] {
            let vals = [0.0, 0.1, 0.5, 1.0, 0.33];
            let mut a = Vec::<Event>::new();
            enc(mode, 5).hold(&vals, 100, &mut a).unwrap();
            let mut b = Vec::<Event>::new();
            let mut e = enc(mode, 5);
            let many: Vec<f64> = (0..60).flat_map(|_| vals).collect();
            e.push(&many, &mut b).unwrap();
            e.hold(&vals, 40, &mut b).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn regular_rate_is_exact() {
        let mut out = Vec::<Event>::new();
        enc(RateMode::Regular, 1).hold(&[0.25], 100, &mut out).unwrap();
        assert_eq!(out.len(), 25);
        assert_eq!(out[0].t, 3000);
        assert_eq!(out[1].t, 7000);
    }

    #[test]
    fn bad_parameters() {
        let mut p = enc(RateMode::Poisson, 1).params().clone();
        p.dt_us = 0;
        assert!(RateEncoder::new(p.clone()).is_err());
        p.dt_us = 1;
        p.max_rate_hz = f64::NAN;
        assert!(RateEncoder::new(p).is_err());
        let mut out = Vec::<Event>::new();
        assert!(enc(RateMode::Poisson, 3).push(&[1.0, 2.0], &mut out).is_err());
    }
}
