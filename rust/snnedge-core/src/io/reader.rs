//! Streaming event file reader: a header, then the body fed block by block to the format's
//! [`Decoder`]; memory stays constant whatever the file size (one input block, one packet for
//! packet formats, and the events of the chunk being handed out).
//!
//! Faults: with [`OnError::Stop`] the first fault ends the stream (everything decoded before it
//! is still handed out, then the error); with [`OnError::Skip`] the reader resumes at the next
//! unit the format lets it find (next packet, next record) and counts what it skipped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::aedat::{Aedat2Decoder, Aedat31Decoder};
use super::aedat4::Aedat4Decoder;
use super::dat::DatDecoder;
use super::decode::Decoder;
use super::es::EsDecoder;
use super::evt::{Evt21Decoder, Evt2Decoder, Evt3Decoder};
use super::header::{parse_header, BodyParams, Format, Header, HeaderParse};
use super::nmnist::NmnistDecoder;
use crate::error::{Error, Result};
use crate::event::Event;

/// Bytes read from the file per block.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Faults kept (with their messages) in skip mode; later ones are only counted.
pub const MAX_FAULTS_KEPT: usize = 16;

/// What to do at a fault in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// End the stream with the error (after the events decoded before it).
    Stop,
    /// Skip to the next unit the format allows and go on, counting what was skipped.
    Skip,
}

/// The decoder for a parsed header.
pub fn decoder_for(header: &Header) -> Box<dyn Decoder + Send + Sync> {
    match &header.params {
        BodyParams::Evt2 => Box::new(Evt2Decoder::new()),
        BodyParams::Evt21 { legacy } => Box::new(Evt21Decoder::new(*legacy)),
        BodyParams::Evt3 { height } => Box::new(Evt3Decoder::new(*height)),
        BodyParams::Dat { version } => Box::new(DatDecoder::new(*version)),
        BodyParams::Nmnist => Box::new(NmnistDecoder::new()),
        BodyParams::Es { kind, width, height } => Box::new(EsDecoder::new(*kind, *width, *height)),
        BodyParams::Aedat4 { compression, event_streams, streams, .. } => {
            Box::new(Aedat4Decoder::new(*compression, event_streams.clone(), streams.iter().map(|s| s.0).collect()))
        }
        BodyParams::Aedat31 => Box::new(Aedat31Decoder::new()),
        BodyParams::Aedat2 { layout } => Box::new(Aedat2Decoder::new(*layout)),
    }
}

fn io_err(path: &str, e: &std::io::Error) -> Error {
    Error::Io { path: path.to_owned(), kind: format!("{:?}", e.kind()), message: format!("{e}") }
}

