//! AEDAT 4.0 bodies (DV, dv-processing): packets `i32 stream id`, `u32 size`, then `size`
//! bytes compressed on their own with the file's codec (LZ4 frame or Zstd frame, or none).
//! Decompressed, a packet is a size-prefixed flatbuffer whose 4-byte identifier names its
//! type; `EVTS` packets hold `EventPacket { elements: [Event] }` with
//! `struct Event { t: i64, x: i16, y: i16, on: bool }` (16 bytes, 8-aligned). Timestamps are
//! absolute 64-bit µs (no wrap). Frames, IMU and trigger packets are skipped without being
//! decompressed.
//!
//! The flatbuffers are read by hand with bounds checks at every step (no flatbuffers crate:
//! two fixed tables are all this needs, and a hand reader cannot trust a corrupt offset).

use std::io::Read;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::decode::{le32, Decoder, Fault, Progress};
use super::header::Flat;
use crate::event::Event;

/// Largest packet accepted, compressed or not (DV writes packets of a few hundred kB).
pub const MAX_PACKET: usize = 256 << 20;
/// Largest decompressed packet accepted (a bound on what a corrupt frame can make us allocate).
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

const PACKET_HEADER: usize = 8;

/// AEDAT 4 decoder.
#[derive(Debug, Clone)]
pub struct Aedat4Decoder {
    compression: i32,
    event_streams: Vec<i32>,
    streams: Vec<i32>,
    scratch: Vec<u8>,
}

impl Aedat4Decoder {
    /// A decoder for the header's codec and streams.
    pub fn new(compression: i32, event_streams: Vec<i32>, streams: Vec<i32>) -> Self {
        Aedat4Decoder { compression, event_streams, streams, scratch: Vec::new() }
    }

    /// Decompresses `packet` into `self.scratch`; `Err` says what is wrong.
    fn decompress(&mut self, packet: &[u8]) -> Result<(), String> {
        self.scratch.clear();
        let limited = |r: &mut dyn Read, out: &mut Vec<u8>| -> Result<(), String> {
            let n = r.take(MAX_DECOMPRESSED + 1).read_to_end(out).map_err(|e| format!("{e}"))?;
            if n as u64 > MAX_DECOMPRESSED {
                return Err(format!("more than {MAX_DECOMPRESSED} bytes once decompressed"));
            }
            Ok(())
        };
        match self.compression {
            0 => {
                self.scratch.extend_from_slice(packet);
                Ok(())
            }
            1 | 2 => {
                let mut d = lz4_flex::frame::FrameDecoder::new(packet);
                limited(&mut d, &mut self.scratch).map_err(|e| format!("a bad LZ4 frame ({e})"))
            }
            _ => {
                let mut d = ruzstd::decoding::StreamingDecoder::new(packet)
                    .map_err(|e| format!("a bad Zstd frame header ({e})"))?;
                limited(&mut d, &mut self.scratch).map_err(|e| format!("a bad Zstd frame ({e})"))
            }
        }
    }
}

