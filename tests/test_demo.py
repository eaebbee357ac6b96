"""`edgekit demo` end to end, as a new user runs it: no flags, no network, bundle under ./export."""

from __future__ import annotations

import json
import shutil

import pytest


def test_demo_meets_the_spine_targets(cli, demo_run, tmp_path):
    cwd, res = demo_run  # `edgekit demo` in an empty folder (conftest.py; test_report_html renders the same run)
    assert res["returncode"] == 0, res["stderr"][-2000:]
    assert "bundle: export/mobilenet_v2-" in res["stdout"]
    runs = list((cwd / "export").iterdir())
    assert len(runs) == 1
    run = runs[0]
    report = json.loads((run / "report.json").read_text())
    from conftest import check_record_file
    from edgekit.records import RunReport

    check_record_file(run / "report.json", RunReport)
    assert (run / "report.md").read_text().count("| `model") == 4
    arts = {(a["format"], a["precision"]): a for a in report["artifacts"]}
    assert set(arts) == {("keras", "fp32"), ("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")}
    keras_acc = arts[("keras", "fp32")]["accuracy"]
    assert keras_acc >= 0.95, keras_acc
    assert abs(arts[("tflite", "int8")]["accuracy"] - keras_acc) <= 0.01
    for key in (("tflite", "fp32"), ("onnx", "fp32")):
        p = arts[key]["parity"]
        assert p["cosine"] >= 0.99999 and p["top1_agreement"] == 1.0, (key, p)
    for a in report["artifacts"]:
        assert a["latency_ms"]["p50"] > 0 and (cwd / a["path"]).is_file()  # paths are relative to the cwd
    assert report["model"]["params"] > 0 and report["model"]["macs"] > 0
    assert report["dataset"]["name"] == "digits" and report["dataset"]["n_test"] == 360
    assert report["failures"] == []  # exit 0 means every requested step passed
    # the same keys as the report main wrote before the step log and the typed sub-records (tests/fixtures)
    from _report_keys import key_paths, saved_key_paths

    keys, before = key_paths(report), saved_key_paths("demo_report_keys.json")
    assert keys == before, f"new keys {sorted(keys - before)}, keys gone {sorted(before - keys)}"

    # int8 agrees with Keras on the test split's top-1 (parity, not only a similar accuracy)
    int8_parity = arts[("tflite", "int8")]["parity"]
    assert int8_parity["top1_agreement"] >= 0.98 and int8_parity["cosine"] >= 0.99, int8_parity
    # the microcontroller bundle: files, a TFLM-measured arena, TFLM agreeing with LiteRT on all 360 samples
    mcu = report["mcu"]
    assert {"model_data.cc", "model_data.h", "model_ops.h", "mcu.json"} <= {p.name for p in (run / "mcu").iterdir()}
    assert not mcu.get("error") and mcu["tflm_error"] is None and mcu["unsupported_ops"] == []
    assert 0 < mcu["arena_bytes"] < 1 << 20 and mcu["n_samples"] == 360 and mcu["tflm_agreement"] >= 0.99
    data_cc = (run / "mcu" / "model_data.cc").read_text()
    assert f"{(run / 'model_int8.tflite').stat().st_size}" in data_cc  # the array length is the file's size
    # vela's Ethos-U55/U65 figures, every op on the NPU
    assert [f["accelerator"] for f in report["npu"]] == ["ethos-u55-128", "ethos-u65-256"]
    for f in report["npu"]:
        assert "error" not in f and f["inference_ms"] > 0 and f["sram_bytes"] > 0 and f["npu_ops"] > 0, f
        assert f["cpu_ops"] == 0 and f["macs"] > 0, f
    html = (run / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lstrip().lower().startswith("<!doctype html>")
    assert "<svg" in html and "model_int8.tflite" in html and "ethos-u55" in html.lower()

    # the manifest is written last; `edgekit check` verifies the bundle and catches damage
    res = cli("check", run)
    assert res.returncode == 0, res.stderr
    damaged = tmp_path / run.name  # the shared bundle stays whole for the other tests
    shutil.copytree(run, damaged)
    int8 = damaged / "model_int8.tflite"
    int8.write_bytes(int8.read_bytes()[:-10])
    res = cli("check", damaged)
    assert res.returncode == 1 and "model_int8.tflite" in res.stderr


def _a_step_that_fails(bundle):
    from edgekit.errors import EdgekitError

    raise EdgekitError(f"the fake step found nothing to check in {bundle.run_dir.name}")


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    """A cheap run with two failures: a real one from a real request (ONNX has no fp16 export here, no
    mocks) and a fake step added through the run's step log."""
    from edgekit.pipeline import run
    from edgekit.records import BenchSettings

    out = tmp_path_factory.mktemp("failing_run")
    rep = run("mlp", "digits_flat", out=out, exports=(("tflite", "fp32"), ("onnx", "fp16")),
              bench=BenchSettings(runs=5, warmup=1), npu=False, mcu=False, profile=False, html=False, epochs=2,
              steps=[("fake step", _a_step_that_fails)])
    return rep, out


def test_a_failing_step_is_reported_and_exits_3(failing_run):
    """The run finishes, the report lists the failure, and the exit code the CLI gives `demo` is 3."""
    import typer

    from edgekit.cli import _exit_for_steps

    rep, tmp_path = failing_run
    (fail,) = [f for f in rep["failures"] if f["step"] != "fake step"]
    assert fail["status"] == "failed" and "onnx" in fail["step"] and "fp16" in fail["error"]
    from conftest import check_record_file
    from edgekit.records import RunReport

    saved = check_record_file(tmp_path / "report.json", RunReport)  # report.json is the record's model_dump()
    assert saved.failures == rep.failures and rep.failures[0].step == fail["step"]
    assert "fp16" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "edgekit-error.log").exists()
    with pytest.raises(typer.Exit) as e:
        _exit_for_steps("the requested steps", [(f["step"], f["status"]) for f in rep["failures"]])
    assert e.value.exit_code == 3
    ok = [a for a in rep["artifacts"] if a["format"] == "tflite"]
    assert ok and ok[0]["latency_ms"]["p50"] > 0 and "error" not in ok[0]


def test_a_step_added_through_the_step_log_fails_the_run(failing_run):
    """A new step needs no bookkeeping of its own: run through the step log, its failure is in
    report.json and makes the exit code 3, and the steps after it still ran."""
    import typer

    from edgekit.cli import _exit_for_steps
    from edgekit.records import StepFailure

    rep, out = failing_run
    saved = json.loads((out / "report.json").read_text())
    fake = [f for f in saved["failures"] if f["step"] == "fake step"]
    assert fake == [{"step": "fake step", "status": "failed", "exception": "EdgekitError",
                     "error": f"the fake step found nothing to check in {out.name}"}]
    assert rep.failures[-1] == StepFailure(**fake[0])
    with pytest.raises(typer.Exit) as e:
        _exit_for_steps("the requested steps", [(f["step"], f["status"]) for f in saved["failures"] if f in fake])
    assert e.value.exit_code == 3
    assert (out / "manifest.json").is_file() and (out / "report.md").is_file()  # the report was still written
