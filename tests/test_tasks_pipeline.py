"""Every task through the end-to-end run and compress: regression, anomaly detection, embeddings.

Tiny models, a few epochs, short benches; NPU/MCU/profile steps off (they are the same for every
task and tested elsewhere). The claims: each run ends with a complete bundle whose report carries
the task's figures for every artifact, and those figures agree with the training run's.
"""

from __future__ import annotations

import json

import pytest

from edgekit.pipeline import run
from edgekit.records import BenchSettings

FAST = dict(bench=BenchSettings(runs=5, warmup=1), npu=False, mcu=False, profile=False, html=True)


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_reg")
    return run("mlp_regressor", "diabetes", out=out, epochs=6, patience=6, tensorboard=False, **FAST), out


@pytest.mark.parametrize("model, data, metric, columns, floor", [
    ("mlp_regressor", "diabetes", "rmse", ("rmse", "mae", "r2"), None),
    ("autoencoder_dense", "digits_anomaly", "roc_auc", ("roc_auc", "recall_at_threshold", "false_alarm_rate"), 0.8),
    ("siamese", "digits_pairs", "pair_roc_auc", ("pair_roc_auc",), 0.8),
])
def test_each_task_ends_with_a_bundle_and_its_metrics(model, data, metric, columns, floor, tmp_path, regression_run):
    if model == "mlp_regressor":
        _, out = regression_run
    else:
        out = tmp_path
        run(model, data, out=out, epochs=2, patience=2, tensorboard=False, **FAST)
    for name in ("model.keras", "model_fp32.tflite", "model_int8.tflite", "model_fp32.onnx", "report.json",
                 "report.md", "report.html", "manifest.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "report.json").read_text())
    from conftest import check_record_file
    from edgekit.records import RunReport

    check_record_file(out / "report.json", RunReport)
    assert saved["metric"]["name"] == metric and tuple(saved["metric"]["columns"]) == columns
    trained = saved["training"]["metrics"]
    arts = {(a["format"], a["precision"]): a for a in saved["artifacts"]}
    assert set(arts) == {("keras", "fp32"), ("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")}
    for a in saved["artifacts"]:
        assert not a.get("error") and all(isinstance(a["metrics"][c], float) for c in columns), a["metrics"]
    # the Keras row is scored from its outputs as the trainer scored it
    assert arts[("keras", "fp32")]["metrics"][metric] == pytest.approx(trained[metric], rel=1e-5)
    assert arts[("tflite", "fp32")]["metrics"][metric] == pytest.approx(trained[metric], rel=1e-4)
    if floor is not None:
        assert arts[("tflite", "int8")]["metrics"][metric] >= floor
    else:  # regression: better than predicting the mean (R^2 > 0), int8 within 5% RMSE
        assert arts[("keras", "fp32")]["metrics"]["r2"] > 0
        assert arts[("tflite", "int8")]["metrics"]["rmse"] <= 1.05 * trained["rmse"]
    md = (out / "report.md").read_text()
    assert all(f" {c} |" in md for c in columns) and "| accuracy |" not in md
    html = (out / "report.html").read_text()
    assert f">{metric}</th>" in html


def test_compress_a_regressor_reports_rmse_drop(regression_run, tmp_path, cli):
    _, out = regression_run
    res = cli("compress", out / "model.keras", "--data", "diabetes", "--out", tmp_path, "--only", "ptq_int8,ptq_fp16")
    assert res.returncode == 0, res.stderr[-2000:]
    rep = json.loads((tmp_path / "compression.json").read_text())
    from conftest import check_record_file
    from edgekit.records import CompressionFile

    check_record_file(tmp_path / "compression.json", CompressionFile)
    assert rep["metric"]["name"] == "rmse" and rep["metric"]["higher_is_better"] is False
    assert "variant rmse minus baseline rmse" in rep["metric"]["drop"]
    base = rep["baseline"]["score"]
    for v in rep["variants"]:
        assert v["drop"] == pytest.approx(v["score"] - base) and v["metrics"]["rmse"] == v["score"]
    md = (tmp_path / "compression.md").read_text()
    assert "| rmse | drop |" in md and "rmse" in res.stdout
    # a label-trained variant asked for by name is refused in one line
    res = cli("compress", out / "model.keras", "--data", "diabetes", "--out", tmp_path / "x", "--only", "prune")
    assert res.returncode == 1 and "fine-tunes with class labels" in res.stderr
