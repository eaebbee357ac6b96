"""edgekit: Keras models from training to verified, benchmarked TFLite and ONNX artifacts.

The Python verbs are the CLI's, with the same names and options (:mod:`edgekit.api`)::

    import edgekit

    result = edgekit.train("cnn", "digits", out="runs/cnn", epochs=2)
    art = edgekit.export(result.model_path, to="tflite", precision="int8", data="digits", out="export/cnn")
    check = edgekit.verify(art.path, reference=result.model_path, data="digits")
    doc = edgekit.bench(art.path, runs=50)

Everything is imported lazily, so ``import edgekit`` is cheap and file-only work (benchmarking a
.tflite) never loads TensorFlow. No verb shares its name with a subpackage (the packages are
``training``, ``verification``, ``benchmarking``, ``compression``, ``tuning``), so ``edgekit.train``
is the function whatever was imported before.
"""

from __future__ import annotations

__version__ = "0.1.0"

# the verbs: one per `edgekit` command (edgekit/api.py)
VERBS = ("create_model", "list_models", "load_dataset", "train", "export", "verify", "bench", "compare",
         "compress", "tune", "estimate", "targets", "demo", "check")

_API = {
    **dict.fromkeys(VERBS + ("run", "suggest", "emulate"), "edgekit.api"),
    "get_spec": "edgekit.models.registry",
    "count_macs": "edgekit.models.macs",
    "load_runner": "edgekit.runtime.base",
    "EdgekitError": "edgekit.errors",
    # the records the verbs return
    "Artifact": "edgekit.artifact",
    "RunReport": "edgekit.records",
    "BenchFile": "edgekit.records",
    "BundleCheck": "edgekit.records",
    "EmulationResult": "edgekit.records",
    "VerifyFile": "edgekit.records",
    "CompressionFile": "edgekit.records",
    "TuneTrial": "edgekit.records",
    "TrainResult": "edgekit.training.fit",
    "VerifyResult": "edgekit.verification",
    "CompressionResult": "edgekit.compression.result",
    "TuneResult": "edgekit.tuning.config",
    "McuEstimate": "edgekit.benchmarking.mcu_estimate",
    "Target": "edgekit.benchmarking.mcu_targets",
    "CompareResult": "edgekit.benchmarking.compare",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
