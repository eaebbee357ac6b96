"""The roofline column: achieved multiply-accumulates per second against this CPU's ceiling.

    ceiling = matmul_ceiling()                 # numpy float32 sgemm 2048², 1 BLAS thread, median
    macs = tflite_macs("model.tflite")         # counted from the flatbuffer's conv/dense shapes
    roofline(macs, p50_ms, ceiling)            # {"macs", "gmacs_per_s", "ceiling_gmacs_per_s", "fraction"}

The ceiling is what one core reaches on the friendliest dense kernel there is (a large square
float32 matrix product through numpy's OpenBLAS, pinned to one thread with threadpoolctl; the
environment is never changed). A model's fraction of it says how much of the core's arithmetic
the runtime turns into useful multiply-adds: depthwise convolutions and small layers stay far
below 1. int8 kernels are compared with the same float32 ceiling (on CPUs with VNNI or dot-product
instructions they can exceed it, hence fractions above 1 are possible).

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


# --------------------------------------------------------------------------------------------
# MACs from a .tflite flatbuffer


def _prod(xs) -> int:
    return int(np.prod([int(v) for v in xs], dtype=np.int64)) if len(xs) else 1


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
                macs = _prod(shape(outs[0])) * w[1] * w[2] * w[3]
            elif name == "DEPTHWISE_CONV_2D":
                w = shape(ins[1])  # [1, kh, kw, cout]
                macs = _prod(shape(outs[0])) * w[1] * w[2]
            elif name == "FULLY_CONNECTED":
                w = shape(ins[1])  # [units, in_features]
                macs = _prod(shape(outs[0])) * w[-1]
            elif name == "TRANSPOSE_CONV":
                w = shape(ins[1])  # [cout, kh, kw, cin]; ins[2] is the activation
                macs = _prod(shape(ins[2])) * w[0] * w[1] * w[2]
            elif name == "BATCH_MATMUL":
                a = shape(ins[0])
                macs = _prod(shape(outs[0])) * a[-1]
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
                total += _prod(shapes[outs[0]]) * _prod(w[1:])
            elif n.op_type == "ConvTranspose":
                w = shapes[ins[1]]  # [cin, cout/group, kh, kw]
                total += _prod(shapes[ins[0]]) * _prod(w[1:])
            elif n.op_type in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
                a = shapes[ins[0]]
                k = a[-1]
                if n.op_type == "Gemm" and any(at.name == "transA" and at.i for at in n.attribute):
                    k = a[0]
                total += _prod(shapes[outs[0]]) * k
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
