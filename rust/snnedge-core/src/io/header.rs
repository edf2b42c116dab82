//! Recognising a file's format from its first bytes, and parsing its header.
//!
//! The magic or header decides; the file name's extension is only consulted for the formats
//! that have no header at all (N-MNIST `.bin`) or when the header is ambiguous.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::Error;

/// The event file formats read in Rust (numpy and CSV files are read by the Python layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prophesee EVT 2.0 `.raw` (32-bit words).
    Evt2,
    /// Prophesee EVT 2.1 `.raw` (64-bit vectorised words).
    Evt21,
    /// Prophesee EVT 3.0 `.raw` (16-bit stateful words).
    Evt3,
    /// Prophesee DAT `.dat` (8-byte records after a `%` header).
    Dat,
    /// N-MNIST / N-Caltech101 `.bin` (5-byte ATIS records, no header).
    NmnistBin,
    /// Event Stream `.es` (DVS or ATIS).
    EventStream,
    /// AEDAT 4.0 (DV; compressed flatbuffer packets).
    Aedat4,
    /// AEDAT 3.1 (cAER packets).
    Aedat31,
    /// AEDAT 2.0 (jAER; big-endian address + timestamp records).
    Aedat2,
}

impl Format {
    /// All formats, in the order of the detection messages.
    pub const ALL: [Format; 9] = [
        Format::Evt2,
        Format::Evt21,
        Format::Evt3,
        Format::Dat,
        Format::NmnistBin,
        Format::EventStream,
        Format::Aedat4,
        Format::Aedat31,
        Format::Aedat2,
    ];

    /// Human-readable name (used in error messages).
    pub fn name(self) -> &'static str {
        match self {
            Format::Evt2 => "EVT 2.0",
            Format::Evt21 => "EVT 2.1",
            Format::Evt3 => "EVT 3.0",
            Format::Dat => "Prophesee DAT",
            Format::NmnistBin => "N-MNIST bin",
            Format::EventStream => "Event Stream",
            Format::Aedat4 => "AEDAT 4",
            Format::Aedat31 => "AEDAT 3.1",
            Format::Aedat2 => "AEDAT 2.0",
        }
    }

    /// Short key used by the Python API (`format="evt3"`).
    pub fn key(self) -> &'static str {
        match self {
            Format::Evt2 => "evt2",
            Format::Evt21 => "evt21",
            Format::Evt3 => "evt3",
            Format::Dat => "dat",
            Format::NmnistBin => "nmnist",
            Format::EventStream => "es",
            Format::Aedat4 => "aedat4",
            Format::Aedat31 => "aedat3",
            Format::Aedat2 => "aedat2",
        }
    }

    /// The format for a key of [`Format::key`] (`None` if unknown).
    pub fn from_key(key: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.key() == key)
    }
}

/// Address layout of AEDAT 2.0 records (from the `# AEChip:` header line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aedat2Layout {
    /// DVS128: x in bits 8..14, y in 1..7, p in bit 0 (128x128).
    Dvs128,
    /// DAVIS240/346 (jAER): y in bits 22..30, x in 12..21, p in bit 11; origin bottom-left.
    Davis {
        /// Sensor width (240 or 346).
        width: u16,
        /// Sensor height (180 or 260).
        height: u16,
    },
}

/// Event Stream event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsType {
    /// Polarity events (5-byte records).
    Dvs,
    /// ATIS events (change detections become events, exposure measurements are skipped).
    Atis,
}

