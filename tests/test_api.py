"""The Python verbs: one per CLI verb, each a function after any imports, callable again and again,
returning the record the CLI prints; compress and tune write what the CLI writes.

The heavy part runs once, in a fresh process (tests/_api_session.py): it imports every module under
edgekit/, then calls each verb twice with tiny models and the built-in digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _api_session import module_names, session

# what each verb returns (module.qualname), as the CLI prints or writes it
RETURNS = {
    "list_models": "builtins.list",
    "create_model": "tf_keras.src.engine.functional.Functional",
    "load_dataset": "edgekit.data.datasets.Dataset",
    "train": "edgekit.training.fit.TrainResult",
    "export": "edgekit.artifact.Artifact",
    "verify": "edgekit.verification.VerifyResult",
    "bench": "edgekit.records.BenchFile",
    "compare": "edgekit.benchmarking.compare.CompareResult",
    "compress": "edgekit.compression.result.CompressionResult",
    "tune": "edgekit.tuning.config.TuneResult",
    "estimate": "edgekit.benchmarking.mcu_estimate.McuEstimate",
    "targets": "builtins.list",
    "demo": "edgekit.records.RunReport",
    "check": "edgekit.records.BundleCheck",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    doc = session(tmp_path_factory)
    assert "crash" not in doc, doc["crash"]
    assert doc["returncode"] == 0, doc["stderr_tail"]
    return doc


def test_every_module_imports_then_each_verb_twice_returns_its_record(run):
    import edgekit

    assert set(edgekit.VERBS) == set(RETURNS)
    assert len(run["modules"]) > 90 and sorted(run["modules"]) == sorted(module_names())
    for verb, want in RETURNS.items():
        got = run["verbs"][verb]
        assert got["types"] == [want, want], verb
        assert got["callable"] == [True], verb
    assert run["run_is_demo"]


def test_a_missing_weight_file_names_the_python_keyword(run):
    imagenet, missing = run["weights_errors"]
    assert missing and 'weights=' in missing and "missing.h5" in missing
    assert imagenet is None or 'weights="path/to/weights.h5"' in imagenet  # None: the file is here


@pytest.mark.parametrize("order", ["packages first", "verbs first"])
def test_verbs_are_functions_whatever_was_imported(order):
    """The packages that once shared a verb's name (train, verify, bench, compress, tune) and the
    modules under them, imported before or after the verbs are looked up, in a fresh process."""
    import subprocess
    import sys

    code = f"""
import importlib, inspect, sys
import edgekit
packages = ["edgekit.training", "edgekit.verification", "edgekit.benchmarking.harness", "edgekit.compression",
            "edgekit.tuning", "edgekit.tuning.config", "edgekit.api", "edgekit.cli"]
before = [getattr(edgekit, v) for v in edgekit.VERBS] if {order == "verbs first"!r} else []
for p in packages:
    importlib.import_module(p)
api = importlib.import_module("edgekit.api")
for v in edgekit.VERBS:
    assert inspect.isfunction(getattr(edgekit, v)) and getattr(edgekit, v) is getattr(api, v), v
assert all(f is getattr(edgekit, f.__name__) for f in before)
print("ok", "tensorflow" in sys.modules)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["ok", "False"], res.stderr[-2000:]  # and no TensorFlow needed to find them


@pytest.mark.parametrize("verb", ["compress", "tune"])
def test_python_verb_writes_the_files_and_keys_the_cli_writes(run, verb):
    assert run["cli"][verb] == 0
    py, cli = run["shapes"][verb]["python"], run["shapes"][verb]["cli"]
    assert any(f.endswith(".json") for f in py)
    assert sorted(py) == sorted(cli)
    for name in py:
        assert py[name] == cli[name], name  # the JSON keys, file by file


def test_errors_are_the_cli_line(tmp_path):
    from typer.testing import CliRunner

    import edgekit
    from edgekit.cli import app

    for call, argv in ((lambda: edgekit.check(tmp_path / "nowhere"), ["check", str(tmp_path / "nowhere")]),
                       (lambda: edgekit.compare([tmp_path / "one.json"]), ["compare", str(tmp_path / "one.json")]),
                       (lambda: edgekit.estimate(tmp_path / "m.tflite", kernels="fast"),
                        ["estimate", str(tmp_path / "m.tflite"), "--kernels", "fast"])):
        with pytest.raises(edgekit.EdgekitError) as e:
            call()
        res = CliRunner().invoke(app, argv)
        assert res.exit_code == 1
        assert " ".join(str(e.value).split()) in " ".join(res.output.split())


def test_results_show_as_tables_in_a_notebook(run):
    from edgekit.compression.result import CompressionResult
    from edgekit.records import BenchFile, CompressionFile, RunReport

    work = Path(run["work"])
    report = RunReport.model_validate_json((work / "export" / "run" / "report.json").read_text())
    comp = CompressionFile.model_validate_json((work / "compress_py" / "compression.json").read_text())
    bench = BenchFile.model_validate_json((work / "b1.json").read_text())
    for result, first_cell in ((report, report.artifacts[0].name), (comp, "baseline"),
                               (bench, bench.results[0].name)):
        rows = result.rows()
        html = result._repr_html_()
        assert html.startswith("<table>") and html.count("<tr>") == len(rows) + 1 and first_cell in html
        text = str(result)
        assert len(text.splitlines()) == len(rows) + 3 and first_cell in text
        frame = result.to_dataframe()
        assert len(frame) == len(rows) and list(frame.columns) == list(rows[0])
    assert [r["variant"] for r in comp.rows()] == ["baseline", "ptq_dynamic"]
    rep = CompressionResult(baseline=comp.baseline, variants=comp.variants, json_path=work, md_path=work, out=work)
    assert rep.rows() == comp.rows() and "<table>" in rep._repr_html_()
    from edgekit.records import TuneTrial
    from edgekit.tuning.config import TuneResult

    trials = [TuneTrial.model_validate(t) for t in json.loads((work / "tune_py" / "trials.json").read_text())]
    search = TuneResult(out=work / "tune_py", trials=trials, pareto=trials[:1], best=trials[0], bundle=None)
    assert [r["trial"] for r in search.rows()] == [t.id for t in trials] and search.rows()[0]["pareto"]
    assert len(search.to_dataframe()) == len(trials) and trials[0].id in search._repr_html_()
    # a repr a person can read: no hundred raw timings
    assert len(repr(report)) < 400 and len(repr(bench)) < 3000 and "items]" in repr(bench)


def test_no_tensorflow_log_noise(run):
    noise = [line for line in run["stderr"].splitlines()
             if any(k in line for k in ("I0000", "oneDNN", "cuda", "absl::InitializeLog"))]
    assert not noise, noise
