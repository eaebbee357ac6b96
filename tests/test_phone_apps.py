"""Phones, proven in the libraries apps use: MediaPipe Tasks and the Android Task Library
(tflite-support) run edgekit's files in their own venvs (they pin other protobuf/numpy stacks than
TensorFlow's), fed what an app feeds them: camera bytes and raw strings.

The venvs are built once per requirement and cached (``~/.cache/edgekit/appvenvs/<hash>``), in the
background while the models train; ``EDGEKIT_APPVENVS`` moves the cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests._appvenvs import app_venvs  # noqa: F401 - the session fixture
from tests.conftest import run_cli

# --- what the apps run (one script per library task; each prints one JSON line) ----------------

_MP_IMAGE = r"""
import json, sys
import numpy as np
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core import base_options
images, out = np.load(sys.argv[1]), {}
for p in sys.argv[2:]:
    try:
        opts = vision.ImageClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=p), max_results=1)
        with vision.ImageClassifier.create_from_options(opts) as clf:
            out[p] = [[c.index, c.category_name, c.score] for c in (
                clf.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(im)))
                .classifications[0].categories[0] for im in images)]
    except Exception as e:
        out[p] = str(e)
print(json.dumps(out))
"""

_TASKLIB_IMAGE = r"""
import json, sys
import numpy as np
from tflite_support.task import core, processor, vision
images, out = np.load(sys.argv[1]), {}
for p in sys.argv[2:]:
    try:
        opts = vision.ImageClassifierOptions(base_options=core.BaseOptions(file_name=p),
                                             classification_options=processor.ClassificationOptions(max_results=1))
        clf = vision.ImageClassifier.create_from_options(opts)
        rows = []
        for im in images:
            pixels = np.ascontiguousarray(im)  # kept referenced: TensorImage does not own the memory
            c = clf.classify(vision.TensorImage.create_from_array(pixels)).classifications[0].categories[0]
            rows.append([c.index, c.category_name, c.score])
        out[p] = rows
    except Exception as e:
        out[p] = str(e)
print(json.dumps(out))
"""

_MP_TEXT = r"""
import json, sys
from mediapipe.tasks.python import text
from mediapipe.tasks.python.core import base_options
texts = json.load(open(sys.argv[1]))
opts = text.TextClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=sys.argv[2]), max_results=1)
with text.TextClassifier.create_from_options(opts) as clf:
    cats = [clf.classify(t).classifications[0].categories[0] for t in texts]
print(json.dumps([[c.index, c.category_name, c.score] for c in cats]))
"""

_TASKLIB_TEXT = r"""
import json, sys
from tflite_support.task import text
texts = json.load(open(sys.argv[1]))
clf = text.NLClassifier.create_from_file(sys.argv[2])
print(json.dumps([max(clf.classify(t).classifications[0].categories, key=lambda c: c.score).category_name
                  for t in texts]))
"""

_MP_EMBED = r"""
import json, sys
import numpy as np
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core import base_options
images = np.load(sys.argv[1])
opts = vision.ImageEmbedderOptions(base_options=base_options.BaseOptions(model_asset_path=sys.argv[2]))
with vision.ImageEmbedder.create_from_options(opts) as emb:
    print(json.dumps([emb.embed(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(im)))
                      .embeddings[0].embedding.tolist() for im in images]))
"""

_TASKLIB_EMBED = r"""
import json, sys
import numpy as np
from tflite_support.task import core, vision
images = np.load(sys.argv[1])
emb = vision.ImageEmbedder.create_from_options(
    vision.ImageEmbedderOptions(base_options=core.BaseOptions(file_name=sys.argv[2])))
rows = []
for im in images:
    pixels = np.ascontiguousarray(im)
    rows.append(list(emb.embed(vision.TensorImage.create_from_array(pixels)).embeddings[0].feature_vector.value))
