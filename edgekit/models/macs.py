"""Multiply-accumulate counter for a built Keras model (batch size 1).

Counts the multiply-adds of the layers that carry the compute, the way the MobileNet and
ResNet papers count them: convolutions (grouped and depthwise included), dense layers,
and attention's matrix products. Element-wise ops, pooling and normalization are left out,
as the papers leave them out. Nested models and wrappers (tfmot) are walked into.
"""

from __future__ import annotations

import numpy as np


def _known_prod(shape) -> int:
    """The product of a Keras shape's known sizes (a ``None`` counts as 1)."""
    return int(np.prod([d for d in shape if d is not None], dtype=np.int64))


def _out_shape(layer):
    shape = layer.output_shape if hasattr(layer, "output_shape") else layer.output.shape
    if isinstance(shape, list):
        shape = shape[0]
    return tuple(shape)


def _in_shape(layer):
    shape = layer.input_shape if hasattr(layer, "input_shape") else layer.input.shape
    if isinstance(shape, list):
        shape = shape[0]
    return tuple(shape)


def layer_macs(layer) -> int:
    cls = type(layer).__name__
    own = getattr(layer, "macs", None)  # custom layers (e.g. the MFCC front end) count themselves
    if callable(own):
        return int(own())
    if cls == "Bidirectional":
        # The wrapped layers are not called on the functional graph: use the wrapper's input.
        shape = _in_shape(layer)
        return _rnn_macs(layer.forward_layer, shape) + _rnn_macs(layer.backward_layer, shape)
    inner = getattr(layer, "layer", None)  # tfmot and Keras wrappers keep the real layer here
    if inner is not None:
        return layer_macs(inner)
    if hasattr(layer, "layers") and cls != "MultiHeadAttention":  # a nested model
        return sum(layer_macs(sub) for sub in layer.layers)
    try:
        out = _out_shape(layer)
    except (AttributeError, RuntimeError, ValueError):
        return 0
    if cls in ("Conv1D", "Conv2D", "Conv3D"):
        k = _known_prod(layer.kernel_size)
        cin = _in_shape(layer)[-1]
        groups = getattr(layer, "groups", 1) or 1
        return _known_prod(out[1:]) * k * (cin // groups)
    if cls in ("Conv2DTranspose", "Conv1DTranspose"):
        # every input position is scattered through the kernel into `filters` outputs
        return _known_prod(_in_shape(layer)[1:]) * _known_prod(layer.kernel_size) * layer.filters
    if cls in ("DepthwiseConv2D", "DepthwiseConv1D"):
        k = _known_prod(layer.kernel_size)
        return _known_prod(out[1:]) * k
    if cls == "SeparableConv2D":
        k = _known_prod(layer.kernel_size)
        cin = _in_shape(layer)[-1]
        spatial = _known_prod(out[1:-1])
        return spatial * cin * layer.depth_multiplier * k + spatial * cin * layer.depth_multiplier * out[-1]
    if cls == "Dense":
        cin = _in_shape(layer)[-1]
        return _known_prod(out[1:]) * cin
    if cls == "MultiHeadAttention":
        return _mha_macs(layer)
    if cls in ("LSTM", "GRU", "SimpleRNN"):
        return _rnn_macs(layer)
    return 0


def _mha_macs(layer) -> int:
    q_shape = tuple(layer._query_shape) if getattr(layer, "_query_shape", None) else None
    if q_shape is None:
        return 0
    v_shape = tuple(layer._value_shape) if getattr(layer, "_value_shape", None) else q_shape
    tq, dq = q_shape[-2], q_shape[-1]
    tv, dv = v_shape[-2], v_shape[-1]
    h, dk = layer._num_heads, layer._key_dim
    dvh = layer._value_dim or dk
    proj = tq * dq * h * dk + tv * dv * h * dk + tv * dv * h * dvh  # Q, K, V projections
    attn = h * tq * tv * dk + h * tq * tv * dvh  # QK^T and AV
    out = tq * h * dvh * dq  # output projection
    return int(proj + attn + out)


def _rnn_macs(layer, shape=None) -> int:
    shape = shape or _in_shape(layer)
    t, f = shape[-2], shape[-1]
    units = layer.units
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[type(layer).__name__]
    return int((t or 1) * gates * units * (f + units))


def count_macs(model) -> int:
    """Multiply-accumulates for one sample."""
    return int(sum(layer_macs(layer) for layer in model.layers))


def count_params(model) -> int:
    return int(model.count_params())
