//! The interface every body decoder implements: bytes in, [`Event`]s out, state carried
//! between calls so a file can be fed in blocks of any size (constant memory).

use alloc::string::String;
use alloc::vec::Vec;

use crate::event::Event;

/// What one call to [`Decoder::decode`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input fully decoded; the rest (an incomplete word, record or packet) must
    /// be given again, followed by more bytes, on the next call.
    pub consumed: usize,
    /// When the remainder is incomplete: how many bytes, counted from the remainder's start,
    /// the next unit needs (`0` when unknown or small). Packet formats use it to ask for a
    /// buffer large enough for one packet; the reader checks it against the file size first.
    pub need: usize,
}

impl Progress {
    /// All complete units of a fixed-size-unit stream were consumed.
    pub fn units(len: usize, unit: usize) -> Self {
        Progress { consumed: len - len % unit, need: unit }
    }
}

/// A place where the input does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Offset of the problem, relative to the start of the input of this call.
    pub at: usize,
    /// What the decoder expected there.
    pub expected: String,
    /// What it found.
    pub found: String,
    /// Where decoding can resume (relative to the input start, `> at`) when the caller chose to
    /// skip bad data; `None` when the format gives no way to find the next good unit.
    pub resume: Option<usize>,
}

/// A stateful decoder of one format's body (the bytes after the header).
pub trait Decoder {
    /// Decodes the complete units at the start of `input`, appending events to `out`.
    ///
    /// Events decoded before a fault are already in `out` when `Err` is returned; the decoder's
    /// state is then as it was after the last good unit, so decoding can go on at
    /// `fault.resume`.
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault>;

    /// What an incomplete remainder at the end of the file was going to be (for the error of a
    /// truncated file), for example `"a 4-byte EVT 2.0 word"`.
    fn unit(&self) -> String;

    /// An upper bound of the events one input byte can produce, on average over a block (used
    /// to size output buffers; a wrong guess only costs a reallocation).
    fn events_per_byte_hint(&self) -> f32;
}

/// Reads a little-endian u16 at `i` (the caller checked the bounds).
#[inline(always)]
pub(crate) fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// Reads a little-endian u32 at `i` (the caller checked the bounds).
#[inline(always)]
pub(crate) fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Reads a big-endian u32 at `i` (the caller checked the bounds).
#[inline(always)]
pub(crate) fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Reads a little-endian u64 at `i` (the caller checked the bounds).
#[inline(always)]
pub(crate) fn le64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}