print(json.dumps(rows))
"""


def _litert(path, x) -> np.ndarray:
    """LiteRT fed exactly ``x`` (no quantization step of edgekit's): what the library's interpreter gets."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for s in x:
        it.set_tensor(i["index"], s[None].astype(i["dtype"]))
        it.invoke()
        out.append(it.get_tensor(o["index"])[0].astype(np.float32))
    return np.stack(out)


# --- images ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_model(app_venvs, digits32, tmp_path_factory):
    """The demo's flow at a small size: a CNN trained on digits, its fp32 file and its int8 files
    (the default uint8 I/O through the CLI, and --io int8), and the test split as camera bytes."""
    from edgekit.convert import export
    from edgekit.training import train

    out = tmp_path_factory.mktemp("phone_apps")
    res = train("cnn", digits32, out=out / "run", epochs=3, patience=3, tensorboard=False)
    # the CLI (a TensorFlow import of its own) runs beside the in-process exports
    cli = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "export", str(res.model_path), "--to", "tflite",
                            "--precision", "int8", "--io", "uint8", "--data", "digits", "--out", str(out / "u8")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    files = {"fp32": export(res.model_path, to="tflite", precision="fp32", data=digits32, out=out / "f32"),
             "uint8": export(res.model_path, to="tflite", precision="int8", data=digits32, out=out / "default"),
             "int8": export(res.model_path, to="tflite", precision="int8", data=digits32, out=out / "i8", io="int8")}
    cli_out, cli_err = cli.communicate(timeout=600)
    assert cli.returncode == 0, cli_err[-1500:]
    n = digits32.normalization
    raw = (digits32.x_test * n.std + n.mean).round().clip(0, 255).astype(np.uint8)
    np.save(out / "camera.npy", raw)
    return res, files, out / "u8" / "model_int8.tflite", " ".join(cli_out.split()), raw, out / "camera.npy"


def test_uint8_io_export_is_what_phone_image_classifiers_take(image_model, app_venvs, digits32):
    """MediaPipe's and the Task Library's ImageClassifier classify the test split's camera bytes with
    the fp32 file and the (default) uint8-I/O int8 file, labels from the file's metadata: top-1 equal
    to LiteRT's on every image (fp32) / >= 99% (uint8); the int8-I/O file is refused by both."""
    _, files, _, _, raw, camera = image_model
    fp32, u8, i8 = (files[k].path for k in ("fp32", "uint8", "int8"))
    assert files["uint8"].input.dtype == files["uint8"].output.dtype == "uint8"
    ref = {fp32: _litert(fp32, digits32.normalization.apply(raw.astype(np.float32))).argmax(1),
           u8: _litert(u8, raw).argmax(1)}  # uint8 input: the bytes themselves, as the libraries feed it
    classes = digits32.class_names
    for lib, script in (("mediapipe", _MP_IMAGE), ("tflite-support", _TASKLIB_IMAGE)):
        got = app_venvs.run(lib, script, camera, fp32, u8, i8)
        assert "got INT8" in got[i8], (lib, got[i8])
        for path, need in ((fp32, 1.0), (u8, 0.99)):
            rows = got[path]
            assert isinstance(rows, list), (lib, rows)
            top = np.array([r[0] for r in rows])
            assert [r[1] for r in rows] == [classes[k] for k in top]  # the names come from labels.txt
            agree = float((top == ref[path]).mean())
            print(f"{lib} {Path(path).parent.name}: top-1 = LiteRT's on {agree:.4f} of {len(top)}")
            assert agree >= need, (lib, path, agree)
        # and the classes are right, not merely consistent
        assert np.mean(np.array([r[0] for r in got[u8]]) == digits32.y_test) > 0.8


def test_uint8_export_records_the_raw_pixel_grid_and_passes_the_int8_gates(image_model, digits32):
    """`edgekit export --precision int8 --io uint8`: uint8 in and out, the input quantized so raw
    pixels are its values (scale 1/std, zero point ~ mean, what the metadata's normalization says),
    verify against Keras passing the same gates as the int8-I/O file; the MCU bundle takes it."""
    from edgekit.convert.mcu import build_mcu_bundle
    from edgekit.runtime.base import load_runner
    from edgekit.verification import verify

    res, files, cli_file, cli_out, _, _ = image_model
    n = digits32.normalization
    spec = load_runner(cli_file).input_spec
    assert spec.dtype == "uint8" and load_runner(cli_file).output_spec.dtype == "uint8"
    assert spec.scale == pytest.approx(1 / n.std) and abs(spec.zero_point - n.mean) <= 0.5
    assert f"uint8 input scale {spec.scale:.6g} zero point {spec.zero_point}" in cli_out
    assert "MediaPipe ImageClassifier" in cli_out
    assert files["uint8"].input == spec and files["int8"].input.dtype == "int8"
    assert "refuse int8 image input" in files["int8"].extra["tflite_metadata"]["app"]
    gates = dict(min_cosine=0.99, min_top1_agreement=0.97, max_accuracy_drop=0.03)
    results = {k: verify(p, res.model_path, data=digits32).record(**gates).model_dump()
               for k, p in (("uint8", cli_file), ("int8", files["int8"].path))}
    for k, doc in results.items():
        print(k, {g: round(v["value"], 5) for g, v in doc["gates"].items()})
        assert all(g["passed"] for g in doc["gates"].values()), (k, doc["gates"])
    mcu = build_mcu_bundle(cli_file, cli_file.parent / "mcu", digits32.x_test[:20])
    assert mcu.tflm_agreement == 1.0 and "QUANTIZE" in mcu.ops

    bad = run_cli("export", res.model_path, "--precision", "fp32", "--io", "uint8", "--out", cli_file.parent / "x")
    assert bad.returncode == 1 and "--io applies to full-integer exports" in bad.stdout + bad.stderr
    assert not (cli_file.parent / "x").exists() or not any((cli_file.parent / "x").iterdir())


# --- text and embeddings -----------------------------------------------------------------------

def test_text_classifier_takes_raw_strings_in_mediapipe(app_venvs, tmp_path):
    """An LSTM (unrolled: the rolled one's TFLite file disagrees with Keras here, see the report)
    trained by edgekit on a text folder: MediaPipe's TextClassifier, given the test
    split's raw strings (and shouted copies), returns edgekit's own top-1 on every one, through the
    RegexTokenizer and vocabulary in the file's metadata; the Task Library's NLClassifier too."""
    from edgekit.artifact import Normalization
    from edgekit.convert import export
    from edgekit.data.datasets import _split
    from edgekit.data.text import Tokenizer
    from edgekit.training import train

    from tests.test_data_text import chase_texts

    texts, labels = chase_texts(400)
    root = tmp_path / "chase"
    for i, (t, lab) in enumerate(zip(texts, labels)):
        (root / lab).mkdir(parents=True, exist_ok=True)
        (root / lab / f"{i:04d}.txt").write_text(t + "\n")
    res = train("lstm", str(root), out=tmp_path / "run", tensorboard=False, epochs=10, patience=4,
                params={"input_shape": (12,), "embed_dim": 16, "units": (16,), "unroll": True})
    art = export(res.model_path, to="tflite", precision="fp32", out=tmp_path / "exp")
    md = art.extra["tflite_metadata"]
    assert md["tokenizer"] and "tokenizer_vocab.txt" in md["packed_files"] and "TextClassifier" in md["app"]

    # the test split's raw strings: the folder read in edgekit's order and split as load_dataset does
    ordered = [(lab, t) for lab in sorted(set(labels)) for t, l2 in zip(texts, labels) if l2 == lab]
    y = np.array([sorted(set(labels)).index(lab) for lab, _ in ordered])
    split = _split("chase", np.array([t + "\n" for _, t in ordered], dtype=object), y, sorted(set(labels)),
                   Normalization(), 0, 0.1, 0.2)
    tok = Tokenizer(**res.dataset.preprocessing["tokenizer"])
    assert np.array_equal(tok.encode(list(split.x_test)), res.dataset.x_test)  # it is edgekit's test split
    strings = list(split.x_test) + [t.upper() for t in split.x_test[:20]] + ["THE Dog chased the CAT!!"]
    ours = res.model.predict(tok.encode(strings), verbose=0)  # edgekit's pipeline: its tokenizer, the model
    (tmp_path / "texts.json").write_text(json.dumps(strings))
    got = app_venvs.run("mediapipe", _MP_TEXT, tmp_path / "texts.json", art.path)
    top = np.array([r[0] for r in got])
    print(f"MediaPipe TextClassifier: top-1 = edgekit's on {np.mean(top == ours.argmax(1)):.4f} of {len(top)}")
    assert np.array_equal(top, ours.argmax(1))
    assert np.abs(np.array([r[2] for r in got]) - ours.max(1)).max() < 1e-4
    names = app_venvs.run("tflite-support", _TASKLIB_TEXT, tmp_path / "texts.json", art.path)
    assert names == [res.dataset.class_names[k] for k in ours.argmax(1)]


def test_image_embedder_returns_edgekit_embedding_and_other_inputs_say_what_the_app_does(image_model, app_venvs,
                                                                                         digits32, tmp_path):
    """A siamese tower's export: both libraries' ImageEmbedder, fed camera bytes, return LiteRT's
    embedding; audio and table models say in one line what the app does instead."""
    from edgekit.artifact import Artifact
    from edgekit.convert import export
    from edgekit.convert.tflite_metadata import app_task
    from edgekit.models import create_model

    tower = create_model("siamese", input_shape=(32, 32, 3), filters=(8, 16), embedding_dim=8, hidden_units=(16,))
    art = export(tower, to="tflite", precision="fp32", data=digits32, out=tmp_path, name="tower")
    assert "ImageEmbedder" in art.extra["tflite_metadata"]["app"]
    raw, camera = image_model[4][:30], tmp_path / "camera.npy"
    np.save(camera, raw)
    ref = _litert(art.path, digits32.normalization.apply(raw.astype(np.float32)))
    for lib, script in (("mediapipe", _MP_EMBED), ("tflite-support", _TASKLIB_EMBED)):
        got = np.array(app_venvs.run(lib, script, camera, art.path))
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-5, lib

    generic = Artifact.model_validate({**art.model_dump(), "labels": None})
    assert "AudioClassifier cannot run it" in app_task(generic, {"kind": "audio"})
    assert "no app library takes table rows" in app_task(generic, {"kind": "table"})
