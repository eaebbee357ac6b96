"""The end-to-end run: train -> export -> verify -> bench -> report, in one bundle folder.

``edgekit demo`` is :func:`run` on the embedded default (MobileNetV2 0.35 on ``digits``). The bundle is
assembled by :class:`edgekit.bundle.Bundle` (rows, report, manifest), the int8 file's NPU, MCU and
other-runtime steps are :mod:`edgekit.int8_targets`, and every step runs through the bundle's
:class:`edgekit.steps.StepLog`, whose failures are the report's ``failures`` and the exit code.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from typing import Callable, Sequence

from edgekit.records import BenchSettings, ModelSummary, RunReport

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
        steps: Sequence[tuple[str, Callable]] = (), **train_overrides) -> RunReport:
    """Train ``model`` on ``data``, export, verify and benchmark every artifact; return the report.

    Besides latency, each LiteRT/onnxruntime row gets peak memory, a roofline figure and (``profile``)
    a per-op profile; the int8 .tflite gets Arm Ethos-U55/U65 estimates (``npu``, through vela) and a
    microcontroller bundle in ``mcu/`` with its TFLM-measured arena and agreement (``mcu``). ``steps``
    adds named steps ``(name, fn(bundle))`` run after those. A step that fails is recorded where its
    figures would be, the run goes on, and ``report.failures`` lists every failed step (an unexpected
    exception is an "internal error" whose traceback goes to ``edgekit-error.log`` in the run folder);
    ``edgekit demo`` exits 3 when it is not empty. ``html`` writes ``report.html`` (before the manifest,
    which stays last). Returns the :class:`~edgekit.records.RunReport` whose ``model_dump()`` is ``report.json``.
    """
    from rich.console import Console

    from edgekit import int8_targets
    from edgekit.bundle import Bundle
    from edgekit.models.load import LoadedModel
    from edgekit.training import train

    console = console or Console(stderr=True, soft_wrap=True)
    run_dir = Path(out) if out else new_run_dir("export", model)
    run_dir.mkdir(parents=True, exist_ok=True)
    # 1. train (early stopping on the validation split chooses the weights kept)
    result = train(model, data, params=params, out=run_dir, console=console, **train_overrides)
    ds = _task_dataset(result.card.task, result)  # what the deployed model takes (a generator: latent vectors)
    loaded = LoadedModel(str(result.model_path), "tf_keras", model=result.model)
    b = Bundle(run_dir, result.model_path, loaded, result.card, ds, bench, console,
               threshold=result.metrics.get("threshold"), reference_outputs=result.test_outputs)
    # 2. export, verify and bench every format against the Keras reference on the test split
    rows = [b.reference_row()] + [b.export_row(fmt, precision, profile=profile) for fmt, precision in exports]
    # 3. the int8 file on an NPU, a microcontroller and the other runtimes
    int8 = int8_targets.int8_row(rows)
    npu_figures = int8_targets.npu_figures(b, int8) if npu else None
    mcu_figures = int8_targets.mcu_figures(b, int8, mcu_target) if mcu else None
    runtimes = int8_targets.other_runtimes(b, int8, mcu_figures) if int8 else []
    # 4. the caller's own steps
    for name, fn in steps:
        b.log.attempt(name, fn, b)
    # 5. the report, with every failure the step log saw
    card = result.card
    report = b.report(rows, model=ModelSummary(name=model, params=card.params, macs=card.macs, knobs=card.knobs),
                      training=_training_section(card.task, result), runtimes=runtimes, npu=npu_figures,
                      mcu=mcu_figures)
    b.write(report, html=html)
    return report


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