/// Per-format parameters found in the header that the body decoder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyParams {
    /// EVT 2.0.
    Evt2,
    /// EVT 2.1; `legacy` swaps the 32-bit halves of each word.
    Evt21 {
        /// `endianness=legacy` in the header.
        legacy: bool,
    },
    /// EVT 3.0; rows at or past `height` are dropped (OpenEB).
    Evt3 {
        /// Sensor height, when the header gives it.
        height: Option<u16>,
    },
    /// DAT; version 1 or 2 address layout.
    Dat {
        /// Header `% Version` (1 or 2; 2 when absent).
        version: u8,
    },
    /// N-MNIST `.bin`.
    Nmnist,
    /// Event Stream.
    Es {
        /// DVS or ATIS.
        kind: EsType,
        /// Sensor size from the header.
        width: u16,
        /// Sensor size from the header.
        height: u16,
    },
    /// AEDAT 4.
    Aedat4 {
        /// Compression enum of the IOHeader (0 none, 1/2 LZ4, 3/4 Zstd).
        compression: i32,
        /// Byte offset of the file data table (`-1`: none, packets run to the end).
        data_table_position: i64,
        /// Stream ids whose packets hold polarity events (`EVTS`).
        event_streams: Vec<i32>,
        /// All stream ids declared in the description, with their type identifier.
        streams: Vec<(i32, String)>,
    },
    /// AEDAT 3.1.
    Aedat31,
    /// AEDAT 2.0.
    Aedat2 {
        /// Address layout.
        layout: Aedat2Layout,
    },
}

/// What the header of a file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format.
    pub format: Format,
    /// Sensor width and height, when the header gives them (or implies them).
    pub sensor_size: Option<(u16, u16)>,
    /// Header keys and values as found (text formats), in file order.
    pub metadata: Vec<(String, String)>,
    /// Byte offset where the body starts.
    pub data_offset: usize,
    /// What the body decoder needs.
    pub params: BodyParams,
}

/// Outcome of [`parse_header`] on a prefix of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderParse {
    /// The header was recognised and parsed.
    Done(Header),
    /// The prefix ends inside the header: give at least this many bytes from the file start.
    Need(usize),
}

/// Longest text header accepted (Prophesee, AEDAT 2/3 headers are a few kB).
pub const MAX_TEXT_HEADER: usize = 1 << 20;
/// Longest AEDAT 4 IOHeader accepted (its XML description is a few kB).
pub const MAX_AEDAT4_HEADER: usize = 16 << 20;

const AEDAT4_MAGIC: &[u8] = b"#!AER-DAT4.0\r\n";
const ES_MAGIC: &[u8] = b"Event Stream";

