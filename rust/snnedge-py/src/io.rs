//! Bindings of the event file readers and writers (`snnedge-core::io`).
//!
//! Decoding runs with the GIL released, block by block, checking for Ctrl-C between blocks.
//! Decoded events leave Rust as a `uint64` array holding the `EVENT_DTYPE` records (two words
//! per event); the allocation is moved into numpy, not copied, and the Python side views it
//! with `EVENT_DTYPE`.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use snnedge_core::event::{events_from_bytes, events_into_words, EVENT_RECORD_BYTES};
use snnedge_core::io::aedat4::{Aedat4Compression, Aedat4Decoder, MAX_PACKET};
use snnedge_core::io::decode::Decoder;
use snnedge_core::io::header::{parse_aedat4_stream_header, BodyParams, HeaderParse};
use snnedge_core::io::reader::{self, EventReader, OnError};
use snnedge_core::io::writer::EventWriter;
use snnedge_core::io::Format;
use snnedge_core::{Error, Event};

use crate::to_py_err;

/// Body bytes decoded per step of `read_all` (the file is read in 1 MiB blocks).
const DECODE_STEP_BYTES: usize = 256 << 10;
/// Steps per GIL release (about 8 MiB of file); Ctrl-C is checked between releases.
const STEPS_PER_RELEASE: usize = 32;

fn on_error(py: Python<'_>, s: &str) -> PyResult<OnError> {
    match s {
        "stop" => Ok(OnError::Stop),
        "skip" => Ok(OnError::Skip),
        other => Err(to_py_err(
            py,
            Error::Shape {
                what: "on_error".into(),
                expected: "\"stop\" or \"skip\"".into(),
                found: format!("{other:?}"),
            },
        )),
    }
}

fn unknown_format(py: Python<'_>, key: &str) -> PyErr {
    let keys: Vec<&str> = Format::ALL.iter().map(|f| f.key()).collect();
    to_py_err(py, Error::Shape { what: "format".into(), expected: keys.join(", "), found: format!("{key:?}") })
}

fn words<'py>(py: Python<'py>, events: Vec<Event>) -> Bound<'py, PyArray1<u64>> {
    events_into_words(events).into_pyarray(py)
}

/// Decoded words and the exception that ended decoding, if any.
type EventsAndError<'py> = (Bound<'py, PyArray1<u64>>, usize, Option<Py<PyAny>>);

/// Decoded words and the fault that rejected the input, if any.
type EventsAndFault<'py> = (Bound<'py, PyArray1<u64>>, Option<Py<PyAny>>);

/// A streaming reader of one event file (Rust formats).
#[pyclass(name = "EventReader", module = "snnedge._core")]
pub struct PyEventReader {
    inner: EventReader,
}

#[pymethods]
impl PyEventReader {
    /// Opens `path`; `format` forces a format key, `on_error` is "stop" or "skip".
    #[new]
    #[pyo3(signature = (path, format=None, on_error="stop"))]
    fn new(py: Python<'_>, path: &str, format: Option<&str>, on_error: &str) -> PyResult<Self> {
        let mode = self::on_error(py, on_error)?;
        if let Some(f) = format {
            if Format::from_key(f).is_none() {
                return Err(unknown_format(py, f));
            }
        }
        let inner = py.detach(|| EventReader::open(path, format, mode)).map_err(|e| to_py_err(py, e))?;
        Ok(PyEventReader { inner })
    }

