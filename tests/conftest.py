"""Shared fixtures: one small MobileNetV2 trained briefly on digits, and its exports.

Everything here is real: real data (scikit-learn's digits), real training, real converters
and runtimes. Models are small (alpha 0.35, 32x32) so the suite fits CI on 2 cores.

The suite runs on pytest-xdist workers (``-n 2``): the trained model and its exports are made once
per test run and shared by the workers through ``tests/_shared.py`` (use :func:`_shared.shared`
for any new artifact that several test files need), and each worker's TensorFlow / OpenMP pools are
pinned to its share of the cores so two workers do not oversubscribe them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _shared import shared

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _worker_environment() -> None:
    """Each xdist worker gets its share of the cores for TensorFlow's and OpenMP's pools (read by
    edgekit._tf and by the runtimes at import; subprocesses inherit them). Set before anything imports
    TensorFlow; a value the caller gave wins."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if count:
        # An xdist worker has COLUMNS=80 in its environment (a plain pytest process has none): the
        # commands the tests run would then cut their tables at 80 columns instead of fitting them.
        for var in ("COLUMNS", "LINES"):
            os.environ.pop(var, None)
        share = str(max(1, (os.cpu_count() or 1) // count))
        for var in ("EDGEKIT_TF_THREADS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ.setdefault(var, share)


_worker_environment()

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]


@pytest.fixture(scope="session")
def digits32():
    from edgekit.data import load_dataset

    return load_dataset("digits", input_shape=(32, 32, 3), seed=0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, digits32):
    """MobileNetV2 0.35 trained 4 epochs: enough to be far from chance, quick to make. Trained once per
    test run; every worker gets a TrainResult of the same files (the model loaded from model.keras)."""
    from edgekit.artifact import ModelCard
    from edgekit.models.load import load_model
    from edgekit.training import train
    from edgekit.training.fit import TrainResult

    def build(out):
        r = train("mobilenet_v2", digits32, params={"alpha": 0.35}, out=out, epochs=4, patience=4, tensorboard=True)
        np.save(out / "test_outputs.npy", r.test_outputs)  # what training scored, as the run reuses it
        return {"metrics": r.metrics, "history": r.history, "seconds": r.seconds}

    out, made = shared(tmp_path_factory, "trained", build)
    path = out / "model.keras"
    return TrainResult(model_path=path, model=load_model(path).model,
                       card=ModelCard.model_validate_json(ModelCard.path_for(path).read_text()), dataset=digits32,
                       metrics=made["metrics"], history=made["history"], seconds=made["seconds"],
                       test_outputs=np.load(out / "test_outputs.npy"))


@pytest.fixture(scope="session")
def exports(tmp_path_factory, trained):
    """The trained model as fp32 and int8 .tflite and fp32 .onnx, converted once per test run."""
    from edgekit.artifact import Artifact
    from edgekit.convert import export

    def build(out):
        return [[fmt, prec, export(trained.model_path, to=fmt, precision=prec, data=trained.dataset,
                                   out=out).model_dump(mode="json")]
                for fmt, prec in (("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32"))]

    _, rows = shared(tmp_path_factory, "exports", build)
    return {(fmt, prec): Artifact.model_validate(art) for fmt, prec, art in rows}


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
def demo_run(tmp_path_factory):
    """``edgekit demo`` as a new user runs it (no flags, in an empty folder), once per test run:
    ``(cwd, result)`` with the bundle under ``cwd/export/`` and ``result`` the command's returncode,
    stdout and stderr. test_demo.py checks it against the spine targets, test_report_html.py renders
    its report. Shared: copy a file before changing it."""

    def build(cwd):
        res = run_cli("demo", cwd=cwd, timeout=900)
        return {"returncode": res.returncode, "stdout": res.stdout, "stderr": res.stderr}

    return shared(tmp_path_factory, "demo", build)


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


# Seconds each slow file took under `-n 2` (EDGEKIT_TEST_TIMELINE below, summed per file), roughly.
# xdist (--dist loadfile --no-loadscope-reorder) hands files to the two workers in collection order, so
# the slowest go first: else a worker is left alone with a long file at the end while the other idles. A file not
# listed keeps its place after these; list a new file here when it takes more than ~20 s.
SLOW_FILES = {
    "test_zoo_export.py": 200, "test_compress.py": 165, "test_user_models.py": 130, "test_zoo_claims.py": 110,
    "test_tune.py": 100, "test_reliability.py": 90, "test_zoo_builders.py": 90, "test_demo.py": 80,
    "test_cli.py": 70, "test_api.py": 58, "test_tasks_pipeline.py": 41, "test_spine.py": 37,
    "test_pretrained.py": 36, "test_mcu.py": 28, "test_phone_apps.py": 27, "test_phone.py": 25,
    "test_verify_gate.py": 24, "test_data_audio.py": 22, "test_harness.py": 21,
}


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -SLOW_FILES.get(item.path.name, 0))  # stable: each file's own order stays


# EDGEKIT_TEST_TIMELINE=FILE: each worker appends "worker start end phase nodeid" per test phase (the
# start and stop pytest records on each report), to see how busy each worker was and where one waited on a
# fixture the other builds (a lock wait counts as the waiting test's setup). benchmarks/test_block.py reads it.
_TIMELINE = os.environ.get("EDGEKIT_TEST_TIMELINE")


if _TIMELINE:

    def pytest_runtest_logreport(report):
        if getattr(report, "node", None) is not None:  # xdist's controller, echoing a worker's report
            return
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(_TIMELINE, "a") as f:
            f.write(f"{worker} {report.start:.2f} {report.stop:.2f} {report.when} {report.nodeid}\n")
