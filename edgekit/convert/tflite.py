"""Keras / SavedModel to TFLite: the one TFLiteConverter setup (:func:`configure`) for every
precision in :data:`~edgekit.formats.TFLITE_PRECISIONS`, used by ``edgekit export`` and by
``edgekit compress`` (its PTQ and QAT variants and the quantization debugger)."""

from __future__ import annotations

import json

import numpy as np

from edgekit import tflite_file
from edgekit._native import quiet_converter
from edgekit._tf import keras, tf
from edgekit.formats import TFLITE_PRECISIONS
from edgekit.errors import EdgekitError, first_line
from edgekit.models.load import LoadedModel

from edgekit.convert.metadata import METADATA_NAME  # noqa: E402 - the one definition


# The converter's message for a rolled RNN (LSTM/GRU, unroll=False) in a batch-polymorphic model.
_RNN_BATCH_ERROR = "TensorListReserve"


def _converter(loaded: LoadedModel, fixed_batch: bool = False, via_saved_model: bool = False):
    if (loaded.flavour != "tf_keras" or loaded.model is None or len(loaded.inputs) > 1
            or (fixed_batch and _has_rolled_rnn(loaded))):
        # Keras 3 models, SavedModels and models with several inputs: the call frozen into
        # constants (see LoadedModel.frozen_function), its inputs and outputs named in the
        # file's signature. The tracked module gives the converter a place to write that signature.
        # A tf_keras LSTM/GRU too: traced with its variables, the converter fuses it into
        # UNIDIRECTIONAL_SEQUENCE_LSTM, whose state tensors are variables that keep the last
        # sample's state for the next invoke (seen here: a trained LSTM's second sample off by 0.97
        # unless the app resets the interpreter's variables). Frozen, the loop is a stateless WHILE.
        fn = loaded.frozen_function(batch=1 if fixed_batch else None)
        return tf.lite.TFLiteConverter.from_concrete_functions([fn], tf.Module())
    if not fixed_batch:
        if not via_saved_model:
            # One traced call of the model, not ``from_keras_model``: that saves the whole model as
            # a SavedModel first, tracing every layer's functions (836 traces for the demo's
            # MobileNetV2), ~95% of a conversion and minutes of `edgekit demo` on 2 shared cores.
            # The converter still saves the object it is given, so it gets a bare module holding
            # only the variables (7 s instead of 41-68 s for the demo's model under load).
            holder = tf.Module()
            holder.model_variables = list(loaded.model.variables)
            return tf.lite.TFLiteConverter.from_concrete_functions([_keras_function(loaded)], holder)
        return tf.lite.TFLiteConverter.from_keras_model(loaded.model)
    holder = tf.Module()
    holder.model_variables = list(loaded.model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([_keras_function(loaded, batch=1)], holder)


def _keras_function(loaded: LoadedModel, batch: int | None = None):
    """The Keras model's inference call (batch free unless given), its outputs named after the
    model's output layers (as ``from_keras_model`` names them in the ``serving_default`` signature),
    so a file with several outputs keeps them apart by name."""
    model = loaded.model
    spec = tf.TensorSpec((batch,) + tuple(loaded.input_shape[1:]), tf.as_dtype(loaded.input_dtype), name="input")
    names = list(getattr(model, "output_names", None) or [])

    def call(x):
        y = model(x, training=False)
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        return dict(zip(names, ys)) if len(names) == len(ys) and len(set(names)) == len(names) else y

    return tf.function(call, input_signature=[spec]).get_concrete_function()


def _sublayers(layer):
    """``layer`` and every layer inside it (nested models, Bidirectional, TimeDistributed), in
    either Keras."""
    yield layer
    for sub in getattr(layer, "layers", None) or []:
        yield from _sublayers(sub)
    for attr in ("layer", "forward_layer", "backward_layer"):
        sub = getattr(layer, attr, None)
        if sub is not None and hasattr(sub, "get_config"):
            yield from _sublayers(sub)


def _has_rolled_rnn(loaded: LoadedModel) -> bool:
    """A Keras model with a recurrent layer that is not unrolled: the converter needs a fixed
    batch for its TensorList ops (found beforehand, so no failed conversion is paid for). The
    class is matched by name so a Keras 3 RNN counts as much as a tf_keras one."""
    if loaded.model is None:
        return False
    return any(any(c.__name__ == "RNN" for c in type(l).__mro__) and not getattr(l, "unroll", False)
               for l in _sublayers(loaded.model))


def unrolled(loaded: LoadedModel) -> LoadedModel:
    """A Keras model whose recurrent layers loop (``unroll=False``) as the same model with them
    unrolled, weights shared: frozen, the loop is a WHILE op, and TensorFlow 2.21's int8
    calibration of it ends the process with a segmentation fault (seen here). Unrolled, the cell is
    plain ops that quantize like any other. Needs a fixed sequence length; other models come back
    as given."""
    if loaded.model is None or not _has_rolled_rnn(loaded):
        return loaded
    if loaded.flavour == "keras3":
        import keras as flavour
    else:
        flavour = keras

    def unroll(config: dict) -> dict:
        config = dict(config)
        if "unroll" in config:
            config["unroll"] = True
        for key in ("layer", "backward_layer"):  # Bidirectional's (and TimeDistributed's) inner layers
            if isinstance(config.get(key), dict) and isinstance(config[key].get("config"), dict):
                config[key] = dict(config[key], config=unroll(config[key]["config"]))
        return config

    def clone(layer):
        return type(layer).from_config(unroll(layer.get_config()))

    if any(i.shape[1] is None for i in loaded.inputs if len(i.shape) == 3):
        raise EdgekitError("TFLite int8 of a recurrent layer needs it unrolled, which needs a fixed sequence "
                           "length: give the model Input((steps, features)), or build the layer with unroll=True.")
    model = flavour.models.clone_model(loaded.model, clone_function=clone)
    model.set_weights(loaded.model.get_weights())
    return LoadedModel(loaded.path, loaded.flavour, model=model)


def to_tflite(loaded: LoadedModel, precision: str = "fp32", representative: np.ndarray | None = None,
              fixed_batch: bool = False, allow_float_ops: bool = False, io: str = "int8") -> bytes:
    """Convert to TFLite (the one conversion path: ``edgekit export`` and ``edgekit compress``).

    A model with a rolled recurrent layer is converted from a batch-1 concrete function (the
    converter rejects its TensorList ops with a free batch); any other model that fails that way
    is retried so. ``fixed_batch`` converts every model so, which folds the run-time shape
    arithmetic (SHAPE, STRIDED_SLICE) a phone's GPU delegate has no kernel for. ``precision`` and
    ``allow_float_ops``, ``io``: see :func:`configure`. A recurrent layer's loop is unrolled for the
    calibrated precisions (:func:`unrolled`)."""
    blob = _converted(loaded, precision, representative, fixed_batch, allow_float_ops, io)
    if precision in FULL_INTEGER and not allow_float_ops:
        _refuse_float_ops(tflite_file.parse_model(blob), precision)
    return blob


def to_tflite_model(loaded: LoadedModel, precision: str = "fp32", representative: np.ndarray | None = None,
                    fixed_batch: bool = False, io: str = "int8"):
    """:func:`to_tflite`'s file as a parsed model (``schema_py_generated.ModelT``), full integer
    where the precision says so: what export edits (input grid, metadata) before it writes the
    file once."""
    model = tflite_file.parse_model(_converted(loaded, precision, representative, fixed_batch, False, io))
    if precision in FULL_INTEGER:
        _refuse_float_ops(model, precision)
    return model


def _converted(loaded: LoadedModel, precision: str, representative, fixed_batch: bool, allow_float_ops: bool,
               io: str) -> bytes:
    if precision in CALIBRATED:
        loaded = unrolled(loaded)
    fixed = fixed_batch or _has_rolled_rnn(loaded)

    def convert(conv) -> bytes:
        configure(conv, precision, representative, input_dtype=loaded.input_dtype, allow_float_ops=allow_float_ops,
                  io=io)
        return run_converter(conv, precision)

    return _convert_with_retries(loaded, fixed, convert)


def _refuse_float_ops(model, precision: str) -> None:
    left = float_ops(model)
    if left:
        more = f" (+{len(left) - 3} more)" if len(left) > 3 else ""
        raise EdgekitError(
            f"TFLite {precision}: {len(left)} op(s) have no int8 kernel and would stay float "
            f"({', '.join(left[:3])}{more}), so the file would not be full integer (what an MCU or NPU "
            f"needs); export --precision dynamic or fp32, or use `edgekit compress` (its int8 variants "
            f"may keep such ops float).")


def _convert_with_retries(loaded: LoadedModel, fixed: bool, convert) -> bytes:
    """``convert(converter)`` on the fast route first, then on the routes a failure points to."""
    try:
        try:
            return convert(_converter(loaded, fixed))
        except EdgekitError as e:
            if fixed:
                raise
            if _RNN_BATCH_ERROR in str(e):
                return convert(_converter(loaded, True))
            if loaded.model is None or loaded.flavour != "tf_keras" or len(loaded.inputs) > 1:
                raise
            # A model whose traced call the converter rejects: the slower SavedModel route accepts it.
            return convert(_converter(loaded, via_saved_model=True))
    except EdgekitError as e:
        if loaded.model is None and _RNN_BATCH_ERROR in str(e):
            # A SavedModel's signature keeps the batch free inside, so batch 1 does not help.
            raise EdgekitError("TFLite conversion failed: the SavedModel's recurrent loop has no static shape "
                               "(TensorListReserve); export the Keras model (.keras or .h5) it was saved from, "
                               "or build its RNN layers with unroll=True.") from e
        raise


# A tfmot QAT model converted to full integer: the same setup as "int8" (its fake-quant ranges set
# the scales; the representative data calibrates what QAT left float). Not a precision of its own.
QAT_INT8 = "qat_int8"
# The precisions calibrated on representative data (a QAT model keeps its own graph: not unrolled).
CALIBRATED = ("int8", "int8_per_tensor", "int16x8")
# The precisions whose file is meant to be integer from end to end (int16x8 keeps float in and out).
FULL_INTEGER = ("int8", "int8_per_tensor", QAT_INT8)


def float_ops(tflite) -> list[str]:
    """``"SIN (model/lambda/Sin)"`` for every op that computes in float32 (a float input or output
    tensor; QUANTIZE and DEQUANTIZE only cross the border). TensorFlow 2.21's quantizer leaves an
    op it cannot quantize in float between a DEQUANTIZE and a QUANTIZE even when the converter is
    given only TFLITE_BUILTINS_INT8 (seen here), so "full integer" is checked on the file."""
    model = tflite_file.parse_model(tflite) if isinstance(tflite, (bytes, bytearray)) else tflite
    tensors = model.subgraphs[0].tensors
    found = []
    for op in tflite_file.operators(model):
        if op.op in ("QUANTIZE", "DEQUANTIZE"):
            continue
        touched = [tensors[i] for i in op.inputs + op.outputs if i >= 0]
        floats = [t for t in touched if tflite_file.tensor_type_name(t.type) == "FLOAT32"]
        if floats:
            found.append(f"{op.op} ({tflite_file.tensor_name(floats[-1])[:60]})")
    return found


def calibration_data(representative, input_dtype: str):
    """The converter's representative dataset: one sample at a time, cast to the model's input
    dtype (token ids stay integers, everything else float32), so a converter never sees a dtype
    its input signature does not have. Raises without samples."""
    if isinstance(representative, dict):  # several inputs: one array per input name
        return _calibration_by_name(representative, input_dtype)
    rep = None if representative is None else np.asarray(representative)
    if rep is None or len(rep) == 0:
        raise EdgekitError("full-integer conversion needs calibration data: pass --data "
                           "(samples of the training split).")
    rep = rep.astype(tf.as_dtype(input_dtype).as_numpy_dtype, copy=False)

    def gen():
        for i in range(len(rep)):
            yield [rep[i : i + 1]]

    return gen


def _calibration_by_name(representative: dict, input_dtype) -> object:
    """One dict of samples per step, keyed by the signature's input names (a model with several
    inputs). ``input_dtype``: one dtype for all, or a dict per name."""
    reps = {k: np.asarray(v) for k, v in representative.items()}
    n = min((len(v) for v in reps.values()), default=0)
    if n == 0:
        raise EdgekitError("full-integer conversion needs calibration data: pass --data "
                           "(samples of the training split).")
    dtype = lambda k: tf.as_dtype(input_dtype[k] if isinstance(input_dtype, dict) else input_dtype).as_numpy_dtype
    reps = {k: v.astype(dtype(k), copy=False) for k, v in reps.items()}

    def gen():
        for i in range(n):
            yield {k: v[i : i + 1] for k, v in reps.items()}

    return gen


# ``io`` of the full-integer precisions: the converter's inference_input_type / inference_output_type
# (edgekit.formats.IO_TYPES says which one serves whom).
_IO_DTYPES = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}


