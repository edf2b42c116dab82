//! Prophesee DAT bodies: 8-byte records `u32 t`, `u32 address` after the `%` header and the two
//! bytes (event type, event size). Version 2: `x` bits 0..13, `y` 14..27, `p` 28..31; version 1
//! (old ATIS files): `x` bits 0..8, `y` 9..16, `p` 17..20. The 32-bit time wraps every 71.6
//! minutes: a drop of more than 2^31 µs adds 2^32 (as faery does).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::decode::{le32, Decoder, Fault, Progress};
use crate::event::Event;

/// DAT decoder state.
#[derive(Debug, Clone)]
pub struct DatDecoder {
    version: u8,
    last_t32: Option<u32>,
    offset: u64,
}

impl DatDecoder {
    /// A decoder for header version 1 or 2.
    pub fn new(version: u8) -> Self {
        DatDecoder { version, last_t32: None, offset: 0 }
    }
}

impl Decoder for DatDecoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let n = input.len() / 8;
        out.reserve(n);
        for k in 0..n {
            let t32 = le32(input, 8 * k);
            let w = le32(input, 8 * k + 4);
            if let Some(last) = self.last_t32 {
                if t32 < last && last - t32 > 1 << 31 {
                    self.offset += 1 << 32;
                }
            }
            self.last_t32 = Some(t32);
            let (x, y, p) = if self.version == 1 {
                (w & 0x1FF, (w >> 9) & 0xFF, (w >> 17) & 0xF)
            } else {
                (w & 0x3FFF, (w >> 14) & 0x3FFF, w >> 28)
            };
            if p > 1 {
                return Err(Fault {
                    at: 8 * k + 4,
                    expected: "a CD polarity 0 or 1".into(),
                    found: format!("polarity {p}"),
                    resume: Some(8 * k + 8),
                });
            }
            out.push(Event::new(self.offset + t32 as u64, x as u16, y as u16, p as u8));
        }
        Ok(Progress::units(input.len(), 8))
    }

    fn unit(&self) -> String {
        "an 8-byte DAT record".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.125
    }
}

/// DAT version 2 encoder (event type 0x0C, EventCD).
pub fn encode_dat(events: &[Event], out: &mut Vec<u8>) -> Result<(), (usize, String)> {
    out.reserve(events.len() * 8);
    for (i, e) in events.iter().enumerate() {
        if e.x > 0x3FFF || e.y > 0x3FFF || e.p > 1 {
            return Err((i, "DAT stores x, y < 16384 and p in {0, 1}".into()));
        }
        out.extend_from_slice(&(e.t as u32).to_le_bytes());
        out.extend_from_slice(&((e.x as u32) | ((e.y as u32) << 14) | ((e.p as u32) << 28)).to_le_bytes());
    }
    Ok(())
}
