//! `snnedge._core`: thin PyO3 bindings of `snnedge-core`.
//!
//! Each method converts its arguments, makes one core call (with the GIL released for
//! anything that grows with the input), and converts the result. Events come in as the bytes
//! of an `EVENT_DTYPE` array (borrowed, not copied); spikes go out as the bytes of a
//! `SPIKE_DTYPE` array (built without the GIL, moved into numpy). Core errors become the
//! exception classes of `snnedge.errors`, one class per `Error` variant.

mod io;

use std::sync::Arc;

mod encode;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict};

use snnedge_core::event::{EVENT_RECORD_BYTES, SPIKE_RECORD_BYTES};
use snnedge_core::model::file::{self, ModelFile};
use snnedge_core::{Engine, Error, EventSlice, ModelSpec, NetworkParams, RawEvents, Spike};

/// Events handed to the core per GIL release; between two, Ctrl-C is checked.
const EVENTS_PER_RELEASE: usize = 1 << 16;
/// Chunks up to this many events are fed without releasing the GIL (short calls).
const SHORT_CALL_EVENTS: usize = 1024;
/// Ticks advanced per GIL release (only matters for networks that never go idle).
const TICKS_PER_RELEASE: u64 = 1 << 16;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Turns a core error into the matching `snnedge.errors` exception, with its fields as
/// attributes. The match has no wildcard arm: a new variant must get a class.
fn to_py_err(py: Python<'_>, e: Error) -> PyErr {
    let message = e.to_string();
    let build = || -> PyResult<PyErr> {
        let module = ERRORS.get_or_try_init(py, || py.import("snnedge.errors").map(|m| m.unbind()))?.bind(py);
        let kw = PyDict::new(py);
        let class = match &e {
            Error::Shape { what, expected, found } => {
                kw.set_item("what", what)?;
                kw.set_item("expected", expected)?;
                kw.set_item("found", found)?;
                "ShapeError"
            }
            Error::UnsortedEvents { index, t_us, previous_t_us } => {
                kw.set_item("index", index)?;
                kw.set_item("t_us", t_us)?;
                kw.set_item("previous_t_us", previous_t_us)?;
                "UnsortedEventsError"
            }
            Error::LateEvent { index, t_us, open_tick, open_t_us } => {
                kw.set_item("index", index)?;
                kw.set_item("t_us", t_us)?;
                kw.set_item("open_tick", open_tick)?;
                kw.set_item("open_t_us", open_t_us)?;
                "LateEventError"
            }
            Error::EventOutOfRange { index, field, value, limit } => {
                kw.set_item("index", index)?;
                kw.set_item("field", field)?;
                kw.set_item("value", value)?;
                kw.set_item("limit", limit)?;
                "EventOutOfRangeError"
            }
            Error::ParameterOverflow { layer, parameter, value, range } => {
                kw.set_item("layer", layer)?;
                kw.set_item("parameter", parameter)?;
                kw.set_item("value", value)?;
                kw.set_item("range", range)?;
                "ParameterOverflowError"
            }
            Error::InvalidModel { layer, message } => {
                kw.set_item("layer", layer)?;
                kw.set_item("problem", message)?;
                "ModelError"
            }
            Error::ModelFormat { offset, message } => {
                kw.set_item("offset", offset)?;
                kw.set_item("problem", message)?;
                "ModelFormatError"
            }
            Error::Checkpoint { message } => {
                kw.set_item("problem", message)?;
                "CheckpointError"
            }
            Error::UnknownName { kind, name, known } => {
                kw.set_item("kind", kind)?;
                kw.set_item("name", name)?;
                kw.set_item("known", known)?;
                "UnknownNameError"
            }
            Error::EventFormat { format, offset, expected, found } => {
                kw.set_item("format", format)?;
                kw.set_item("offset", offset)?;
                kw.set_item("expected", expected)?;
                kw.set_item("found", found)?;
                "EventFormatError"
            }
            Error::Truncated { format, offset, expected, found } => {
                kw.set_item("format", format)?;
                kw.set_item("offset", offset)?;
                kw.set_item("expected", expected)?;
                kw.set_item("found", found)?;
                "TruncatedFileError"
            }
            Error::UnknownFormat { path, expected, found } => {
                kw.set_item("path", path)?;
                kw.set_item("expected", expected)?;
                kw.set_item("found", found)?;
                "UnknownFormatError"
            }
            Error::Io { path, kind, message } => {
                kw.set_item("path", path)?;
                kw.set_item("kind", kind)?;
                kw.set_item("problem", message)?;
                "EventIOError"
            }
            Error::Unencodable { format, index, message } => {
                kw.set_item("format", format)?;
                kw.set_item("index", index)?;
                kw.set_item("problem", message)?;
                "UnencodableEventsError"
            }
            Error::InvalidParameter { what, parameter, value, expected } => {
                kw.set_item("what", what)?;
                kw.set_item("parameter", parameter)?;
                kw.set_item("value", value)?;
                kw.set_item("expected", expected)?;
                "InvalidParameterError"
            }
        };
        let instance = module.getattr(class)?.call((message.clone(),), Some(&kw))?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|err| err)
}

