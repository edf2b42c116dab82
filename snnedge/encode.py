"""Spike encoders: ordinary signals, images, audio and video turned into event streams.

Every encoder returns ``EVENT_DTYPE`` arrays sorted by time: the channel is on ``x`` (and
``y`` for images: ``x`` column, ``y`` row), the polarity on ``p`` (1 ON / increase, 0 OFF /
decrease). The work is done by the Rust core (``snnedge-core/src/encode``):

- **streaming**: each encoder class keeps its state between calls, so ``push`` on chunks of
  any size gives the same events, bit for bit, as one call on the whole input;
- **deterministic**: random draws are counter-based, keyed on ``(seed, channel, step)``.

One-shot functions and their streaming classes::

    import numpy as np, snnedge as se
    ev = se.encode.rate(image, num_steps=100, seed=1)          # Poisson spike trains
    ev = se.encode.latency(image, num_steps=32)                # one spike per pixel, early = bright
    ev = se.encode.population(values, n_neurons=10, lo=-1, hi=1)
    ev = se.encode.delta(imu, threshold=0.05, sample_rate_hz=200)
    ev = se.encode.audio(samples, sample_rate_hz=16000)        # cochlea-like events, x = band
    ev = se.encode.frames_to_events(video, fps=30)             # DVS-like events, sensor size of the input

    enc = se.encode.DeltaEncoder(6, threshold=0.05, sample_rate_hz=200)
    for chunk in sensor:                                       # live use
        events = enc.push(chunk)                               # (samples, channels)

Sources: ``wav_to_events`` / ``iter_wav_events`` (a WAV file through the audio front end,
read with the standard ``wave`` module), ``read_image_folder`` and ``images_to_events`` (an
image sequence through the latency, rate or frame encoder).

``docs/encoders.md`` shows each encoder's signal and raster and gives the exact formulas.
"""
from __future__ import annotations

import importlib
import os
import wave
from fractions import Fraction
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from .errors import InvalidParameterError, ShapeError
from .events import EVENT_DTYPE

Shape = Union[int, Sequence[int]]

__all__ = [
    "rate", "latency", "population", "delta", "audio", "frames_to_events",
    "RateEncoder", "LatencyEncoder", "PopulationEncoder", "DeltaEncoder", "AudioEncoder", "FrameEncoder",
    "read_wav", "wav_to_events", "iter_wav_events", "read_image_folder", "images_to_events",
]


# ---- helpers ---------------------------------------------------------------------------------

def _events(raw: Any) -> np.ndarray:
    """The records written by the core (uint64 words, two per event) as an ``EVENT_DTYPE`` array (no copy)."""
    return np.asarray(raw).view(EVENT_DTYPE)


def _bad(what: str, parameter: str, value: Any, expected: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"{what}: parameter {parameter} = {value!r} is not accepted (expected {expected})",
        what=what, parameter=parameter, value=repr(value), expected=expected,
    )


def _shape(shape: Shape, what: str) -> Tuple[int, ...]:
    s = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if len(s) not in (1, 2) or min(s) < 1:
        raise ShapeError(f"{what}: expected a shape (channels,) or (height, width), found {s}",
                         what=what, expected="(channels,) or (height, width)", found=str(s))
    return s


def _width(shape: Tuple[int, ...]) -> int:
    return shape[-1]


def _as_float(data: Any, what: str, scale_ints: bool) -> np.ndarray:
    """``data`` as float64; integer arrays are divided by their dtype's maximum when asked."""
    arr = np.asarray(data)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64) / (float(np.iinfo(arr.dtype).max) if scale_ints else 1.0)
    elif not np.issubdtype(arr.dtype, np.floating):
        raise ShapeError(f"{what}: expected numbers, found dtype {arr.dtype}",
                         what=what, expected="a numeric array", found=str(arr.dtype))
    return np.ascontiguousarray(arr, dtype=np.float64)


def _frames_of(data: Any, shape: Tuple[int, ...], what: str, scale_ints: bool) -> np.ndarray:
    """Samples shaped ``shape`` (one) or ``(N, *shape)`` (N), flattened sample-major."""
    arr = _as_float(data, what, scale_ints)
    if arr.shape == shape:
        return arr.reshape(-1)
    if arr.ndim == len(shape) + 1 and arr.shape[1:] == shape:
        return arr.reshape(-1)
    if len(shape) == 1 and shape[0] == 1 and arr.ndim == 1:
        return arr  # one channel: a 1-D array is a sequence of samples
    raise ShapeError(f"{what}: expected samples of shape {shape} or (N, *{shape}), found {arr.shape}",
                     what=what, expected=f"{shape} or (N, *{shape})", found=str(arr.shape))


