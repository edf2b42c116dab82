//! An audio front end: a band-pass filterbank, half-wave rectification and a spike encoder
//! per band, giving cochlea-like events (`x` = band, lowest frequency first).
//!
//! Per sample `s` (mono, full scale ±1) and band `c`:
//!
//! 1. **Band-pass**: a second-order section (the constant-0-dB-peak band-pass of the RBJ
//!    Audio EQ Cookbook) at centre `f_c`, with the centres log-spaced from `f_lo` to `f_hi`
//!    and a common quality factor `Q` (default `√r / (r - 1)` for the ratio `r` between
//!    neighbouring centres, so neighbouring bands cross near their -3 dB points). Transposed
//!    direct form II: `y = b0·s + z1; z1 = -a1·y + z2; z2 = b2·s - a2·y` (`b1 = 0`).
//! 2. **Rectification**: `h = max(y, 0)` (the inner hair cell passes one half-wave).
//! 3. One of two encoders:
//!    - **delta**: an envelope from two one-pole low-passes in cascade,
//!      `e₁ ← e₁ + α·(h - e₁)`, `e₂ ← e₂ + α·(e₁ - e₂)` with `α = 1 - exp(-2π·f_env / f_s)`
//!      (second order, so the ripple of the rectified carrier is small for bands well above
//!      `f_env`), compressed to `ln(e₂ + floor)` when `log_floor > 0` (then `threshold` is a
//!      ratio of loudness, as a DVS pixel's contrast threshold; `floor` sets the silence
//!      level), then a level-crossing [`DeltaEncoder`] (ON when the band gets louder by
//!      `threshold`, OFF when it gets quieter; the reference starts at the value of silence);
//!    - **lif**: a leaky integrate-and-fire neuron per band, `v ← β·v + h·1000 / f_s`
//!      (the input integrated in amplitude × milliseconds, `β = exp(-1 / (τ·f_s))`); a spike
//!      (`p = 1`) when `v ≥ threshold`, then `v ← v - threshold`, at most one per sample and
//!      none within `refractory_us` of the previous one. Without leak, a band whose rectified
//!      mean is `m` fires `1000·m / threshold` times a second.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::delta::{DeltaEncoder, DeltaMode, DeltaParams};
use super::{bad_param, check_non_negative, check_positive, EventSink, Layout, SampleClock};
use crate::error::Result;
use crate::Event;

const WHAT: &str = "audio encoder";

/// The per-band spike encoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AudioCode {
    /// Level crossing on the band envelope.
    Delta {
        /// Envelope step per event (amplitude, > 0).
        threshold: f64,
        /// Cut-off of the envelope low-pass in Hz (> 0).
        envelope_hz: f64,
        /// `> 0`: encode `ln(envelope + log_floor)`; `0`: the envelope itself.
        log_floor: f64,
    },
    /// Leaky integrate-and-fire on the rectified band signal.
    Lif {
        /// Threshold in amplitude × milliseconds (> 0).
        threshold: f64,
        /// Leak time constant in seconds (> 0; infinity for no leak).
        tau_s: f64,
    },
}

/// Parameters of an [`AudioEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct AudioParams {
    /// Sample rate in Hz (a whole number, > 0).
    pub sample_rate_hz: u32,
    /// Number of bands (1..=65536).
    pub n_channels: usize,
    /// Lowest centre frequency in Hz.
    pub f_lo: f64,
    /// Highest centre frequency in Hz (below the Nyquist frequency).
    pub f_hi: f64,
    /// Quality factor; `None` for the default from the spacing.
    pub q: Option<f64>,
    /// The per-band encoder.
    pub code: AudioCode,
    /// Dead time after an event per band, in microseconds.
    pub refractory_us: u64,
    /// Time of sample 0 in microseconds.
    pub t0_us: u64,
}

/// Coefficients of one band (normalised by `a0`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Band {
    b0: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

/// The per-band encoder stage (the delta encoder is boxed: it is the larger variant).
#[derive(Debug, Clone)]
enum Stage {
    Delta { alpha: f64, log_floor: f64, env1: Vec<f64>, env2: Vec<f64>, level: Vec<f64>, delta: Box<DeltaEncoder> },
    Lif { beta: f64, gain: f64, threshold: f64, v: Vec<f64>, last_event: Vec<u64> },
}

/// A streaming audio front end.
#[derive(Debug, Clone)]
pub struct AudioEncoder {
    params: AudioParams,
    centres: Vec<f64>,
    q: f64,
    bands: Vec<Band>,
    z1: Vec<f64>,
    z2: Vec<f64>,
    rect: Vec<f64>,
    clock: SampleClock,
    stage: Stage,
}

