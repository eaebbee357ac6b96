"""The latency harness: pinned threads, warm-up, then N timed single-sample runs.

It times ``Runner.invoke_once`` on a prepared input, like ``litert-benchmark`` times
``Invoke()``; statistics are numpy's. Imports no TensorFlow unless the runtime is Keras.

Besides latency, :func:`bench_row` records per row:

- ``memory_mb``: resident set figures from ``/proc/self/status`` (``VmRSS``, and ``VmHWM`` for the
  peak), the OS's view with native allocations included, unlike ``tracemalloc``. By default
  (``memory="child"``) they come from a fresh child process that imports the runtime, resets its
  peak (writing ``5`` to ``/proc/self/clear_refs``), then loads the model and runs it ``runs``
  times: ``rss_before`` is the child with the runtime imported, ``peak_delta`` the most memory
  loading and running this one model added (model file, runtime allocations, tensor arena,
  XNNPACK packed weights). ``memory="inprocess"`` measures around the timed loop itself instead;
  cheaper, but freed pages of an earlier row stay with the allocator and are reused, so later rows
  can show a delta near 0. Keras models are always measured in-process (a child would import
  TensorFlow). Without ``/proc`` (not Linux) the figures are ``None``.
- ``roofline``: the model's multiply-accumulates (counted from the .tflite / .onnx graph, see
  :mod:`edgekit.benchmarking.ceiling`) over the p50, as GMAC/s and as a fraction of this CPU's measured
  1-thread float32 matrix-multiply ceiling (times the thread count for multi-thread rows).
- ``profile`` (when asked): per-operator times, see :mod:`edgekit.benchmarking.profile`.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edgekit.artifact import Latency
from edgekit.errors import EdgekitError
from edgekit.formats import format_of
from edgekit.records import BenchLatency, BenchRow


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
        from edgekit.verification import random_sample

        x = random_sample(runner, 1, seed)  # several inputs: a dict, one sample each
    runner.prepare({k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1])  # a dict: several inputs
    timer = getattr(runner, "time_invokes", None)
    if callable(timer):
        # A runtime in a worker process (TFLM) times its invokes itself: no pipe round trip in the figures.
        first_ms = float(timer(1)[0])
        if warmup:
            timer(warmup)
        raw = np.asarray(timer(runs), dtype=float)
        if progress is not None:
            progress(runs, runs)
    else:
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


def bench_row(path: str | Path, runtime: str | None = None, threads: int = 1, runs: int = 100, warmup: int = 10,
              progress=None, *, roofline: bool = True, macs: int | None = None, profile: bool = False,
              profile_runs: int = 20, memory: str = "child", **options) -> BenchRow:
    """Benchmark one file; returns the result row of ``edgekit bench --json`` (a :class:`~edgekit.records.BenchRow`).

    ``roofline``: add achieved GMAC/s and the fraction of :func:`~edgekit.benchmarking.ceiling.matmul_ceiling`
    (measured once per process, ~2 s); ``macs`` overrides the count read from the graph.
    ``profile``: add a per-operator profile (LiteRT and onnxruntime), ``profile_runs`` invokes per op.
    ``memory``: ``"child"`` (default), ``"inprocess"`` or ``"off"`` (see the module docstring).
    """
    from edgekit.runtime.base import check_model_file, default_runtime, load_runner

    _positive("threads", threads)
    _positive("runs", runs)
    _positive("warmup", warmup, allow_zero=True)
    check_model_file(path)
    runtime = runtime or default_runtime(path)
    if memory not in ("child", "inprocess", "off"):
        raise EdgekitError(f"memory must be 'child', 'inprocess' or 'off', got {memory!r}.")
    probe = MemoryProbe()

    def load():
        r = load_runner(path, runtime, threads, **options)
        probe.mark("after_load")
        return r

    runner, lat = bench_runner(load, runs, warmup, progress=progress)
    probe.mark("after_runs")
    fmt = format_of(path)
    opts = dict(options)
    if runtime == "litert":  # what ran, not what was asked: XNNPACK may have refused the model
        opts["xnnpack"] = bool(runner.xnnpack)
        if runner.xnnpack_fallback:
            opts["xnnpack_fallback"] = runner.xnnpack_fallback
    row = BenchRow(artifact=str(path), format=fmt, precision=runner.precision, runtime=runtime, threads=threads,
                   runs=runs, options=opts, latency_ms=BenchLatency.of(lat))
    del runner
    if runtime == "tflm" and memory != "off":
        # TFLM runs in its own worker process: this process's RSS says nothing about it.
        row.memory_mb = {"peak_delta": None, "method": "not measured: TFLM runs in a worker process; "
                         "its memory is the tensor arena (edgekit export --to mcu, mcu.json)"}
    elif memory == "child" and runtime in ("litert", "onnxruntime"):
        row.memory_mb = child_memory(path, runtime, threads, min(runs, 50), options)
    elif memory != "off":
        row.memory_mb = probe.result()
    if roofline:
        row.roofline = roofline_row(path, lat.p50, threads, macs, precision=row.precision)
    if profile:
        from edgekit.benchmarking.profile import profile as _profile

        if runtime not in ("litert", "onnxruntime"):
            raise EdgekitError(f"--profile covers LiteRT and onnxruntime; {runtime} has no per-op profile here.")
        row.profile = _profile(path, runtime, threads, runs=profile_runs, **options)
    return row


def bench_threads(path: str | Path, runtime: str | None = None, threads=(1,), runs: int = 100, warmup: int = 10,
                  progress=None, **kw) -> list[BenchRow]:
    """One :func:`bench_row` per thread count (``threads=(1, 2)``, or ``range(1, n + 1)``)."""
    counts = parse_threads(threads) if isinstance(threads, str) else list(threads)
    if not counts:
        raise EdgekitError("threads must name at least one count, e.g. 1,2.")
    for t in counts:
        _positive("threads", t)
    return [bench_row(path, runtime, t, runs, warmup, progress=progress, **kw) for t in counts]


def parse_threads(text: str) -> list[int]:
    """``"1,2,4"`` or ``"1-4"`` (or a mix: ``"1,3-4"``) to a sorted list of distinct positive counts."""
    out: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                if a < 1 or b < a:
                    raise ValueError
                out.update(range(a, b + 1))
            else:
                n = int(part)
                if n < 1:
                    raise ValueError
                out.add(n)
        except ValueError:
            raise EdgekitError(f"--threads takes positive counts like 1,2 or 1-4, got {text!r}.") from None
    if not out:
        raise EdgekitError(f"--threads takes positive counts like 1,2 or 1-4, got {text!r}.")
    return sorted(out)


def model_macs(path: str | Path) -> int | None:
    """Multiply-accumulates per inference: counted from a .tflite or .onnx graph; for a Keras model,
    read from the model card saved beside it (None when there is none)."""
    from edgekit.benchmarking.ceiling import onnx_macs, tflite_macs

    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".tflite":
            return tflite_macs(path) or None
        if suffix == ".onnx":
            return onnx_macs(path) or None
    except EdgekitError:
        return None
    from edgekit.artifact import ModelCard

    card = ModelCard.read_beside(path)
    return card.macs if card and card.macs else None


def roofline_row(path: str | Path, p50_ms: float, threads: int = 1, macs: int | None = None,
                 precision: str | None = None) -> dict | None:
    """Roofline figures of one row against the ceiling of its own precision (int8 rows against the
    integer matrix-product ceiling, the others against the float32 one)."""
    from edgekit.benchmarking.ceiling import ceiling_for, roofline

    macs = macs or model_macs(path)
    if not macs:
        return None
    out = roofline(macs, p50_ms, ceiling_for(precision), threads)
    if out is not None:
        out["ceiling_precision"] = "int8" if precision == "int8" else "fp32"
    return out


# --------------------------------------------------------------------------------------------
# Memory (Linux /proc)


def _proc_status() -> dict[str, int] | None:
    """VmRSS and VmHWM of this process in KiB (None without /proc)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out if len(out) == 2 else None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class MemoryProbe:
    """RSS before loading, at marks, and the peak since the probe was made (see the module docstring)."""

    METHOD = ("VmRSS/VmHWM from /proc/self/status; VmHWM reset via /proc/self/clear_refs before loading, "
              "so peak_delta = peak RSS during load and runs minus RSS before load")

    def __init__(self):
        import gc

        gc.collect()  # let a previous row's runner go first
        self.peak_reset = reset_peak_rss()
        self.before = _proc_status()
        self.marks: dict[str, dict[str, int] | None] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = _proc_status()

    def result(self) -> dict:
        mb = lambda kb: None if kb is None else round(kb / 1024, 3)  # noqa: E731
        if self.before is None:
            return {"rss_before": None, "rss_after_load": None, "rss_after_runs": None, "peak": None,
                    "peak_delta": None, "method": "unavailable (no /proc/self/status)"}
        last = self.marks.get("after_runs") or self.before
        load = self.marks.get("after_load") or last
        peak = last["VmHWM"]
        delta = peak - self.before["VmRSS"] if self.peak_reset else None
        return {"rss_before": mb(self.before["VmRSS"]), "rss_after_load": mb(load["VmRSS"]),
                "rss_after_runs": mb(last["VmRSS"]), "peak": mb(peak), "peak_delta": mb(delta),
                "method": self.METHOD if self.peak_reset else "VmRSS only (VmHWM could not be reset: peak_delta unknown)"}


