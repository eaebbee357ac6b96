"""Phones: standard TFLite metadata read back by a reader edgekit did not write (tflite-support's
MetadataDisplayer, in its own venv since it pins protobuf < 4), and GPU-delegate compatibility."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests._appvenvs import app_venvs  # noqa: F401 - the session fixture
from tests.conftest import run_cli

_DISPLAY = r"""
import json, sys
from tflite_support import metadata
from tensorflow_lite_support.metadata.cc.python import _pywrap_metadata_version
out = {}
for p in sys.argv[1:]:
    d = metadata.MetadataDisplayer.with_model_file(p)
    files = d.get_packed_associated_file_list()
    out[p] = {"json": json.loads(d.get_metadata_json()), "files": files,
              "labels": d.get_associated_file_buffer("labels.txt").decode() if "labels.txt" in files else None,
              "min_version": _pywrap_metadata_version.GetMinimumMetadataParserVersion(bytes(d.get_metadata_buffer()))}
print(json.dumps(out))
"""


_CLASSIFY = r"""
import json, sys
import numpy as np
from tflite_support.task import core, processor, vision
out = {}
pixels = np.load(sys.argv[1])  # kept referenced: TensorImage does not own the array's memory
img = vision.TensorImage.create_from_array(pixels)
for p in sys.argv[2:]:
    try:
        opts = vision.ImageClassifierOptions(base_options=core.BaseOptions(file_name=p),
                                             classification_options=processor.ClassificationOptions(max_results=3))
        cats = vision.ImageClassifier.create_from_options(opts).classify(img).classifications[0].categories
        out[p] = [[c.category_name, c.score] for c in cats]
    except Exception as e:
        out[p] = str(e)
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def tflite_support_python(app_venvs) -> Path:
    """A venv with tflite-support (tests/_appvenvs.py: built once, cached across sessions).
    EDGEKIT_TFLITE_SUPPORT_PYTHON may name the python of such a venv made earlier."""
    given = os.environ.get("EDGEKIT_TFLITE_SUPPORT_PYTHON")
    return Path(given) if given else app_venvs.python("tflite-support")


def display(py: Path, *paths) -> dict:
    res = subprocess.run([str(py), "-c", _DISPLAY, *map(str, paths)], capture_output=True, text=True, timeout=300)
    # tflite-support's native module needs the system's libusb-1.0 (apt-get install libusb-1.0-0)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check(shown: dict, normalization: dict, labels: list[str], channels: int = 3):
    md = shown["json"]
    sub = md["subgraph_metadata"][0]
    inp, outp = sub["input_tensor_metadata"][0], sub["output_tensor_metadata"][0]
    assert inp["content"]["content_properties_type"] == "ImageProperties"
    norm = inp["process_units"][0]
    assert norm["options_type"] == "NormalizationOptions"
    for key in ("mean", "std"):
        np.testing.assert_allclose(norm["options"][key], np.broadcast_to(normalization[key], channels), rtol=1e-6)
    (labels_file,) = outp["associated_files"]
    assert labels_file["name"] == "labels.txt" and labels_file["type"] == "TENSOR_AXIS_LABELS"
    assert shown["files"] == ["labels.txt"] and shown["labels"].splitlines() == labels
    assert all(md.get(k) for k in ("name", "description", "version", "author", "license"))
    assert md["min_parser_version"] == shown["min_version"]  # what tflite-support itself computes


