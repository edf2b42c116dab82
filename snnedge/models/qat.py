"""Quantization-aware training helpers: the runtime's integer rounding in the forward pass,
straight-through in the backward pass, so a network can be fine-tuned to the deployed numerics.

Framework-neutral definitions in numpy (used by the tests against the engine), and PyTorch
versions (imported lazily; torch is an optional dependency)::

    from snnedge.models import qat
    w_q = qat.fake_quant_weight(layer.weight, scale=sigma, bits=8)   # torch tensor in, out
    beta_q = qat.fake_quant_decay(beta)                              # Q0.16 leak factor
    v = qat.fake_trunc_state(v, scale=sigma)                         # truncation of the state

``scale`` is the layer's state scale (integer units per float unit, ``QuantReport.layers[i].scale``),
so that the forward pass computes exactly the values the integer engine will.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

DECAY_ONE = 65536


def weight_shift(max_abs_contribution: float, bits: int = 8) -> int:
    """The shift the quantizer picks for a connection whose largest |contribution| (integer
    units) is given: the smallest shift that fits the weights in ``bits``."""
    wmax = 2 ** (bits - 1) - 1
    if max_abs_contribution <= wmax:
        return 0
    return min(16, math.ceil(math.log2(max_abs_contribution / wmax)))


def quant_weight_np(w: np.ndarray, scale: float, bits: int = 8, shift: Optional[int] = None) -> np.ndarray:
    """Float weights as the engine sees them: ``clip(round(w * scale / 2^shift)) * 2^shift / scale``."""
    w = np.asarray(w, np.float64)
    if shift is None:
        shift = weight_shift(float(np.abs(w).max()) * scale, bits)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    q = np.clip(np.round(w * scale / 2 ** shift), lo, hi)
    return q * 2 ** shift / scale


def quant_decay_np(beta: float) -> float:
    """The leak factor as the engine applies it (Q0.16)."""
    return round(min(max(beta, 0.0), 1.0) * DECAY_ONE) / DECAY_ONE


def trunc_state_np(v: np.ndarray, scale: float) -> np.ndarray:
    """A float state rounded like the engine's decayed state: toward zero on the integer grid."""
    return np.trunc(np.asarray(v, np.float64) * scale) / scale


# ---- PyTorch ---------------------------------------------------------------------------------

def _torch() -> Any:
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("snnedge.models.qat needs PyTorch for the training helpers (pip install torch)") from e
    return torch


def _ste(x: Any, q: Any) -> Any:
    """Value of ``q`` forward, gradient of ``x`` backward (straight-through estimator)."""
    return x + (q - x).detach()


def fake_quant_weight(w: Any, scale: float, bits: int = 8, shift: Optional[int] = None) -> Any:
    """Torch version of :func:`quant_weight_np` with a straight-through gradient."""
    torch = _torch()
    with torch.no_grad():
        if shift is None:
            shift = weight_shift(float(w.detach().abs().max()) * scale, bits)
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        q = torch.clamp(torch.round(w * scale / 2 ** shift), lo, hi) * 2 ** shift / scale
    return _ste(w, q)


def fake_quant_decay(beta: Any) -> Any:
    """Torch version of :func:`quant_decay_np` with a straight-through gradient."""
    torch = _torch()
    with torch.no_grad():
        q = torch.round(torch.clamp(beta, 0.0, 1.0) * DECAY_ONE) / DECAY_ONE
    return _ste(beta, q)


def fake_trunc_state(v: Any, scale: float) -> Any:
    """Torch version of :func:`trunc_state_np` with a straight-through gradient."""
    torch = _torch()
    with torch.no_grad():
        q = torch.trunc(v * scale) / scale
    return _ste(v, q)


__all__ = ["weight_shift", "quant_weight_np", "quant_decay_np", "trunc_state_np", "fake_quant_weight",
           "fake_quant_decay", "fake_trunc_state"]
