"""Cortex-M latency estimate: JSON contract, expected error and basis on every estimate, per-op sum,
calibration refit with fewer numbers than rows, out-of-sample errors, MLPerf Tiny reference MACs."""

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
    for key in ("target", "core", "mhz", "kernels", "latency_ms", "cycles", "per_op", "fits", "calibration",
                "expected_error", "expected_error_worst", "expected_error_from", "basis", "summary"):
        assert key in e
    # the printed and the JSON figure carry the expected error of its core class and the basis
    cal = me.load_calibration()
    assert e["expected_error"] == cal["expected_error"]["cortex-m4"]["median"] > 0
    assert e["basis"] == "analytic" and "leave-one-benchmark-out" in e["expected_error_from"]
    assert f"± {e['expected_error']:.0%}" in e["summary"] and "(analytic)" in e["summary"]
    assert f"± {e['expected_error']:.0%}" in r.stdout and "analytic" in r.stdout
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
    assert e["calibration"]["rows"] == len(ANCHORS) > e["calibration"]["fitted_numbers"]
    # the reference kernels cost more than CMSIS-NN on a DSP core; a faster clock of the same class costs less
    ref = me.estimate_mcu(int8, "nucleo-l4r5zi", kernels="reference", arena_bytes=f["arena_bytes"])
    assert ref.cycles > e["cycles"]
    slow = me.estimate_mcu(int8, "cortex-m4@60", measure_arena=False)
    assert slow.latency_ms == pytest.approx(2 * e["latency_ms"], rel=1e-3) and slow.fits.ram is None
    # every kind of target carries an expected error and a basis: unmeasured boards the wider
    # leave-one-board-out figure, the reference kernels theirs
    for est in (slow, ref, me.estimate_mcu(int8, "nucleo-h743zi", measure_arena=False),
                me.estimate_mcu(int8, "ek-ra8d1", measure_arena=False)):
        assert est.basis in me.BASES and est.expected_error is not None and est.expected_error_worst >= est.expected_error
        assert f"± {est.expected_error:.0%}" in est.summary
    assert slow.expected_error == cal["expected_error"]["unmeasured"]["median"] > e["expected_error"]


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
    assert "±" in r.stdout  # the expected error of each target
    assert {t.name for t in TARGETS.values() if t.calibrated} == {a.target for a in ANCHORS}
    t = get_target("Cortex-M7@216")
    assert t.core == "cortex-m7" and t.mhz == 216 and t.ram_bytes is None


def test_calibration_refits_with_fewer_numbers_than_rows_and_holds_out_of_sample():
    """The stored fit is what fitting the stored op costs on the anchors gives; it fits fewer numbers
    than rows; a benchmark left out is predicted within the stated target."""
    cal = me.load_calibration()
    feats = {b: [me.OpCost.model_validate(o) for o in ops] for b, ops in cal["features"].items()}
    assert "ic" not in {a.bench for a in ANCHORS}  # the blind check stays out of the fit
    params, rows = me.calibrate(feats)
    stored = me.CostParams.model_validate(cal["params"])
    assert me.n_fitted(params) == cal["fitted_numbers"] < len(rows) == len(ANCHORS)
    for b, f in stored.boards.items():
        assert params.boards[b].F == pytest.approx(f.F, rel=1e-4) and f.W >= 0
    lobo = [abs(r.error("lobo")) for r in rows]
    assert np.median(lobo) == pytest.approx(cal["errors"]["lobo"]["median_abs_error"], rel=1e-6)
    assert np.median(lobo) <= 0.25 and max(lobo) <= 0.60
    # a fold without the dense-heavy row cannot learn W: it stays 0 rather than fitting noise
    no_ad = me.fit_cost_model([(a.target, feats[a.bench], a.ms) for a in ANCHORS if a.bench != "ad"])
    assert all(f.W == 0 for f in no_ad.boards.values())
    assert [(r.target, r.bench) for r in rows] == [(a.target, a.bench) for a in ANCHORS]
    assert {b: sum(o.macs for o in ops) for b, ops in feats.items()} == REFERENCE_MACS
    exp = me.expected_errors(rows)
    assert set(exp) == {get_target(a.target).core for a in ANCHORS} | {"unmeasured"}


def test_kernel_counts_follow_the_simd_lanes():
    """A depthwise conv whose channels half-fill the 4-lane kernels costs more per MAC, and Helium's
    16-lane matrix kernel wastes lanes on 8 input channels where the DSP kernel does not."""
    from edgekit.benchmarking.mcu_kernels import KERNELS

    def pw(cin):
        return me.OpCost(index=0, op="CONV_2D", kind="pw", macs=64 * cin * 100, outputs=6400, vec=cin, channels=0,
                         pixels=100, kh=1, taps=1, dense_weight_bytes=0, weight_bytes=64 * cin, act_bytes=0)

    dsp, mve = KERNELS["dsp"], KERNELS["mve"]
    per_mac = lambda op, k: (me.op_work(op, k) - k.op - k.requant * op.outputs) / op.macs  # noqa: E731
    assert per_mac(pw(8), dsp) == pytest.approx(per_mac(pw(16), dsp))
    assert per_mac(pw(8), mve) == pytest.approx(2 * per_mac(pw(16), mve))
    assert me.lane_use(6, 4) == 0.75 and me.lane_use(16, 16) == 1.0


@pytest.mark.parametrize("bench", sorted(REFERENCE_MODELS))
def test_zoo_reference_models_match_mlperf_tiny_macs(bench):
    from edgekit.models import count_macs, create_model

    name, kw = REFERENCE_MODELS[bench]
    macs = count_macs(create_model(name, **kw))
    assert abs(macs / REFERENCE_MACS[bench] - 1) <= 0.02, (bench, macs)


def test_estimate_from_emulated_counts_says_its_basis_and_error(tmp_path):
    """Counts from `edgekit emulate --json` turn the estimate's basis to "emulated counts", with the
    count model's own leave-one-benchmark-out error; counts from another core are refused."""
    from edgekit.benchmarking import mcu_counts

    int8, _ = digits_models()
    counts = {"core": "cortex-m4", "kernels": "cmsis-nn", "instructions": 6_000_000, "weight_bytes": 20_000}
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(counts))
    e = me.estimate_mcu(int8, "nucleo-l4r5zi", measure_arena=False, counts=path)
    ms, err = mcu_counts.latency_from_counts(counts, "nucleo-l4r5zi")
    assert e.basis == "emulated counts" and e.latency_ms == pytest.approx(ms) and e.expected_error == err > 0
    assert f"± {err:.0%}" in e.summary and "(emulated counts)" in e.summary
    analytic = me.estimate_mcu(int8, "nucleo-l4r5zi", measure_arena=False)
    assert analytic.basis == "analytic" and analytic.latency_ms != e.latency_ms
    with pytest.raises(EdgekitError, match="cortex-m33"):
        me.estimate_mcu(int8, "ek-ra6m4", measure_arena=False, counts=path)  # an M33 board needs M33 counts
