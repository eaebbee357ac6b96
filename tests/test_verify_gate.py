"""Issue 20: `edgekit verify` as a CI gate (thresholds, --json, exit 3), with accuracy intervals."""

from __future__ import annotations

import json

import pytest

from edgekit.errors import EXIT_STEP_FAILED


def test_wilson_interval_matches_the_textbook_values():
    from edgekit.verification.stats import accuracy_ci, small_split_warning, wilson

    lo, hi = wilson(9, 10)  # the classic example: 0.5958 .. 0.9821
    assert lo == pytest.approx(0.5958, abs=1e-4) and hi == pytest.approx(0.9821, abs=1e-4)
    assert accuracy_ci(1.0, 18)[1] == 1.0 and accuracy_ci(0.0, 18)[0] == 0.0
    assert "5.6-point steps" in small_split_warning(18) and small_split_warning(360) is None


@pytest.fixture(scope="module")
def wrong_reference(tmp_path_factory):
    """An untrained model with the trained fixture's shapes: a reference the artifact does not come from."""
    from edgekit.models import create_model

    path = tmp_path_factory.mktemp("wrong") / "wrong.keras"
    create_model("mobilenet_v2", input_shape=(32, 32, 3), num_classes=10, alpha=0.35).save(path)
    return path


def test_verify_gates_pass_the_right_reference_and_fail_the_wrong_one(cli, trained, exports, wrong_reference,
                                                                      tmp_path):
    art = exports[("tflite", "fp32")].path  # the fixture model is weak (4 epochs): int8 agreement is ~0.9
    gates = ("--min-cosine", "0.999", "--min-top1-agreement", "0.99", "--max-accuracy-drop", "0.01")
    res = cli("verify", art, "--reference", trained.model_path, "--data", "digits", *gates, "--json", tmp_path / "ok.json")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((tmp_path / "ok.json").read_text())
    for key in ("cosine", "max_abs", "top1_agreement", "accuracy", "accuracy_ci95", "reference_accuracy",
                "reference_accuracy_ci95"):
        assert doc[key] is not None, key
    lo, hi = doc["accuracy_ci95"]
    assert lo < doc["accuracy"] < hi and doc["passed"] and set(doc["gates"]) == {
        "min_cosine", "min_top1_agreement", "max_accuracy_drop"}
    # plain output in a pipe: the result is one unwrapped line
    line = next(l for l in res.stdout.splitlines() if "top-1 agreement" in l)
    assert "accuracy" in line and "reference" in line and "[" in line

    res = cli("verify", art, "--reference", wrong_reference, "--data", "digits", *gates, "--json", tmp_path / "bad.json")
    assert res.returncode == EXIT_STEP_FAILED, res.stdout + res.stderr
    doc = json.loads((tmp_path / "bad.json").read_text())
    assert not doc["passed"] and not doc["gates"]["min_top1_agreement"]["passed"]
    assert "FAILED" in res.stdout


def test_accuracy_gate_without_data_is_refused(cli, trained, exports):
    res = cli("verify", exports[("tflite", "fp32")].path, "--reference", trained.model_path, "--max-accuracy-drop", "0.01")
    assert res.returncode == 1 and "needs labelled data" in res.stderr


def test_a_reference_of_another_input_shape_is_one_line(cli, trained):
    """The digits int8 net (8x8x1) against the 32x32x3 MobileNetV2: exit 1 naming both shapes,
    before anything runs (it used to reach LiteRT and end as an internal error)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _tiny_int8 import digits_models

    int8, _ = digits_models()
    res = cli("verify", int8, "--reference", trained.model_path, "--min-top1-agreement", "0.9")
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "(8, 8, 1)" in lines[0] and "(32, 32, 3)" in lines[0]
