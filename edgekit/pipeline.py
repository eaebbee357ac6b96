"""The end-to-end run: train -> export -> verify -> bench -> report, in one bundle folder.

``edgekit demo`` is :func:`run` on the embedded default (MobileNetV2 0.35 on ``digits``).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from edgekit.errors import step_error
from edgekit.records import (ArtifactRow, BenchSettings, DatasetSummary, ModelSummary, RowLatency, RunReport, RuntimeRow,
                              StepFailure)

# The three deployable exports every run makes: (format, precision).
DEFAULT_EXPORTS = (("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32"))


def new_run_dir(root: str | Path, model: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    d = Path(root) / f"{model}-{stamp}"
    n = 1
    while d.exists():
        n += 1
        d = Path(root) / f"{model}-{stamp}-{n}"
    d.mkdir(parents=True)
    return d


def run(model: str = "mobilenet_v2", data: str = "digits", params: dict | None = None, out: str | Path | None = None,
        exports=DEFAULT_EXPORTS, bench: BenchSettings = BenchSettings(), console=None, *, npu: bool = True,
        mcu: bool = True, profile: bool = True, html: bool = True, mcu_target: str = "nucleo-l4r5zi",
        **train_overrides) -> RunReport:
    """Train ``model`` on ``data``, export, verify and benchmark every artifact; return the report.

    Besides latency, each LiteRT/onnxruntime row gets peak memory, a roofline figure and (``profile``)
    a per-op profile; the int8 .tflite gets Arm Ethos-U55/U65 estimates (``npu``, through vela) and a
    microcontroller bundle in ``mcu/`` with its TFLM-measured arena and agreement (``mcu``); a step
    that fails is recorded as ``{"error": ..., "status": ...}`` in the report and the run goes on
    (an unexpected exception is an "internal error" whose traceback goes to ``edgekit-error.log`` in
    the run folder); ``report.failures`` lists them all (:func:`step_failures`). ``html`` writes
    ``report.html`` (before the manifest, which stays last). Returns the :class:`~edgekit.records.RunReport`
    whose ``model_dump()`` is ``report.json``.
    """
    from rich.console import Console

    from edgekit.benchmarking.harness import bench_runner, machine_info
    from edgekit.convert import keras_artifact
    from edgekit.models.load import LoadedModel
    from edgekit.report import artifact_row, write_report
    from edgekit.report.manifest import write_manifest
    from edgekit.measure import reference_outputs
    from edgekit.runtime.keras import KerasRunner
    from edgekit.training import train

    console = console or Console(stderr=True, soft_wrap=True)
    run_dir = Path(out) if out else new_run_dir("export", model)
    run_dir.mkdir(parents=True, exist_ok=True)
    result = train(model, data, params=params, out=run_dir, console=console, **train_overrides)
    task = result.card.task
    ds = _task_dataset(task, result)  # what the deployed model takes (a generator: latent vectors)
    loaded = LoadedModel(str(result.model_path), "tf_keras", model=result.model)
    reference = KerasRunner(result.model_path, threads=bench.threads, loaded=loaded)
    ref_out = reference_outputs(reference, ds.x_test)  # computed once: every export is compared with it
    scorer = _TaskScorer(task, ds, ref_out, result.metrics.get("threshold"))

    rows = []
    keras_art = keras_artifact(result.model_path, loaded, result.card)
    console.print("[bold]bench[/] keras (reference)")
    _, lat = bench_runner(lambda: reference, bench.runs, bench.warmup, x=ds.x_test[:1])
    rows.append(scorer.row(artifact_row(keras_art, None, None, lat), ref_out))

    for fmt, precision in exports:
        console.print(f"[bold]export[/] {fmt} {precision}")
        try:
            rows.append(_export_step(loaded, fmt, precision, ds, run_dir, result.card, ref_out, bench, profile,
                                     console, scorer))
        except Exception as e:  # noqa: BLE001 - a step's failure is recorded and the run goes on
            status, msg = step_error(e, run_dir, f"export {fmt} {precision}")
            console.print(f"  [red]{status}[/]: {msg}", highlight=False)
            rows.append(ArtifactRow.failed(run_dir / f"model_{precision}.{fmt}", fmt, precision, msg, status))
    del ref_out
    if rows and rows[0].latency_ms and result.card.macs:
        from edgekit.benchmarking.harness import roofline_row

        rows[0].roofline = roofline_row(result.model_path, rows[0].latency_ms.p50, bench.threads, result.card.macs)
    int8 = next((r for r in rows if r.format == "tflite" and r.precision == "int8" and not r.error), None)
    npu_figures = _npu_figures(int8, console, run_dir) if npu else None
    mcu_figures = _mcu_figures(int8, run_dir / "mcu", ds, console, mcu_target) if mcu else None
    other_runtimes = _other_runtimes(int8, mcu_figures, bench, ds, console, run_dir) if int8 else []

    from edgekit.benchmarking.ceiling import int8_matmul_ceiling, matmul_ceiling

    report = RunReport(
        model=ModelSummary(name=model, params=result.card.params, macs=result.card.macs, knobs=result.card.knobs),
        dataset=DatasetSummary.of(ds),
        normalization=ds.normalization.model_dump(),
        labels=ds.class_names,
        task=task,
        metric=scorer.metric.as_dict(),
        training=_training_section(task, result),
        bench=bench,
        verify_source=f"{len(ds.x_test)} samples of the test split of {ds.name}",
        machine=machine_info(),
        artifacts=rows,
        run_dir=str(run_dir),
        ceiling=matmul_ceiling().model_dump(),
        ceiling_int8=int8_matmul_ceiling().model_dump(),  # int8 rows' "of ceiling" is against this one
        runtimes=other_runtimes,
        selection_split="validation",  # early stopping (val_loss) chose the weights kept
        measure_split="test",
    )
    if result.card.training is not None:
        report.training_outcome = result.card.training
    if npu:
        report.npu = npu_figures
    if mcu:
        report.mcu = mcu_figures
    report.failures = step_failures(report)
    write_report(run_dir, report)
    if html:
        from edgekit.report.html import write_html

        write_html(run_dir, report)
    write_manifest(run_dir)  # last: its presence means the bundle is complete
    return report


class _TaskScorer:
    """Each artifact's figures for the run's task (edgekit.verification.tasks), in the report's rows."""

    def __init__(self, task, ds, reference_outputs, threshold):
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


