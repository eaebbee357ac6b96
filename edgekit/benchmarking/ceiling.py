"""The roofline column: achieved multiply-accumulates per second against this CPU's ceiling.

    ceiling = matmul_ceiling()                 # numpy float32 sgemm 2048², 1 BLAS thread, median
    macs = tflite_macs("model.tflite")         # counted from the flatbuffer's conv/dense shapes
    roofline(macs, p50_ms, ceiling)            # {"macs", "gmacs_per_s", "ceiling_gmacs_per_s", "fraction"}

The ceiling is what one core reaches on the friendliest dense kernel there is (a large square
float32 matrix product through numpy's OpenBLAS, pinned to one thread with threadpoolctl; the
environment is never changed). A model's fraction of it says how much of the core's arithmetic
the runtime turns into useful multiply-adds: depthwise convolutions and small layers stay far
below 1.

int8 rows have their own ceiling, :func:`int8_matmul_ceiling`: onnxruntime's integer matrix product
(``MatMulInteger``, uint8 x int8 -> int32, 1024², weights as an initializer so they are pre-packed
the way a FULLY_CONNECTED layer's are) on one intra-op thread. On CPUs with VNNI (AVX-512 VNNI,
AVX-VNNI) or ARM dot-product instructions integer multiply-adds run several times faster than
float ones, so an int8 model measured against the float ceiling could read far above 100%;
against the int8 ceiling a fraction again means "share of what this core can do". Use
:func:`ceiling_for` to pick the one matching a row's precision.

Caveat: on some machines OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set to pick an older
OpenBLAS kernel; that lowers the measured ceiling. :func:`matmul_ceiling` records the kernel
OpenBLAS reports and the variables' values so a reader can tell. No TensorFlow import.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from edgekit.errors import EdgekitError
from edgekit.shapes import num_elements

CEILING_N = 2048


class Ceiling(BaseModel):
    model_config = ConfigDict(frozen=True)

    gmacs_per_s: float  # median over repeats: n³ multiply-adds / CPU seconds of the calling thread / 1e9
    n: int
    repeats: int
    median_ms: float  # CPU time of one product
    wall_gmacs_per_s: float = 0.0  # the same by the wall clock (lower when other processes share the core)
    threads: int = 1
    blas: str = ""  # e.g. "openblas 0.3.31 (SkylakeX)"
    env: dict[str, str] = {}  # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE when set
    precision: str = "fp32"  # the precision of the rows this ceiling is for: fp32 (also fp16/dynamic) or int8
    method: str = "numpy float32 sgemm (OpenBLAS), 1 thread, CPU time of the calling thread"


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        # numpy's own BLAS is the one the ceiling runs on (SciPy may bring a second one).
        blas.sort(key=lambda d: "numpy" not in str(d.get("filepath", "")))
        for d in blas:
            arch = f" ({d['architecture']})" if d.get("architecture") else ""
            return f"{d.get('internal_api', '?')} {d.get('version', '')}{arch}".strip()
    except Exception:  # threadpoolctl missing or confused: the ceiling is still valid
        pass
    return ""


@lru_cache(maxsize=4)
def matmul_ceiling(n: int = CEILING_N, repeats: int = 5) -> Ceiling:
    """Median float32 ``n×n @ n×n`` throughput on one BLAS thread, measured once per process.

    Timed by the calling thread's CPU time (``time.thread_time``; one BLAS thread computes in the
    caller): one product takes ~0.2 s, long enough that on a shared machine the scheduler takes
    the core away part of the time, which would halve a wall-clock figure (seen here: 25 GMAC/s by
    the wall clock, 50 by CPU time, on 2 cores under a load of 6). Latency medians of
    sub-millisecond invokes mostly escape that, so the CPU-time ceiling is the comparable one.
    """
    if n < 64 or repeats < 1:
        raise EdgekitError(f"matmul_ceiling needs n >= 64 and repeats >= 1, got n={n}, repeats={repeats}.")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        limit = None
    try:
        np.matmul(a, b, out=c)  # warm-up: page in, let the BLAS pick its kernel
        cpu, wall = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.thread_time()
            np.matmul(a, b, out=c)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    med = float(np.median(cpu))
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return Ceiling(gmacs_per_s=n**3 / med / 1e9, n=n, repeats=repeats, median_ms=med * 1e3,
                   wall_gmacs_per_s=n**3 / float(np.median(wall)) / 1e9, blas=_blas_info(), env=env)


INT8_CEILING_N = 1024  # 2048² is slower per MAC here (packing and cache traffic), not the friendliest size


@lru_cache(maxsize=4)
def int8_matmul_ceiling(n: int = INT8_CEILING_N, repeats: int = 15) -> Ceiling:
    """Median int8 ``n×n @ n×n`` throughput of onnxruntime's ``MatMulInteger`` on one thread.

    Timed by the process's CPU time: onnxruntime may run the single intra-op thread's work off the
    calling thread (``time.thread_time`` read near zero here), and nothing else computes in this
    process meanwhile. No TensorFlow import.
    """
    if n < 64 or repeats < 1:
        raise EdgekitError(f"int8_matmul_ceiling needs n >= 64 and repeats >= 1, got n={n}, repeats={repeats}.")
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    b = rng.integers(-128, 128, (n, n), dtype=np.int8)
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "int8_ceiling",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])],
                              [numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {"a": a}
    sess.run(None, feed)  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        sess.run(None, feed)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    med = float(np.median(cpu))
    return Ceiling(gmacs_per_s=n**3 / med / 1e9, n=n, repeats=repeats, median_ms=med * 1e3,
                   wall_gmacs_per_s=n**3 / float(np.median(wall)) / 1e9, blas=f"onnxruntime {ort.__version__} MLAS",
                   precision="int8", method="onnxruntime MatMulInteger (uint8 x int8 -> int32), 1 intra-op thread, "
                   "process CPU time")


def ceiling_for(precision: str | None) -> Ceiling:
    """The ceiling a row of ``precision`` is measured against: int8 rows the integer one, the rest
    (fp32, fp16 and dynamic-range, which compute in float) the float32 one."""
    return int8_matmul_ceiling() if precision == "int8" else matmul_ceiling()


# --------------------------------------------------------------------------------------------
# MACs from a .tflite flatbuffer


def tflite_op_macs(path: str | Path) -> list[dict]:
    """Per operator (execution order): ``{"index", "op", "macs"}``.

    Counted the way the MobileNet papers count: CONV_2D ``out_elems × kh × kw × cin``,
    DEPTHWISE_CONV_2D ``out_elems × kh × kw``, FULLY_CONNECTED ``out_elems × in_features``,
    TRANSPOSE_CONV ``in_elems × kh × kw × cout``, BATCH_MATMUL ``out_elems × k``; other ops 0.
    """
    from edgekit import tflite_file

    model = tflite_file.read_model(path)
    sg = model.subgraphs[0]

    def shape(i):
        t = sg.tensors[i]
        return [max(int(d), 1) for d in (t.shape if t.shape is not None else [])]

    rows = []
    for idx, op in enumerate(sg.operators or []):
        name = tflite_file.op_name(model.operatorCodes[op.opcodeIndex])
        ins = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        macs = 0
        try:
            if name == "CONV_2D":
                w = shape(ins[1])  # [cout, kh, kw, cin]
                macs = num_elements(shape(outs[0])) * w[1] * w[2] * w[3]
            elif name == "DEPTHWISE_CONV_2D":
                w = shape(ins[1])  # [1, kh, kw, cout]
                macs = num_elements(shape(outs[0])) * w[1] * w[2]
            elif name == "FULLY_CONNECTED":
                w = shape(ins[1])  # [units, in_features]
                macs = num_elements(shape(outs[0])) * w[-1]
            elif name == "TRANSPOSE_CONV":
                w = shape(ins[1])  # [cout, kh, kw, cin]; ins[2] is the activation
                macs = num_elements(shape(ins[2])) * w[0] * w[1] * w[2]
            elif name == "BATCH_MATMUL":
                a = shape(ins[0])
                macs = num_elements(shape(outs[0])) * a[-1]
        except (IndexError, TypeError):
            macs = 0
        rows.append({"index": idx, "op": name, "macs": int(macs)})
    return rows


def tflite_macs(path: str | Path) -> int:
    """Multiply-accumulates of one inference of a .tflite model (batch as stored, usually 1)."""
    return sum(r["macs"] for r in tflite_op_macs(path))


def onnx_macs(path: str | Path) -> int:
    """Multiply-accumulates of an .onnx model (batch 1): Conv, ConvTranspose, Gemm, MatMul and the
    integer/QLinear forms, from shapes found by ONNX shape inference."""
    import onnx
    from onnx import numpy_helper, shape_inference

    p = Path(path)
    try:
        m = onnx.load(str(p), load_external_data=False)
        # Batch 1 where the batch is symbolic, so shape inference gives numbers.
        for inp in m.graph.input:
            dims = inp.type.tensor_type.shape.dim
            if dims and not dims[0].dim_value:
                dims[0].dim_value = 1
        m = shape_inference.infer_shapes(m)
    except Exception as e:
        raise EdgekitError(f"{p}: cannot read the ONNX graph's shapes ({type(e).__name__}).") from e
    shapes: dict[str, list[int]] = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [max(int(d.dim_value), 1) for d in dims]
    for init in m.graph.initializer:
        shapes[init.name] = list(numpy_helper.to_array(init).shape) if not init.dims else [int(d) for d in init.dims]
    total = 0
    for n in m.graph.node:
        ins = list(n.input)
        outs = list(n.output)
        try:
            if n.op_type in ("Conv", "ConvInteger", "QLinearConv"):
                w = shapes[ins[3] if n.op_type == "QLinearConv" else ins[1]]  # [cout, cin/group, kh, kw]
                total += num_elements(shapes[outs[0]]) * num_elements(w[1:])
            elif n.op_type == "ConvTranspose":
                w = shapes[ins[1]]  # [cin, cout/group, kh, kw]
                total += num_elements(shapes[ins[0]]) * num_elements(w[1:])
            elif n.op_type in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
                a = shapes[ins[0]]
                k = a[-1]
                if n.op_type == "Gemm" and any(at.name == "transA" and at.i for at in n.attribute):
                    k = a[0]
                total += num_elements(shapes[outs[0]]) * k
        except (KeyError, IndexError):
            continue
    return int(total)


def roofline(macs: int | None, latency_ms: float | None, ceiling: Ceiling | None, threads: int = 1) -> dict | None:
    """``{"macs", "gmacs_per_s", "ceiling_gmacs_per_s", "fraction"}`` for one inference taking ``latency_ms``.

    With ``threads`` > 1 the ceiling is the 1-thread figure times ``threads`` (perfect scaling, an
    upper bound), so the fraction stays "share of the cores' arithmetic the runtime used".
    """
    if not macs or not latency_ms or latency_ms <= 0:
        return None
    achieved = macs / (latency_ms / 1e3) / 1e9
    out = {"macs": int(macs), "gmacs_per_s": round(achieved, 4)}
    if ceiling is not None:
        top = ceiling.gmacs_per_s * max(1, threads)
        out["ceiling_gmacs_per_s"] = round(top, 3)
        out["fraction"] = round(achieved / top, 4)
    return out