def _period(sample_rate_hz: float, what: str) -> Tuple[int, int]:
    """The sample period ``10^6 / sample_rate_hz`` µs as an exact fraction (num, den)."""
    try:
        rate = Fraction(repr(float(sample_rate_hz)))
    except (TypeError, ValueError):
        raise _bad(what, "sample_rate_hz", sample_rate_hz, "a finite number > 0") from None
    if not rate > 0:
        raise _bad(what, "sample_rate_hz", sample_rate_hz, "a finite number > 0")
    period = Fraction(10**6) / rate
    if period.numerator >= 2**64 or period.denominator >= 2**64:
        raise _bad(what, "sample_rate_hz", sample_rate_hz, "a rate whose period fits 64-bit integers")
    return period.numerator, period.denominator


def _t(t_us: Optional[int]) -> Optional[int]:
    if t_us is None:
        return None
    t = int(t_us)
    if t < 0:
        raise _bad("encoder", "t_us", t_us, ">= 0")
    return t


def _per_channel(value: Any, n: int, what: str, name: str) -> list:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)) if np.ndim(value) == 0 else np.asarray(value, np.float64)
    if arr.shape != (n,):
        raise ShapeError(f"{what}: {name} must be a scalar or one value per channel ({n}), found shape {arr.shape}",
                         what=f"{what} {name}", expected=f"() or ({n},)", found=str(arr.shape))
    return [float(v) for v in arr]


# ---- rate ------------------------------------------------------------------------------------

class RateEncoder:
    """Rate coding: each step of ``dt_us``, channel ``c`` spikes with probability
    ``min(v · max_rate_hz · dt_us / 10^6, 1)`` (``mode="poisson"``, seeded Bernoulli draws), or
    at evenly spaced steps with the same mean rate (``mode="regular"``).

    ``shape`` is ``(channels,)`` (events on ``x``) or ``(height, width)`` (``x``, ``y``).
    ``max_rate_hz`` defaults to ``10^6 / dt_us``, so the probability per step equals the
    intensity (snnTorch's ``spikegen.rate``). Integer arrays are scaled by their dtype's
    maximum (uint8 images: /255).
    """

    def __init__(self, shape: Shape, *, dt_us: int = 1000, max_rate_hz: Optional[float] = None,
                 mode: str = "poisson", seed: int = 0, t0_us: int = 0) -> None:
        self.shape = _shape(shape, "rate encoder")
        self.dt_us = int(dt_us)
        if self.dt_us <= 0:
            raise _bad("rate encoder", "dt_us", dt_us, "> 0")
        self.max_rate_hz = 1e6 / self.dt_us if max_rate_hz is None else float(max_rate_hz)
        n = int(np.prod(self.shape))
        self._core = _core.RateEncoder(n, _width(self.shape), self.dt_us, self.max_rate_hz, mode,
                                       int(seed), int(t0_us))

    def push(self, samples: Any, t_us: Optional[int] = None) -> np.ndarray:
        """Encodes intensities of shape ``(T, *shape)`` (T steps) or ``shape`` (one step).
        ``t_us`` pins the first step to that time (default: continue the step clock)."""
        flat = _frames_of(samples, self.shape, "rate encoder samples", True)
        return _events(self._core.push(flat, _t(t_us)))

    def hold(self, values: Any, num_steps: int, t_us: Optional[int] = None) -> np.ndarray:
        """Encodes one intensity per channel (shape ``shape``) held for ``num_steps`` steps."""
        flat = _as_float(values, "rate encoder values", True)
        if flat.shape != self.shape:
            raise ShapeError(f"rate encoder values: expected shape {self.shape}, found {flat.shape}",
                             what="rate encoder values", expected=str(self.shape), found=str(flat.shape))
        if int(num_steps) < 0:
            raise _bad("rate encoder", "num_steps", num_steps, ">= 0")
        return _events(self._core.hold(flat.reshape(-1), int(num_steps), _t(t_us)))

    def reset(self) -> None:
        """Back to step 0 at ``t0_us`` with empty accumulators."""
        self._core.reset()

    @property
    def time_us(self) -> int:
        """Time of the next step."""
        return int(self._core.time_us)