/// The spike records as a `bytearray` (the Python side wraps it with `np.frombuffer`, which
/// costs half of a structured `view` per call; spikes are few, so the one copy is cheap).
fn spikes_out<'py>(py: Python<'py>, spikes: &[Spike]) -> Bound<'py, PyByteArray> {
    let mut out = Vec::with_capacity(spikes.len() * SPIKE_RECORD_BYTES);
    for s in spikes {
        s.write_le(&mut out);
    }
    PyByteArray::new(py, &out)
}

/// A compiled, validated, immutable network (shared by any number of engines).
#[pyclass(name = "CompiledModel", module = "snnedge._core", frozen)]
struct PyCompiledModel {
    net: Arc<NetworkParams>,
    metadata: std::collections::BTreeMap<String, String>,
}

fn compile(
    py: Python<'_>,
    spec: ModelSpec,
    metadata: std::collections::BTreeMap<String, String>,
) -> PyResult<PyCompiledModel> {
    let net = py.detach(|| NetworkParams::compile(&spec)).map_err(|e| to_py_err(py, e))?;
    Ok(PyCompiledModel { net: Arc::new(net), metadata })
}

#[pymethods]
impl PyCompiledModel {
    /// Compiles a model description given as msgpack bytes.
    #[staticmethod]
    fn from_spec_msgpack(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let spec = file::spec_from_msgpack(data).map_err(|e| to_py_err(py, e))?;
        compile(py, spec, Default::default())
    }

    /// Reads a `.snnm` model file from its bytes (header, checksum and payload checked).
    #[staticmethod]
    fn from_file_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let f = py.detach(|| file::read(data)).map_err(|e| to_py_err(py, e))?;
        compile(py, f.spec, f.metadata)
    }

    /// The `.snnm` bytes of this model with `metadata` (text keys and values).
    fn to_file_bytes<'py>(
        &self,
        py: Python<'py>,
        metadata: std::collections::BTreeMap<String, String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let f = ModelFile { spec: self.net.spec.clone(), metadata };
        let bytes = file::write(&f).map_err(|e| to_py_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The model description as msgpack bytes.
    fn spec_msgpack<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = file::spec_to_msgpack(&self.net.spec).map_err(|e| to_py_err(py, e))?;
        Ok(PyBytes::new(py, &b))
    }

    /// Metadata read from the model file (empty for models built in memory).
    #[getter]
    fn metadata(&self) -> std::collections::BTreeMap<String, String> {
        self.metadata.clone()
    }

    /// Model name.
    #[getter]
    fn name(&self) -> String {
        self.net.name.clone()
    }

    /// Tick length in microseconds.
    #[getter]
    fn tick_us(&self) -> u64 {
        self.net.tick_us
    }

    /// Input shape.
    #[getter]
    fn input_shape(&self) -> Vec<u32> {
        self.net.input_shape.clone()
    }

    /// Name of the output layer.
    #[getter]
    fn output(&self) -> String {
        self.net.layers[self.net.output].name.clone()
    }

    /// Layers in processing order: (name, neuron kind, shape).
    #[getter]
    fn layers(&self) -> Vec<(String, String, Vec<u32>)> {
        self.net.layers.iter().map(|l| (l.name.clone(), format!("{:?}", l.kind), l.shape.clone())).collect()
    }

    /// Total number of synapses (weights).
    #[getter]
    fn synapse_count(&self) -> u64 {
        self.net.synapse_count()
    }
}

/// Two int32 arrays (pre and post traces).
type ArrayPair<'py> = (Bound<'py, PyArray1<i32>>, Bound<'py, PyArray1<i32>>);

/// One stream through a compiled model.
#[pyclass(name = "Engine", module = "snnedge._core")]
struct PyEngine {
    inner: Engine,
}

fn raw_events<'a>(py: Python<'_>, bytes: &'a [u8]) -> PyResult<RawEvents<'a>> {
    RawEvents::new(bytes).ok_or_else(|| {
        to_py_err(
            py,
            Error::Shape {
                what: "event buffer".into(),
                expected: format!("a multiple of {EVENT_RECORD_BYTES} bytes"),
                found: format!("{} bytes", bytes.len()),
            },
        )
    })
}

