//! Bindings of the spike encoders (`snnedge_core::encode`): one class per encoder.
//!
//! Samples come in as flat, C-contiguous float64 (or uint8 for frames) arrays borrowed from
//! numpy; the Python layer (`snnedge/encode.py`) checks shapes and names. Events are written
//! without the GIL, in blocks between which Ctrl-C is checked (the encoders are streaming, so
//! cutting the input into blocks changes nothing), straight into the memory of the numpy
//! array that is returned (`uint64`, two words per `EVENT_DTYPE` record), see [`Output`].

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::IntoPyDict;

use snnedge_core::encode::audio::{AudioCode, AudioEncoder, AudioParams};
use snnedge_core::encode::delta::{DeltaEncoder, DeltaMode, DeltaParams};
use snnedge_core::encode::frames::{FrameEncoder, FrameParams};
use snnedge_core::encode::latency::{LatencyEncoder, LatencyMode, LatencyParams};
use snnedge_core::encode::population::{PopulationCode, PopulationEncoder, PopulationParams};
use snnedge_core::encode::rate::{RateEncoder, RateMode, RateParams};
use snnedge_core::encode::{Layout, SliceSink};
use snnedge_core::{Error, Event};

use crate::to_py_err;

/// Input values handed to an encoder per GIL release.
const VALUES_PER_RELEASE: usize = 1 << 18;

/// Largest first allocation made from a guess (events); estimates measured on the input
/// (exact counts, extrapolated densities) are not capped.
const MAX_GUESS_EVENTS: usize = 1 << 24;

type Events<'py> = Bound<'py, PyArray1<u64>>;