/// Lower-case extension of `path` (the format hint when the caller gives none).
pub fn extension(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next()?;
    let (_, ext) = name.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

/// Reads and parses the header of `file` (positioned anywhere); leaves it positioned at the body.
fn read_header(file: &mut File, file_size: u64, hint: Option<&str>, path: &str) -> Result<Header> {
    let mut prefix = Vec::new();
    let mut want = 4096usize;
    loop {
        let target = (want as u64).min(file_size) as usize;
        if prefix.len() < target {
            file.seek(SeekFrom::Start(prefix.len() as u64)).map_err(|e| io_err(path, &e))?;
            let mut more = Vec::new();
            file.by_ref().take((target - prefix.len()) as u64).read_to_end(&mut more).map_err(|e| io_err(path, &e))?;
            prefix.extend_from_slice(&more);
        }
        let complete = prefix.len() as u64 >= file_size;
        match parse_header(&prefix, complete, hint, path)? {
            HeaderParse::Done(h) => {
                file.seek(SeekFrom::Start(h.data_offset as u64)).map_err(|e| io_err(path, &e))?;
                return Ok(h);
            }
            HeaderParse::Need(n) => {
                if complete || n <= prefix.len() {
                    // parse_header only asks for more when more exists; guard against a loop.
                    return Err(Error::Truncated {
                        format: "event file",
                        offset: 0,
                        expected: format!("a header of at least {n} bytes"),
                        found: format!("{} bytes", prefix.len()),
                    });
                }
                want = n;
            }
        }
    }
}

/// A streaming reader of one event file.
pub struct EventReader {
    path: String,
    file: File,
    header: Header,
    decoder: Box<dyn Decoder + Send + Sync>,
    on_error: OnError,
    file_size: u64,
    /// End of the body (the AEDAT 4 file data table, or the end of the file).
    body_end: u64,
    /// Unconsumed body bytes are `buf[start..end]`; `buf[0]` is at file offset `buf_pos`.
    /// `buf` only grows (zero-filled once), so reading a block costs no `memset`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    buf_pos: u64,
    /// Next file offset to read.
    read_pos: u64,
    finished: bool,
    skipped_bytes: u64,
    fault_count: u64,
    faults: Vec<Error>,
    // Chunking state.
    pending: Vec<Event>,
    pending_pos: usize,
    deferred: Option<Error>,
    /// A header problem reported once the body is decoded (AEDAT 4 table position).
    late: Option<Error>,
    window_end: Option<u64>,
    /// At most this many body bytes per decode call (`usize::MAX`: all buffered bytes).
    decode_limit: usize,
    /// Bytes the decoder asked for to complete its next unit (a slice never shorter).
    last_need: usize,
}

impl EventReader {
    /// Opens `path`, recognises its format (`hint`: a format key of [`Format::key`] that
    /// overrides the extension) and parses the header.
    pub fn open(path: &str, hint: Option<&str>, on_error: OnError) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| io_err(path, &e))?;
        let file_size = file.metadata().map_err(|e| io_err(path, &e))?.len();
        let ext = extension(path);
        let hint = hint.or(ext.as_deref());
        let header = read_header(&mut file, file_size, hint, path)?;
        let mut body_end = file_size;
        let mut late = None;
        if let BodyParams::Aedat4 { data_table_position, .. } = header.params {
            if data_table_position >= 0 {
                let p = data_table_position as u64;
                if p < header.data_offset as u64 || p > file_size {
                    // A header that lies about the table: decode what is there, then report it.
                    late = Some(Error::EventFormat {
                        format: Format::Aedat4.name(),
                        offset: 18,
                        expected: format!(
                            "a file data table position between {} and the file size {file_size}",
                            header.data_offset
                        ),
                        found: format!("{p}"),
                    });
                } else {
                    body_end = p;
                }
            }
        }
        let decoder = decoder_for(&header);
        let pos = header.data_offset as u64;
        Ok(EventReader {
            path: path.to_owned(),
            file,
            decoder,
            on_error,
            file_size,
            body_end,
            buf: Vec::new(),
            start: 0,
            end: 0,
            buf_pos: pos,
            read_pos: pos,
            finished: false,
            skipped_bytes: 0,
            fault_count: 0,
            faults: Vec::new(),
            pending: Vec::new(),
            pending_pos: 0,
            deferred: None,
            late: if on_error == OnError::Stop { late } else { None },
            window_end: None,
            decode_limit: usize::MAX,
            last_need: 0,
            header,
        })
    }

    /// Decode at most `bytes` of the body per [`EventReader::step`] (the file is still read in
    /// 1 MiB blocks). Small steps keep the caller's output buffer small and cache-warm.
    pub fn set_decode_limit(&mut self, bytes: usize) {
        self.decode_limit = bytes.max(64);
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Body bytes skipped so far (skip mode).
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// Faults met so far (skip mode).
    pub fn fault_count(&self) -> u64 {
        self.fault_count
    }

    /// The first [`MAX_FAULTS_KEPT`] faults met (skip mode).
    pub fn faults(&self) -> &[Error] {
        &self.faults
    }

    /// File offset of the next body byte to decode.
    pub fn position(&self) -> u64 {
        self.buf_pos + self.start as u64
    }

    /// An upper-bound guess of the number of events in the body (to reserve output memory).
    pub fn events_hint(&self) -> usize {
        let body = self.body_end.saturating_sub(self.header.data_offset as u64) as f64;
        (body * self.decoder.events_per_byte_hint() as f64).min((1u64 << 26) as f64) as usize
    }

    fn fault(&mut self, err: Error, skip_to: Option<u64>) -> Result<()> {
        match (self.on_error, skip_to) {
            (OnError::Stop, _) => {
                self.finished = true;
                Err(err)
            }
            (OnError::Skip, to) => {
                let from = self.position();
                let to = to.unwrap_or(self.body_end).min(self.body_end);
                self.skipped_bytes += to.saturating_sub(from);
                self.fault_count += 1;
                if self.faults.len() < MAX_FAULTS_KEPT {
                    self.faults.push(err);
                }
                if to >= self.body_end {
                    self.finished = true;
                } else {
                    self.seek_body(to)?;
                }
                Ok(())
            }
        }
    }

    fn seek_body(&mut self, to: u64) -> Result<()> {
        let end = self.buf_pos + self.end as u64;
        if to >= self.buf_pos && to <= end {
            self.start = (to - self.buf_pos) as usize;
        } else {
            self.file.seek(SeekFrom::Start(to)).map_err(|e| io_err(&self.path, &e))?;
            self.start = 0;
            self.end = 0;
            self.buf_pos = to;
            self.read_pos = to;
        }
        Ok(())
    }

    /// Reads until the buffer holds at least `want` unconsumed bytes or the body ends.
    fn top_up(&mut self, want: usize) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.buf_pos += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < want && self.read_pos < self.body_end {
            let n = ((want - self.end) as u64).max(BLOCK_BYTES as u64).min(self.body_end - self.read_pos) as usize;
            let old = self.end;
            if self.buf.len() < old + n {
                self.buf.resize(old + n, 0);
            }
            let got = loop {
                match self.file.read(&mut self.buf[old..old + n]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(&self.path, &e)),
                }
            };
            self.end = old + got;
            self.read_pos += got as u64;
            if got == 0 {
                // The file shrank under us: treat as the end.
                self.body_end = self.read_pos;
            }
        }
        Ok(())
    }

    /// Decodes one block of the body, appending to `out`. `Ok(false)` when the body is done.
    /// In stop mode a fault is returned once (the events before it are in `out`); after it,
    /// the reader is finished.
    pub fn step(&mut self, out: &mut Vec<Event>) -> Result<bool> {
        if self.finished {
            return Ok(false);
        }
        // Top up once what is left cannot fill a decode slice: with small slices (read_all)
        // the bytes moved to the buffer's front are at most one slice per block read.
        if self.end - self.start < self.decode_limit.min(BLOCK_BYTES / 2).max(self.last_need) {
            self.top_up(BLOCK_BYTES)?;
        }
        let avail = self.end - self.start;
        let at_end = self.read_pos >= self.body_end;
        if avail == 0 && at_end {
            self.finished = true;
            return Ok(false);
        }
        let slice_end = self.start + avail.min(self.decode_limit.max(self.last_need));
        let result = self.decoder.decode(&self.buf[self.start..slice_end], out);
        let whole = slice_end == self.end;
        match result {
            Ok(p) => {
                self.start += p.consumed;
                self.last_need = if p.consumed == 0 { p.need.max(slice_end - self.start + 1) } else { 0 };
                if !whole && (p.consumed > 0 || self.last_need <= avail) {
                    // A partial slice: the next step gets the rest (and a slice long enough
                    // for the unit the decoder is waiting for).
                    return Ok(true);
                }
                let rest = self.end - self.start;
                if p.consumed == 0 || (at_end && rest > 0) {
                    let offset = self.position();
                    let left = self.body_end - offset;
                    if at_end || (p.need as u64) > left {
                        let unit = self.decoder.unit();
                        let expected = if p.need > 0 { format!("{unit} of {} bytes", p.need) } else { unit };
                        let err = Error::Truncated {
                            format: self.header.format.name(),
                            offset,
                            expected,
                            found: format!("{left} bytes to the end of the {}", self.body_name()),
                        };
                        return self.fault(err, None).map(|_| !self.finished);
                    }
                    // A unit larger than the buffer (checked against the file above): grow to it.
                    self.top_up(p.need.max(rest + 1))?;
                }
                Ok(true)
            }
            Err(f) => {
                let offset = self.position() + f.at as u64;
                let err = Error::EventFormat {
                    format: self.header.format.name(),
                    offset,
                    expected: f.expected,
                    found: f.found,
                };
                // Skipping starts at the fault (the bytes before it were good).
                self.start += f.at;
                let resume = f.resume.map(|r| self.position() - f.at as u64 + r as u64);
                self.fault(err, resume).map(|_| !self.finished)
            }
        }
    }

    fn body_name(&self) -> &'static str {
        if self.body_end < self.file_size {
            "packets (the file data table follows)"
        } else {
            "file"
        }
    }

    /// Decodes the whole rest of the file into `out`. On a fault (stop mode), `out` holds the
    /// events before it and the error is returned.
    pub fn read_all(&mut self, out: &mut Vec<Event>) -> Result<()> {
        out.reserve(self.events_hint());
        while self.step(out)? {}
        self.deferred_error()
    }

    /// The error that ended the stream (stop mode), else a header problem reported once the
    /// body has been decoded (an AEDAT 4 header pointing its data table outside the file).
    pub fn deferred_error(&mut self) -> Result<()> {
        if let Some(e) = self.deferred.take() {
            self.late = None; // one error per stream: the first one
            return Err(e);
        }
        match self.late.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The next chunk of events: at most `max_events`, and inside one window of `chunk_us`
    /// microseconds (windows are aligned on the first event's time; windows without events
    /// are skipped). With neither, whatever one block of the file decodes to. `Ok(None)` at the
    /// end. In stop mode a fault is returned after the chunks decoded before it.
    pub fn next_chunk(&mut self, max_events: Option<usize>, chunk_us: Option<u64>) -> Result<Option<Vec<Event>>> {
        let max_events = max_events.map(|m| m.max(1));
        let chunk_us = chunk_us.map(|c| c.max(1));
        loop {
            let avail = self.pending.len() - self.pending_pos;
            let done = self.finished || self.deferred.is_some();
            if avail > 0 {
                let slice = &self.pending[self.pending_pos..];
                let mut cut = None;
                if let Some(c) = chunk_us {
                    let first = slice[0].t;
                    let end = match self.window_end {
                        Some(end) if first < end => end,
                        Some(end) => end + (first - end) / c * c + c,
                        None => first.saturating_add(c),
                    };
                    self.window_end = Some(end);
                    if let Some(i) = slice.iter().position(|e| e.t >= end) {
                        cut = Some(i);
                    }
                }
                if let Some(m) = max_events {
                    if avail >= m {
                        cut = Some(cut.map_or(m, |c| c.min(m)));
                    }
                }
                if cut.is_none() && (done || (max_events.is_none() && chunk_us.is_none())) {
                    cut = Some(avail);
                }
                if let Some(n) = cut {
                    let n = n.max(1).min(avail);
                    let chunk = if self.pending_pos == 0 && n == self.pending.len() {
                        core::mem::take(&mut self.pending)
                    } else {
                        let c = self.pending[self.pending_pos..self.pending_pos + n].to_vec();
                        self.pending_pos += n;
                        c
                    };
                    return Ok(Some(chunk));
                }
            } else if done {
                self.deferred_error()?;
                return Ok(None);
            }
            // Need more events.
            if self.pending_pos > 0 {
                self.pending.drain(..self.pending_pos);
                self.pending_pos = 0;
            }
            let mut pending = core::mem::take(&mut self.pending);
            let r = self.step(&mut pending);
            self.pending = pending;
            if let Err(e) = r {
                self.deferred = Some(e);
            }
        }
    }
}

