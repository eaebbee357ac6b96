"""One small Runner interface for every runtime.

A runner loads one model file, tells its input and output specs, and runs a float batch:
inputs are given *normalized* (what the Keras model sees) and outputs come back as floats.
Integer models quantize the input with the model's own scale and zero point and
dequantize the output, so parity and accuracy are computed the same way for every format.
The benchmark harness times ``invoke_once`` on a prepared sample.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from edgekit.artifact import TensorSpec
from edgekit.errors import EdgekitError
from edgekit.formats import runtime_by_suffix


class Runner(ABC):
    name: str = "runner"

    def __init__(self, path: str | Path, threads: int = 1):
        self.path = Path(path)
        self.threads = threads

    @property
    @abstractmethod
    def input_spec(self) -> TensorSpec: ...

    @property
    @abstractmethod
    def output_spec(self) -> TensorSpec: ...

    @abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run a float batch (N, ...) and return float outputs (N, ...) (the first output)."""

    @property
    def input_specs(self) -> list[TensorSpec]:
        """Every input, named as the file names it (LiteRT's signature keys, ONNX graph inputs)."""
        return [self.input_spec]

    @property
    def output_specs(self) -> list[TensorSpec]:
        """Every output, named as the file names it; mapped to a Keras model's outputs by name."""
        return [self.output_spec]

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch per input name (normalized floats, or token ids) and return one float
        array per output name. Runtimes with several inputs or outputs override this."""
        if len(feeds) != 1:
            raise EdgekitError(f"{self.path.name} takes one input ({self.input_spec.name}); "
                               f"{len(feeds)} were given ({', '.join(feeds)}).")
        return {self.output_spec.name: np.asarray(self.run(next(iter(feeds.values()))), np.float32)}

    @abstractmethod
    def prepare(self, x: np.ndarray) -> None:
        """Set one sample (batch of 1, float) as the input for :meth:`invoke_once`."""

    @abstractmethod
    def invoke_once(self) -> None:
        """Run the prepared input once (what the benchmark times)."""

    @property
    def precision(self) -> str:
        return "int8" if self.input_spec.dtype in ("int8", "uint8") else "fp32"


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.scale is None or spec.zero_point is None:
        return x.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    q = np.round(x / spec.scale + spec.zero_point)
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(q: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.scale is None or spec.zero_point is None or not spec.scale:
        return q.astype(np.float32)
    return ((q.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


RUNTIMES = ("litert", "onnxruntime", "keras", "tflm")
_DEFAULT_RUNTIME = runtime_by_suffix()  # from the format table: .tflite -> litert, .onnx -> onnxruntime, ...


def default_runtime(path: str | Path) -> str:
    p = Path(path)
    if p.is_dir():
        return "keras"
    rt = _DEFAULT_RUNTIME.get(p.suffix.lower())
    if rt is None:
        raise EdgekitError(
            f"{p}: don't know which runtime runs '{p.suffix}' files; "
            "expected .tflite, .onnx, .keras, .h5 or a SavedModel folder."
        )
    return rt


def check_model_file(path: str | Path, kind: str = "model") -> Path:
    """A missing path, or a folder where a file is expected, fails here with one line."""
    p = Path(path)
    if not p.exists():
        raise EdgekitError(f"{p}: no such file. Check the path to the {kind}.")
    if p.suffix.lower() in (".tflite", ".onnx", ".keras", ".h5") and p.is_dir():
        raise EdgekitError(f"{p} is a folder; expected a {p.suffix} file.")
    if p.is_file() and p.stat().st_size == 0:
        raise EdgekitError(f"{p} is empty (0 bytes); re-export the {kind}.")
    return p


def load_runner(path: str | Path, runtime: str | None = None, threads: int = 1, **options) -> Runner:
    """Open ``path`` in ``runtime`` (chosen from the suffix when omitted)."""
    p = check_model_file(path)
    if not isinstance(threads, int) or threads < 1:
        raise EdgekitError(f"threads must be a positive integer, got {threads!r}.")
    runtime = runtime or default_runtime(p)
    if runtime not in RUNTIMES:
        raise EdgekitError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
    if runtime == "litert":
        from edgekit.runtime.litert import LiteRTRunner

        return LiteRTRunner(p, threads=threads, **options)
    if runtime == "onnxruntime":
        from edgekit.runtime.onnxrt import OnnxRunner

        return OnnxRunner(p, threads=threads, **options)
    if runtime == "tflm":
        from edgekit.runtime.tflm import TFLMRunner

        return TFLMRunner(p, threads=threads, **options)
    from edgekit.runtime.keras import KerasRunner

    return KerasRunner(p, threads=threads, **options)
