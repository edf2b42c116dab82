//! The `.snnm` model file: a fixed 24-byte header, then a msgpack payload.
//!
//! ```text
//! offset  size  field
//!      0     8  magic  89 'S' 'N' 'N' 'M' 0D 0A 1A   (binary-safe, like PNG's)
//!      8     2  format version, u16 LE (this reader: 1)
//!     10     2  flags, u16 LE (0)
//!     12     4  CRC-32 (IEEE) of the payload, u32 LE
//!     16     8  payload length in bytes, u64 LE
//!     24     n  payload: msgpack map {"spec": ModelSpec, "metadata": {str: str}}
//! ```
//!
//! Reading never executes anything from the file; the declared length is checked against the
//! bytes actually present before anything is decoded, and the checksum before the payload is
//! trusted. Decoding errors name the byte offset where they were found.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::spec::ModelSpec;

/// First 8 bytes of every model file.
pub const MAGIC: [u8; 8] = [0x89, b'S', b'N', b'N', b'M', 0x0D, 0x0A, 0x1A];
/// Format version written by this library.
pub const FORMAT_VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 24;
/// Largest payload accepted (1 GiB).
pub const MAX_PAYLOAD: u64 = 1 << 30;

/// Contents of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// The network.
    pub spec: ModelSpec,
    /// Free-form text metadata (source, framework, quantization notes...).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), bitwise: model files are read once.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn fmt_err(offset: Option<u64>, message: impl Into<String>) -> Error {
    Error::ModelFormat { offset, message: message.into() }
}

/// Serializes a model file.
pub fn write(file: &ModelFile) -> Result<Vec<u8>> {
    let payload = rmp_serde::to_vec_named(file).map_err(|e| fmt_err(None, alloc::format!("cannot encode: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Parses and checks a model file (header, length, checksum, payload).
pub fn read(bytes: &[u8]) -> Result<ModelFile> {
    if bytes.len() < HEADER_LEN {
        return Err(fmt_err(
            Some(bytes.len() as u64),
            alloc::format!("file ends after {} bytes, inside the {HEADER_LEN}-byte header", bytes.len()),
        ));
    }
    if bytes[0..8] != MAGIC {
        return Err(fmt_err(Some(0), "not a snnedge model file (bad magic)"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(fmt_err(
            Some(8),
            alloc::format!("format version {version} is not supported (this reader knows {FORMAT_VERSION})"),
        ));
    }
    let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
    if flags != 0 {
        return Err(fmt_err(Some(10), alloc::format!("unknown flags {flags:#06x}")));
    }
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[16..24]);
    let len = u64::from_le_bytes(len8);
    let avail = (bytes.len() - HEADER_LEN) as u64;
    if len > MAX_PAYLOAD || len != avail {
        return Err(fmt_err(
            Some(16),
            alloc::format!("header declares a {len}-byte payload, the file holds {avail} bytes after the header"),
        ));
    }
    let payload = &bytes[HEADER_LEN..];
    let got = crc32(payload);
    if got != crc {
        return Err(fmt_err(
            Some(12),
            alloc::format!("checksum mismatch (header {crc:#010x}, content {got:#010x}): the file is corrupt"),
        ));
    }
    let mut de = rmp_serde::Deserializer::new(payload);
    let file = ModelFile::deserialize(&mut de).map_err(|e| {
        let pos = HEADER_LEN as u64 + (payload.len() - de.get_ref().len()) as u64;
        fmt_err(Some(pos), alloc::format!("cannot decode payload: {e}"))
    })?;
    Ok(file)
}

/// Decodes a bare model description (msgpack, no header): the Python builder's bridge.
pub fn spec_from_msgpack(bytes: &[u8]) -> Result<ModelSpec> {
    let mut de = rmp_serde::Deserializer::new(bytes);
    ModelSpec::deserialize(&mut de).map_err(|e| {
        let pos = (bytes.len() - de.get_ref().len()) as u64;
        fmt_err(Some(pos), alloc::format!("cannot decode model description: {e}"))
    })
}

/// Encodes a bare model description (msgpack, no header).
pub fn spec_to_msgpack(spec: &ModelSpec) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(spec).map_err(|e| fmt_err(None, alloc::format!("cannot encode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
