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
use crate::event::Event;

pub mod audio;
pub mod delta;
pub mod frames;
pub mod latency;
pub mod population;
pub mod rate;
pub mod rng;

/// Where encoders put their events.
///
/// Implemented for `Vec<Event>` (for Rust users and tests) and for [`SliceSink`] (a caller's
/// buffer, in the Python bindings the memory of the numpy array that is returned, so that
/// each event is written once, in its final place).
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
    /// Appends `n` events that the caller then writes, in any order, through the returned
    /// slice (what they hold before is unspecified). A counting sort places each event
    /// straight into its slot this way, with no intermediate buffer. The caller must write
    /// all `n`.
    fn append_slots(&mut self, n: usize) -> &mut [Event];
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
    fn append_slots(&mut self, n: usize) -> &mut [Event] {
        let len = self.len();
        self.resize(len + n, Event::default());
        &mut self[len..]
    }
}

/// Events written into a caller's buffer; those that do not fit go to [`SliceSink::overflow`].
///
/// Why: the Python bindings return the events as a numpy array. Building them in a `Vec`
/// and handing it over costs a page fault per 4 KiB of output (a `Vec` is not on huge pages;
/// numpy's large arrays are), which was a third of the time of the latency encoder. The
/// bindings therefore allocate the numpy array first (sized from an estimate) and let the
/// encoder write into it; an estimate that was too small costs a copy of the overflow, not
/// an error, and the encoders' logic does not depend on the sink.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [Event],
    len: usize,
    /// Slots of `buf` usable: its length until the first spill, then `len` (nothing may be
    /// written to the buffer after an event went to the overflow).
    cap: usize,
    /// The events after `buf[..len()]`, in order, that did not fit in the buffer.
    pub overflow: Vec<Event>,
}

impl<'a> SliceSink<'a> {
    /// An empty sink writing into `buf`.
    pub fn new(buf: &'a mut [Event]) -> Self {
        let cap = buf.len();
        SliceSink { buf, len: 0, cap, overflow: Vec::new() }
    }

    /// Number of events written into the buffer (the overflow follows them).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event was written (neither to the buffer nor to the overflow).
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.overflow.is_empty()
    }

    /// The events written into the buffer, and the overflow that follows them.
    pub fn into_parts(self) -> (&'a mut [Event], Vec<Event>) {
        let len = self.len;
        (&mut self.buf[..len], self.overflow)
    }
}

impl EventSink for SliceSink<'_> {
    #[inline(always)]
    fn push_event(&mut self, e: Event) {
        if self.len < self.cap {
            self.buf[self.len] = e;
            self.len += 1;
        } else {
            self.cap = self.len;
            self.overflow.push(e);
        }
    }
    fn event_count(&self) -> usize {
        self.len + self.overflow.len()
    }
    fn push_events(&mut self, events: &[Event]) {
        let (now, later) = events.split_at(events.len().min(self.cap - self.len));
        self.buf[self.len..self.len + now.len()].copy_from_slice(now);
        self.len += now.len();
        if !later.is_empty() {
            self.cap = self.len;
            self.overflow.extend_from_slice(later);
        }
    }
    fn append_slots(&mut self, n: usize) -> &mut [Event] {
        if n <= self.cap - self.len {
            let start = self.len;
            self.len += n;
            &mut self.buf[start..start + n]
        } else {
            self.cap = self.len;
            self.overflow.append_slots(n)
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

    /// The second word of the event record of every channel with polarity `p` (see
    /// [`event_word`]).
    pub fn words(&self, p: u8) -> Vec<u64> {
        self.coords().into_iter().map(|[x, y]| event_word(x, y, p)).collect()
    }
}

/// The second 64-bit word of an event record (`x`, `y`, `p` and the padding) as it lies in
/// memory. The hot loops keep it per channel and write an event as two words
/// ([`event_from_words`]): building the struct field by field compiled to five stores.
pub fn event_word(x: u16, y: u16, p: u8) -> u64 {
    bytemuck::cast::<Event, [u64; 2]>(Event::new(0, x, y, p))[1]
}

/// The event with time `t` and second word `word` (from [`event_word`]).
#[inline(always)]
pub fn event_from_words(t: u64, word: u64) -> Event {
    bytemuck::cast::<[u64; 2], Event>([t, word])
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

    /// `Some((t, period))` when the times of the `n` samples or steps from `k` on are
    /// `t + i · period` exactly (an integer period, no overflow, no saturation), so that a hot
    /// loop can multiply instead of calling [`SampleClock::time_of`] per step.
    pub fn linear_run(&self, k: u64, n: u64) -> Option<(u64, u64)> {
        if self.den != 1 || n == 0 {
            return None;
        }
        let last = k.checked_sub(self.anchor_index)?.checked_add(n - 1)?.checked_mul(self.num)?;
        self.anchor_t_us.checked_add(last)?;
        Some((self.time_of(k), self.num))
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
/// The smallest bit pattern in `lo..=hi` for which `reaches` holds, by bisection; `reaches`
/// must be monotone over the patterns (false then true, as for non-negative `f64`s ordered by
/// value) and hold at `hi`. Used to turn a floating-point test into an exact boundary.
pub(crate) fn first_bits_where(mut lo: u64, mut hi: u64, reaches: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

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
    fn slice_sink_spills_in_order() {
        let ev = |t| Event::new(t, t as u16, 0, 1);
        let mut buf = [Event::default(); 4];
        let mut s = SliceSink::new(&mut buf);
        s.push_event(ev(1));
        s.append_slots(2).copy_from_slice(&[ev(2), ev(3)]);
        // Three do not fit in the one slot left: all three go to the overflow, in order.
        s.append_slots(3).copy_from_slice(&[ev(4), ev(5), ev(6)]);
        s.push_event(ev(7));
        s.push_events(&[ev(8)]);
        assert_eq!((s.len(), s.event_count()), (3, 8));
        let spilled: Vec<u64> = s.overflow.iter().map(|e| e.t).collect();
        assert_eq!(spilled, [4, 5, 6, 7, 8]);
        assert_eq!(buf[..3], [ev(1), ev(2), ev(3)]);
        let mut v = Vec::new();
        v.push_event(ev(1));
        v.append_slots(1)[0] = ev(2);
        assert_eq!(v, [ev(1), ev(2)]);
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
        assert_eq!(c.linear_run(4, 10), None);
        let mut d = SampleClock::new("t", 7, 250, 1).unwrap();
        d.advance(3);
        assert_eq!(d.linear_run(3, 5), Some((757, 250)));
        assert!((0..5).all(|i| d.time_of(3 + i) == 757 + 250 * i));
        assert_eq!(d.linear_run(3, u64::MAX / 100), None);
    }

    #[test]
    fn layout_checks_sizes() {
        assert!(Layout::image(480, 640).check("x").is_ok());
        assert!(Layout::line(70_000).check("x").is_err());
        assert!(Layout::line(0).check("x").is_err());
        assert_eq!(Layout::image(3, 4).event(5, 6, 1), Event::new(5, 2, 1, 1));
        assert_eq!(event_from_words(5, Layout::image(3, 4).words(1)[6]), Event::new(5, 2, 1, 1));
        assert_eq!(event_from_words(7, event_word(0xBEEF, 0x1234, 0)), Event::new(7, 0xBEEF, 0x1234, 0));
    }
}
