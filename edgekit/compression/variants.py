"""The one table of compress's variants: :data:`VARIANTS`, name -> :class:`~edgekit.compression.variant.Variant`
(its steps as compression.json lists them, its builder, a line about it, what it chooses on the selection
split, and whether it needs tf_keras or class labels). ``edgekit compress``'s ``--only``/``--skip`` choices,
the table order of compression.json and the checks of a model against its variants all read it.

A new variant is one row: a builder ``build(ctx) -> Built`` (beside the others in
:mod:`edgekit.compression.builders`, or in its own module as :mod:`edgekit.compression.aiq`) and a
:class:`Variant` below, or :func:`register` from outside the package.
"""

from __future__ import annotations

from edgekit.compression import aiq
from edgekit.compression import builders as b
from edgekit.compression.variant import Variant
from edgekit.errors import EdgekitError

_MIXED_CHOICE = "the layers kept float (fewest within --max-drop)"
_AIQ_MIXED_CHOICE = "int4 rounding per layer and the layers kept at int8 (within int4_max_bytes)"


def _aiq_recipe(r: aiq.Recipe) -> Variant:
    # classifiers only: untried on other tasks' models
    return Variant(r.name, lambda c, n=r.name: [f"aiq:{n}"], aiq.build_recipe(r.name), r.about, labels=True)


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("ptq_dynamic", lambda c: ["ptq_dynamic"], b.ptq("dynamic"), "int8 weights, float activations"),
    Variant("ptq_fp16", lambda c: ["ptq_fp16"], b.ptq("fp16"), "float16 weights"),
    Variant("ptq_int8", lambda c: ["ptq_int8"], b.ptq("int8"), "full integer, per-channel weights"),
    Variant("ptq_int8_per_tensor", lambda c: ["ptq_int8_per_tensor"], b.ptq("int8_per_tensor"),
            "full integer, one scale per weight tensor"),
    Variant("ptq_int16x8", lambda c: ["ptq_int16x8"], b.ptq("int16x8"), "int16 activations, int8 weights"),
    Variant("onnx_int8", lambda c: ["onnx_qdq_int8"], b.onnx_int8, "ONNX QDQ int8 (onnxruntime, per-channel)"),
    Variant("prune", lambda c: [f"prune:{c.sparsity:g}", "strip", "ptq_int8"], b.int8_of("prune", b.pruned),
            "magnitude pruning (polynomial schedule), int8", tf_keras=True, labels=True),
    # the same pruned model; one scale per tensor instead of per-channel scales and int64 zero
    # points, which are incompressible floats and ~0.03x of the fp32 bytes on a MobileNet
    Variant("prune_per_tensor", lambda c: [f"prune:{c.sparsity:g}", "strip", "ptq_int8_per_tensor"],
            b.int8_of("prune_per_tensor", b.pruned, "int8_per_tensor"), "magnitude pruning, per-tensor int8",
            tf_keras=True, labels=True),
    Variant("prune_2of4", lambda c: ["prune:2:4", "strip", "ptq_int8"], b.int8_of("prune_2of4", b.pruned_2of4),
            "2:4 structured sparsity, int8", tf_keras=True, labels=True),
    Variant("cluster", lambda c: [f"cluster:{c.clusters}", "strip", "ptq_int8"], b.int8_of("cluster", b.clustered),
            "weight clustering, int8", tf_keras=True, labels=True),
    Variant("qat", lambda c: [f"qat:{c.qat_epochs}", "qat_int8"], b.qat("qat", "default", lambda ctx: ctx.model),
            "quantization-aware training", tf_keras=True, labels=True),
    Variant("prune_qat", lambda c: [f"prune:{c.sparsity:g}", "strip", "pqat", "qat_int8"],
            b.qat("prune_qat", "prune_preserve", b.pruned), "pruning-preserving QAT", tf_keras=True, labels=True),
    Variant("cluster_qat", lambda c: [f"cluster:{c.clusters}", "strip", "cqat", "qat_int8"],
            b.qat("cluster_qat", "cluster_preserve", b.clustered), "cluster-preserving QAT",
            tf_keras=True, labels=True),
    Variant("channel", lambda c: [f"channel:{c.channel_ratio:g}", f"distill:{c.channel_epochs}", "tflite_fp32"],
            b.channel_fp32, "structured channel pruning (thinner dense model), fp32",
            chooses="the fine-tuning epoch kept", tf_keras=True, labels=True),
    Variant("channel_int8", lambda c: [f"channel:{c.channel_ratio:g}", f"distill:{c.channel_epochs}", "ptq_int8"],
            b.channel_int8, "structured channel pruning, int8", chooses="the fine-tuning epoch kept",
            tf_keras=True, labels=True),
    Variant("mixed", lambda c: ["sensitivity", f"mixed:max_drop={c.max_drop:g}"], b.mixed,
            "int8 with the most sensitive layers kept float to fit --max-drop", chooses=_MIXED_CHOICE,
            tf_keras=True, labels=True),
    # Google's ai-edge-quantizer (int4 weights, static int8/int16, GPTQ) works on the fp32 .tflite
    *(_aiq_recipe(r) for r in aiq.RECIPES.values()),
    Variant("aiq_mixed", lambda c: ["int4 sensitivity", f"aiq:w4+w8 mixed:max_bytes={c.int4_max_bytes:g}x"],
            aiq.build_mixed, "ai-edge-quantizer: int4 weights (min-max or MSE rounding per layer), the layers int4 "
                             "hurts most per byte at int8 within int4_max_bytes",
            chooses=_AIQ_MIXED_CHOICE, tf_keras=True, labels=True),
)}