fn escape(prefix: &[u8]) -> String {
    let mut s = String::from("b\"");
    for &b in prefix.iter().take(16) {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s.push('"');
    s
}

fn fmt_err(format: Format, offset: usize, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::EventFormat { format: format.name(), offset: offset as u64, expected: expected.into(), found: found.into() }
}

fn truncated(format: Format, offset: usize, expected: impl Into<String>, left: usize) -> Error {
    Error::Truncated {
        format: format.name(),
        offset: offset as u64,
        expected: expected.into(),
        found: format!("{left} bytes to the end of the file"),
    }
}

/// Recognises the format of a file from `prefix` (its first bytes; `complete` when `prefix` is
/// the whole file) and parses its header. `hint` is the lower-case extension of the file name
/// (without dot), or a format key forced by the caller (`"evt3"`), consulted only when the
/// bytes do not decide. `path` only serves error messages.
pub fn parse_header(prefix: &[u8], complete: bool, hint: Option<&str>, path: &str) -> Result<HeaderParse, Error> {
    let forced = hint.and_then(Format::from_key);
    if prefix.starts_with(AEDAT4_MAGIC) {
        return parse_aedat4(prefix, complete);
    }
    if prefix.starts_with(b"#!AER-DAT") {
        return parse_aedat_text(prefix, complete);
    }
    if prefix.starts_with(ES_MAGIC) {
        return parse_es(prefix, complete);
    }
    if prefix.first() == Some(&b'%') {
        return parse_prophesee(prefix, complete, forced);
    }
    // Formats without a header: only the caller's hint can say.
    let by_hint = forced.or(match hint {
        Some("bin") => Some(Format::NmnistBin),
        _ => None,
    });
    match by_hint {
        Some(Format::NmnistBin) => Ok(HeaderParse::Done(Header {
            format: Format::NmnistBin,
            sensor_size: None,
            metadata: Vec::new(),
            data_offset: 0,
            params: BodyParams::Nmnist,
        })),
        Some(f @ (Format::Evt2 | Format::Evt21 | Format::Evt3)) => Ok(HeaderParse::Done(Header {
            format: f,
            sensor_size: None,
            metadata: Vec::new(),
            data_offset: 0,
            params: match f {
                Format::Evt2 => BodyParams::Evt2,
                Format::Evt21 => BodyParams::Evt21 { legacy: false },
                _ => BodyParams::Evt3 { height: None },
            },
        })),
        _ => {
            if !complete && prefix.len() < 16 {
                return Ok(HeaderParse::Need(16));
            }
            Err(Error::UnknownFormat {
                path: path.to_owned(),
                expected: "AEDAT 2.0/3.1/4.0 (#!AER-DAT), Event Stream, Prophesee .raw/.dat (% header), \
                           N-MNIST .bin (by extension), .npy/.npz, .csv"
                    .to_owned(),
                found: escape(prefix),
            })
        }
    }
}

/// Splits `% key value` / `# key: value` lines off the start of `prefix`.
/// Returns the lines and the offset of the first byte after the header, or `None` when the
/// prefix ends inside the header.
fn text_lines(prefix: &[u8], complete: bool, marker: u8, end_line: Option<&[u8]>) -> Option<(Vec<String>, usize)> {
    let mut lines = Vec::new();
    let mut pos = 0;
    loop {
        if pos >= prefix.len() {
            return if complete { Some((lines, pos)) } else { None };
        }
        if prefix[pos] != marker {
            return Some((lines, pos));
        }
        let Some(nl) = prefix[pos..].iter().position(|&b| b == b'\n') else {
            return if complete { Some((lines, prefix.len())) } else { None };
        };
        let raw = &prefix[pos..pos + nl];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw).into_owned();
        pos += nl + 1;
        let is_end = end_line.is_some_and(|e| raw == e);
        lines.push(text);
        if is_end {
            return Some((lines, pos));
        }
    }
}

fn need_more(prefix: &[u8], format: Format) -> Result<HeaderParse, Error> {
    if prefix.len() >= MAX_TEXT_HEADER {
        return Err(fmt_err(format, 0, format!("a text header shorter than {MAX_TEXT_HEADER} bytes"), "a longer one"));
    }
    Ok(HeaderParse::Need((prefix.len() * 2).clamp(4096, MAX_TEXT_HEADER)))
}

