"""LiteRT (ai_edge_litert), the successor of tf.lite.Interpreter. No TensorFlow import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit import tflite_file
from edgekit._deps import require
from edgekit._native import quiet_stderr
from edgekit.artifact import TensorSpec
from edgekit.errors import EdgekitError, first_line
from edgekit.runtime.base import Runner, dequantize, quantize

def check_tflite_bytes(path: Path) -> bytes:
    return tflite_file.read_tflite_bytes(path, hint="re-export it")


def _fallback_reason(data: bytes, error: Exception) -> str:
    """One line: what LiteRT said, and the op/channel XNNPACK rejects when it is a requantization scale."""
    from edgekit.xnnpack import requant_problems

    said = " ".join(str(error).split())[:160]
    try:
        problems = requant_problems(tflite_file.parse_model(data))
    except EdgekitError:
        problems = []
    why = f"; {problems[0].describe()}" if problems else ""
    return f"XNNPACK failed to prepare ({said}){why}; ran LiteRT's reference kernels instead"


def _named_details(interp) -> tuple[list, list]:
    """``[(name, details)]`` for inputs and outputs, named by the ``serving_default`` signature when
    the file has one (the converter may order outputs differently from Keras; the signature keeps
    the names), else by tensor name, in the interpreter's order."""
    ins, outs = interp.get_input_details(), interp.get_output_details()
    sigs = interp._get_full_signature_list() or {}
    sig = sigs.get("serving_default") or (next(iter(sigs.values())) if len(sigs) == 1 else None)
    if sig:
        by_index = {d["index"]: d for d in ins + outs}
        named_in = [(k, by_index[i]) for k, i in sig["inputs"].items() if i in by_index]
        named_out = [(k, by_index[i]) for k, i in sig["outputs"].items() if i in by_index]
        if len(named_in) == len(ins) and len(named_out) == len(outs):
            # keep the interpreter's order (the first input/output is what single-tensor code uses)
            order = {d["index"]: j for j, d in enumerate(ins + outs)}
            return (sorted(named_in, key=lambda p: order[p[1]["index"]]),
                    sorted(named_out, key=lambda p: order[p[1]["index"]]))
    return [(d["name"], d) for d in ins], [(d["name"], d) for d in outs]


class LiteRTRunner(Runner):
    name = "litert"

    def __init__(self, path, threads: int = 1, xnnpack: bool = True):
        super().__init__(path, threads)
        require("ai_edge_litert", "the LiteRT runtime")
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        data = check_tflite_bytes(self.path)
        self.xnnpack = xnnpack
        # Why XNNPACK was asked for but not used (it refused the model); None when it runs as asked.
        self.xnnpack_fallback: str | None = None

        def make(resolver):
            with quiet_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                interp = Interpreter(model_content=data, num_threads=threads, experimental_op_resolver_type=resolver)
                interp.allocate_tensors()
            return interp

        try:
            try:
                self.interp = make(OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            except RuntimeError as e:
                if not xnnpack or "XNNPACK" not in str(e):
                    raise
                # XNNPACK refused a node (e.g. an int8 requantization scale >= 256): the reference
                # kernels run the same model, slower. Say why, so benchmarks do not hide it.
                self.interp = make(OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
                self.xnnpack = False
                self.xnnpack_fallback = _fallback_reason(data, e)
        except (ValueError, RuntimeError) as e:
            raise EdgekitError(f"{self.path}: LiteRT cannot load this model: {first_line(e)}") from e
        self._ins, self._outs = _named_details(self.interp)
        self._in, self._out = self._ins[0][1], self._outs[0][1]

    @staticmethod
    def _spec(d, name: str | None = None) -> TensorSpec:
        scale, zp = d["quantization"]
        dtype = np.dtype(d["dtype"]).name
        quantized = dtype in ("int8", "uint8", "int16") and scale
        return TensorSpec(
            name=name or d["name"],
            shape=tuple(int(s) if s > 0 else None for s in d["shape_signature"]),
            dtype=dtype,
            scale=float(scale) if quantized else None,
            zero_point=int(zp) if quantized else None,
        )

    @property
    def input_spec(self) -> TensorSpec:
        return self.input_specs[0]

    @property
    def output_spec(self) -> TensorSpec:
        return self.output_specs[0]

    @property
    def input_specs(self) -> list[TensorSpec]:
        return [self._spec(d, n) for n, d in self._ins]

    @property
    def output_specs(self) -> list[TensorSpec]:
        return [self._spec(d, n) for n, d in self._outs]

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ins = dict(zip((n for n, _ in self._ins), zip(self.input_specs, (d for _, d in self._ins))))
        unknown = set(feeds) - set(ins)
        missing = set(ins) - set(feeds)
        if unknown or missing:
            raise EdgekitError(f"{self.path.name} takes inputs {', '.join(ins)}; given {', '.join(feeds)}.")
        out_specs = self.output_specs
        n = len(next(iter(feeds.values())))
        outs: dict[str, list] = {s.name: [] for s in out_specs}
        for i in range(n):  # one sample at a time: integer models are converted with a fixed batch of 1
            for name, (spec, d) in ins.items():
                self.interp.set_tensor(d["index"], quantize(np.asarray(feeds[name][i : i + 1], np.float32), spec))
            self.interp.invoke()
            for spec, (_, d) in zip(out_specs, self._outs):
                outs[spec.name].append(dequantize(self.interp.get_tensor(d["index"]), spec))
        return {k: np.concatenate(v, axis=0) for k, v in outs.items()}

    def _set(self, x: np.ndarray):
        self.interp.set_tensor(self._in["index"], quantize(x, self.input_spec))

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        outs = []
        # One sample at a time: integer models are converted with a fixed batch of 1.
        for i in range(len(x)):
            self._set(x[i : i + 1])
            self.interp.invoke()
            outs.append(dequantize(self.interp.get_tensor(self._out["index"]), self.output_spec))
        return np.concatenate(outs, axis=0)

    def prepare(self, x) -> None:
        if isinstance(x, dict):  # several inputs, keyed by input name
            for (name, d), spec in zip(self._ins, self.input_specs):
                self.interp.set_tensor(d["index"], quantize(np.asarray(x[name], np.float32)[:1], spec))
            return
        self._set(np.asarray(x, np.float32)[:1])

    def invoke_once(self) -> None:
        self.interp.invoke()

    @property
    def precision(self) -> str:
        dtypes = {np.dtype(t["dtype"]).name for t in self.interp.get_tensor_details()}
        if self.input_spec.dtype in ("int8", "uint8"):
            return "int8"
        if "int16" in dtypes and "int8" in dtypes:
            return "int16x8"
        if "int8" in dtypes:
            return "dynamic"
        if "float16" in dtypes:
            return "fp16"
        return "fp32"

    def op_names(self) -> list[str]:
        return sorted({op["op_name"] for op in self.interp._get_ops_details()})