def _task_dataset(task, result):
    """The dataset in the deployed model's input space. A generator takes latent vectors: seeded
    normal noise (with one-hot classes for a conditional one) for calibration and parity."""
    ds = result.dataset
    if task != "generation":
        return ds
    import dataclasses

    import numpy as np

    net = result.model
    dim = int(net.inputs[0].shape[-1])
    classes = ds.num_classes if result.card.name.startswith("cgan") else 0  # as edgekit.training.tasks decides

    def latents(n, seed):
        rng = np.random.default_rng(seed)
        if not classes:
            return rng.standard_normal((n, dim)).astype(np.float32), np.zeros(n, np.int64)
        from edgekit.models.gan import cgan_inputs

        y = rng.integers(0, classes, size=n)
        return cgan_inputs(rng.standard_normal((n, dim - classes)), y, classes), y

    (xt, yt), (xv, yv), (xs, ys) = latents(512, 1), latents(128, 2), latents(256, 3)
    return dataclasses.replace(ds, name=f"{ds.name} latents", x_train=xt, y_train=yt, x_val=xv, y_val=yv,
                               x_test=xs, y_test=ys)


def _training_section(task, result) -> dict:
    m = result.metrics
    section = {"seconds": round(result.seconds, 1), "epochs_run": m["epochs_run"]}
    if task == "classification":
        section.update(test_accuracy=m["accuracy"], per_class=m["per_class"], confusion_matrix=m["confusion_matrix"])
    else:
        section["metrics"] = {k: v for k, v in m.items() if k != "epochs_run"}
    return section