fn parse_prophesee(prefix: &[u8], complete: bool, forced: Option<Format>) -> Result<HeaderParse, Error> {
    let Some((lines, end)) = text_lines(prefix, complete, b'%', Some(b"% end")) else {
        return need_more(prefix, Format::Evt2);
    };
    let mut metadata: Vec<(String, String)> = Vec::new();
    for line in &lines {
        let body = line.trim_start_matches('%').trim();
        if body == "end" || body.is_empty() {
            continue;
        }
        let (k, v) = body.split_once(' ').unwrap_or((body, ""));
        metadata.push((k.to_owned(), v.trim().to_owned()));
    }
    let get = |key: &str| metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str());
    // Format: new style `format EVT3;height=720;width=1280`, legacy `evt 3.0`.
    let mut format = None;
    let mut size: Option<(u16, u16)> = None;
    let mut legacy = false;
    if let Some(f) = get("format") {
        let mut parts = f.split(';');
        format = match parts.next().map(|s| s.trim().to_ascii_uppercase()).as_deref() {
            Some("EVT2") | Some("EVT20") => Some(Format::Evt2),
            Some("EVT21") => Some(Format::Evt21),
            Some("EVT3") | Some("EVT30") => Some(Format::Evt3),
            Some(other) => {
                return Err(fmt_err(Format::Evt2, 0, "format EVT2, EVT21 or EVT3", format!("format {other}")));
            }
            None => None,
        };
        let (mut w, mut h) = (None, None);
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    "width" => w = v.trim().parse::<u16>().ok(),
                    "height" => h = v.trim().parse::<u16>().ok(),
                    "endianness" => legacy = v.trim() == "legacy",
                    _ => {}
                }
            }
        }
        if let (Some(w), Some(h)) = (w, h) {
            size = Some((w, h));
        }
    }
    if format.is_none() {
        format = match get("evt") {
            Some("2.0") | Some("2") => Some(Format::Evt2),
            Some("2.1") => Some(Format::Evt21),
            Some("3.0") | Some("3") => Some(Format::Evt3),
            Some(other) => return Err(fmt_err(Format::Evt2, 0, "evt 2.0, 2.1 or 3.0", format!("evt {other}"))),
            None => None,
        };
    }
    if size.is_none() {
        if let Some(g) = get("geometry") {
            if let Some((w, h)) = g.split_once('x') {
                if let (Ok(w), Ok(h)) = (w.trim().parse::<u16>(), h.trim().parse::<u16>()) {
                    size = Some((w, h));
                }
            }
        }
    }
    let is_dat = format.is_none()
        && (forced == Some(Format::Dat)
            || forced.is_none()
                && (lines.iter().any(|l| l.contains("Data file"))
                    || get("Version").is_some()
                    || get("Width").is_some()));
    if is_dat {
        if size.is_none() {
            if let (Some(w), Some(h)) = (get("Width"), get("Height")) {
                if let (Ok(w), Ok(h)) = (w.parse::<u16>(), h.parse::<u16>()) {
                    size = Some((w, h));
                }
            }
        }
        let version = match get("Version") {
            None | Some("2") => 2,
            Some("1") => 1,
            Some(other) => return Err(fmt_err(Format::Dat, 0, "% Version 1 or 2", format!("% Version {other}"))),
        };
        // Two bytes after the header: event type and event size.
        if prefix.len() < end + 2 {
            if complete {
                return Err(truncated(Format::Dat, end, "the 2-byte event type and size", prefix.len() - end));
            }
            return Ok(HeaderParse::Need(end + 2));
        }
        let (ev_type, ev_size) = (prefix[end], prefix[end + 1]);
        if ev_size != 8 {
            return Err(fmt_err(Format::Dat, end + 1, "event size 8", format!("{ev_size}")));
        }
        if !matches!(ev_type, 0x00 | 0x0C) {
            return Err(fmt_err(
                Format::Dat,
                end,
                "event type 0x00 (Event2d) or 0x0C (EventCD)",
                format!("0x{ev_type:02X}"),
            ));
        }
        metadata.push(("event_type".to_owned(), format!("0x{ev_type:02X}")));
        return Ok(HeaderParse::Done(Header {
            format: Format::Dat,
            sensor_size: size,
            metadata,
            data_offset: end + 2,
            params: BodyParams::Dat { version },
        }));
    }
    let format = match (format, forced) {
        (Some(f), _) => f,
        (None, Some(f @ (Format::Evt2 | Format::Evt21 | Format::Evt3))) => f,
        (None, _) => {
            return Err(fmt_err(
                Format::Evt2,
                0,
                "a '% format EVT...' or '% evt ...' line (or pass format=)",
                "a % header without either",
            ))
        }
    };
    if size.is_none() {
        // Legacy files without geometry: the camera generation implies it (OpenEB's fallback).
        let sys = get("system_ID");
        let plugin = get("plugin_name").unwrap_or("");
        if sys == Some("21") || plugin.contains("gen3") {
            size = Some((640, 480));
        } else if sys == Some("48") || plugin.contains("gen41") {
            size = Some((1280, 720));
        }
    }
    let params = match format {
        Format::Evt2 => BodyParams::Evt2,
        Format::Evt21 => BodyParams::Evt21 { legacy },
        _ => BodyParams::Evt3 { height: size.map(|s| s.1) },
    };
    Ok(HeaderParse::Done(Header { format, sensor_size: size, metadata, data_offset: end, params }))
}

