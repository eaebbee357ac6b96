"""Importing the optional-at-runtime pieces (runtimes, converters) with one clear error.

Every package below is a dependency of edgekit, but a user can still lose one (a partial
install, a venv built without ``pip install -e .``, a wheel with no build for the platform).
:func:`require` turns that ``ImportError`` into one line that names the package and the fix,
instead of a traceback from deep inside a command.
"""

from __future__ import annotations

import importlib
import importlib.util

from edgekit.errors import EdgekitError, first_line

# module name -> the pip package that provides it
PACKAGES = {
    "ai_edge_litert": "ai-edge-litert",
    "onnxruntime": "onnxruntime",
    "onnx": "onnx",
    "tf2onnx": "tf2onnx",
    "tflite_micro": "tflite-micro",
    "tensorflow_model_optimization": "tensorflow-model-optimization",
    "keras_tuner": "keras-tuner",
}


def missing_message(module: str, purpose: str, detail: str = "") -> str:
    package = PACKAGES.get(module, module)
    why = f" ({detail})" if detail else ""
    return (f"{purpose} needs the {package} package, which is missing or broken{why}; "
            f"reinstall edgekit (`pip install -e .` in its folder) or run `pip install {package}`.")


def require(module: str, purpose: str):
    """Import ``module`` (a top-level name in :data:`PACKAGES`) or raise one EdgekitError line."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise EdgekitError(missing_message(module, purpose, first_line(str(e)))) from e


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
