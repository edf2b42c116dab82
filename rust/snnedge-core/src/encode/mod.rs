//! Spike encoders: ordinary signals, images and video turned into event streams.
//!
//! Every encoder here is **streaming** and **deterministic**:
//!
//! - *Streaming*: an encoder is a state machine fed with chunks of samples. All state that
//!   links one sample to the next (filter memories, reference levels, refractory clocks, the
//!   step counter) lives in the encoder, so cutting the input into chunks of any size gives
//!   the same events, bit for bit, as one call with the whole input.
//! - *Deterministic*: random draws come from a counter-based generator ([`rng`]): a draw is
//!   a pure function of `(seed, stream, counter)` where the stream is the channel (or pixel)
//!   and the counter the global step or sample index. Chunking cannot change which draw a
//!   decision uses, and no generator state has to be carried.
//!
//! The encoders:
//!
//! | module | input | code |
//! |---|---|---|
//! | [`rate`] | intensities in `[0, 1]` per step | Poisson (Bernoulli per step) or regular spike trains |
//! | [`latency`] | intensities, one window of `num_steps` per sample | one spike per channel, earlier for stronger input (linear or logarithmic) |
//! | [`population`] | values in a range | Gaussian receptive fields, then latency or rate |
//! | [`delta`] | multichannel analog samples | level crossing, send-on-delta or sigma-delta, ON/OFF |
//! | [`audio`] | mono audio samples | band-pass filterbank, rectification, delta or LIF per band |
//! | [`frames`] | video frames | DVS emulator: log intensity, per-pixel contrast thresholds |
//!
//! Output events ([`crate::Event`]) carry the channel in `x` (and `y` for 2-D inputs such as
//! images, row-major) and the polarity in `p` (1 = ON / increase, 0 = OFF / decrease). Within
//! one call the events are sorted by time, then by channel index.
//!
//! Signal arithmetic is `f64` (IEEE-754, no fused multiply-add, the same operations in the
//! same order whatever the chunking); transcendental functions come from `libm`, a pure-Rust
//! implementation that gives the same bits on every platform and in `no_std`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::event::{Event, EVENT_RECORD_BYTES};

pub mod audio;
pub mod delta;
pub mod frames;
pub mod latency;
pub mod population;
pub mod rate;
pub mod rng;

/// Where encoders put their events.
///
/// Implemented for `Vec<Event>` (for Rust users and tests) and for [`EventRecords`] (the
/// little-endian bytes of an `EVENT_DTYPE` array, which the Python bindings move into numpy
/// without touching each event again).
pub trait EventSink {
    /// Appends one event.
    fn push_event(&mut self, e: Event);
    /// Number of events held.
    fn event_count(&self) -> usize;
    /// Appends a run of events.
    fn push_events(&mut self, events: &[Event]) {
        for &e in events {
            self.push_event(e);
        }
    }
}

impl EventSink for Vec<Event> {
    #[inline(always)]
    fn push_event(&mut self, e: Event) {
        self.push(e);
    }
    fn event_count(&self) -> usize {
        self.len()
    }
    fn push_events(&mut self, events: &[Event]) {
        self.extend_from_slice(events);
    }
}

/// Events as consecutive 16-byte little-endian records (the layout of `snnedge.EVENT_DTYPE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRecords {
    /// The record bytes; the length is always a multiple of [`EVENT_RECORD_BYTES`].
    pub bytes: Vec<u8>,
}

impl EventRecords {
    /// An empty buffer.
    pub fn new() -> Self {
        EventRecords { bytes: Vec::new() }
    }

    /// The events decoded back into structs (for tests and small outputs).
    pub fn to_events(&self) -> Vec<Event> {
        self.bytes.as_chunks::<EVENT_RECORD_BYTES>().0.iter().map(Event::from_le_bytes).collect()
    }
}

impl EventSink for EventRecords {
    #[inline(always)]
    fn push_event(&mut self, e: Event) {
        // One 16-byte copy per event rather than four small ones.
        let mut r = [0u8; EVENT_RECORD_BYTES];
        r[0..8].copy_from_slice(&e.t.to_le_bytes());
        r[8..10].copy_from_slice(&e.x.to_le_bytes());
        r[10..12].copy_from_slice(&e.y.to_le_bytes());
        r[12] = e.p;
        self.bytes.extend_from_slice(&r);
    }
    fn event_count(&self) -> usize {
        self.bytes.len() / EVENT_RECORD_BYTES
    }
    fn push_events(&mut self, events: &[Event]) {
        self.bytes.reserve(events.len() * EVENT_RECORD_BYTES);
        for &e in events {
            self.push_event(e);
        }
    }
}