def variant_help() -> str:
    """``--only``'s help, from the table: every variant's name, in table order."""
    return "run only these variants (repeatable, or comma-separated): " + ", ".join(VARIANTS)


def register(variant: Variant) -> Variant:
    """Add a variant to the table (after the built-in ones); a name already taken is an error."""
    if variant.name in VARIANTS:
        raise EdgekitError(f"compress already has a variant named {variant.name!r}; pick another name.")
    VARIANTS[variant.name] = variant
    return variant


def select(only, skip) -> list[str]:
    """The variants ``--only``/``--skip`` leave, in table order; an unknown name lists the valid ones."""
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


def keras3_refusal(names: list[str], source: str) -> None:
    """A Keras 3 model cannot take the variants that go through tensorflow-model-optimization."""
    need = [n for n in names if VARIANTS[n].tf_keras]
    if need:
        ok = ", ".join(n for n, v in VARIANTS.items() if not v.tf_keras)
        raise EdgekitError(f"{source} is a Keras 3 model; {', '.join(need)} need tf_keras (re-save it with tf_keras, "
                           f"or use --only with {ok}).")


def for_task(task: str, names: list[str], only) -> tuple[list[str], dict[str, str]]:
    """The variants a ``task`` model gets, and the ones left out with why: the ones that fine-tune or
    choose with class labels (``Variant.labels``) run on classifiers only."""
    if task == "classification":
        return names, {}
    if task == "generation":
        raise EdgekitError("compress scores variants with a task metric on test data; a generator has none here "
                           "(use `edgekit export` and `edgekit verify` for its output parity).")
    post_training = ", ".join(n for n, v in VARIANTS.items() if not v.labels)
    asked = [n for n in names if VARIANTS[n].labels and only and n in only]
    if asked:
        raise EdgekitError(f"{', '.join(asked)}: fine-tunes with class labels; a {task} model gets the post-training "
                           f"variants ({post_training}).")
    reason = f"fine-tunes with class labels; not available for a {task} model"
    kept = [n for n in names if not VARIANTS[n].labels]
    if not kept:
        raise EdgekitError(f"no variant left for a {task} model: it gets the post-training ones ({post_training}).")
    return kept, {n: reason for n in names if VARIANTS[n].labels}
