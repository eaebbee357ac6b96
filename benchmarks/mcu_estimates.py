"""Fit the Cortex-M latency model on MLPerf Tiny's published rows and report its leave-one-out error.

    PYTHONPATH=. python benchmarks/mcu_estimates.py

Builds the four MLPerf Tiny reference models from the zoo (ds_cnn, mobilenet_v1 0.25/96, resnet8,
autoencoder_dense) at their reference input shapes, converts each to full-int8 TFLite (random
weights and random calibration data: the estimate reads only ops and shapes, which do not depend
on the weights), checks their MACs against MCU_ANCHORS.md, reads their op costs, fits the cost
model on the nine TFLM + CMSIS-NN rows and refits nine times with one row left out.

Writes:
- edgekit/benchmarking/mcu_calibration.json: the fitted parameters, the op costs of the reference
  models (so the fit can be re-run and checked without TensorFlow), the rows and provenance;
- benchmarks/results/mcu_estimates.{json,md}: every anchor row (published, fitted, leave-one-out
  estimate and error) and the estimate of each reference model on every target.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _int8(model, path: Path) -> None:
    from edgekit._tf import tf

    shape = tuple(model.input_shape[1:])
    rng = np.random.default_rng(0)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rng.uniform(0, 1, (1, *shape)).astype("float32")] for _ in range(16))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())


def main() -> int:
    from edgekit import _io
    from edgekit.benchmarking.harness import machine_info
    from edgekit.benchmarking.mcu_estimate import (CALIBRATION_FILE, PRIORS, RIDGE_BOARD, RIDGE_SHARED, calibrate,
                                            estimate_mcu, load_calibration, op_costs)
    from edgekit.benchmarking.mcu_targets import ANCHORS, REFERENCE_KERNEL_ANCHORS, REFERENCE_MACS, REFERENCE_MODELS, TARGETS
    from edgekit.models import create_model

    tmp = Path(tempfile.mkdtemp(prefix="mcu-estimates-"))
    files, features = {}, {}
    for bench, (name, kw) in REFERENCE_MODELS.items():
        print(f"building {bench}: {name} {kw}", flush=True)
        files[bench] = tmp / f"{bench}.tflite"
        _int8(create_model(name, **kw), files[bench])
        features[bench] = op_costs(files[bench])
        macs = sum(o.macs for o in features[bench])
        if abs(macs / REFERENCE_MACS[bench] - 1) > 0.02:
            raise SystemExit(f"{bench}: {macs} MACs, reference {REFERENCE_MACS[bench]}: the zoo model drifted")

    params, rows = calibrate(features)
    med = float(np.median([abs(r.loo_error) for r in rows]))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    prov = {"commit": commit, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info()}
    cal = {
        "model": "per-op: F_b*k_kind*MACs/(peak*lane_use) + M_b*weight_bytes + o (see edgekit/benchmarking/mcu_estimate.py)",
        "priors": PRIORS, "ridge_shared": RIDGE_SHARED, "ridge_board": RIDGE_BOARD,
        "params": params.model_dump(),
        "rows": [r.model_dump() for r in rows], "median_loo_error": med,
        "reference_kernel_rows": [a.model_dump() for a in REFERENCE_KERNEL_ANCHORS],
        "features": {b: [o.model_dump() for o in ops] for b, ops in features.items()},
        "provenance": prov,
    }
    _io.write_json(CALIBRATION_FILE, cal)
    load_calibration.cache_clear()

    table = []
    for bench, path in files.items():
        for t in TARGETS.values():
            for kernels in ("cmsis-nn", "reference"):
                e = estimate_mcu(path, t, kernels=kernels, measure_arena=False)
                table.append({"bench": bench, "model": REFERENCE_MODELS[bench][0], "macs": e.macs, "target": t.name,
                              "core": t.core, "mhz": t.mhz, "kernels": kernels, "calibrated": e.calibrated,
                              "basis": e.basis, "latency_ms": e.latency_ms})
    res = {"anchors": [a.model_dump() for a in ANCHORS], "rows": cal["rows"], "median_loo_error": med,
           "median_abs_fitted_error": float(np.median([abs(r.fitted_ms / r.published_ms - 1) for r in rows])),
           "params": cal["params"], "priors": PRIORS, "estimates": table, "provenance": prov}
    out = ROOT / "benchmarks" / "results"
    _io.write_json(out / "mcu_estimates.json", res)

    v = prov["machine"]["versions"]
    md = [
        "# Cortex-M latency estimate vs MLPerf Tiny (TFLM + CMSIS-NN, closed division)", "",
        f"commit `{commit[:12]}`, {prov['date']}, {prov['machine']['cpu']}; "
        + ", ".join(f"{k} {v[k]}" for k in sorted(v)), "",
        "Each row: the published latency, the model's estimate fitted on all nine rows, and the estimate",
        "when that row is left out of the fit (leave-one-out). Error = estimate / published - 1.", "",
        "| board | bench | published ms | fitted ms | leave-one-out ms | LOO error |", "|---|---|---|---|---|---|",
    ]
    md += [f"| {r.target} | {r.bench} | {r.published_ms:g} | {r.fitted_ms:.3f} | {r.loo_ms:.3f} | {r.loo_error:+.1%} |"
           for r in rows]
    md += ["", f"**Median |leave-one-out error|: {med:.1%}** (max {max(abs(r.loo_error) for r in rows):.1%}); "
           f"median |in-sample error| {res['median_abs_fitted_error']:.1%}.", "",
           "Fitted parameters: " + ", ".join(f"{k} {getattr(params, k):.3g}" for k in ("k_conv", "k_dw", "k_fc", "o"))
           + f"; pooled F {params.pooled.F:.3g}, M {params.pooled.M:.3g} cycles/weight byte; "
           + "; ".join(f"{b}: F {f.F:.3g}, M {f.M:.3g}" for b, f in params.boards.items())
           + f". Reference kernels: {params.ref_mac:.3g} cycles/MAC (conv), {params.ref_fc:.3g} (dense).", "",
           "What it cannot know: caches and flash wait states at the chosen clock, where the linker puts weights",
           "and arena, the compiler and flags, the CMSIS-NN version (the L4R5 row is TFLM v2.3.1 of 2020, the",
           "RA8D1 row a 2024 Helium build). Nine rows on three boards fit eleven numbers only with a ridge pull",
           "toward stated priors; uncalibrated core classes (M7, M55, M0+) use pooled factors and the core's",
           "SIMD width: treat them as extrapolations, not measurements. The worst row, RA8D1 ad, is a",
           "weight-streaming dense model on a Helium core: its cost per weight byte is fixed only by that row.", "",
           "## The four reference models on every target (ms per inference)", "",
           "| bench | model | MACs | target | core | MHz | basis | cmsis-nn ms | reference-kernels ms |",
           "|---|---|---|---|---|---|---|---|---|"]
    for bench in files:
        for t in TARGETS.values():
            c = next(r for r in table if r["bench"] == bench and r["target"] == t.name and r["kernels"] == "cmsis-nn")
            ref = next(r for r in table if r["bench"] == bench and r["target"] == t.name and r["kernels"] == "reference")
            basis = "calibrated" if c["calibrated"] else ("by clock from " + t.calibrated_on if t.calibrated_on
                                                          else "extrapolated (pooled)")
            md.append(f"| {bench} | {c['model']} | {c['macs']:,} | {t.name} | {t.core} | {t.mhz:g} | {basis} | "
                      f"{c['latency_ms']:.2f} | {ref['latency_ms']:.1f} |")
    md += ["", "ic (ResNet-8) has no TFLM + CMSIS-NN row in any round: its estimates are not checked by a measurement.",
           "Reference-kernel figures rest on one non-Arm row set (RV32 at 336 MHz) and are rough."]
    _io.write_text(out / "mcu_estimates.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
