//! A frame-to-event camera emulator: ordinary video becomes DVS-like events with the sensor
//! size of the input (`x` = column, `y` = row, `p` = 1 brighter / 0 darker).
//!
//! Per pixel, with intensity `I` in `[0, 1]` (8-bit frames are divided by 255):
//!
//! 1. log intensity `L = ln(I + ε)` (`ε = log_eps` keeps black finite);
//! 2. each pixel remembers the level `L_ref` of its last crossing (the first frame sets it and
//!    makes no event) and its ON/OFF contrast thresholds `θ⁺`, `θ⁻` (the nominal ones plus a
//!    fixed per-pixel mismatch: `max(θ + σ·N(0, 1), 0.01)` with `N` drawn once per pixel from
//!    the seed, as in v2e);
//! 3. for a frame at `t` after one at `t'`, with `d = L - L_ref`: if `d ≥ θ⁺`, the levels
//!    `L_ref + j·θ⁺` for `j = 1..n`, `n = floor(d / θ⁺)` are crossed. `L` is taken to move
//!    linearly from the previous frame's `L'` to `L` between `t'` and `t`, so crossing `j`
//!    happens at `t' + trunc(f_j · (t - t'))` with `f_j = (L_ref + j·θ⁺ - L') · (1 / (L - L'))`
//!    (clamped to `[0, 1]`; one division per pixel, not per crossing). Then `L_ref ← L_ref + n·θ⁺`. OFF events likewise for `-d ≥ θ⁻`.
//!    At most `max_events_per_frame` crossings per pixel and frame (the reference moves by the
//!    crossings made; the rest follows in later frames);
//! 4. **refractory**: a crossing less than `refractory_us` after the pixel's previous event
//!    makes no event (its level is still crossed, as in v2e);
//! 5. **shot noise** (optional): in each interval a pixel makes one extra event with
//!    probability `rate · (t - t') / 10^6`, of random polarity at a random time in
//!    `(t', t]`, from counter-based draws keyed on the pixel and the frame index.
//!
//! The events of each interval are sorted by time; events at the same time come crossings
//! first, then noise, each in pixel order (row-major).

use alloc::vec;
use alloc::vec::Vec;

use super::rng::{draw, normal, stream_key, threshold};
use super::{bad_param, check_non_negative, check_positive, event_from_words, event_word, EventSink, Layout};
use crate::error::{Error, Result};
use crate::event::Event;

const WHAT: &str = "frame event encoder";

/// Separates the noise streams from the mismatch streams of the same pixel.
const NOISE_DOMAIN: u64 = 0x6E6F_6973_6500_0000;

/// "Never emitted" marker for the last event time.
const NEVER: u64 = u64::MAX;

/// Smallest per-pixel threshold after mismatch (log units).
pub const MIN_THRESHOLD: f64 = 0.01;

/// Parameters of a [`FrameEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct FrameParams {
    /// Sensor width in pixels (`x < width`).
    pub width: usize,
    /// Sensor height in pixels (`y < height`).
    pub height: usize,
    /// ON contrast threshold in log-intensity units (> 0).
    pub threshold_on: f64,
    /// OFF contrast threshold in log-intensity units (> 0).
    pub threshold_off: f64,
    /// Standard deviation of the per-pixel threshold mismatch (log units, ≥ 0).
    pub threshold_sigma: f64,
    /// Dead time after an event, per pixel, in microseconds.
    pub refractory_us: u64,
    /// Shot-noise events per pixel and second (≥ 0).
    pub shot_noise_rate_hz: f64,
    /// `ε` in `ln(I + ε)` (> 0).
    pub log_eps: f64,
    /// Cap on crossings per pixel and frame (≥ 1).
    pub max_events_per_frame: u32,
    /// Seed of the mismatch and the noise.
    pub seed: u64,
}

/// Rows of pixels handled together by the passes of [`FrameEncoder`] (at least one row):
/// the strip's levels, references and scratch stay in the first-level caches between passes.
const STRIP_PIXELS: usize = 2048;

/// Intervals shorter than this (µs) are sorted by one counting sort over every microsecond.
const COUNTING_MAX_DT: u64 = 1 << 17;

/// Low 33 bits of a packed crossing: `x | y << 16 | p << 32`.
const LOW_MASK: u64 = (1 << 33) - 1;

/// Where the previous frame's log intensities are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// In `log_prev` (after an `f64` frame).
    Logs,
    /// The table values of the bytes in `prev_u8` (after an 8-bit frame): the 8-bit path keeps
    /// the bytes (one per pixel) instead of writing and reading back eight per pixel.
    Bytes,
}