fn bad(what: &str, parameter: &str, value: &str, expected: &str) -> Error {
    Error::InvalidParameter {
        what: what.into(),
        parameter: parameter.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// Writes `events` as little-endian records into `words` (two words per event).
fn put_words(words: &mut [u64], events: &[Event]) {
    for (w, e) in words.chunks_exact_mut(2).zip(events) {
        w[0] = e.t.to_le();
        w[1] = (e.x as u64 | (e.y as u64) << 16 | (e.p as u64) << 32).to_le();
    }
}

/// The events of one call, written by the encoder into the numpy array that is returned.
///
/// Why not a `Vec` handed to numpy: a fresh `Vec` of tens of MB is page-faulted 4 KiB at a
/// time, which cost a third of the latency encoder's time; numpy puts large arrays on
/// transparent huge pages. So the array is allocated first, from an estimate (exact where
/// it is cheap, such as the latency code's count of values above threshold), the encoder
/// writes each event into it once through a [`SliceSink`], the array grows (`ndarray.resize`,
/// a `realloc` that remaps rather than copies large blocks) when the events of the input
/// not yet encoded would not fit at the density seen so far, and is cut to the events
/// written at the end. An estimate that is too low costs a copy of the events that spilled
/// (kept by the sink in order), never a wrong result.
struct Output<'py> {
    arr: Events<'py>,
    /// Events written.
    n: usize,
    /// Room in events.
    cap: usize,
}

impl<'py> Output<'py> {
    /// An array with room for `cap` events, from `numpy.empty`: `zeros` costs a `memset`
    /// of the whole array when the allocator reuses memory, and every slot handed to the
    /// encoder is written before the array is returned (the rest is cut off).
    fn new(py: Python<'py>, cap: usize) -> PyResult<Self> {
        let np = py.import("numpy")?;
        let arr = np.getattr("empty")?.call1((2 * cap, np.getattr("uint64")?))?;
        Ok(Output { arr: arr.cast_into::<PyArray1<u64>>()?, n: 0, cap })
    }

    /// Runs `f` with the GIL released on a sink over the free part of the array; events that
    /// did not fit are appended after growing the array. An error of `f` is raised after
    /// that (the events before it are dropped with the array).
    fn run(
        &mut self,
        py: Python<'py>,
        f: impl for<'a> FnOnce(&mut SliceSink<'a>) -> snnedge_core::Result<()> + Send,
    ) -> PyResult<()> {
        let n = self.n;
        let (result, written, overflow) = {
            let mut rw = self.arr.readwrite();
            let free = &mut rw.as_slice_mut()?[2 * n..];
            // numpy's data is at least 16-aligned, so the cast succeeds; if it ever failed,
            // every event would go through the overflow (slower, same result).
            let buf: &mut [Event] = bytemuck::try_cast_slice_mut(free).unwrap_or_default();
            py.detach(move || {
                let mut sink = SliceSink::new(buf);
                let result = f(&mut sink);
                let (written, overflow) = sink.into_parts();
                #[cfg(target_endian = "big")]
                for e in written.iter_mut() {
                    *e = Event::new(e.t.to_le(), e.x.to_le(), e.y.to_le(), e.p);
                }
                (result, written.len(), overflow)
            })
        };
        self.n += written;
        if !overflow.is_empty() {
            self.reserve(py, overflow.len())?;
            let mut rw = self.arr.readwrite();
            put_words(&mut rw.as_slice_mut()?[2 * self.n..], &overflow);
            self.n += overflow.len();
        }
        result.map_err(|e| to_py_err(py, e))
    }

    /// Makes room for `more` events after those written.
    fn reserve(&mut self, py: Python<'py>, more: usize) -> PyResult<()> {
        let need = self.n.saturating_add(more);
        if need > self.cap {
            self.resize(py, need.max(self.cap + self.cap / 2))?;
        }
        Ok(())
    }

    /// Makes room for the rest of the input, `done` values of which gave the events so far
    /// and `rest` remain, when the room left is short of the density seen (then with an
    /// eighth more).
    fn reserve_rest(&mut self, py: Python<'py>, done: usize, rest: usize) -> PyResult<()> {
        if rest == 0 || done == 0 {
            return Ok(());
        }
        let more = self.n as f64 / done as f64 * rest as f64;
        if self.n as f64 + more > self.cap as f64 {
            self.reserve(py, (more * 1.125) as usize + 1024)?;
        }
        Ok(())
    }

    fn resize(&mut self, py: Python<'py>, cap: usize) -> PyResult<()> {
        let kwargs = [("refcheck", false)].into_py_dict(py)?;
        self.arr.call_method("resize", ((2 * cap,),), Some(&kwargs))?;
        self.cap = cap;
        Ok(())
    }

    /// The array cut to the events written.
    fn finish(mut self, py: Python<'py>) -> PyResult<Events<'py>> {
        if self.cap != self.n {
            self.resize(py, self.n)?;
        }
        Ok(self.arr)
    }
}

/// Runs `f` over `data` in blocks of whole samples (`unit` values each), releasing the GIL
/// for each block and checking for Ctrl-C between blocks; `hint` sizes the output (events).
fn blocks<'py, T: Sync>(
    py: Python<'py>,
    data: &[T],
    unit: usize,
    hint: usize,
    mut f: impl FnMut(&[T], &mut SliceSink<'_>) -> snnedge_core::Result<()> + Send,
) -> PyResult<Events<'py>> {
    let mut out = Output::new(py, hint)?;
    let unit = unit.max(1);
    // Short inputs, and inputs the core will reject whole (not a whole number of samples),
    // go in one call: nothing is consumed before an error.
    if data.len() <= 4096 || !data.len().is_multiple_of(unit) {
        out.run(py, |sink| f(data, sink))?;
    } else {
        let per = (VALUES_PER_RELEASE / unit).max(1) * unit;
        let mut done = 0;
        for block in data.chunks(per) {
            out.run(py, |sink| f(block, sink))?;
            done += block.len();
            out.reserve_rest(py, done, data.len() - done)?;
            py.check_signals()?;
        }
    }
    out.finish(py)
}

/// A first output size for encoders whose event count is not known in advance.
fn guess(values: usize, events_per_value: f64) -> usize {
    ((values as f64 * events_per_value) as usize).clamp(1024, MAX_GUESS_EVENTS)
}

fn layout(py: Python<'_>, what: &str, n_channels: usize, width: usize) -> PyResult<Layout> {
    let l = Layout { n_channels, width };
    l.check(what).map_err(|e| to_py_err(py, e))?;
    Ok(l)
}

/// Rate coding (Poisson or regular spike trains).
#[pyclass(name = "RateEncoder", module = "snnedge._core")]
pub struct PyRateEncoder {
    inner: RateEncoder,
}

