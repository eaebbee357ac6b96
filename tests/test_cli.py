"""The CLI from a subprocess: bad input gives one short line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import time

import pytest


def _one_line_error(res):
    assert res.returncode != 0, res.stdout
    text = res.stderr.strip()
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text  # exactly one non-empty line (stderr is never wrapped: soft_wrap)
    return text


def test_help_is_fast_and_lists_commands(cli):
    t0 = time.perf_counter()
    res = cli("--help")
    assert res.returncode == 0 and time.perf_counter() - t0 < 5
    for verb in ("models", "train", "export", "verify", "bench", "demo"):
        assert verb in res.stdout
    assert cli("bench", "--help").returncode == 0


def test_models_lists_registry_with_macs(cli):
    res = cli("models", "mobilenet_v2")
    assert res.returncode == 0, res.stderr
    assert "mobilenet_v2" in res.stdout and "3,538,984" in res.stdout and "300.8 M" in res.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "notes.txt").write_text("hello")
    (d / "empty.tflite").write_bytes(b"")
    (d / "garbage.tflite").write_bytes(b"\x00" * 64)
    (d / "garbage.onnx").write_bytes(b"this is not onnx" * 10)
    (d / "folder.tflite").mkdir()
    (d / "fake.keras").write_bytes(b"PK-but-not-really")
    (d / "fake.h5").write_bytes(b"not hdf5 at all")
    return d


def test_bad_inputs_are_one_line_errors(cli, files, exports, trained, tmp_path):
    fp32 = exports[("tflite", "fp32")].path
    blob = open(fp32, "rb").read()
    (files / "truncated.tflite").write_bytes(blob[: len(blob) // 3])
    onnx_blob = open(exports[("onnx", "fp32")].path, "rb").read()
    (files / "truncated.onnx").write_bytes(onnx_blob[: len(onnx_blob) // 2])
    out = tmp_path / "out"
    cases = [
        ("bench", files / "missing.tflite"),
        ("bench", files / "folder.tflite"),
        ("bench", files / "notes.txt"),
        ("bench", files / "empty.tflite"),
        ("bench", files / "garbage.tflite"),
        ("bench", files / "garbage.onnx"),
        ("bench", files / "truncated.tflite"),
        ("bench", files / "truncated.onnx"),
        ("bench", fp32, "--runtime", "tensorrt"),
        ("bench", fp32, "--threads", "0"),
        ("bench", fp32, "--runs", "-5"),
        ("export", files / "fake.keras", "--out", out),
        ("export", files / "fake.h5", "--out", out),
        ("export", files / "notes.txt", "--out", out),
        ("export", files, "--out", out),
        ("export", fp32, "--out", out),
        ("export", trained.model_path, "--to", "coreml", "--out", out),
        ("export", trained.model_path, "--precision", "int4", "--out", out),
        ("export", trained.model_path, "--precision", "int8", "--data", "nosuchdata", "--out", out),
        ("verify", files / "garbage.tflite", "--reference", trained.model_path),
        ("verify", fp32, "--reference", files / "fake.keras"),
        ("train", "mobilenet_v9", "--data", "digits", "--out", out),
        ("train", "mobilenet_v2", "--data", "imagenet", "--out", out),
        ("train", "mobilenet_v2", "--data", "digits", "--epochs", "0", "--out", out),
        ("train", "mobilenet_v2", "--data", "digits", "--param", "beta=2", "--out", out),
    ]
    for args in cases:
        text = _one_line_error(cli(*args))
        assert text.startswith("error:"), (args, text)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), list(out.rglob("*"))


def test_a_wrong_model_path_name_or_data_source_is_refused_before_tensorflow_starts(files, tmp_path):
    """`export`, `verify` and `train` check a model path (suffix, zip archive, HDF5 signature) and a
    data source's name, and `train`, `demo` and `tune` a zoo model's name and knobs, before they import TensorFlow: a wrong one is refused in well under a
    second, not after its start-up."""
    import subprocess
    import sys
    import zipfile

    from _tiny_int8 import digits_models

    _, fp32 = digits_models()
    archive = tmp_path / "archive.keras"  # passes the path checks: the data source is what fails
    zipfile.ZipFile(archive, "w").close()
    out = ["--out", tmp_path / "out"]
    cases = [["export", files / "fake.keras", *out], ["export", files / "fake.h5", *out],
             ["export", files / "notes.txt", *out], ["export", files, *out], ["export", fp32, *out],
             ["export", files / "fake.keras", "--to", "mcu", *out], ["verify", fp32, "--reference", files / "fake.h5"],
             ["export", archive, "--precision", "int8", "--data", "nosuchdata", *out],
             ["train", "mobilenet_v2", "--data", "imagenet", *out],
             ["train", "mobilenet_v9", "--data", "digits", *out],  # names and knobs: from catalog.json
             ["train", "cnn", "--data", "digits", "--param", "beta=2", *out],
             ["demo", "--model", "resnet", *out], ["tune", "mobilenet_v9", *out]]
    code = ("import sys\nfrom edgekit.cli import main\n"
            f"for argv in {[[str(a) for a in c] for c in cases]!r}:\n"
            "    sys.argv = ['edgekit', *argv]\n"
            "    try:\n        main()\n    except SystemExit as e:\n        print('exit', e.code)\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.stdout.splitlines() == ["exit 1"] * len(cases) + ["tensorflow imported: False"], res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(errors) == len(cases) and all(ln.startswith("error: ") for ln in errors), res.stderr
    assert "fake.h5 is not a valid HDF5 file" in errors[6]  # verify's reference, not its artifact
    assert "unknown dataset 'nosuchdata'" in errors[7] and "unknown dataset 'imagenet'" in errors[8]
    assert "unknown model 'mobilenet_v9'. Did you mean mobilenet_v2" in errors[9]
    assert "model 'cnn' has no knob 'beta'; its knobs are: filters," in errors[10]
    assert "unknown model 'resnet'" in errors[11] and "unknown model 'mobilenet_v9'" in errors[12]


def test_export_verify_bench_from_the_command_line(cli, trained, tmp_path):
    res = cli("export", trained.model_path, "--to", "tflite", "--precision", "int8", "--data", "digits",
              "--out", tmp_path)
    assert res.returncode == 0, res.stderr
    art = tmp_path / "model_int8.tflite"
    assert art.is_file() and "zero point" in res.stdout
    res = cli("verify", art, "--reference", trained.model_path, "--data", "digits")
    assert res.returncode == 0 and "top-1 agreement" in res.stdout, res.stderr
    res = cli("bench", art, "--runs", "20", "--warmup", "2", "--json", tmp_path / "b.json")
    assert res.returncode == 0, res.stderr
    b = json.loads((tmp_path / "b.json").read_text())
    from conftest import check_record_file
    from edgekit.records import BenchFile

    check_record_file(tmp_path / "b.json", BenchFile)  # the bench JSON is BenchFile's model_dump()
    assert b["machine"]["cores"] >= 1
    r = b["results"][0]
    assert {"artifact", "format", "precision", "runtime", "threads", "runs", "latency_ms"} <= set(r)
    assert {"init", "first", "mean", "p50", "p90", "p99", "std"} <= set(r["latency_ms"])
    assert r["precision"] == "int8" and r["runs"] == 20


@pytest.mark.parametrize("module, runtime, suffix", [("onnxruntime", "onnxruntime", ".onnx"),
                                                     ("ai_edge_litert", "litert", ".tflite")])
def test_a_missing_runtime_package_is_one_line_naming_it(tmp_path, module, runtime, suffix):
    """A lost dependency (partial install) names the pip package and the fix instead of a traceback."""
    import subprocess
    import sys

    from onnx import TensorProto, helper

    model = tmp_path / f"relu{suffix}"
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["y"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model.write_bytes(helper.make_model(graph).SerializeToString())  # a .tflite never gets parsed here
    # `sys.modules[name] = None` makes `import name` raise ImportError, as an uninstalled package does.
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['edgekit', 'bench', {str(model)!r}, "
            f"'--runtime', {runtime!r}, '--runs', '2']; from edgekit.cli import main; main()")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    text = _one_line_error(res)
    assert text.startswith("error:") and runtime.replace("litert", "ai-edge-litert") in text and "pip install" in text


def test_compress_exits_3_when_a_requested_variant_fails_and_0_when_all_pass(cli, tmp_path):
    """Real failures from real input, no mocks: k-means with more clusters (100) than the hidden
    layer has weights (60) fails; channel pruning of a model with no Conv2D is "not applicable"."""
    from edgekit._tf import keras
    from edgekit.data import load_dataset

    data = load_dataset("digits", input_shape=(8, 8, 1), seed=0)
    keras.utils.set_random_seed(0)
    inp = keras.Input(data.input_shape, name="input")
    h = keras.layers.Dense(6, activation="relu", name="hidden")(keras.layers.Flatten(name="flat")(inp))
    mlp = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="predictions")(h))
    mlp.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(data.x_train, data.y_train, epochs=2, verbose=0)
    mlp.save(tmp_path / "mlp.keras")
    cfg = tmp_path / "c.toml"
    cfg.write_text("clusters = 100\ncluster_epochs = 1\nbench_runs = 3\nbench_warmup = 0\n")

    from edgekit.compression import compress

    # in-process (the same report the CLI exits on): ok + not applicable -> 0
    rep = compress(mlp, data, out=tmp_path / "ok", only=["ptq_dynamic", "channel"], bench_runs=3, bench_warmup=0)
    assert {v["name"]: v["status"] for v in rep.variants} == {"ptq_dynamic": "ok", "channel": "not applicable"}
    assert rep.exit_code == 0

    res = cli("compress", tmp_path / "mlp.keras", "--data", "digits", "--only", "channel,cluster", "--config", cfg,
              "--out", tmp_path / "bad")
    assert res.returncode == 3, res.stderr[-2000:]
    assert "Traceback" not in res.stderr + res.stdout and "1 of 2 variants did not pass: cluster (failed)" in res.stderr
    assert "not applicable" in res.stdout
    doc = json.loads((tmp_path / "bad" / "compression.json").read_text())
    cluster = next(v for v in doc["variants"] if v["name"] == "cluster")
    assert cluster["status"] == "failed" and "100 vs 60" in cluster["error"]
    assert "failed: cannot wrap" in (tmp_path / "bad" / "compression.md").read_text()
    assert not (tmp_path / "bad" / "edgekit-error.log").exists()  # a failure from input is not a bug


def test_help_documents_the_exit_codes(cli):
    res = cli("--help")
    text = " ".join(res.stdout.split())
    for code in ("0", "1", "2", "3", "70"):
        assert f"{code} " in text
    assert "Exit codes" in text and "step failed" in text


def test_bench_works_where_tensorflow_is_not_installed(tmp_path):
    """tensorflow, tf_keras and keras made unimportable (a meta-path finder installed by a
    sitecustomize on PYTHONPATH, as if they were not installed); `edgekit bench` still works."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from _tiny_int8 import digits_models

    int8, _ = digits_models()
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NotInstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NotInstalled())\n")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(block), str(root)]))
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'tensorflow'" in probe.stderr  # the blocker works
    res = subprocess.run([sys.executable, "-m", "edgekit.cli", "bench", str(int8), "--runs", "20", "--warmup", "2",
                          "--json", str(tmp_path / "b.json")], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    row = json.loads((tmp_path / "b.json").read_text())["results"][0]
    assert row["runtime"] == "litert" and row["precision"] == "int8" and len(row["latency_ms"]["raw"]) == 20
    assert row["memory_mb"]["peak_delta"] is not None  # the memory child ran under the same blocker


def test_a_step_error_is_classified_and_a_bug_keeps_its_traceback_in_the_output_folder(tmp_path):
    from edgekit.errors import EdgekitError, NotApplicable, failure_exit_code, step_error

    try:
        {}["missing"]  # a real bug-like exception, raised and caught as a step would
    except KeyError as e:
        status, line = step_error(e, tmp_path, "variant x")
    assert status == "internal error" and "\n" not in line and "KeyError" in line and "traceback in" in line
    log = (tmp_path / "edgekit-error.log").read_text()
    assert "--- variant x" in log and "Traceback (most recent call last)" in log
    assert step_error(NotApplicable("no conv"), tmp_path, "channel") == ("not applicable", "no conv")
    assert step_error(EdgekitError("bad input"), tmp_path, "ptq") == ("failed", "bad input")
    assert failure_exit_code(["ok", "not applicable"]) == 0
    assert failure_exit_code(["ok", "failed"]) == 3
    assert failure_exit_code(["failed", "internal error"]) == 70


def test_export_help_lists_every_format_and_precision_of_the_table(cli):
    """`--to` and `--precision` help are generated from edgekit.formats.FORMATS."""
    from edgekit.formats import FORMATS

    res = cli("export", "--help", env={"COLUMNS": "400"})
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    for f in FORMATS.values():
        assert f"{f.name}: {f.description}" in text, f.name
        assert f"{f.name}: {' | '.join(f.precisions)}" in text, f.name
