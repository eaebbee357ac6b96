"""``compress``: the whole trade-off table for one model in one call.

    >>> rep = edgekit.compression.compress("runs/mnv2/model.keras", "digits", out="compressed")
    >>> [(v.name, v.bytes, v.drop, v.speedup) for v in rep.variants]

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
:attr:`CompressionReport.exit_code` is what ``edgekit compress`` exits with.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgekit._io import write_json, write_text
from edgekit.compression.markdown import render_markdown  # noqa: F401 - compress.api.render_markdown stays importable
from edgekit.errors import EdgekitError
from edgekit.records import CompressionBaseline, CompressionFile, CompressionVariant, VariantParity

from edgekit.compression.records import (CompressConfig, CompressionReport, _Built, _Context,  # noqa: F401
                                      _gzip_bytes, _Variant)


# ------------------------------------------------------------------ the float parents

def _pruned(ctx):
    from edgekit.compression.prune import prune

    c = ctx.cfg
    return ctx.parent("prune", lambda: prune(ctx.model, ctx.data, c.sparsity, c.prune_epochs,
                                            batch_size=c.batch_size, learning_rate=c.learning_rate,
                                            allocation=c.prune_allocation, seed=c.seed))


def _pruned_2of4(ctx):
    from edgekit.compression.prune import prune

    c = ctx.cfg
    return ctx.parent("prune_2of4", lambda: prune(ctx.model, ctx.data, 0.5, c.prune_epochs, m_by_n=(2, 4),
                                                 batch_size=c.batch_size, learning_rate=c.learning_rate))


def _clustered(ctx):
    from edgekit.compression.prune import cluster

    c = ctx.cfg
    return ctx.parent("cluster", lambda: cluster(ctx.model, ctx.data, c.clusters, c.cluster_epochs,
                                                batch_size=c.batch_size, learning_rate=c.learning_rate / 5))


def _channel(ctx):
    from edgekit.compression.channel import channel_prune

    c = ctx.cfg

    def make():
        thin, p = channel_prune(ctx.model, c.channel_ratio, ctx.data, c.channel_epochs, c.learning_rate * 2,
                                c.batch_size)
        ctx.channel_plan = p
        return thin

    return ctx.parent("channel", make)


def _qat(ctx, key: str, base, scheme: str):
    from edgekit.compression.prune import fine_tune
    from edgekit.compression.quantize import qat_model

    def make():
        q = qat_model(base, scheme)
        fine_tune(q, ctx.data, ctx.cfg.qat_epochs, learning_rate=ctx.cfg.learning_rate / 5,
                  batch_size=ctx.cfg.batch_size)
        q._edgekit_qat = True
        return q

    return ctx.parent(key, make)


# ------------------------------------------------------------------ the variants

def _ptq(precision):
    def build(ctx):
        from edgekit.compression.quantize import tflite_bytes

        path = ctx.write_tflite(f"ptq_{precision}", tflite_bytes(ctx.model, precision, ctx.rep))
        return _Built(path, "tflite", precision, "input")

    return build


def _onnx_int8(ctx):
    from edgekit.convert import export

    art = export(ctx.model, to="onnx", precision="int8", data=ctx.data, out=ctx.out, name="onnx")
    return _Built(Path(art.path), "onnx", "int8", "input")


def _int8_of(key, make_parent, precision="int8"):
    def build(ctx):
        from edgekit.compression.quantize import tflite_bytes

        m = make_parent(ctx)
        return _Built(ctx.write_tflite(key, tflite_bytes(m, precision, ctx.rep)), "tflite", precision,
                      _parent_key(ctx, m))

    return build


def _parent_key(ctx, m) -> str:
    return next(k for k, v in ctx.parents.items() if v is m)


def _qat_build(key, scheme, base_of):
    def build(ctx):
        from edgekit.compression.quantize import tflite_bytes

        q = _qat(ctx, key, base_of(ctx), scheme)
        notes = {"custom_quantize_configs": getattr(q, "_edgekit_custom_layers", {})}
        return _Built(ctx.write_tflite(key, tflite_bytes(q, "qat_int8", ctx.rep)), "tflite", "int8", key, notes)

    return build


def _channel_fp32(ctx):
    from edgekit.compression.quantize import tflite_bytes

    thin = _channel(ctx)
    notes = {"params": int(thin.count_params()), "input_params": int(ctx.model.count_params()),
             **ctx.channel_plan.summary()}
    return _Built(ctx.write_tflite("channel", tflite_bytes(thin, "fp32")), "tflite", "fp32", "channel", notes)


def _channel_int8(ctx):
    b = _int8_of("channel_int8", _channel)(ctx)
    b.notes = {"params": int(ctx.parents["channel"].count_params())}
    return b


def _mixed(ctx):
    from edgekit.compression.sensitivity import mixed_precision

    # the layer set is chosen on the selection split; compress measures the file on the test split afterwards
    r = mixed_precision(ctx.model, ctx.rep, ctx.selection_accuracy, ctx.selection_baseline, ctx.cfg.max_drop)
    full = r.tries[0]
    notes = {"float_layers": r.float_layers, "within_budget": r.within_budget, "max_drop": ctx.cfg.max_drop,
             "full_int8_drop": full["drop"], "tries": r.tries, "tries_split": ctx.selection.split,
             "most_sensitive": [{"layer": e.layer, "op": e.op, "rmse_over_scale": round(e.rmse_over_scale, 4)}
                                for e in r.sensitivity[:8]]}
    if not r.within_budget:
        ctx.console.print(f"  mixed: no split fits max_drop {ctx.cfg.max_drop:.3f} on the {ctx.selection.split} "
                          f"split; best drop {r.drop:.4f} with {len(r.float_layers)} float layers")
    return _Built(ctx.write_tflite("mixed", r.tflite), "tflite", "mixed_int8_fp32", "input", notes)


VARIANTS: dict[str, _Variant] = {v.name: v for v in (
    _Variant("ptq_dynamic", lambda c: ["ptq_dynamic"], _ptq("dynamic"), "int8 weights, float activations"),
    _Variant("ptq_fp16", lambda c: ["ptq_fp16"], _ptq("fp16"), "float16 weights"),
    _Variant("ptq_int8", lambda c: ["ptq_int8"], _ptq("int8"), "full integer, per-channel weights"),
    _Variant("ptq_int8_per_tensor", lambda c: ["ptq_int8_per_tensor"], _ptq("int8_per_tensor"),
             "full integer, one scale per weight tensor"),
    _Variant("ptq_int16x8", lambda c: ["ptq_int16x8"], _ptq("int16x8"), "int16 activations, int8 weights"),
    _Variant("onnx_int8", lambda c: ["onnx_qdq_int8"], _onnx_int8, "ONNX QDQ int8 (onnxruntime, per-channel)"),
    _Variant("prune", lambda c: [f"prune:{c.sparsity:g}", "strip", "ptq_int8"], _int8_of("prune", _pruned),
             "magnitude pruning (polynomial schedule), int8"),
    # the same pruned model; one scale per tensor instead of per-channel scales and int64 zero
    # points, which are incompressible floats and ~0.03x of the fp32 bytes on a MobileNet
    _Variant("prune_per_tensor", lambda c: [f"prune:{c.sparsity:g}", "strip", "ptq_int8_per_tensor"],
             _int8_of("prune_per_tensor", _pruned, "int8_per_tensor"), "magnitude pruning, per-tensor int8"),
    _Variant("prune_2of4", lambda c: ["prune:2:4", "strip", "ptq_int8"], _int8_of("prune_2of4", _pruned_2of4),
             "2:4 structured sparsity, int8"),
    _Variant("cluster", lambda c: [f"cluster:{c.clusters}", "strip", "ptq_int8"], _int8_of("cluster", _clustered),
             "weight clustering, int8"),
    _Variant("qat", lambda c: [f"qat:{c.qat_epochs}", "qat_int8"], _qat_build("qat", "default", lambda ctx: ctx.model),
             "quantization-aware training"),
    _Variant("prune_qat", lambda c: [f"prune:{c.sparsity:g}", "strip", "pqat", "qat_int8"],
             _qat_build("prune_qat", "prune_preserve", _pruned), "pruning-preserving QAT"),
    _Variant("cluster_qat", lambda c: [f"cluster:{c.clusters}", "strip", "cqat", "qat_int8"],
             _qat_build("cluster_qat", "cluster_preserve", _clustered), "cluster-preserving QAT"),
    _Variant("channel", lambda c: [f"channel:{c.channel_ratio:g}", f"distill:{c.channel_epochs}", "tflite_fp32"],
             _channel_fp32, "structured channel pruning (thinner dense model), fp32"),
    _Variant("channel_int8", lambda c: [f"channel:{c.channel_ratio:g}", f"distill:{c.channel_epochs}", "ptq_int8"],
             _channel_int8, "structured channel pruning, int8"),
    _Variant("mixed", lambda c: ["sensitivity", f"mixed:max_drop={c.max_drop:g}"], _mixed,
             "int8 with the most sensitive layers kept float to fit --max-drop"),
)}


# ai-edge-quantizer variants (int4 weights, static int8/int16, GPTQ, a sensitivity-ranked mixed recipe):
# built in edgekit/compression/aiq.py, registered here.
from edgekit.compression.aiq import aiq_variants  # noqa: E402

VARIANTS.update({v.name: v for v in aiq_variants(_Variant)})


def _select(only, skip) -> list[str]:
    names = list(VARIANTS)
    for arg, given in (("only", only), ("skip", skip)):
        unknown = [n for n in (given or []) if n not in VARIANTS]
        if unknown:
            raise EdgekitError(f"--{arg}: unknown variant {', '.join(map(repr, unknown))}; "
                               f"choose from {', '.join(names)}.")
    chosen = [n for n in names if (not only or n in only) and n not in (skip or [])]
    if not chosen:
        raise EdgekitError("--only/--skip leave no variant to run.")
    return chosen


def _measure(ctx, path: Path, fmt: str, parent: str | None):
    """One file through :func:`edgekit.measure.measure`, against its float parent's outputs."""
    from edgekit.measure import BenchConfig, measure

    bench = BenchConfig(threads=1, runs=ctx.cfg.bench_runs, warmup=ctx.cfg.bench_warmup)
    return measure(path, ctx.outputs(parent) if parent else None, ctx.data, bench, format=fmt, task=ctx.metric.task)


