//! Delta coding of multichannel analog streams: events when a signal has changed enough.
//!
//! Each channel `c` has an ON threshold `θ⁺_c > 0` and an OFF threshold `θ⁻_c > 0`. For each
//! sample `x` at time `t`, channel by channel:
//!
//! - **level** (level crossing, the default): a reference `r` (the last level crossed). With
//!   `d = x - r`: if `d ≥ θ⁺`, `n = floor(d / θ⁺)` ON events and `r ← r + n·θ⁺`; if
//!   `-d ≥ θ⁻`, `n = floor(-d / θ⁻)` OFF events and `r ← r - n·θ⁻`. The reconstruction
//!   `r = x₀ + θ⁺·#ON - θ⁻·#OFF` stays within one threshold of the signal: `-θ⁻ < x - r < θ⁺`
//!   after every sample (while no event is capped or refractory).
//! - **send_on_delta**: one event when `d ≥ θ⁺` (ON) or `-d ≥ θ⁻` (OFF), then `r ← x`.
//! - **sigma_delta**: an integrator `u ← u + x` (first-order sigma-delta modulator with
//!   ON/OFF output): if `u ≥ θ⁺`, `n = floor(u / θ⁺)` ON events and `u ← u - n·θ⁺`; OFF
//!   likewise. The event rate follows `|x|`, and `θ⁺·#ON - θ⁻·#OFF` tracks the running sum
//!   of the samples to within one threshold.
//!
//! The first reference is `initial_c` when given, else the channel's first sample (which then
//! makes no event). At most `max_events_per_sample` events per channel and sample: a larger
//! jump moves the reference by that many steps only and the rest follows over the next
//! samples (a slew limit that bounds the output of a glitch). **Refractory**: a channel that
//! emitted at time `t_e` ignores samples before `t_e + refractory_us` (its reference and, for
//! sigma-delta, its output are frozen; the integrator keeps integrating), then catches up.
//! Samples that are NaN or infinite are skipped (no event, no state change).

use alloc::vec;
use alloc::vec::Vec;

use super::{bad_param, check_positive, frame_count, EventSink, Layout, SampleClock};
use crate::error::Result;
use crate::Event;

const WHAT: &str = "delta encoder";

/// "Never emitted" marker for the last event time.
const NEVER: u64 = u64::MAX;

/// Which delta code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaMode {
    /// Level crossing: the reference moves by whole thresholds; several events per sample.
    Level,
    /// Send-on-delta: one event, then the reference jumps to the sample.
    SendOnDelta,
    /// Sigma-delta: events when the integral of the signal crosses a threshold.
    SigmaDelta,
}

/// Parameters of a [`DeltaEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaParams {
    /// Channels and their event coordinates.
    pub layout: Layout,
    /// ON threshold per channel (> 0).
    pub threshold_on: Vec<f64>,
    /// OFF threshold per channel (> 0).
    pub threshold_off: Vec<f64>,
    /// The code.
    pub mode: DeltaMode,
    /// Dead time after an event, in microseconds.
    pub refractory_us: u64,
    /// First reference per channel (level and send-on-delta); `None`: the first sample.
    pub initial: Option<Vec<f64>>,
    /// Cap on the events of one channel in one sample (≥ 1).
    pub max_events_per_sample: u32,
    /// Sample period numerator (µs): the period is `period_num / period_den` µs.
    pub period_num: u64,
    /// Sample period denominator.
    pub period_den: u64,
    /// Time of sample 0 in microseconds.
    pub t0_us: u64,
}

/// A streaming delta encoder.
#[derive(Debug, Clone)]
pub struct DeltaEncoder {
    params: DeltaParams,
    clock: SampleClock,
    xy: Vec<[u16; 2]>,
    /// Reference (level, send-on-delta) or integrator (sigma-delta).
    state: Vec<f64>,
    started: Vec<bool>,
    last_event: Vec<u64>,
}