impl PyEngine {
    fn feed_bytes(&mut self, py: Python<'_>, bytes: &[u8], out: &mut Vec<Spike>) -> PyResult<()> {
        let all = raw_events(py, bytes)?;
        let inner = &mut self.inner;
        if all.len() <= SHORT_CALL_EVENTS {
            // A few microseconds of work: releasing the GIL would cost a noticeable share.
            return inner.feed(&all, out).map_err(|e| to_py_err(py, e));
        }
        if all.len() <= EVENTS_PER_RELEASE {
            // One release of the GIL: `feed` validates the whole chunk before consuming any.
            return py.detach(|| inner.feed(&all, out)).map_err(|e| to_py_err(py, e));
        }
        py.detach(|| inner.validate(&all)).map_err(|e| to_py_err(py, e))?;
        for chunk in bytes.chunks(EVENTS_PER_RELEASE * EVENT_RECORD_BYTES) {
            let ev = raw_events(py, chunk)?;
            py.detach(|| inner.feed(&ev, out)).map_err(|e| to_py_err(py, e))?;
            py.check_signals()?;
        }
        Ok(())
    }

    fn advance_to_tick(&mut self, py: Python<'_>, end_tick: u64, out: &mut Vec<Spike>) -> PyResult<()> {
        let inner = &mut self.inner;
        loop {
            let step_end = inner.open_tick().saturating_add(TICKS_PER_RELEASE).min(end_tick);
            // Jump over idle stretches in one call: only ticks with work cost anything.
            let step_end = match inner.next_work_tick() {
                Some(k) if k > inner.open_tick() => step_end.max(k.saturating_add(1).min(end_tick)),
                None => end_tick,
                _ => step_end,
            };
            py.detach(|| inner.advance_ticks(step_end, out));
            if inner.open_tick() >= end_tick {
                return Ok(());
            }
            py.check_signals()?;
        }
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    fn new(model: &PyCompiledModel) -> Self {
        PyEngine { inner: Engine::new(model.net.clone()) }
    }

    /// Consumes the bytes of an EVENT_DTYPE array; returns the records of the final spikes.
    fn feed<'py>(&mut self, py: Python<'py>, events: PyReadonlyArray1<'py, u8>) -> PyResult<Bound<'py, PyByteArray>> {
        let mut out = Vec::new();
        self.feed_bytes(py, events.as_slice()?, &mut out)?;
        Ok(spikes_out(py, &out))
    }

    /// Computes every tick up to and including the one containing `t_us`.
    fn advance<'py>(&mut self, py: Python<'py>, t_us: u64) -> PyResult<Bound<'py, PyByteArray>> {
        let mut out = Vec::new();
        let end = (t_us / self.inner.network().tick_us).saturating_add(1);
        self.advance_to_tick(py, end, &mut out)?;
        Ok(spikes_out(py, &out))
    }

    /// `feed`, then advance to the last event's tick.
    fn run<'py>(&mut self, py: Python<'py>, events: PyReadonlyArray1<'py, u8>) -> PyResult<Bound<'py, PyByteArray>> {
        let bytes = events.as_slice()?;
        let mut out = Vec::new();
        self.feed_bytes(py, bytes, &mut out)?;
        if bytes.len() >= EVENT_RECORD_BYTES {
            let last = raw_events(py, &bytes[bytes.len() - EVENT_RECORD_BYTES..])?;
            let t = last.get(0).t;
            let end = (t / self.inner.network().tick_us).saturating_add(1);
            self.advance_to_tick(py, end, &mut out)?;
        }
        Ok(spikes_out(py, &out))
    }

    /// The whole mutable state as checkpoint file bytes.
    fn checkpoint_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let bytes = py
            .detach(|| inner.snapshot().and_then(|s| snnedge_core::checkpoint::encode(&s)))
            .map_err(|e| to_py_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// An engine restored from checkpoint bytes written for this model.
    #[staticmethod]
    fn from_checkpoint(py: Python<'_>, model: &PyCompiledModel, data: &[u8]) -> PyResult<Self> {
        let net = model.net.clone();
        let inner = py
            .detach(|| snnedge_core::checkpoint::decode(data).and_then(|s| Engine::from_snapshot(net, &s)))
            .map_err(|e| to_py_err(py, e))?;
        Ok(PyEngine { inner })
    }

    /// Back to the fresh state (states, time, counters).
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// First tick not yet complete.
    #[getter]
    fn open_tick(&self) -> u64 {
        self.inner.open_tick()
    }

    /// Whether nothing is moving and no delayed input is waiting.
    fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    /// A copy of a layer's state (flat, C-order): dict of int32/uint32 arrays.
    fn state<'py>(&mut self, py: Python<'py>, layer: &str) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.state(layer).map_err(|e| to_py_err(py, e))?;
        let d = PyDict::new(py);
        d.set_item("v", s.v.into_pyarray(py))?;
        if !s.i.is_empty() {
            d.set_item("i", s.i.into_pyarray(py))?;
        }
        if !s.theta.is_empty() {
            d.set_item("theta", s.theta.into_pyarray(py))?;
        }
        if !s.refractory.is_empty() {
            d.set_item("refractory", s.refractory.into_pyarray(py))?;
        }
        Ok(d)
    }

    /// Turns learning on or off on a plastic connection.
    fn set_learning(&mut self, py: Python<'_>, connection: &str, enabled: bool) -> PyResult<()> {
        self.inner.set_learning(connection, enabled).map_err(|e| to_py_err(py, e))
    }

    /// Changes the learning rates of a plastic connection.
    #[pyo3(signature = (connection, a_plus=None, a_minus=None))]
    fn set_learning_rates(
        &mut self,
        py: Python<'_>,
        connection: &str,
        a_plus: Option<i64>,
        a_minus: Option<i64>,
    ) -> PyResult<()> {
        self.inner.set_learning_rates(connection, a_plus, a_minus).map_err(|e| to_py_err(py, e))
    }

    /// The weights of a plastic connection: (n_out, n_in, flat int32 array, C-order).
    fn weights<'py>(&self, py: Python<'py>, connection: &str) -> PyResult<(Vec<usize>, Bound<'py, PyArray1<i32>>)> {
        let (shape, w) = self.inner.plastic_weights(connection).map_err(|e| to_py_err(py, e))?;
        Ok((shape, w.into_pyarray(py)))
    }

    /// Replaces the weights of a plastic connection (flat, in the order `weights` returns).
    fn set_weights(&mut self, py: Python<'_>, connection: &str, weights: Vec<i64>) -> PyResult<()> {
        self.inner.set_plastic_weights(connection, &weights).map_err(|e| to_py_err(py, e))
    }

    /// The traces of a plastic connection: (pre, post).
    fn traces<'py>(&self, py: Python<'py>, connection: &str) -> PyResult<ArrayPair<'py>> {
        let (x, y) = self.inner.plastic_traces(connection).map_err(|e| to_py_err(py, e))?;
        Ok((x.into_pyarray(py), y.into_pyarray(py)))
    }

    /// Delivers a reward (Q8) to reward-modulated connections in the tick containing `t_us`.
    fn reward(&mut self, py: Python<'_>, value: i64, t_us: u64) -> PyResult<()> {
        self.inner.reward(value, t_us).map_err(|e| to_py_err(py, e))
    }

    /// Scales each target neuron's incoming weights to sum to `target`.
    fn normalize_weights(&mut self, py: Python<'_>, connection: &str, target: i64) -> PyResult<()> {
        self.inner.normalize_weights(connection, target).map_err(|e| to_py_err(py, e))
    }

    /// Writes one state of a layer (v, i, theta, refractory), flat C-order values.
    fn set_state(&mut self, py: Python<'_>, layer: &str, field: &str, values: Vec<i64>) -> PyResult<()> {
        self.inner.set_state(layer, field, &values).map_err(|e| to_py_err(py, e))
    }

    /// Work counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("ticks", s.ticks)?;
        d.set_item("ticks_computed", s.ticks_computed)?;
        d.set_item("input_events", s.input_events)?;
        d.set_item("synops", s.synops)?;
        d.set_item("neuron_updates", s.neuron_updates)?;
        d.set_item("output_spikes", s.output_spikes)?;
        let names: Vec<String> = self.inner.network().layers.iter().map(|l| l.name.clone()).collect();
        let per = PyDict::new(py);
        for (n, c) in names.iter().zip(&s.layer_spikes) {
            per.set_item(n, c)?;
        }
        d.set_item("layer_spikes", per)?;
        Ok(d)
    }
}

/// The native core of snnedge.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCompiledModel>()?;
    m.add_class::<PyEngine>()?;
    encode::register(m)?;
    m.add("EVENT_RECORD_BYTES", EVENT_RECORD_BYTES)?;
    m.add("SPIKE_RECORD_BYTES", SPIKE_RECORD_BYTES)?;
    m.add("MODEL_FORMAT_VERSION", file::FORMAT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    io::register(m)?;
    Ok(())
}
