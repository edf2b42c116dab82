//! Streaming event file writer: the header at creation, then the events chunk by chunk.
//!
//! Every writer checks each event against the sensor size it was given (`x < width`,
//! `y < height`, `p` in {0, 1}) and against what its format can store; formats with relative
//! or wrapping time counters also need the events sorted by `t`.

use std::fs::File;
use std::io::{BufWriter, Write};

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::aedat4::{aedat4_header, aedat4_packet, Aedat4Compression};
use super::dat::encode_dat;
use super::es::{es_header, EsEncoder};
use super::evt::{EncodeIssue, Evt2Encoder, Evt3Encoder};
use super::header::Format;
use super::nmnist::NmnistEncoder;
use crate::error::{Error, Result};
use crate::event::Event;

/// Events per AEDAT 4 packet (DV writes packets of a few thousand events).
pub const AEDAT4_PACKET_EVENTS: usize = 1 << 15;

enum Encoder {
    Evt2(Evt2Encoder),
    Evt3(Evt3Encoder),
    Es(EsEncoder),
    Aedat4(Aedat4Compression),
    Dat,
    Nmnist(NmnistEncoder),
}

/// A streaming writer of one event file.
pub struct EventWriter {
    path: String,
    format: Format,
    file: BufWriter<File>,
    encoder: Encoder,
    width: u16,
    height: u16,
    bytes: Vec<u8>,
    last_t: Option<u64>,
    events_written: u64,
}

fn io_err(path: &str, e: &std::io::Error) -> Error {
    Error::Io { path: path.to_owned(), kind: format!("{:?}", e.kind()), message: format!("{e}") }
}

/// The `%` header of a `.raw` file written by snnedge.
fn raw_header(evt: &str, key: &str, width: u16, height: u16) -> Vec<u8> {
    format!(
        "% evt {evt}\n% format {key};height={height};width={width}\n% geometry {width}x{height}\n\
         % integrator_name snnedge\n% plugin_name snnedge\n% end\n"
    )
    .into_bytes()
}

impl EventWriter {
    /// Creates `path` (replacing it) in `format` for a `width` x `height` sensor.
    /// `compression` applies to AEDAT 4 (`None` means LZ4, DV's default).
    pub fn create(
        path: &str,
        format: Format,
        width: u16,
        height: u16,
        compression: Option<Aedat4Compression>,
    ) -> Result<Self> {
        let unsupported = |why: &str| Error::Unencodable { format: format.name(), index: 0, message: why.to_owned() };
        let (header, encoder) = match format {
            Format::Evt2 => (raw_header("2.0", "EVT2", width, height), Encoder::Evt2(Evt2Encoder::new())),
            Format::Evt3 => (raw_header("3.0", "EVT3", width, height), Encoder::Evt3(Evt3Encoder::new())),
            Format::EventStream => (es_header(width, height), Encoder::Es(EsEncoder::new())),
            Format::Aedat4 => {
                let c = compression.unwrap_or(Aedat4Compression::Lz4);
                (aedat4_header(c, width, height), Encoder::Aedat4(c))
            }
            Format::Dat => {
                let mut h =
                    format!("% Data file containing CD events.\n% Version 2\n% Width {width}\n% Height {height}\n")
                        .into_bytes();
                h.extend_from_slice(&[0x0C, 8]);
                (h, Encoder::Dat)
            }
            Format::NmnistBin => (Vec::new(), Encoder::Nmnist(NmnistEncoder::new())),
            Format::Evt21 | Format::Aedat31 | Format::Aedat2 => {
                return Err(unsupported(
                    "this format is read but not written (write EVT 2.0/3.0, AEDAT 4, .es, .dat, .bin)",
                ))
            }
        };
        if width == 0 || height == 0 {
            return Err(unsupported("the sensor size must be at least 1x1"));
        }
        let file = File::create(path).map_err(|e| io_err(path, &e))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&header).map_err(|e| io_err(path, &e))?;
        Ok(EventWriter {
            path: path.to_owned(),
            format,
            file,
            encoder,
            width,
            height,
            bytes: Vec::new(),
            last_t: None,
            events_written: 0,
        })
    }

    /// Number of events written so far.
    pub fn events_written(&self) -> u64 {
        self.events_written
    }

    fn check(&mut self, events: &[Event]) -> Result<()> {
        let needs_sorted = !matches!(self.encoder, Encoder::Aedat4(_) | Encoder::Dat);
        let mut last = self.last_t;
        for (i, e) in events.iter().enumerate() {
            if e.x >= self.width || e.y >= self.height || e.p > 1 {
                return Err(Error::Unencodable {
                    format: self.format.name(),
                    index: i,
                    message: format!(
                        "(x, y, p) = ({}, {}, {}) is outside the sensor size {}x{} or p is not 0/1",
                        e.x, e.y, e.p, self.width, self.height
                    ),
                });
            }
            if let Some(l) = last {
                if needs_sorted && e.t < l {
                    return Err(Error::UnsortedEvents { index: i, t_us: e.t, previous_t_us: l });
                }
            }
            if matches!(self.encoder, Encoder::Aedat4(_)) && (e.t > i64::MAX as u64 || e.x > 0x7FFF || e.y > 0x7FFF) {
                return Err(Error::Unencodable {
                    format: self.format.name(),
                    index: i,
                    message: "AEDAT 4 stores t < 2^63, x and y < 32768".into(),
                });
            }
            if matches!(self.encoder, Encoder::Dat) && e.t > u32::MAX as u64 {
                return Err(Error::Unencodable {
                    format: self.format.name(),
                    index: i,
                    message: "DAT stores 32-bit times (readers unwrap only gaps shorter than 2^31 us); t >= 2^32"
                        .into(),
                });
            }
            last = Some(e.t);
        }
        Ok(())
    }

    /// Appends `events` (any number, including none).
    pub fn write(&mut self, events: &[Event]) -> Result<()> {
        self.check(events)?;
        self.bytes.clear();
        let format = self.format.name();
        let issue = |(index, issue): (usize, EncodeIssue)| match issue {
            EncodeIssue::Unsorted { previous } => {
                Error::UnsortedEvents { index, t_us: events[index].t, previous_t_us: previous }
            }
            EncodeIssue::OutOfRange(message) => Error::Unencodable { format, index, message },
        };
        let plain = |(index, message): (usize, String)| Error::Unencodable { format, index, message };
        match &mut self.encoder {
            Encoder::Evt2(enc) => enc.encode(events, &mut self.bytes).map_err(issue)?,
            Encoder::Evt3(enc) => enc.encode(events, self.height, &mut self.bytes).map_err(issue)?,
            Encoder::Es(enc) => enc.encode(events, self.width, self.height, &mut self.bytes).map_err(plain)?,
            Encoder::Aedat4(c) => {
                for chunk in events.chunks(AEDAT4_PACKET_EVENTS) {
                    aedat4_packet(chunk, *c, &mut self.bytes);
                }
            }
            Encoder::Dat => encode_dat(events, &mut self.bytes).map_err(plain)?,
            Encoder::Nmnist(enc) => enc.encode(events, &mut self.bytes).map_err(plain)?,
        }
        self.file.write_all(&self.bytes).map_err(|e| io_err(&self.path, &e))?;
        if let Some(e) = events.last() {
            self.last_t = Some(e.t);
        }
        self.events_written += events.len() as u64;
        Ok(())
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<()> {
        self.file.flush().map_err(|e| io_err(&self.path, &e))?;
        self.file.get_ref().sync_data().map_err(|e| io_err(&self.path, &e))
    }
}
