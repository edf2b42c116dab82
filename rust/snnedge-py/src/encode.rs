//! Bindings of the spike encoders (`snnedge_core::encode`): one class per encoder.
//!
//! Samples come in as flat, C-contiguous float64 (or uint8 for frames) arrays borrowed from
//! numpy; the Python layer (`snnedge/encode.py`) checks shapes and names. Events are built
//! as `EVENT_DTYPE` record bytes without the GIL, in blocks between which Ctrl-C is checked
//! (the encoders are streaming, so cutting the input into blocks changes nothing), and the
//! buffer is moved into numpy.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use snnedge_core::encode::audio::{AudioCode, AudioEncoder, AudioParams};
use snnedge_core::encode::delta::{DeltaEncoder, DeltaMode, DeltaParams};
use snnedge_core::encode::frames::{FrameEncoder, FrameParams};
use snnedge_core::encode::latency::{LatencyEncoder, LatencyMode, LatencyParams};
use snnedge_core::encode::population::{PopulationCode, PopulationEncoder, PopulationParams};
use snnedge_core::encode::rate::{RateEncoder, RateMode, RateParams};
use snnedge_core::encode::{EventRecords, Layout};
use snnedge_core::Error;

use crate::to_py_err;

/// Input values handed to an encoder per GIL release.
const VALUES_PER_RELEASE: usize = 1 << 18;

type Events<'py> = Bound<'py, PyArray1<u8>>;

fn bad(what: &str, parameter: &str, value: &str, expected: &str) -> Error {
    Error::InvalidParameter {
        what: what.into(),
        parameter: parameter.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// Runs `f` over `data` in blocks of whole samples (`unit` values each), releasing the GIL
/// for each block and checking for Ctrl-C between blocks; returns the record bytes.
fn blocks<'py, T: Sync>(
    py: Python<'py>,
    data: &[T],
    unit: usize,
    mut f: impl FnMut(&[T], &mut EventRecords) -> snnedge_core::Result<()> + Send,
) -> PyResult<Events<'py>> {
    let mut out = EventRecords::new();
    let unit = unit.max(1);
    // Short inputs, and inputs the core will reject whole (not a whole number of samples),
    // go in one call: nothing is consumed before an error.
    if data.len() <= 4096 || !data.len().is_multiple_of(unit) {
        f(data, &mut out).map_err(|e| to_py_err(py, e))?;
    } else {
        let per = (VALUES_PER_RELEASE / unit).max(1) * unit;
        for block in data.chunks(per) {
            py.detach(|| f(block, &mut out)).map_err(|e| to_py_err(py, e))?;
            py.check_signals()?;
        }
    }
    Ok(out.bytes.into_pyarray(py))
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
        let inner = &mut self.inner;
        blocks(py, samples.as_slice()?, n, |b, out| inner.push(b, out))
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
        let mut out = EventRecords::new();
        let mut left = steps;
        let inner = &mut self.inner;
        loop {
            let now = left.min(per);
            py.detach(|| inner.hold(values, now, &mut out)).map_err(|e| to_py_err(py, e))?;
            left -= now;
            if left == 0 {
                break;
            }
            py.check_signals()?;
        }
        Ok(out.bytes.into_pyarray(py))
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
        let inner = &mut self.inner;
        blocks(py, samples.as_slice()?, n, |b, out| inner.push(b, out))
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
        let inner = &mut self.inner;
        blocks(py, samples.as_slice()?, n, |b, out| inner.push(b, out))
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
        let inner = &mut self.inner;
        blocks(py, samples.as_slice()?, n, |b, out| inner.push(b, out))
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
        let inner = &mut self.inner;
        // Each sample costs one filter per band: size the blocks in filter updates.
        blocks(py, samples.as_slice()?, 1, move |b, out| {
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
        self.inner.thresholds_on().to_vec().into_pyarray(py)
    }

    /// Per-pixel OFF thresholds (flat, row-major).
    fn thresholds_off<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.thresholds_off().to_vec().into_pyarray(py)
    }
}

/// Runs `f` over frames in blocks of whole frames with their timestamps (GIL released per
/// block, Ctrl-C checked between blocks). A length mismatch is reported by the core.
fn frame_blocks<'py, T: Sync>(
    py: Python<'py>,
    frames: &[T],
    times: &[u64],
    pixels: usize,
    mut f: impl FnMut(&[T], &[u64], &mut EventRecords) -> snnedge_core::Result<()> + Send,
) -> PyResult<Events<'py>> {
    let mut out = EventRecords::new();
    if frames.len() != times.len().saturating_mul(pixels) || pixels == 0 {
        f(frames, times, &mut out).map_err(|e| to_py_err(py, e))?;
        return Ok(out.bytes.into_pyarray(py));
    }
    let per = (VALUES_PER_RELEASE / pixels).max(1);
    for (block, t) in frames.chunks(per * pixels).zip(times.chunks(per)) {
        py.detach(|| f(block, t, &mut out)).map_err(|e| to_py_err(py, e))?;
        py.check_signals()?;
    }
    Ok(out.bytes.into_pyarray(py))
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
