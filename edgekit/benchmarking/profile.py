"""Per-operator time for LiteRT and onnxruntime models. No TensorFlow import.

    profile("model.tflite", threads=1, runs=20) -> {"method", "rows": [...], "sum_ms", "total_ms", ...}

How each runtime is profiled (what the numbers are):

- **LiteRT, by isolation.** ai-edge-litert 2.3's Python ``Interpreter`` exposes no op profiler, and the
  ``litert-benchmark`` it installs is a Python CompiledModel benchmark without ``--enable_op_profiling``
  (the C++ ``benchmark_model`` that has it is not shipped in a wheel). So each operator of the
  ``.tflite`` flatbuffer is cut out into a one-operator model (its weights kept, its activation
  inputs made model inputs, filled with random values of the right dtype) and timed alone with the
  same interpreter settings (threads, XNNPACK on/off): the median of ``runs`` invokes. The
  whole model is timed the same way, so ``sum_ms`` / ``total_ms`` shows how well the parts add up
  (each isolated invoke pays the interpreter's call overhead, and loses the cache warmth of the
  previous op; fused delegate partitions can also be cheaper as a whole).
- **onnxruntime, natively.** ``SessionOptions.enable_profiling`` writes one JSON event per node
  execution (``cat == "Node"``, ``*_kernel_time``, microseconds); rows are the per-node median over
  ``runs``, and ``total_ms`` is the median of ``model_run`` events.

Rows are in execution order: ``{"index", "name", "op", "ms", "share", "macs"}`` (``share`` of ``sum_ms``).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit._native import quiet_stderr
from edgekit.errors import EdgekitError, first_line

LITERT_METHOD = ("isolation: each operator cut out into a one-op .tflite and timed alone in the same interpreter "
                 "settings (ai-edge-litert has no op profiler in Python, litert-benchmark no --enable_op_profiling)")
ORT_METHOD = "onnxruntime's built-in profiler (SessionOptions.enable_profiling), per-node kernel time"


def profile(path: str | Path, runtime: str | None = None, threads: int = 1, runs: int = 20, warmup: int = 3,
            xnnpack: bool = True) -> dict:
    """Per-operator times of ``path`` (``.tflite`` with LiteRT, ``.onnx`` with onnxruntime)."""
    p = Path(path)
    runtime = runtime or {".tflite": "litert", ".onnx": "onnxruntime"}.get(p.suffix.lower())
    if runtime == "litert":
        return profile_tflite(p, threads, runs, warmup, xnnpack)
    if runtime == "onnxruntime":
        return profile_onnx(p, threads, runs, warmup)
    raise EdgekitError(f"{p}: per-op profiles are made for LiteRT (.tflite) and onnxruntime (.onnx), "
                       f"not {runtime or p.suffix!r}.")


def _finish(rows: list[dict], total_ms: float, method: str, runtime: str, threads: int, runs: int, **extra) -> dict:
    s = float(sum(r["ms"] for r in rows))
    for r in rows:
        r["ms"] = round(r["ms"], 5)
        r["share"] = round(r["ms"] / s, 5) if s > 0 else 0.0
    return {"runtime": runtime, "threads": threads, "runs": runs, "method": method, "rows": rows,
            "sum_ms": round(s, 5), "total_ms": round(float(total_ms), 5),
            "sum_over_total": round(s / total_ms, 4) if total_ms > 0 else None, **extra}


# --------------------------------------------------------------------------------------------
# LiteRT


def _time_invokes(interp, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        interp.invoke()
    t = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter_ns()
        interp.invoke()
        t[i] = (time.perf_counter_ns() - t0) / 1e6
    return float(np.median(t))


def _interpreter(data: bytes, threads: int, xnnpack: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with quiet_stderr():
        it = Interpreter(model_content=bytes(data), num_threads=threads, experimental_op_resolver_type=resolver)
        it.allocate_tensors()
    return it


def _fill_random(interp, rng) -> None:
    for d in interp.get_input_details():
        dt = np.dtype(d["dtype"])
        shape = [int(s) for s in d["shape"]]
        if dt.kind == "f":
            x = rng.standard_normal(shape).astype(dt)
        elif dt == np.bool_:
            x = rng.integers(0, 2, shape).astype(dt)
        else:
            info = np.iinfo(dt)
            x = rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dt)
        interp.set_tensor(d["index"], x)


def _one_op_model(model, op_index: int):
    """A ModelT holding only operator ``op_index`` of subgraph 0 (weights kept, activations as inputs)."""
    from ai_edge_litert import schema_py_generated as schema

    sg = model.subgraphs[0]
    op = sg.operators[op_index]
    used = [int(i) for i in list(op.inputs if op.inputs is not None else []) + list(op.outputs) if int(i) >= 0]
    used = list(dict.fromkeys(used))
    remap = {old: new for new, old in enumerate(used)}
    buffers = [schema.BufferT()]  # buffer 0 is the empty sentinel
    tensors, const = [], set()
    for old in used:
        t = copy.copy(sg.tensors[old])
        b = model.buffers[t.buffer] if t.buffer else None
        if b is not None and b.data is not None and len(b.data) > 0:
            buffers.append(b)
            t.buffer = len(buffers) - 1
            const.add(old)
        else:
            t.buffer = 0
        tensors.append(t)
    new_op = copy.copy(op)
    new_op.inputs = [remap[int(i)] if int(i) >= 0 else -1 for i in (op.inputs if op.inputs is not None else [])]
    new_op.outputs = [remap[int(i)] for i in op.outputs]
    new_sg = schema.SubGraphT()
    new_sg.tensors = tensors
    new_sg.operators = [new_op]
    new_sg.inputs = [remap[int(i)] for i in (op.inputs if op.inputs is not None else [])
                     if int(i) >= 0 and int(i) not in const and not sg.tensors[int(i)].isVariable]
    new_sg.outputs = list(new_op.outputs)
    new_sg.name = "op"
    m = schema.ModelT()
    m.version = model.version
    m.operatorCodes = model.operatorCodes
    m.subgraphs = [new_sg]
    m.buffers = buffers
    m.description = b"edgekit one-op profile"
    return m


def profile_tflite(path: str | Path, threads: int = 1, runs: int = 20, warmup: int = 3, xnnpack: bool = True) -> dict:
    """Per-operator medians of a .tflite model by isolation (see the module docstring)."""
    from ai_edge_litert.tools import flatbuffer_utils as fu

    from edgekit.benchmarking.ceiling import tflite_op_macs
    from edgekit import tflite_file

    p = Path(path)
    opened = tflite_file.open_tflite(p)  # read and parsed once per run
    data, model = opened.data, opened.model
    if len(model.subgraphs) != 1:
        raise EdgekitError(f"{p}: has {len(model.subgraphs)} subgraphs (control flow); the per-op profile handles one.")
    rng = np.random.default_rng(0)
    full = _interpreter(data, threads, xnnpack)
    _fill_random(full, rng)
    total = _time_invokes(full, runs, warmup)
    del full
    macs = {r["index"]: r["macs"] for r in tflite_op_macs(p)}
    sg = model.subgraphs[0]
    rows = []
    for i, op in enumerate(sg.operators or []):
        name = tflite_file.op_name(model.operatorCodes[op.opcodeIndex])
        out_t = sg.tensors[int(op.outputs[0])]
        label = out_t.name.decode() if isinstance(out_t.name, bytes) else str(out_t.name)
        try:
            buf = fu.convert_object_to_bytearray(_one_op_model(model, i))
            it = _interpreter(buf, threads, xnnpack)
            _fill_random(it, rng)
            ms = _time_invokes(it, runs, warmup)
            del it
        except (ValueError, RuntimeError) as e:
            raise EdgekitError(f"{p}: operator {i} ({name}) cannot run on its own for the profile: "
                               f"{first_line(e)}") from e
        rows.append({"index": i, "name": label, "op": name, "ms": ms, "macs": macs.get(i, 0)})
    return _finish(rows, total, LITERT_METHOD, "litert", threads, runs, xnnpack=xnnpack)


# --------------------------------------------------------------------------------------------
# onnxruntime


def profile_onnx(path: str | Path, threads: int = 1, runs: int = 20, warmup: int = 3) -> dict:
    """Per-node medians from onnxruntime's own profiler."""
    import onnxruntime as ort

    from edgekit.runtime.onnxrt import session_options

    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"{p}: no such file. Check the path to the .onnx model.")
    with tempfile.TemporaryDirectory(prefix="edgekit-ortprof-") as tmp:
        opts = session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        try:
            sess = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise EdgekitError(f"{p}: onnxruntime cannot load this model: {first_line(e)}") from e
        rng = np.random.default_rng(0)
        feed = {}
        for i in sess.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
            feed[i.name] = rng.standard_normal(shape).astype(np.float32)
        for _ in range(warmup):
            sess.run(None, feed)
        for _ in range(runs):
            sess.run(None, feed)
        prof = sess.end_profiling()
        events = json.loads(Path(prof).read_text())
    run_events = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    # The last ``runs`` model_run events are the timed ones.
    run_events = sorted(run_events, key=lambda e: e["ts"])[-runs:]
    start = run_events[0]["ts"] if run_events else 0
    per_node: dict[str, list[float]] = {}
    order: dict[str, tuple[int, str]] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time") or e["ts"] < start:
            continue
        node = e["name"][: -len("_kernel_time")]
        per_node.setdefault(node, []).append(e["dur"] / 1e3)
        if node not in order:
            order[node] = (len(order), (e.get("args") or {}).get("op_name", "?"))
    rows = [{"index": idx, "name": node, "op": op, "ms": float(np.median(per_node[node])), "macs": None}
            for node, (idx, op) in sorted(order.items(), key=lambda kv: kv[1][0])]
    total = float(np.median([e["dur"] / 1e3 for e in run_events])) if run_events else 0.0
    return _finish(rows, total, ORT_METHOD, "onnxruntime", threads, runs)


def by_op_type(prof: dict) -> list[dict]:
    """Rows summed per operator type, slowest first: ``{"op", "count", "ms", "share"}``."""
    agg: dict[str, dict] = {}
    for r in prof.get("rows", []):
        a = agg.setdefault(r["op"], {"op": r["op"], "count": 0, "ms": 0.0})
        a["count"] += 1
        a["ms"] += r["ms"]
    s = sum(a["ms"] for a in agg.values()) or 1.0
    out = sorted(agg.values(), key=lambda a: -a["ms"])
    for a in out:
        a["ms"] = round(a["ms"], 5)
        a["share"] = round(a["ms"] / s, 4)
    return out