impl DeltaEncoder {
    /// Checks the parameters and builds the encoder.
    pub fn new(params: DeltaParams) -> Result<Self> {
        params.layout.check(WHAT)?;
        let n = params.layout.n_channels;
        for (name, th) in [("threshold_on", &params.threshold_on), ("threshold_off", &params.threshold_off)] {
            if th.len() != n {
                return Err(crate::Error::Shape {
                    what: alloc::format!("{WHAT} {name}"),
                    expected: alloc::format!("{n} values (one per channel)"),
                    found: alloc::format!("{} values", th.len()),
                });
            }
            for &v in th {
                check_positive(WHAT, name, v)?;
            }
        }
        if let Some(init) = &params.initial {
            if init.len() != n {
                return Err(crate::Error::Shape {
                    what: alloc::format!("{WHAT} initial"),
                    expected: alloc::format!("{n} values (one per channel)"),
                    found: alloc::format!("{} values", init.len()),
                });
            }
            if let Some(v) = init.iter().find(|v| !v.is_finite()) {
                return Err(bad_param(WHAT, "initial", v, "finite values"));
            }
        }
        if params.max_events_per_sample == 0 {
            return Err(bad_param(WHAT, "max_events_per_sample", 0, ">= 1"));
        }
        let clock = SampleClock::new(WHAT, params.t0_us, params.period_num, params.period_den)?;
        let mut e = DeltaEncoder {
            clock,
            xy: params.layout.coords(),
            state: vec![0.0; n],
            started: vec![false; n],
            last_event: vec![NEVER; n],
            params,
        };
        e.reset();
        Ok(e)
    }

    /// The parameters.
    pub fn params(&self) -> &DeltaParams {
        &self.params
    }

    /// The sample clock.
    pub fn clock(&self) -> &SampleClock {
        &self.clock
    }

    /// The current reference (level, send-on-delta) or integrator (sigma-delta) per channel.
    pub fn state(&self) -> &[f64] {
        &self.state
    }

    /// Pins the next sample to `t_us` (not earlier than the last sample).
    pub fn set_time(&mut self, t_us: u64) -> Result<()> {
        let earliest = self.clock.last_time();
        self.clock.set_time(WHAT, t_us, earliest)
    }

    /// Back to the initial state.
    pub fn reset(&mut self) {
        self.clock.reset(self.params.t0_us);
        self.last_event.iter_mut().for_each(|t| *t = NEVER);
        match (&self.params.initial, self.params.mode) {
            (_, DeltaMode::SigmaDelta) => {
                self.state.iter_mut().for_each(|s| *s = 0.0);
                self.started.iter_mut().for_each(|s| *s = true);
            }
            (Some(init), _) => {
                self.state.copy_from_slice(init);
                self.started.iter_mut().for_each(|s| *s = true);
            }
            (None, _) => {
                self.state.iter_mut().for_each(|s| *s = 0.0);
                self.started.iter_mut().for_each(|s| *s = false);
            }
        }
    }

    /// Encodes `samples`: whole samples of every channel (sample-major).
    pub fn push(&mut self, samples: &[f64], out: &mut impl EventSink) -> Result<()> {
        let n = self.params.layout.n_channels;
        frame_count(WHAT, samples.len(), n)?;
        for frame in samples.chunks_exact(n) {
            let t = self.clock.next_time();
            self.step(t, frame, out);
            self.clock.advance(1);
        }
        Ok(())
    }

