"""Google's ai-edge-quantizer as compression variants: int4 weights, its static int8/int16 recipes,
GPTQ, and a per-layer mixed recipe from edgekit's own sensitivity ranking.

ai-edge-quantizer works on a converted float .tflite (no TensorFlow): a recipe says, per op
type and layer-name regex, how to quantize weights (int4/int8, channelwise or blockwise) and
activations (float, int8, int16); ``calibrate()`` runs the float model on samples for the
activation ranges, ``quantize()`` writes the new flatbuffer. Every variant here starts from the
input model's fp32 TFLite and is then measured by ``compress`` like the others (accuracy in
LiteRT on the test split, parity with the float model, p50 at one thread, bytes). A variant that
LiteRT cannot run on this CPU is still written, and its row says so. Its rows in compress's table are
in :mod:`edgekit.compression.variants`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.compression.variant import Built
from edgekit.errors import EdgekitError, first_line

# int4 rounding per layer for aiq_mixed: the weights' own min-max range, or the clipping range that minimises
# the rounding's mean squared error (ai-edge-quantizer's MSE; GPTQ and Hadamard rotation exist in 0.10 only for
# FULLY_CONNECTED and embedding ops, which a MobileNet's 1x1-conv classifier does not have)
W4_ALGORITHMS = ("MIN_MAX_UNIFORM_QUANT", "MSE")


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
    path = ctx.aiq_float
    if path is None:
        from edgekit._io import write_bytes
        from edgekit.compression.quantize import tflite_bytes

        path = write_bytes(ctx.out / "models" / "aiq_float.tflite", tflite_bytes(ctx.model, "fp32"))
        ctx.aiq_float = path
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
        raise EdgekitError(f"LiteRT cannot run this variant on CPU ({first_line(e)}); the file is kept at {path}.") from e


def _has_op(path: Path, op: str) -> bool:
    from edgekit.tflite_file import operators, read_model

    return any(o.op == op for o in operators(read_model(path)))


def build_recipe(name: str):
    """A ``compress`` variant builder for one fixed recipe."""
    recipe = RECIPES[name]

    def build(ctx):
        float_path = _float_tflite(ctx)
        blob = quantize_with(float_path, recipe.rules, ctx.rep)
        if len(blob) >= 0.98 * float_path.stat().st_size and recipe.precision.startswith("w4"):
            raise EdgekitError(f"ai-edge-quantizer left the weights float with recipe {name} "
                               f"({len(blob):,} of {float_path.stat().st_size:,} bytes): no op here matches it.")
        path = ctx.write_tflite(name, blob)
        _litert_check(path, ctx.selection.x)
        notes = {"recipe": [list(map(str, r)) for r in recipe.rules]}
        if any(r[2] == "FULLY_CONNECTED" for r in recipe.rules) and not _has_op(float_path, "FULLY_CONNECTED"):
            notes["note"] = ("no FULLY_CONNECTED op in this model (its classifier is a 1x1 conv), so the dense-layer "
                             "rule had nothing to act on: the file equals aiq_w4_channel")
        return Built(path, "tflite", recipe.precision, "input", notes)

    return build


def _layer_regex(layer: str) -> str:
    # the quantizer matches an op by its output tensor's name: "model/<layer>/Conv2D;..." for a Keras layer
    return f".*(^|/){re.escape(layer)}/.*"


def _weight_layers(model) -> list[tuple[str, int]]:
    """(name, weight count) of the layers whose kernels the quantizer stores: convs, depthwise convs, dense."""
    from edgekit._tf import keras

    L = keras.layers
    out = []
    for layer in model.layers:
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.Dense)) and getattr(layer, "kernel", None) is not None:
            out.append((layer.name, int(np.prod(layer.kernel.shape))))
    return out


def _mean_kl(p: np.ndarray, q: np.ndarray) -> float:
    """Mean KL(p || q) of two batches of class probabilities: how far a quantized model's outputs moved."""
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1.0)
    q = np.clip(np.asarray(q, np.float64), 1e-7, 1.0)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def _w4(regex: str, algorithm: str) -> tuple:
    return ("weight_only", regex, "ALL_SUPPORTED", 4, "CHANNELWISE", algorithm)


def _w8(regex: str) -> tuple:
    return ("weight_only", regex, "ALL_SUPPORTED", 8, "CHANNELWISE", "MIN_MAX_UNIFORM_QUANT")