def configure(conv, precision: str, representative=None, *, input_dtype: str, allow_float_ops: bool = False,
              io: str = "int8"):
    """Set a TFLiteConverter up for one precision of :data:`TFLITE_PRECISIONS` (or :data:`QAT_INT8`).

    The integer-input rule, for every precision: a model whose input is integer (token ids into an
    Embedding) keeps an int32 input, calibrates on its ids and quantizes from the first float
    tensor on; only a float input becomes int8 (int8 and its variants; int16x8 keeps float in and
    out). ``allow_float_ops``: in the int8 precisions, an op with no int8 kernel may stay float
    (TFLITE_BUILTINS beside TFLITE_BUILTINS_INT8); False (the export path) asks for a full-integer
    model, what an MCU or an NPU needs. The converter does not enforce that by itself (see
    :func:`float_ops`): :func:`to_tflite` checks the file. ``io``: the input and output type of the
    int8 precisions, ``"int8"``, ``"uint8"`` (what phone libraries take) or ``"float32"``.
    """
    if io not in _IO_DTYPES:
        raise EdgekitError(f"unknown io {io!r}; choose one of {', '.join(_IO_DTYPES)}.")
    if precision not in TFLITE_PRECISIONS and precision != QAT_INT8:
        raise EdgekitError(f"TFLite precision {precision!r} is not supported; choose one of "
                           f"{', '.join(TFLITE_PRECISIONS)}.")
    if precision == "fp32":
        return conv
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        conv.target_spec.supported_types = [tf.float16]
        return conv
    if precision == "dynamic":
        return conv
    conv.representative_dataset = calibration_data(representative, input_dtype)
    if precision == "int16x8":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        return conv
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + (
        [tf.lite.OpsSet.TFLITE_BUILTINS] if allow_float_ops else [])
    if tf.as_dtype(input_dtype).is_floating:
        conv.inference_input_type = _IO_DTYPES[io]
    conv.inference_output_type = _IO_DTYPES[io]
    if precision == "int8_per_tensor":
        conv._experimental_disable_per_channel = True  # the converter's only switch for it
    return conv


