//! Prophesee EVT 2.0, 2.1 and 3.0 bodies (the words after the `%` header of a `.raw` file),
//! with OpenEB's semantics (`hal/cpp/include/metavision/hal/decoders/evt*/`), no time shift:
//! `t` is the sensor's counter, unwrapped to 64 bits.
//!
//! CD events become [`Event`]s; external triggers, ERC counters, IMU and other monitoring words
//! are read (they move the clock where OpenEB lets them) and not returned.

use alloc::string::String;
use alloc::vec::Vec;

use super::decode::{le16, le32, le64, Decoder, Fault, Progress};
use crate::event::Event;

// ---- EVT 2.0 ----------------------------------------------------------------------------

/// EVT 2.0 word types (`w >> 28`).
pub mod evt2_types {
    /// CD event, polarity OFF.
    pub const CD_OFF: u32 = 0x0;
    /// CD event, polarity ON.
    pub const CD_ON: u32 = 0x1;
    /// Upper 28 bits of the 34-bit time (bits 6..33).
    pub const TIME_HIGH: u32 = 0x8;
    /// External trigger.
    pub const EXT_TRIGGER: u32 = 0xA;
}

/// `(2^28 - 1) << 6`: the largest time base an EVT 2.0 TIME_HIGH can give.
const EVT2_MAX_TIME_HIGH: u64 = ((1 << 28) - 1) << 6;
/// OpenEB counts a loop when TIME_HIGH goes back by at least `MAX - 10000` µs.
const EVT2_LOOP_THRESHOLD: u64 = 10_000;
/// One loop of the 34-bit counter.
const EVT2_TIME_LOOP: u64 = 1 << 34;
/// Words per block of [`Evt2Decoder::decode`] (at most one event each; a power of two, so
/// `k % EVT2_BLOCK_WORDS` is `k` and needs no bounds check).
const EVT2_BLOCK_WORDS: usize = 256;

/// EVT 2.0 decoder state.
#[derive(Debug, Clone, Default)]
pub struct Evt2Decoder {
    /// Time base of the last TIME_HIGH, loops included (`None` before the first: OpenEB drops
    /// the events before it).
    base: Option<u64>,
    /// Loops counted so far, times 2^34.
    loop_offset: u64,
}

impl Evt2Decoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline(always)]
    fn time_high(&mut self, w: u32) {
        let th = ((w & 0x0FFF_FFFF) as u64) << 6;
        let mut new = th + self.loop_offset;
        if let Some(base) = self.base {
            // Loop rule of OpenEB's EVT2Decoder::has_time_loop.
            if new < base && base - new >= EVT2_MAX_TIME_HIGH - EVT2_LOOP_THRESHOLD {
                self.loop_offset += EVT2_TIME_LOOP;
                new += EVT2_TIME_LOOP;
            }
        }
        self.base = Some(new);
    }
}

impl Decoder for Evt2Decoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let n = input.len() / 4;
        let words = &input[..n * 4];
        let mut i = 0;
        // Until the first TIME_HIGH there is no time base: skip.
        if self.base.is_none() {
            while i < words.len() {
                let w = le32(words, i);
                i += 4;
                if w >> 28 == evt2_types::TIME_HIGH {
                    self.time_high(w);
                    break;
                }
            }
        }
        out.reserve(n);
        let mut base = self.base.unwrap_or(0);
        // Why blocks through a scratch array: every word's CD event is written unconditionally
        // and kept by advancing `k` when the word is one (no branch of its own, and the
        // output `Vec`'s length and capacity are not reloaded and stored per event as `push`
        // does); a block's events are then appended with one copy from L1. Measured on the
        // shared EVT 2.0 sample (539,481 events): 1.27 ms -> 1.10 ms.
        let mut buf = [Event::default(); EVT2_BLOCK_WORDS];
        for block in words[i..].chunks(4 * EVT2_BLOCK_WORDS) {
            let mut k = 0usize;
            for c in block.as_chunks::<4>().0 {
                let w = u32::from_le_bytes(*c);
                let ty = w >> 28;
                // y bits 0..10, x bits 11..21, t bits 22..27 (6 low bits of the time).
                buf[k % EVT2_BLOCK_WORDS] = Event::new(
                    base + ((w >> 22) & 0x3F) as u64,
                    ((w >> 11) & 0x7FF) as u16,
                    (w & 0x7FF) as u16,
                    (ty & 1) as u8,
                );
                k += (ty <= evt2_types::CD_ON) as usize;
                if ty == evt2_types::TIME_HIGH {
                    self.time_high(w);
                    base = self.base.unwrap_or(0);
                }
            }
            out.extend_from_slice(&buf[..k]);
        }
        Ok(Progress::units(input.len(), 4))
    }

    fn unit(&self) -> String {
        "a 4-byte EVT 2.0 word".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.25
    }
}

