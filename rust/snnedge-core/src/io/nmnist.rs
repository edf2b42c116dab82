//! N-MNIST / N-Caltech101 `.bin` bodies (no header): 5-byte ATIS records, `x = b0`, `y = b1`,
//! `p = b2 >> 7`, `t = (b2 & 0x7F) << 16 | b3 << 8 | b4` (23 bits, µs). A record with `y == 240`
//! is an overflow marker, not an event: every later timestamp gets `+ 2^13` (the reference
//! reader of the datasets, followed by Tonic, uses 2^13; the 23-bit field would suggest 2^23).

use alloc::string::String;
use alloc::vec::Vec;

use super::decode::{Decoder, Fault, Progress};
use crate::event::Event;

/// Time added by each overflow marker (the reference readers' value).
pub const NMNIST_OVERFLOW_US: u64 = 1 << 13;

/// N-MNIST decoder state.
#[derive(Debug, Clone, Default)]
pub struct NmnistDecoder {
    offset: u64,
}

impl NmnistDecoder {
    /// A decoder at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Decoder for NmnistDecoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        out.reserve(input.len() / 5);
        for r in input.chunks_exact(5) {
            if r[1] == 240 {
                self.offset += NMNIST_OVERFLOW_US;
                continue;
            }
            let t = (((r[2] & 0x7F) as u64) << 16) | ((r[3] as u64) << 8) | r[4] as u64;
            out.push(Event::new(self.offset + t, r[0] as u16, r[1] as u16, r[2] >> 7));
        }
        Ok(Progress::units(input.len(), 5))
    }

    fn unit(&self) -> String {
        "a 5-byte N-MNIST record".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.2
    }
}

/// N-MNIST encoder: x < 256, y < 240 (240 marks an overflow), p in {0, 1}. Overflow markers
/// (`x = 0, y = 240`, each worth 2^13 µs to the readers) are written whenever the time no longer
/// fits the 23-bit field above the markers already written.
#[derive(Debug, Clone, Default)]
pub struct NmnistEncoder {
    offset: u64,
}

impl NmnistEncoder {
    /// An encoder at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the records of `events`.
    pub fn encode(&mut self, events: &[Event], out: &mut Vec<u8>) -> Result<(), (usize, String)> {
        for (i, e) in events.iter().enumerate() {
            if e.x > 255 || e.y >= 240 || e.p > 1 {
                return Err((i, "N-MNIST stores x < 256, y < 240 and p in {0, 1}".into()));
            }
            if e.t < self.offset {
                return Err((i, "N-MNIST time cannot go back past an overflow marker already written".into()));
            }
            // Each marker adds 2^13; keep t - offset inside the 23-bit field.
            while e.t - self.offset >= 1 << 23 {
                out.extend_from_slice(&[0, 240, 0, 0, 0]);
                self.offset += NMNIST_OVERFLOW_US;
            }
            let r = e.t - self.offset;
            out.extend_from_slice(&[
                e.x as u8,
                e.y as u8,
                ((e.p & 1) << 7) | ((r >> 16) as u8 & 0x7F),
                (r >> 8) as u8,
                r as u8,
            ]);
        }
        Ok(())
    }
}
