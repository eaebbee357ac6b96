"""Keras / SavedModel to ONNX with tf2onnx."""

from __future__ import annotations

import json

from edgekit._deps import require
from edgekit._native import quiet_stderr
from edgekit._tf import tf
from edgekit.errors import EdgekitError
from edgekit.models.load import LoadedModel

DEFAULT_OPSET = 17
METADATA_NAME = "edgekit"


def to_onnx(loaded: LoadedModel, opset: int = DEFAULT_OPSET, meta: dict | None = None):
    """Return an ``onnx.ModelProto`` with one input named ``input`` (batch dimension free)."""
    tf2onnx = require("tf2onnx", "ONNX export")

    spec = (tf.TensorSpec((None,) + tuple(loaded.input_shape[1:]), tf.as_dtype(loaded.input_dtype), name="input"),)
    try:
        with quiet_stderr():  # tf2onnx logs every rewrite pass
            if loaded.flavour == "tf_keras":
                proto, _ = tf2onnx.convert.from_keras(loaded.model, input_signature=spec, opset=opset)
            else:
                # Keras 3 models and bare SavedModels go through a traced function: tf2onnx's
                # from_keras looks up Keras 3 output tensors by names that no longer exist.
                fn = loaded.concrete_function(batch=None)
                proto, _ = tf2onnx.convert.from_function(tf.function(fn), input_signature=spec, opset=opset)
    except Exception as e:  # noqa: BLE001 - tf2onnx raises many types for unsupported ops
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise EdgekitError(f"ONNX conversion failed: {first}") from e
    if meta:
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_NAME, json.dumps(meta, default=str)
    proto.producer_name = "edgekit"
    return proto


def quantize_onnx_int8(fp32_path, out_path, representative) -> None:
    """Static QDQ int8 quantization (per-channel) with onnxruntime's quantizer."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(np.asarray(representative, np.float32)[:, None])

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {"input": x}

    pre = str(out_path) + ".pre.onnx"
    try:
        quant_pre_process(str(fp32_path), pre, skip_symbolic_shape=False)
        quantize_static(pre, str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    finally:
        import os

        if os.path.exists(pre):
            os.unlink(pre)
