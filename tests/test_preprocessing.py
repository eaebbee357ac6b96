"""Issue 20: preprocessing is a declared property of the model, not an assumption about the data.

Two tiny tf_keras CNNs are trained on raw 0..255 digits (8x8): one starts with Rescaling(1/255), the
other with an adapted Normalization layer. Their int8 TFLite files must score, on the same raw
images quantized with the file's own input scale and zero point, within 1 point of the Keras model,
and their metadata must state the raw 0..255 input they need.
"""

from __future__ import annotations

import numpy as np
import pytest


def _raw_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images * (255.0 / 16.0)).astype(np.float32)[..., None], d.target.astype(np.int64)


def _cnn(first_layer):
    from edgekit._tf import keras

    L = keras.layers
    return keras.Sequential([L.Input((8, 8, 1)), first_layer, L.Conv2D(16, 3, activation="relu", padding="same"),
                             L.MaxPooling2D(), L.Conv2D(32, 3, activation="relu", padding="same"),
                             L.GlobalAveragePooling2D(), L.Dense(10, activation="softmax")])


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """(npz of raw digits, {kind: .keras path}) for a Rescaling and a Normalization model."""
    from edgekit._tf import keras, reproducible

    reproducible(0)
    tmp = tmp_path_factory.mktemp("user_models")
    x, y = _raw_digits()
    npz = tmp / "raw_digits.npz"
    np.savez(npz, x=x, y=y)
    norm = keras.layers.Normalization(axis=None)
    norm.adapt(x)
    paths = {}
    for kind, first in (("rescaling", keras.layers.Rescaling(1.0 / 255)), ("normalization", norm)):
        m = _cnn(first)
        m.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x, y, epochs=8, batch_size=32, verbose=0)
        paths[kind] = tmp / f"{kind}.keras"
        m.save(paths[kind])
    return npz, paths


