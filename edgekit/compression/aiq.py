"""Google's ai-edge-quantizer as compression variants: int4 weights, its static int8/int16 recipes,
GPTQ, and a per-layer mixed recipe from edgekit's own sensitivity ranking.

ai-edge-quantizer works on a converted float .tflite (no TensorFlow): a recipe says, per op
type and layer-name regex, how to quantize weights (int4/int8, channelwise or blockwise) and
activations (float, int8, int16); ``calibrate()`` runs the float model on samples for the
activation ranges, ``quantize()`` writes the new flatbuffer. Every variant here starts from the
input model's fp32 TFLite and is then measured by ``compress`` like the others (accuracy in
LiteRT on the test split, parity with the float model, p50 at one thread, bytes). A variant that
LiteRT cannot run on this CPU is still written, and its row says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

MIXED_INT8_SHARE = 0.25  # at most this share of the ranked layers goes back to int8 weights


@dataclass(frozen=True)
class Recipe:
    """One variant: ``rules`` are ``(kind, regex, op, bits..., granularity, algorithm)`` rows applied in order
    (a later row overrides an earlier one for the ops both match)."""

    name: str
    precision: str
    about: str
    rules: tuple


def _float_tflite(ctx) -> Path:
    """The input model's fp32 TFLite, made once per compress run (plain: no metadata)."""
    path = getattr(ctx, "_aiq_float", None)
    if path is None:
        from edgekit._io import write_bytes
        from edgekit.compression.quantize import tflite_bytes

        path = write_bytes(ctx.out / "models" / "aiq_float.tflite", tflite_bytes(ctx.model, "fp32"))
        ctx._aiq_float = path
    return path


def _calibration(float_path: Path, samples: np.ndarray) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    sigs = Interpreter(model_path=str(float_path)).get_signature_list()
    if len(sigs) != 1:
        raise EdgekitError(f"ai-edge-quantizer variants need a model with one signature; this one has {len(sigs)}.")
    key, sig = next(iter(sigs.items()))
    if len(sig["inputs"]) != 1:
        raise EdgekitError("ai-edge-quantizer variants take single-input models.")
    name = sig["inputs"][0]
    return {key: [{name: np.asarray(samples[i: i + 1], np.float32)} for i in range(len(samples))]}


def quantize_with(float_path: Path, rules, samples: np.ndarray) -> bytes:
    """Apply recipe ``rules`` to the float .tflite with ai-edge-quantizer; calibrate on ``samples`` if needed."""
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    from edgekit._native import quiet_stderr

    ops, gran = qtyping.TFLOperationName, qtyping.QuantGranularity
    q = quantizer.Quantizer(str(float_path))
    for kind, regex, op, bits, granularity, algorithm in rules:
        algo = AlgorithmName[algorithm]
        if kind == "weight_only":
            q.add_weight_only_config(regex, ops[op], bits, gran[granularity], algo)
        elif kind == "dynamic":
            q.add_dynamic_config(regex, ops[op], bits, gran[granularity], algo)
        elif kind == "static":
            act, weight = bits
            q.add_static_config(regex, ops[op], act, weight, gran[granularity], algo)
        else:
            raise ValueError(kind)
    with quiet_stderr():
        calib = q.calibrate(_calibration(float_path, samples), num_threads=1) if q.need_calibration else None
        return bytes(q.quantize(calib, enable_progress_report=False).quantized_model)


RECIPES = {r.name: r for r in (
    Recipe("aiq_w4_channel", "w4_fp32", "ai-edge-quantizer: int4 weights per channel, float compute",
           (("weight_only", ".*", "ALL_SUPPORTED", 4, "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT"),)),
    # Blockwise int4 exists in ai-edge-quantizer 0.10 only as a dynamic recipe and only for FULLY_CONNECTED
    # (and embedding lookups); a weight-only blockwise rule is skipped without a word. So: dense layers
    # int4 in blocks of 32 (activations quantized on the fly), every other weight int4 per channel.
    Recipe("aiq_w4_block32", "w4b32_fp32", "ai-edge-quantizer: int4 weights, dense layers in blocks of 32 "
           "(dynamic), other weights per channel",
           (("weight_only", ".*", "ALL_SUPPORTED", 4, "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT"),
            ("dynamic", ".*", "FULLY_CONNECTED", 4, "BLOCKWISE_32", "MIN_MAX_UNIFORM_QUANT"))),
    # GPTQ is registered for FULLY_CONNECTED only: it corrects the dense layers' int4 error with
    # the calibration Hessian; the convolutions stay min-max int4.
    Recipe("aiq_w4_gptq", "w4_fp32", "ai-edge-quantizer: int4 weights, GPTQ on the dense layers",
           (("weight_only", ".*", "ALL_SUPPORTED", 4, "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT"),
            ("weight_only", ".*", "FULLY_CONNECTED", 4, "CHANNELWISE", "GPTQ"))),
    Recipe("aiq_a8w8", "int8", "ai-edge-quantizer: static int8 activations and weights (float in/out)",
           (("static", ".*", "ALL_SUPPORTED", (8, 8), "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT"),)),
    Recipe("aiq_a16w8", "int16x8", "ai-edge-quantizer: int16 activations, int8 weights (float in/out)",
           (("static", ".*", "ALL_SUPPORTED", (16, 8), "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT"),)),
)}


