"""Shared fixtures: one small MobileNetV2 trained briefly on digits, and its exports.

Everything here is real: real data (scikit-learn's digits), real training, real converters
and runtimes. Models are small (alpha 0.35, 32x32) so the suite fits CI on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]


@pytest.fixture(scope="session")
def digits32():
    from edgekit.data import load_dataset

    return load_dataset("digits", input_shape=(32, 32, 3), seed=0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, digits32):
    """MobileNetV2 0.35 trained 4 epochs: enough to be far from chance, quick to make."""
    from edgekit.training import train

    out = tmp_path_factory.mktemp("trained")
    return train("mobilenet_v2", digits32, params={"alpha": 0.35}, out=out, epochs=4, patience=4, tensorboard=True)


@pytest.fixture(scope="session")
def exports(tmp_path_factory, trained):
    from edgekit.convert import export

    out = tmp_path_factory.mktemp("exports")
    arts = {}
    for fmt, prec in (("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")):
        arts[(fmt, prec)] = export(trained.model_path, to=fmt, precision=prec, data=trained.dataset, out=out)
    return arts


def run_cli(*args, cwd=None, timeout=600, env=None):
    """Run `edgekit ARGS` in a subprocess; returns CompletedProcess with text output."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(EDGEKIT + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=e)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def check_record_file(path, record) -> object:
    """``path`` (a result file) validates against its record type (``edgekit.records``) and dumps back to
    exactly what it holds: same keys, same values. ``record`` is a Record class, or ``[Record]`` for a list."""
    import json

    from pydantic import TypeAdapter

    doc = json.loads(Path(path).read_text())
    adapter = TypeAdapter(list[record[0]] if isinstance(record, list) else record)
    value = adapter.validate_python(doc)
    assert json.loads(adapter.dump_json(value, exclude_unset=True)) == doc, f"{path} does not round-trip"
    return value


@pytest.fixture
def record_file():
    return check_record_file