def _export_step(loaded, fmt, precision, ds, run_dir, card, ref_out, bench, profile, console,
                 scorer: _TaskScorer) -> ArtifactRow:
    """Export one format, then measure it (:func:`edgekit.measure.measure`: parity with the Keras
    reference on the test split, the run's task figures, latency) and add its deploy figures."""
    from edgekit.convert import export
    from edgekit.measure import measure
    from edgekit.report import artifact_row

    art = export(loaded, to=fmt, precision=precision, data=ds, out=run_dir, name="model", card=card)
    m = measure(art, ref_out, ds, bench, task=scorer.task, score=scorer.figures)
    classify = scorer.task == "classification"
    console.print(f"  {Path(art.path).name}: {art.bytes / 1024:.1f} KB, {scorer.line(m.figures)}, "
                  f"cosine {m.parity.cosine:.6f}"
                  + (f", top-1 agreement {m.parity.top1_agreement:.4f}" if classify else ""))
    console.print(f"  {m.runtime}: p50 {m.latency.p50:.3f} ms, p99 {m.latency.p99:.3f} ms")
    row = scorer.row(artifact_row(art, None, m.parity, m.latency), figures=m.figures)
    if m.xnnpack_fallback:  # XNNPACK refused the model: say so, and record it
        row.set(options={"xnnpack": False, "xnnpack_fallback": m.xnnpack_fallback},
                label="litert (no xnnpack: refused)")
        console.print(f"  [yellow]warning:[/] {m.xnnpack_fallback}", highlight=False)
    return row.set(**_deploy_figures(art.path, m.runtime, m.latency, bench, profile, console, run_dir,
                                     precision=precision))


def step_failures(report: RunReport) -> list[StepFailure]:
    """Every requested step of a run that did not pass, from the errors recorded in its report
    (``step``, ``status`` "failed" | "internal error", ``error``). ``edgekit demo`` exits 3 when this
    is not empty (70 when one is an internal error)."""
    found: list[StepFailure] = []

    def add(step, rec):
        error, status = (rec.error, rec.status) if isinstance(rec, (ArtifactRow, RuntimeRow)) else \
            ((rec.get("error"), rec.get("status")) if isinstance(rec, dict) else (None, None))
        if error and status != "not applicable":
            found.append(StepFailure(step=step, status=status or "failed", error=error))

    for a in report.artifacts:
        add(f"export/verify/bench {a.name}", a)
        add(f"memory {a.name}", a.memory_mb)
        add(f"profile {a.name}", a.profile)
    mcu = report.mcu or {}
    add("mcu bundle", report.mcu)
    if mcu.get("tflm_error"):
        found.append(StepFailure(step="TFLM arena and agreement", status="failed", error=mcu["tflm_error"]))
    tflm_error = mcu.get("tflm_error") or mcu.get("error")
    for r in report.runtimes:
        if not (r.runtime == "tflm" and r.error == tflm_error):  # already counted
            add(f"bench on {r.label}", r)
    for f in report.npu or []:
        add(f"npu {f.get('accelerator')} (vela)", f)
    return found


def _deploy_figures(path, runtime: str, lat, bench: BenchSettings, profile: bool, console, run_dir: Path,
                    precision=None) -> dict:
    """Peak memory, roofline and per-op profile of one exported file (each failure recorded, not raised)."""
    from edgekit.benchmarking.harness import child_memory, roofline_row

    out: dict = {}
    try:
        out["memory_mb"] = child_memory(path, runtime, bench.threads, min(bench.runs, 50))
    except Exception as e:  # noqa: BLE001 - recorded; the run goes on
        out["memory_mb"] = _failed(e, run_dir, f"memory {Path(path).name}", console)
    out["roofline"] = roofline_row(path, lat.p50, bench.threads, precision=precision)
    if profile:
        from edgekit.benchmarking.profile import profile as _profile

        try:
            out["profile"] = _profile(path, runtime, bench.threads, runs=max(5, min(bench.runs, 20)))
        except Exception as e:  # noqa: BLE001
            out["profile"] = _failed(e, run_dir, f"profile {Path(path).name}", console)
    mem, roof = out.get("memory_mb") or {}, out.get("roofline") or {}
    if mem.get("peak_delta") is not None or roof:
        console.print(f"  peak +{mem.get('peak_delta', 0) or 0:.1f} MB"
                      + (f", {roof['gmacs_per_s']:.1f} GMAC/s = {roof['fraction']:.0%} of the {roof.get('ceiling_precision', 'fp32')} ceiling" if roof else ""))
    return out


def _failed(e: BaseException, run_dir: Path, step: str, console) -> dict:
    status, msg = step_error(e, run_dir, step)
    console.print(f"  [red]{step} {status}[/]: {msg}", highlight=False)
    return {"error": msg, "status": status}


