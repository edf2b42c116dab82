//! Latency (time-to-first-spike) coding: each sample is shown for a window of `num_steps`
//! steps, and each channel spikes once in the window, earlier the stronger its intensity.
//!
//! With `T = num_steps`, intensity `v` (values above 1 count as 1) and `θ = threshold`:
//!
//! - channels with `v < θ` (or NaN) do not spike;
//! - **linear**: step `s = round((1 - v) · (T - 1))`;
//! - **log**: step `s = round(ln(v) / ln(θ) · (T - 1))` (needs `0 < θ < 1`): `v = 1` fires at
//!   step 0 and `v = θ` at the last step, evenly in log-intensity between them (the
//!   logarithmic latency of an RC neuron charged by the input, normalised to the window).
//!
//! `round(x)` is `floor(x + 0.5)`. Both are monotone: a stronger input never fires later.
//! The event is at `t(k0 + s)` where `k0` is the window's first step; the next sample's window
//! starts at `k0 + T`. Within a window the events are sorted by step, then channel.

use alloc::vec;
use alloc::vec::Vec;

use super::{bad_param, event_from_words, frame_count, EventSink, Layout, SampleClock};
use crate::error::Result;
use crate::Event;

const WHAT: &str = "latency encoder";

/// "No spike" marker in the step scratch.
pub(crate) const SILENT: u32 = u32::MAX;

/// Largest window accepted (steps).
pub const MAX_STEPS: u32 = 1 << 24;

/// Replaces each count by the sum of those before it; returns the total.
#[inline(always)]
fn exclusive_prefix(counts: &mut [u32]) -> u32 {
    let mut sum = 0;
    for c in counts {
        let n = *c;
        *c = sum;
        sum += n;
    }
    sum
}

/// How intensity maps to spike time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyMode {
    /// `s = round((1 - v)(T - 1))`.
    Linear,
    /// `s = round(ln v / ln θ · (T - 1))`.
    Log,
}

/// Parameters of a [`LatencyEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyParams {
    /// Channels and their event coordinates.
    pub layout: Layout,
    /// Steps per window (1..=2^24).
    pub num_steps: u32,
    /// Step length in microseconds (> 0).
    pub dt_us: u64,
    /// Linear or logarithmic.
    pub mode: LatencyMode,
    /// Intensities below this do not spike (`0 <= θ`; `0 < θ < 1` for log).
    pub threshold: f64,
    /// Time of step 0 in microseconds.
    pub t0_us: u64,
}

/// A streaming latency encoder (one window per sample).
#[derive(Debug, Clone)]
pub struct LatencyEncoder {
    params: LatencyParams,
    /// `(T - 1) / ln θ` for the log mode.
    log_scale: f64,
    clock: SampleClock,
    xy: Vec<[u16; 2]>,
    /// The second record word of each channel's event ([`super::event_word`]).
    words: Vec<u64>,
    /// Scratch: the step of each channel in the current window, or [`SILENT`].
    steps: Vec<u32>,
    /// Scratch: counting-sort buckets (one per step, plus one).
    counts: Vec<u32>,
    /// Scratch: the time of each step of the window, when it is not `t + s · dt`.
    times: Vec<u64>,
    /// Scratch: (step, channel) keys of the long-window sort.
    keys: Vec<u64>,
}

