//! AEDAT 2.0 (jAER) and AEDAT 3.1 (cAER) bodies.
//!
//! AEDAT 2.0: 8-byte big-endian records `u32 address`, `u32 t` (µs, wraps every 71.6 min with
//! no marker: a drop of more than 2^31 µs adds 2^32). DVS128 addresses: `x` bits 8..14, `y`
//! 1..7, `p` bit 0 (read as Tonic reads them). DAVIS addresses: DVS event iff bits 31 and 10
//! are 0; `y` bits 22..30, `x` 12..21, `p` bit 11, jAER's bottom-left origin flipped to
//! top-left on both axes as Tonic does (`x = W-1-x`, `y = H-1-y`).
//!
//! AEDAT 3.1: packets of a 28-byte header (`i16 type, i16 source, i32 event size, i32 ts
//! offset, i32 ts overflow, i32 capacity, i32 number, i32 valid`) then `capacity * size` bytes.
//! Polarity packets (type 1, 8-byte events: `u32 data, i32 t`): `valid = data & 1`,
//! `p = data >> 1 & 1`, `y = data >> 2 & 0x7FFF`, `x = data >> 17 & 0x7FFF`,
//! `t = overflow << 31 | t`. Other packet types are skipped.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::decode::{be32, le16, le32, Decoder, Fault, Progress};
use super::header::Aedat2Layout;
use crate::event::Event;

/// AEDAT 2.0 decoder state.
#[derive(Debug, Clone)]
pub struct Aedat2Decoder {
    layout: Aedat2Layout,
    last_t32: Option<u32>,
    offset: u64,
}

impl Aedat2Decoder {
    /// A decoder for an address layout.
    pub fn new(layout: Aedat2Layout) -> Self {
        Aedat2Decoder { layout, last_t32: None, offset: 0 }
    }
}

impl Decoder for Aedat2Decoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let n = input.len() / 8;
        out.reserve(n);
        for k in 0..n {
            let a = be32(input, 8 * k);
            let t32 = be32(input, 8 * k + 4);
            if let Some(last) = self.last_t32 {
                if t32 < last && last - t32 > 1 << 31 {
                    self.offset += 1 << 32;
                }
            }
            self.last_t32 = Some(t32);
            let t = self.offset + t32 as u64;
            match self.layout {
                Aedat2Layout::Dvs128 => {
                    out.push(Event::new(t, ((a >> 8) & 0x7F) as u16, ((a >> 1) & 0x7F) as u16, (a & 1) as u8));
                }
                Aedat2Layout::Davis { width, height } => {
                    if a >> 31 != 0 || (a >> 10) & 1 != 0 {
                        continue; // APS sample or IMU / special event
                    }
                    let y = ((a >> 22) & 0x1FF) as u16;
                    let x = ((a >> 12) & 0x3FF) as u16;
                    if x >= width || y >= height {
                        return Err(Fault {
                            at: 8 * k,
                            expected: format!("a DVS address inside {width}x{height}"),
                            found: format!("x = {x}, y = {y}"),
                            resume: Some(8 * k + 8),
                        });
                    }
                    out.push(Event::new(t, width - 1 - x, height - 1 - y, ((a >> 11) & 1) as u8));
                }
            }
        }
        Ok(Progress::units(input.len(), 8))
    }

    fn unit(&self) -> String {
        "an 8-byte AEDAT 2.0 record".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.125
    }
}

/// Largest AEDAT 3.1 packet accepted (bytes of events).
pub const MAX_AEDAT3_PACKET: usize = 256 << 20;
const AEDAT3_HEADER: usize = 28;

/// AEDAT 3.1 decoder (stateless between packets).
#[derive(Debug, Clone, Default)]
pub struct Aedat31Decoder {}

impl Aedat31Decoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Decoder for Aedat31Decoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let mut pos = 0;
        loop {
            if input.len() - pos < AEDAT3_HEADER {
                return Ok(Progress { consumed: pos, need: AEDAT3_HEADER });
            }
            let h = &input[pos..pos + AEDAT3_HEADER];
            let ty = le16(h, 0) as i16;
            let size = le32(h, 4) as i32;
            let ts_offset = le32(h, 8) as i32;
            let overflow = le32(h, 12) as i32;
            let capacity = le32(h, 16) as i32;
            let number = le32(h, 20) as i32;
            let bad = |expected: String, found: String| Fault { at: pos, expected, found, resume: None };
            if size <= 0 || capacity < 0 || number < 0 || number > capacity || ts_offset < 0 || ts_offset + 4 > size {
                return Err(bad(
                    "a packet header with event size > 0, 0 <= number <= capacity, timestamp inside the event".into(),
                    format!("size {size}, capacity {capacity}, number {number}, ts offset {ts_offset}"),
                ));
            }
            let body = (size as usize).checked_mul(capacity as usize).filter(|&b| b <= MAX_AEDAT3_PACKET);
            let Some(body) = body else {
                return Err(bad(
                    format!("a packet of at most {MAX_AEDAT3_PACKET} bytes"),
                    format!("{capacity} events of {size} bytes"),
                ));
            };
            let total = AEDAT3_HEADER + body;
            if input.len() - pos < total {
                return Ok(Progress { consumed: pos, need: total });
            }
            if ty == 1 {
                if size != 8 {
                    return Err(Fault {
                        at: pos + 4,
                        expected: "polarity events of 8 bytes".into(),
                        found: format!("{size}"),
                        resume: Some(pos + total),
                    });
                }
                let ev = &input[pos + AEDAT3_HEADER..pos + AEDAT3_HEADER + 8 * number as usize];
                let high = (overflow as u32 as u64) << 31;
                for r in ev.chunks_exact(8) {
                    let d = le32(r, 0);
                    if d & 1 == 0 {
                        continue;
                    }
                    let t = high | (le32(r, 4) & 0x7FFF_FFFF) as u64;
                    out.push(Event::new(
                        t,
                        ((d >> 17) & 0x7FFF) as u16,
                        ((d >> 2) & 0x7FFF) as u16,
                        ((d >> 1) & 1) as u8,
                    ));
                }
            }
            pos += total;
        }
    }

    fn unit(&self) -> String {
        "an AEDAT 3.1 packet".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.125
    }
}