// ---- EVT 2.1 ----------------------------------------------------------------------------

/// EVT 2.1 decoder state (64-bit words; a CD word carries a 32-pixel validity mask).
#[derive(Debug, Clone, Default)]
pub struct Evt21Decoder {
    /// The 32-bit halves are swapped (`endianness=legacy`).
    legacy: bool,
    /// Last timestamp, loops included (OpenEB's `last_timestamp_`).
    last: u64,
    base_set: bool,
}

const EVT21_TIME_HIGH_MASK: u64 = ((1 << 28) - 1) << 6;

impl Evt21Decoder {
    /// A decoder at the start of a body; `legacy` for `endianness=legacy` files.
    pub fn new(legacy: bool) -> Self {
        Evt21Decoder { legacy, ..Default::default() }
    }

    fn set_time_high(&mut self, t: u64) {
        let last_high = self.last & EVT21_TIME_HIGH_MASK;
        let mut n_loop = self.last >> 34;
        if t < last_high && last_high - t >= EVT21_TIME_HIGH_MASK {
            n_loop += 1;
        }
        if t != last_high {
            self.last = (t & EVT21_TIME_HIGH_MASK) | (n_loop << 34);
        }
    }
}

impl Decoder for Evt21Decoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let n = input.len() / 8;
        for k in 0..n {
            let mut w = le64(input, 8 * k);
            if self.legacy {
                w = w.rotate_left(32);
            }
            let ty = (w >> 60) as u32;
            if !self.base_set {
                if ty == 0x8 {
                    self.set_time_high(((w >> 32) & 0x0FFF_FFFF) << 6);
                    self.base_set = true;
                }
                continue;
            }
            match ty {
                0x0 | 0x1 => {
                    let y = ((w >> 32) & 0x7FF) as u16;
                    let x = ((w >> 43) & 0x7FF) as u16;
                    self.last = (self.last & !63) + ((w >> 54) & 0x3F);
                    let mut valid = w as u32;
                    while valid != 0 {
                        let off = valid.trailing_zeros() as u16;
                        valid &= valid - 1;
                        out.push(Event::new(self.last, x.wrapping_add(off), y, ty as u8));
                    }
                }
                0x8 => self.set_time_high(((w >> 32) & 0x0FFF_FFFF) << 6),
                0xA => self.last = (self.last & !63) + ((w >> 54) & 0x3F),
                0xE => {
                    let subtype = (w >> 32) & 0xFFFF;
                    if subtype == 0x14 || subtype == 0x16 {
                        self.last = (self.last & !63) + ((w >> 54) & 0x3F);
                    }
                }
                _ => {}
            }
        }
        Ok(Progress::units(input.len(), 8))
    }

    fn unit(&self) -> String {
        "an 8-byte EVT 2.1 word".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        1.0
    }
}

// ---- EVT 3.0 ----------------------------------------------------------------------------

/// EVT 3.0 word types (`w >> 12`).
pub mod evt3_types {
    /// Row address (and master/slave bit 11).
    pub const ADDR_Y: u16 = 0x0;
    /// Row address of an EM (exposure measurement) event: not a CD row.
    pub const ADDR_Y_EM: u16 = 0x1;
    /// Column + polarity: one CD event.
    pub const ADDR_X: u16 = 0x2;
    /// Vector base column + polarity.
    pub const VECT_BASE_X: u16 = 0x3;
    /// 12-pixel validity mask from the vector base.
    pub const VECT_12: u16 = 0x4;
    /// 8-pixel validity mask from the vector base.
    pub const VECT_8: u16 = 0x5;
    /// Bits 0..11 of the time.
    pub const TIME_LOW: u16 = 0x6;
    /// Bits 12..23 of the time.
    pub const TIME_HIGH: u16 = 0x8;
    /// External trigger.
    pub const EXT_TRIGGER: u16 = 0xA;
    /// Monitoring / other.
    pub const OTHERS: u16 = 0xE;
}

