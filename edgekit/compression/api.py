"""``compress``: the whole trade-off table for one model in one call.

    >>> rep = edgekit.compression.compress("runs/mnv2/model.keras", "digits", out="compressed")
    >>> [(v.name, v.bytes, v.drop, v.speedup) for v in rep.variants]

The variants are the rows of :data:`edgekit.compression.variants.VARIANTS` (a new one is one row there).
Every variant is exported to a file in ``out``, measured by :func:`edgekit.measure.measure` in its real runtime (LiteRT, or
onnxruntime for ONNX) on the test split for accuracy, compared with its float parent with
the spine's parity check, and timed at one thread. The baseline is the fp32 TFLite of the
input model; ``drop`` is baseline accuracy minus variant accuracy (a fraction; for other tasks the
task's headline figure, named in ``compression.json``'s ``metric``, positive = worse); ``speedup`` is
baseline p50 over variant p50. Every choice between candidates (a mixed-precision layer set, the int4
layers kept at int8, the fine-tuning epoch kept) reads the validation split
(:mod:`edgekit.compression.splits`); the test split is measured once, at the end, and
``compression.json`` names both (``selection_split``, ``measure_split``). A variant that fails is
recorded with an ``error`` line naming the layer or reason, and the others still run. Each variant's ``status`` is ``ok``, ``not
applicable`` (channel pruning of a model with no Conv2D), ``failed`` (an :class:`EdgekitError`) or
``internal error`` (a bug; the traceback goes to ``edgekit-error.log`` in ``out``);
:attr:`CompressionResult.exit_code` is what ``edgekit compress`` exits with.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np

from edgekit._io import write_json, write_text
from edgekit.compression.config import CompressConfig
from edgekit.compression.context import Context
from edgekit.compression.markdown import compression_markdown
from edgekit.compression.result import CompressionResult
from edgekit.compression.variants import VARIANTS, for_task, keras3_refusal, select
from edgekit.errors import EdgekitError, step_error
from edgekit.records import CompressionBaseline, CompressionFile, CompressionVariant, TaskMetricSpec, VariantParity


def _measure(ctx, path: Path, fmt: str, parent: str | None):
    """One file through :func:`edgekit.measure.measure`, against its float parent's outputs."""
    from edgekit.measure import measure

    return measure(path, ctx.outputs(parent) if parent else None, ctx.data, ctx.cfg.bench, format=fmt,
                   task=ctx.metric.task)