    /// The next chunk as uint64 words (2 per event), or None at the end.
    #[pyo3(signature = (max_events=None, chunk_us=None))]
    fn next_chunk<'py>(
        &mut self,
        py: Python<'py>,
        max_events: Option<usize>,
        chunk_us: Option<u64>,
    ) -> PyResult<Option<Bound<'py, PyArray1<u64>>>> {
        let inner = &mut self.inner;
        let chunk = py.detach(|| inner.next_chunk(max_events, chunk_us)).map_err(|e| to_py_err(py, e))?;
        Ok(chunk.map(|c| words(py, c)))
    }

    /// Decodes the rest of the file: (words, number of events, error or None). The words
    /// array may be longer than `2 * events` (the caller slices it). With on_error="stop", a
    /// fault ends decoding and is returned (not raised) next to the events decoded before it.
    ///
    /// The events are decoded straight into one `Vec` that is then moved into numpy (no copy,
    /// no zero-filling). Its capacity is the reader's upper-bound estimate (1 event per byte
    /// for EVT 3.0), which only reserves address space: the pages the events land on are the
    /// only ones touched, and growing past the bound is a `realloc` (an `mremap` for large
    /// blocks, no copy). The spare capacity is kept, not shrunk: it costs no memory (never
    /// touched), and it keeps repeated reads fast. glibc raises its mmap threshold to the size
    /// of the last large block freed, so a block of the same size is then served from its heap,
    /// already faulted in; shrinking made the freed block smaller than the next request, and
    /// every read paid fresh 4 KiB page faults (EVT 3.0 benchmark file: 2.1 ms instead of 1.2).
    ///
    /// Rejected: decoding into a numpy array made by `numpy.zeros` (it `memset` the whole
    /// upper-bound size whenever glibc served it from its heap: 4x slower than the `evt3`
    /// package on EVT 3.0), or by `numpy.empty` with a copy from a scratch buffer (numpy asks
    /// for transparent huge pages on large arrays, and with `defrag=madvise` a huge-page
    /// fault compacts memory synchronously: on the shared machine some runs took 5.6 ms
    /// instead of 1.6 ms for the same file).
    fn read_all<'py>(&mut self, py: Python<'py>) -> PyResult<EventsAndError<'py>> {
        let inner = &mut self.inner;
        inner.set_decode_limit(DECODE_STEP_BYTES);
        let mut out: Vec<Event> = Vec::new();
        let mut outcome: Result<bool, Error> = Ok(true);
        loop {
            let done = py.detach(|| {
                if out.capacity() == 0 {
                    out.reserve(inner.events_hint().max(1024));
                }
                for _ in 0..STEPS_PER_RELEASE {
                    outcome = inner.step(&mut out);
                    if !matches!(outcome, Ok(true)) {
                        return true;
                    }
                }
                false
            });
            if done {
                break;
            }
            py.check_signals()?;
        }
        let error = match outcome {
            Err(e) => Some(e),
            Ok(_) => inner.deferred_error().err(),
        };
        let err = error.map(|e| to_py_err(py, e).into_value(py).into_any());
        let n = out.len();
        Ok((words(py, out), n, err))
    }

    /// Format key (`evt3`, `aedat4`...).
    #[getter]
    fn format(&self) -> &'static str {
        self.inner.header().format.key()
    }

    /// Format name (`EVT 3.0`...).
    #[getter]
    fn format_name(&self) -> &'static str {
        self.inner.header().format.name()
    }

    /// (width, height) from the header, or None.
    #[getter]
    fn sensor_size(&self) -> Option<(u16, u16)> {
        self.inner.header().sensor_size
    }

    /// Header keys and values, in file order.
    #[getter]
    fn metadata(&self) -> Vec<(String, String)> {
        self.inner.header().metadata.clone()
    }

    /// Byte offset of the body.
    #[getter]
    fn data_offset(&self) -> usize {
        self.inner.header().data_offset
    }

    /// File size in bytes.
    #[getter]
    fn file_size(&self) -> u64 {
        self.inner.file_size()
    }

    /// File offset of the next byte to decode.
    #[getter]
    fn position(&self) -> u64 {
        self.inner.position()
    }

    /// Bytes skipped after faults (on_error="skip").
    #[getter]
    fn skipped_bytes(&self) -> u64 {
        self.inner.skipped_bytes()
    }

    /// Number of faults skipped (on_error="skip").
    #[getter]
    fn fault_count(&self) -> u64 {
        self.inner.fault_count()
    }

    /// The first faults skipped, as exception objects (on_error="skip").
    fn faults(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.inner.faults().iter().map(|e| to_py_err(py, e.clone()).into_value(py).into_any()).collect()
    }
}