def rate(data: Any, num_steps: Optional[int] = None, *, dt_us: int = 1000, max_rate_hz: Optional[float] = None,
         mode: str = "poisson", seed: int = 0, t0_us: int = 0) -> np.ndarray:
    """Rate-codes ``data``: with ``num_steps``, ``data`` (shape ``(C,)`` or ``(H, W)``) is held
    for that many steps; without, its first axis is time. See ``RateEncoder``."""
    arr = np.asarray(data)
    if num_steps is None:
        if arr.ndim < 2:
            raise ShapeError("rate: without num_steps, data must be (T, C) or (T, H, W)",
                             what="rate data", expected="(T, C) or (T, H, W)", found=str(arr.shape))
        enc = RateEncoder(arr.shape[1:], dt_us=dt_us, max_rate_hz=max_rate_hz, mode=mode, seed=seed, t0_us=t0_us)
        return enc.push(arr)
    enc = RateEncoder(arr.shape, dt_us=dt_us, max_rate_hz=max_rate_hz, mode=mode, seed=seed, t0_us=t0_us)
    return enc.hold(arr, num_steps)


# ---- latency ---------------------------------------------------------------------------------

class LatencyEncoder:
    """Latency (time-to-first-spike) coding: each sample gets a window of ``num_steps`` steps
    of ``dt_us``, and each channel with intensity ``v >= threshold`` spikes once in it, at step
    ``round((1 - v)(num_steps - 1))`` (``mode="linear"``) or ``round(ln v / ln threshold ·
    (num_steps - 1))`` (``mode="log"``). Stronger inputs never fire later."""

    def __init__(self, shape: Shape, num_steps: int, *, dt_us: int = 1000, mode: str = "linear",
                 threshold: float = 0.01, t0_us: int = 0) -> None:
        self.shape = _shape(shape, "latency encoder")
        self.num_steps = int(num_steps)
        self.dt_us = int(dt_us)
        if self.num_steps < 1:
            raise _bad("latency encoder", "num_steps", num_steps, ">= 1")
        if self.dt_us <= 0:
            raise _bad("latency encoder", "dt_us", dt_us, "> 0")
        n = int(np.prod(self.shape))
        self._core = _core.LatencyEncoder(n, _width(self.shape), self.num_steps, self.dt_us, mode,
                                          float(threshold), int(t0_us))

    @property
    def window_us(self) -> int:
        """Length of one sample's window."""
        return self.num_steps * self.dt_us

    def push(self, samples: Any, t_us: Optional[int] = None) -> np.ndarray:
        """Encodes samples of shape ``(N, *shape)`` (N windows) or ``shape`` (one window)."""
        flat = _frames_of(samples, self.shape, "latency encoder samples", True)
        return _events(self._core.push(flat, _t(t_us)))

    def reset(self) -> None:
        """Back to step 0 at ``t0_us``."""
        self._core.reset()

    @property
    def time_us(self) -> int:
        """Start of the next window."""
        return int(self._core.time_us)


def latency(data: Any, num_steps: int, *, dt_us: int = 1000, mode: str = "linear", threshold: float = 0.01,
            t0_us: int = 0) -> np.ndarray:
    """Latency-codes one sample ``data`` (shape ``(C,)`` or ``(H, W)``) in a window of
    ``num_steps`` steps. See ``LatencyEncoder``; for a sequence of samples use its ``push``."""
    arr = np.asarray(data)
    return LatencyEncoder(arr.shape, num_steps, dt_us=dt_us, mode=mode, threshold=threshold, t0_us=t0_us).push(arr)


# ---- population ------------------------------------------------------------------------------

