"""The corpus of user models: models written the way users write them, outside edgekit, in
Keras 3 and in tf_keras, saved as ``.keras``, ``.h5`` and SavedModel, each exported through the
``edgekit`` CLI and each export checked with ``edgekit verify``.

The rule every export is held to: it either verifies (fp32: output cosine >= 0.9999; int8: top-1
agreement >= 0.97 on the data's test split) or it is refused with exit 1, ONE line on stderr and
no file. An export that exits 0 with a file that fails verify fails the test. Which of the two each
export is expected to be is written in :data:`EXPECTED` (a refusal with the phrase its line must
carry and the way around it), and ``docs/support_matrix.md`` carries the table rendered from it
(:func:`render_table`; ``EDGEKIT_WRITE_DOCS=1`` rewrites it).

Cheap on purpose: models of a few thousand parameters trained a few epochs on data made here (easy
rules, so int8 agrees with float), saved once per module, the CLI run in this process (typer's
CliRunner: TensorFlow is imported once).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

DOC = Path(__file__).resolve().parent.parent / "docs" / "support_matrix.md"
N = 300  # samples per data set: a test split of 60, so top-1 agreement 0.97 allows one miss
CLASSES = 3


# ---- data made for the purpose: easy rules a tiny model learns in a few epochs

def _images(rng, n=N, size=16):
    """0..255 images whose class is the brightest channel."""
    y = rng.integers(0, CLASSES, n)
    x = rng.uniform(0, 120, (n, size, size, 3)).astype("float32")
    x[np.arange(n), :, :, y] += 120.0
    return x, y


def _sequences(rng, n=N, steps=16, features=6):
    """Sensor windows (N, T, F) whose class is the feature with the raised level."""
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0, 1, (n, steps, features)).astype("float32")
    x[np.arange(n), :, y] += 1.5
    return x, y


def _tokens(rng, n=N, length=12, vocab=48):
    """Token ids whose class is the third of the vocabulary they are drawn from."""
    y = rng.integers(0, CLASSES, n)
    x = (rng.integers(0, vocab // CLASSES, (n, length)) + (y * (vocab // CLASSES))[:, None]).astype("int32")
    return x, y


def _table(rng, n=N, features=10):
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0, 1, (n, features)).astype("float32")
    x[np.arange(n), y] += 2.0
    return x, y


# ---- the models, written once for both Keras (``K`` is keras or tf_keras)

def _head(K, h):
    return K.layers.Dense(CLASSES, activation="softmax", name="probs")(h)


def cnn_normalization(K, x):
    norm = K.layers.Normalization()
    norm.adapt(x[:64])
    i = K.Input((16, 16, 3))
    h = norm(i)
    h = K.layers.Conv2D(8, 3, padding="same")(h)
    h = K.layers.BatchNormalization()(h)
    h = K.layers.Activation("relu")(h)
    h = K.layers.GlobalAveragePooling2D()(h)
    return K.Model(i, _head(K, h))


def cnn_rescaling_resizing(K, x):
    i = K.Input((16, 16, 3))
    h = K.layers.Rescaling(1 / 255.0)(i)
    h = K.layers.Resizing(12, 12)(h)
    h = K.layers.Conv2D(8, 3, activation="relu")(h)
    h = K.layers.GlobalAveragePooling2D()(h)
    return K.Model(i, _head(K, h))


def cnn_center_crop(K, x):
    i = K.Input((16, 16, 3))
    h = K.layers.CenterCrop(12, 12)(i)
    h = K.layers.Rescaling(1 / 127.5, offset=-1.0)(h)
    h = K.layers.Conv2D(8, 3, strides=2, activation="swish")(h)
    h = K.layers.GlobalMaxPooling2D()(h)
    return K.Model(i, _head(K, h))


def separable_depthwise(K, x):
    i = K.Input((16, 16, 3))
    h = K.layers.Rescaling(1 / 255.0)(i)
    h = K.layers.SeparableConv2D(8, 3, padding="same")(h)
    h = K.layers.BatchNormalization()(h)
    if K.__name__ == "keras":
        h = K.layers.Activation("hard_swish")(h)
    else:  # tf_keras has no hard_swish: written with layers, as its users do
        h = K.layers.Multiply()([h, K.layers.ReLU(6.0)(h + 3.0)]) / 6.0
    h = K.layers.DepthwiseConv2D(3, padding="same")(h)
    h = K.layers.Activation("swish")(h)
    h = K.layers.GlobalAveragePooling2D()(h)
    return K.Model(i, _head(K, h))


def conv1d_layernorm_gelu(K, x):
    i = K.Input((16, 6))
    h = K.layers.Conv1D(8, 3, padding="same", activation="gelu")(i)
    h = K.layers.LayerNormalization()(h)
    h = K.layers.Conv1D(8, 3, padding="same", activation="gelu")(h)
    h = K.layers.GlobalAveragePooling1D()(h)
    return K.Model(i, _head(K, h))


def attention(K, x):
    i = K.Input((16, 6))
    h = K.layers.Dense(8)(i)
    a = K.layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    h = K.layers.LayerNormalization()(K.layers.Add()([h, a]))
    h = K.layers.GlobalAveragePooling1D()(h)
    return K.Model(i, _head(K, h))


def lstm(K, x):
    i = K.Input((16, 6))
    h = K.layers.LSTM(8)(i)
    return K.Model(i, _head(K, h))


def gru(K, x):
    i = K.Input((16, 6))
    h = K.layers.GRU(8)(i)
    return K.Model(i, _head(K, h))


def bidirectional_lstm(K, x):
    i = K.Input((16, 6))
    h = K.layers.Bidirectional(K.layers.LSTM(6))(i)
    return K.Model(i, _head(K, h))


def embedding(K, x):
    i = K.Input((12,), dtype="int32")
    h = K.layers.Embedding(48, 8)(i)
    h = K.layers.GlobalAveragePooling1D()(h)
    return K.Model(i, _head(K, h))


def mlp_swish(K, x):
    i = K.Input((10,))
    h = K.layers.Dense(16, activation="swish")(i)
    h = K.layers.Dense(16, activation="gelu")(h)
    return K.Model(i, _head(K, h))


def two_inputs(K, x):
    image, features = K.Input((16, 16, 3), name="image"), K.Input((5,), name="features")
    h = K.layers.Rescaling(1 / 255.0)(image)
    h = K.layers.Conv2D(8, 3, activation="relu")(h)
    h = K.layers.GlobalAveragePooling2D()(h)
    h = K.layers.Concatenate()([h, K.layers.Dense(4, activation="relu")(features)])
    return K.Model([image, features], _head(K, h))


def two_outputs(K, x):
    i = K.Input((16, 16, 3))
    h = K.layers.Rescaling(1 / 255.0)(i)
    h = K.layers.Conv2D(8, 3, activation="relu")(h)
    h = K.layers.GlobalAveragePooling2D()(h)
    return K.Model(i, [_head(K, h), K.layers.Dense(1, name="score")(h)])


@dataclass(frozen=True)
class Case:
    name: str
    keras: str  # "keras3" or "tf_keras"
    saved_as: str  # "keras", "h5" or "saved_model"
    build: object
    data: object
    exports: tuple = ("tflite_fp32", "tflite_int8", "tflite_fp32_batch1", "onnx_fp32")


CASES = [
    Case("k3_cnn_normalization", "keras3", "keras", cnn_normalization, _images,
         ("tflite_fp32", "tflite_int8", "tflite_fp32_batch1", "tflite_int8_batch1", "onnx_fp32", "mcu")),
    Case("k3_cnn_normalization_export", "keras3", "saved_model", cnn_normalization, _images,
         ("tflite_fp32", "onnx_fp32")),
    Case("tfk_cnn_normalization", "tf_keras", "h5", cnn_normalization, _images),
    Case("k3_rescaling_resizing", "keras3", "h5", cnn_rescaling_resizing, _images),
    Case("tfk_rescaling_resizing", "tf_keras", "saved_model", cnn_rescaling_resizing, _images),
    Case("k3_center_crop_swish", "keras3", "keras", cnn_center_crop, _images),
    Case("tfk_center_crop_swish", "tf_keras", "keras", cnn_center_crop, _images),
    Case("k3_separable_hard_swish", "keras3", "keras", separable_depthwise, _images),
    Case("tfk_separable_hard_swish", "tf_keras", "h5", separable_depthwise, _images),
    Case("k3_conv1d_layernorm_gelu", "keras3", "keras", conv1d_layernorm_gelu, _sequences),
    Case("tfk_conv1d_layernorm_gelu", "tf_keras", "h5", conv1d_layernorm_gelu, _sequences),
    Case("k3_attention", "keras3", "keras", attention, _sequences),
    Case("tfk_attention", "tf_keras", "keras", attention, _sequences),
    Case("k3_lstm", "keras3", "keras", lstm, _sequences),
    Case("tfk_lstm", "tf_keras", "h5", lstm, _sequences),
    Case("k3_gru", "keras3", "saved_model", gru, _sequences, ("tflite_fp32", "onnx_fp32")),
    Case("tfk_gru", "tf_keras", "keras", gru, _sequences),
    Case("k3_bidirectional_lstm", "keras3", "keras", bidirectional_lstm, _sequences),
    Case("tfk_bidirectional_lstm", "tf_keras", "h5", bidirectional_lstm, _sequences),
    Case("k3_embedding", "keras3", "keras", embedding, _tokens),
    Case("tfk_embedding", "tf_keras", "h5", embedding, _tokens),
    Case("k3_mlp_swish_gelu", "keras3", "keras", mlp_swish, _table,
         ("tflite_fp32", "tflite_int8", "onnx_fp32", "mcu")),
    Case("tfk_mlp_swish_gelu", "tf_keras", "saved_model", mlp_swish, _table),
    Case("k3_two_inputs", "keras3", "keras", two_inputs, _images),
    Case("tfk_two_inputs", "tf_keras", "h5", two_inputs, _images),
    Case("k3_two_outputs", "keras3", "keras", two_outputs, _images),
    Case("tfk_two_outputs", "tf_keras", "keras", two_outputs, _images),
]


@dataclass(frozen=True)
class Refused:
    """An export edgekit refuses: ``phrase`` is in its one line; ``around`` is what a user does instead."""
    phrase: str
    around: str


# Keras 3's LayerNormalization computes -mean with a NEG op, which TFLite's int8 quantizer leaves float.
_KERAS3_LAYERNORM_INT8 = Refused(
    "have no int8 kernel and would stay float (NEG",
    "Keras 3's LayerNormalization negates its mean (NEG), which TFLite cannot quantize: export "
    "`--precision dynamic` (int8 weights, float activations) or fp32, or build the model with tf_keras, "
    "whose LayerNormalization quantizes")
# A SavedModel's serving signature keeps the batch free inside, so a rolled RNN loop has no static shape.
_SAVED_MODEL_RNN = Refused(
    "the SavedModel's recurrent loop has no static shape",
    "export the `.keras`/`.h5` model the SavedModel was made from (edgekit converts its loop at batch 1, "
    "or unrolled for int8), or build the RNN layers with `unroll=True`; ONNX converts the SavedModel as is")

_MCU_GELU = Refused(
    "TFLM has no kernel for GELU",
    "TensorFlow Lite Micro has no GELU kernel: build the model with relu or swish for a microcontroller; "
    "the TFLite int8 file itself runs on phones and NPUs")

# Every (case, export) not listed here must verify.
EXPECTED: dict[tuple[str, str], Refused] = {
    ("k3_conv1d_layernorm_gelu", "tflite_int8"): _KERAS3_LAYERNORM_INT8,
    ("k3_attention", "tflite_int8"): _KERAS3_LAYERNORM_INT8,
    ("k3_gru", "tflite_fp32"): _SAVED_MODEL_RNN,
    ("k3_mlp_swish_gelu", "mcu"): _MCU_GELU,
}


# ---- the CLI, in this process

def _cli(*args):
    from edgekit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


EXPORT_ARGS = {
    "tflite_fp32": ("--to", "tflite", "--precision", "fp32"),
    "tflite_int8": ("--to", "tflite", "--precision", "int8"),
    "tflite_fp32_batch1": ("--to", "tflite", "--precision", "fp32", "--batch1"),
    "tflite_int8_batch1": ("--to", "tflite", "--precision", "int8", "--batch1"),
    "onnx_fp32": ("--to", "onnx", "--precision", "fp32"),
    "mcu": ("--to", "mcu"),
}
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx", "mcu": ".tflite"}


def _gate(export: str) -> tuple:
    return ("--min-top1-agreement", "0.97") if "int8" in export or export == "mcu" else ("--min-cosine", "0.9999")


# ---- the corpus, made once per module

def _save(model, case: Case, folder: Path) -> Path:
    path = folder / case.name
    if case.saved_as == "keras":
        path = path.with_suffix(".keras")
        model.save(path)
    elif case.saved_as == "h5":
        path = path.with_suffix(".h5")
        model.save(path)
    elif case.keras == "keras3":  # Keras 3's SavedModel for serving
        model.export(str(path), verbose=False)
    else:
        model.save(str(path), save_format="tf")
    return path


def _make(case: Case, folder: Path) -> tuple[Path, Path]:
    import keras as keras3
    import tf_keras

    K = keras3 if case.keras == "keras3" else tf_keras
    seed = sum(map(ord, case.name))
    K.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = case.data(rng)
    model = case.build(K, x)
    model.compile(K.optimizers.Adam(0.02), loss=_losses(model))
    arrays = _arrays(model, x, y, rng)
    inputs = [arrays[n] for n in _input_names(model)]
    targets = [y, arrays["score"]] if len(model.outputs) == 2 else y
    model.fit(inputs if len(inputs) > 1 else inputs[0], targets, epochs=3, batch_size=32, verbose=0)
    data = folder / f"{case.name}.npz"
    np.savez(data, **{("x" if len(inputs) == 1 else n): arrays[n] for n in _input_names(model)}, y=y)
    return _save(model, case, folder), data


def _losses(model):
    return ["sparse_categorical_crossentropy"] + (["mse"] if len(model.outputs) == 2 else [])


def _input_names(model) -> list[str]:
    return [t.name.split(":")[0] for t in model.inputs]


def _arrays(model, x, y, rng) -> dict:
    """The model's inputs by name (a second input gets features that carry a little of the
    class), and ``score`` for a two-output model (the images' brightness)."""
    names = _input_names(model)
    out = {names[0]: x}
    if len(names) == 2:
        f = rng.normal(0, 1, (len(y), 5)).astype("float32")
        f[np.arange(len(y)), y] += 1.0
        out[names[1]] = f
    if len(model.outputs) == 2:
        out["score"] = (x.mean(axis=(1, 2, 3)) / 255.0).astype("float32")[:, None]
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_models")
    return {case.name: _make(case, folder) for case in CASES}


# ---- the exports

@dataclass
class Outcome:
    case: str
    export: str
    refused: str | None  # the one line, when refused
    verify: str | None  # verify's first line, when exported


def _run(case: Case, export: str, model: Path, data: Path, out: Path) -> Outcome:
    res = _cli("export", model, *EXPORT_ARGS[export], "--data", data, "--out", out)
    made = sorted(out.rglob(f"*{SUFFIX[EXPORT_ARGS[export][1]]}")) if out.exists() else []
    assert "Saved artifact" not in res.output, f"{case.name} {export}: converter output on the terminal"
    if res.exit_code != 0:
        where = f"{case.name} {export}"
        assert res.exit_code == 1, f"{where}: exit {res.exit_code}, not a refusal: {res.output[-2000:]}"
        assert "Traceback" not in res.output, f"{where}: {res.output[-2000:]}"
        lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{where}: not one line: {res.stderr}"
        assert not made, f"{where}: refused but left {[p.name for p in made]}"
        return Outcome(case.name, export, lines[0][len("error: "):], None)
    assert len(made) == 1, f"{case.name} {export}: exit 0 with files {[p.name for p in made]}"
    _no_variables_left(made[0], f"{case.name} {export}")
    ver = _cli("verify", made[0], "--reference", model, "--data", data, *_gate(export))
    assert ver.exit_code == 0, (f"{case.name} {export}: exit 0 with a file that fails verify "
                                f"(exit {ver.exit_code}): {ver.output[-1500:]}")
    return Outcome(case.name, export, None, ver.stdout.splitlines()[0])


def _no_variables_left(path: Path, where: str) -> None:
    """Every weight is a constant: no resource-variable ops in a TFLite file (they read nothing
    and output NaN), no graph inputs in an ONNX file beyond the model's own."""
    if path.suffix == ".onnx":
        import onnx

        graph = onnx.load(str(path)).graph
        weights = {i.name for i in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in weights]
        assert sorted(inputs) in (["input"], ["features", "image"]), f"{where}: graph inputs {inputs}"
    else:
        from edgekit import tflite_file

        ops = {op.op for op in tflite_file.operators(tflite_file.parse_model(path.read_bytes()))}
        assert not ops & {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}, f"{where}: ops {sorted(ops)}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_user_model_exports_verify_or_are_refused_in_one_line(case, corpus, tmp_path):
    model, data = corpus[case.name]
    for export in case.exports:
        out = tmp_path / export
        outcome = _run(case, export, model, data, out)
        expected = EXPECTED.get((case.name, export))
        if expected is None:
            assert outcome.refused is None, f"{case.name} {export} should verify; refused: {outcome.refused}"
        else:
            assert outcome.refused is not None, f"{case.name} {export} should be refused; it verified"
            assert expected.phrase in outcome.refused, (case.name, export, outcome.refused)
        shutil.rmtree(out, ignore_errors=True)


def test_corpus_covers_what_users_write():
    """Both Keras flavours, the three ways of saving, at least 20 models."""
    assert len(CASES) >= 20
    assert {c.keras for c in CASES} == {"keras3", "tf_keras"}
    assert {c.saved_as for c in CASES} == {"keras", "h5", "saved_model"}
    assert set(EXPECTED) <= {(c.name, e) for c in CASES for e in c.exports}


# ---- the docs table, rendered from the expectations above

COLUMNS = ("tflite_fp32", "tflite_int8", "tflite_fp32_batch1", "tflite_int8_batch1", "onnx_fp32", "mcu")
HEADERS = ("TFLite fp32", "TFLite int8", "TFLite fp32 --batch1", "TFLite int8 --batch1", "ONNX fp32", "MCU bundle")


def render_table() -> str:
    """The "your model" section of docs/support_matrix.md (from its marker to the end of the file)."""
    from edgekit.models.support import YOUR_MODEL_BEGIN

    refusals = sorted(set(EXPECTED.values()), key=lambda r: r.phrase)
    note = {r: i + 1 for i, r in enumerate(refusals)}
    rows = ["| model | Keras | saved as | " + " | ".join(HEADERS) + " |", "| --- " * (3 + len(COLUMNS)) + "|"]
    for c in CASES:
        cells = []
        for col in COLUMNS:
            r = EXPECTED.get((c.name, col))
            cells.append("" if col not in c.exports else f"✗ [{note[r]}]" if r else "✓")
        flavour = "Keras 3" if c.keras == "keras3" else "tf_keras"
        saved = {"keras": "`.keras`", "h5": "`.h5`", "saved_model": "SavedModel"}[c.saved_as]
        rows.append(f"| `{c.name}` | {flavour} | {saved} | " + " | ".join(cells) + " |")
    lines = [YOUR_MODEL_BEGIN, "", "## Your model", "",
             "Models written the way users write them, outside edgekit (`tests/test_user_models.py`: each a few",
             "thousand parameters, trained a few epochs on data made in the test, saved with Keras 3 or tf_keras",
             "as shown, SavedModels by Keras 3's `model.export()` or tf_keras' `model.save()`), each exported",
             "with `edgekit export --data <its .npz>` and checked with `edgekit verify`. ✓: exports and",
             "verifies (fp32: output cosine ≥ 0.9999; int8 and the MCU bundle: top-1 agreement ≥ 0.97 on the",
             "test split). ✗: refused, exit 1, one line, no file. Blank: not tried. No export exits 0 with a",
             "file that fails verify.", "", *rows, ""]
    if refusals:
        lines += ["Refused: the line a user sees (after `error:`) and the way around it.", ""]
        lines += [f"{note[r]}. \"…{r.phrase}…\": {r.around}" for r in refusals] + [""]
    return "\n".join(lines)


def test_support_matrix_carries_the_corpus_table():
    from edgekit.models.support import YOUR_MODEL_BEGIN

    text = DOC.read_text(encoding="utf-8")
    table = render_table()
    if os.environ.get("EDGEKIT_WRITE_DOCS") == "1":
        at = text.find(YOUR_MODEL_BEGIN)
        text = (text[:at] if at >= 0 else text + "\n") + table
        DOC.write_text(text, encoding="utf-8")
    assert text.endswith(table), "docs/support_matrix.md's your-model table is stale: EDGEKIT_WRITE_DOCS=1 pytest " + __file__


def test_keras3_conversions_match_on_random_inputs(corpus, tmp_path):
    """The Keras 3 routes on their own, without the data path: verify's random inputs in the
    model's range, fp32 gate. A Keras 3 Conv1D + LayerNormalization + gelu to ONNX (its Erfc
    rewritten), a Keras 3 LSTM to TFLite (frozen at batch 1) and ONNX, Keras 3's `model.export()`
    SavedModel with a Normalization layer to ONNX (its mean and variance constants, not inputs)."""
    cases = [("k3_conv1d_layernorm_gelu", "onnx"), ("k3_lstm", "tflite"), ("k3_lstm", "onnx"),
             ("k3_cnn_normalization_export", "onnx")]
    for name, to in cases:
        model, _ = corpus[name]
        out = tmp_path / f"{name}_{to}"
        res = _cli("export", model, "--to", to, "--out", out)
        assert res.exit_code == 0, (name, to, res.output[-1500:])
        made = next(out.glob(f"*{SUFFIX[to]}"))
        _no_variables_left(made, f"{name} {to}")
        ver = _cli("verify", made, "--reference", model, "--min-cosine", "0.9999")
        assert ver.exit_code == 0, (name, to, ver.output[-1500:])
