"""The end-to-end run: train -> export -> verify -> bench -> report, in one bundle folder.

``edgekit demo`` is :func:`run` on the embedded default (MobileNetV2 0.35 on ``digits``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import EdgekitError

# The three deployable exports every run makes: (format, precision).
DEFAULT_EXPORTS = (("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32"))


@dataclass(frozen=True)
class BenchConfig:
    threads: int = 1
    runs: int = 100
    warmup: int = 10


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
        exports=DEFAULT_EXPORTS, bench: BenchConfig = BenchConfig(), console=None, *, npu: bool = True,
        mcu: bool = True, profile: bool = True, html: bool = True, **train_overrides) -> dict:
    """Train ``model`` on ``data``, export, verify and benchmark every artifact; return the report.

    Besides latency, each LiteRT/onnxruntime row gets peak memory, a roofline figure and (``profile``)
    a per-op profile; the int8 .tflite gets Arm Ethos-U55/U65 estimates (``npu``, through vela) and a
    microcontroller bundle in ``mcu/`` with its TFLM-measured arena and agreement (``mcu``); a step
    that fails is recorded as ``{"error": ...}`` in the report and the run goes on. ``html`` writes
    ``report.html`` (before the manifest, which stays last).
    """
    from rich.console import Console

    from edgekit.bench.harness import bench_runner, machine_info
    from edgekit.convert import export, keras_artifact
    from edgekit.models.load import LoadedModel
    from edgekit.report import artifact_row, write_report
    from edgekit.report.manifest import write_manifest
    from edgekit.runtime.base import load_runner
    from edgekit.runtime.keras import KerasRunner
    from edgekit.train import train
    from edgekit.verify import verify_runners

    console = console or Console(stderr=True, soft_wrap=True)
    run_dir = Path(out) if out else new_run_dir("export", model)
    run_dir.mkdir(parents=True, exist_ok=True)
    result = train(model, data, params=params, out=run_dir, console=console, **train_overrides)
    ds = result.dataset
    loaded = LoadedModel(str(result.model_path), "tf_keras", model=result.model)
    reference = KerasRunner(result.model_path, threads=bench.threads, loaded=loaded)
    ref_out = reference.run(ds.x_test)

    rows = []
    keras_art = keras_artifact(result.model_path, loaded, result.card)
    console.print("[bold]bench[/] keras (reference)")
    _, lat = bench_runner(lambda: reference, bench.runs, bench.warmup, x=ds.x_test[:1])
    rows.append(artifact_row(keras_art, result.metrics["accuracy"], None, lat))

    for fmt, precision in exports:
        console.print(f"[bold]export[/] {fmt} {precision}")
        try:
            art = export(loaded, to=fmt, precision=precision, data=ds, out=run_dir, name="model", card=result.card)
        except EdgekitError as e:
            console.print(f"  [red]failed[/]: {e}")
            rows.append({"path": str(run_dir / f"model_{precision}.{fmt}"), "format": fmt, "precision": precision,
                         "bytes": 0, "sha256": None, "accuracy": None, "parity": None, "latency_ms": None,
                         "error": str(e)})
            continue
        runtime = "litert" if fmt == "tflite" else "onnxruntime"
        runner = load_runner(art.path, runtime, bench.threads)
        ver = verify_runners(runner, reference, ds.x_test, ds.y_test, source=f"test split of {ds.name}")
        console.print(f"  {Path(art.path).name}: {art.bytes / 1024:.1f} KB, accuracy {ver.accuracy:.4f}, "
                      f"cosine {ver.parity.cosine:.6f}, top-1 agreement {ver.parity.top1_agreement:.4f}")
        _, lat = bench_runner(lambda: load_runner(art.path, runtime, bench.threads), bench.runs, bench.warmup,
                              x=ds.x_test[:1])
        console.print(f"  {runtime}: p50 {lat.p50:.3f} ms, p99 {lat.p99:.3f} ms")
        row = artifact_row(art, ver.accuracy, ver.parity, lat)
        row.update(_deploy_figures(art.path, runtime, lat, bench, profile, console, precision=precision))
        rows.append(row)
    del ref_out
    if rows and rows[0].get("latency_ms") and result.card.macs:
        from edgekit.bench.harness import roofline_row

        rows[0]["roofline"] = roofline_row(result.model_path, rows[0]["latency_ms"]["p50"], bench.threads,
                                           result.card.macs)
    int8 = next((r for r in rows if r["format"] == "tflite" and r["precision"] == "int8" and not r.get("error")), None)
    npu_figures = _npu_figures(int8, console) if npu else None
    mcu_figures = _mcu_figures(int8, run_dir / "mcu", ds, console) if mcu else None
    other_runtimes = _other_runtimes(int8, mcu_figures, bench, ds, console) if int8 else []

    report = {
        "model": {"name": model, "params": result.card.params, "macs": result.card.macs, "knobs": result.card.knobs},
        "dataset": {"name": ds.name, "n_train": len(ds.x_train), "n_val": len(ds.x_val), "n_test": len(ds.x_test),
                    "num_classes": ds.num_classes, "input_shape": list(ds.input_shape)},
        "normalization": ds.normalization.model_dump(),
        "labels": ds.class_names,
        "training": {"seconds": round(result.seconds, 1), "epochs_run": result.metrics["epochs_run"],
                     "test_accuracy": result.metrics["accuracy"], "per_class": result.metrics["per_class"],
                     "confusion_matrix": result.metrics["confusion_matrix"]},
        "bench": {"threads": bench.threads, "runs": bench.runs, "warmup": bench.warmup},
        "verify_source": f"{len(ds.x_test)} samples of the test split of {ds.name}",
        "machine": machine_info(),
        "artifacts": rows,
        "run_dir": str(run_dir),
    }
    from edgekit.bench.ceiling import int8_matmul_ceiling, matmul_ceiling

    report["ceiling"] = matmul_ceiling().model_dump()
    report["ceiling_int8"] = int8_matmul_ceiling().model_dump()  # int8 rows' "of ceiling" is against this one
    report["runtimes"] = other_runtimes
    if npu:
        report["npu"] = npu_figures
    if mcu:
        report["mcu"] = mcu_figures
    write_report(run_dir, report)
    if html:
        from edgekit.report.html import write_html

        write_html(run_dir, report)
    write_manifest(run_dir)  # last: its presence means the bundle is complete
    return report


def _deploy_figures(path, runtime: str, lat, bench: BenchConfig, profile: bool, console, precision=None) -> dict:
    """Peak memory, roofline and per-op profile of one exported file (each failure recorded, not raised)."""
    from edgekit.bench.harness import child_memory, roofline_row

    out: dict = {}
    try:
        out["memory_mb"] = child_memory(path, runtime, bench.threads, min(bench.runs, 50))
    except EdgekitError as e:
        out["memory_mb"] = {"error": str(e)}
    out["roofline"] = roofline_row(path, lat.p50, bench.threads, precision=precision)
    if profile:
        from edgekit.bench.profile import profile as _profile

        try:
            out["profile"] = _profile(path, runtime, bench.threads, runs=max(5, min(bench.runs, 20)))
        except EdgekitError as e:
            out["profile"] = {"error": str(e)}
    mem, roof = out.get("memory_mb") or {}, out.get("roofline") or {}
    if mem.get("peak_delta") is not None or roof:
        console.print(f"  peak +{mem.get('peak_delta', 0) or 0:.1f} MB"
                      + (f", {roof['gmacs_per_s']:.1f} GMAC/s = {roof['fraction']:.0%} of the {roof.get('ceiling_precision', 'fp32')} ceiling" if roof else ""))
    return out


def _other_runtimes(int8_row: dict, mcu_figures: dict | None, bench: BenchConfig, ds, console) -> list[dict]:
    """The int8 .tflite on LiteRT without XNNPACK (its reference kernels) and on TFLM on this host."""
    from edgekit.bench.harness import bench_runner
    from edgekit.runtime.base import load_runner

    path = int8_row["path"]
    cases = [("litert", {"xnnpack": False}, "litert (no xnnpack)")]
    tflm_error = None
    if mcu_figures is not None:
        tflm_error = mcu_figures.get("error") or mcu_figures.get("tflm_error")
        cases.append(("tflm", {"arena": mcu_figures.get("arena_bytes")}, "tflm (host)"))
    else:
        cases.append(("tflm", {}, "tflm (host)"))
    rows = []
    for runtime, opts, label in cases:
        row = {"path": path, "format": "tflite", "precision": "int8", "runtime": runtime, "label": label,
               "options": {k: v for k, v in opts.items() if k != "arena"}}
        if runtime == "tflm" and tflm_error:
            row["error"] = tflm_error  # it already failed once in this run: not tried again
        else:
            try:
                runner, lat = bench_runner(lambda: load_runner(path, runtime, bench.threads, **opts), bench.runs,
                                           bench.warmup, x=ds.x_test[:1])
                if hasattr(runner, "close"):
                    runner.close()  # TFLM's worker process
                row["latency_ms"] = lat.model_dump(exclude={"raw"})
                row["raw_latency_ms"] = lat.raw
            except EdgekitError as e:
                row["error"] = str(e)
        console.print(f"[bold]bench[/] {Path(path).name} on {label}: "
                      + (f"[red]failed[/]: {row['error']}" if "error" in row else f"p50 {row['latency_ms']['p50']:.3f} ms"))
        rows.append(row)
    return rows


def _npu_figures(int8_row: dict | None, console) -> list[dict]:
    from edgekit.bench.npu import ACCELERATORS, estimate_npu

    if int8_row is None:
        return [{"accelerator": a, "error": "no int8 .tflite in this run"} for a in ACCELERATORS]
    figures = []
    for acc in ACCELERATORS:
        console.print(f"[bold]npu[/] {acc} (vela)")
        try:
            figures.append(estimate_npu(int8_row["path"], acc).model_dump())
            f = figures[-1]
            console.print(f"  {f['inference_ms']:.3f} ms, SRAM {f['sram_bytes'] / 1024:.1f} KB, "
                          f"{f['npu_ops']} ops on the NPU, {f['cpu_ops']} on the CPU")
        except EdgekitError as e:
            console.print(f"  [red]failed[/]: {e}")
            figures.append({"accelerator": acc, "error": str(e)})
    return figures


def _mcu_figures(int8_row: dict | None, out_dir: Path, ds, console) -> dict:
    from edgekit.convert.mcu import build_mcu_bundle

    if int8_row is None:
        return {"error": "no int8 .tflite in this run"}
    console.print("[bold]mcu[/] TFLM arena, C array, op resolver")
    try:
        rep = build_mcu_bundle(int8_row["path"], out_dir, ds.x_test, on_tflm_error="record")
    except EdgekitError as e:  # not a full-int8 model, bad name: nothing written
        console.print(f"  [red]failed[/]: {e}")
        return {"error": str(e)}
    fig = rep.model_dump()
    fig["dir"] = str(out_dir)
    if rep.tflm_error:
        console.print(f"  [red]TFLM failed[/]: {rep.tflm_error}")
    else:
        agree = "—" if rep.tflm_agreement is None else f"{rep.tflm_agreement:.4f}"
        console.print(f"  arena {rep.arena_bytes:,} B, flash {rep.flash_bytes:,} B, TFLM/LiteRT agreement {agree}")
    return fig