impl LatencyEncoder {
    /// Checks the parameters and builds the encoder.
    pub fn new(params: LatencyParams) -> Result<Self> {
        params.layout.check(WHAT)?;
        if params.dt_us == 0 {
            return Err(bad_param(WHAT, "dt_us", 0, "> 0"));
        }
        if params.num_steps == 0 || params.num_steps > MAX_STEPS {
            return Err(bad_param(WHAT, "num_steps", params.num_steps, "1..=16777216"));
        }
        let th = params.threshold;
        let log_scale = match params.mode {
            LatencyMode::Linear => {
                if !(th.is_finite() && th >= 0.0) {
                    return Err(bad_param(WHAT, "threshold", th, "a finite number >= 0"));
                }
                0.0
            }
            LatencyMode::Log => {
                if !(th > 0.0 && th < 1.0) {
                    return Err(bad_param(WHAT, "threshold", th, "0 < threshold < 1 for the log mode"));
                }
                (params.num_steps - 1) as f64 / libm::log(th)
            }
        };
        let n = params.layout.n_channels;
        let clock = SampleClock::new(WHAT, params.t0_us, params.dt_us, 1)?;
        Ok(LatencyEncoder {
            log_scale,
            clock,
            xy: params.layout.coords(),
            words: params.layout.words(1),
            steps: vec![SILENT; n],
            counts: Vec::new(),
            times: Vec::new(),
            keys: Vec::new(),
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &LatencyParams {
        &self.params
    }

    /// The step clock.
    pub fn clock(&self) -> &SampleClock {
        &self.clock
    }

    /// Pins the next window's first step to `t_us` (not earlier than the last step).
    pub fn set_time(&mut self, t_us: u64) -> Result<()> {
        let earliest = self.clock.last_time();
        self.clock.set_time(WHAT, t_us, earliest)
    }

    /// Back to the initial state.
    pub fn reset(&mut self) {
        self.clock.reset(self.params.t0_us);
    }

    /// The step within the window at which intensity `v` fires, or `None`.
    #[inline]
    pub fn spike_step(&self, v: f64) -> Option<u32> {
        if v.is_nan() || v < self.params.threshold {
            return None;
        }
        let v = if v > 1.0 { 1.0 } else { v };
        let last = (self.params.num_steps - 1) as f64;
        let x = match self.params.mode {
            LatencyMode::Linear => (1.0 - v) * last,
            // v >= θ > 0, so ln v is finite and ln v / ln θ is in [0, 1].
            LatencyMode::Log => libm::log(v) * self.log_scale,
        };
        // x is in [0, T - 1]; the cast truncates, so this is floor(x + 0.5).
        Some((x + 0.5) as u32)
    }

    /// The number of events [`push`](Self::push) makes from `samples`: one per value that
    /// spikes (`v >= threshold`, NaN never), whatever the mode.
    pub fn count_events(&self, samples: &[f64]) -> usize {
        let th = self.params.threshold;
        samples.iter().map(|&v| (v >= th) as usize).sum()
    }

    /// Encodes `samples`: whole samples of every channel, one window each.
    pub fn push(&mut self, samples: &[f64], out: &mut impl EventSink) -> Result<()> {
        let n = self.params.layout.n_channels;
        frame_count(WHAT, samples.len(), n)?;
        for frame in samples.chunks_exact(n) {
            self.window(frame, out);
        }
        Ok(())
    }

    fn window(&mut self, frame: &[f64], out: &mut impl EventSink) {
        match self.params.mode {
            LatencyMode::Linear => {
                // `spike_step` without branches, so that the loop vectorises: `v >= θ` is
                // false for NaN, and the step of a silent channel (any value, the cast
                // saturates) is replaced by SILENT.
                let th = self.params.threshold;
                let last = (self.params.num_steps - 1) as f64;
                for (s, &v) in self.steps.iter_mut().zip(frame) {
                    let vc = if v > 1.0 { 1.0 } else { v };
                    let step = ((1.0 - vc) * last + 0.5) as u32;
                    *s = if v >= th { step } else { SILENT };
                }
            }
            LatencyMode::Log => {
                for (c, &v) in frame.iter().enumerate() {
                    self.steps[c] = self.spike_step(v).unwrap_or(SILENT);
                }
            }
        }
        let t_steps = self.params.num_steps as usize;
        if t_steps <= 2 * frame.len() + 64 {
            self.emit_dense(out);
        } else {
            // Long windows with few channels: sort the (step, channel) pairs instead.
            let mut keys = core::mem::take(&mut self.keys);
            keys.clear();
            keys.extend(
                self.steps
                    .iter()
                    .enumerate()
                    .filter(|&(_, &s)| s != SILENT)
                    .map(|(c, &s)| ((s as u64) << 32) | c as u64),
            );
            keys.sort_unstable();
            let k0 = self.clock.next_index();
            for &key in &keys {
                let [x, y] = self.xy[(key & 0xFFFF_FFFF) as usize];
                out.push_event(Event::new(self.clock.time_of(k0 + (key >> 32)), x, y, 1));
            }
            self.keys = keys;
            self.clock.advance(t_steps as u64);
        }
    }

    /// Fills `times` with the time of each step of the window starting at step `k0`, unless
    /// they are `t + s · dt` (returned then, and `times` is left alone).
    fn step_times(&mut self, k0: u64) -> Option<(u64, u64)> {
        let t_steps = self.params.num_steps as u64;
        let run = self.clock.linear_run(k0, t_steps);
        if run.is_none() {
            self.times.clear();
            self.times.extend((0..t_steps).map(|s| self.clock.time_of(k0 + s)));
        }
        run
    }

    /// Emits the window whose steps are in `steps` (every channel) and advances the clock.
    ///
    /// Counting sort by step, O(channels + steps), stable in the channel index: one pass
    /// makes the histogram of the steps, one writes each event straight into its slot of the
    /// output (the sink's own memory: no intermediate buffer, no sort).
    fn emit_dense(&mut self, out: &mut impl EventSink) {
        let t_steps = self.params.num_steps as usize;
        let k0 = self.clock.next_index();
        self.counts.clear();
        self.counts.resize(t_steps + 1, 0);
        // SILENT counts in the spare bucket after the last step (no branch per channel).
        for &s in &self.steps {
            self.counts[(s as usize).min(t_steps)] += 1;
        }
        // counts[s] becomes the first slot of step s (the running sum in a register: summing
        // in place chained a store and a load per step).
        let firing = exclusive_prefix(&mut self.counts[..t_steps]) as usize;
        let run = self.step_times(k0);
        let slots = out.append_slots(firing);
        for (&s, &w) in self.steps.iter().zip(&self.words) {
            if s != SILENT {
                let slot = &mut self.counts[s as usize];
                let t = match run {
                    Some((t0, dt)) => t0 + s as u64 * dt,
                    None => self.times[s as usize],
                };
                slots[*slot as usize] = event_from_words(t, w);
                *slot += 1;
            }
        }
        self.clock.advance(t_steps as u64);
    }

    /// Emits one window from the `(channel, step)` pairs of its spikes, given in channel
    /// order (few spikes among many channels: the population encoder), sorted by step then
    /// channel, and advances the clock.
    pub(crate) fn emit_sparse(&mut self, fired: &[(u32, u32)], out: &mut impl EventSink) {
        let t_steps = self.params.num_steps as usize;
        let k0 = self.clock.next_index();
        let run = self.step_times(k0);
        let time = |s: u32, times: &[u64]| match run {
            Some((t0, dt)) => t0 + s as u64 * dt,
            None => times[s as usize],
        };
        if t_steps <= 4 * fired.len() + 64 {
            self.counts.clear();
            self.counts.resize(t_steps, 0);
            for &(_, s) in fired {
                self.counts[s as usize] += 1;
            }
            exclusive_prefix(&mut self.counts);
            let slots = out.append_slots(fired.len());
            for &(c, s) in fired {
                let slot = &mut self.counts[s as usize];
                slots[*slot as usize] = event_from_words(time(s, &self.times), self.words[c as usize]);
                *slot += 1;
            }
        } else {
            let mut keys = core::mem::take(&mut self.keys);
            keys.clear();
            keys.extend(fired.iter().map(|&(c, s)| ((s as u64) << 32) | c as u64));
            keys.sort_unstable();
            for &key in &keys {
                let [x, y] = self.xy[(key & 0xFFFF_FFFF) as usize];
                out.push_event(Event::new(time((key >> 32) as u32, &self.times), x, y, 1));
            }
            self.keys = keys;
        }
        self.clock.advance(t_steps as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(mode: LatencyMode, n: usize, t: u32) -> LatencyEncoder {
        LatencyEncoder::new(LatencyParams {
            layout: Layout::line(n),
            num_steps: t,
            dt_us: 100,
            mode,
            threshold: 0.01,
            t0_us: 0,
        })
        .unwrap()
    }

    #[test]
    fn linear_steps() {
        let e = enc(LatencyMode::Linear, 1, 11);
        assert_eq!(e.spike_step(1.0), Some(0));
        assert_eq!(e.spike_step(2.0), Some(0));
        assert_eq!(e.spike_step(0.5), Some(5));
        assert_eq!(e.spike_step(0.011), Some(10));
        assert_eq!(e.spike_step(0.001), None);
        assert_eq!(e.spike_step(f64::NAN), None);
        let l = enc(LatencyMode::Log, 1, 11);
        assert_eq!(l.spike_step(1.0), Some(0));
        assert_eq!(l.spike_step(0.01), Some(10));
        assert_eq!(l.spike_step(0.1), Some(5));
    }

    #[test]
    fn sorted_windows_both_sort_paths() {
        for t in [8u32, 10_000] {
            let mut e = enc(LatencyMode::Linear, 4, t);
            let mut out = Vec::<Event>::new();
            e.push(&[0.2, 0.9, 0.0, 0.9, 1.0, 0.5, 0.5, 0.3], &mut out).unwrap();
            assert_eq!(out.len(), 7);
            assert!(out.windows(2).all(|w| (w[0].t, w[0].x) < (w[1].t, w[1].x)));
            assert_eq!(out[0].x, 1);
            assert_eq!(out[1].x, 3);
            assert!(out[3].t >= 100 * t as u64);
        }
    }
}
