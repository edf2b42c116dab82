//! Checkpoints: the whole mutable state of an engine, so that a restored run continues bit for
//! bit as the uninterrupted one would have.
//!
//! File layout (the same framing as the model file, with its own magic):
//!
//! ```text
//! offset  size  field
//!      0     8  magic  89 'S' 'N' 'N' 'C' 0D 0A 1A
//!      8     2  format version, u16 LE (1)
//!     10     2  flags, u16 LE (0)
//!     12     4  CRC-32 of the payload, u32 LE
//!     16     8  payload length, u64 LE
//!     24     n  payload: msgpack of `EngineSnapshot`
//! ```
//!
//! The snapshot records the CRC-32 of the model description it belongs to; restoring it into
//! another model is an error. Every array length is checked against the model before use.
//! Writing the file atomically (temporary file, fsync, rename) is the caller's job (the
//! Python layer does it).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::file::crc32;

/// First 8 bytes of every checkpoint file.
pub const MAGIC: [u8; 8] = [0x89, b'S', b'N', b'N', b'C', 0x0D, 0x0A, 0x1A];
/// Checkpoint format version.
pub const FORMAT_VERSION: u16 = 1;
/// Largest payload accepted (4 GiB).
pub const MAX_PAYLOAD: u64 = 1 << 32;

/// One delay slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotSnapshot {
    /// Partial sums.
    pub acc: Vec<i32>,
    /// Overflow partial sums.
    pub wide: Vec<i64>,
    /// Bound of the partial sums.
    pub bound: u64,
    /// Dense delivery flag.
    pub all: bool,
    /// Touched groups.
    pub groups: Vec<u32>,
}

/// One layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSnapshotFull {
    /// Membranes.
    pub v: Vec<i32>,
    /// Currents.
    pub i: Vec<i32>,
    /// Threshold offsets.
    pub theta: Vec<i32>,
    /// Refractory counters.
    pub r: Vec<u32>,
    /// Next tick per group.
    pub next: Vec<u64>,
    /// Uniform next tick.
    pub uniform: Option<u64>,
    /// Delay slots.
    pub slots: Vec<SlotSnapshot>,
    /// Live groups for the next tick.
    pub live: Vec<u32>,
}

/// One plastic connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlasticSnapshot {
    /// Connection index.
    pub connection: u32,
    /// Weights (internal order).
    pub weights: Vec<i16>,
    /// Pre traces.
    pub x: Vec<i32>,
    /// Post traces.
    pub y: Vec<i32>,
    /// Traces moving.
    pub moving: bool,
    /// Eligibility traces (reward-modulated mode).
    pub elig: Vec<i32>,
    /// Current potentiation rate.
    pub a_plus: i64,
    /// Current depression rate.
    pub a_minus: i64,
    /// Learning on.
    pub enabled: bool,
}

/// The whole mutable state of an engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// CRC-32 of the model description (msgpack) this state belongs to.
    pub model_crc: u32,
    /// Model name, for messages.
    pub model_name: String,
    /// First open tick.
    pub open_tick: u64,
    /// Held-back input indices.
    pub pending: Vec<u32>,
    /// Their tick.
    pub pending_tick: Option<u64>,
    /// Last event time consumed.
    pub last_t_us: u64,
    /// Counters: ticks_computed, input_events, synops, neuron_updates, output_spikes.
    pub counters: [u64; 5],
    /// Spikes per layer.
    pub layer_spikes: Vec<u64>,
    /// Layers.
    pub layers: Vec<LayerSnapshotFull>,
    /// Plastic connections.
    pub plastic: Vec<PlasticSnapshot>,
    /// Rewards waiting for their tick.
    pub rewards: Vec<(u64, i64)>,
}

fn err(message: impl Into<String>) -> Error {
    Error::Checkpoint { message: message.into() }
}

/// Encodes a snapshot with its header.
pub fn encode(s: &EngineSnapshot) -> Result<Vec<u8>> {
    let payload = rmp_serde::to_vec(s).map_err(|e| err(alloc::format!("cannot encode: {e}")))?;
    let mut out = Vec::with_capacity(24 + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes and checks a checkpoint file's bytes.
pub fn decode(bytes: &[u8]) -> Result<EngineSnapshot> {
    if bytes.len() < 24 {
        return Err(err(alloc::format!("the file ends after {} bytes, inside the 24-byte header", bytes.len())));
    }
    if bytes[0..8] != MAGIC {
        return Err(err("not a snnedge checkpoint (bad magic)"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(err(alloc::format!(
            "checkpoint format version {version} is not supported (this reader knows {FORMAT_VERSION})"
        )));
    }
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[16..24]);
    let len = u64::from_le_bytes(len8);
    let avail = (bytes.len() - 24) as u64;
    if len > MAX_PAYLOAD || len != avail {
        return Err(err(alloc::format!(
            "the header declares {len} payload bytes, the file holds {avail}: truncated or corrupt"
        )));
    }
    let payload = &bytes[24..];
    if crc32(payload) != crc {
        return Err(err("checksum mismatch: the checkpoint is corrupt"));
    }
    rmp_serde::from_slice(payload).map_err(|e| err(alloc::format!("cannot decode the payload: {e}")))
}