fn compression(py: Python<'_>, c: Option<&str>) -> PyResult<Option<Aedat4Compression>> {
    match c {
        None => Ok(None),
        Some("none") => Ok(Some(Aedat4Compression::None)),
        Some("lz4") => Ok(Some(Aedat4Compression::Lz4)),
        Some("zstd") => Ok(Some(Aedat4Compression::Zstd)),
        Some(other) => Err(to_py_err(
            py,
            Error::Shape {
                what: "compression".into(),
                expected: "\"none\", \"lz4\" or \"zstd\"".into(),
                found: format!("{other:?}"),
            },
        )),
    }
}

/// A streaming writer of one event file.
#[pyclass(name = "EventWriter", module = "snnedge._core")]
pub struct PyEventWriter {
    inner: Option<EventWriter>,
}

#[pymethods]
impl PyEventWriter {
    /// Creates `path` in `format` (a key) for a `width` x `height` sensor.
    #[new]
    #[pyo3(signature = (path, format, width, height, compression=None))]
    fn new(
        py: Python<'_>,
        path: &str,
        format: &str,
        width: u16,
        height: u16,
        compression: Option<&str>,
    ) -> PyResult<Self> {
        let f = Format::from_key(format).ok_or_else(|| unknown_format(py, format))?;
        let c = self::compression(py, compression)?;
        let inner = py.detach(|| EventWriter::create(path, f, width, height, c)).map_err(|e| to_py_err(py, e))?;
        Ok(PyEventWriter { inner: Some(inner) })
    }

    /// Appends the events of an EVENT_DTYPE array given as its bytes (uint8 view).
    fn write(&mut self, py: Python<'_>, events: PyReadonlyArray1<'_, u8>) -> PyResult<()> {
        let bytes = events.as_slice()?;
        let ev = events_from_bytes(bytes).ok_or_else(|| {
            to_py_err(
                py,
                Error::Shape {
                    what: "event buffer".into(),
                    expected: format!("a multiple of {EVENT_RECORD_BYTES} bytes"),
                    found: format!("{} bytes", bytes.len()),
                },
            )
        })?;
        let w = self.inner.as_mut().ok_or_else(|| closed(py))?;
        py.detach(|| w.write(&ev)).map_err(|e| to_py_err(py, e))
    }

    /// Flushes and closes the file (idempotent).
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.inner.take() {
            Some(w) => py.detach(|| w.finish()).map_err(|e| to_py_err(py, e)),
            None => Ok(()),
        }
    }

    /// Events written so far.
    #[getter]
    fn events_written(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.events_written())
    }
}

fn closed(py: Python<'_>) -> PyErr {
    to_py_err(
        py,
        Error::Shape { what: "event writer".into(), expected: "an open writer".into(), found: "a closed one".into() },
    )
}

/// The packet decoder of an AEDAT 4 network stream (DV's network output, dv-processing's
/// `NetworkWriter`): built from the stream's IOHeader, then fed one whole packet at a time
/// (`i32 stream id`, `u32 size`, `size` bytes). The socket, the framing and the size checks
/// before reading a packet are the Python source's job (`snnedge.devices.tcp`); the packet
/// itself is decoded by the same `Aedat4Decoder` as an `.aedat4` file.
#[pyclass(name = "Aedat4StreamDecoder", module = "snnedge._core")]
pub struct PyAedat4StreamDecoder {
    decoder: Aedat4Decoder,
    sensor_size: Option<(u16, u16)>,
    compression: i32,
    event_streams: Vec<i32>,
    streams: Vec<(i32, String)>,
}