/// How flat channel indices map to event coordinates: channel `c` is `x = c % width`,
/// `y = c / width` (row-major images; `width = n_channels` for 1-D inputs, so `y = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of channels (pixels for images).
    pub n_channels: usize,
    /// Row length; `n_channels` is a whole number of rows.
    pub width: usize,
}

impl Layout {
    /// A 1-D layout of `n` channels (events on `x`, `y = 0`).
    pub fn line(n: usize) -> Self {
        Layout { n_channels: n, width: n }
    }

    /// A `height × width` image layout (row-major).
    pub fn image(height: usize, width: usize) -> Self {
        Layout { n_channels: height * width, width }
    }

    /// Checks that every channel fits the 16-bit `x` and `y` of an event.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.n_channels == 0 || self.width == 0 || !self.n_channels.is_multiple_of(self.width) {
            return Err(Error::Shape {
                what: format!("{what} input"),
                expected: String::from("at least one channel, a whole number of rows"),
                found: format!("{} channels in rows of {}", self.n_channels, self.width),
            });
        }
        let height = self.n_channels / self.width;
        if self.width > 1 << 16 || height > 1 << 16 {
            return Err(Error::Shape {
                what: format!("{what} input"),
                expected: String::from("at most 65536 columns and 65536 rows (event x and y are 16-bit)"),
                found: format!("{height} rows of {} columns", self.width),
            });
        }
        Ok(())
    }

    /// The event for channel `c` at time `t` with polarity `p`.
    #[inline(always)]
    pub fn event(&self, t: u64, c: usize, p: u8) -> Event {
        // Both fit u16: checked by `check` at construction.
        Event::new(t, (c % self.width) as u16, (c / self.width) as u16, p)
    }

    /// The `(x, y)` of every channel, so the hot loops index a table instead of dividing
    /// (two integer divisions per event cost more than the rest of a rate encoder's work).
    pub fn coords(&self) -> Vec<[u16; 2]> {
        (0..self.n_channels).map(|c| [(c % self.width) as u16, (c / self.width) as u16]).collect()
    }
}

/// The time of each sample or step: `t(k) = anchor_t_us + (k - anchor_index) · num / den`
/// microseconds (integer arithmetic, floor), for a sample period of `num / den` µs.
///
/// The counter `k` is global: it keeps running across chunks and across re-anchoring, so the
/// random draws keyed on it do not depend on how the input was cut. Re-anchoring (`set_time`)
/// lets a live source pin the next sample to a wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleClock {
    num: u64,
    den: u64,
    anchor_t_us: u64,
    anchor_index: u64,
    next_index: u64,
}

impl SampleClock {
    /// A clock whose first sample is at `t0_us`, with a period of `num / den` microseconds.
    pub fn new(what: &str, t0_us: u64, num: u64, den: u64) -> Result<Self> {
        if num == 0 || den == 0 {
            return Err(Error::InvalidParameter {
                what: what.into(),
                parameter: "sample period".into(),
                value: format!("{num}/{den} us"),
                expected: "a positive period (num > 0, den > 0)".into(),
            });
        }
        // Reduce the fraction (16 kHz: 1_000_000/16_000 -> 125/2) so that the fast path
        // below (64-bit product, division by 1 skipped) applies as often as possible.
        let (mut a, mut b) = (num, den);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        Ok(SampleClock { num: num / a, den: den / a, anchor_t_us: t0_us, anchor_index: 0, next_index: 0 })
    }

    /// Index of the next sample or step.
    #[inline(always)]
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Time of sample `k` (saturating at `u64::MAX`).
    #[inline(always)]
    pub fn time_of(&self, k: u64) -> u64 {
        let steps = k.wrapping_sub(self.anchor_index);
        let dt = match steps.checked_mul(self.num) {
            Some(p) if self.den == 1 => p,
            Some(p) => p / self.den,
            None => {
                let d = steps as u128 * self.num as u128 / self.den as u128;
                if d > u64::MAX as u128 {
                    u64::MAX
                } else {
                    d as u64
                }
            }
        };
        self.anchor_t_us.saturating_add(dt)
    }

