"""onnxruntime, CPU execution provider. No TensorFlow import."""

from __future__ import annotations

import numpy as np

from edgekit._deps import require
from edgekit.artifact import TensorSpec
from edgekit.errors import EdgekitError, first_line
from edgekit.runtime.base import Runner

_ORT_TYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float16)": "float16"}


def session_options(threads: int):
    """Pinned, sequential, quiet CPU session options (shared by the runner and the profiler)."""
    ort = require("onnxruntime", "the onnxruntime runtime")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    # Keep onnxruntime's own thread pool from spinning after a run: it would
    # steal the core that the next timed run needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class OnnxRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path, threads: int = 1):
        super().__init__(path, threads)
        ort = require("onnxruntime", "the onnxruntime runtime")

        opts = session_options(threads)
        try:
            self.sess = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
            raise EdgekitError(f"{self.path}: onnxruntime cannot load this model: {first_line(e)}") from e
        self._in = self.sess.get_inputs()[0]
        self._out = self.sess.get_outputs()[0]
        self._feed = None

    @staticmethod
    def _spec(node) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
        return TensorSpec(name=node.name, shape=shape, dtype=_ORT_TYPES.get(node.type, node.type))

    @property
    def input_spec(self) -> TensorSpec:
        return self._spec(self._in)

    @property
    def output_spec(self) -> TensorSpec:
        return self._spec(self._out)

    @property
    def input_specs(self) -> list[TensorSpec]:
        return [self._spec(n) for n in self.sess.get_inputs()]

    @property
    def output_specs(self) -> list[TensorSpec]:
        return [self._spec(n) for n in self.sess.get_outputs()]

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        specs = {s.name: s for s in self.input_specs}
        if set(feeds) != set(specs):
            raise EdgekitError(f"{self.path.name} takes inputs {', '.join(specs)}; given {', '.join(feeds)}.")
        names = [o.name for o in self.sess.get_outputs()]
        cast = {k: self._cast(v, specs[k].dtype) for k, v in feeds.items()}
        n = len(next(iter(cast.values())))
        fixed = any(s.shape and s.shape[0] is not None for s in specs.values())
        chunks = [(i, i + 1) for i in range(n)] if fixed else [(0, n)]
        parts = [self.sess.run(names, {k: v[a:b] for k, v in cast.items()}) for a, b in chunks]
        return {name: np.concatenate([p[j] for p in parts]).astype(np.float32) for j, name in enumerate(names)}

    def _cast(self, x, dtype: str | None = None) -> np.ndarray:
        # Token-id models (an Embedding first) take integers; everything else floats.
        dtype = dtype or self.input_spec.dtype
        if dtype in ("int32", "int64"):
            return np.rint(np.asarray(x, np.float64)).astype(dtype)
        return np.asarray(x, np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = self._cast(x)
        if self.input_spec.shape and self.input_spec.shape[0] is not None:
            return np.concatenate([self.sess.run([self._out.name], {self._in.name: x[i : i + 1]})[0] for i in range(len(x))])
        return self.sess.run([self._out.name], {self._in.name: x})[0].astype(np.float32)

    def prepare(self, x) -> None:
        if isinstance(x, dict):  # several inputs, keyed by input name
            self._feed = {s.name: self._cast(x[s.name], s.dtype)[:1] for s in self.input_specs}
            return
        self._feed = {self._in.name: self._cast(x)[:1]}

    def invoke_once(self) -> None:
        self.sess.run([self._out.name], self._feed)

    @property
    def precision(self) -> str:
        import onnx

        m = onnx.load(str(self.path), load_external_data=False)
        ops = {n.op_type for n in m.graph.node}
        if ops & {"QuantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}:
            return "int8"
        return "fp32"