#[pymethods]
impl PyRateEncoder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_channels: usize,
        width: usize,
        dt_us: u64,
        max_rate_hz: f64,
        mode: &str,
        seed: u64,
        t0_us: u64,
    ) -> PyResult<Self> {
        let mode = match mode {
            "poisson" => RateMode::Poisson,
            "regular" => RateMode::Regular,
            other => return Err(to_py_err(py, bad("rate encoder", "mode", other, "'poisson' or 'regular'"))),
        };
        let params = RateParams {
            layout: layout(py, "rate encoder", n_channels, width)?,
            dt_us,
            max_rate_hz,
            mode,
            seed,
            t0_us,
        };
        Ok(PyRateEncoder { inner: RateEncoder::new(params).map_err(|e| to_py_err(py, e))? })
    }

    /// Encodes whole steps of every channel (flat, step-major).
    #[pyo3(signature = (samples, t_us=None))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        samples: PyReadonlyArray1<'py, f64>,
        t_us: Option<u64>,
    ) -> PyResult<Events<'py>> {
        if let Some(t) = t_us {
            self.inner.set_time(t).map_err(|e| to_py_err(py, e))?;
        }
        let n = self.inner.params().layout.n_channels;
        let samples = samples.as_slice()?;
        let inner = &mut self.inner;
        // One pass over the input (without the GIL) sizes the output.
        let hint = py.detach(|| inner.expected_events(samples, 1));
        blocks(py, samples, n, hint, |b, out| inner.push(b, out))
    }

    /// Encodes one value per channel held for `steps` steps.
    #[pyo3(signature = (values, steps, t_us=None))]
    fn hold<'py>(
        &mut self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
        steps: u64,
        t_us: Option<u64>,
    ) -> PyResult<Events<'py>> {
        if let Some(t) = t_us {
            self.inner.set_time(t).map_err(|e| to_py_err(py, e))?;
        }
        let values = values.as_slice()?;
        let n = self.inner.params().layout.n_channels.max(1) as u64;
        let per = (VALUES_PER_RELEASE as u64 / n).max(1);
        let mut out = Output::new(py, self.inner.expected_events(values, steps))?;
        let mut left = steps;
        let inner = &mut self.inner;
        loop {
            let now = left.min(per);
            out.run(py, |sink| inner.hold(values, now, sink))?;
            left -= now;
            if left == 0 {
                break;
            }
            out.reserve_rest(py, (steps - left) as usize, left as usize)?;
            py.check_signals()?;
        }
        out.finish(py)
    }

    /// Back to the initial state.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Index of the next step.
    #[getter]
    fn next_step(&self) -> u64 {
        self.inner.clock().next_index()
    }

    /// Time of the next step in microseconds.
    #[getter]
    fn time_us(&self) -> u64 {
        self.inner.clock().next_time()
    }
}

/// Latency (time-to-first-spike) coding.
#[pyclass(name = "LatencyEncoder", module = "snnedge._core")]
pub struct PyLatencyEncoder {
    inner: LatencyEncoder,
}

#[pymethods]
impl PyLatencyEncoder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_channels: usize,
        width: usize,
        num_steps: u32,
        dt_us: u64,
        mode: &str,
        threshold: f64,
        t0_us: u64,
    ) -> PyResult<Self> {
        let mode = match mode {
            "linear" => LatencyMode::Linear,
            "log" => LatencyMode::Log,
            other => return Err(to_py_err(py, bad("latency encoder", "mode", other, "'linear' or 'log'"))),
        };
        let params = LatencyParams {
            layout: layout(py, "latency encoder", n_channels, width)?,
            num_steps,
            dt_us,
            mode,
            threshold,
            t0_us,
        };
        Ok(PyLatencyEncoder { inner: LatencyEncoder::new(params).map_err(|e| to_py_err(py, e))? })
    }

    /// Encodes whole samples of every channel, one window each.
    #[pyo3(signature = (samples, t_us=None))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        samples: PyReadonlyArray1<'py, f64>,
        t_us: Option<u64>,
    ) -> PyResult<Events<'py>> {
        if let Some(t) = t_us {
            self.inner.set_time(t).map_err(|e| to_py_err(py, e))?;
        }
        let n = self.inner.params().layout.n_channels;
        let samples = samples.as_slice()?;
        let inner = &mut self.inner;
        // The exact count (one compare per value) sizes the output once.
        let hint = py.detach(|| inner.count_events(samples));
        blocks(py, samples, n, hint, |b, out| inner.push(b, out))
    }

    /// Back to the initial state.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Index of the next step.
    #[getter]
    fn next_step(&self) -> u64 {
        self.inner.clock().next_index()
    }

    /// Time of the next window's first step in microseconds.
    #[getter]
    fn time_us(&self) -> u64 {
        self.inner.clock().next_time()
    }
}