#[pymethods]
impl PyAedat4StreamDecoder {
    /// `header`: the size-prefixed IOHeader flatbuffer the stream starts with (all of it).
    #[new]
    fn new(py: Python<'_>, header: &[u8]) -> PyResult<Self> {
        match parse_aedat4_stream_header(header).map_err(|e| to_py_err(py, e))? {
            HeaderParse::Need(n) => Err(to_py_err(
                py,
                Error::Truncated {
                    format: Format::Aedat4.name(),
                    offset: 0,
                    expected: format!("an IOHeader of {n} bytes"),
                    found: format!("{} bytes", header.len()),
                },
            )),
            HeaderParse::Done(h) => match h.params {
                BodyParams::Aedat4 { compression, event_streams, streams, .. } => Ok(PyAedat4StreamDecoder {
                    decoder: Aedat4Decoder::new(
                        compression,
                        event_streams.clone(),
                        streams.iter().map(|s| s.0).collect(),
                    ),
                    sensor_size: h.sensor_size,
                    compression,
                    event_streams,
                    streams,
                }),
                _ => Err(to_py_err(
                    py,
                    Error::EventFormat {
                        format: Format::Aedat4.name(),
                        offset: 0,
                        expected: "an AEDAT 4 IOHeader".into(),
                        found: "another header".into(),
                    },
                )),
            },
        }
    }

    /// Decodes one whole packet (its 8-byte header included): uint64 words (2 per event) and
    /// the fault that made the packet be rejected whole (an `EventFormatError`), or None.
    /// Packets of streams that carry no events (frames, IMU, triggers) give no events.
    fn decode<'py>(&mut self, py: Python<'py>, packet: &[u8]) -> PyResult<EventsAndFault<'py>> {
        let decoder = &mut self.decoder;
        let mut out: Vec<Event> = Vec::new();
        let result = py.detach(|| decoder.decode(packet, &mut out));
        let fault = match result {
            Ok(p) if p.consumed == packet.len() => None,
            Ok(p) => Some(Error::Truncated {
                format: Format::Aedat4.name(),
                offset: p.consumed as u64,
                expected: format!("a packet of {} bytes", p.need),
                found: format!("{} bytes", packet.len() - p.consumed),
            }),
            Err(f) => {
                out.clear();
                Some(Error::EventFormat {
                    format: Format::Aedat4.name(),
                    offset: f.at as u64,
                    expected: f.expected,
                    found: f.found,
                })
            }
        };
        let err = fault.map(|e| to_py_err(py, e).into_value(py).into_any());
        Ok((words(py, out), err))
    }

    /// Sensor (width, height) of the first event stream, when the description gives it.
    #[getter]
    fn sensor_size(&self) -> Option<(u16, u16)> {
        self.sensor_size
    }

    /// Compression enum of the IOHeader (0 none, 1/2 LZ4, 3/4 Zstd).
    #[getter]
    fn compression(&self) -> i32 {
        self.compression
    }

    /// Stream ids whose packets hold polarity events.
    #[getter]
    fn event_streams(&self) -> Vec<i32> {
        self.event_streams.clone()
    }

    /// All declared streams: (id, type identifier).
    #[getter]
    fn streams(&self) -> Vec<(i32, String)> {
        self.streams.clone()
    }

    /// Largest packet body the decoder accepts (bytes).
    #[classattr]
    fn max_packet_bytes() -> usize {
        MAX_PACKET
    }
}

/// Header, file size and (where cheap) event count of an event file, as a dict.
#[pyfunction]
#[pyo3(signature = (path, format=None))]
pub fn probe<'py>(py: Python<'py>, path: &str, format: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
    if let Some(f) = format {
        if Format::from_key(f).is_none() {
            return Err(unknown_format(py, f));
        }
    }
    let p = py.detach(|| reader::probe(path, format)).map_err(|e| to_py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("format", p.header.format.key())?;
    d.set_item("format_name", p.header.format.name())?;
    d.set_item("sensor_size", p.header.sensor_size)?;
    d.set_item("file_size", p.file_size)?;
    d.set_item("data_offset", p.header.data_offset)?;
    d.set_item("events", p.events)?;
    d.set_item("metadata", p.header.metadata)?;
    Ok(d)
}

/// Registers the classes and functions of this file in the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEventReader>()?;
    m.add_class::<PyEventWriter>()?;
    m.add_class::<PyAedat4StreamDecoder>()?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    Ok(())
}