def test_standard_metadata_read_by_tflite_support(exports, trained, tflite_support_python, tmp_path):
    """The trained MobileNetV2's fp32 and int8 exports, and a user Keras 3 image classifier exported
    through the CLI with --label-file/--name/--description: the displayer finds the normalization edgekit
    recorded and a packed labels.txt of the class names, in order; LiteRT still runs the files."""
    import keras as keras3  # a user's Keras 3 model

    k3 = keras3.Sequential([keras3.Input((16, 16, 3)), keras3.layers.Conv2D(4, 3, activation="relu"),
                            keras3.layers.GlobalAveragePooling2D(), keras3.layers.Dense(10, activation="softmax")])
    k3.save(tmp_path / "user.keras")
    names = [f"digit {i}" for i in range(10)]
    (tmp_path / "labels.txt").write_text("\n".join(names) + "\n")
    res = run_cli("export", tmp_path / "user.keras", "--precision", "int8", "--data", "digits", "--out",
                  tmp_path / "out", "--label-file", tmp_path / "labels.txt", "--name", "Digit reader",
                  "--description", "Reads a handwritten digit.")
    assert res.returncode == 0, res.stderr[-1500:]
    user = tmp_path / "out" / "user_int8.tflite"
    bad = tmp_path / "three.txt"
    bad.write_text("a\nb\nc\n")
    res_bad = run_cli("export", tmp_path / "user.keras", "--out", tmp_path / "bad", "--label-file", bad)
    assert res_bad.returncode == 1 and "3 labels for a model with 10 outputs" in res_bad.stdout + res_bad.stderr

    fp32, int8 = exports[("tflite", "fp32")], exports[("tflite", "int8")]
    shown = display(tflite_support_python, fp32.path, int8.path, user)
    classes = trained.dataset.class_names
    trained_norm = trained.dataset.normalization
    for art in (fp32, int8):
        assert art.normalization == trained_norm  # the record holds what edgekit trained with
        _check(shown[art.path], trained_norm.model_dump(), classes)

    from edgekit.convert.metadata import read_metadata

    shown_user = shown[str(user)]
    assert shown_user["json"]["name"] == "Digit reader"
    assert shown_user["json"]["description"] == "Reads a handwritten digit."
    _check(shown_user, read_metadata(user)["normalization"], names)
    assert read_metadata(fp32.path)["labels"] == classes  # edgekit's own entry is kept

    # The Android Task Library's ImageClassifier (tflite-support's C++ core) on a uint8 camera-like image:
    # it must take the class names from labels.txt and normalize with the metadata's mean/std, so its
    # top score equals LiteRT's on the image normalized as edgekit trained.
    from edgekit.runtime.base import load_runner

    raw = (trained.dataset.x_test[0] * trained_norm.std + trained_norm.mean).round().clip(0, 255).astype(np.uint8)
    np.save(tmp_path / "img.npy", raw)
    res = subprocess.run([str(tflite_support_python), "-c", _CLASSIFY, str(tmp_path / "img.npy"), fp32.path,
                          int8.path], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    task = json.loads(res.stdout.strip().splitlines()[-1])
    ref = load_runner(fp32.path, "litert").run(trained_norm.apply(raw.astype(np.float32))[None])[0]
    (top_name, top_score) = task[fp32.path][0]
    assert top_name == classes[int(ref.argmax())] and abs(top_score - float(ref.max())) < 1e-3, (task, ref)
    # the Task Library takes float or uint8 input only: edgekit's full-integer export has uint8 in/out
    # by default (--io), fed the camera bytes as they are
    assert int8.input.dtype == "uint8" and task[int8.path][0][0] == top_name, task[int8.path]

    x = trained.dataset.x_test[:40]
    y32 = load_runner(fp32.path, "litert").run(x)
    y8 = load_runner(int8.path, "litert").run(x)
    assert y32.shape == y8.shape == (40, len(classes)) and np.isfinite(y8).all()
    assert (y32.argmax(1) == y8.argmax(1)).mean() >= 0.8
    assert (y32.argmax(1) == trained.dataset.y_test[:40]).mean() > 0.3  # far from chance: the file still runs right


# --- GPU delegate -------------------------------------------------------------------------------

def test_gpu_compatibility_names_the_op_and_layer_that_block_the_gpu(exports, tmp_path):
    """A sequence model with an LSTM: LiteRT 2.3.0's analyzer calls it GPU-compatible (its per-op
    check is gone); edgekit's rules name the ops, their layers and a fix, and report.json carries it."""
    from edgekit._tf import keras
    from edgekit.convert import export
    from edgekit.report import artifact_row, render_markdown
    from edgekit.runtime.gpu import analyzer_text, gpu_compatibility, parse_analyzer

    inp = keras.Input((12,), name="tokens")
    h = keras.layers.Embedding(40, 8, name="embed")(inp)
    h = keras.layers.LSTM(8, name="recurrent")(h)
    out = keras.layers.Dense(3, activation="softmax", name="head")(h)
    art = export(keras.Model(inp, out, name="seq"), to="tflite", out=tmp_path, name="seq")
    g = art.gpu
    assert g is not None and not g.compatible
    blocked = {o.op: o for o in g.unsupported_ops}
    # The LSTM is converted as a stateless WHILE loop (edgekit.convert.tflite), which has no GPU kernel.
    assert "WHILE" in blocked and "unroll=True" in blocked["WHILE"].fix
    assert ("GATHER", "embed") in {(o.op, o.layer) for o in g.unsupported_ops}  # the Embedding lookup on token ids
    assert parse_analyzer(analyzer_text(art.path))["compatible"]  # the trap this module exists for
    assert gpu_compatibility(art.path) == g

    mnv2 = exports[("tflite", "fp32")]
    assert mnv2.gpu.compatible and not mnv2.gpu.unsupported_ops
    assert exports[("tflite", "int8")].gpu.compatible and "fp16" in exports[("tflite", "int8")].gpu.notes
    row = artifact_row(art, None, None, None)
    assert row["gpu"]["compatible"] is False and row["gpu"]["unsupported_ops"][0]["layer"]
    assert "gpu" not in artifact_row(exports[("onnx", "fp32")], None, None, None)
    from edgekit.records import BenchSettings, DatasetSummary, ModelSummary, RunReport

    md = render_markdown(RunReport(model=ModelSummary(name="seq", params=1, macs=1),
                                   dataset=DatasetSummary(name="tokens", n_train=1, n_val=1, n_test=1, input_shape=[16]),
                                   bench=BenchSettings(threads=1, runs=1, warmup=0), machine={}, verify_source="-",
                                   artifacts=[row], run_dir="-"))
    assert "not compatible" in md and "WHILE" in md

    res = run_cli("bench", art.path, "--runs", "3", "--warmup", "1", "--no-roofline", "--json", tmp_path / "b.json")
    assert res.returncode == 0, res.stderr[-1500:]
    assert "GPU delegate: not compatible" in res.stdout.replace("\n", " ")
    assert json.loads((tmp_path / "b.json").read_text())["results"][0]["gpu"]["compatible"] is False


def test_batch1_export_folds_the_shape_ops_the_gpu_lacks(tmp_path):
    """A Reshape after pooling (MobileNetV1's head does this) with a dynamic batch converts to SHAPE
    and STRIDED_SLICE, which the GPU delegate has no kernel for; the --batch1 export, the fix the
    notes suggest, has none."""
    from edgekit._tf import keras
    from edgekit.convert import export

    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    h = keras.layers.Reshape((1, 1, 4), name="head_reshape")(h)
    h = keras.layers.Conv2D(3, 1, name="logits")(h)
    net = keras.Model(inp, keras.layers.Flatten(name="flat")(h), name="head")
    free = export(net, out=tmp_path, name="free")
    assert {o.op for o in free.gpu.unsupported_ops} == {"SHAPE", "STRIDED_SLICE"}, free.gpu
    assert "--batch1" in free.gpu.notes and {o.layer for o in free.gpu.unsupported_ops} == {"head_reshape"}
    fixed = export(net, out=tmp_path, name="fixed", fixed_batch=True)
    assert fixed.gpu.compatible, fixed.gpu


# --- ai-edge-quantizer variants -----------------------------------------------------------------

AIQ = ["aiq_w4_channel", "aiq_w4_block32", "aiq_w4_gptq", "aiq_a8w8", "aiq_a16w8", "aiq_mixed"]


def test_ai_edge_quantizer_variants_are_verified_timed_and_sized(digits32, tmp_path):
    from dataclasses import replace

    from edgekit._tf import keras
    from edgekit.compression import compress

    keras.utils.set_random_seed(0)
    data = replace(digits32, x_train=digits32.x_train[:600], y_train=digits32.y_train[:600])
    inp = keras.Input(data.input_shape, name="input")
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv_a")(inp)
    h = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv_b")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    h = keras.layers.Dense(64, activation="relu", name="dense_a")(h)
    out = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    net = keras.Model(inp, out, name="aiq_cnn")
    net.compile("adam", "sparse_categorical_crossentropy")
    net.fit(data.x_train, data.y_train, epochs=4, batch_size=32, verbose=0)

    rep = compress(net, data, out=tmp_path, only=AIQ, bench_runs=3, bench_warmup=1)
    base = rep.baseline
    rows = {v["name"]: v for v in rep.variants}
    assert [v["name"] for v in rep.variants] == AIQ
    for name, v in rows.items():
        assert not v.get("error"), (name, v.get("error"))
        assert v["runtime"] == "litert" and v["p50_ms"] > 0 and v["parity"]["cosine"] > 0.9, (name, v)
        assert v["drop"] <= 0.08, (name, v["drop"])
    assert rows["aiq_w4_channel"]["bytes"] <= 0.25 * base["bytes"]
    assert rows["aiq_w4_block32"]["bytes"] <= 0.25 * base["bytes"]
    assert rows["aiq_a8w8"]["bytes"] <= 0.4 * base["bytes"] and rows["aiq_a16w8"]["precision"] == "int16x8"
    # GPTQ changes the dense layers' int4 weights (Hessian-corrected), so the file differs from min-max
    w4, gptq = (Path(rows[k]["path"]).read_bytes() for k in ("aiq_w4_channel", "aiq_w4_gptq"))
    assert w4 != gptq
    mixed = rows["aiq_mixed"]
    assert mixed["ranked_layers"] and set(mixed["int8_layers"]) <= set(mixed["ranked_layers"])
    assert mixed["tries"][0]["int8_layers"] == [] and (mixed["within_budget"] or len(mixed["tries"]) > 1)
    md = rep.md_path.read_text()
    assert all(f"| {k} |" in md for k in AIQ)
