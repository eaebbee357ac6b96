"""Keras / SavedModel to TFLite: fp32, fp16, dynamic range and full-integer int8."""

from __future__ import annotations

import json

import numpy as np

from edgekit._native import quiet_stderr
from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models.load import LoadedModel

from edgekit.convert.metadata import METADATA_NAME  # noqa: E402 - the one definition


# The converter's message for a rolled RNN (LSTM/GRU, unroll=False) in a batch-polymorphic model.
_RNN_BATCH_ERROR = "TensorListReserve"


def _converter(loaded: LoadedModel, fixed_batch: bool = False, via_saved_model: bool = False):
    if loaded.model is not None and not fixed_batch:
        if loaded.flavour == "tf_keras" and not via_saved_model:
            # One traced call of the model, not ``from_keras_model``: that saves the whole model as
            # a SavedModel first, tracing every layer's functions (836 traces for the demo's
            # MobileNetV2), ~95% of a conversion and minutes of `edgekit demo` on 2 shared cores.
            # The converter still saves the object it is given, so it gets a bare module holding
            # only the variables (7 s instead of 41-68 s for the demo's model under load).
            # (Keras 3 models keep ``from_keras_model``: a traced call of a loaded Keras 3 model
            # converted to NaNs here.)
            holder = tf.Module()
            holder.model_variables = list(loaded.model.variables)
            return tf.lite.TFLiteConverter.from_concrete_functions([_keras_function(loaded)], holder)
        return tf.lite.TFLiteConverter.from_keras_model(loaded.model)
    keepalive = loaded._keepalive if loaded.model is None else loaded.model
    return tf.lite.TFLiteConverter.from_concrete_functions([loaded.concrete_function(batch=1)], keepalive)


def _keras_function(loaded: LoadedModel):
    """The Keras model's inference call with a free batch, its outputs named after the model's
    output layers (as ``from_keras_model`` names them in the ``serving_default`` signature)."""
    model = loaded.model
    spec = tf.TensorSpec((None,) + tuple(loaded.input_shape[1:]), tf.as_dtype(loaded.input_dtype), name="input")
    names = list(getattr(model, "output_names", None) or [])

    def call(x):
        y = model(x, training=False)
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        return dict(zip(names, ys)) if len(names) == len(ys) and len(set(names)) == len(names) else y

    return tf.function(call, input_signature=[spec]).get_concrete_function()


def _has_rolled_rnn(loaded: LoadedModel) -> bool:
    """A Keras model with a recurrent layer that is not unrolled: the converter needs a fixed
    batch for its TensorList ops (found beforehand, so no failed conversion is paid for)."""
    if loaded.model is None:
        return False

    def walk(layer):
        yield layer
        for sub in getattr(layer, "layers", None) or []:
            yield from walk(sub)
        for attr in ("layer", "forward_layer", "backward_layer"):  # Bidirectional, TimeDistributed
            sub = getattr(layer, attr, None)
            if isinstance(sub, keras.layers.Layer):
                yield from walk(sub)

    return any(isinstance(l, keras.layers.RNN) and not getattr(l, "unroll", False) for l in walk(loaded.model))


def to_tflite(loaded: LoadedModel, precision: str = "fp32", representative: np.ndarray | None = None,
              fixed_batch: bool = False) -> bytes:
    """Convert to TFLite. A model with a rolled recurrent layer is converted from a batch-1
    concrete function (the converter rejects its TensorList ops with a free batch); any other
    model that fails that way is retried so. ``fixed_batch`` converts every model so, which folds
    the run-time shape arithmetic (SHAPE, STRIDED_SLICE) a phone's GPU delegate has no kernel for."""
    fixed = fixed_batch or _has_rolled_rnn(loaded)
    try:
        return _convert(_converter(loaded, fixed), precision, representative)
    except EdgekitError as e:
        if fixed or loaded.model is None or loaded.flavour != "tf_keras":
            raise
        if _RNN_BATCH_ERROR in str(e):
            return _convert(_converter(loaded, True), precision, representative)
        # A model whose traced call the converter rejects: the slower SavedModel route, as before.
        return _convert(_converter(loaded, via_saved_model=True), precision, representative)


def _convert(conv, precision, representative) -> bytes:
    if precision == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        if representative is None or len(representative) == 0:
            raise EdgekitError("int8 export needs calibration data: pass --data (samples from the training split).")
        rep = np.asarray(representative)
        # Token-id models calibrate on their integer ids (the input stays int32); others on floats.
        rep = rep.astype(np.int32) if np.issubdtype(rep.dtype, np.integer) else rep.astype(np.float32)

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
        raise EdgekitError(f"TFLite {precision} conversion failed: {converter_reason(e)}") from e


def converter_reason(e: Exception) -> str:
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