/// EVT 3.0 decoder state (OpenEB `EVT3Decoder` semantics).
#[derive(Debug, Clone)]
pub struct Evt3Decoder {
    /// Rows at or past this are not CD rows (OpenEB's `is_valid`); `u16::MAX` when unknown.
    height: u16,
    y: u16,
    is_cd: bool,
    valid: bool,
    base_x: u16,
    vect_p: u8,
    low: u64,
    high: u64,
    loops: u64,
    /// `loops << 24 | high << 12 | low`, kept up to date.
    t: u64,
    base_set: bool,
}

impl Evt3Decoder {
    /// A decoder at the start of a body; `height` from the header drops rows outside the sensor.
    pub fn new(height: Option<u16>) -> Self {
        Evt3Decoder {
            height: height.unwrap_or(u16::MAX),
            y: 0,
            is_cd: false,
            valid: false,
            base_x: 0,
            vect_p: 0,
            low: 0,
            high: 0,
            loops: 0,
            t: 0,
            base_set: false,
        }
    }

    #[inline(always)]
    fn update_t(&mut self) {
        self.t = (self.loops << 24) | (self.high << 12) | self.low;
    }

    #[inline(always)]
    fn time_high(&mut self, w: u16) {
        let new = (w & 0xFFF) as u64;
        // A backwards jump of at least half the range is a wrap (OpenEB: prev >= 2048 + new).
        if self.high >= 2048 + new {
            self.loops += 1;
        }
        if self.high != new {
            self.low = 0;
        }
        self.high = new;
        self.update_t();
    }

    /// An ADDR_Y word `w`, and the word `next` at index `j` if it is an ADDR_X (then consumed);
    /// returns the index of the next word to decode.
    #[inline(always)]
    fn row_then_column(&mut self, w: u16, j: usize, next: u16, out: &mut Vec<Event>) -> usize {
        self.y = w & 0x7FF;
        self.is_cd = true;
        self.valid = self.y < self.height;
        if next >> 12 != evt3_types::ADDR_X {
            return j;
        }
        if self.valid {
            out.push(Event::new(self.t, next & 0x7FF, self.y, ((next >> 11) & 1) as u8));
        }
        j + 1
    }

    #[inline(always)]
    fn vector(&mut self, mask: u32, bits: u16, out: &mut Vec<Event>) {
        if self.valid {
            let mut m = mask;
            while m != 0 {
                let off = m.trailing_zeros() as u16;
                m &= m - 1;
                out.push(Event::new(self.t, self.base_x.wrapping_add(off), self.y, self.vect_p));
            }
            self.base_x = self.base_x.wrapping_add(bits);
        }
    }
}

impl Decoder for Evt3Decoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let n = input.len() / 2;
        let words = &input[..n * 2];
        let mut i = 0;
        if !self.base_set {
            // OpenEB starts decoding at the first TIME_HIGH; everything before it is dropped.
            while i < words.len() && le16(words, i) >> 12 != evt3_types::TIME_HIGH {
                i += 2;
            }
            if i == words.len() {
                return Ok(Progress::units(input.len(), 2));
            }
            self.base_set = true;
            self.high = (le16(words, i) & 0xFFF) as u64;
            self.update_t();
        }
        out.reserve(n);
        let ws = words[i..].as_chunks::<2>().0;
        let word = |j: usize| ws.get(j).map_or(u16::MAX, |c| u16::from_le_bytes(*c));
        let mut j = 0;
        while j < ws.len() {
            let w = u16::from_le_bytes(ws[j]);
            j += 1;
            match w >> 12 {
                evt3_types::ADDR_X if self.valid => {
                    out.push(Event::new(self.t, w & 0x7FF, self.y, ((w >> 11) & 1) as u8));
                }
                evt3_types::VECT_12 => self.vector((w & 0xFFF) as u32, 12, out),
                evt3_types::VECT_8 => self.vector((w & 0xFF) as u32, 8, out),
                evt3_types::TIME_LOW => {
                    self.low = (w & 0xFFF) as u64;
                    self.t = (self.t & !0xFFF) | self.low;
                    // Why the look-ahead here and in ADDR_Y: a new time is usually followed by
                    // a row, and a row by a column, and taking them in the same arm saves a
                    // dispatch on the word type (an indirect jump that mispredicts whenever
                    // the pattern changes) per event: 20% faster on a file of TIME_LOW,
                    // ADDR_Y, ADDR_X triples, no change on other files.
                    if word(j) >> 12 == evt3_types::ADDR_Y {
                        j = self.row_then_column(word(j), j + 1, word(j + 1), out);
                    }
                }
                evt3_types::TIME_HIGH => self.time_high(w),
                evt3_types::ADDR_Y => j = self.row_then_column(w, j, word(j), out),
                evt3_types::ADDR_Y_EM => {
                    self.is_cd = false;
                    self.valid = false;
                }
                evt3_types::VECT_BASE_X => {
                    self.base_x = w & 0x7FF;
                    self.vect_p = ((w >> 11) & 1) as u8;
                    self.valid = self.is_cd && self.y < self.height;
                }
                // ADDR_X on a row that is not a CD row, EXT_TRIGGER, OTHERS and their CONTINUED
                // words, IMU: no CD event.
                _ => {}
            }
        }
        Ok(Progress::units(input.len(), 2))
    }

    fn unit(&self) -> String {
        "a 2-byte EVT 3.0 word".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        1.0
    }
}

