"""The run bundle: a trained Keras model and its exports, each measured the same way, and one report.

``edgekit demo`` (:func:`edgekit.pipeline.run`) and a search's ``best/`` folder
(:func:`edgekit.tuning.report.export_bundle`) both assemble their bundle here:

    b = Bundle(run_dir, model_path, loaded, card, dataset, bench, console)
    rows = [b.reference_row(), b.export_row("tflite", "int8")]
    report = b.report(rows, model=ModelSummary(...), training={...})
    b.write(report)          # report.json, report.md, report.html, then manifest.json

Every export row is measured by :func:`edgekit.measure.measure` against the Keras model's outputs on the
test split (computed once, here), scored with the task's figures, and gets its peak memory, roofline
and (optionally) per-op profile. Each step runs through the bundle's :class:`~edgekit.steps.StepLog`,
so a failure becomes a row with the reason and an entry of ``report.failures``, and the run goes on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.records import (ArtifactRow, BenchSettings, DatasetSummary, ModelSummary, Roofline, RunReport,
                             StepFailure)
from edgekit.steps import StepLog


class TaskScorer:
    """Each artifact's figures for the run's task (:mod:`edgekit.verification.tasks`), in the report's rows."""

    def __init__(self, task: str, ds, reference_outputs, threshold=None):
        from edgekit.verification.tasks import task_metric

        self.task, self.ds, self.ref, self.threshold = task, ds, reference_outputs, threshold
        self.metric = task_metric(task)

    def figures(self, outputs) -> dict:
        from edgekit.verification.tasks import score_outputs

        return score_outputs(self.task, outputs, self.ds, reference=self.ref, threshold=self.threshold)

    def line(self, figures: dict) -> str:
        keys = self.metric.columns or (self.metric.name,)
        return ", ".join(f"{k} {figures[k]:.4f}" for k in keys if figures.get(k) is not None)

    def row(self, row: ArtifactRow, outputs=None, figures: dict | None = None) -> ArtifactRow:
        figures = figures if figures is not None else self.figures(outputs)
        # accuracy: classification's column, None for the other tasks
        return row.set(metrics=figures, accuracy=figures.get("accuracy"))


