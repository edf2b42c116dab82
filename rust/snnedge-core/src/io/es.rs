//! Event Stream (`.es`, version 2) bodies, DVS and ATIS types: byte-oriented state machines with
//! relative timestamps (t starts at 0). The format stores `y` with the origin at the
//! bottom-left; events come out flipped, `y = height - 1 - y` (as faery does).
//!
//! DVS: `0xFF` adds 127 µs; `0xFE` is a reset (ignored); otherwise `t += b0 >> 1`, `p = b0 & 1`,
//! then `u16 x`, `u16 y`. ATIS: `(b0 & 0xFC) == 0xFC` adds `63 * (b0 & 3)`; otherwise
//! `t += b0 >> 2`, bit 0 = exposure measurement (skipped), bit 1 = polarity, then `u16 x, u16 y`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::decode::{le16, Decoder, Fault, Progress};
use super::header::EsType;
use crate::event::Event;

/// Event Stream decoder state.
#[derive(Debug, Clone)]
pub struct EsDecoder {
    kind: EsType,
    width: u16,
    height: u16,
    t: u64,
}

impl EsDecoder {
    /// A decoder for the header's type and sensor size.
    pub fn new(kind: EsType, width: u16, height: u16) -> Self {
        EsDecoder { kind, width, height, t: 0 }
    }

    fn check(&self, at: usize, x: u16, y: u16) -> Result<(), Fault> {
        if x >= self.width || y >= self.height {
            return Err(Fault {
                at,
                expected: format!("x < {} and y < {} (the header's sensor size)", self.width, self.height),
                found: format!("x = {x}, y = {y}"),
                resume: Some(at + 5),
            });
        }
        Ok(())
    }
}

impl Decoder for EsDecoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let mut i = 0;
        let len = input.len();
        out.reserve(len / 5);
        match self.kind {
            EsType::Dvs => {
                while i < len {
                    let b0 = input[i];
                    if b0 == 0xFF {
                        self.t += 127;
                        i += 1;
                    } else if b0 == 0xFE {
                        i += 1;
                    } else {
                        if i + 5 > len {
                            break;
                        }
                        let (x, y) = (le16(input, i + 1), le16(input, i + 3));
                        self.t += (b0 >> 1) as u64;
                        self.check(i, x, y)?;
                        out.push(Event::new(self.t, x, self.height - 1 - y, b0 & 1));
                        i += 5;
                    }
                }
            }
            EsType::Atis => {
                while i < len {
                    let b0 = input[i];
                    if b0 & 0xFC == 0xFC {
                        self.t += 63 * (b0 & 3) as u64;
                        i += 1;
                    } else {
                        if i + 5 > len {
                            break;
                        }
                        let (x, y) = (le16(input, i + 1), le16(input, i + 3));
                        self.t += (b0 >> 2) as u64;
                        self.check(i, x, y)?;
                        if b0 & 1 == 0 {
                            out.push(Event::new(self.t, x, self.height - 1 - y, (b0 >> 1) & 1));
                        }
                        i += 5;
                    }
                }
            }
        }
        Ok(Progress { consumed: i, need: 5 })
    }

    fn unit(&self) -> String {
        "a 5-byte Event Stream event".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.2
    }
}

/// Longest silence the encoder writes (2^30 µs, about 18 minutes: 8.5 MB of `0xFF` bytes).
pub const MAX_ES_GAP_US: u64 = 1 << 30;

/// Event Stream DVS encoder (relative times, bottom-left origin in the file).
#[derive(Debug, Clone, Default)]
pub struct EsEncoder {
    t: Option<u64>,
}

impl EsEncoder {
    /// An encoder at the start of a body (the first event's time is counted from 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the bytes of `events` (sorted by t; inside `width` x `height`).
    pub fn encode(
        &mut self,
        events: &[Event],
        width: u16,
        height: u16,
        out: &mut Vec<u8>,
    ) -> Result<(), (usize, String)> {
        out.reserve(events.len() * 5 + 16);
        for (i, e) in events.iter().enumerate() {
            let last = self.t.unwrap_or(0);
            if e.t < last {
                return Err((i, format!("Event Stream needs sorted times (t = {} after {last})", e.t)));
            }
            if e.x >= width || e.y >= height || e.p > 1 {
                return Err((
                    i,
                    format!("Event Stream stores x < {width}, y < {height} (the sensor size) and p in {{0, 1}}"),
                ));
            }
            let mut dt = e.t - last;
            if dt > MAX_ES_GAP_US {
                return Err((
                    i,
                    format!(
                        "a gap of {dt} us (Event Stream spends one byte per 127 us of silence; gaps up to \
                         {MAX_ES_GAP_US} us are written): shift the times, e.g. t -= t[0]"
                    ),
                ));
            }
            // 0xFF adds 127 us (the format's only way to say that time passes).
            while dt >= 127 {
                out.push(0xFF);
                dt -= 127;
            }
            out.push(((dt as u8) << 1) | e.p);
            out.extend_from_slice(&e.x.to_le_bytes());
            out.extend_from_slice(&(height - 1 - e.y).to_le_bytes());
            self.t = Some(e.t);
        }
        Ok(())
    }
}

/// The 20-byte header of a DVS Event Stream file.
pub fn es_header(width: u16, height: u16) -> Vec<u8> {
    let mut h = b"Event Stream".to_vec();
    h.extend_from_slice(&[2, 0, 0, 1]);
    h.extend_from_slice(&width.to_le_bytes());
    h.extend_from_slice(&height.to_le_bytes());
    h
}
