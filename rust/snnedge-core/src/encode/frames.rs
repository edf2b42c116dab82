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
use super::{bad_param, check_non_negative, check_positive, EventSink, Layout};
use crate::error::{Error, Result};
use crate::Event;

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

/// A streaming frame-to-event emulator.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    params: FrameParams,
    layout: Layout,
    th_on: Vec<f64>,
    th_off: Vec<f64>,
    log_ref: Vec<f64>,
    log_prev: Vec<f64>,
    raw_prev: Vec<f64>,
    /// Whether `raw_prev` holds the previous frame (only after an `f64` frame).
    raw_valid: bool,
    log_cur: Vec<f64>,
    last_event: Vec<u64>,
    noise_keys: Vec<u64>,
    lut: Vec<f64>,
    t_prev: u64,
    frames_seen: u64,
    xy: Vec<[u16; 2]>,
    /// Scratch: the number of crossings of each pixel in the current interval.
    crossings: Vec<u32>,
    /// Scratch: the pixels with at least one crossing, in order.
    moving: Vec<u32>,
    /// Scratch: the interval's events as (time, pixel << 1 | polarity), in generation order.
    scratch: Vec<(u64, u64)>,
    /// Scratch: counting-sort buckets.
    counts: Vec<u32>,
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
        let lut = (0..256).map(|v| libm::log(v as f64 / 255.0 + params.log_eps)).collect();
        Ok(FrameEncoder {
            layout,
            th_on,
            th_off,
            log_ref: vec![0.0; n],
            log_prev: vec![0.0; n],
            raw_prev: vec![0.0; n],
            raw_valid: false,
            log_cur: vec![0.0; n],
            last_event: vec![NEVER; n],
            noise_keys,
            lut,
            t_prev: 0,
            frames_seen: 0,
            xy: layout.coords(),
            crossings: vec![0; n],
            moving: vec![0; n],
            scratch: Vec::new(),
            counts: Vec::new(),
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
            self.frame(t, out);
        }
        Ok(())
    }

    /// Encodes 8-bit frames (intensity `v / 255`, logarithm from a 256-entry table).
    pub fn push_u8(&mut self, frames: &[u8], times: &[u64], out: &mut impl EventSink) -> Result<()> {
        self.check_frames(frames.len(), times)?;
        let n = self.layout.n_channels;
        // The f64 path's cache of raw values no longer describes the previous frame.
        self.raw_valid = false;
        for (frame, &t) in frames.chunks_exact(n).zip(times) {
            for (&v, cur) in frame.iter().zip(self.log_cur.iter_mut()) {
                *cur = self.lut[v as usize];
            }
            self.frame(t, out);
        }
        Ok(())
    }

    /// One frame whose log intensities are in `log_cur`.
    ///
    /// Three passes over the pixels rather than one with a branch per pixel (about half the
    /// pixels of a moving scene cross a level, at random, so that branch was mispredicted
    /// for a large share of the pixels): the number of crossings of every pixel (no branch,
    /// vectorised), the list of the pixels that cross, and the crossings of those pixels,
    /// with the histogram of their times for the counting sort made on the way. The sort
    /// then writes each event into its final slot in the sink.
    fn frame(&mut self, t: u64, out: &mut impl EventSink) {
        if self.frames_seen == 0 {
            self.log_ref.copy_from_slice(&self.log_cur);
            self.log_prev.copy_from_slice(&self.log_cur);
            self.t_prev = t;
            self.frames_seen = 1;
            return;
        }
        let t0 = self.t_prev;
        let dt = t - t0;
        let dt_f = dt as f64;
        let cap = self.params.max_events_per_frame as f64;

        // Pass 1: crossings per pixel. With `d = L - L_ref`, ON when `d ≥ θ⁺`, else OFF when
        // `-d ≥ θ⁻`; the count `floor(|d| / θ).min(cap)`. The quotient is ≥ 1 for a pixel
        // that crosses (and +∞ at most), so `floor(q).min(cap)` is `q.min(cap)` truncated.
        let mut total = 0u64;
        for ((((&l, &r), &on), &off), c) in self
            .log_cur
            .iter()
            .zip(&self.log_ref)
            .zip(&self.th_on)
            .zip(&self.th_off)
            .zip(self.crossings.iter_mut())
        {
            let d = l - r;
            let up = d >= on;
            let down = -d >= off;
            let q = if up { d / on } else { -d / off };
            let count = q.min(cap) as u32;
            *c = if up || down { count } else { 0 };
            total += *c as u64;
        }
        // Pass 2: the pixels that cross, in order (branch-free compaction).
        let mut m = 0;
        for (i, &c) in self.crossings.iter().enumerate() {
            self.moving[m] = i as u32;
            m += (c > 0) as usize;
        }

        // Counting sort over the interval's microseconds when that is not much more work than
        // the events (video: 33,333 buckets for tens of thousands of events), else a stable
        // comparison sort. Either gives the same order: by time, then generation order.
        let noise = !self.noise_keys.is_empty();
        let buckets = dt as usize + 1;
        let counting = buckets <= 4 * total as usize + (1 << 16);
        self.counts.clear();
        if counting {
            self.counts.resize(buckets + 1, 0);
        }
        // Room for every crossing plus the two speculative slots of the last pixel.
        self.scratch.clear();
        self.scratch.resize(total as usize + 2, (0, 0));
        let mut len = 0usize;
        let refractory = self.params.refractory_us;
        // Pass 3: the crossings of each pixel that crosses.
        for &i in &self.moving[..m] {
            let i = i as usize;
            let l = self.log_cur[i];
            let lp = self.log_prev[i];
            let r = self.log_ref[i];
            let d = l - r;
            let (th, sign, p) = if d >= self.th_on[i] { (self.th_on[i], 1.0, 1u64) } else { (self.th_off[i], -1.0, 0u64) };
            let count = self.crossings[i];
            let span = l - lp;
            let inv_span = 1.0 / span;
            let key = ((i as u64) << 1) | p;
            // Level `L_ref ± j·θ` is crossed at `t' + trunc(f · dt)`, `f` the fraction of the
            // way from `L'` to `L`, clamped to [0, 1] (NaN to 0).
            let time = |j: f64| -> u64 {
                let level = r + sign * j * th;
                let f = if span != 0.0 { (level - lp) * inv_span } else { 1.0 };
                let f = if f > 0.0 {
                    if f < 1.0 {
                        f
                    } else {
                        1.0
                    }
                } else {
                    0.0
                };
                t0 + (f * dt_f) as u64
            };
            if refractory == 0 {
                // No dead time: every crossing is an event. Most pixels cross once or twice,
                // so the first two are written unconditionally (a slot past the pixel's count
                // is overwritten by the next pixel) and the rest, if any, in a loop.
                let te1 = time(1.0);
                let te2 = time(2.0);
                self.scratch[len] = (te1, key);
                self.scratch[len + 1] = (te2, key);
                if counting {
                    self.counts[(te1 - t0) as usize + 1] += 1;
                    self.counts[(te2 - t0) as usize + 1] += (count >= 2) as u32;
                }
                len += count.min(2) as usize;
                for j in 3..=count {
                    let te = time(j as f64);
                    self.scratch[len] = (te, key);
                    len += 1;
                    if counting {
                        self.counts[(te - t0) as usize + 1] += 1;
                    }
                }
            } else {
                for j in 1..=count {
                    let te = time(j as f64);
                    let last = self.last_event[i];
                    if last == NEVER || te >= last.saturating_add(refractory) {
                        self.last_event[i] = te;
                        self.scratch[len] = (te, key);
                        len += 1;
                        if counting {
                            self.counts[(te - t0) as usize + 1] += 1;
                        }
                    }
                }
            }
            self.log_ref[i] = r + sign * count as f64 * th;
        }
        self.scratch.truncate(len);
        // Every pixel's previous level is now its current one.
        core::mem::swap(&mut self.log_prev, &mut self.log_cur);
        if noise {
            let thr = threshold(self.params.shot_noise_rate_hz * dt_f / 1e6);
            let k = self.frames_seen.wrapping_mul(2);
            for (i, &key) in self.noise_keys.iter().enumerate() {
                if draw(key, k) >> 11 < thr {
                    let d2 = draw(key, k + 1);
                    let te = t0 + 1 + (d2 >> 1) % dt;
                    self.scratch.push((te, ((i as u64) << 1) | (d2 & 1)));
                    if counting {
                        self.counts[(te - t0) as usize + 1] += 1;
                    }
                }
            }
        }
        if counting {
            for b in 1..=buckets {
                self.counts[b] += self.counts[b - 1];
            }
            let slots = out.append_slots(self.scratch.len());
            for &(te, key) in &self.scratch {
                let slot = &mut self.counts[(te - t0) as usize];
                let [x, y] = self.xy[(key >> 1) as usize];
                slots[*slot as usize] = Event::new(te, x, y, (key & 1) as u8);
                *slot += 1;
            }
        } else {
            self.scratch.sort_by_key(|e| e.0);
            for &(te, key) in &self.scratch {
                let [x, y] = self.xy[(key >> 1) as usize];
                out.push_event(Event::new(te, x, y, (key & 1) as u8));
            }
        }
        self.t_prev = t;
        self.frames_seen += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