// ---- Encoders ---------------------------------------------------------------------------

/// Why an event cannot be encoded (the writer turns it into an error with the event index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeIssue {
    /// The event's time is earlier than the previous one.
    Unsorted {
        /// The previous event's time.
        previous: u64,
    },
    /// A field does not fit the format.
    OutOfRange(String),
}

/// EVT 2.0 encoder: one CD word per event, TIME_HIGH words when bits 6.. of t change, and the
/// extra TIME_HIGH words that let a reader see every loop of the 34-bit counter.
#[derive(Debug, Clone, Default)]
pub struct Evt2Encoder {
    /// Absolute `t >> 6` of the last TIME_HIGH written (`None` before the first).
    th: Option<u64>,
    last_t: u64,
}

impl Evt2Encoder {
    /// An encoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    fn push_th(out: &mut Vec<u8>, th28: u64) {
        out.extend_from_slice(&((0x8u32 << 28) | (th28 as u32 & 0x0FFF_FFFF)).to_le_bytes());
    }

    /// Appends the words of `events` to `out`.
    pub fn encode(&mut self, events: &[Event], out: &mut Vec<u8>) -> Result<(), (usize, EncodeIssue)> {
        out.reserve(events.len() * 4 + 8);
        for (i, e) in events.iter().enumerate() {
            if e.t < self.last_t {
                return Err((i, EncodeIssue::Unsorted { previous: self.last_t }));
            }
            if e.x > 0x7FF || e.y > 0x7FF || e.p > 1 {
                return Err((i, EncodeIssue::OutOfRange("EVT 2.0 stores x, y < 2048 and p in {0, 1}".into())));
            }
            self.last_t = e.t;
            let target = e.t >> 6;
            if self.th != Some(target) {
                let mut cur = match self.th {
                    Some(c) => c,
                    None => {
                        // The reader starts at loop 0: begin there when the first event is later.
                        let first = if target >> 28 > 0 { 0 } else { target };
                        Self::push_th(out, first);
                        first
                    }
                };
                // Cross each loop of the 28-bit TIME_HIGH visibly: max, then 0.
                while cur >> 28 < target >> 28 {
                    if cur & 0x0FFF_FFFF != 0x0FFF_FFFF {
                        Self::push_th(out, 0x0FFF_FFFF);
                    }
                    cur = ((cur >> 28) + 1) << 28;
                    Self::push_th(out, 0);
                }
                if cur != target {
                    Self::push_th(out, target);
                }
                self.th = Some(target);
            }
            let w = ((e.p as u32) << 28) | (((e.t & 0x3F) as u32) << 22) | ((e.x as u32) << 11) | e.y as u32;
            out.extend_from_slice(&w.to_le_bytes());
        }
        Ok(())
    }
}

/// EVT 3.0 encoder: TIME_HIGH/TIME_LOW when the time changes, ADDR_Y when the row changes,
/// one ADDR_X per event; extra TIME_HIGH words make every loop of the 24-bit counter visible.
#[derive(Debug, Clone, Default)]
pub struct Evt3Encoder {
    /// Absolute `t >> 12` of the last TIME_HIGH written.
    high: Option<u64>,
    low: u64,
    y: Option<u16>,
    last_t: u64,
}

