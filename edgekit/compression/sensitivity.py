"""Per-layer int8 sensitivity and a mixed-precision fallback under an accuracy budget.

TFLite's quantization debugger (``tf.lite.experimental.QuantizationDebugger``) runs the
int8 model with a numeric-verify op after every quantized tensor, comparing it with the
float value the same op computes from the same (dequantized) input. The error of a layer
is its RMSE divided by its quantization scale (``rmse / scale``): about 0.29 (= 1/sqrt(12))
is plain rounding noise, much more means the int8 range fits that tensor badly.

:func:`mixed_precision` denylists the worst layers (keeps them float) in growing numbers,
1, 2, 4, ..., until the accuracy drop against the float baseline fits ``max_drop``; the
calibration is done once, each try only re-quantizes. A layer kept float takes the quantized
layers that feed it along: the debugger scores a layer from its dequantized input, so a bad
error there often means that *input* was quantized badly (one outlier channel widening the
tensor's range), and a float layer fed by an int8 tensor still sees that damage.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

from edgekit._tf import tf
from edgekit.compression.graph import inbound_layers
from edgekit.convert.tflite import calibration_data, configure, keras_converter
from edgekit.errors import EdgekitError, first_line


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


def _layer_of(tensor: str, layer_names: set[str], output_layer: str | None = None) -> str:
    first = tensor.split(";")[0]
    for part in first.split("/"):
        if part in layer_names:
            return part
    best = [n for n in layer_names if n in first]
    if best:
        return max(best, key=len)
    # the converter names the model's output tensor after the graph call, not after a layer
    return output_layer if output_layer and first.startswith("StatefulPartitionedCall") else first


def _producers(model, layer_name: str, wanted: set[str], depth: int = 4) -> list[str]:
    """The nearest layers in ``wanted`` that feed ``layer_name``, looking back through layers
    that are not in it (activations, pooling, reshapes: fused or float-free in TFLite)."""
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        return []
    found = []
    for src in inbound_layers(layer):
        if src.name in wanted:
            found.append(src.name)
        elif depth > 1:
            found += _producers(model, src.name, wanted, depth - 1)
    return list(dict.fromkeys(found))


def debugger(model, representative, denylisted_nodes=None):
    """The quantization debugger over the int8 setup every TFLite int8 file gets (``configure``).
    It reads only the converter's calibration settings (optimizations, representative data,
    per-channel); the nodes it denylists stay float, so float ops are allowed."""
    dtype = tf.as_dtype(model.inputs[0].dtype).name
    conv = configure(keras_converter(model), "int8", representative, input_dtype=dtype, allow_float_ops=True)
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylisted_nodes)
    try:
        return tf.lite.experimental.QuantizationDebugger(converter=conv, debug_options=opts,
                                                         debug_dataset=calibration_data(representative, dtype))
    except Exception as e:  # noqa: BLE001
        raise EdgekitError(f"quantization debugger failed on {model.name}: {first_line(e)}") from e


def layer_sensitivity(model, representative, dbg=None) -> list[LayerError]:
    """Every quantized tensor's int8 error (rmse / scale), worst first."""
    dbg = dbg or debugger(model, representative)
    dbg.run()
    buf = io.StringIO()
    dbg.layer_statistics_dump(buf)
    buf.seek(0)
    names = {layer.name for layer in model.layers}
    output_layer = (getattr(model, "output_names", None) or [None])[0]
    rows = []
    for r in csv.DictReader(buf):
        scale = float(r["scale"] or 0)
        mse = float(r["mean_squared_error"] or 0)
        err = float(np.sqrt(mse) / scale) if scale else 0.0
        rows.append(LayerError(tensor=r["tensor_name"], layer=_layer_of(r["tensor_name"], names, output_layer),
                               op=r["op_name"],
                               rmse_over_scale=err, scale=scale))
    rows.sort(key=lambda e: -e.rmse_over_scale)
    return rows


def mixed_precision(model, representative, evaluate, baseline_accuracy: float, max_drop: float = 0.01,
                    max_float: int | None = None) -> MixedResult:
    """Keep the most sensitive layers float until ``baseline_accuracy - accuracy <= max_drop``.

    ``evaluate(tflite_bytes) -> accuracy``. Tries the 0, 1, 2, 4, ... worst layers (up to
    ``max_float``, default all), each with the quantized layers that feed it, in float; returns
    the first that fits, else the best try.
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
    quantized_layers = {e.layer for e in sens}
    tries, best = [], None
    for k in dict.fromkeys(counts):
        layers = []
        for e in sens[:k]:  # each worst layer, then the quantized layers feeding it
            layers += [e.layer, *_producers(model, e.layer, quantized_layers)]
        layers = list(dict.fromkeys(layers))
        nodes = [e.tensor for e in sens if e.layer in layers]
        dbg.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes or None)
        blob = dbg.get_nondebug_quantized_model()
        acc = float(evaluate(blob))
        drop = baseline_accuracy - acc
        tries.append({"worst_layers": k, "float_layers": layers, "accuracy": acc, "drop": drop})
        cand = MixedResult(tflite=blob, float_layers=layers, float_tensors=nodes, accuracy=acc, drop=drop,
                           within_budget=drop <= max_drop, tries=tries, sensitivity=sens)
        if best is None or acc > best.accuracy:
            best = cand
        if drop <= max_drop:
            return cand
    return best


def widen_channel(model, layer: str, next_layer: str, channel: int = 0, factor: float = 1000.0):
    """Give output ``channel`` of the linear conv/dense ``layer`` a ``factor`` times wider range and
    divide ``next_layer``'s input weights for that channel by the same factor, in place.

    The float function is unchanged (exactly, up to float rounding) when nothing non-linear sits
    between the two layers, but int8 is not: one tensor-wide activation scale must now cover the
    wide channel and leaves the others a few levels each. This is how an outlier channel looks
    to a quantizer, and a reproducible way to probe what :func:`mixed_precision` does about it.
    """
    w, b = model.get_layer(layer).get_weights()
    w[..., channel] *= factor
    b[channel] *= factor
    model.get_layer(layer).set_weights([w, b])
    nxt = model.get_layer(next_layer).get_weights()
    nxt[0][..., channel, :] /= factor  # kernels are (..., in, out): the input slice of that channel
    model.get_layer(next_layer).set_weights(nxt)
    return model