/// Population coding with Gaussian receptive fields.
#[pyclass(name = "PopulationEncoder", module = "snnedge._core")]
pub struct PyPopulationEncoder {
    inner: PopulationEncoder,
}

#[pymethods]
impl PyPopulationEncoder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_channels: usize,
        n_neurons: usize,
        lo: f64,
        hi: f64,
        sigma: f64,
        num_steps: u32,
        dt_us: u64,
        code: &str,
        threshold: f64,
        max_rate_hz: f64,
        seed: u64,
        t0_us: u64,
    ) -> PyResult<Self> {
        let code = match code {
            "latency" => PopulationCode::Latency { threshold },
            "poisson" => PopulationCode::Rate { max_rate_hz, mode: RateMode::Poisson, seed },
            "regular" => PopulationCode::Rate { max_rate_hz, mode: RateMode::Regular, seed },
            other => {
                return Err(to_py_err(
                    py,
                    bad("population encoder", "code", other, "'latency', 'poisson' or 'regular'"),
                ))
            }
        };
        let params = PopulationParams { n_channels, n_neurons, lo, hi, sigma, num_steps, dt_us, code, t0_us };
        Ok(PyPopulationEncoder { inner: PopulationEncoder::new(params).map_err(|e| to_py_err(py, e))? })
    }

    /// Encodes whole samples of every channel, one window each.
    #[pyo3(signature = (samples, t_us=None))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        samples: PyReadonlyArray1<'py, f64>,
        t_us: Option<u64>,
    ) -> PyResult<Events<'py>> {
        if let Some(t) = t_us {
            self.inner.set_time(t).map_err(|e| to_py_err(py, e))?;
        }
        let n = self.inner.params().n_channels;
        let samples = samples.as_slice()?;
        let hint = self.inner.events_hint(samples.len()).min(MAX_GUESS_EVENTS);
        let inner = &mut self.inner;
        blocks(py, samples, n, hint, |b, out| inner.push(b, out))
    }

    /// Back to the initial state.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Centres of the receptive fields.
    #[getter]
    fn centres(&self) -> Vec<f64> {
        self.inner.centres().to_vec()
    }

    /// Time of the next window's first step in microseconds.
    #[getter]
    fn time_us(&self) -> u64 {
        self.inner.clock().next_time()
    }
}

/// Delta coding of multichannel analog streams.
#[pyclass(name = "DeltaEncoder", module = "snnedge._core")]
pub struct PyDeltaEncoder {
    inner: DeltaEncoder,
}