    /// Time of the next sample.
    pub fn next_time(&self) -> u64 {
        self.time_of(self.next_index)
    }

    /// Consumes `n` samples or steps.
    #[inline(always)]
    pub fn advance(&mut self, n: u64) {
        self.next_index = self.next_index.saturating_add(n);
    }

    /// Pins the next sample to `t_us`; it must not be earlier than the last sample given
    /// (`earliest_us`, computed by the caller) so that the output stays sorted by time.
    pub fn set_time(&mut self, what: &str, t_us: u64, earliest_us: u64) -> Result<()> {
        if t_us < earliest_us {
            return Err(Error::InvalidParameter {
                what: what.into(),
                parameter: "t_us".into(),
                value: format!("{t_us}"),
                expected: format!(">= {earliest_us} (time does not go back: the last sample or step was at that time)"),
            });
        }
        self.anchor_t_us = t_us;
        self.anchor_index = self.next_index;
        Ok(())
    }

    /// Time of the last sample or step consumed (the anchor time before any).
    pub fn last_time(&self) -> u64 {
        if self.next_index > self.anchor_index {
            self.time_of(self.next_index - 1)
        } else {
            self.anchor_t_us
        }
    }

    /// Back to the start (`t0_us` at sample 0).
    pub fn reset(&mut self, t0_us: u64) {
        self.anchor_t_us = t0_us;
        self.anchor_index = 0;
        self.next_index = 0;
    }
}

/// Checks that `samples` holds a whole number of frames of `n` channels; returns how many.
pub fn frame_count(what: &str, samples: usize, n: usize) -> Result<usize> {
    if n == 0 || !samples.is_multiple_of(n) {
        return Err(Error::Shape {
            what: format!("{what} samples"),
            expected: format!("a multiple of {n} values (whole samples of every channel)"),
            found: format!("{samples} values"),
        });
    }
    Ok(samples / n)
}

/// An [`Error::InvalidParameter`] for `parameter` of `what`.
pub(crate) fn bad_param(what: &str, parameter: &str, value: impl core::fmt::Display, expected: &str) -> Error {
    Error::InvalidParameter {
        what: what.into(),
        parameter: parameter.into(),
        value: format!("{value}"),
        expected: expected.into(),
    }
}

/// Checks that `v` is finite and strictly positive.
pub(crate) fn check_positive(what: &str, parameter: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad_param(what, parameter, v, "a finite number > 0"))
    }
}

/// Checks that `v` is finite and not negative.
pub(crate) fn check_non_negative(what: &str, parameter: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(bad_param(what, parameter, v, "a finite number >= 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_match_event_write_le() {
        let e = Event::new(123_456_789_012, 513, 7, 1);
        let mut a = EventRecords::new();
        a.push_event(e);
        let mut b = Vec::new();
        e.write_le(&mut b);
        assert_eq!(a.bytes, b);
        assert_eq!(a.to_events(), [e]);
    }

    #[test]
    fn clock_is_exact_for_fractional_periods() {
        // 16 kHz: 62.5 us per sample.
        let mut c = SampleClock::new("t", 10, 1_000_000, 16_000).unwrap();
        assert_eq!(c.time_of(0), 10);
        assert_eq!(c.time_of(1), 72);
        assert_eq!(c.time_of(2), 135);
        c.advance(3);
        assert_eq!(c.last_time(), 135);
        assert!(c.set_time("t", 100, c.last_time()).is_err());
        c.set_time("t", 1000, c.last_time()).unwrap();
        assert_eq!(c.next_time(), 1000);
        assert_eq!(c.time_of(4), 1062);
    }

    #[test]
    fn layout_checks_sizes() {
        assert!(Layout::image(480, 640).check("x").is_ok());
        assert!(Layout::line(70_000).check("x").is_err());
        assert!(Layout::line(0).check("x").is_err());
        assert_eq!(Layout::image(3, 4).event(5, 6, 1), Event::new(5, 2, 1, 1));
    }
}