/// The log intensities of one frame: computed (`f64` frames) or 8-bit values through the table.
#[derive(Debug, Clone, Copy)]
enum Levels<'a> {
    Logs(&'a [f64]),
    Bytes(&'a [u8]),
}

impl Levels<'_> {
    /// Writes the levels of pixels `start..start + buf.len()` into `buf`.
    #[inline]
    fn fill(self, lut: &[f64; 256], start: usize, buf: &mut [f64]) {
        match self {
            Levels::Logs(l) => buf.copy_from_slice(&l[start..start + buf.len()]),
            Levels::Bytes(b) => {
                let end = start + buf.len();
                for (o, &v) in buf.iter_mut().zip(&b[start..end]) {
                    *o = lut[v as usize];
                }
            }
        }
    }
}

/// One crossing in the scratch of an interval: `t - t'` above bit 33, `x | y << 16 | p << 32`
/// below. `u64` when `t - t'` fits 31 bits (every video: 35 minutes), else `u128`.
trait Packed: Copy + Default {
    fn pack(rel: u64, low: u64) -> Self;
    fn rel(self) -> u64;
    fn low(self) -> u64;
}

impl Packed for u64 {
    #[inline(always)]
    fn pack(rel: u64, low: u64) -> Self {
        (rel << 33) | low
    }
    #[inline(always)]
    fn rel(self) -> u64 {
        self >> 33
    }
    #[inline(always)]
    fn low(self) -> u64 {
        self & LOW_MASK
    }
}

impl Packed for u128 {
    #[inline(always)]
    fn pack(rel: u64, low: u64) -> Self {
        ((rel as u128) << 33) | low as u128
    }
    #[inline(always)]
    fn rel(self) -> u64 {
        (self >> 33) as u64
    }
    #[inline(always)]
    fn low(self) -> u64 {
        self as u64 & LOW_MASK
    }
}

/// The second record word of the event whose low bits are `x | y << 16 | p << 32` (on a
/// little-endian machine, those bits themselves).
#[inline(always)]
fn word_of_low(low: u64) -> u64 {
    if cfg!(target_endian = "little") {
        low
    } else {
        event_word(low as u16, (low >> 16) as u16, (low >> 32) as u8)
    }
}

/// Where in the frame interval (0 to 1) the log intensity, going from `lp` by `span`, reaches
/// `level`: clamped to [0, 1], NaN to 0, 1 when it did not move (`inv_span` is `1 / span`).
#[inline(always)]
fn crossing_fraction(level: f64, lp: f64, span: f64, inv_span: f64) -> f64 {
    let f = if span != 0.0 { (level - lp) * inv_span } else { 1.0 };
    if f > 0.0 {
        if f < 1.0 {
            f
        } else {
            1.0
        }
    } else {
        0.0
    }
}

/// The smallest `a ≥ 0` such that `a / th ≥ c` in floating point (`+∞` if none): the
/// quotient is monotone in `a`, so `a / th ≥ c` exactly when `a ≥` this bound.
fn quotient_bound(th: f64, c: f64) -> f64 {
    let reaches = |bits: u64| f64::from_bits(bits) / th >= c;
    let hi = f64::MAX.to_bits();
    if !reaches(hi) {
        return f64::INFINITY;
    }
    f64::from_bits(super::first_bits_where(0, hi, reaches))
}

/// A streaming frame-to-event emulator.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    params: FrameParams,
    layout: Layout,
    th_on: Vec<f64>,
    th_off: Vec<f64>,
    /// Whether every pixel has the nominal thresholds (no mismatch): the passes then use
    /// two numbers instead of reading two arrays.
    uniform: bool,
    log_ref: Vec<f64>,
    log_prev: Vec<f64>,
    /// The previous 8-bit frame (when `prev` is [`Prev::Bytes`]).
    prev_u8: Vec<u8>,
    prev: Prev,
    raw_prev: Vec<f64>,
    /// Whether `raw_prev` holds the previous frame (only after an `f64` frame).
    raw_valid: bool,
    log_cur: Vec<f64>,
    last_event: Vec<u64>,
    noise_keys: Vec<u64>,
    /// `ln(v / 255 + ε)` for every byte `v` (an array, so that indexing by a byte needs no
    /// bounds check and the fill loop can gather).
    lut: [f64; 256],
    t_prev: u64,
    frames_seen: u64,
    xy: Vec<[u16; 2]>,
    /// Scratch (one strip): current and previous levels.
    cur_buf: Vec<f64>,
    prev_buf: Vec<f64>,
    /// `[D₂, D₃]` for the ON and the OFF threshold: the smallest `a ≥ 0` with
    /// `a / θ ≥ 2` (resp. 3) in floating point, so that with uniform thresholds the count of
    /// crossings up to 3 needs no division (see `crossings_into`).
    bounds_on: [f64; 2],
    bounds_off: [f64; 2],
    /// Scratch (one strip): per pixel, the number of crossings (3: three or more) and, in
    /// bit 2, the polarity.
    codes: Vec<u8>,
    /// Scratch (one strip): `f · dt` of the first and second crossing of each pixel (the
    /// truncation to microseconds is left to the scalar pass: the saturating conversion keeps
    /// a loop from vectorising).
    rel1: Vec<f64>,
    rel2: Vec<f64>,
    /// Scratch (one strip): the pixels that cross (index in the strip) and their `x | y << 16`.
    moving: Vec<(u32, u32)>,
    /// Scratch: the interval's crossings (see [`Packed`]), in generation order.
    scratch: Vec<u64>,
    /// Scratch: the same grouped by buckets of 256 µs (see `sort_narrow`).
    sorted: Vec<u64>,
    /// Scratch: the interval's crossings when `t - t'` does not fit 31 bits.
    scratch_wide: Vec<u128>,
    /// `t - t'` of the interval being encoded.
    frames_dt: u64,
    /// Scratch: counts of the low byte of `t - t'` in one bucket (four interleaved copies).
    counts_lo: Vec<u32>,
    /// Scratch: counts of the buckets of 256 µs of `t - t'` (four copies, `sort_narrow`), or
    /// of every microsecond (`sort_counting`).
    counts_hi: Vec<u32>,
    /// Scratch: the events of one bucket (`sort_narrow`) or one interval (`sort_counting`)
    /// in order.
    stage: Vec<Event>,
}