def keras_converter(model):
    """The converter the quantization debugger needs: ``from_keras_model`` (it converts the model
    three times, float, calibrated and quantized, and names tensors after the Keras layers)."""
    return tf.lite.TFLiteConverter.from_keras_model(model)


def run_converter(conv, precision: str) -> bytes:
    """``conv.convert()`` with the converter's noise kept off the terminal and its failure as one line."""
    try:
        with quiet_converter():  # "fully_quantize: 0, inference_type: 6 ..." and the converter's warnings
            return conv.convert()
    except Exception as e:  # noqa: BLE001 - the converter raises ConverterError with a long MLIR dump
        raise EdgekitError(f"TFLite {precision} conversion failed: {converter_reason(e)}") from e


def converter_reason(e: Exception) -> str:
    text = str(e)
    for line in text.splitlines():
        if "error:" in line:
            return first_line(line.split("error:", 1)[1])
    return first_line(e)


def add_metadata(tflite: bytes, meta: dict) -> bytes:
    """Embed JSON (labels, normalization, provenance) as a named metadata buffer.

    LiteRT ignores it when running; ``read_metadata`` gives it back.
    """
    from ai_edge_litert.tools import flatbuffer_utils as fu

    model = tflite_file.parse_model(tflite)
    set_metadata(model, meta)
    return bytes(fu.convert_object_to_bytearray(model))


def set_metadata(model, meta: dict) -> None:
    """:func:`add_metadata` on a parsed model, in place (replacing an earlier edgekit entry)."""
    from ai_edge_litert import schema_py_generated as schema

    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(meta, default=str).encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    # a parsed entry's name is bytes: compared as text, so an earlier edgekit entry is replaced, not shadowed
    model.metadata = [m for m in (model.metadata or []) if tflite_file.text(m.name) != METADATA_NAME] + [entry]