/// Appends the events of a decompressed `EVTS` packet; `Err((offset in packet, problem))`.
fn parse_event_packet(buf: &[u8], out: &mut Vec<Event>) -> Result<(), (usize, String, String)> {
    let bad = |at: usize, exp: &str, found: String| Err((at, exp.into(), found));
    if buf.len() < 12 {
        return bad(0, "a size-prefixed flatbuffer of at least 12 bytes", format!("{} bytes", buf.len()));
    }
    let size = le32(buf, 0) as usize;
    if size > buf.len() - 4 {
        return bad(0, "a flatbuffer size prefix within the packet", format!("{size} > {}", buf.len() - 4));
    }
    let fb = Flat { buf: &buf[4..4 + size] };
    if fb.buf.get(4..8) != Some(b"EVTS") {
        let id = fb.buf.get(4..8).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        return bad(8, "file identifier EVTS", format!("{id:?}"));
    }
    let oob =
        |what: &str| (4usize, "an EventPacket with offsets inside the packet".into(), format!("{what} out of bounds"));
    let root = fb.u32(0).ok_or_else(|| oob("root"))? as usize;
    let Some(field) = fb.field(root, 0) else {
        return Ok(()); // no elements
    };
    let vec = fb.deref(field).ok_or_else(|| oob("elements offset"))?;
    let n = fb.u32(vec).ok_or_else(|| oob("elements length"))? as usize;
    let start = vec + 4;
    let end = n.checked_mul(16).and_then(|b| b.checked_add(start)).filter(|&e| e <= fb.buf.len());
    let Some(end) = end else {
        return bad(4 + vec, "an elements vector inside the packet", format!("{n} events of 16 bytes"));
    };
    out.reserve(n);
    for (k, r) in fb.buf[start..end].chunks_exact(16).enumerate() {
        let mut tb = [0u8; 8];
        tb.copy_from_slice(&r[0..8]);
        let t = i64::from_le_bytes(tb);
        let x = i16::from_le_bytes([r[8], r[9]]);
        let y = i16::from_le_bytes([r[10], r[11]]);
        if t < 0 || x < 0 || y < 0 || r[12] > 1 {
            return bad(
                4 + start + 16 * k,
                "an event with t >= 0, x >= 0, y >= 0 and on in {0, 1}",
                format!("t = {t}, x = {x}, y = {y}, on = {}", r[12]),
            );
        }
        out.push(Event::new(t as u64, x as u16, y as u16, r[12]));
    }
    Ok(())
}

impl Decoder for Aedat4Decoder {
    fn decode(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<Progress, Fault> {
        let mut pos = 0;
        loop {
            if input.len() - pos < PACKET_HEADER {
                return Ok(Progress { consumed: pos, need: PACKET_HEADER });
            }
            let stream = le32(input, pos) as i32;
            let size = le32(input, pos + 4) as usize;
            if size > MAX_PACKET {
                return Err(Fault {
                    at: pos + 4,
                    expected: format!("a packet size of at most {MAX_PACKET} bytes"),
                    found: format!("{size}"),
                    resume: None,
                });
            }
            let total = PACKET_HEADER + size;
            if input.len() - pos < total {
                return Ok(Progress { consumed: pos, need: total });
            }
            let next = pos + total;
            if !self.streams.contains(&stream) {
                return Err(Fault {
                    at: pos,
                    expected: format!("a stream id declared in the header ({:?})", self.streams),
                    found: format!("{stream}"),
                    resume: Some(next),
                });
            }
            if self.event_streams.contains(&stream) {
                let packet = &input[pos + PACKET_HEADER..next];
                if let Err(problem) = self.decompress(packet) {
                    return Err(Fault {
                        at: pos + PACKET_HEADER,
                        expected: "a packet that decompresses".into(),
                        found: problem,
                        resume: Some(next),
                    });
                }
                let mark = out.len();
                if let Err((at, expected, found)) = parse_event_packet(&self.scratch, out) {
                    // The packet is rejected whole: the events before the fault inside it go too.
                    out.truncate(mark);
                    let at = if self.compression == 0 { pos + PACKET_HEADER + at } else { pos + PACKET_HEADER };
                    let expected = if self.compression == 0 {
                        expected
                    } else {
                        format!("{expected} (in the decompressed packet)")
                    };
                    return Err(Fault { at, expected, found, resume: Some(next) });
                }
            }
            pos = next;
        }
    }

    fn unit(&self) -> String {
        "an AEDAT 4 packet".into()
    }

    fn events_per_byte_hint(&self) -> f32 {
        0.5
    }
}

// ---- Writing ----------------------------------------------------------------------------

/// Codec of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aedat4Compression {
    /// No compression (enum 0).
    None,
    /// LZ4 frames (enum 1).
    Lz4,
    /// Zstd frames (enum 3).
    Zstd,
}

