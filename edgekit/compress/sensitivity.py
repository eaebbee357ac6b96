"""Per-layer int8 sensitivity and a mixed-precision fallback under an accuracy budget.

TFLite's quantization debugger (``tf.lite.experimental.QuantizationDebugger``) runs the
int8 model with a numeric-verify op after every quantized tensor, comparing it with the
float value the same op computes from the same (dequantized) input. The error of a layer
is its RMSE divided by its quantization scale (``rmse / scale``): about 0.29 (= 1/sqrt(12))
is plain rounding noise, much more means the int8 range fits that tensor badly.

:func:`mixed_precision` denylists the worst layers (keeps them float) in growing numbers,
1, 2, 4, ..., until the accuracy drop against the float baseline fits ``max_drop``; the
calibration is done once, each try only re-quantizes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

from edgekit._tf import tf
from edgekit.compress.quantize import _gen
from edgekit.errors import EdgekitError


@dataclass
class LayerError:
    tensor: str  # TFLite tensor name (what the debugger denylists)
    layer: str  # the Keras layer it comes from (best match)
    op: str
    rmse_over_scale: float
    scale: float


@dataclass
class MixedResult:
    tflite: bytes
    float_layers: list[str]  # Keras layer names kept in float
    float_tensors: list[str]
    accuracy: float
    drop: float
    within_budget: bool
    tries: list[dict] = field(default_factory=list)
    sensitivity: list[LayerError] = field(default_factory=list)


def _layer_of(tensor: str, layer_names: set[str]) -> str:
    first = tensor.split(";")[0]
    for part in first.split("/"):
        if part in layer_names:
            return part
    best = [n for n in layer_names if n in first]
    return max(best, key=len) if best else first


def debugger(model, representative, denylisted_nodes=None):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = _gen(representative)
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylisted_nodes)
    try:
        return tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=_gen(representative),
                                                         debug_options=opts)
    except Exception as e:  # noqa: BLE001
        raise EdgekitError(f"quantization debugger failed on {model.name}: {str(e).splitlines()[0][:200]}") from e


def layer_sensitivity(model, representative, dbg=None) -> list[LayerError]:
    """Every quantized tensor's int8 error (rmse / scale), worst first."""
    dbg = dbg or debugger(model, representative)
    dbg.run()
    buf = io.StringIO()
    dbg.layer_statistics_dump(buf)
    buf.seek(0)
    names = {layer.name for layer in model.layers}
    rows = []
    for r in csv.DictReader(buf):
        scale = float(r["scale"] or 0)
        mse = float(r["mean_squared_error"] or 0)
        err = float(np.sqrt(mse) / scale) if scale else 0.0
        rows.append(LayerError(tensor=r["tensor_name"], layer=_layer_of(r["tensor_name"], names), op=r["op_name"],
                               rmse_over_scale=err, scale=scale))
    rows.sort(key=lambda e: -e.rmse_over_scale)
    return rows


def mixed_precision(model, representative, evaluate, baseline_accuracy: float, max_drop: float = 0.01,
                    max_float: int | None = None) -> MixedResult:
    """Keep the most sensitive layers float until ``baseline_accuracy - accuracy <= max_drop``.

    ``evaluate(tflite_bytes) -> accuracy``. Tries 0, 1, 2, 4, ... float layers (up to
    ``max_float``, default all); returns the first that fits, else the best try.
    """
    dbg = debugger(model, representative)
    sens = layer_sensitivity(model, representative, dbg)
    if not sens:
        raise EdgekitError(f"mixed precision: the debugger found no quantized layer in {model.name}.")
    limit = len(sens) if max_float is None else min(max_float, len(sens))
    counts, k = [0], 1
    while k < limit:
        counts.append(k)
        k *= 2
    counts.append(limit)
    tries, best = [], None
    for k in dict.fromkeys(counts):
        nodes = [e.tensor for e in sens[:k]]
        dbg.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes or None)
        blob = dbg.get_nondebug_quantized_model()
        acc = float(evaluate(blob))
        drop = baseline_accuracy - acc
        tries.append({"float_layers": k, "accuracy": acc, "drop": drop})
        cand = MixedResult(tflite=blob, float_layers=list(dict.fromkeys(e.layer for e in sens[:k])),
                           float_tensors=nodes, accuracy=acc, drop=drop, within_budget=drop <= max_drop,
                           tries=tries, sensitivity=sens)
        if best is None or acc > best.accuracy:
            best = cand
        if drop <= max_drop:
            return cand
    return best
