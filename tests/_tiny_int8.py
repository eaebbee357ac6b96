"""Small real int8 models for the MCU / NPU / compare tests, built once per test run (tests/_shared.py).

A conv + depthwise + dense + softmax net trained a few steps on scikit-learn's digits (8x8x1),
converted to full int8 (representative data, int8 input and output) by edgekit.convert.tflite.to_tflite.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

_DIR = Path(tempfile.mkdtemp(prefix="edgekit-tiny-"))


@functools.lru_cache(maxsize=None)
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype("float32")[..., None]
    return x[:1500], d.target[:1500], x[1500:], d.target[1500:]


def _convert(model, int8: bool, rep: np.ndarray | None = None) -> bytes:
    """fp32, or full int8 (int8 in and out), converted as `edgekit export` converts: edgekit's one
    converter setup on one traced call of the model. (``from_keras_model`` gave the same 309,000-byte
    file for the MobileNetV1 0.25/96 of test_mcu in 15-19 s of CPU instead of 3-5 s: it saves the
    whole model as a SavedModel first.)"""
    from edgekit.convert.tflite import to_tflite
    from edgekit.models.load import as_loaded

    return to_tflite(as_loaded(model), "int8" if int8 else "fp32", rep)


@functools.lru_cache(maxsize=None)
def digits_models() -> tuple[Path, Path]:
    """(int8 .tflite, fp32 .tflite) of the same trained digits net, made once per test run."""
    from _shared import shared

    folder, _ = shared(None, "tiny", _build_digits_models)
    return folder / "digits_int8.tflite", folder / "digits_fp32.tflite"


def _build_digits_models(folder: Path) -> None:
    from edgekit._tf import keras

    xtr, ytr, _, _ = digits()
    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(8, 3, padding="same", activation="relu"),
        L.DepthwiseConv2D(3, padding="same", activation="relu6"),
        L.Flatten(),
        L.Dense(10),
        L.Softmax(),
    ])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=3, batch_size=32, verbose=0)
    (folder / "digits_int8.tflite").write_bytes(_convert(m, True, xtr[:200]))
    (folder / "digits_fp32.tflite").write_bytes(_convert(m, False))


@functools.lru_cache(maxsize=None)
def softmax_abort_model() -> Path:
    """An int8 Dense(zeros) + Softmax. Its logits are constant, so the softmax input scale is tiny
    and TFLM aborts (SIGABRT in QuantizeMultiplierGreaterThanOne from CalculateSoftmaxParams) while
    creating the interpreter: the same crash as an untrained int8 MobileNetV2, in a 2-second build."""
    from edgekit._tf import keras

    L = keras.layers
    m = keras.Sequential([
        L.Input((16,)),
        L.Dense(10, kernel_initializer="zeros", bias_initializer="zeros"),
        L.Softmax(),
    ])
    rep = np.random.default_rng(0).uniform(0, 1, (8, 16)).astype("float32")
    p = _DIR / "softmax_abort_int8.tflite"
    p.write_bytes(_convert(m, True, rep))
    return p
