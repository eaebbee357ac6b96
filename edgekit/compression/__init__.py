"""Compression: quantization (PTQ, QAT), tfmot pruning and clustering, structured channel
pruning, per-layer sensitivity, ai-edge-quantizer recipes and a mixed-precision fallback; ``compress``
runs them all.

Where things are: the variant table (:mod:`~edgekit.compression.variants`, one row per variant), the
builders it names (:mod:`~edgekit.compression.builders`, :mod:`~edgekit.compression.aiq`), what a row and a
built file are (:mod:`~edgekit.compression.variant`), a run's shared state (:mod:`~edgekit.compression.context`),
its settings (:mod:`~edgekit.compression.config`), the run itself (:mod:`~edgekit.compression.api`) and what it
returns (:mod:`~edgekit.compression.result`).

TensorFlow and tfmot are imported by the functions that need them.
"""

from edgekit.compression.api import compress
from edgekit.compression.config import CompressConfig
from edgekit.compression.markdown import compression_markdown
from edgekit.compression.result import CompressionResult
from edgekit.compression.variant import Built, Variant
from edgekit.compression.variants import VARIANTS, register

__all__ = ["compress", "CompressConfig", "CompressionResult", "VARIANTS", "Variant", "Built", "register",
           "compression_markdown"]
