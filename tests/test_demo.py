"""`edgekit demo` end to end, as a new user runs it: no flags, no network, bundle under ./export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


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


def test_a_failing_step_is_reported_and_exits_3(tmp_path):
    """A real failure from a real request (ONNX has no fp16 export here), no mocks: the run
    finishes, the report lists the failure, and the exit code the CLI gives `demo` is 3."""
    import pytest
    import typer

    from edgekit.cli import _exit_for_steps
    from edgekit.pipeline import BenchConfig, run

    rep = run("mlp", "digits_flat", out=tmp_path, exports=(("tflite", "fp32"), ("onnx", "fp16")),
              bench=BenchConfig(runs=5, warmup=1), npu=False, mcu=False, profile=False, html=False, epochs=2)
    (fail,) = rep["failures"]
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