impl AudioEncoder {
    /// Checks the parameters and builds the encoder (filter design included).
    pub fn new(params: AudioParams) -> Result<Self> {
        let fs = params.sample_rate_hz as f64;
        if params.sample_rate_hz == 0 {
            return Err(bad_param(WHAT, "sample_rate_hz", 0, "> 0"));
        }
        let n = params.n_channels;
        Layout::line(n).check(WHAT)?;
        check_positive(WHAT, "f_lo", params.f_lo)?;
        if !(params.f_hi.is_finite() && params.f_hi >= params.f_lo && params.f_hi < fs / 2.0) {
            return Err(bad_param(WHAT, "f_hi", params.f_hi, "f_lo <= f_hi < sample_rate_hz / 2"));
        }
        if n > 1 && params.f_hi == params.f_lo {
            return Err(bad_param(WHAT, "f_hi", params.f_hi, "> f_lo with more than one band"));
        }
        let ratio = if n > 1 { libm::pow(params.f_hi / params.f_lo, 1.0 / (n - 1) as f64) } else { 2.0 };
        let centres: Vec<f64> = (0..n).map(|c| params.f_lo * libm::pow(ratio, c as f64)).collect();
        let q = match params.q {
            Some(q) => {
                check_positive(WHAT, "q", q)?;
                q
            }
            None => libm::sqrt(ratio) / (ratio - 1.0),
        };
        let bands = centres
            .iter()
            .map(|&fc| {
                let w0 = 2.0 * core::f64::consts::PI * fc / fs;
                let alpha = libm::sin(w0) / (2.0 * q);
                let a0 = 1.0 + alpha;
                Band { b0: alpha / a0, b2: -alpha / a0, a1: -2.0 * libm::cos(w0) / a0, a2: (1.0 - alpha) / a0 }
            })
            .collect();
        let layout = Layout::line(n);
        let stage = match params.code {
            AudioCode::Delta { threshold, envelope_hz, log_floor } => {
                check_positive(WHAT, "threshold", threshold)?;
                check_positive(WHAT, "envelope_hz", envelope_hz)?;
                check_non_negative(WHAT, "log_floor", log_floor)?;
                let silence = if log_floor > 0.0 { libm::log(log_floor) } else { 0.0 };
                let delta = Box::new(DeltaEncoder::new(DeltaParams {
                    layout,
                    threshold_on: vec![threshold; n],
                    threshold_off: vec![threshold; n],
                    mode: DeltaMode::Level,
                    refractory_us: params.refractory_us,
                    initial: Some(vec![silence; n]),
                    max_events_per_sample: 1 << 16,
                    period_num: 1_000_000,
                    period_den: params.sample_rate_hz as u64,
                    t0_us: params.t0_us,
                })?);
                let alpha = 1.0 - libm::exp(-2.0 * core::f64::consts::PI * envelope_hz / fs);
                Stage::Delta { alpha, log_floor, env1: vec![0.0; n], env2: vec![0.0; n], level: vec![0.0; n], delta }
            }
            AudioCode::Lif { threshold, tau_s } => {
                check_positive(WHAT, "threshold", threshold)?;
                if tau_s.is_nan() || tau_s <= 0.0 {
                    return Err(bad_param(WHAT, "tau_s", tau_s, "> 0 (infinity for no leak)"));
                }
                let beta = libm::exp(-1.0 / (tau_s * fs));
                Stage::Lif { beta, gain: 1000.0 / fs, threshold, v: vec![0.0; n], last_event: vec![u64::MAX; n] }
            }
        };
        check_non_negative(WHAT, "refractory_us", params.refractory_us as f64)?;
        let clock = SampleClock::new(WHAT, params.t0_us, 1_000_000, params.sample_rate_hz as u64)?;
        Ok(AudioEncoder {
            centres,
            q,
            bands,
            z1: vec![0.0; n],
            z2: vec![0.0; n],
            rect: vec![0.0; n],
            clock,
            stage,
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &AudioParams {
        &self.params
    }

    /// Centre frequencies of the bands in Hz (ascending; band `c` is event `x = c`).
    pub fn centres(&self) -> &[f64] {
        &self.centres
    }

    /// The quality factor used.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// The sample clock.
    pub fn clock(&self) -> &SampleClock {
        &self.clock
    }

    /// Pins the next sample to `t_us` (not earlier than the last sample).
    pub fn set_time(&mut self, t_us: u64) -> Result<()> {
        let earliest = self.clock.last_time();
        self.clock.set_time(WHAT, t_us, earliest)
    }

    /// Back to the initial state (silence before sample 0).
    pub fn reset(&mut self) {
        self.clock.reset(self.params.t0_us);
        for z in self.z1.iter_mut().chain(self.z2.iter_mut()) {
            *z = 0.0;
        }
        match &mut self.stage {
            Stage::Delta { env1, env2, delta, .. } => {
                env1.iter_mut().chain(env2.iter_mut()).for_each(|e| *e = 0.0);
                delta.reset();
            }
            Stage::Lif { v, last_event, .. } => {
                v.iter_mut().for_each(|x| *x = 0.0);
                last_event.iter_mut().for_each(|t| *t = u64::MAX);
            }
        }
    }

    /// Encodes mono samples (full scale ±1). Non-finite samples count as 0.
    pub fn push(&mut self, samples: &[f64], out: &mut impl EventSink) -> Result<()> {
        let refractory = self.params.refractory_us;
        for &s in samples {
            let s = if s.is_finite() { s } else { 0.0 };
            let t = self.clock.next_time();
            // Filterbank and rectifier: independent bands, written as one pass over arrays so
            // the compiler can run several bands per instruction.
            for (((b, z1), z2), r) in
                self.bands.iter().zip(self.z1.iter_mut()).zip(self.z2.iter_mut()).zip(self.rect.iter_mut())
            {
                let y = b.b0 * s + *z1;
                *z1 = -b.a1 * y + *z2;
                *z2 = b.b2 * s - b.a2 * y;
                *r = if y > 0.0 { y } else { 0.0 };
            }
            match &mut self.stage {
                Stage::Delta { alpha, log_floor, env1, env2, level, delta } => {
                    for (((e1, e2), l), &h) in
                        env1.iter_mut().zip(env2.iter_mut()).zip(level.iter_mut()).zip(&self.rect)
                    {
                        *e1 += *alpha * (h - *e1);
                        *e2 += *alpha * (*e1 - *e2);
                        *l = *e2;
                    }
                    if *log_floor > 0.0 {
                        for l in level.iter_mut() {
                            *l = libm::log(*l + *log_floor);
                        }
                    }
                    delta.step(t, level, out);
                }
                Stage::Lif { beta, gain, threshold, v, last_event } => {
                    for (c, (v, &h)) in v.iter_mut().zip(&self.rect).enumerate() {
                        *v = *beta * *v + h * *gain;
                        if *v >= *threshold {
                            let last = last_event[c];
                            if refractory == 0 || last == u64::MAX || t >= last.saturating_add(refractory) {
                                *v -= *threshold;
                                last_event[c] = t;
                                out.push_event(Event::new(t, c as u16, 0, 1));
                            }
                        }
                    }
                }
            }
            self.clock.advance(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(f: f64, fs: f64, n: usize, amp: f64) -> Vec<f64> {
        (0..n).map(|k| amp * libm::sin(2.0 * core::f64::consts::PI * f * k as f64 / fs)).collect()
    }

    fn enc(code: AudioCode) -> AudioEncoder {
        AudioEncoder::new(AudioParams {
            sample_rate_hz: 16_000,
            n_channels: 16,
            f_lo: 100.0,
            f_hi: 6000.0,
            q: None,
            code,
            refractory_us: 0,
            t0_us: 0,
        })
        .unwrap()
    }

    #[test]
    fn a_tone_excites_its_band_most() {
        for code in [
            AudioCode::Delta { threshold: 0.005, envelope_hz: 50.0, log_floor: 0.0 },
            AudioCode::Delta { threshold: 0.25, envelope_hz: 50.0, log_floor: 1e-4 },
            AudioCode::Lif { threshold: 0.05, tau_s: 0.01 },
        ] {
            let mut e = enc(code);
            let fc = e.centres()[9];
            let mut out = Vec::<Event>::new();
            e.push(&tone(fc, 16_000.0, 8000, 0.5), &mut out).unwrap();
            let mut counts = [0usize; 16];
            for ev in &out {
                counts[ev.x as usize] += 1;
            }
            let best = (0..16).max_by_key(|&c| counts[c]).unwrap();
            assert_eq!(best, 9, "{code:?}: {counts:?}");
            assert!(out.windows(2).all(|w| (w[0].t, w[0].x) <= (w[1].t, w[1].x)));
        }
    }
}
