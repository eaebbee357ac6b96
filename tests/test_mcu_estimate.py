"""Cortex-M latency estimate: JSON contract, per-op sum, calibration refit, MLPerf Tiny reference MACs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _tiny_int8 import digits_models  # noqa: E402

from edgekit.benchmarking import mcu_estimate as me
from edgekit.benchmarking.mcu_targets import ANCHORS, REFERENCE_MACS, REFERENCE_MODELS, TARGETS, get_target
from edgekit.errors import EdgekitError


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgekit.cli", *map(str, args)], capture_output=True, text=True)


def test_estimate_cli_json_keys_and_per_op_sum(tmp_path):
    int8, _ = digits_models()
    out = tmp_path / "est.json"
    r = _cli("estimate", int8, "--target", "nucleo-l4r5zi", "--json", out)
    assert r.returncode == 0, r.stderr
    e = json.loads(out.read_text())
    for key in ("target", "core", "mhz", "kernels", "latency_ms", "cycles", "per_op", "fits", "calibration"):
        assert key in e
    assert e["target"] == "nucleo-l4r5zi" and e["core"] == "cortex-m4" and e["mhz"] == 120 and e["kernels"] == "cmsis-nn"
    assert all(set(p) >= {"op", "macs", "cycles"} for p in e["per_op"])
    assert sum(p["cycles"] for p in e["per_op"]) == e["cycles"] > 0
    assert e["latency_ms"] == pytest.approx(e["cycles"] / (e["mhz"] * 1e3))
    assert {p["op"] for p in e["per_op"]} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    # fits: the TFLM-measured arena plus the stated overhead against the board's RAM; model against flash
    f = e["fits"]
    assert f["arena_bytes"] > 0 and f["ram_needed_bytes"] == f["arena_bytes"] + f["runtime_ram_overhead_bytes"]
    assert f["ram"] is (f["ram_needed_bytes"] <= f["ram_bytes"]) and f["ram"] is True
    assert f["flash"] is True and f["model_bytes"] == int8.stat().st_size
    assert len(e["calibration"]["rows"]) == len(ANCHORS) and e["calibration"]["median_loo_error"] <= 0.35
    # the reference kernels cost more than CMSIS-NN on a DSP core; a faster clock of the same class costs less
    ref = me.estimate_mcu(int8, "nucleo-l4r5zi", kernels="reference", arena_bytes=f["arena_bytes"])
    assert ref.cycles > e["cycles"]
    slow = me.estimate_mcu(int8, "cortex-m4@60", measure_arena=False)
    assert slow.latency_ms == pytest.approx(2 * e["latency_ms"], rel=1e-3) and slow.fits.ram is None


def test_estimate_refuses_bad_input(tmp_path):
    _, fp32 = digits_models()
    r = _cli("estimate", fp32, "--target", "ek-ra6m4", "--arena", "1000")
    assert r.returncode == 1 and "full-int8" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("estimate", fp32, "--target", "esp32")
    assert r.returncode == 1 and "unknown target" in r.stderr
    with pytest.raises(EdgekitError, match="not a TFLite model"):
        bad = tmp_path / "x.tflite"
        bad.write_bytes(b"0" * 64)
        me.estimate_mcu(bad, "ek-ra6m4", measure_arena=False)


def test_targets_table_and_generic_names():
    r = _cli("targets")
    assert r.returncode == 0
    for name in ("nucleo-l4r5zi", "ek-ra6m4", "ek-ra8d1", "nrf5340-dk", "arduino-nano-33-ble", "rpi-pico"):
        assert name in r.stdout
    assert {t.name for t in TARGETS.values() if t.calibrated} == {a.target for a in ANCHORS}
    t = get_target("Cortex-M7@216")
    assert t.core == "cortex-m7" and t.mhz == 216 and t.ram_bytes is None


def test_calibration_file_refits_to_the_same_parameters():
    """The stored fit is what fitting the stored reference-model op costs on the anchors gives."""
    cal = me.load_calibration()
    feats = {b: [me.OpCost.model_validate(o) for o in ops] for b, ops in cal["features"].items()}
    params, rows = me.calibrate(feats)
    stored = me.CostParams.model_validate(cal["params"])
    assert params.k_conv == pytest.approx(stored.k_conv, rel=1e-4)
    assert params.boards["ek-ra8d1"].F == pytest.approx(stored.boards["ek-ra8d1"].F, rel=1e-4)
    loo = [abs(r.loo_error) for r in rows]
    assert np.median(loo) == pytest.approx(cal["median_loo_error"], rel=1e-4) and np.median(loo) <= 0.35
    assert [(r.target, r.bench) for r in rows] == [(a.target, a.bench) for a in ANCHORS]
    assert {b: sum(o.macs for o in ops) for b, ops in feats.items()} == REFERENCE_MACS


@pytest.mark.parametrize("bench", sorted(REFERENCE_MODELS))
def test_zoo_reference_models_match_mlperf_tiny_macs(bench):
    from edgekit.models import count_macs, create_model

    name, kw = REFERENCE_MODELS[bench]
    macs = count_macs(create_model(name, **kw))
    assert abs(macs / REFERENCE_MACS[bench] - 1) <= 0.02, (bench, macs)