#[pymethods]
impl PyDeltaEncoder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_channels: usize,
        threshold_on: Vec<f64>,
        threshold_off: Vec<f64>,
        mode: &str,
        refractory_us: u64,
        initial: Option<Vec<f64>>,
        max_events_per_sample: u32,
        period_num: u64,
        period_den: u64,
        t0_us: u64,
    ) -> PyResult<Self> {
        let mode = match mode {
            "level" => DeltaMode::Level,
            "send_on_delta" => DeltaMode::SendOnDelta,
            "sigma_delta" => DeltaMode::SigmaDelta,
            other => {
                return Err(to_py_err(
                    py,
                    bad("delta encoder", "mode", other, "'level', 'send_on_delta' or 'sigma_delta'"),
                ))
            }
        };
        let params = DeltaParams {
            layout: layout(py, "delta encoder", n_channels, n_channels)?,
            threshold_on,
            threshold_off,
            mode,
            refractory_us,
            initial,
            max_events_per_sample,
            period_num,
            period_den,
            t0_us,
        };
        Ok(PyDeltaEncoder { inner: DeltaEncoder::new(params).map_err(|e| to_py_err(py, e))? })
    }

    /// Encodes whole samples of every channel (flat, sample-major).
    #[pyo3(signature = (samples, t_us=None))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        samples: PyReadonlyArray1<'py, f64>,
        t_us: Option<u64>,
    ) -> PyResult<Events<'py>> {
        if let Some(t) = t_us {
            self.inner.set_time(t).map_err(|e| to_py_err(py, e))?;
        }
        let n = self.inner.params().layout.n_channels;
        let samples = samples.as_slice()?;
        let inner = &mut self.inner;
        blocks(py, samples, n, guess(samples.len(), 0.25), |b, out| inner.push(b, out))
    }

    /// Back to the initial state.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// The reference (level, send-on-delta) or integrator (sigma-delta) of each channel.
    #[getter]
    fn state(&self) -> Vec<f64> {
        self.inner.state().to_vec()
    }

    /// Index of the next sample.
    #[getter]
    fn next_sample(&self) -> u64 {
        self.inner.clock().next_index()
    }

    /// Time of the next sample in microseconds.
    #[getter]
    fn time_us(&self) -> u64 {
        self.inner.clock().next_time()
    }
}

/// The audio front end (filterbank, rectifier, delta or LIF per band).
#[pyclass(name = "AudioEncoder", module = "snnedge._core")]
pub struct PyAudioEncoder {
    inner: AudioEncoder,
}

#[pymethods]
impl PyAudioEncoder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sample_rate_hz: u32,
        n_channels: usize,
        f_lo: f64,
        f_hi: f64,
        q: Option<f64>,
        code: &str,
        threshold: f64,
        envelope_hz: f64,
        log_floor: f64,
        tau_s: f64,
        refractory_us: u64,
        t0_us: u64,
    ) -> PyResult<Self> {
        let code = match code {
            "delta" => AudioCode::Delta { threshold, envelope_hz, log_floor },
            "lif" => AudioCode::Lif { threshold, tau_s },
            other => return Err(to_py_err(py, bad("audio encoder", "encoder", other, "'delta' or 'lif'"))),
        };
        let params = AudioParams { sample_rate_hz, n_channels, f_lo, f_hi, q, code, refractory_us, t0_us };
        Ok(PyAudioEncoder { inner: AudioEncoder::new(params).map_err(|e| to_py_err(py, e))? })
    }

    /// Encodes mono samples (full scale ±1).
    #[pyo3(signature = (samples, t_us=None))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        samples: PyReadonlyArray1<'py, f64>,
        t_us: Option<u64>,
    ) -> PyResult<Events<'py>> {
        if let Some(t) = t_us {
            self.inner.set_time(t).map_err(|e| to_py_err(py, e))?;
        }
        let bands = self.inner.params().n_channels;
        let samples = samples.as_slice()?;
        let hint = guess(samples.len(), 0.05 * bands as f64);
        let inner = &mut self.inner;
        // Each sample costs one filter per band: size the blocks in filter updates.
        blocks(py, samples, 1, hint, move |b, out| {
            for part in b.chunks((VALUES_PER_RELEASE / bands.max(1)).max(1)) {
                inner.push(part, out)?;
            }
            Ok(())
        })
    }

    /// Back to the initial state.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Centre frequencies of the bands in Hz.
    #[getter]
    fn centres(&self) -> Vec<f64> {
        self.inner.centres().to_vec()
    }

    /// The quality factor of the band-pass filters.
    #[getter]
    fn q(&self) -> f64 {
        self.inner.q()
    }

    /// Index of the next sample.
    #[getter]
    fn next_sample(&self) -> u64 {
        self.inner.clock().next_index()
    }

    /// Time of the next sample in microseconds.
    #[getter]
    fn time_us(&self) -> u64 {
        self.inner.clock().next_time()
    }
}

/// The frame-to-event camera emulator.
#[pyclass(name = "FrameEncoder", module = "snnedge._core")]
pub struct PyFrameEncoder {
    inner: FrameEncoder,
}