class PopulationEncoder:
    """Population coding: ``n_neurons`` Gaussian receptive fields per channel, centres evenly
    spread over ``[lo, hi]`` (neuron ``j`` of channel ``c`` is ``x = c · n_neurons + j``), width
    ``sigma`` (default two thirds of the spacing). Each sample's responses ``exp(-(v - μ)² /
    2σ²)`` are coded in a window of ``num_steps`` steps: by latency (``code="latency"``,
    responses below ``threshold`` silent) or by rate (``code="poisson"`` or ``"regular"``)."""

    def __init__(self, n_channels: int = 1, n_neurons: int = 8, *, lo: float = 0.0, hi: float = 1.0,
                 sigma: Optional[float] = None, num_steps: int = 16, dt_us: int = 1000, code: str = "latency",
                 threshold: float = 0.05, max_rate_hz: Optional[float] = None, seed: int = 0,
                 t0_us: int = 0) -> None:
        self.n_channels = int(n_channels)
        self.n_neurons = int(n_neurons)
        self.num_steps = int(num_steps)
        self.dt_us = int(dt_us)
        if self.num_steps < 1:
            raise _bad("population encoder", "num_steps", num_steps, ">= 1")
        if self.dt_us <= 0:
            raise _bad("population encoder", "dt_us", dt_us, "> 0")
        if sigma is None:
            sigma = (float(hi) - float(lo)) / max(self.n_neurons - 1, 1) / 1.5
        rate_hz = 1e6 / self.dt_us if max_rate_hz is None else float(max_rate_hz)
        self._core = _core.PopulationEncoder(self.n_channels, self.n_neurons, float(lo), float(hi), float(sigma),
                                             self.num_steps, self.dt_us, code, float(threshold), rate_hz,
                                             int(seed), int(t0_us))
        self.sigma = float(sigma)

    @property
    def centres(self) -> np.ndarray:
        """The receptive-field centres (the same for every channel)."""
        return np.asarray(self._core.centres)

    def push(self, samples: Any, t_us: Optional[int] = None) -> np.ndarray:
        """Encodes values of shape ``(N, n_channels)`` or ``(n_channels,)`` (one window each;
        with one channel, a 1-D array is a sequence of values)."""
        flat = _frames_of(samples, (self.n_channels,), "population encoder samples", False)
        return _events(self._core.push(flat, _t(t_us)))

    def decode(self, events: np.ndarray, n_samples: int, t0_us: int = 0) -> np.ndarray:
        """Reads values back from latency-coded events (``code="latency"``): per sample and
        channel, the response-weighted mean of the centres, responses estimated from the
        spike steps (``1 - step / (num_steps - 1)``). Channels without spikes give NaN."""
        window = self.num_steps * self.dt_us
        out = np.full((n_samples, self.n_channels), np.nan)
        num = np.zeros((n_samples, self.n_channels))
        den = np.zeros((n_samples, self.n_channels))
        rel = events["t"].astype(np.int64) - int(t0_us)
        sample = rel // window
        step = (rel % window) // self.dt_us
        r = 1.0 - step / max(self.num_steps - 1, 1)
        ch = events["x"].astype(np.int64) // self.n_neurons
        mu = self.centres[events["x"].astype(np.int64) % self.n_neurons]
        ok = (sample >= 0) & (sample < n_samples)
        np.add.at(num, (sample[ok], ch[ok]), (r * mu)[ok])
        np.add.at(den, (sample[ok], ch[ok]), r[ok])
        np.divide(num, den, out=out, where=den > 0)
        return out

    def reset(self) -> None:
        """Back to step 0 at ``t0_us``."""
        self._core.reset()

    @property
    def time_us(self) -> int:
        """Start of the next window."""
        return int(self._core.time_us)


def population(values: Any, n_neurons: int = 8, *, lo: float = 0.0, hi: float = 1.0, sigma: Optional[float] = None,
               num_steps: int = 16, dt_us: int = 1000, code: str = "latency", threshold: float = 0.05,
               max_rate_hz: Optional[float] = None, seed: int = 0, t0_us: int = 0) -> np.ndarray:
    """Population-codes ``values``: shape ``(N,)`` (one channel, N samples) or ``(N, C)``. See
    ``PopulationEncoder``."""
    arr = np.asarray(values)
    n_channels = 1 if arr.ndim <= 1 else int(arr.shape[1])
    enc = PopulationEncoder(n_channels, n_neurons, lo=lo, hi=hi, sigma=sigma, num_steps=num_steps, dt_us=dt_us,
                            code=code, threshold=threshold, max_rate_hz=max_rate_hz, seed=seed, t0_us=t0_us)
    return enc.push(arr.reshape(-1) if n_channels == 1 else arr)


# ---- delta -----------------------------------------------------------------------------------

