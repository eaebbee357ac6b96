"""The latency harness: pinned threads, warm-up, then N timed single-sample runs.

It times ``Runner.invoke_once`` on a prepared input, like ``litert-benchmark`` times
``Invoke()``; statistics are numpy's. Imports no TensorFlow unless the runtime is Keras.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from edgekit.artifact import Latency
from edgekit.errors import EdgekitError


def _positive(name: str, v: int, allow_zero: bool = False) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < (0 if allow_zero else 1):
        raise EdgekitError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} integer, got {v!r}.")
    return v


def bench_runner(load, runs: int = 100, warmup: int = 10, x: np.ndarray | None = None, seed: int = 0,
                 progress=None) -> tuple[object, Latency]:
    """``load`` is a zero-argument callable returning a Runner (timed as init)."""
    _positive("runs", runs)
    _positive("warmup", warmup, allow_zero=True)
    t0 = time.perf_counter()
    runner = load()
    init_ms = (time.perf_counter() - t0) * 1e3
    if x is None:
        from edgekit.verify import random_inputs

        x = random_inputs(runner.input_spec.shape, 1, seed)
    runner.prepare(x[:1])
    t0 = time.perf_counter()
    runner.invoke_once()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        runner.invoke_once()
    raw = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter_ns()
        runner.invoke_once()
        raw[i] = (time.perf_counter_ns() - t0) / 1e6
        if progress is not None:
            progress(i + 1, runs)
    return runner, Latency(
        runtime=runner.name, threads=runner.threads, init=init_ms, first=first_ms, mean=float(raw.mean()),
        p50=float(np.percentile(raw, 50)), p90=float(np.percentile(raw, 90)), p99=float(np.percentile(raw, 99)),
        std=float(raw.std(ddof=1)) if runs > 1 else 0.0, runs=runs, raw=[round(float(v), 5) for v in raw],
    )


def bench(path: str | Path, runtime: str | None = None, threads: int = 1, runs: int = 100, warmup: int = 10,
          progress=None, **options) -> dict:
    """Benchmark one file; returns a result row for ``edgekit bench --json``."""
    from edgekit.runtime.base import check_model_file, default_runtime, load_runner

    _positive("threads", threads)
    _positive("runs", runs)
    _positive("warmup", warmup, allow_zero=True)
    check_model_file(path)
    runtime = runtime or default_runtime(path)
    runner, lat = bench_runner(lambda: load_runner(path, runtime, threads, **options), runs, warmup, progress=progress)
    fmt = {".tflite": "tflite", ".onnx": "onnx"}.get(Path(path).suffix.lower(), "keras")
    return {"artifact": str(path), "format": fmt, "precision": runner.precision, "runtime": runtime,
            "threads": threads, "runs": runs, "options": options, "latency_ms": lat.model_dump()}


def machine_info() -> dict:
    """CPU model and flags, cores, OS and library versions, for comparing reports."""
    from edgekit.artifact import library_versions

    cpu, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine(), platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = sorted(have & {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "sse4_2", "f16c"})
    except OSError:
        pass
    return {"cpu": cpu, "flags": flags, "cores": os.cpu_count(), "machine": platform.machine(),
            "os": platform.platform(), "python": platform.python_version(), "versions": library_versions()}
