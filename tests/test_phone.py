"""Phones: standard TFLite metadata read back by a reader edgekit did not write (tflite-support's
MetadataDisplayer, in its own venv since it pins protobuf < 4), and GPU-delegate compatibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

TFLITE_SUPPORT = "tflite-support==0.4.4"

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


@pytest.fixture(scope="session")
def tflite_support_python(tmp_path_factory) -> Path:
    """A venv with tflite-support (once per session: the slow part of these tests).
    EDGEKIT_TFLITE_SUPPORT_PYTHON may name the python of such a venv made earlier."""
    given = os.environ.get("EDGEKIT_TFLITE_SUPPORT_PYTHON")
    if given:
        return Path(given)
    env_dir = tmp_path_factory.mktemp("tflite_support_venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", TFLITE_SUPPORT],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return py


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

    from edgekit.runtime.base import load_runner

    x = trained.dataset.x_test[:40]
    y32 = load_runner(fp32.path, "litert").run(x)
    y8 = load_runner(int8.path, "litert").run(x)
    assert y32.shape == y8.shape == (40, len(classes)) and np.isfinite(y8).all()
    assert (y32.argmax(1) == y8.argmax(1)).mean() >= 0.8
    assert (y32.argmax(1) == trained.dataset.y_test[:40]).mean() > 0.3  # far from chance: the file still runs right