def compress(model, data, out: str | Path = "compressed", only=None, skip=None, max_drop: float = 0.01,
             config: CompressConfig | None = None, console=None, input_range=None, mean: float | None = None,
             std: float | None = None, input_shape=None, **overrides) -> CompressionReport:
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
    names = _select(only, skip)
    source = str(model) if isinstance(model, (str, Path)) else getattr(model, "name", "model")
    net = load_model(model).model if isinstance(model, (str, Path)) else getattr(model, "model", model)
    if net is None:
        raise EdgekitError(f"{source}: compress needs a Keras model (a .keras or .h5 file), not a bare SavedModel.")
    if "tf_keras" not in type(net).__module__ and any(not n.startswith(("ptq", "onnx", "aiq_w", "aiq_a")) for n in names):
        raise EdgekitError(f"{source} is a Keras 3 model; tensorflow-model-optimization needs tf_keras "
                           "(re-save it with tf_keras, or use --only with ptq_*/onnx_int8 variants).")
    from edgekit.artifact import ModelCard
    from edgekit.compression.task_metric import data_shape, task_variants
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
    names, skipped = task_variants(dataset.task, names, only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from edgekit._tf import reproducible

    # as train does. (A benchmark run without this, through --reuse, gave a channel-pruning drop
    # of 1.94 points where two others gave 1.39; small models repeat either way.)
    reproducible(config.seed)
    ctx = _Context(net, dataset, out, config, console)
    ctx.metric = metric
    if ctx.selection.note:
        warn(ctx.selection.note)
    from edgekit._native import native_log

    with native_log(out / "convert.log"):  # converter/absl noise goes to the log, not the console
        return _run_variants(ctx, names, net, dataset, source, out, config, console, skipped)


def _run_variants(ctx, names, net, dataset, source, out, config, console, skipped: dict) -> CompressionReport:
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
    ctx.baseline_accuracy = acc
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
            from edgekit.errors import step_error

            status, error = step_error(e, out, f"variant {name}")
            rec.set(status=status, error=error)
            colour = "yellow" if status == "not applicable" else "red"
            console.print(f"  [{colour}]{name} {status.replace('internal error', 'failed')}:[/] {error}",
                          highlight=False)
        rec.seconds = round(time.time() - t1, 1)
        variants.append(rec)

    # drop: how much worse than the baseline in the task's headline figure (positive = worse)
    report = CompressionFile(
        metric={**metric.as_dict(), "drop": (f"baseline {metric.name} minus variant {metric.name}"
                                             if metric.higher_is_better else
                                             f"variant {metric.name} minus baseline {metric.name}")},
        baseline=baseline, variants=variants, selection_split=ctx.selection.split,
        selection_n=len(ctx.selection.y), measure_split="test", measure_n=n_test)
    if ctx.selection.note:
        report.selection_note = ctx.selection.note
    if skipped:
        report.skipped = skipped
        console.print(f"  skipped ({next(iter(skipped.values()))}): {', '.join(skipped)}")
    json_path = write_json(out / "compression.json", report.model_dump())
    md_path = write_text(out / "compression.md", render_markdown(report, source=source, data=dataset.name))
    return CompressionReport(baseline, variants, json_path, md_path, out, report.metric)


def _figure(name: str, value: float, n: int) -> str:
    """The task's headline figure for the console: accuracy with its 95% Wilson interval."""
    from edgekit.verification.stats import fmt_accuracy

    return f"accuracy {fmt_accuracy(value, n)}" if name == "accuracy" else f"{name} {value:.4f}"