fn parse_aedat_text(prefix: &[u8], complete: bool) -> Result<HeaderParse, Error> {
    let v31 = prefix.starts_with(b"#!AER-DAT3.1");
    let v2 = prefix.starts_with(b"#!AER-DAT2.0") || prefix.starts_with(b"#!AER-DAT1.0");
    let format = if v31 { Format::Aedat31 } else { Format::Aedat2 };
    if !v31 && !v2 {
        return Err(fmt_err(Format::Aedat2, 0, "#!AER-DAT2.0, 3.1 or 4.0", escape(&prefix[..prefix.len().min(14)])));
    }
    let end_line: Option<&[u8]> = if v31 { Some(b"#!END-HEADER") } else { None };
    let Some((lines, end)) = text_lines(prefix, complete, b'#', end_line) else {
        return need_more(prefix, format);
    };
    if v31 && lines.last().map(|l| l.as_str()) != Some("#!END-HEADER") {
        return Err(truncated(Format::Aedat31, end, "the line #!END-HEADER", prefix.len().saturating_sub(end)));
    }
    let mut metadata = Vec::new();
    for line in &lines {
        let body = line.trim_start_matches('#').trim();
        if let Some((k, v)) = body.split_once(':') {
            metadata.push((k.trim().to_owned(), v.trim().to_owned()));
        } else if !body.is_empty() {
            metadata.push((body.to_owned(), String::new()));
        }
    }
    if v31 {
        return Ok(HeaderParse::Done(Header {
            format,
            sensor_size: None,
            metadata,
            data_offset: end,
            params: BodyParams::Aedat31,
        }));
    }
    let chip = metadata.iter().find(|(k, _)| k == "AEChip").map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
    let layout = if chip.contains("davis346") || chip.contains("346") {
        Aedat2Layout::Davis { width: 346, height: 260 }
    } else if chip.contains("davis240") || chip.contains("240") || chip.contains("sbret10") {
        Aedat2Layout::Davis { width: 240, height: 180 }
    } else {
        Aedat2Layout::Dvs128
    };
    let size = match layout {
        Aedat2Layout::Dvs128 => (128, 128),
        Aedat2Layout::Davis { width, height } => (width, height),
    };
    Ok(HeaderParse::Done(Header {
        format,
        sensor_size: Some(size),
        metadata,
        data_offset: end,
        params: BodyParams::Aedat2 { layout },
    }))
}

fn parse_es(prefix: &[u8], complete: bool) -> Result<HeaderParse, Error> {
    let f = Format::EventStream;
    if prefix.len() < 16 {
        return if complete {
            Err(truncated(f, 0, "the 16-byte header", prefix.len()))
        } else {
            Ok(HeaderParse::Need(20))
        };
    }
    let version = [prefix[12], prefix[13], prefix[14]];
    if version[0] != 2 {
        return Err(fmt_err(f, 12, "version 2.x.y", format!("{}.{}.{}", version[0], version[1], version[2])));
    }
    let kind = match prefix[15] {
        1 => EsType::Dvs,
        2 => EsType::Atis,
        0 => return Err(fmt_err(f, 15, "event type 1 (DVS) or 2 (ATIS)", "0 (generic events: no pixel address)")),
        4 => return Err(fmt_err(f, 15, "event type 1 (DVS) or 2 (ATIS)", "4 (color events: no polarity)")),
        t => return Err(fmt_err(f, 15, "event type 1 (DVS) or 2 (ATIS)", format!("{t}"))),
    };
    if prefix.len() < 20 {
        return if complete {
            Err(truncated(f, 16, "the sensor width and height", prefix.len() - 16))
        } else {
            Ok(HeaderParse::Need(20))
        };
    }
    let width = u16::from_le_bytes([prefix[16], prefix[17]]);
    let height = u16::from_le_bytes([prefix[18], prefix[19]]);
    let metadata = alloc::vec![
        ("version".to_owned(), format!("{}.{}.{}", version[0], version[1], version[2])),
        ("event_type".to_owned(), (if kind == EsType::Dvs { "dvs" } else { "atis" }).to_owned()),
    ];
    Ok(HeaderParse::Done(Header {
        format: f,
        sensor_size: Some((width, height)),
        metadata,
        data_offset: 20,
        params: BodyParams::Es { kind, width, height },
    }))
}