def _litert_accuracy(path, x, y) -> float:
    """Quantize raw inputs with the file's own scale/zero point, by hand, and score."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = inp["quantization"]
    info = np.iinfo(inp["dtype"])  # uint8 (export's default --io) or int8
    correct = 0
    for xi, yi in zip(x, y):
        q = np.clip(np.round(xi[None] / scale + zp), info.min, info.max).astype(inp["dtype"])
        it.set_tensor(inp["index"], q)
        it.invoke()
        correct += int(it.get_tensor(out["index"]).argmax() == yi)
    return correct / len(y)


@pytest.mark.parametrize("kind", ["rescaling", "normalization"])
def test_int8_of_a_model_with_its_own_preprocessing_keeps_its_accuracy(user_models, kind, tmp_path):
    from edgekit.convert import export
    from edgekit.convert.metadata import read_metadata
    from edgekit.data import load_dataset
    from edgekit.models.load import load_model

    npz, paths = user_models
    warnings = []
    art = export(paths[kind], to="tflite", precision="int8", data=str(npz), out=tmp_path, warn=warnings.append)
    # the test split of the same data, as raw 0..255 pixels (no normalization)
    from edgekit.data.scaling import Scaling

    raw = load_dataset(str(npz), input_shape=(8, 8, 1), scaling=Scaling(mean=0.0, std=1.0))
    assert raw.x_test.max() > 200  # really raw pixels
    keras_acc = float(np.mean(load_model(paths[kind]).predict(raw.x_test).argmax(1) == raw.y_test))
    tfl_acc = _litert_accuracy(art.path, raw.x_test, raw.y_test)
    assert keras_acc > 0.8, keras_acc  # the model learned something, so a scaling error would show
    assert abs(tfl_acc - keras_acc) <= 0.01, (kind, keras_acc, tfl_acc)
    # the calibration saw 0..255: the int8 input step is about one gray level, not 2/255
    assert art.input.scale > 0.5
    meta = read_metadata(art.path)
    assert meta["normalization"]["input_range"] == [0.0, 255.0]
    assert meta["normalization"]["raw_range"] == [0.0, 255.0]
    assert meta["normalization_source"].startswith("Rescaling" if kind == "rescaling" else "Normalization")
    assert meta["labels"] == [str(i) for i in range(10)]
    assert art.normalization.input_range == (0.0, 255.0) and art.labels == meta["labels"]
    assert not warnings
    # verify feeds the reference the same raw pixels: it reports the Keras model's real accuracy
    from edgekit.verification import verify

    r = verify(art, paths[kind], data=str(npz))
    assert r.reference_accuracy == pytest.approx(keras_acc) and abs(r.accuracy - tfl_acc) < 1e-9
    assert r.normalization.input_range == (0.0, 255.0)


def test_onnx_int8_of_a_rescaling_model(user_models, tmp_path):
    """ONNX int8 is calibrated on raw pixels too (500 samples), and keeps the Keras accuracy."""
    from edgekit.convert import export
    from edgekit.convert.metadata import read_metadata
    from edgekit.data import load_dataset
    from edgekit.data.scaling import Scaling
    from edgekit.models.load import load_model
    from edgekit.runtime.base import load_runner

    npz, paths = user_models
    art = export(paths["rescaling"], to="onnx", precision="int8", data=str(npz), out=tmp_path)
    raw = load_dataset(str(npz), input_shape=(8, 8, 1), scaling=Scaling(mean=0.0, std=1.0))
    keras_acc = float(np.mean(load_model(paths["rescaling"]).predict(raw.x_test).argmax(1) == raw.y_test))
    onnx_acc = float(np.mean(load_runner(art.path).run(raw.x_test).argmax(1) == raw.y_test))
    assert abs(onnx_acc - keras_acc) <= 0.01, (keras_acc, onnx_acc)
    assert art.extra["quantization"]["calibration_samples"] == 500
    assert read_metadata(art.path)["normalization"]["input_range"] == [0.0, 255.0]


def test_keras3_rescaling_is_detected(tmp_path):
    import keras as keras3

    from edgekit.convert import export
    from edgekit.models.load import load_model
    from edgekit.models.preprocessing import declared_scaling

    m = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Rescaling(1 / 127.5, offset=-1),
                           keras3.layers.Flatten(), keras3.layers.Dense(3, activation="softmax")])
    m.save(tmp_path / "k3.keras")
    loaded = load_model(tmp_path / "k3.keras")
    assert loaded.flavour == "keras3"
    s = declared_scaling(loaded.model)
    assert s.source == "Rescaling layer" and s.input_range == (0.0, 255.0)
    art = export(tmp_path / "k3.keras", to="tflite", precision="fp32", out=tmp_path, labels=["a", "b", "c"])
    assert art.normalization.input_range == (0.0, 255.0) and art.labels == ["a", "b", "c"]


def test_export_without_data_records_the_declared_range_and_labels(user_models, tmp_path):
    from edgekit.convert import export
    from edgekit.convert.metadata import read_metadata

    _, paths = user_models
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"digit {i}" for i in range(10)) + "\n")
    art = export(paths["rescaling"], to="onnx", precision="fp32", out=tmp_path, labels=labels)
    meta = read_metadata(art.path)
    assert meta["normalization"]["input_range"] == [0.0, 255.0]
    assert meta["labels"][3] == "digit 3" and art.labels[3] == "digit 3"


def test_a_flag_that_contradicts_the_models_layer_is_refused(user_models, tmp_path):
    from edgekit.convert import export
    from edgekit.errors import EdgekitError

    npz, paths = user_models
    with pytest.raises(EdgekitError, match="disagrees with the model's own Rescaling"):
        export(paths["rescaling"], to="tflite", precision="fp32", out=tmp_path, input_range="-1,1")


def test_input_range_flag_for_a_model_that_declares_nothing(tmp_path):
    from edgekit.convert import export
    from edgekit.data.scaling import Scaling, user_scaling
    from edgekit.models.preprocessing import declared_scaling

    bare = _cnn(__import__("edgekit._tf", fromlist=["keras"]).keras.layers.Layer())
    assert declared_scaling(bare) is None
    s = user_scaling("0,1")
    n = s.normalization_for((0.0, 255.0))
    assert n.input_range == (0.0, 1.0) and n.std == pytest.approx(255.0)
    assert Scaling(mean=127.5, std=127.5).normalization_for(None).input_range == (-1.0, 1.0)
    warnings = []
    art = export(bare, to="tflite", precision="fp32", out=tmp_path, input_range="0,1", warn=warnings.append)
    assert art.normalization.input_range == (0.0, 1.0) and not warnings
    art = export(bare, to="tflite", precision="fp32", out=tmp_path, warn=warnings.append)
    assert art.normalization is None and "declares no input scaling" in warnings[0]


def test_keras_applications_names_and_data_in_the_wrong_range(user_models, tmp_path):
    from edgekit._tf import keras
    from edgekit.models.load import load_model
    from edgekit.models.preprocessing import dataset_for_model, declared_scaling

    named = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)],
                             name="mobilenetv2_0.35_96")
    s = declared_scaling(named)
    assert s.source == "keras.applications" and s.input_range == (-1.0, 1.0)
    # data saved in 0..1 for a model whose Rescaling(1/255) expects 0..255: mapped back, with a warning
    npz, paths = user_models
    with np.load(npz) as f:
        x, y = f["x"] / 255.0, f["y"]
    unit = tmp_path / "unit.npz"
    np.savez(unit, x=x.astype(np.float32), y=y)
    warnings = []
    ds, scaling = dataset_for_model(str(unit), load_model(paths["rescaling"]).model, input_shape=(8, 8, 1),
                                    warn=warnings.append)
    assert scaling.source == "Rescaling layer" and ds.x_train.max() == pytest.approx(255.0, rel=1e-3)
    assert len(warnings) == 1 and "expects 0..255" in warnings[0]