def compress(model, data, out: str | Path = "compressed", only=None, skip=None, max_drop: float = 0.01,
             config: CompressConfig | None = None, console=None, input_range=None, mean: float | None = None,
             std: float | None = None, input_shape=None, **overrides) -> CompressionResult:
    """Run the selected compression variants of ``model`` (a path or a tf_keras model) on ``data``
    (a Dataset or a source such as ``"digits"``, scaled as the model declares, or by ``input_range``/
    ``mean``/``std``); write ``compression.json`` / ``.md`` to ``out``. ``input_shape`` loads ``data``
    at that size (it must fit the model's input). Variants are scored with the task's headline figure
    (accuracy, RMSE, ROC AUC, ...)."""
    from rich.console import Console

    from edgekit.models.load import load_model
    from edgekit.verification.stats import small_split_warning

    console = console or Console(stderr=True, soft_wrap=True)
    if config is None:
        from pydantic import ValidationError

        try:
            config = CompressConfig(max_drop=max_drop, **overrides)
        except ValidationError as e:
            first = e.errors()[0]
            raise EdgekitError(f"compress: {first['loc'][0]}: {first['msg']} (got {first.get('input')!r}).") from e
    names = select(only, skip)
    source = str(model) if isinstance(model, (str, Path)) else getattr(model, "name", "model")
    net = load_model(model).model if isinstance(model, (str, Path)) else getattr(model, "model", model)
    if net is None:
        raise EdgekitError(f"{source}: compress needs a Keras model (a .keras or .h5 file), not a bare SavedModel.")
    if "tf_keras" not in type(net).__module__:
        keras3_refusal(names, source)
    from edgekit.artifact import ModelCard
    from edgekit.data.scaling import user_scaling
    from edgekit.models.preprocessing import dataset_for_model
    from edgekit.verification.tasks import task_metric

    warn = lambda m: console.print(f"  [yellow]warning:[/] {m}", highlight=False)  # noqa: E731
    card = ModelCard.read_beside(model) if isinstance(model, (str, Path)) else None
    shape = data_shape(tuple(net.inputs[0].shape[1:]), input_shape, source)
    dataset, _ = dataset_for_model(data, net, input_shape=shape, card=card,
                                   user=user_scaling(input_range, mean, std), seed=config.seed, warn=warn)
    if small_split_warning(len(dataset.y_test)):
        warn(small_split_warning(len(dataset.y_test)))
    metric = task_metric(dataset.task)
    names, skipped = for_task(dataset.task, names, only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from edgekit._tf import reproducible

    # the same seed gives the same table: without it a benchmark run through --reuse gave a
    # channel-pruning drop of 1.94 points where two seeded runs gave 1.39
    reproducible(config.seed)
    ctx = Context(net, dataset, out, config, console)
    ctx.metric = metric
    if ctx.selection.note:
        warn(ctx.selection.note)
    from edgekit._native import native_log

    with native_log(out / "convert.log"):  # converter/absl noise goes to the log, not the console
        return _run_variants(ctx, names, net, dataset, source, out, config, console, skipped)


def _run_variants(ctx, names, net, dataset, source, out, config, console, skipped: dict) -> CompressionResult:
    from edgekit.compression.prune import kernel_sparsity
    from edgekit.compression.quantize import tflite_bytes
    from edgekit.verification.stats import accuracy_ci

    n_test = len(dataset.y_test)
    metric = ctx.metric
    console.print(f"[bold]compress[/] {source} on {dataset.name}: {len(names)} variants -> {out}")
    t0 = time.time()
    base_path = ctx.write_tflite("baseline_fp32", tflite_bytes(net, "fp32"))
    m = _measure(ctx, base_path, "tflite", None)
    acc, p50, figures = m.figures[metric.name], m.latency.p50, m.figures
    baseline = CompressionBaseline(
        format="tflite", precision="fp32", bytes=base_path.stat().st_size, accuracy=figures.get("accuracy"),
        score=acc, metrics=figures, p50_ms=p50, path=str(base_path), params=int(net.count_params()),
        sparsity=kernel_sparsity(net), n_test=n_test,
        accuracy_ci95=accuracy_ci(figures["accuracy"], n_test) if "accuracy" in figures else None)
    console.print(f"  baseline fp32 TFLite: {baseline.bytes:,} bytes, {_figure(metric.name, acc, n_test)}, p50 {p50:.3f} ms "
                  f"[{time.time() - t0:.0f}s]")
    chance = 1.0 / max(2, dataset.num_classes or int(np.max(dataset.y_test)) + 1)
    if metric.task == "classification" and acc <= 1.5 * chance:
        # every drop below is measured from here: a model fed other scaling than it was trained on
        # looks like this, and its table would say "no loss" about a model that does not work
        n = dataset.normalization
        baseline.warning = (f"the input model scores {acc:.3f} on {dataset.name}, chance level: does it expect "
                               f"inputs as this data gives them, (raw - {n.mean:g}) / {n.std:g} with raw in "
                               f"{n.raw_range[0]:g}..{n.raw_range[1]:g}?")
        console.print(f"  [yellow]warning:[/] {baseline.warning}", highlight=False)

    variants = []
    for name in names:
        v = VARIANTS[name]
        rec = CompressionVariant(name=name, steps=v.steps(config), format=None, precision=None, bytes=None,
                                 gzip_bytes=None, sparsity=None, accuracy=None, drop=None, p50_ms=None, speedup=None,
                                 parity=None)
        t1 = time.time()
        try:
            built = v.build(ctx)
            m = _measure(ctx, built.path, built.format, built.parent)
            acc, p50, figures = m.figures[metric.name], m.latency.p50, m.figures
            rec.set(format=built.format, precision=built.precision, bytes=built.path.stat().st_size,
                    gzip_bytes=_gzip_bytes(built.path), sparsity=kernel_sparsity(ctx.parents[built.parent]),
                    accuracy=figures.get("accuracy"), score=acc, metrics=figures,
                    accuracy_ci95=accuracy_ci(figures["accuracy"], n_test) if "accuracy" in figures else None,
                    drop=metric.drop(baseline.score, acc), p50_ms=p50, speedup=baseline.p50_ms / p50,
                    parity=VariantParity.of(m.parity), path=str(built.path), runtime=m.runtime, parent=built.parent,
                    status="ok", **built.notes)
            console.print(f"  {name}: {rec.bytes:,} bytes (gzip {rec.gzip_bytes:,}), {_figure(metric.name, acc, n_test)} "
                          f"(drop {rec.drop:+.4f}), p50 {p50:.3f} ms ({rec.speedup:.2f}x) "
                          f"[{time.time() - t1:.0f}s]")
        except Exception as e:  # noqa: BLE001 - one variant's failure must not stop the others
            status, error = step_error(e, out, f"variant {name}")
            rec.set(status=status, error=error)
            colour = "yellow" if status == "not applicable" else "red"
            console.print(f"  [{colour}]{name} {status.replace('internal error', 'failed')}:[/] {error}",
                          highlight=False)
        rec.seconds = round(time.time() - t1, 1)
        variants.append(rec)

    # drop: how much worse than the baseline in the task's headline figure (positive = worse)
    report = CompressionFile(
        metric=TaskMetricSpec(**metric.as_dict(), drop=(f"baseline {metric.name} minus variant {metric.name}"
                                                        if metric.higher_is_better else
                                                        f"variant {metric.name} minus baseline {metric.name}")),
        baseline=baseline, variants=variants, selection_split=ctx.selection.split,
        selection_n=len(ctx.selection.y), measure_split="test", measure_n=n_test)
    if ctx.selection.note:
        report.selection_note = ctx.selection.note
    if skipped:
        report.skipped = skipped
        console.print(f"  skipped ({next(iter(skipped.values()))}): {', '.join(skipped)}")
    json_path = write_json(out / "compression.json", report.model_dump())
    md_path = write_text(out / "compression.md", compression_markdown(report, source=source, data=dataset.name))
    return CompressionResult(baseline, variants, json_path, md_path, out, report.metric)


def _figure(name: str, value: float, n: int) -> str:
    """The task's headline figure for the console: accuracy with its 95% Wilson interval."""
    from edgekit.verification.stats import fmt_accuracy

    return f"accuracy {fmt_accuracy(value, n)}" if name == "accuracy" else f"{name} {value:.4f}"


def _gzip_bytes(path: Path) -> int:
    """Bytes after gzip -9: how much of a file's size pruning and clustering can save in an app download."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9))


def data_shape(model_shape: tuple, asked, source: str) -> tuple:
    """The size to load data at: ``asked`` (--input-shape/--resolution) where the model's input allows it."""
    if asked is None:
        return model_shape
    asked = tuple(asked)
    if None in asked:  # --resolution: channels are the model's
        asked = asked[:2] + tuple(model_shape[2:])
    fits = len(asked) == len(model_shape) and all(m is None or m == a for m, a in zip(model_shape, asked))
    if not fits:
        raise EdgekitError(f"{source} takes inputs of shape {model_shape}; --input-shape/--resolution asked for "
                           f"{asked}. Compress the model at the size it was trained at (or retrain it).")
    return asked
