"""Cortex-M latency from instructions counted on an emulated core.

    latency_from_counts(counts, "ek-ra6m4") -> (ms, expected_error)

``counts`` is what ``edgekit emulate`` wrote (:class:`edgekit.records.EmulationResult`, a dict or
a JSON path). The model has two numbers per core class, fitted by ``benchmarks/mcu_emulated.py``
on the MLPerf Tiny rows of the calibrated boards (kws, vww, ad; the image-classification rows are
never used) by running the same reference models in the emulator:

    cycles = cpi * instructions + cycles_per_weight_byte * weight_bytes

``cpi`` is what one counted instruction costs on the board (pipeline, Helium beats, the older
TFLM/CMSIS-NN the submission ran); the second term is the weights streamed from flash once per
inference (wait states), which instruction counts do not see. Core classes: ``cortex-m4`` (the
L4R5ZI), ``cortex-m33`` (the RA6M4) and ``helium`` (M55 and M85, CMSIS-NN's MVE kernels; the
RA8D1's M85 is emulated on QEMU's Cortex-M55, the same Helium instruction set). M4 and M33 run the
same DSP-extension kernels, but their calibration boards differ about twofold in cycles per counted
instruction (the v0.5 reference ran TFLM v2.3.1 from flash), so each has its own numbers. The
expected error is the class's leave-one-benchmark-out median error.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

CALIBRATION_FILE = Path(__file__).with_name("mcu_counts.json")

CORE_CLASS = {"cortex-m4": "cortex-m4", "cortex-m33": "cortex-m33", "cortex-m55": "helium", "cortex-m85": "helium"}
# The QEMU core whose counts stand for each board core (QEMU 7.2 has no Cortex-M85).
EMULATED_CORE = {"cortex-m4": "cortex-m4", "cortex-m33": "cortex-m33", "cortex-m55": "cortex-m55",
                 "cortex-m85": "cortex-m55"}


def predict_cycles(params: dict, instructions: float, weight_bytes: float) -> float:
    return params["cpi"] * instructions + params.get("cycles_per_weight_byte", 0.0) * weight_bytes


def fit_class(rows: list[dict], with_weights: bool = True) -> dict:
    """Least-squares fit of relative error over ``rows`` (dicts with ``instructions``,
    ``weight_bytes``, ``cycles``), non-negative coefficients."""
    from scipy.optimize import nnls

    c = np.array([r["cycles"] for r in rows], float)
    cols = [np.array([r["instructions"] for r in rows], float) / c]
    if with_weights:
        cols.append(np.array([r["weight_bytes"] for r in rows], float) / c)
    coef, _ = nnls(np.stack(cols, axis=1), np.ones(len(rows)))
    out = {"cpi": float(coef[0])}
    if with_weights:
        out["cycles_per_weight_byte"] = float(coef[1])
    return out


def cross_validate(rows: list[dict], with_weights: bool = True) -> dict:
    """Errors of every row when it (leave-one-out) or its whole benchmark (leave-one-benchmark-out)
    is left out of the fit: ``{"loo": [...], "lobo": [...]}`` signed relative errors, in row order."""
    out = {"loo": [], "lobo": []}
    for i, r in enumerate(rows):
        for kind, keep in (("loo", [q for j, q in enumerate(rows) if j != i]),
                           ("lobo", [q for q in rows if q["bench"] != r["bench"]])):
            p = fit_class(keep, with_weights)
            out[kind].append(predict_cycles(p, r["instructions"], r["weight_bytes"]) / r["cycles"] - 1)
    return out


@lru_cache(maxsize=1)
def load_calibration() -> dict:
    if not CALIBRATION_FILE.is_file():
        raise EdgekitError(f"{CALIBRATION_FILE} is missing: run benchmarks/mcu_emulated.py --tflm DIR to fit it.")
    return json.loads(CALIBRATION_FILE.read_text())


def _counts(counts) -> dict:
    if isinstance(counts, (str, Path)):
        p = Path(counts)
        if not p.is_file():
            raise EdgekitError(f"{p} does not exist; write it with `edgekit emulate MODEL --core CORE --tflm DIR --json {p}`.")
        return json.loads(p.read_text())
    return counts.model_dump() if hasattr(counts, "model_dump") else dict(counts)


def latency_from_counts(counts, target: str) -> tuple[float, float]:
    """(milliseconds per inference on ``target``, expected relative error) from emulated counts.

    The counts must come from the core that stands for the target's (cortex-m4 counts for a
    Cortex-M4 board, cortex-m33 for an M33, cortex-m55 for an M55 or M85) with CMSIS-NN kernels.
    """
    from edgekit.benchmarking.mcu_targets import get_target

    c = _counts(counts)
    t = get_target(target)
    cls = CORE_CLASS.get(t.core)
    if cls is None:
        raise EdgekitError(f"no count-based latency for {t.core} (calibrated: Cortex-M4, M33, and M55/M85); "
                           "use the analytic estimate.")
    want = EMULATED_CORE[t.core]
    if c.get("core") != want:
        raise EdgekitError(f"{t.name} is a {t.core}: its latency needs counts emulated on {want}, these are from "
                           f"{c.get('core')}; run `edgekit emulate MODEL --core {want} ...`.")
    if c.get("kernels") != "cmsis-nn":
        raise EdgekitError("the count-based latency is calibrated on CMSIS-NN kernels; emulate with --kernels cmsis-nn.")
    classes = load_calibration()["classes"]
    if cls not in classes:
        raise EdgekitError(f"the count-based latency of {cls} is not calibrated yet (benchmarks/mcu_emulated.py "
                           "did not emulate its reference models); use the analytic estimate.")
    cal = classes[cls]
    cycles = predict_cycles(cal["params"], c["instructions"], c["weight_bytes"])
    return cycles / (t.mhz * 1e3), float(cal["lobo_median_abs_error"])