def child_memory(path: str | Path, runtime: str, threads: int = 1, runs: int = 20, options: dict | None = None,
                 timeout: float = 300.0) -> dict:
    """Memory of loading and running ``path`` in a fresh child process (see the module docstring)."""
    import json
    import subprocess

    arg = json.dumps({"path": str(path), "runtime": runtime, "threads": threads, "runs": runs,
                      "options": options or {}})
    try:
        proc = subprocess.run([sys.executable, "-m", "edgekit.benchmarking.harness", arg], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"{path}: the memory probe did not finish within {timeout:.0f} s.") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise EdgekitError(f"{path}: the memory probe failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])


def _memory_child(arg: str) -> None:
    import json

    from edgekit.runtime.base import load_runner
    from edgekit.verification import random_sample

    a = json.loads(arg)
    # Import the runtime first, so its libraries count in the baseline and not in the model's delta.
    mod = {"litert": "edgekit.runtime.litert", "onnxruntime": "edgekit.runtime.onnxrt"}.get(a["runtime"])
    if mod:
        __import__(mod)
        if a["runtime"] == "litert":
            import ai_edge_litert.interpreter  # noqa: F401
        elif a["runtime"] == "onnxruntime":
            import onnxruntime  # noqa: F401
    probe = MemoryProbe()
    runner = load_runner(a["path"], a["runtime"], a["threads"], **a["options"])
    probe.mark("after_load")
    runner.prepare(random_sample(runner, 1, 0))
    for _ in range(max(1, a["runs"])):
        runner.invoke_once()
    probe.mark("after_runs")
    res = probe.result()
    res["method"] = "child process: " + res["method"]
    print(json.dumps(res), flush=True)


def machine_info() -> dict:
    """CPU model and flags, cores, OS, BLAS kernel and library versions, for comparing reports."""
    from edgekit.artifact import library_versions

    cpu, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine(), platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = sorted(have & {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni",
                                      "amx_tile", "sse4_2", "f16c", "asimd", "asimddp"})
    except OSError:
        pass
    from edgekit.benchmarking.ceiling import _blas_info

    info = {"cpu": cpu, "flags": flags, "cores": os.cpu_count(), "machine": platform.machine(),
            "os": platform.platform(), "python": platform.python_version(), "versions": library_versions(),
            "blas": _blas_info()}
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if env:
        info["blas_env"] = env
    return info


if __name__ == "__main__":  # the memory probe's child: python -m edgekit.benchmarking.harness '<json>'
    _memory_child(sys.argv[1])