// ---- AEDAT 4 IOHeader: a flatbuffer table {compression: i32, file_data_position: i64, description: string}

/// Bounds-checked reads of a flatbuffer (`buf`), offsets relative to its start.
pub(crate) struct Flat<'a> {
    pub buf: &'a [u8],
}

impl<'a> Flat<'a> {
    pub fn u16(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(self.buf.get(at..at.checked_add(2)?)?.try_into().ok()?))
    }
    pub fn u32(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.buf.get(at..at.checked_add(4)?)?.try_into().ok()?))
    }
    pub fn i64(&self, at: usize) -> Option<i64> {
        Some(i64::from_le_bytes(self.buf.get(at..at.checked_add(8)?)?.try_into().ok()?))
    }
    /// Position of field `id` of the table at `table` (`None` if absent or out of bounds).
    pub fn field(&self, table: usize, id: usize) -> Option<usize> {
        let soff = self.u32(table)? as i32 as i64;
        let vtable = usize::try_from(table as i64 - soff).ok()?;
        let vsize = self.u16(vtable)? as usize;
        let slot = 4 + 2 * id;
        if slot + 2 > vsize {
            return None;
        }
        let off = self.u16(vtable + slot)? as usize;
        if off == 0 {
            return None;
        }
        Some(table + off)
    }
    /// Follows the u32 offset stored at `at`.
    pub fn deref(&self, at: usize) -> Option<usize> {
        at.checked_add(self.u32(at)? as usize)
    }
    /// The string whose offset is stored at `at`.
    pub fn string(&self, at: usize) -> Option<&'a [u8]> {
        let s = self.deref(at)?;
        let len = self.u32(s)? as usize;
        self.buf.get(s + 4..(s + 4).checked_add(len)?)
    }
}

fn parse_aedat4(prefix: &[u8], complete: bool) -> Result<HeaderParse, Error> {
    let f = Format::Aedat4;
    let m = AEDAT4_MAGIC.len();
    if prefix.len() < m + 4 {
        return if complete {
            Err(truncated(f, m, "the 4-byte IOHeader size", prefix.len() - m))
        } else {
            Ok(HeaderParse::Need(m + 4))
        };
    }
    let n = u32::from_le_bytes([prefix[m], prefix[m + 1], prefix[m + 2], prefix[m + 3]]) as usize;
    if n > MAX_AEDAT4_HEADER {
        return Err(fmt_err(f, m, format!("an IOHeader size below {MAX_AEDAT4_HEADER} bytes"), format!("{n}")));
    }
    let start = m + 4;
    if prefix.len() < start + n {
        return if complete {
            Err(truncated(f, start, format!("an IOHeader of {n} bytes"), prefix.len() - start))
        } else {
            Ok(HeaderParse::Need(start + n))
        };
    }
    parse_ioheader(&prefix[start..start + n], start).map(HeaderParse::Done)
}

