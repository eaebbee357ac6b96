"""``edgekit bench A B --interleave``: time several files in alternating rounds of one run.

Two ``edgekit bench`` runs minutes apart on a shared machine can differ by more than a real
change (``REGRESSION 1.755x`` was seen here between two runs of one unchanged file). Timing the files in
alternating short rounds inside one process puts any load from other processes on all of them
alike, so their ratio (and :mod:`edgekit.benchmarking.compare`'s bootstrap interval of it) reflects the
files, not the moment. No TensorFlow unless a file is a Keras model.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgekit.formats import format_of
from edgekit.records import BenchLatency, BenchRow
from edgekit.errors import EdgekitError


def bench_interleaved(files: list[str | Path], runtime: str | None = None, threads: int = 1, runs: int = 100,
                      warmup: int = 10, rounds: int = 10, progress=None, **options) -> list[BenchRow]:
    """Result rows (as :func:`edgekit.benchmarking.harness.bench_row` writes them) for ``files``, timed in
    ``rounds`` alternating blocks of ``runs // rounds`` invokes each; the row order follows ``files``."""
    from edgekit.benchmarking.harness import _positive
    from edgekit.runtime.base import check_model_file, default_runtime, load_runner
    from edgekit.verification import random_sample

    if len(files) < 2:
        raise EdgekitError("--interleave needs at least two files to time against each other.")
    _positive("threads", threads)
    _positive("runs", runs)
    _positive("warmup", warmup, allow_zero=True)
    if not 1 <= rounds <= runs:
        raise EdgekitError(f"rounds must be between 1 and runs ({runs}), got {rounds}.")
    runners, rows = [], []
    for f in files:
        check_model_file(f)
        rt = runtime or default_runtime(f)
        opts = options if rt == "litert" else {}
        t0 = time.perf_counter()
        r = load_runner(f, rt, threads, **opts)
        init_ms = (time.perf_counter() - t0) * 1e3
        r.prepare(random_sample(r, 1, 0))
        if callable(getattr(r, "time_invokes", None)):
            raise EdgekitError(f"{Path(f).name}: --interleave times in-process runtimes (litert, onnxruntime, "
                               "keras), not TFLM's worker process.")
        t0 = time.perf_counter()
        r.invoke_once()
        first_ms = (time.perf_counter() - t0) * 1e3
        fmt = format_of(f)
        rows.append({"artifact": str(f), "format": fmt, "precision": r.precision, "runtime": rt, "threads": threads,
                     "runs": 0, "options": opts, "init": init_ms, "first": first_ms})
        runners.append(r)
    for r in runners:  # warm every file up before any is timed
        for _ in range(warmup):
            r.invoke_once()
    raws: list[list[float]] = [[] for _ in runners]
    block = runs // rounds
    sizes = [block + (1 if i < runs - block * rounds else 0) for i in range(rounds)]
    done = 0
    for n in sizes:
        for r, raw in zip(runners, raws):
            for _ in range(n):
                t0 = time.perf_counter_ns()
                r.invoke_once()
                raw.append((time.perf_counter_ns() - t0) / 1e6)
        done += n
        if progress is not None:
            progress(done, runs)
    out = []
    for row, r, raw in zip(rows, runners, raws):
        a = np.asarray(raw)
        lat = BenchLatency(runtime=r.name, threads=r.threads, init=row.pop("init"), first=row.pop("first"),
                           mean=float(a.mean()), p50=float(np.percentile(a, 50)), p90=float(np.percentile(a, 90)),
                           p99=float(np.percentile(a, 99)), std=float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                           runs=len(a), raw=[round(float(v), 5) for v in a])
        out.append(BenchRow(**row, latency_ms=lat).set(runs=len(a), interleaved={"rounds": rounds, "block": block}))
    return out