/// A quick look at a file: its header, and the event count where the format makes it cheap.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The parsed header.
    pub header: Header,
    /// File size in bytes.
    pub file_size: u64,
    /// Number of events, when known without decoding (fixed-size records).
    pub events: Option<u64>,
}

/// Reads the header of `path` (and counts events where the format makes it cheap).
pub fn probe(path: &str, hint: Option<&str>) -> Result<Probe> {
    let r = EventReader::open(path, hint, OnError::Stop)?;
    let body = r.file_size.saturating_sub(r.header.data_offset as u64);
    let events = match r.header.format {
        Format::Dat => Some(body / 8),
        _ => None,
    };
    Ok(Probe { header: r.header.clone(), file_size: r.file_size, events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::aedat4::{aedat4_header, aedat4_packet, Aedat4Compression};

    /// Decode steps smaller than a packet, and blocks that cut packets anywhere.
    #[test]
    fn small_decode_steps_and_big_packets() {
        let events: Vec<Event> =
            (0..40_000u64).map(|i| Event::new(i * 3, (i % 300) as u16, (i % 200) as u16, (i % 2) as u8)).collect();
        let mut file = aedat4_header(Aedat4Compression::None, 320, 240);
        for c in events.chunks(20_000) {
            aedat4_packet(c, Aedat4Compression::None, &mut file); // 320 kB packets
        }
        let path = std::env::temp_dir().join(format!("snnedge-reader-test-{}.aedat4", std::process::id()));
        std::fs::write(&path, &file).unwrap();
        let p = path.to_str().unwrap();
        for limit in [None, Some(100), Some(64 << 10)] {
            let mut r = EventReader::open(p, None, OnError::Stop).unwrap();
            if let Some(l) = limit {
                r.set_decode_limit(l);
            }
            let mut out = Vec::new();
            while r.step(&mut out).unwrap() {}
            assert_eq!(out, events, "decode limit {limit:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