class DeltaEncoder:
    """Delta coding of ``n_channels`` analog signals sampled at ``sample_rate_hz``.

    ``mode="level"`` (level crossing): ON/OFF events each time the signal crosses a level
    ``θ`` away from the last one, several per sample for large steps, so ``initial + θ⁺·#ON -
    θ⁻·#OFF`` stays within one threshold of the signal. ``"send_on_delta"``: one event per
    change of at least ``θ``, then the reference jumps to the sample. ``"sigma_delta"``:
    events when the running sum of the samples crosses a threshold (rate follows ``|x|``).

    ``threshold`` (ON) and ``threshold_off`` (default: the same) are scalars or one value per
    channel. ``initial``: the first reference (default: the first sample, which makes no
    event). ``refractory_us``: a channel ignores samples for that long after an event, then
    catches up. ``max_events_per_sample`` caps one channel's events per sample (a slew limit).
    NaN and infinite samples are skipped.
    """

    def __init__(self, n_channels: int = 1, *, threshold: Any, threshold_off: Any = None,
                 sample_rate_hz: float = 1000.0, mode: str = "level", refractory_us: int = 0,
                 initial: Any = None, max_events_per_sample: int = 64, t0_us: int = 0) -> None:
        self.n_channels = int(n_channels)
        if self.n_channels < 1:
            raise _bad("delta encoder", "n_channels", n_channels, ">= 1")
        on = _per_channel(threshold, self.n_channels, "delta encoder", "threshold")
        off = on if threshold_off is None else _per_channel(threshold_off, self.n_channels, "delta encoder",
                                                             "threshold_off")
        init = None if initial is None else _per_channel(initial, self.n_channels, "delta encoder", "initial")
        num, den = _period(sample_rate_hz, "delta encoder")
        if int(refractory_us) < 0:
            raise _bad("delta encoder", "refractory_us", refractory_us, ">= 0")
        self.sample_rate_hz = float(sample_rate_hz)
        self._core = _core.DeltaEncoder(self.n_channels, on, off, mode, int(refractory_us), init,
                                        int(max_events_per_sample), num, den, int(t0_us))

    def push(self, samples: Any, t_us: Optional[int] = None) -> np.ndarray:
        """Encodes samples of shape ``(T, n_channels)`` (or ``(T,)`` for one channel)."""
        flat = _frames_of(samples, (self.n_channels,), "delta encoder samples", False)
        return _events(self._core.push(flat, _t(t_us)))

    @property
    def state(self) -> np.ndarray:
        """Reference level (level, send_on_delta) or integrator (sigma_delta) per channel."""
        return np.asarray(self._core.state)

    def reset(self) -> None:
        """Back to sample 0 at ``t0_us`` with the initial references."""
        self._core.reset()

    @property
    def time_us(self) -> int:
        """Time of the next sample."""
        return int(self._core.time_us)


def delta(signal: Any, *, threshold: Any, threshold_off: Any = None, sample_rate_hz: float = 1000.0,
          mode: str = "level", refractory_us: int = 0, initial: Any = None, max_events_per_sample: int = 64,
          t0_us: int = 0) -> np.ndarray:
    """Delta-codes ``signal`` of shape ``(T,)`` or ``(T, C)``. See ``DeltaEncoder``."""
    arr = np.asarray(signal)
    n = 1 if arr.ndim <= 1 else int(arr.shape[1])
    return DeltaEncoder(n, threshold=threshold, threshold_off=threshold_off, sample_rate_hz=sample_rate_hz,
                        mode=mode, refractory_us=refractory_us, initial=initial,
                        max_events_per_sample=max_events_per_sample, t0_us=t0_us).push(arr)


# ---- audio -----------------------------------------------------------------------------------



class AudioEncoder:
    """The audio front end: ``n_channels`` band-pass filters (RBJ second-order sections)
    log-spaced from ``f_lo`` to ``f_hi`` (default ``min(8000, 0.45 · sample_rate_hz)``), half-wave
    rectification, then per band either ``encoder="delta"`` (level crossing on the band's
    envelope, second-order low-pass at ``envelope_hz``, taken as ``ln(envelope + log_floor)``
    (default floor 3e-3, about -50 dB of full scale; ``log_floor=0``: the envelope itself): ON when the band gets louder by ``threshold`` (default 0.25, a
    factor e^0.25 = +2.2 dB; 0.003 in amplitude with ``log_floor=0``), OFF when it gets
    quieter) or ``encoder="lif"`` (a leaky integrate-and-fire neuron integrating the
    rectified band in amplitude × ms with leak ``tau_ms``, spiking when it reaches
    ``threshold``). Events: ``x`` = band (lowest frequency first), ``p`` = polarity.

    Samples are mono at full scale ±1; integer arrays are scaled (int16: /32768), stereo
    ``(T, 2)`` is averaged.
    """

    def __init__(self, sample_rate_hz: int, *, n_channels: int = 32, f_lo: float = 100.0,
                 f_hi: Optional[float] = None, q: Optional[float] = None, encoder: str = "delta",
                 threshold: Optional[float] = None, envelope_hz: float = 50.0, log_floor: float = 3e-3,
                 tau_ms: float = 10.0,
                 refractory_us: int = 0, t0_us: int = 0) -> None:
        if int(sample_rate_hz) != sample_rate_hz or int(sample_rate_hz) <= 0:
            raise _bad("audio encoder", "sample_rate_hz", sample_rate_hz, "a whole number of Hz > 0")
        self.sample_rate_hz = int(sample_rate_hz)
        if f_hi is None:
            f_hi = min(8000.0, 0.45 * self.sample_rate_hz)
        if threshold is None:
            threshold = 0.05 if encoder == "lif" else (0.25 if log_floor > 0 else 0.003)
        if int(refractory_us) < 0:
            raise _bad("audio encoder", "refractory_us", refractory_us, ">= 0")
        self.encoder = encoder
        self._core = _core.AudioEncoder(self.sample_rate_hz, int(n_channels), float(f_lo), float(f_hi),
                                        None if q is None else float(q), encoder, float(threshold),
                                        float(envelope_hz), float(log_floor), float(tau_ms) / 1000.0, int(refractory_us), int(t0_us))

    @property
    def centres(self) -> np.ndarray:
        """Centre frequencies of the bands in Hz (band ``x`` = index)."""
        return np.asarray(self._core.centres)

    @property
    def q(self) -> float:
        """Quality factor of the band-pass filters."""
        return float(self._core.q)

    def push(self, samples: Any, t_us: Optional[int] = None) -> np.ndarray:
        """Encodes mono samples ``(T,)`` (or ``(T, channels)``, averaged)."""
        arr = np.asarray(samples)
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.float64) / float(-np.iinfo(arr.dtype).min if np.iinfo(arr.dtype).min < 0
                                                 else np.iinfo(arr.dtype).max)
        arr = _as_float(arr, "audio samples", False)
        if arr.ndim == 2:
            arr = np.ascontiguousarray(arr.mean(axis=1))
        if arr.ndim != 1:
            raise ShapeError(f"audio samples: expected (T,) or (T, channels), found {arr.shape}",
                             what="audio samples", expected="(T,) or (T, channels)", found=str(arr.shape))
        return _events(self._core.push(arr, _t(t_us)))

    def reset(self) -> None:
        """Back to silence at ``t0_us``."""
        self._core.reset()

    @property
    def time_us(self) -> int:
        """Time of the next sample."""
        return int(self._core.time_us)