def _probabilities(blob: bytes, x: np.ndarray, tmp: Path) -> np.ndarray:
    from edgekit._io import write_bytes
    from edgekit.runtime.base import load_runner

    write_bytes(tmp, blob)
    try:
        out = np.asarray(load_runner(tmp, "litert").run(x), np.float64)
    finally:
        tmp.unlink(missing_ok=True)
    if np.any(out < -1e-6) or not np.allclose(out.sum(1), 1.0, atol=1e-3):  # logits: softmax them
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
    return out


def build_mixed(ctx):
    """int4 weights under a size cap, spent where int4 hurts most, all chosen on the selection split.

    1. Each conv/dense layer alone in int4 (the rest float), with min-max and with MSE-optimal
       clipping: how far the outputs move (mean KL against the float model on the selection split)
       says which rounding that layer gets, and how sensitive it is.
    2. Layers go back to int8 weights in order of that sensitivity per extra byte, while the file
       stays within ``int4_max_bytes`` of the fp32 TFLite's bytes (small, sensitive layers first: on
       MobileNetV1 0.5/96 the stem and the first pointwise convs).
    The tries (0, 1, 2, 4, ... layers at int8) are scored on the selection split; the one kept is the
    most int8 layers that fit the size cap (``within_budget``: its selection-split drop fits
    ``max_drop``). The test split is not read here: ``compress`` measures the chosen file once.
    """
    float_path = _float_tflite(ctx)
    float_bytes = float_path.stat().st_size
    sel = ctx.selection
    tmp = ctx.out / ".aiq_mixed_try.tflite"
    reference = _probabilities(float_path.read_bytes(), sel.x, tmp)
    layers = _weight_layers(ctx.model)
    if not layers:
        raise EdgekitError("aiq_mixed: the model has no conv or dense layer to quantize.")
    rounding, sensitivity = {}, {}
    for name, _ in layers:
        kls = {}
        for algo in W4_ALGORITHMS:
            blob = quantize_with(float_path, (_w4(_layer_regex(name), algo),), ctx.rep)
            kls[algo] = _mean_kl(reference, _probabilities(blob, sel.x, tmp))
        rounding[name] = min(kls, key=kls.get)
        sensitivity[name] = kls[rounding[name]]
    base = (_w4(".*", "MIN_MAX_UNIFORM_QUANT"),) + tuple(
        _w4(_layer_regex(n), a) for n, a in rounding.items() if a != "MIN_MAX_UNIFORM_QUANT")
    cap = ctx.cfg.int4_max_bytes * float_bytes
    # int8 instead of int4 costs half a byte per weight
    ranked = sorted(layers, key=lambda nw: -sensitivity[nw[0]] / max(1, nw[1]))
    room = cap - len(quantize_with(float_path, base, ctx.rep))
    order = []
    for name, count in ranked:
        if count / 2 <= room:
            order.append(name)
            room -= count / 2
    counts, k = [0], 1
    while k < len(order):
        counts.append(k)
        k *= 2
    counts.append(len(order))
    tries, blobs = [], []
    for k in dict.fromkeys(counts):
        blob = quantize_with(float_path, base + tuple(_w8(_layer_regex(n)) for n in order[:k]), ctx.rep)
        if tries and len(blob) > cap:  # the greedy count is an estimate; the file is the judge
            break
        probs = _probabilities(blob, sel.x, tmp)
        acc = float(np.mean(probs.argmax(1) == sel.y))
        tries.append({"int8_layers": order[:k], "accuracy": acc, "drop": ctx.selection_baseline - acc,
                      "kl": round(_mean_kl(reference, probs), 6), "bytes": len(blob)})
        blobs.append(blob)
    chosen = len(tries) - 1
    blob, drop = blobs[chosen], tries[chosen]["drop"]
    path = ctx.write_tflite("aiq_mixed", blob)
    _litert_check(path, sel.x)
    notes = {"int8_layers": tries[chosen]["int8_layers"], "within_budget": drop <= ctx.cfg.max_drop,
             "max_drop": ctx.cfg.max_drop, "int4_max_bytes": ctx.cfg.int4_max_bytes,
             "within_size_cap": len(blob) <= cap, "tries": tries,
             "tries_split": sel.split, "ranked_layers": [n for n, _ in ranked],
             "int4_rounding": {n: a for n, a in rounding.items() if a != "MIN_MAX_UNIFORM_QUANT"},
             "sensitivity_kl": {n: round(v, 6) for n, v in sensitivity.items()}}
    return Built(path, "tflite", "w4_w8_mixed", "input", notes)
