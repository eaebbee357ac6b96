"""edgekit: Keras models from training to verified, benchmarked TFLite and ONNX artifacts.

The public API mirrors the CLI verbs. Everything is imported lazily, so ``import edgekit``
is cheap and file-only work (benchmarking a .tflite) never loads TensorFlow.
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "create_model": "edgekit.models.registry",
    "list_models": "edgekit.models.registry",
    "get_spec": "edgekit.models.registry",
    "count_macs": "edgekit.models.macs",
    "load_dataset": "edgekit.data.datasets",
    "train": "edgekit.training.fit",
    "export": "edgekit.convert",
    "verify": "edgekit.verification",
    "bench": "edgekit.benchmarking.harness",
    "load_runner": "edgekit.runtime.base",
    "run": "edgekit.pipeline",
    "EdgekitError": "edgekit.errors",
    "Artifact": "edgekit.artifact",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