#[pymethods]
impl PyFrameEncoder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        width: usize,
        height: usize,
        threshold_on: f64,
        threshold_off: f64,
        threshold_sigma: f64,
        refractory_us: u64,
        shot_noise_rate_hz: f64,
        log_eps: f64,
        max_events_per_frame: u32,
        seed: u64,
    ) -> PyResult<Self> {
        let params = FrameParams {
            width,
            height,
            threshold_on,
            threshold_off,
            threshold_sigma,
            refractory_us,
            shot_noise_rate_hz,
            log_eps,
            max_events_per_frame,
            seed,
        };
        Ok(PyFrameEncoder { inner: FrameEncoder::new(params).map_err(|e| to_py_err(py, e))? })
    }

    /// Encodes 8-bit frames (flat, frame-major) with one timestamp each.
    fn push_u8<'py>(
        &mut self,
        py: Python<'py>,
        frames: PyReadonlyArray1<'py, u8>,
        t_us: PyReadonlyArray1<'py, u64>,
    ) -> PyResult<Events<'py>> {
        let p = self.inner.params();
        let n = p.width * p.height;
        let (frames, times) = (frames.as_slice()?, t_us.as_slice()?);
        let inner = &mut self.inner;
        frame_blocks(py, frames, times, n, |f, t, out| inner.push_u8(f, t, out))
    }

    /// Encodes frames of intensities in [0, 1] (flat, frame-major) with one timestamp each.
    fn push_f64<'py>(
        &mut self,
        py: Python<'py>,
        frames: PyReadonlyArray1<'py, f64>,
        t_us: PyReadonlyArray1<'py, u64>,
    ) -> PyResult<Events<'py>> {
        let p = self.inner.params();
        let n = p.width * p.height;
        let (frames, times) = (frames.as_slice()?, t_us.as_slice()?);
        let inner = &mut self.inner;
        frame_blocks(py, frames, times, n, |f, t, out| inner.push_f64(f, t, out))
    }

    /// Back to the initial state.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Frames consumed so far.
    #[getter]
    fn frames_seen(&self) -> u64 {
        self.inner.frames_seen()
    }

    /// Time of the last frame in microseconds (0 before any).
    #[getter]
    fn last_frame_us(&self) -> u64 {
        self.inner.last_frame_us()
    }

    /// Per-pixel ON thresholds (flat, row-major).
    fn thresholds_on<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.thresholds_on())
    }

    /// Per-pixel OFF thresholds (flat, row-major).
    fn thresholds_off<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.thresholds_off())
    }
}

/// Runs `f` over frames in blocks of whole frames with their timestamps (GIL released per
/// block, Ctrl-C checked between blocks). A length mismatch is reported by the core.
fn frame_blocks<'py, T: Sync>(
    py: Python<'py>,
    frames: &[T],
    times: &[u64],
    pixels: usize,
    mut f: impl FnMut(&[T], &[u64], &mut SliceSink<'_>) -> snnedge_core::Result<()> + Send,
) -> PyResult<Events<'py>> {
    // A guess of one event per pixel and frame (a busy scene); from the first block on, the
    // density seen.
    let mut out = Output::new(py, guess(frames.len(), 1.0))?;
    if frames.len() != times.len().saturating_mul(pixels) || pixels == 0 {
        out.run(py, |sink| f(frames, times, sink))?;
        return out.finish(py);
    }
    let per = (VALUES_PER_RELEASE / pixels).max(1);
    let mut done = 0;
    for (block, t) in frames.chunks(per * pixels).zip(times.chunks(per)) {
        out.run(py, |sink| f(block, t, sink))?;
        done += block.len();
        out.reserve_rest(py, done, frames.len() - done)?;
        py.check_signals()?;
    }
    out.finish(py)
}

/// Adds the encoder classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRateEncoder>()?;
    m.add_class::<PyLatencyEncoder>()?;
    m.add_class::<PyPopulationEncoder>()?;
    m.add_class::<PyDeltaEncoder>()?;
    m.add_class::<PyAudioEncoder>()?;
    m.add_class::<PyFrameEncoder>()?;
    Ok(())
}
