"""Keras / SavedModel to TFLite: fp32, fp16, dynamic range and full-integer int8."""

from __future__ import annotations

import json

import numpy as np

from edgekit._native import quiet_stderr
from edgekit._tf import tf
from edgekit.errors import EdgekitError
from edgekit.models.load import LoadedModel

METADATA_NAME = "edgekit"


def _converter(loaded: LoadedModel):
    if loaded.model is not None:
        return tf.lite.TFLiteConverter.from_keras_model(loaded.model)
    return tf.lite.TFLiteConverter.from_concrete_functions([loaded.concrete_function(batch=1)], loaded._keepalive)


def to_tflite(loaded: LoadedModel, precision: str = "fp32", representative: np.ndarray | None = None) -> bytes:
    conv = _converter(loaded)
    if precision == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        if representative is None or len(representative) == 0:
            raise EdgekitError("int8 export needs calibration data: pass --data (samples from the training split).")
        rep = np.asarray(representative, np.float32)

        def gen():
            for i in range(len(rep)):
                yield [rep[i : i + 1]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif precision != "fp32":
        raise EdgekitError(f"TFLite precision {precision!r} is not supported.")
    try:
        with quiet_stderr():
            return conv.convert()
    except Exception as e:  # noqa: BLE001 - the converter raises ConverterError with a long MLIR dump
        raise EdgekitError(f"TFLite {precision} conversion failed: {_converter_reason(e)}") from e


def _converter_reason(e: Exception) -> str:
    text = str(e)
    for line in text.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()[:300]
    return (text.strip().splitlines() or [type(e).__name__])[0][:300]


def add_metadata(tflite: bytes, meta: dict) -> bytes:
    """Embed JSON (labels, normalization, provenance) as a named metadata buffer.

    LiteRT ignores it when running; ``read_metadata`` gives it back.
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fu

    model = fu.read_model_from_bytearray(bytearray(tflite))
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(meta, default=str).encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME] + [entry]
    return bytes(fu.convert_object_to_bytearray(model))