impl Evt3Encoder {
    /// An encoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    fn word(out: &mut Vec<u8>, ty: u16, payload: u16) {
        out.extend_from_slice(&((ty << 12) | (payload & 0xFFF)).to_le_bytes());
    }

    /// Appends the words of `events` to `out`; `height` bounds y (the reader drops rows past it).
    pub fn encode(&mut self, events: &[Event], height: u16, out: &mut Vec<u8>) -> Result<(), (usize, EncodeIssue)> {
        out.reserve(events.len() * 4 + 8);
        for (i, e) in events.iter().enumerate() {
            if e.t < self.last_t {
                return Err((i, EncodeIssue::Unsorted { previous: self.last_t }));
            }
            if e.x > 0x7FF || e.y > 0x7FF || e.y >= height || e.p > 1 {
                return Err((
                    i,
                    EncodeIssue::OutOfRange("EVT 3.0 stores x < 2048, y < min(2048, height) and p in {0, 1}".into()),
                ));
            }
            self.last_t = e.t;
            let target = e.t >> 12;
            if self.high != Some(target) {
                let mut cur = match self.high {
                    Some(c) => c,
                    None => {
                        let first = if target >> 12 > 0 { 0 } else { target };
                        Self::word(out, evt3_types::TIME_HIGH, first as u16);
                        first
                    }
                };
                // The reader counts a loop when TIME_HIGH falls by >= 2048: go to 4095 if needed,
                // then to 0, once per loop crossed.
                while cur >> 12 < target >> 12 {
                    if cur & 0xFFF < 2048 {
                        Self::word(out, evt3_types::TIME_HIGH, 0xFFF);
                    }
                    cur = ((cur >> 12) + 1) << 12;
                    Self::word(out, evt3_types::TIME_HIGH, 0);
                }
                if cur != target {
                    Self::word(out, evt3_types::TIME_HIGH, (target & 0xFFF) as u16);
                    cur = target;
                }
                let _ = cur;
                // A TIME_HIGH that changes the high bits resets time low to 0 in the reader.
                self.low = 0;
                self.high = Some(target);
                Self::word(out, evt3_types::TIME_LOW, (e.t & 0xFFF) as u16);
                self.low = e.t & 0xFFF;
            } else if self.low != e.t & 0xFFF {
                Self::word(out, evt3_types::TIME_LOW, (e.t & 0xFFF) as u16);
                self.low = e.t & 0xFFF;
            }
            if self.y != Some(e.y) {
                Self::word(out, evt3_types::ADDR_Y, e.y);
                self.y = Some(e.y);
            }
            Self::word(out, evt3_types::ADDR_X, e.x | ((e.p as u16) << 11));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn decode_all<D: Decoder>(d: &mut D, bytes: &[u8], step: usize) -> Vec<Event> {
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for chunk in bytes.chunks(step.max(1)) {
            pending.extend_from_slice(chunk);
            let p = d.decode(&pending, &mut out).unwrap();
            pending.drain(..p.consumed);
        }
        assert!(pending.is_empty());
        out
    }

    fn w16(ws: &[u16]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn evt3_every_word_type_and_openeb_time_rules() {
        let words = [
            0x2005, // ADDR_X before any TIME_HIGH: dropped
            0x8001, // TIME_HIGH 1 -> t = 4096
            0x6010, // TIME_LOW 16 -> t = 4112
            0x0003, // ADDR_Y 3
            0x2805, // ADDR_X 5, p 1
            0x3810, // VECT_BASE_X 16, p 1
            0x4005, // VECT_12 bits 0, 2 -> x 16, 18; base 28
            0x5081, // VECT_8 bits 0, 7 -> x 28, 35; base 36
            0xA001, // EXT_TRIGGER: nothing
            0xE014, 0x7000, 0xF000, // OTHERS + continued: nothing
            0x1004, // ADDR_Y EM: not CD
            0x2001, // ADDR_X: dropped (EM row)
            0x0004, // ADDR_Y 4, CD again
            0x8FFF, // TIME_HIGH 4095 -> low reset, t = 4095 << 12
            0x2002, // event at t = 0xFFF000
            0x8000, // TIME_HIGH 0: 4095 >= 2048 + 0 -> loop 1
            0x2003, // t = 1 << 24
            0x0300, // ADDR_Y 768 >= height 720: row invalid
            0x2004, // dropped
        ];
        let mut d = Evt3Decoder::new(Some(720));
        let ev = decode_all(&mut d, &w16(&words), 3);
        let got: Vec<(u64, u16, u16, u8)> = ev.iter().map(|e| (e.t, e.x, e.y, e.p)).collect();
        assert_eq!(
            got,
            vec![
                (4112, 5, 3, 1),
                (4112, 16, 3, 1),
                (4112, 18, 3, 1),
                (4112, 28, 3, 1),
                (4112, 35, 3, 1),
                (0xFFF000, 2, 4, 0),
                (1 << 24, 3, 4, 0),
            ]
        );
    }

    #[test]
    fn evt3_small_backward_time_high_is_not_a_loop() {
        let words = [0x8800, 0x0001, 0x2001, 0x8100, 0x2002];
        let mut d = Evt3Decoder::new(None);
        let ev = decode_all(&mut d, &w16(&words), 64);
        assert_eq!(ev[1].t, 0x100 << 12); // 0x800 - 0x100 < 2048: no loop
    }

    #[test]
    fn evt2_loop_and_events_before_time_high() {
        let cd = |p: u32, t6: u32, x: u32, y: u32| (p << 28) | (t6 << 22) | (x << 11) | y;
        let th = |v: u32| (0x8 << 28) | v;
        let words = [cd(1, 1, 1, 1), th(0x0FFF_FFFF), cd(1, 5, 10, 20), th(0), cd(0, 3, 7, 8)];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut d = Evt2Decoder::new();
        let ev = decode_all(&mut d, &bytes, 5);
        assert_eq!(ev.len(), 2);
        assert_eq!((ev[0].t, ev[0].x, ev[0].y, ev[0].p), ((0x0FFF_FFFFu64 << 6) + 5, 10, 20, 1));
        assert_eq!((ev[1].t, ev[1].x, ev[1].y, ev[1].p), ((1u64 << 34) + 3, 7, 8, 0));
    }

    #[test]
    fn evt21_vector_and_legacy() {
        let th = (0x8u64 << 60) | (2u64 << 32); // time high 2 -> 128
        let cd = (1u64 << 60) | (5u64 << 54) | (64u64 << 43) | (9u64 << 32) | 0b1001;
        for legacy in [false, true] {
            let mut bytes = Vec::new();
            for w in [th, cd] {
                let w = if legacy { w.rotate_left(32) } else { w };
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            let mut d = Evt21Decoder::new(legacy);
            let ev = decode_all(&mut d, &bytes, 3);
            let got: Vec<(u64, u16, u16, u8)> = ev.iter().map(|e| (e.t, e.x, e.y, e.p)).collect();
            assert_eq!(got, vec![(133, 64, 9, 1), (133, 67, 9, 1)]);
        }
    }

    fn round_trip(events: &[Event]) {
        let mut b2 = Vec::new();
        Evt2Encoder::new().encode(events, &mut b2).unwrap();
        assert_eq!(decode_all(&mut Evt2Decoder::new(), &b2, 4096), events);
        let mut b3 = Vec::new();
        Evt3Encoder::new().encode(events, 720, &mut b3).unwrap();
        assert_eq!(decode_all(&mut Evt3Decoder::new(Some(720)), &b3, 4096), events);
    }

    #[test]
    fn encoders_round_trip_across_wraps_and_gaps() {
        let ev = vec![
            Event::new(5, 1, 2, 1),
            Event::new(5, 3, 2, 0),
            Event::new(4097, 3, 700, 0),
            Event::new((1 << 24) - 1, 0, 0, 1),
            Event::new(1 << 24, 0, 0, 1),
            Event::new(3 << 24, 2047, 1, 1), // gap of two EVT3 loops
            Event::new((1 << 34) - 1, 9, 9, 0),
            Event::new((1 << 34) + 64, 9, 9, 1),
            Event::new(5 << 34, 9, 9, 1), // gap of several EVT2 loops
        ];
        round_trip(&ev);
        round_trip(&[Event::new(7 << 34, 1, 1, 1)]); // first event far from 0
    }
}