def audio(samples: Any, sample_rate_hz: int, **kwargs: Any) -> np.ndarray:
    """Cochlea-like events from mono audio. Keyword arguments as ``AudioEncoder``."""
    return AudioEncoder(sample_rate_hz, **kwargs).push(samples)


# ---- frames ----------------------------------------------------------------------------------

def _luma(frames: np.ndarray) -> np.ndarray:
    """RGB(A) frames ``(..., 3|4)`` to luma (Rec. 601), keeping uint8 as uint8."""
    rgb = frames[..., :3].astype(np.float64)
    y = rgb @ np.array([0.299, 0.587, 0.114])
    if frames.dtype == np.uint8:
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return y


class FrameEncoder:
    """A frame-to-event camera emulator (DVS-like events with the sensor size of the input).

    Per pixel, log intensity ``ln(I + log_eps)`` (``I`` in [0, 1]; uint8 frames are /255 and
    use a lookup table); an ON event per ``threshold`` of increase since the pixel's last
    crossing and an OFF event per ``threshold_off`` of decrease, timed by linear interpolation
    between frames; optional per-pixel threshold mismatch (``threshold_sigma``, log units),
    refractory period and shot noise (``shot_noise_rate_hz`` per pixel). The first frame sets
    the references and makes no event.

    ``shape`` is ``(height, width)``. Frame times: give ``t_us`` to ``push`` (one per frame), or
    ``fps`` here (frame ``k`` at ``t0_us + k · 10^6 / fps``).
    """

    def __init__(self, shape: Shape, *, threshold: float = 0.2, threshold_off: Optional[float] = None,
                 threshold_sigma: float = 0.0, refractory_us: int = 0, shot_noise_rate_hz: float = 0.0,
                 log_eps: float = 1e-3, max_events_per_frame: int = 64, fps: Optional[float] = None,
                 t0_us: int = 0, seed: int = 0) -> None:
        s = _shape(shape, "frame event encoder")
        if len(s) != 2:
            raise ShapeError(f"frame event encoder: expected (height, width), found {s}",
                             what="frame event encoder shape", expected="(height, width)", found=str(s))
        self.shape = s
        if int(refractory_us) < 0:
            raise _bad("frame event encoder", "refractory_us", refractory_us, ">= 0")
        self._period = None if fps is None else Fraction(10**6) / Fraction(repr(float(fps)))
        if self._period is not None and not self._period > 0:
            raise _bad("frame event encoder", "fps", fps, "> 0")
        self._t0 = int(t0_us)
        self._frames = 0
        self._core = _core.FrameEncoder(s[1], s[0], float(threshold),
                                        float(threshold if threshold_off is None else threshold_off),
                                        float(threshold_sigma), int(refractory_us), float(shot_noise_rate_hz),
                                        float(log_eps), int(max_events_per_frame), int(seed))

    @property
    def sensor_size(self) -> Tuple[int, int]:
        """(width, height): events have ``x < width``, ``y < height``."""
        return self.shape[1], self.shape[0]

    def _times(self, n: int, t_us: Any) -> np.ndarray:
        if t_us is None:
            if self._period is None:
                raise _bad("frame event encoder", "t_us", None, "frame times, or fps given to the encoder")
            k = np.arange(self._frames, self._frames + n)
            return np.array([self._t0 + int(int(i) * self._period) for i in k], dtype=np.uint64)
        t = np.asarray(t_us)
        if t.ndim == 0:
            if n == 1:
                return np.array([int(t)], dtype=np.uint64)
            if self._period is None:
                raise _bad("frame event encoder", "t_us", int(t), f"{n} frame times, or fps given to the encoder")
            return np.array([int(t) + int(i * self._period) for i in range(n)], dtype=np.uint64)
        if t.shape != (n,) or (t.size and (not np.issubdtype(t.dtype, np.number) or t.min() < 0)):
            raise ShapeError(f"frame times: expected {n} times >= 0, found shape {t.shape}",
                             what="frame times", expected=f"({n},)", found=str(t.shape))
        return np.ascontiguousarray(t, dtype=np.uint64)

    def push(self, frames: Any, t_us: Any = None) -> np.ndarray:
        """Encodes frames ``(N, H, W)``, one frame ``(H, W)``, or RGB ``(..., 3)``; uint8 or floats in
        [0, 1] (other integer types are scaled by their maximum). ``t_us``: one time per frame,
        a start time (with ``fps``), or nothing (continue at ``fps``)."""
        arr = np.asarray(frames)
        h, w = self.shape
        if arr.shape[-1:] in ((3,), (4,)) and arr.shape[-3:-1] == (h, w):
            arr = _luma(arr)
        if arr.shape == (h, w):
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (h, w):
            raise ShapeError(f"frames: expected (N, {h}, {w}) or ({h}, {w}), found {arr.shape}",
                             what="frames", expected=f"(N, {h}, {w})", found=str(arr.shape))
        times = self._times(arr.shape[0], t_us)
        if arr.dtype == np.uint8:
            raw = self._core.push_u8(np.ascontiguousarray(arr).reshape(-1), times)
        else:
            raw = self._core.push_f64(_as_float(arr, "frames", True).reshape(-1), times)
        self._frames += arr.shape[0]
        return _events(raw)

    def thresholds(self) -> Tuple[np.ndarray, np.ndarray]:
        """The per-pixel (ON, OFF) thresholds, shaped like a frame."""
        return (np.asarray(self._core.thresholds_on()).reshape(self.shape),
                np.asarray(self._core.thresholds_off()).reshape(self.shape))

    def reset(self) -> None:
        """Forgets the references: the next frame initialises them again."""
        self._core.reset()
        self._frames = 0