impl FrameEncoder {
    /// Checks the parameters and builds the emulator (per-pixel thresholds drawn here).
    pub fn new(params: FrameParams) -> Result<Self> {
        let layout = Layout::image(params.height, params.width);
        if params.height == 0 {
            return Err(bad_param(WHAT, "height", 0, ">= 1"));
        }
        layout.check(WHAT)?;
        check_positive(WHAT, "threshold_on", params.threshold_on)?;
        check_positive(WHAT, "threshold_off", params.threshold_off)?;
        check_non_negative(WHAT, "threshold_sigma", params.threshold_sigma)?;
        check_non_negative(WHAT, "shot_noise_rate_hz", params.shot_noise_rate_hz)?;
        check_positive(WHAT, "log_eps", params.log_eps)?;
        if params.max_events_per_frame == 0 {
            return Err(bad_param(WHAT, "max_events_per_frame", 0, ">= 1"));
        }
        let n = layout.n_channels;
        let (th_on, th_off) = if params.threshold_sigma > 0.0 {
            let per_pixel = |base: f64, counter: u64| -> Vec<f64> {
                (0..n as u64)
                    .map(|i| {
                        let th = base + params.threshold_sigma * normal(stream_key(params.seed, i), counter);
                        if th > MIN_THRESHOLD {
                            th
                        } else {
                            MIN_THRESHOLD
                        }
                    })
                    .collect()
            };
            (per_pixel(params.threshold_on, 0), per_pixel(params.threshold_off, 2))
        } else {
            (vec![params.threshold_on; n], vec![params.threshold_off; n])
        };
        let noise_keys = if params.shot_noise_rate_hz > 0.0 {
            (0..n as u64).map(|i| stream_key(params.seed ^ NOISE_DOMAIN, i)).collect()
        } else {
            Vec::new()
        };
        let lut = core::array::from_fn(|v| libm::log(v as f64 / 255.0 + params.log_eps));
        let strip = STRIP_PIXELS.max(params.width);
        Ok(FrameEncoder {
            layout,
            uniform: params.threshold_sigma == 0.0,
            th_on,
            th_off,
            log_ref: vec![0.0; n],
            log_prev: vec![0.0; n],
            prev_u8: vec![0; n],
            prev: Prev::Logs,
            raw_prev: vec![0.0; n],
            raw_valid: false,
            log_cur: vec![0.0; n],
            last_event: vec![NEVER; n],
            noise_keys,
            lut,
            t_prev: 0,
            frames_seen: 0,
            xy: layout.coords(),
            cur_buf: vec![0.0; strip],
            prev_buf: vec![0.0; strip],
            bounds_on: [quotient_bound(params.threshold_on, 2.0), quotient_bound(params.threshold_on, 3.0)],
            bounds_off: [quotient_bound(params.threshold_off, 2.0), quotient_bound(params.threshold_off, 3.0)],
            codes: vec![0; strip],
            rel1: vec![0.0; strip],
            rel2: vec![0.0; strip],
            moving: vec![(0, 0); strip],
            scratch: Vec::new(),
            sorted: Vec::new(),
            scratch_wide: Vec::new(),
            frames_dt: 0,
            counts_lo: Vec::new(),
            counts_hi: Vec::new(),
            stage: Vec::new(),
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &FrameParams {
        &self.params
    }

    /// The per-pixel ON thresholds (row-major).
    pub fn thresholds_on(&self) -> &[f64] {
        &self.th_on
    }

    /// The per-pixel OFF thresholds (row-major).
    pub fn thresholds_off(&self) -> &[f64] {
        &self.th_off
    }

    /// Frames consumed so far.
    pub fn frames_seen(&self) -> u64 {
        self.frames_seen
    }

    /// Time of the last frame (0 before any).
    pub fn last_frame_us(&self) -> u64 {
        self.t_prev
    }

    /// Back to the initial state (the next frame initialises the references).
    pub fn reset(&mut self) {
        self.frames_seen = 0;
        self.t_prev = 0;
        self.last_event.iter_mut().for_each(|t| *t = NEVER);
        self.raw_valid = false;
    }

    fn check_frames(&self, len: usize, times: &[u64]) -> Result<()> {
        let n = self.layout.n_channels;
        if len != times.len().saturating_mul(n) {
            return Err(Error::Shape {
                what: "frame event encoder frames".into(),
                expected: alloc::format!(
                    "{} frames of {}x{} pixels (one per timestamp)",
                    times.len(),
                    self.params.height,
                    self.params.width
                ),
                found: alloc::format!("{len} values"),
            });
        }
        let mut prev = if self.frames_seen > 0 { Some(self.t_prev) } else { None };
        for &t in times {
            if let Some(p) = prev {
                if t <= p {
                    return Err(bad_param(WHAT, "t_us", t, &alloc::format!("> {p} (frame times strictly increase)")));
                }
            }
            prev = Some(t);
        }
        Ok(())
    }

    /// Encodes frames of intensities in `[0, 1]` (row-major, frame after frame), one
    /// timestamp per frame. Values below 0 and NaN count as 0.
    pub fn push_f64(&mut self, frames: &[f64], times: &[u64], out: &mut impl EventSink) -> Result<()> {
        self.check_frames(frames.len(), times)?;
        let n = self.layout.n_channels;
        let eps = self.params.log_eps;
        if self.prev == Prev::Bytes {
            for (l, &v) in self.log_prev.iter_mut().zip(&self.prev_u8) {
                *l = self.lut[v as usize];
            }
            self.prev = Prev::Logs;
        }
        for (frame, &t) in frames.chunks_exact(n).zip(times) {
            let valid = self.raw_valid;
            for (((&v, raw), prev), cur) in
                frame.iter().zip(self.raw_prev.iter_mut()).zip(&self.log_prev).zip(self.log_cur.iter_mut())
            {
                let v = if v > 0.0 { v } else { 0.0 };
                // An unchanged pixel keeps its logarithm (most of a static scene).
                *cur = if valid && v == *raw { *prev } else { libm::log(v + eps) };
                *raw = v;
            }
            self.raw_valid = true;
            let (cur, prev) = (core::mem::take(&mut self.log_cur), core::mem::take(&mut self.log_prev));
            if self.frames_seen == 0 {
                self.log_ref.copy_from_slice(&cur);
            } else {
                self.frame(t, Levels::Logs(&cur), Levels::Logs(&prev), out);
            }
            // The current levels become the previous ones.
            (self.log_prev, self.log_cur) = (cur, prev);
            self.advance(t);
        }
        Ok(())
    }

    /// Encodes 8-bit frames (intensity `v / 255`, logarithm from a 256-entry table).
    pub fn push_u8(&mut self, frames: &[u8], times: &[u64], out: &mut impl EventSink) -> Result<()> {
        self.check_frames(frames.len(), times)?;
        let n = self.layout.n_channels;
        if frames.is_empty() {
            return Ok(());
        }
        // The f64 path's cache of raw values no longer describes the previous frame.
        self.raw_valid = false;
        let prev_u8 = core::mem::take(&mut self.prev_u8);
        let prev_logs = core::mem::take(&mut self.log_prev);
        let mut prev = match self.prev {
            Prev::Logs => Levels::Logs(&prev_logs),
            Prev::Bytes => Levels::Bytes(&prev_u8),
        };
        for (frame, &t) in frames.chunks_exact(n).zip(times) {
            if self.frames_seen == 0 {
                for (r, &v) in self.log_ref.iter_mut().zip(frame) {
                    *r = self.lut[v as usize];
                }
            } else {
                self.frame(t, Levels::Bytes(frame), prev, out);
            }
            prev = Levels::Bytes(frame);
            self.advance(t);
        }
        self.log_prev = prev_logs;
        self.prev_u8 = prev_u8;
        // Keep the last frame's bytes for the next call.
        self.prev_u8.copy_from_slice(&frames[frames.len() - n..]);
        self.prev = Prev::Bytes;
        Ok(())
    }

    fn advance(&mut self, t: u64) {
        self.t_prev = t;
        self.frames_seen += 1;
    }

    /// One interval, from the frame at `t_prev` (levels `prev`) to the frame at `t` (`cur`).
    fn frame(&mut self, t: u64, cur: Levels<'_>, prev: Levels<'_>, out: &mut impl EventSink) {
        let dt = t - self.t_prev;
        self.frames_dt = dt;
        if dt < 1 << 31 {
            let mut scratch = core::mem::take(&mut self.scratch);
            self.crossings_into(t, cur, prev, &mut scratch);
            self.sort_narrow(&mut scratch, out);
            self.scratch = scratch;
        } else {
            let mut scratch = core::mem::take(&mut self.scratch_wide);
            self.crossings_into(t, cur, prev, &mut scratch);
            scratch.sort_by_key(|e| e.rel());
            self.write_sorted(&scratch, out);
            self.scratch_wide = scratch;
        }
    }

    /// The crossings and the shot noise of one interval, in generation order (pixel by
    /// pixel, each pixel's crossings in order, then the noise), into `scratch`.
    ///
    /// Per strip of rows, three passes rather than one with a branch per pixel (about half
    /// the pixels of a moving scene cross a level, at random, so that branch was mispredicted
    /// for a large share of the pixels):
    /// 1. every pixel, no branch (vectorised): its number of crossings up to three and
    ///    polarity, and the times of its first two crossings (used or not);
    /// 2. the list of the pixels that cross (branch-free compaction);
    /// 3. those pixels' crossings into `scratch`: with one or two, both slots written
    ///    unconditionally (a slot past the pixel's count is overwritten by the next pixel);
    ///    three or more, refractory periods and intervals of 2^31 µs or more take the
    ///    general loop.
    ///
    /// Every number is computed by the same floating-point operations as the formulas in
    /// the module documentation, so the events are the same as those of a loop over
    /// pixels and crossings.
    fn crossings_into<E: Packed>(&mut self, t: u64, cur: Levels<'_>, prev: Levels<'_>, scratch: &mut Vec<E>) {
        let t0 = self.t_prev;
        let dt = t - t0;
        let dt_f = dt as f64;
        let cap = self.params.max_events_per_frame as f64;
        // The count code saturates at 3 ("three or more"), or at the cap if that is lower.
        let cap_code = self.params.max_events_per_frame.min(3) as u8;
        let width = self.layout.width;
        let n = self.layout.n_channels;
        let rows_per_strip = (STRIP_PIXELS / width).max(1);
        let refractory = self.params.refractory_us;
        // `t - t'` fits 31 bits: the first two crossing times come from the vectorised pass.
        let narrow = core::mem::size_of::<E>() == 8;
        let fast = narrow && refractory == 0;
        let (u_on, u_off) = (self.params.threshold_on, self.params.threshold_off);
        let ([on2, on3], [off2, off3]) = (self.bounds_on, self.bounds_off);
        let mut len = 0usize;
        let mut y0 = 0usize;
        while y0 * width < n {
            let s0 = y0 * width;
            let m_px = (rows_per_strip * width).min(n - s0);
            let cur_l = &mut self.cur_buf[..m_px];
            let prev_l = &mut self.prev_buf[..m_px];
            cur.fill(&self.lut, s0, cur_l);
            prev.fill(&self.lut, s0, prev_l);
            let refs = &mut self.log_ref[s0..s0 + m_px];
            let codes = &mut self.codes[..m_px];
            let rel1 = &mut self.rel1[..m_px];
            let rel2 = &mut self.rel2[..m_px];

            // Pass 1. With `d = L - L_ref`: ON when `d ≥ θ⁺`, else OFF when `-d ≥ θ⁻`; the
            // count `floor(|d| / θ).min(cap)` is at least 2 (3) exactly when the quotient
            // is, that is when `|d| ≥ D₂` (`D₃`) for uniform thresholds.
            let code_of = |d: f64, on: f64, off: f64, ge: [bool; 2]| -> u8 {
                let up = d >= on;
                let down = -d >= off;
                let c = 1 + ge[0] as u8 + ge[1] as u8;
                let c = if c < cap_code { c } else { cap_code };
                if up || down {
                    c | (up as u8) << 2
                } else {
                    0
                }
            };
            // `t - t'` of crossing `j` (`trunc(f · dt)`, `f` clamped to [0, 1], NaN to 0),
            // valid for pixels that cross; any value in [0, dt] for the others.
            let first_two = |l: f64, lp: f64, r: f64, on: f64, off: f64| -> (f64, f64) {
                let up = l - r >= on;
                let (th, sign) = if up { (on, 1.0) } else { (off, -1.0) };
                let span = l - lp;
                let inv_span = 1.0 / span;
                let rel = |j: f64| -> f64 { crossing_fraction(r + sign * j * th, lp, span, inv_span) * dt_f };
                (rel(1.0), rel(2.0))
            };
            if self.uniform {
                for k in 0..m_px {
                    let (l, lp, r) = (cur_l[k], prev_l[k], refs[k]);
                    let d = l - r;
                    let up = d >= u_on;
                    let a = if up { d } else { -d };
                    let (b2, b3) = if up { (on2, on3) } else { (off2, off3) };
                    codes[k] = code_of(d, u_on, u_off, [a >= b2, a >= b3]);
                    if fast {
                        (rel1[k], rel2[k]) = first_two(l, lp, r, u_on, u_off);
                    }
                }
            } else {
                let (th_on, th_off) = (&self.th_on[s0..s0 + m_px], &self.th_off[s0..s0 + m_px]);
                for k in 0..m_px {
                    let (l, lp, r, on, off) = (cur_l[k], prev_l[k], refs[k], th_on[k], th_off[k]);
                    let d = l - r;
                    let q = if d >= on { d / on } else { -d / off };
                    codes[k] = code_of(d, on, off, [q >= 2.0, q >= 3.0]);
                    if fast {
                        (rel1[k], rel2[k]) = first_two(l, lp, r, on, off);
                    }
                }
            }
            // Pass 2: the pixels that cross, in order, with their coordinates (rows and
            // columns counted, not divided).
            let mut m = 0;
            for (row, line) in codes.chunks(width).enumerate() {
                let y = ((y0 + row) as u32) << 16;
                for (x, &c) in line.iter().enumerate() {
                    self.moving[m] = ((row * width + x) as u32, y | x as u32);
                    m += (c != 0) as usize;
                }
            }
            // Room for up to three crossings per pixel plus the two speculative slots; more
            // is made below for a pixel with more.
            if scratch.len() < len + 3 * m + 2 {
                scratch.resize(len + 3 * m + 2, E::default());
            }
            // Pass 3.
            for &(k, xy) in &self.moving[..m] {
                let k = k as usize;
                let i = s0 + k;
                let code = codes[k];
                let up = code & 4 != 0;
                let short = (code & 3) as u32;
                let (l, lp, r) = (cur_l[k], prev_l[k], refs[k]);
                let (on, off) = if self.uniform { (u_on, u_off) } else { (self.th_on[i], self.th_off[i]) };
                let (th, sign) = if up { (on, 1.0) } else { (off, -1.0) };
                let low = xy as u64 | (up as u64) << 32;
                // The exact count, `floor(q).min(cap)`: `q ≥ 1` here, so the truncation of
                // `q.min(cap)`.
                let count = if short < 3 {
                    short as u64
                } else {
                    let d = l - r;
                    (if up { d / on } else { -d / off }).min(cap) as u64
                };
                if fast && count <= 2 {
                    let (r1, r2) = (rel1[k] as u64, rel2[k] as u64);
                    scratch[len] = E::pack(r1, low);
                    scratch[len + 1] = E::pack(r2, low);
                    len += count as usize;
                } else {
                    let span = l - lp;
                    let inv_span = 1.0 / span;
                    let rel =
                        |j: f64| -> u64 { (crossing_fraction(r + sign * j * th, lp, span, inv_span) * dt_f) as u64 };
                    if scratch.len() < len + count as usize + 3 * m + 2 {
                        scratch.resize(len + count as usize + 3 * m + 2, E::default());
                    }
                    for j in 1..=count {
                        let rj = rel(j as f64);
                        let te = t0 + rj;
                        let last = self.last_event[i];
                        if refractory == 0 || last == NEVER || te >= last.saturating_add(refractory) {
                            self.last_event[i] = te;
                            scratch[len] = E::pack(rj, low);
                            len += 1;
                        }
                    }
                }
                refs[k] = r + sign * count as f64 * th;
            }
            y0 += rows_per_strip;
        }
        scratch.truncate(len);
        if !self.noise_keys.is_empty() {
            let thr = threshold(self.params.shot_noise_rate_hz * dt_f / 1e6);
            let k = self.frames_seen.wrapping_mul(2);
            for (i, &key) in self.noise_keys.iter().enumerate() {
                if draw(key, k) >> 11 < thr {
                    let d2 = draw(key, k + 1);
                    let rel = 1 + (d2 >> 1) % dt;
                    let [x, y] = self.xy[i];
                    scratch.push(E::pack(rel, x as u64 | (y as u64) << 16 | (d2 & 1) << 32));
                }
            }
        }
    }

    /// Sorts the interval's crossings by time, keeping the generation order among equal
    /// times, and writes them out.
    ///
    /// A most-significant-digit sort on `t - t'`: a stable scatter of the crossings into
    /// buckets of 256 µs (`sorted`, a few hundred kB that stay in the second-level cache),
    /// then, bucket by bucket, a counting sort on the low byte of `t - t'` that writes each
    /// event into its final slot of the output. Unless those buckets outnumber the pixels
    /// (then a stable comparison sort); both give the same order.
    ///
    /// Why this order of the two digits: the output is tens of MB written once, and where
    /// its writes go decides the cost. The least-significant-digit order used before wrote
    /// its second pass to as many interleaved output streams as there are buckets (131 for
    /// video), more than the hardware follows, and the misses on the output were a third of
    /// the emulator's time; here each bucket's events land in one window of a few kB of the
    /// output, and the windows follow each other. One counting sort over every microsecond
    /// of the interval (the first version) scattered each event to a random place of the
    /// interval's output. The histograms are made in four interleaved copies: neighbouring
    /// pixels cross at nearly the same time, and a single counter hit by consecutive
    /// crossings makes a chain of dependent read-modify-writes.
    ///
    /// Intervals shorter than [`COUNTING_MAX_DT`] take [`FrameEncoder::sort_counting`].
    fn sort_narrow(&mut self, scratch: &mut [u64], out: &mut impl EventSink) {
        let len = scratch.len();
        let dt = self.frames_dt;
        let hi_buckets = (dt >> 8) as usize + 1;
        if hi_buckets > self.layout.n_channels + 4096 {
            scratch.sort_by_key(|e| e.rel());
            self.write_sorted(scratch, out);
            return;
        }
        if dt < COUNTING_MAX_DT {
            self.sort_counting(scratch, out);
            return;
        }
        // The crossings in four quarters, each with its own counters (copy `c` of bucket
        // `b` at `hi[c * hi_buckets + b]`), so that the scatter below runs four independent
        // chains of counter updates instead of one.
        let quarter = len.div_ceil(4);
        let hi = &mut self.counts_hi;
        hi.clear();
        hi.resize(4 * hi_buckets, 0);
        for (c, part) in scratch.chunks(quarter.max(1)).enumerate() {
            let counts = &mut hi[c * hi_buckets..(c + 1) * hi_buckets];
            for &e in part {
                counts[(e.rel() >> 8) as usize] += 1;
            }
        }
        // Exclusive prefix sums, bucket by bucket, quarter by quarter within a bucket: the
        // first slot of each quarter's crossings in each bucket (the scatter stays stable).
        let mut sum = 0;
        for b in 0..hi_buckets {
            for c in 0..4 {
                let n = hi[c * hi_buckets + b];
                hi[c * hi_buckets + b] = sum;
                sum += n;
            }
        }
        if self.sorted.len() < len {
            self.sorted.resize(len, 0);
        }
        {
            let sorted = &mut self.sorted;
            let (h0, rest) = hi.split_at_mut(hi_buckets);
            let (h1, rest) = rest.split_at_mut(hi_buckets);
            let (h2, h3) = rest.split_at_mut(hi_buckets);
            let mut put = |h: &mut [u32], e: u64| {
                let slot = &mut h[(e.rel() >> 8) as usize];
                sorted[*slot as usize] = e;
                *slot += 1;
            };
            let (q0, rest) = scratch.split_at(quarter.min(len));
            let (q1, rest) = rest.split_at(quarter.min(rest.len()));
            let (q2, q3) = rest.split_at(quarter.min(rest.len()));
            for i in 0..q3.len() {
                put(h0, q0[i]);
                put(h1, q1[i]);
                put(h2, q2[i]);
                put(h3, q3[i]);
            }
            for i in q3.len()..quarter {
                for (h, q) in [(&mut *h0, q0), (&mut *h1, q1), (&mut *h2, q2)] {
                    if let Some(&e) = q.get(i) {
                        put(h, e);
                    }
                }
            }
        }
        // The last quarter's end of bucket `b` is the end of the bucket.
        let ends = &hi[3 * hi_buckets..4 * hi_buckets];
        let t0 = self.t_prev;
        let slots = out.append_slots(len);
        let lo = &mut self.counts_lo;
        lo.resize(4 * 256, 0);
        let mut start = 0;
        for &end in ends {
            let end = end as usize;
            let bucket = &self.sorted[start..end];
            if bucket.len() <= 1 {
                if let Some(&e) = bucket.first() {
                    slots[start] = event_from_words(t0 + e.rel(), word_of_low(e.low()));
                }
                start = end;
                continue;
            }
            lo.fill(0);
            let mut quads = bucket.chunks_exact(4);
            for q in &mut quads {
                for (c, &e) in q.iter().enumerate() {
                    lo[c * 256 + (e.rel() & 255) as usize] += 1;
                }
            }
            for &e in quads.remainder() {
                lo[(e.rel() & 255) as usize] += 1;
            }
            let mut sum = start as u32;
            for b in 0..256 {
                let c = lo[b] + lo[256 + b] + lo[512 + b] + lo[768 + b];
                lo[b] = sum;
                sum += c;
            }
            let stage = &mut self.stage;
            if stage.len() < bucket.len() {
                stage.resize(bucket.len(), Event::default());
            }
            for &e in bucket {
                let slot = &mut lo[(e.rel() & 255) as usize];
                stage[*slot as usize - start] = event_from_words(t0 + e.rel(), word_of_low(e.low()));
                *slot += 1;
            }
            slots[start..end].copy_from_slice(&stage[..end - start]);
            start = end;
        }
    }

    /// Sorts an interval shorter than [`COUNTING_MAX_DT`] by one counting sort over every
    /// microsecond of it, into `stage`, then copies `stage` to the output in one sequential
    /// run.
    ///
    /// Why: for video (33,334 µs, tens of thousands of crossings) the counters (130 kB) and
    /// the staged events (under 1 MB) stay in the second-level cache, so the scatter to a
    /// random slot per event hits that cache, and the output, which is far larger, is only
    /// ever written in order. This is 10% faster on the whole emulator than the two-digit
    /// sort of [`FrameEncoder::sort_narrow`] (three passes over the crossings plus a counter
    /// reset and prefix sum per bucket). The first version scattered straight into the
    /// output: a cache miss per event.
    fn sort_counting(&mut self, scratch: &[u64], out: &mut impl EventSink) {
        let len = scratch.len();
        let keys = self.frames_dt as usize + 1;
        let counts = &mut self.counts_hi;
        counts.clear();
        counts.resize(keys, 0);
        for &e in scratch {
            counts[e.rel() as usize] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        let stage = &mut self.stage;
        if stage.len() < len {
            stage.resize(len, Event::default());
        }
        let t0 = self.t_prev;
        for &e in scratch {
            let slot = &mut counts[e.rel() as usize];
            stage[*slot as usize] = event_from_words(t0 + e.rel(), word_of_low(e.low()));
            *slot += 1;
        }
        out.append_slots(len).copy_from_slice(&stage[..len]);
    }

    /// Writes crossings already sorted by time.
    fn write_sorted<E: Packed>(&self, sorted: &[E], out: &mut impl EventSink) {
        let t0 = self.t_prev;
        for (slot, &e) in out.append_slots(sorted.len()).iter_mut().zip(sorted) {
            *slot = event_from_words(t0 + e.rel(), word_of_low(e.low()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn division_free_counts_are_exact() {
        for th in [0.2, 0.15, 0.25, 0.01, 1.0 / 3.0, 0.7] {
            for c in [2.0, 3.0] {
                let b = quotient_bound(th, c);
                assert!(b / th >= c);
                assert!(f64::from_bits(b.to_bits() - 1) / th < c);
            }
        }
    }

    #[test]
    fn packed_low_bits_are_the_record_word() {
        let low = 0xBEEF | 0x1234 << 16 | 1 << 32;
        assert_eq!(word_of_low(low), event_word(0xBEEF, 0x1234, 1));
        assert_eq!(<u64 as Packed>::pack(77, low).rel(), 77);
        assert_eq!(<u128 as Packed>::pack(1 << 40, low).low(), low);
    }

    fn params() -> FrameParams {
        FrameParams {
            width: 8,
            height: 2,
            threshold_on: 0.2,
            threshold_off: 0.2,
            threshold_sigma: 0.0,
            refractory_us: 0,
            shot_noise_rate_hz: 0.0,
            log_eps: 1e-3,
            max_events_per_frame: 100,
            seed: 1,
        }
    }

    #[test]
    fn brightening_pixel_gives_on_events_spread_over_the_interval() {
        let mut e = FrameEncoder::new(params()).unwrap();
        let mut f0 = vec![0.2; 16];
        let mut out = Vec::<Event>::new();
        e.push_f64(&f0, &[0], &mut out).unwrap();
        assert!(out.is_empty());
        f0[3] = 0.2 * libm::exp(0.65); // three crossings
        f0[12] = 0.2 * libm::exp(-0.45); // two OFF crossings
        e.push_f64(&f0, &[1000], &mut out).unwrap();
        let on: Vec<_> = out.iter().filter(|e| e.p == 1).collect();
        let off: Vec<_> = out.iter().filter(|e| e.p == 0).collect();
        assert_eq!(on.len(), 3);
        assert_eq!(off.len(), 2);
        assert!(on.iter().all(|e| e.x == 3 && e.y == 0));
        assert!(off.iter().all(|e| e.x == 4 && e.y == 1));
        assert!(out.windows(2).all(|w| w[0].t <= w[1].t));
        assert!(out.iter().all(|e| e.t > 0 && e.t <= 1000));
    }

    #[test]
    fn u8_and_f64_paths_agree_and_times_must_increase() {
        let mut a = FrameEncoder::new(params()).unwrap();
        let mut b = FrameEncoder::new(params()).unwrap();
        let frames: Vec<u8> = (0..48).map(|i| ((i * 37) % 256) as u8).collect();
        let times = [0, 40, 80];
        let mut oa = Vec::<Event>::new();
        let mut ob = Vec::<Event>::new();
        a.push_u8(&frames, &times, &mut oa).unwrap();
        let fl: Vec<f64> = frames.iter().map(|&v| v as f64 / 255.0).collect();
        b.push_f64(&fl, &times, &mut ob).unwrap();
        assert_eq!(oa, ob);
        assert!(a.push_u8(&frames[..16], &[80], &mut oa).is_err());
    }

    #[test]
    fn mismatch_and_noise_are_seeded() {
        let mut p = params();
        p.threshold_sigma = 0.05;
        p.shot_noise_rate_hz = 500.0;
        let mut a = FrameEncoder::new(p.clone()).unwrap();
        assert!(a.thresholds_on().iter().any(|&t| t != 0.2));
        let frames = vec![0.5; 16 * 5];
        let mut oa = Vec::<Event>::new();
        a.push_f64(&frames, &[0, 1000, 2000, 3000, 4000], &mut oa).unwrap();
        let mut b = FrameEncoder::new(p).unwrap();
        let mut ob = Vec::<Event>::new();
        b.push_f64(&frames[..32], &[0, 1000], &mut ob).unwrap();
        b.push_f64(&frames[32..], &[2000, 3000, 4000], &mut ob).unwrap();
        assert_eq!(oa, ob);
        // 16 pixels x 4 intervals x 0.5 probability: some noise, not all.
        assert!(!oa.is_empty() && oa.len() < 64);
    }
}
