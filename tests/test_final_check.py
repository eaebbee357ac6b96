"""The final check: no export hands over a file it has not run, and verify runs the same check.

Tiny models written here as users write them (Keras 3 and tf_keras), trained 2 epochs on data made
here: a file whose runtime output is NaN and a file with an extra input are stopped by `edgekit
export` (exit 1, nothing in the output folder); a two-input model (image + feature vector) and a
two-output model (softmax + score, reordered by the TFLite converter) export to TFLite fp32/int8
and ONNX and verify on an .npz keyed by input names; a (N, 64, 6) sequence .npz calibrates int8.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.errors import EdgekitError

N = 240


def _cli(*args):
    """`edgekit ARGS` in this process (TensorFlow is loaded once): the real commands, exit code and output."""
    from typer.testing import CliRunner

    from edgekit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Data and models: two inputs (Keras 3), two outputs (tf_keras), a sequence Conv1D (Keras 3)."""
    from edgekit._tf import tf  # first: it sets TensorFlow's environment

    import keras

    d = tmp_path_factory.mktemp("final_check")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Classes a 2-epoch model learns (a clear offset per class): confident outputs, no near-ties in top-1.
    y = rng.integers(0, 3, N)
    image = (rng.normal(0, 0.3, (N, 8, 8, 1)) + (y - 1)[:, None, None, None]).astype("float32")
    feats = (rng.normal(0, 0.3, (N, 5)) + (y - 1)[:, None]).astype("float32")
    np.savez(d / "two_inputs.npz", image=image, features=feats, y=y)
    np.savez(d / "image_only.npz", image=image, y=y)
    y_seq = rng.integers(0, 4, N)
    seq = rng.normal(0, 0.5, (N, 64, 6)).astype("float32")
    seq[:, :, 0] += 2.0 * (y_seq % 2)[:, None]  # sensor 0 and sensor 1 each carry one bit of the class
    seq[:, :, 1] += 2.0 * (y_seq // 2)[:, None]
    np.savez(d / "sensors.npz", x=seq, y=y_seq)

    K = keras  # two inputs, Keras 3
    i1, i2 = K.Input((8, 8, 1), name="image"), K.Input((5,), name="features")
    h = K.layers.Concatenate()([K.layers.Flatten()(K.layers.Conv2D(4, 3, activation="relu")(i1)),
                                K.layers.Dense(8, activation="relu")(i2)])
    two_in = K.Model([i1, i2], K.layers.Dense(3, activation="softmax", name="label")(h))
    two_in.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    two_in.fit({"image": image, "features": feats}, y, epochs=2, verbose=0)
    two_in.save(d / "two_inputs.keras")

    T = tf.keras  # two outputs, tf_keras: a class softmax and a score
    x = T.Input((8, 8, 1), name="image")
    h = T.layers.Flatten()(T.layers.Conv2D(4, 3, activation="relu")(x))
    two_out = T.Model(x, [T.layers.Dense(3, activation="softmax", name="label")(h),
                          T.layers.Dense(1, name="score")(h)])
    two_out.compile(T.optimizers.Adam(0.01), ["sparse_categorical_crossentropy", "mse"])
    two_out.fit(image, [y, y.astype("float32")], epochs=2, verbose=0)
    two_out.save(d / "two_outputs.keras")

    s = K.Sequential([K.Input((64, 6)), K.layers.Conv1D(8, 5, activation="relu"), K.layers.GlobalAveragePooling1D(),
                      K.layers.Dense(4, activation="softmax")])
    s.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    s.fit(seq, y_seq, epochs=2, verbose=0)
    s.save(d / "sensors.keras")

    nan = T.Sequential([T.Input((8,)), T.layers.Dense(4, activation="relu"), T.layers.Dense(3, activation="softmax")])
    w = nan.layers[-1].get_weights()
    w[0][:] = np.nan  # what a diverged training leaves: the model loads, its outputs are NaN
    nan.layers[-1].set_weights(w)
    nan.save(d / "nan.h5")
    return d


def test_an_integer_file_below_its_floor_says_which_precisions_keep_float_activations():
    """The hint names the float precisions of the format being made: TFLite's smaller ones, ONNX's
    fp32 (it has no other), none for the MCU bundle (int8 only), none for a float file."""
    from edgekit.errors import EdgekitError
    from edgekit.formats import FORMATS
    from edgekit.records import OutputParity
    from edgekit.verification.check import check_outputs

    low = [OutputParity(name="out", file_name="Identity", shape=[None, 4], cosine=0.76, max_abs=0.5,
                        top1_agreement=0.5, n=16, finite=True, reference_finite=True)]

    def refused(precision, fmt):
        with pytest.raises(EdgekitError) as e:
            check_outputs(low, precision, f"seq_{precision}.x", FORMATS[fmt])
        return str(e.value)

    tflite = refused("int8", "tflite")
    assert "cosine 0.76 on 16 inputs, below the int8 floor" in tflite
    assert "Try --precision dynamic or fp16 (float activations); `edgekit compress` compares" in tflite
    assert "Try --precision fp32 (float activations)." in refused("int8", "onnx")
    assert "Try" not in refused("int8", "mcu")
    assert "Try" not in refused("fp32", "tflite")  # float activations already: nothing of the kind to offer


def test_nan_output_stops_the_export_and_leaves_nothing(made, tmp_path):
    out = tmp_path / "out"
    res = _cli("export", made / "nan.h5", "--to", "tflite", "--out", out)
    assert res.exit_code == 1, res.output
    assert "not finite" in res.output and "not kept" in res.output and "Traceback" not in res.output
    assert not out.exists() or not any(out.iterdir())  # no file, no convert.log, no sidecar


def test_extra_input_stops_the_export_and_leaves_nothing(made, tmp_path, monkeypatch):
    """A converter that hands back a graph with an input the model does not have (what tf2onnx did
    with a Keras 3 Normalization layer's mean and variance) reaches the final check and is refused."""
    import onnx

    import edgekit.convert.onnx as convert_onnx

    real = convert_onnx.to_onnx

    def with_extra_input(*a, **kw):
        proto = real(*a, **kw)
        proto.graph.input.append(onnx.helper.make_tensor_value_info("146:0", onnx.TensorProto.FLOAT, [1]))
        return proto

    monkeypatch.setattr(convert_onnx, "to_onnx", with_extra_input)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("was here before")
    res = _cli("export", made / "two_outputs.keras", "--to", "onnx", "--out", out)
    assert res.exit_code == 1, res.output
    assert "146:0" in res.output and "not kept" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("to,precision", [("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")])
def test_two_inputs_export_and_verify_by_name(made, tmp_path, to, precision):
    from edgekit.convert import export
    from edgekit.verification import verify

    data = made / "two_inputs.npz"
    art = export(made / "two_inputs.keras", to=to, precision=precision, data=str(data), out=tmp_path)
    assert [o["name"] for o in art.extra["final_check"]] == ["label"]
    r = verify(art.path, made / "two_inputs.keras", data=str(data))
    assert r.source.startswith("test split") and r.accuracy > 0.5
    if precision == "fp32":
        assert r.parity.cosine >= 0.9999
    else:
        assert r.parity.top1_agreement >= 0.97


@pytest.mark.parametrize("to,precision", [("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")])
def test_two_outputs_are_mapped_by_name(made, tmp_path, to, precision):
    from edgekit.convert import export
    from edgekit.runtime.base import load_runner

    data = made / "image_only.npz"  # keyed by the input's name
    art = export(made / "two_outputs.keras", to=to, precision=precision, data=str(data), out=tmp_path)
    file_order = [s.name for s in load_runner(art.path).output_specs]
    if to == "tflite":  # the converter puts the score first: only the names say which is which
        assert file_order == ["score", "label"], file_order
    js = tmp_path / "verify.json"
    gate = ["--min-cosine", "0.9999999"] if precision == "fp32" else ["--min-top1-agreement", "0.97"]
    res = _cli("verify", art.path, "--reference", made / "two_outputs.keras", "--data", data, "--json", js, *gate)
    assert res.exit_code == 0, res.output
    doc = json.loads(js.read_text())
    outs = {o["name"]: o for o in doc["outputs"]}
    assert set(outs) == {"label", "score"} and outs["label"]["top1_agreement"] is not None
    assert outs["score"]["shape"] == [None, 1] and outs["label"]["shape"] == [None, 3]
    assert all(o["finite"] for o in outs.values()) and doc["passed"]
    if precision == "fp32":
        assert min(o["cosine"] for o in outs.values()) >= 0.9999
    assert "output score" in res.output and "output label" in res.output
    if precision == "fp32":  # the gate as given, not rounded to "1"
        assert "gate min-cosine 0.9999999:" in res.output, res.output


def test_wide_tables_are_not_cut_when_piped(monkeypatch):
    from rich.console import Console
    from rich.table import Table

    import edgekit.cli._app as cli_app

    monkeypatch.setattr(cli_app.sys.stdout, "isatty", lambda: False)
    monkeypatch.delenv("COLUMNS", raising=False)
    width = cli_app._out_width()
    assert width == cli_app.PIPE_WIDTH
    t = Table("file", "notes")
    t.add_row("model_" + "x" * 120 + ".tflite", "y" * 150 + " end")
    con = Console(width=width, record=True, file=open("/dev/null", "w"))
    con.print(t)
    text = con.export_text()
    assert "…" not in text and "x" * 120 in text and "end" in text
    monkeypatch.setenv("COLUMNS", "120")
    assert cli_app._out_width() == 120


def test_sequence_npz_calibrates_int8_and_verifies(made, tmp_path):
    from edgekit.convert import export
    from edgekit.verification import verify

    data = str(made / "sensors.npz")  # (N, 64, 6): sensor windows, not images
    art = export(made / "sensors.keras", to="tflite", precision="int8", data=data, out=tmp_path, io="int8")
    assert art.input.dtype == "int8"
    r = verify(art.path, made / "sensors.keras", data=data)
    assert r.n == 48 and r.parity.top1_agreement >= 0.97 and r.accuracy > 0.5  # learnt, not chance


def test_data_that_does_not_fit_is_refused_or_announced(made, tmp_path):
    from edgekit.convert import export

    with pytest.raises(EdgekitError, match=r"samples are \(8, 8, 1\) but the model takes \(64, 6\)"):
        export(made / "sensors.keras", to="tflite", precision="int8", data=str(made / "image_only.npz"),
               out=tmp_path / "a")
    with pytest.raises(EdgekitError, match=r"takes 2 inputs \(image, features\)"):
        export(made / "two_inputs.keras", to="tflite", precision="int8", data=str(made / "image_only.npz"),
               out=tmp_path / "b")
    with pytest.raises(EdgekitError, match="the MCU bundle takes one input"):
        export(made / "two_inputs.keras", to="mcu", precision="int8", data=str(made / "two_inputs.npz"),
               out=tmp_path / "c")
    said: list[str] = []  # 64x6 grey "images" with 4 classes for an 8x8 model with 3: resized and unlabelled, aloud
    art = export(made / "two_outputs.keras", to="tflite", precision="fp32", data=str(made / "sensors.npz"),
                 out=tmp_path / "d", warn=said.append)
    assert any("64x6; resized to the model's 8x8" in m for m in said), said
    assert any("4 classes" in m and "no labels" in m for m in said) and art.labels is None, said


def test_outputs_pair_by_name_then_keras3_keys_then_shape_never_by_position():
    from edgekit.artifact import TensorSpec
    from edgekit.verification.check import _pair

    def specs(*pairs):
        return [TensorSpec(name=n, shape=(None,) + s) for n, s in pairs]

    keras_out = specs(("label", (3,)), ("score", (1,)))
    # LiteRT order reversed, names kept (tf_keras signature), or Keras 3's positional keys, or tensor names
    assert _pair(keras_out, specs(("score", (1,)), ("label", (3,))), "output", "f") == {"label": "label",
                                                                                         "score": "score"}
    assert _pair(keras_out, specs(("output_1", (1,)), ("output_0", (3,))), "output", "f") == {
        "label": "output_0", "score": "output_1"}
    assert _pair(keras_out, specs(("Identity_1:0", (1,)), ("Identity:0", (3,))), "output", "f") == {
        "label": "Identity:0", "score": "Identity_1:0"}
    with pytest.raises(EdgekitError, match="cannot tell which"):  # same shapes, no names: refused, not guessed
        _pair(specs(("a", (3,)), ("b", (3,))), specs(("x:0", (3,)), ("y:0", (3,))), "output", "f")
    with pytest.raises(EdgekitError, match="extra: 146:0"):
        _pair(specs(("input", (4,))), specs(("input", (4,)), ("146:0", (1,))), "input", "f")
    with pytest.raises(EdgekitError, match=r"has shape \(1,\) but the Keras model's label has \(3,\)"):
        _pair(keras_out, specs(("label", (1,)), ("score", (3,))), "output", "f")