/// The header of an AEDAT 4 network stream (what DV's network output and dv-processing's
/// `NetworkWriter` send first on each connection): the file's IOHeader, size-prefixed, without
/// the file's `#!AER-DAT4.0` magic line. `prefix` starts at the size; the packets that follow
/// (`data_offset` on) are framed as in a file. No file data table: `data_table_position` -1.
pub fn parse_aedat4_stream_header(prefix: &[u8]) -> Result<HeaderParse, Error> {
    let f = Format::Aedat4;
    if prefix.len() < 4 {
        return Ok(HeaderParse::Need(4));
    }
    let n = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if n > MAX_AEDAT4_HEADER {
        return Err(fmt_err(f, 0, format!("an IOHeader size below {MAX_AEDAT4_HEADER} bytes"), format!("{n}")));
    }
    if prefix.len() < 4 + n {
        return Ok(HeaderParse::Need(4 + n));
    }
    let mut header = parse_ioheader(&prefix[4..4 + n], 4)?;
    if let BodyParams::Aedat4 { data_table_position, .. } = &mut header.params {
        *data_table_position = -1;
    }
    Ok(HeaderParse::Done(header))
}

/// The IOHeader flatbuffer `buf`, found at byte `start` of the input (for error offsets).
fn parse_ioheader(buf: &[u8], start: usize) -> Result<Header, Error> {
    let f = Format::Aedat4;
    let n = buf.len();
    let fb = Flat { buf };
    let bad = |what: &str| fmt_err(f, start, "a valid IOHeader flatbuffer", what.to_string());
    let root = fb.u32(0).ok_or_else(|| bad("fewer than 4 bytes"))? as usize;
    if fb.buf.get(4..8) != Some(b"IOHE") {
        return Err(fmt_err(f, start + 4, "file identifier IOHE", escape(fb.buf.get(4..8).unwrap_or(&[]))));
    }
    let compression = match fb.field(root, 0) {
        Some(p) => fb.u32(p).ok_or_else(|| bad("compression out of bounds"))? as i32,
        None => 0,
    };
    if !(0..=4).contains(&compression) {
        return Err(fmt_err(
            f,
            start,
            "compression 0..=4 (none, LZ4, LZ4 high, Zstd, Zstd high)",
            format!("{compression}"),
        ));
    }
    let data_table_position = match fb.field(root, 1) {
        Some(p) => fb.i64(p).ok_or_else(|| bad("file_data_position out of bounds"))?,
        None => -1,
    };
    let description = match fb.field(root, 2) {
        Some(p) => fb.string(p).ok_or_else(|| bad("description out of bounds"))?,
        None => &[],
    };
    let description = String::from_utf8_lossy(description).into_owned();
    let (streams, sizes) = parse_dv_description(&description);
    let event_streams: Vec<i32> = streams.iter().filter(|(_, t)| t == "EVTS").map(|(i, _)| *i).collect();
    let sensor_size = event_streams.first().and_then(|id| sizes.iter().find(|(i, _)| i == id)).map(|(_, s)| *s);
    let comp_name = ["none", "LZ4", "LZ4High", "Zstd", "ZstdHigh"][compression as usize];
    let mut metadata = alloc::vec![
        ("compression".to_owned(), comp_name.to_owned()),
        ("file_data_position".to_owned(), format!("{data_table_position}")),
    ];
    for (id, t) in &streams {
        metadata.push((format!("stream{id}"), t.clone()));
    }
    metadata.push(("description".to_owned(), description));
    Ok(Header {
        format: f,
        sensor_size,
        metadata,
        data_offset: start + n,
        params: BodyParams::Aedat4 { compression, data_table_position, event_streams, streams },
    })
}

/// Stream ids and type identifiers (`EVTS`, `FRME`, `IMUS`, `TRIG`), and the `sizeX`/`sizeY` of
/// each stream, from the DV XML description (a flat scan: each `<node name="N" path=".../outInfo/N/">`
/// opens stream N; attributes that follow belong to it).
type StreamTypes = Vec<(i32, String)>;
type StreamSizes = Vec<(i32, (u16, u16))>;