/// The magic, size and IOHeader flatbuffer of a file with one event stream (id 0).
pub fn aedat4_header(compression: Aedat4Compression, width: u16, height: u16) -> Vec<u8> {
    let (code, name) = match compression {
        Aedat4Compression::None => (0i32, "NONE"),
        Aedat4Compression::Lz4 => (1, "LZ4"),
        Aedat4Compression::Zstd => (3, "ZSTD"),
    };
    let description = format!(
        "<dv version=\"2.0\">\n    <node name=\"outInfo\" path=\"/mainloop/Recorder/outInfo/\">\n        \
         <node name=\"0\" path=\"/mainloop/Recorder/outInfo/0/\">\n            \
         <attr key=\"compression\" type=\"string\">{name}</attr>\n            \
         <attr key=\"originalModuleName\" type=\"string\">snnedge</attr>\n            \
         <attr key=\"originalOutputName\" type=\"string\">events</attr>\n            \
         <attr key=\"typeDescription\" type=\"string\">Array of events (polarity ON/OFF).</attr>\n            \
         <attr key=\"typeIdentifier\" type=\"string\">EVTS</attr>\n            \
         <node name=\"info\" path=\"/mainloop/Recorder/outInfo/0/info/\">\n                \
         <attr key=\"sizeX\" type=\"int\">{width}</attr>\n                \
         <attr key=\"sizeY\" type=\"int\">{height}</attr>\n                \
         <attr key=\"source\" type=\"string\">snnedge</attr>\n                \
         <attr key=\"tsOffset\" type=\"long\">0</attr>\n            </node>\n        </node>\n    </node>\n</dv>\n"
    );
    // Flatbuffer layout (offsets from the flatbuffer's first byte):
    //  0: u32 root table offset = 20      4: "IOHE"
    //  8: vtable {size 10, table size 20, compression at +12, file_data_position at +4,
    //     description at +16}, 2 pad bytes
    // 20: table: i32 soffset 12 (vtable at 8); 24: i64 position (8-aligned); 32: i32 compression;
    // 36: u32 offset 4 -> string at 40: u32 length, bytes, NUL, padding to 4.
    let mut fb = Vec::new();
    fb.extend_from_slice(&20u32.to_le_bytes()); // root table at 20
    fb.extend_from_slice(b"IOHE");
    fb.extend_from_slice(&10u16.to_le_bytes()); // vtable at 8: size 10 (3 fields)
    fb.extend_from_slice(&20u16.to_le_bytes()); // table size
    fb.extend_from_slice(&12u16.to_le_bytes()); // field 0 compression at table+12
    fb.extend_from_slice(&4u16.to_le_bytes()); // field 1 file_data_position at table+4 (8-aligned: 24)
    fb.extend_from_slice(&16u16.to_le_bytes()); // field 2 description offset at table+16
    fb.extend_from_slice(&[0, 0]); // pad to 20
    fb.extend_from_slice(&12i32.to_le_bytes()); // table @20: soffset to vtable (20 - 12 = 8)
    fb.extend_from_slice(&(-1i64).to_le_bytes()); // @24: file_data_position = -1
    fb.extend_from_slice(&code.to_le_bytes()); // @32: compression
    fb.extend_from_slice(&4u32.to_le_bytes()); // @36: description: string at 36 + 4 = 40
    fb.extend_from_slice(&(description.len() as u32).to_le_bytes()); // @40
    fb.extend_from_slice(description.as_bytes());
    fb.push(0);
    while fb.len() % 4 != 0 {
        fb.push(0);
    }
    let mut out = b"#!AER-DAT4.0\r\n".to_vec();
    out.extend_from_slice(&(fb.len() as u32).to_le_bytes());
    out.extend_from_slice(&fb);
    out
}

