"""Trained networks in: NIR import, the float reference simulation, quantization to the
integer contract."""
from .floatnet import FloatConnection, FloatLayer, FloatNetwork, FloatResult
from .nir_import import NIRImportError, import_nir
from .quantize import QuantizationError, QuantReport, build_integer_model, quantize

__all__ = ["FloatNetwork", "FloatLayer", "FloatConnection", "FloatResult", "import_nir", "NIRImportError",
           "quantize", "QuantReport", "QuantizationError", "build_integer_model"]