fn parse_dv_description(xml: &str) -> (StreamTypes, StreamSizes) {
    let mut streams = Vec::new();
    type PartialSize = (i32, (Option<u16>, Option<u16>));
    let mut sizes: Vec<PartialSize> = Vec::new();
    let mut current: Option<i32> = None;
    for tag in xml.split('<').skip(1) {
        if let Some(rest) = tag.strip_prefix("node ") {
            if let Some(path) = attr(rest, "path") {
                // ".../outInfo/<id>/" opens stream <id>; deeper nodes (".../outInfo/<id>/info/") keep it.
                if let Some(after) = path.split("outInfo/").nth(1) {
                    current = after.split('/').next().and_then(|s| s.parse::<i32>().ok());
                }
            }
        } else if let Some(rest) = tag.strip_prefix("attr ") {
            let (Some(id), Some(key)) = (current, attr(rest, "key")) else { continue };
            let value = rest.split_once('>').map(|(_, v)| v.trim()).unwrap_or("");
            match key {
                "typeIdentifier" => streams.push((id, value.to_owned())),
                "sizeX" | "sizeY" => {
                    let v = value.parse::<u16>().ok();
                    let entry = match sizes.iter_mut().find(|(i, _)| *i == id) {
                        Some(e) => e,
                        None => {
                            sizes.push((id, (None, None)));
                            let last = sizes.len() - 1;
                            &mut sizes[last]
                        }
                    };
                    if key == "sizeX" {
                        entry.1 .0 = v;
                    } else {
                        entry.1 .1 = v;
                    }
                }
                _ => {}
            }
        }
    }
    let sizes = sizes.into_iter().filter_map(|(i, (w, h))| Some((i, (w?, h?)))).collect();
    (streams, sizes)
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("{name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prophesee_legacy_header_without_end() {
        let mut file = b"% Date 2020-09-14\n% system_ID 21\n% evt 2.0\n".to_vec();
        file.extend_from_slice(&[0x00, 0x00, 0x00, 0x80]);
        let HeaderParse::Done(h) = parse_header(&file, true, None, "x").unwrap() else { panic!() };
        assert_eq!(h.format, Format::Evt2);
        assert_eq!(h.sensor_size, Some((640, 480)));
        assert_eq!(h.data_offset, file.len() - 4);
    }

    #[test]
    fn prophesee_new_header() {
        let file = b"% camera_integrator_name Prophesee\n% format EVT3;height=720;width=1280\n% end\n\x00\x80";
        let HeaderParse::Done(h) = parse_header(file, true, None, "x").unwrap() else { panic!() };
        assert_eq!(h.format, Format::Evt3);
        assert_eq!(h.sensor_size, Some((1280, 720)));
        assert_eq!(h.params, BodyParams::Evt3 { height: Some(720) });
        assert_eq!(&file[h.data_offset..], b"\x00\x80");
    }

    #[test]
    fn incomplete_prefix_asks_for_more() {
        let file = b"% format EVT3;height=720;width=1280\n% en";
        assert!(matches!(parse_header(file, false, None, "x").unwrap(), HeaderParse::Need(_)));
    }

    #[test]
    fn unknown_magic() {
        let e = parse_header(b"hello world, not events", true, None, "f.xyz").unwrap_err();
        assert!(matches!(e, Error::UnknownFormat { .. }), "{e}");
    }

    #[test]
    fn dv_description() {
        let xml = r#"<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">
          <node name="0" path="/mainloop/Recorder/outInfo/0/"><attr key="typeIdentifier" type="string">EVTS</attr>
          <node name="info" path="/mainloop/Recorder/outInfo/0/info/"><attr key="sizeX" type="int">320</attr>
          <attr key="sizeY" type="int">240</attr></node></node>
          <node name="2" path="/mainloop/Recorder/outInfo/2/"><attr key="typeIdentifier" type="string">IMUS</attr></node></node></dv>"#;
        let (streams, sizes) = parse_dv_description(xml);
        assert_eq!(streams, alloc::vec![(0, "EVTS".to_owned()), (2, "IMUS".to_owned())]);
        assert_eq!(sizes, alloc::vec![(0, (320, 240))]);
    }
}