/// Appends one packet (stream 0) holding `events` to `out`. Events must fit i16 coordinates
/// and i64 time (checked by the caller).
pub fn aedat4_packet(events: &[Event], compression: Aedat4Compression, out: &mut Vec<u8>) {
    // Size-prefixed flatbuffer, absolute offsets (the verifiers check alignment on these):
    //  0: u32 size of the rest   4: u32 root offset (relative to 4) = 16 -> table at 20
    //  8: "EVTS"                 12: vtable {size 6, table size 8, field 0 at +4}, 2 pad bytes
    // 20: table: i32 soffset 8 (vtable at 20 - 8 = 12); 24: u32 offset 4 -> vector at 28
    // 28: u32 element count      32: elements, 16 bytes each (8-aligned)
    let mut fb = Vec::with_capacity(32 + events.len() * 16);
    fb.extend_from_slice(&0u32.to_le_bytes()); // size prefix, patched below
    fb.extend_from_slice(&16u32.to_le_bytes());
    fb.extend_from_slice(b"EVTS");
    fb.extend_from_slice(&6u16.to_le_bytes());
    fb.extend_from_slice(&8u16.to_le_bytes());
    fb.extend_from_slice(&4u16.to_le_bytes());
    fb.extend_from_slice(&[0, 0]);
    fb.extend_from_slice(&8i32.to_le_bytes());
    fb.extend_from_slice(&4u32.to_le_bytes());
    fb.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for e in events {
        fb.extend_from_slice(&(e.t as i64).to_le_bytes());
        fb.extend_from_slice(&(e.x as i16).to_le_bytes());
        fb.extend_from_slice(&(e.y as i16).to_le_bytes());
        fb.extend_from_slice(&[e.p, 0, 0, 0]);
    }
    let size = (fb.len() - 4) as u32;
    fb[0..4].copy_from_slice(&size.to_le_bytes());
    let payload = match compression {
        Aedat4Compression::None => fb,
        Aedat4Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            // Writing to a Vec cannot fail.
            let _ = std::io::Write::write_all(&mut enc, &fb);
            enc.finish().unwrap_or_default()
        }
        Aedat4Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(&fb[..], ruzstd::encoding::CompressionLevel::Fastest)
        }
    };
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::header::{parse_aedat4_stream_header, parse_header, BodyParams, HeaderParse};
    use alloc::vec;

    /// The network stream is the file without its 14-byte magic line: the same header parse
    /// and the same packet decoder, with offsets counted from the stream's first byte.
    #[test]
    fn network_stream_header_is_the_file_header_without_magic() {
        let events = vec![Event::new(10, 1, 2, 1), Event::new(11, 63, 47, 0)];
        let mut file = aedat4_header(Aedat4Compression::Lz4, 64, 48);
        aedat4_packet(&events, Aedat4Compression::Lz4, &mut file);
        let stream = &file[14..];
        assert_eq!(parse_aedat4_stream_header(&stream[..3]).unwrap(), HeaderParse::Need(4));
        let n = u32::from_le_bytes([stream[0], stream[1], stream[2], stream[3]]) as usize;
        assert_eq!(parse_aedat4_stream_header(&stream[..10]).unwrap(), HeaderParse::Need(4 + n));
        let HeaderParse::Done(h) = parse_aedat4_stream_header(stream).unwrap() else { panic!() };
        assert_eq!((h.sensor_size, h.data_offset), (Some((64, 48)), 4 + n));
        let BodyParams::Aedat4 { compression, event_streams, streams, .. } = h.params else { panic!() };
        let mut d = Aedat4Decoder::new(compression, event_streams, streams.iter().map(|s| s.0).collect());
        let mut out = Vec::new();
        d.decode(&stream[h.data_offset..], &mut out).unwrap();
        assert_eq!(out, events);
        // an oversize IOHeader size is refused before anything is read or allocated
        let huge = [0xff, 0xff, 0xff, 0x7f];
        assert!(parse_aedat4_stream_header(&huge).is_err());
        // a stream that is not AEDAT 4 (the file magic itself, read as a size) is refused
        assert!(parse_aedat4_stream_header(&file).is_err());
    }

    #[test]
    fn written_file_reads_back_for_each_codec() {
        let events = vec![Event::new(1_605_537_493_718_345, 3, 4, 1), Event::new(1_605_537_493_718_400, 319, 239, 0)];
        for c in [Aedat4Compression::None, Aedat4Compression::Lz4, Aedat4Compression::Zstd] {
            let mut file = aedat4_header(c, 320, 240);
            aedat4_packet(&events, c, &mut file);
            aedat4_packet(&[], c, &mut file);
            let HeaderParse::Done(h) = parse_header(&file, true, None, "x").unwrap() else { panic!() };
            assert_eq!(h.sensor_size, Some((320, 240)));
            let BodyParams::Aedat4 { compression, event_streams, streams, data_table_position } = h.params else {
                panic!()
            };
            assert_eq!(data_table_position, -1);
            let mut d = Aedat4Decoder::new(compression, event_streams, streams.iter().map(|s| s.0).collect());
            let mut out = Vec::new();
            let p = d.decode(&file[h.data_offset..], &mut out).unwrap();
            assert_eq!(p.consumed, file.len() - h.data_offset);
            assert_eq!(out, events);
        }
    }
}