    /// One sample of every channel at time `t` (used by the audio front end too).
    #[inline]
    pub(crate) fn step(&mut self, t: u64, frame: &[f64], out: &mut impl EventSink) {
        let cap = self.params.max_events_per_sample as f64;
        let refractory = self.params.refractory_us;
        for (c, &x) in frame.iter().enumerate() {
            if !x.is_finite() {
                continue;
            }
            let mode = self.params.mode;
            if mode == DeltaMode::SigmaDelta {
                self.state[c] += x;
            } else if !self.started[c] {
                self.state[c] = x;
                self.started[c] = true;
                continue;
            }
            let last = self.last_event[c];
            if refractory > 0 && last != NEVER && t < last.saturating_add(refractory) {
                continue;
            }
            let th_on = self.params.threshold_on[c];
            let th_off = self.params.threshold_off[c];
            let s = self.state[c];
            // Level and send-on-delta compare the sample with the reference; sigma-delta
            // compares the integrator with zero.
            let d = if mode == DeltaMode::SigmaDelta { s } else { x - s };
            let (count, polarity) = if d >= th_on {
                let n = if mode == DeltaMode::SendOnDelta { 1.0 } else { libm::floor(d / th_on).min(cap) };
                self.state[c] = match mode {
                    DeltaMode::SendOnDelta => x,
                    _ => s + n * th_on * if mode == DeltaMode::SigmaDelta { -1.0 } else { 1.0 },
                };
                (n as u32, 1u8)
            } else if -d >= th_off {
                let n = if mode == DeltaMode::SendOnDelta { 1.0 } else { libm::floor(-d / th_off).min(cap) };
                self.state[c] = match mode {
                    DeltaMode::SendOnDelta => x,
                    _ => s - n * th_off * if mode == DeltaMode::SigmaDelta { -1.0 } else { 1.0 },
                };
                (n as u32, 0u8)
            } else {
                continue;
            };
            let [ex, ey] = self.xy[c];
            for _ in 0..count {
                out.push_event(Event::new(t, ex, ey, polarity));
            }
            self.last_event[c] = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(mode: DeltaMode, th: f64, refractory_us: u64) -> DeltaEncoder {
        DeltaEncoder::new(DeltaParams {
            layout: Layout::line(1),
            threshold_on: vec![th],
            threshold_off: vec![th],
            mode,
            refractory_us,
            initial: None,
            max_events_per_sample: 1000,
            period_num: 1000,
            period_den: 1,
            t0_us: 0,
        })
        .unwrap()
    }

    #[test]
    fn level_crossing_counts_and_reconstructs() {
        let mut e = enc(DeltaMode::Level, 0.25, 0);
        let xs = [0.0, 0.3, 1.0, 0.9, 0.4, f64::NAN, -0.6];
        let mut out = Vec::<Event>::new();
        let mut r = 0.0;
        for x in xs {
            let before = out.len();
            e.push(&[x], &mut out).unwrap();
            for ev in &out[before..] {
                r += if ev.p == 1 { 0.25 } else { -0.25 };
            }
            if x.is_finite() {
                assert!(x - r < 0.25 && r - x < 0.25, "{x} {r}");
            }
        }
        assert_eq!(out.iter().filter(|e| e.p == 1).count(), 4);
        assert_eq!(out.iter().filter(|e| e.p == 0).count(), 6);
    }

    #[test]
    fn sigma_delta_tracks_the_integral() {
        let mut e = enc(DeltaMode::SigmaDelta, 1.0, 0);
        let mut out = Vec::<Event>::new();
        let xs: Vec<f64> = (0..1000).map(|k| libm::sin(k as f64 * 0.01) * 0.3).collect();
        e.push(&xs, &mut out).unwrap();
        let sum: f64 = xs.iter().sum();
        let rec: f64 = out.iter().map(|e| if e.p == 1 { 1.0 } else { -1.0 }).sum();
        assert!((sum - rec).abs() < 1.0);
    }

    #[test]
    fn refractory_freezes_then_catches_up() {
        let mut e = enc(DeltaMode::Level, 1.0, 2500);
        let mut out = Vec::<Event>::new();
        e.push(&[0.0, 1.0, 2.0, 3.0, 4.0, 4.0], &mut out).unwrap();
        let ts: Vec<u64> = out.iter().map(|e| e.t).collect();
        // Sample 1 fires; 2 and 3 are within 2500 us; sample 4 (t = 4000) catches up 3 levels.
        assert_eq!(ts, [1000, 4000, 4000, 4000]);
    }

    #[test]
    fn send_on_delta_one_event_per_change() {
        let mut e = enc(DeltaMode::SendOnDelta, 0.5, 0);
        let mut out = Vec::<Event>::new();
        e.push(&[0.0, 0.4, 2.0, 1.6, 1.4], &mut out).unwrap();
        assert_eq!(out.iter().map(|e| (e.t, e.p)).collect::<Vec<_>>(), [(2000, 1), (4000, 0)]);
    }
}