def frames_to_events(frames: Any, t_us: Any = None, *, fps: Optional[float] = None, **kwargs: Any) -> np.ndarray:
    """DVS-like events from video frames ``(N, H, W)`` (uint8, or floats in [0, 1]) with one
    time per frame (``t_us``) or a frame rate (``fps``). Keyword arguments as ``FrameEncoder``."""
    arr = np.asarray(frames)
    shape = arr.shape[1:3] if arr.ndim >= 3 else arr.shape
    return FrameEncoder(shape, fps=fps, **kwargs).push(arr, t_us)


# ---- sources: WAV files and image sequences ----------------------------------------------------

def read_wav(path: Union[str, "os.PathLike[str]"]) -> Tuple[np.ndarray, int]:
    """Reads a PCM WAV file (8, 16, 24 or 32-bit) with the standard ``wave`` module; returns
    mono float64 samples at full scale ±1 (channels averaged) and the sample rate."""
    with wave.open(os.fspath(path), "rb") as w:
        width, channels, rate_hz, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
    else:
        raise ShapeError(f"{path}: unsupported WAV sample width {width} bytes",
                         what="WAV sample width", expected="1, 2, 3 or 4 bytes", found=str(width))
    return x.reshape(-1, channels).mean(axis=1), rate_hz


def wav_to_events(path: Union[str, "os.PathLike[str]"], **kwargs: Any) -> np.ndarray:
    """Cochlea-like events from a WAV file (keyword arguments as ``AudioEncoder``)."""
    samples, rate_hz = read_wav(path)
    return AudioEncoder(rate_hz, **kwargs).push(samples)


