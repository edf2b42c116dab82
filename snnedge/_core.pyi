"""Type stubs of the native module snnedge._core (checked against the build by mypy.stubtest)."""
from typing import Dict, List, Optional, Sequence, Tuple, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "CompiledModel", "Engine", "EVENT_RECORD_BYTES", "SPIKE_RECORD_BYTES", "MODEL_FORMAT_VERSION", "__version__",
    "RateEncoder", "LatencyEncoder", "PopulationEncoder", "DeltaEncoder", "AudioEncoder", "FrameEncoder",
]

EVENT_RECORD_BYTES: int
SPIKE_RECORD_BYTES: int
MODEL_FORMAT_VERSION: int
__version__: str

@final
class CompiledModel:
    """A compiled, validated, immutable network (shared by any number of engines)."""

    @staticmethod
    def from_spec_msgpack(data: bytes) -> CompiledModel: ...
    @staticmethod
    def from_file_bytes(data: bytes) -> CompiledModel: ...
    def to_file_bytes(self, metadata: Dict[str, str]) -> bytes: ...
    def spec_msgpack(self) -> bytes: ...
    @property
    def metadata(self) -> Dict[str, str]: ...
    @property
    def name(self) -> str: ...
    @property
    def tick_us(self) -> int: ...
    @property
    def input_shape(self) -> List[int]: ...
    @property
    def output(self) -> str: ...
    @property
    def layers(self) -> List[Tuple[str, str, List[int]]]: ...
    @property
    def synapse_count(self) -> int: ...

@final
class Engine:
    """One stream through a compiled model (events and spikes as raw record bytes)."""

    def __new__(cls, model: CompiledModel) -> Engine: ...
    def feed(self, events: npt.NDArray[np.uint8]) -> bytearray: ...
    def advance(self, t_us: int) -> bytearray: ...
    def run(self, events: npt.NDArray[np.uint8]) -> bytearray: ...
    def reset(self) -> None: ...
    @property
    def open_tick(self) -> int: ...
    def is_idle(self) -> bool: ...
    def state(self, layer: str) -> Dict[str, npt.NDArray[np.int32]]: ...
    def stats(self) -> Dict[str, object]: ...

# ---- spike encoders (rust/snnedge-py/src/encode.rs); events out as EVENT_DTYPE record bytes ----

@final
class RateEncoder:
    """Rate coding (Poisson or regular spike trains)."""

    def __new__(
        cls, n_channels: int, width: int, dt_us: int, max_rate_hz: float, mode: str, seed: int, t0_us: int
    ) -> RateEncoder: ...
    def push(self, samples: npt.NDArray[np.float64], t_us: Optional[int] = None) -> npt.NDArray[np.uint8]: ...
    def hold(
        self, values: npt.NDArray[np.float64], steps: int, t_us: Optional[int] = None
    ) -> npt.NDArray[np.uint8]: ...
    def reset(self) -> None: ...
    @property
    def next_step(self) -> int: ...
    @property
    def time_us(self) -> int: ...

@final
class LatencyEncoder:
    """Latency (time-to-first-spike) coding."""

    def __new__(
        cls, n_channels: int, width: int, num_steps: int, dt_us: int, mode: str, threshold: float, t0_us: int
    ) -> LatencyEncoder: ...
    def push(self, samples: npt.NDArray[np.float64], t_us: Optional[int] = None) -> npt.NDArray[np.uint8]: ...
    def reset(self) -> None: ...
    @property
    def next_step(self) -> int: ...
    @property
    def time_us(self) -> int: ...

@final
class PopulationEncoder:
    """Population coding with Gaussian receptive fields."""

    def __new__(
        cls,
        n_channels: int,
        n_neurons: int,
        lo: float,
        hi: float,
        sigma: float,
        num_steps: int,
        dt_us: int,
        code: str,
        threshold: float,
        max_rate_hz: float,
        seed: int,
        t0_us: int,
    ) -> PopulationEncoder: ...
    def push(self, samples: npt.NDArray[np.float64], t_us: Optional[int] = None) -> npt.NDArray[np.uint8]: ...
    def reset(self) -> None: ...
    @property
    def centres(self) -> List[float]: ...
    @property
    def time_us(self) -> int: ...

@final
class DeltaEncoder:
    """Delta coding of multichannel analog streams."""

    def __new__(
        cls,
        n_channels: int,
        threshold_on: Sequence[float],
        threshold_off: Sequence[float],
        mode: str,
        refractory_us: int,
        initial: Optional[Sequence[float]],
        max_events_per_sample: int,
        period_num: int,
        period_den: int,
        t0_us: int,
    ) -> DeltaEncoder: ...
    def push(self, samples: npt.NDArray[np.float64], t_us: Optional[int] = None) -> npt.NDArray[np.uint8]: ...
    def reset(self) -> None: ...
    @property
    def state(self) -> List[float]: ...
    @property
    def next_sample(self) -> int: ...
    @property
    def time_us(self) -> int: ...

@final
class AudioEncoder:
    """The audio front end (filterbank, rectifier, delta or LIF per band)."""

    def __new__(
        cls,
        sample_rate_hz: int,
        n_channels: int,
        f_lo: float,
        f_hi: float,
        q: Optional[float],
        code: str,
        threshold: float,
        envelope_hz: float,
        log_floor: float,
        tau_s: float,
        refractory_us: int,
        t0_us: int,
    ) -> AudioEncoder: ...
    def push(self, samples: npt.NDArray[np.float64], t_us: Optional[int] = None) -> npt.NDArray[np.uint8]: ...
    def reset(self) -> None: ...
    @property
    def centres(self) -> List[float]: ...
    @property
    def q(self) -> float: ...
    @property
    def next_sample(self) -> int: ...
    @property
    def time_us(self) -> int: ...

@final
class FrameEncoder:
    """The frame-to-event camera emulator."""

    def __new__(
        cls,
        width: int,
        height: int,
        threshold_on: float,
        threshold_off: float,
        threshold_sigma: float,
        refractory_us: int,
        shot_noise_rate_hz: float,
        log_eps: float,
        max_events_per_frame: int,
        seed: int,
    ) -> FrameEncoder: ...
    def push_u8(self, frames: npt.NDArray[np.uint8], t_us: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]: ...
    def push_f64(self, frames: npt.NDArray[np.float64], t_us: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]: ...
    def reset(self) -> None: ...
    @property
    def frames_seen(self) -> int: ...
    @property
    def last_frame_us(self) -> int: ...
    def thresholds_on(self) -> npt.NDArray[np.float64]: ...
    def thresholds_off(self) -> npt.NDArray[np.float64]: ...
