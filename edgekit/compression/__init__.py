"""Compression: quantization (PTQ, QAT), tfmot pruning and clustering, structured channel
pruning, per-layer sensitivity and a mixed-precision fallback; ``compress`` runs them all.

TensorFlow and tfmot are imported by the functions that need them.
"""

from edgekit.compression.api import VARIANTS, CompressConfig, CompressionReport, compress, render_markdown

__all__ = ["compress", "CompressConfig", "CompressionReport", "VARIANTS", "render_markdown"]
