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
        exports=DEFAULT_EXPORTS, bench: BenchConfig = BenchConfig(), console=None, **train_overrides) -> dict:
    """Train ``model`` on ``data``, export, verify and benchmark every artifact; return the report."""
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
        rows.append(artifact_row(art, ver.accuracy, ver.parity, lat))
    del ref_out

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
    write_report(run_dir, report)
    write_manifest(run_dir)  # last: its presence means the bundle is complete
    return report