def _litert_check(path: Path, x: np.ndarray) -> None:
    """Raise a clear error when LiteRT cannot run the variant on this CPU (the row says so)."""
    from edgekit.runtime.base import load_runner

    try:
        load_runner(path, "litert").run(x[:1])
    except Exception as e:  # noqa: BLE001 - any kernel/prepare failure is the finding
        text = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise EdgekitError(f"LiteRT cannot run this variant on CPU ({text}); the file is kept at {path}.") from e


def _has_op(path: Path, op: str) -> bool:
    from edgekit.tflite_file import operators, read_model

    return any(o.op == op for o in operators(read_model(path)))


def build_recipe(name: str):
    """A ``compress`` variant builder for one fixed recipe."""
    recipe = RECIPES[name]

    def build(ctx):
        from edgekit.compression.api import _Built

        float_path = _float_tflite(ctx)
        blob = quantize_with(float_path, recipe.rules, ctx.rep)
        if len(blob) >= 0.98 * float_path.stat().st_size and recipe.precision.startswith("w4"):
            raise EdgekitError(f"ai-edge-quantizer left the weights float with recipe {name} "
                               f"({len(blob):,} of {float_path.stat().st_size:,} bytes): no op here matches it.")
        path = ctx.write_tflite(name, blob)
        _litert_check(path, ctx.data.x_test)
        notes = {"recipe": [list(map(str, r)) for r in recipe.rules]}
        if any(r[2] == "FULLY_CONNECTED" for r in recipe.rules) and not _has_op(float_path, "FULLY_CONNECTED"):
            notes["note"] = ("no FULLY_CONNECTED op in this model (its classifier is a 1x1 conv), so the dense-layer "
                             "rule had nothing to act on: the file equals aiq_w4_channel")
        return _Built(path, "tflite", recipe.precision, "input", notes)

    return build


def _layer_regex(layer: str) -> str:
    # the quantizer matches an op by its output tensor's name: "model/<layer>/Conv2D;..." for a Keras layer
    return f".*(^|/){re.escape(layer)}/.*"


def build_mixed(ctx):
    """int4 weights everywhere except the layers edgekit's sensitivity ranking (int8 quantization
    debugger, rmse/scale per layer, worst first) names most sensitive, which keep int8 weights;
    tries the 0, 1, 2, 4, ... worst (up to a quarter of them) until the accuracy drop against the
    fp32 baseline fits ``max_drop``; returns the first that fits, else the most accurate try."""
    from edgekit._io import write_bytes
    from edgekit.compression.api import _Built
    from edgekit.compression.sensitivity import layer_sensitivity
    from edgekit.runtime.base import load_runner
    from edgekit.verification import accuracy

    float_path = _float_tflite(ctx)
    ranked = list(dict.fromkeys(e.layer for e in layer_sensitivity(ctx.model, ctx.rep)
                                if e.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")))
    if not ranked:
        raise EdgekitError("aiq_mixed: the sensitivity ranking found no conv or dense layer to keep at int8.")
    limit = max(1, int(len(ranked) * MIXED_INT8_SHARE))
    counts, k = [0], 1
    while k < limit:
        counts.append(k)
        k *= 2
    counts.append(limit)
    base = ("weight_only", ".*", "ALL_SUPPORTED", 4, "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT")
    tmp = ctx.out / ".aiq_mixed_try.tflite"
    tries, blobs, chosen = [], [], None
    for k in dict.fromkeys(counts):
        rules = (base,) + tuple(("weight_only", _layer_regex(layer), "ALL_SUPPORTED", 8, "CHANNELWISE",
                                 "MIN_MAX_UNIFORM_QUANT") for layer in ranked[:k])
        blob = quantize_with(float_path, rules, ctx.rep)
        write_bytes(tmp, blob)
        try:
            acc = float(accuracy(load_runner(tmp, "litert").run(ctx.data.x_test), ctx.data.y_test))
        finally:
            tmp.unlink(missing_ok=True)
        drop = ctx.baseline_accuracy - acc
        tries.append({"int8_layers": ranked[:k], "accuracy": acc, "drop": drop, "bytes": len(blob)})
        blobs.append(blob)
        if drop <= ctx.cfg.max_drop:
            chosen = len(tries) - 1
            break
    if chosen is None:
        chosen = max(range(len(tries)), key=lambda j: tries[j]["accuracy"])
    blob, drop = blobs[chosen], tries[chosen]["drop"]
    path = ctx.write_tflite("aiq_mixed", blob)
    _litert_check(path, ctx.data.x_test)
    notes = {"int8_layers": tries[chosen]["int8_layers"], "within_budget": drop <= ctx.cfg.max_drop,
             "max_drop": ctx.cfg.max_drop, "tries": tries, "ranked_layers": ranked[:8]}
    return _Built(path, "tflite", "w4_w8_mixed", "input", notes)


def aiq_variants(variant_cls) -> list:
    """The ``_Variant`` records ``compress`` registers (built lazily: importing this module needs no quantizer)."""
    out = [variant_cls(name, (lambda n: lambda c: [f"aiq:{n}"])(name), build_recipe(name), r.about)
           for name, r in RECIPES.items()]
    out.append(variant_cls("aiq_mixed", lambda c: ["sensitivity", f"aiq:w4+w8 mixed:max_drop={c.max_drop:g}"],
                           build_mixed, "ai-edge-quantizer: int4 weights, the most sensitive layers int8, "
                                        "to fit --max-drop"))
    return out