def iter_wav_events(path: Union[str, "os.PathLike[str]"], chunk_ms: float = 10.0,
                    **kwargs: Any) -> Iterator[np.ndarray]:
    """Streams a WAV file through the audio front end, ``chunk_ms`` of audio at a time (a
    source for replay: the concatenated chunks equal ``wav_to_events``)."""
    with wave.open(os.fspath(path), "rb") as w:
        rate_hz, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if width != 2:
            raise ShapeError(f"{path}: iter_wav_events reads 16-bit PCM, found {8 * width}-bit",
                             what="WAV sample width", expected="2 bytes", found=str(width))
        enc = AudioEncoder(rate_hz, **kwargs)
        per = max(1, int(rate_hz * chunk_ms / 1000.0))
        while True:
            raw = w.readframes(per)
            if not raw:
                return
            x = np.frombuffer(raw, "<i2").astype(np.float64).reshape(-1, channels).mean(axis=1) / 32768.0
            yield enc.push(x)


def _read_netpbm(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    fields: List[bytes] = []
    pos = 0
    while len(fields) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    magic, w, h, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    channels = {b"P5": 1, b"P6": 3}.get(magic)
    if channels is None or maxval > 255:
        raise ShapeError(f"{path}: only binary 8-bit PGM (P5) and PPM (P6) are read without Pillow",
                         what="image format", expected="P5 or P6, maxval <= 255", found=magic.decode(errors="replace"))
    pixels = np.frombuffer(data, np.uint8, count=w * h * channels, offset=pos + 1)
    img = pixels.reshape(h, w, channels)
    return img[..., 0] if channels == 1 else _luma(img)


def read_image_folder(path: Union[str, "os.PathLike[str]"]) -> np.ndarray:
    """Reads the images of a folder, in file-name order, as grey uint8 frames ``(N, H, W)``.

    ``.npy`` (2-D arrays), binary ``.pgm``/``.ppm`` are read with numpy alone; other formats
    (PNG, JPEG, ...) need Pillow (``pip install pillow``). All images must have one size.
    """
    folder = os.fspath(path)
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    frames: List[np.ndarray] = []
    for name in names:
        full = os.path.join(folder, name)
        ext = os.path.splitext(name)[1].lower()
        if ext == ".npy":
            img = np.load(full, allow_pickle=False)
        elif ext in (".pgm", ".ppm"):
            img = _read_netpbm(full)
        elif ext in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"):
            try:
                # Optional, and imported by name so that type checkers need not have it.
                image_module: Any = importlib.import_module("PIL.Image")
            except ImportError:
                raise ShapeError(f"{full}: reading {ext} images needs Pillow (pip install pillow)",
                                 what="image format", expected=".npy, .pgm or .ppm without Pillow",
                                 found=ext) from None
            with image_module.open(full) as im:
                img = np.asarray(im.convert("L"))
        else:
            continue
        if img.ndim == 3:
            img = _luma(img)
        if frames and img.shape != frames[0].shape:
            raise ShapeError(f"{full}: image size {img.shape} differs from the first image's {frames[0].shape}",
                             what="image size", expected=str(frames[0].shape), found=str(img.shape))
        frames.append(img)
    if not frames:
        raise ShapeError(f"{folder}: no images found", what="image folder", expected="at least one image",
                         found="none")
    stack = np.stack(frames)
    return stack if stack.dtype == np.uint8 else _as_float(stack, "images", True)


def images_to_events(images: Any, method: str = "latency", **kwargs: Any) -> np.ndarray:
    """Events from an image sequence: an array ``(N, H, W)`` or a folder (``read_image_folder``).

    ``method="latency"`` (one window of ``num_steps`` per image, ``LatencyEncoder``),
    ``"rate"`` (each image held for ``num_steps`` steps, ``RateEncoder``) or ``"frames"``
    (the images as video frames, ``FrameEncoder``; needs ``fps`` or ``t_us``).
    """
    arr = read_image_folder(images) if isinstance(images, (str, os.PathLike)) else np.asarray(images)
    if arr.ndim != 3:
        raise ShapeError(f"images: expected (N, H, W), found {arr.shape}",
                         what="images", expected="(N, H, W)", found=str(arr.shape))
    if method == "latency":
        num_steps = kwargs.pop("num_steps", 32)
        return LatencyEncoder(arr.shape[1:], num_steps, **kwargs).push(arr)
    if method == "rate":
        num_steps = int(kwargs.pop("num_steps", 32))
        enc = RateEncoder(arr.shape[1:], **kwargs)
        chunks = [enc.hold(img, num_steps) for img in arr]
        # (np.concatenate would drop the record padding: build the result in EVENT_DTYPE.)
        out = np.zeros(sum(len(c) for c in chunks), EVENT_DTYPE)
        np.concatenate(chunks, out=out) if chunks else None
        return out
    if method == "frames":
        t_us = kwargs.pop("t_us", None)
        return FrameEncoder(arr.shape[1:], **kwargs).push(arr, t_us)
    raise _bad("images_to_events", "method", method, "'latency', 'rate' or 'frames'")