def _other_runtimes(int8_row: ArtifactRow, mcu_figures: dict | None, bench: BenchSettings, ds, console,
                    run_dir: Path) -> list[RuntimeRow]:
    """The int8 .tflite on LiteRT without XNNPACK (its reference kernels) and on TFLM on this host."""
    from edgekit.benchmarking.harness import bench_runner
    from edgekit.runtime.base import load_runner

    path = int8_row.path
    cases = [("litert", {"xnnpack": False}, "litert (no xnnpack)")]
    tflm_error = None
    if mcu_figures is not None:
        tflm_error = mcu_figures.get("error") or mcu_figures.get("tflm_error")
        cases.append(("tflm", {"arena": mcu_figures.get("arena_bytes")}, "tflm (host)"))
    else:
        cases.append(("tflm", {}, "tflm (host)"))
    rows = []
    for runtime, opts, label in cases:
        row = RuntimeRow(path=path, format="tflite", precision="int8", runtime=runtime, label=label,
                         options={k: v for k, v in opts.items() if k != "arena"})
        if runtime == "tflm" and tflm_error:
            row.error = tflm_error  # it already failed once in this run: not tried again
        else:
            try:
                runner, lat = bench_runner(lambda: load_runner(path, runtime, bench.threads, **opts), bench.runs,
                                           bench.warmup, x=ds.x_test[:1])
                if hasattr(runner, "close"):
                    runner.close()  # TFLM's worker process
                row.set(latency_ms=RowLatency.of(lat), raw_latency_ms=lat.raw)
            except Exception as e:  # noqa: BLE001 - recorded; the run goes on
                status, error = step_error(e, run_dir, f"bench on {label}")
                row.set(status=status, error=error)
        console.print(f"[bold]bench[/] {Path(path).name} on {label}: "
                      + (f"[red]failed[/]: {row.error}" if row.has("error") else f"p50 {row.latency_ms.p50:.3f} ms"))
        rows.append(row)
    return rows


def _npu_figures(int8_row: ArtifactRow | None, console, run_dir: Path) -> list[dict]:
    from edgekit.benchmarking.npu import ACCELERATORS, estimate_npu

    if int8_row is None:
        return [{"accelerator": a, "error": "no int8 .tflite in this run"} for a in ACCELERATORS]
    figures = []
    for acc in ACCELERATORS:
        console.print(f"[bold]npu[/] {acc} (vela)")
        try:
            figures.append(estimate_npu(int8_row.path, acc).model_dump())
            f = figures[-1]
            console.print(f"  {f['inference_ms']:.3f} ms, SRAM {f['sram_bytes'] / 1024:.1f} KB, "
                          f"{f['npu_ops']} ops on the NPU, {f['cpu_ops']} on the CPU")
        except Exception as e:  # noqa: BLE001 - recorded; the run goes on
            figures.append({"accelerator": acc, **_failed(e, run_dir, f"npu {acc}", console)})
    return figures


def _mcu_figures(int8_row: ArtifactRow | None, out_dir: Path, ds, console, target: str = "nucleo-l4r5zi") -> dict:
    from edgekit.convert.mcu import build_mcu_bundle

    if int8_row is None:
        return {"error": "no int8 .tflite in this run"}
    console.print("[bold]mcu[/] TFLM arena, C array, op resolver")
    try:
        rep = build_mcu_bundle(int8_row.path, out_dir, ds.x_test, on_tflm_error="record", target=target)
    except Exception as e:  # noqa: BLE001 - not a full-int8 model, bad name: nothing written
        return _failed(e, out_dir.parent, "mcu bundle", console)
    fig = rep.model_dump()
    fig["dir"] = str(out_dir)
    if rep.tflm_error:
        console.print(f"  [red]TFLM failed[/]: {rep.tflm_error}")
    else:
        agree = "—" if rep.tflm_agreement is None else f"{rep.tflm_agreement:.4f}"
        console.print(f"  arena {rep.arena_bytes:,} B, flash {rep.flash_bytes:,} B, TFLM/LiteRT agreement {agree}")
    if rep.estimate:  # the Cortex-M latency estimate (edgekit.benchmarking.mcu_estimate)
        console.print(f"  estimated {rep.estimate['summary']}")
    return fig
