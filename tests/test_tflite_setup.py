"""The one TFLite converter setup (``edgekit.convert.tflite.configure``) behind ``edgekit export``
and ``edgekit compress``, and the precision vocabulary both take from the format table.

Tiny models (an Embedding over 6 token ids, a two-layer MLP): a few seconds in all.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edgekit import tflite_file
from edgekit._tf import keras
from edgekit.compression.quantize import PTQ_PRECISIONS, tflite_bytes
from edgekit.formats import FORMATS, TFLITE_PRECISIONS, check_format
from edgekit.convert.tflite import calibration_data, to_tflite
from edgekit.errors import EdgekitError
from edgekit.models.load import LoadedModel
from edgekit.tuning.config import TuneConfig

VOCAB, LENGTH = 12, 6


def test_precision_vocabulary_derives_from_the_table():
    exportable = FORMATS["tflite"].precisions
    assert PTQ_PRECISIONS == FORMATS["tflite"].ptq == tuple(TFLITE_PRECISIONS)
    assert exportable == tuple(p for p, row in TFLITE_PRECISIONS.items() if row.export)
    assert FORMATS["tflite"].needs_data == tuple(p for p in exportable if TFLITE_PRECISIONS[p].needs_data)
    compress_only = [p for p in PTQ_PRECISIONS if p not in exportable]
    assert compress_only == ["int8_per_tensor", "int16x8"]
    for p in compress_only:  # neither `edgekit export` nor a tune trial offers them
        with pytest.raises(EdgekitError, match="has no precision"):
            check_format("tflite", p)
        with pytest.raises(ValidationError, match="not exportable"):
            TuneConfig(precision=p)
    assert [TuneConfig(precision=p).precision for p in exportable] == list(exportable)


def _token_model():
    x = keras.Input((LENGTH,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 8)(x)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax")(h), name="tok")


def _float_model():
    x = keras.Input((LENGTH,))
    h = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax")(h), name="mlp")


def _io(blob: bytes) -> tuple[list[str], list[str]]:
    return tflite_file.io_types(tflite_file.parse_model(blob))


def test_integer_input_rule_is_the_same_for_export_and_compress():
    """Token ids stay int32 in every precision of both paths; a float input becomes int8 in the
    int8 precisions only. int64 ids (numpy's default integer) calibrate too: they are cast to the
    model's input dtype."""
    rng = np.random.default_rng(0)
    tok, mlp = _token_model(), _float_model()
    ids = rng.integers(0, VOCAB, size=(16, LENGTH))  # int64
    feats = rng.normal(size=(16, LENGTH))  # float64
    export_path = lambda m, p, rep: to_tflite(LoadedModel(path=m.name, flavour="tf_keras", model=m), p, rep)  # noqa: E731
    for precision in PTQ_PRECISIONS:
        tok_blobs = [tflite_bytes(tok, precision, ids)]
        mlp_blobs = [tflite_bytes(mlp, precision, feats)]
        if precision in FORMATS["tflite"].precisions:
            tok_blobs.append(export_path(tok, precision, ids))
            mlp_blobs.append(export_path(mlp, precision, feats))
        int8_family = precision.startswith("int8")
        for blob in tok_blobs:
            assert _io(blob) == (["INT32"], ["INT8" if int8_family else "FLOAT32"]), precision
        for blob in mlp_blobs:
            assert _io(blob) == (["INT8"], ["INT8"]) if int8_family else (["FLOAT32"], ["FLOAT32"]), precision


def test_full_integer_precisions_need_calibration_data():
    for precision in ("int8", "int8_per_tensor", "int16x8"):
        with pytest.raises(EdgekitError, match="calibration data"):
            tflite_bytes(_float_model(), precision, None)
    with pytest.raises(EdgekitError, match="calibration data"):
        calibration_data(np.zeros((0, LENGTH)), "float32")
    with pytest.raises(EdgekitError, match="unknown quantization 'int4'"):
        tflite_bytes(_float_model(), "int4")


def test_export_int8_is_full_integer_or_an_error_and_compress_may_keep_float_ops():
    """TensorFlow 2.21's quantizer leaves an op without an int8 kernel (SIN) float between a
    DEQUANTIZE and a QUANTIZE even with only TFLITE_BUILTINS_INT8 allowed: before the one setup,
    ``edgekit export --precision int8`` wrote such a file and called it int8. The export path now
    checks the file; compress's int8 variants keep the op float, as they did."""
    from edgekit._tf import tf
    from edgekit.convert.tflite import float_ops

    x = keras.Input((LENGTH,))
    h = keras.layers.Lambda(lambda t: tf.math.sin(t))(keras.layers.Dense(8)(x))
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax")(h), name="sine")
    rep = np.random.default_rng(0).normal(size=(16, LENGTH)).astype("float32")
    with pytest.raises(EdgekitError, match=r"1 op\(s\) have no int8 kernel and would stay float \(SIN "):
        to_tflite(LoadedModel(path="sine", flavour="tf_keras", model=model), "int8", rep)
    blob = tflite_bytes(model, "int8", rep)
    assert [op.split(" ")[0] for op in float_ops(blob)] == ["SIN"]
    assert _io(blob) == (["INT8"], ["INT8"])
    assert float_ops(tflite_bytes(_float_model(), "int8", rep)) == []
