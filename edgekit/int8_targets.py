"""The run's int8 .tflite beyond this CPU's default runtime: Arm Ethos-U estimates (vela), the
microcontroller bundle with TFLM's arena and agreement, and LiteRT's reference kernels and TFLM as
timed runtimes. Each is a step of the bundle's :class:`~edgekit.steps.StepLog`.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.bundle import Bundle
from edgekit.errors import EdgekitError
from edgekit.records import (ArtifactRow, McuFigures, NpuFailure, NpuFigures, RuntimeRow, StepError, StepFailure,
                             timed)

NO_INT8 = "no int8 .tflite in this run"


def int8_row(rows: list[ArtifactRow]) -> ArtifactRow | None:
    """The run's int8 .tflite row, when its export passed."""
    return next((r for r in rows if r.format == "tflite" and r.precision == "int8" and not r.error), None)


def _path(row: ArtifactRow | None) -> str:
    if row is None:
        raise EdgekitError(NO_INT8)
    return row.path


def npu_figures(b: Bundle, int8: ArtifactRow | None) -> list[NpuFigures | NpuFailure]:
    """vela's estimate for each Ethos-U accelerator (step ``npu <accelerator> (vela)``)."""
    from edgekit.benchmarking.npu import ACCELERATORS, estimate_npu

    figures = []
    for acc in ACCELERATORS:
        b.console.print(f"[bold]npu[/] {acc} (vela)")
        got = b.log.attempt(f"npu {acc} (vela)", lambda: NpuFigures(**estimate_npu(_path(int8), acc).model_dump()))
        if isinstance(got, StepFailure):
            figures.append(NpuFailure(accelerator=acc, error=got.error, status=got.status))
            continue
        b.console.print(f"  {got.inference_ms:.3f} ms, SRAM {got.sram_bytes / 1024:.1f} KB, "
                        f"{got.npu_ops} ops on the NPU, {got.cpu_ops} on the CPU")
        figures.append(got)
    return figures


def mcu_figures(b: Bundle, int8: ArtifactRow | None, target: str = "nucleo-l4r5zi") -> McuFigures | StepError:
    """The microcontroller bundle in ``mcu/`` (step ``mcu bundle``), then whether TFLM loaded and ran it
    (step ``TFLM arena and agreement``: the bundle is written either way)."""
    from edgekit.convert.mcu import build_mcu_bundle

    out_dir = b.run_dir / "mcu"
    b.console.print("[bold]mcu[/] TFLM arena, C array, op resolver")

    def build() -> McuFigures:
        rep = build_mcu_bundle(_path(int8), out_dir, b.ds.x_test, on_tflm_error="record", target=target,
                               litert_outputs=b.litert_outputs.get(str(_path(int8))))
        return McuFigures(**rep.model_dump(), dir=str(out_dir))

    fig = b.log.attempt("mcu bundle", build)
    if isinstance(fig, StepFailure):  # not a full-int8 model, no int8 file: nothing written
        return StepError(error=fig.error, status=fig.status)
    if not isinstance(b.log.attempt("TFLM arena and agreement", _tflm_ran, fig), StepFailure):
        agree = "—" if fig.tflm_agreement is None else f"{fig.tflm_agreement:.4f}"
        b.console.print(f"  arena {fig.arena_bytes:,} B, flash {fig.flash_bytes:,} B, TFLM/LiteRT agreement {agree}")
    if fig.estimate:  # the Cortex-M latency estimate (edgekit.benchmarking.mcu_estimate)
        b.console.print(f"  estimated {fig.estimate.summary}")
    return fig


def _tflm_ran(fig: McuFigures) -> None:
    if fig.tflm_error:
        raise EdgekitError(fig.tflm_error)


def other_runtimes(b: Bundle, int8: ArtifactRow, mcu: McuFigures | StepError | None) -> list[RuntimeRow]:
    """The int8 .tflite timed on LiteRT without XNNPACK (its reference kernels) and on TFLM on this host
    (steps ``bench on <label>``); TFLM is not tried again when the MCU step already saw it fail."""
    from edgekit.benchmarking.harness import bench_runner
    from edgekit.runtime.base import load_runner

    path = int8.path
    tflm_failed = (mcu.error if isinstance(mcu, StepError) else mcu.tflm_error) if mcu is not None else None
    arena = {"arena": mcu.arena_bytes} if isinstance(mcu, McuFigures) else {}
    rows = []
    for runtime, opts, label in (("litert", {"xnnpack": False}, "litert (no xnnpack)"),
                                 ("tflm", arena, "tflm (host)")):
        row = RuntimeRow(path=path, format="tflite", precision="int8", runtime=runtime, label=label,
                         options={k: v for k, v in opts.items() if k != "arena"})
        if runtime == "tflm" and tflm_failed:
            row.error = tflm_failed  # one failure, counted once by the MCU step
        else:
            got = b.log.attempt(f"bench on {label}", _timed_on, bench_runner, load_runner, path, runtime, opts, b)
            row.set(**({"status": got.status, "error": got.error} if isinstance(got, StepFailure) else got))
        b.console.print(f"[bold]bench[/] {Path(path).name} on {label}: "
                        + (f"[red]failed[/]: {row.error}" if row.has("error") else f"p50 {row.latency_ms.p50:.3f} ms"))
        rows.append(row)
    return rows


def _timed_on(bench_runner, load_runner, path, runtime, opts, b: Bundle) -> dict:
    runner, lat = bench_runner(lambda: load_runner(path, runtime, b.bench.threads, **opts), b.bench.runs,
                               b.bench.warmup, x=b.ds.x_test[:1])
    if hasattr(runner, "close"):
        runner.close()  # TFLM's worker process
    return timed(lat)