class Bundle:
    """One bundle folder being assembled: the Keras reference, the test split, bench settings, the step log."""

    def __init__(self, run_dir: str | Path, model_path: str | Path, loaded, card, ds,
                 bench: BenchSettings = BenchSettings(), console=None, *, threshold: float | None = None, task: str | None = None,
                 reference_outputs=None):
        from edgekit.measure import reference_outputs as keras_outputs
        from edgekit.runtime.keras import KerasRunner

        self.run_dir, self.model_path = Path(run_dir), Path(model_path)
        self.loaded, self.card, self.ds, self.bench = loaded, card, ds, bench
        self.console = console or _quiet_console()
        self.log = StepLog(self.run_dir, self.console)
        self.task = task or (card.task if card else None) or getattr(ds, "task", None) or "classification"
        self.reference = KerasRunner(self.model_path, threads=bench.threads, loaded=loaded)
        # computed once (or handed over by training, which already ran the model on the test split):
        # every export is compared with it
        self.ref_out = reference_outputs if reference_outputs is not None else keras_outputs(self.reference, ds.x_test)
        self.scorer = TaskScorer(self.task, ds, self.ref_out, threshold)
        # each exported file's LiteRT outputs on the test split (XNNPACK on), so the MCU bundle's
        # agreement check compares with them instead of running the file again
        self.litert_outputs: dict[str, object] = {}

    # ------------------------------------------------------------------------- rows

    def reference_row(self) -> ArtifactRow:
        """The Keras model's row: its task figures, its single-sample latency and (with a MAC count) roofline."""
        from edgekit.benchmarking.harness import bench_runner, roofline_row
        from edgekit.convert import keras_artifact
        from edgekit.report import artifact_row

        self.console.print("[bold]bench[/] keras (reference)")
        _, lat = bench_runner(lambda: self.reference, self.bench.runs, self.bench.warmup, x=self.ds.x_test[:1])
        row = self.scorer.row(artifact_row(keras_artifact(self.model_path, self.loaded, self.card), None, None, lat),
                              self.ref_out)
        macs = self.card.macs if self.card else None
        if macs:
            roof = roofline_row(self.model_path, lat.p50, self.bench.threads, macs)
            row.roofline = None if roof is None else Roofline(**roof)
        return row

    def export_row(self, fmt: str, precision: str, *, profile: bool = True, seed: int = 0) -> ArtifactRow:
        """Export one format and measure it (step ``export/verify/bench <file>``), then its peak memory,
        roofline and per-op profile (steps ``memory <file>``, ``profile <file>``)."""
        self.console.print(f"[bold]export[/] {fmt} {precision}")
        path = self.run_dir / f"model_{precision}.{fmt}"
        row = self.log.attempt(f"export/verify/bench {path.name}", self._measured_export, fmt, precision, seed)
        if isinstance(row, StepFailure):
            return ArtifactRow.failed(path, fmt, precision, row.error, row.status)
        return row.set(**self._deploy_figures(row, profile))

    def _measured_export(self, fmt: str, precision: str, seed: int) -> ArtifactRow:
        from edgekit.convert import export
        from edgekit.measure import measure
        from edgekit.report import artifact_row

        art = export(self.loaded, to=fmt, precision=precision, data=self.ds, out=self.run_dir, name="model",
                     card=self.card, seed=seed)
        m = measure(art, self.ref_out, self.ds, self.bench, task=self.task, score=self.scorer.figures)
        agree = f", top-1 agreement {m.parity.top1_agreement:.4f}" if self.task == "classification" else ""
        self.console.print(f"  {Path(art.path).name}: {art.bytes / 1024:.1f} KB, {self.scorer.line(m.figures)}, "
                           f"cosine {m.parity.cosine:.6f}{agree}")
        self.console.print(f"  {m.runtime}: p50 {m.latency.p50:.3f} ms, p99 {m.latency.p99:.3f} ms")
        row = self.scorer.row(artifact_row(art, None, m.parity, m.latency), figures=m.figures)
        if fmt == "tflite" and not m.xnnpack_fallback and isinstance(m.outputs, np.ndarray):
            self.litert_outputs[str(art.path)] = m.outputs
        if m.xnnpack_fallback:  # XNNPACK refused the model: say so, and record it
            row.set(options={"xnnpack": False, "xnnpack_fallback": m.xnnpack_fallback},
                    label="litert (no xnnpack: refused)")
            self.console.print(f"  [yellow]warning:[/] {m.xnnpack_fallback}", highlight=False)
        return row

    def _deploy_figures(self, row: ArtifactRow, profile: bool) -> dict:
        """Peak memory, roofline and per-op profile of one exported file (a failure is recorded, not raised)."""
        from edgekit.benchmarking.harness import child_memory, roofline_row
        from edgekit.benchmarking.profile import profile as op_profile
        from edgekit.formats import runtime_for
        from edgekit.records import MemoryFigures, Profile, StepError

        path, runtime, b = row.path, runtime_for(row.format), self.bench

        def figures(step, record, fn, *args, **kw):
            got = self.log.attempt(f"{step} {row.name}", lambda: record(**fn(*args, **kw)))
            return StepError(error=got.error, status=got.status) if isinstance(got, StepFailure) else got

        out = {"memory_mb": figures("memory", MemoryFigures, child_memory, path, runtime, b.threads, min(b.runs, 50))}
        roof = roofline_row(path, row.latency_ms.p50, b.threads, precision=row.precision)
        out["roofline"] = None if roof is None else Roofline(**roof)
        if profile:
            out["profile"] = figures("profile", Profile, op_profile, path, runtime, b.threads,
                                     runs=max(5, min(b.runs, 20)))
        mem, roof = out["memory_mb"], out["roofline"]
        peak = getattr(mem, "peak_delta", None)
        if peak is not None or roof:
            ceiling = roof and roof.fraction is not None
            self.console.print(f"  peak +{peak or 0:.1f} MB" + (
                f", {roof.gmacs_per_s:.1f} GMAC/s = {roof.fraction:.0%} of the "
                f"{roof.ceiling_precision or 'fp32'} ceiling" if ceiling else ""))
        return out

    # ------------------------------------------------------------------------- the report

    def report(self, rows: list[ArtifactRow], *, model: ModelSummary, training: dict, runtimes=(), npu=None,
               mcu=None, selection_split: str = "validation") -> RunReport:
        """``report.json``'s record; its ``failures`` are every step the log saw fail (``self.log.exit_code``)."""
        from edgekit.benchmarking.ceiling import int8_matmul_ceiling, matmul_ceiling
        from edgekit.benchmarking.harness import machine_info

        ds, bench = self.ds, self.bench
        report = RunReport(
            model=model, dataset=DatasetSummary.of(ds), normalization=ds.normalization.model_dump(),
            labels=ds.class_names, task=self.task, metric=self.scorer.metric.as_dict(), training=training,
            bench=BenchSettings(threads=bench.threads, runs=bench.runs, warmup=bench.warmup),
            verify_source=f"{len(ds.x_test)} samples of the test split of {ds.name}", machine=machine_info(),
            artifacts=rows, run_dir=str(self.run_dir), ceiling=matmul_ceiling().model_dump(),
            ceiling_int8=int8_matmul_ceiling().model_dump(),  # int8 rows' "of ceiling" is against this one
            runtimes=list(runtimes), selection_split=selection_split, measure_split="test")
        if self.card is not None and self.card.training is not None:
            report.training_outcome = self.card.training
        if npu is not None:
            report.npu = npu
        if mcu is not None:
            report.mcu = mcu
        report.failures = list(self.log.failures)
        return report

    def write(self, report: RunReport, html: bool = True) -> Path:
        from edgekit.report import write_bundle

        return write_bundle(self.run_dir, report, html=html)


def _quiet_console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, quiet=True)
