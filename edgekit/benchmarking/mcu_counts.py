"""Cortex-M latency from instructions counted on an emulated core.

    latency_from_counts(counts, "ek-ra6m4") -> (ms, expected_error)

``counts`` is what ``edgekit emulate`` wrote (:class:`edgekit.records.EmulationResult`, a dict or
a JSON path). The model has one or two numbers per core class, fitted by
``benchmarks/mcu_emulated.py`` on the MLPerf Tiny rows of the calibrated boards (kws, vww, ad; the
image-classification rows are never used) by running the same reference models in the emulator:

    cycles = cpi * instructions [+ cycles_per_weight_byte * weight_bytes]

``cpi`` is what one counted instruction costs on the board (pipeline, Helium beats, flash wait
states, the older TFLM/CMSIS-NN the submission ran), fitted with every counted instruction weighing
alike (one number: total cycles / total instructions). The second term, the weights streamed from
flash once per inference, is kept only where it predicts left-out benchmarks better; with three
benchmarks of which one (the dense autoencoder) streams its weights, it never has. Core classes:
``cortex-m4`` (the L4R5ZI), ``cortex-m33`` (the RA6M4) and ``helium`` (M55 and M85, CMSIS-NN's
MVE kernels; the RA8D1's M85 is emulated on QEMU's Cortex-M55, the same Helium instruction set). M4
and M33 run the same DSP-extension kernels, but their calibration boards differ about twofold in
cycles per counted instruction (the v0.5 reference ran TFLM v2.3.1 from flash), so each has its own
numbers. The expected error is the class's leave-one-benchmark-out error for models like the one
estimated: the worse of the convolutional benchmarks', or the dense benchmark's for a model whose fully
connected layers run most of its instructions (its cost per instruction differs by 13-46% from
the convolutional models', in a direction that differs between boards).
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


WEIGHTINGS = ("instructions", "rows")
# A model whose fully connected layers run more than this share of its instructions streams its
# weights (each is read once per inference): its expected error is the dense benchmark's.
DENSE_SHARE = 0.5


def fit_class(rows: list[dict], with_weights: bool = True, weighting: str = "instructions") -> dict:
    """Least-squares fit over ``rows`` (dicts with ``instructions``, ``weight_bytes``, ``cycles``),
    non-negative coefficients.

    ``weighting="instructions"``: every counted instruction weighs alike, so a benchmark counts by
    its size (with one number, cpi = total cycles / total instructions). ``"rows"``: each row's
    relative error weighs alike, so a 0.6 M-instruction dense model pulls as hard as a 24 M one.
    """
    from scipy.optimize import nnls

    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    c = np.array([r["cycles"] for r in rows], float)
    n = np.array([r["instructions"] for r in rows], float)
    # Scale each row so that least squares minimizes the intended error: relative (1 / cycles) or
    # with a variance proportional to the instructions (1 / sqrt(instructions)).
    s = 1.0 / c if weighting == "rows" else 1.0 / np.sqrt(n)
    cols = [n * s]
    if with_weights:
        cols.append(np.array([r["weight_bytes"] for r in rows], float) * s)
    coef, _ = nnls(np.stack(cols, axis=1), c * s)
    out = {"cpi": float(coef[0])}
    if with_weights:
        out["cycles_per_weight_byte"] = float(coef[1])
    return out


def cross_validate(rows: list[dict], with_weights: bool = True, weighting: str = "instructions") -> dict:
    """Errors of every row when it (leave-one-out) or its whole benchmark (leave-one-benchmark-out)
    is left out of the fit: ``{"loo": [...], "lobo": [...]}`` signed relative errors, in row order."""
    out = {"loo": [], "lobo": []}
    for i, r in enumerate(rows):
        for kind, keep in (("loo", [q for j, q in enumerate(rows) if j != i]),
                           ("lobo", [q for q in rows if q["bench"] != r["bench"]])):
            p = fit_class(keep, with_weights, weighting)
            out[kind].append(predict_cycles(p, r["instructions"], r["weight_bytes"]) / r["cycles"] - 1)
    return out


def dense_share(op_totals: dict) -> float:
    """The share of a model's counted instructions spent in fully connected layers."""
    total = sum(op_totals.values())
    return op_totals.get("FULLY_CONNECTED", 0) / total if total else 0.0


@lru_cache(maxsize=1)
def load_count_calibration() -> dict:
    if not CALIBRATION_FILE.is_file():
        raise EdgekitError(f"{CALIBRATION_FILE} is missing: run benchmarks/mcu_emulated.py --tflm DIR to fit it.")
    return json.loads(CALIBRATION_FILE.read_text())


def _counts_dict(counts) -> dict:
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

    c = _counts_dict(counts)
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
    classes = load_count_calibration()["classes"]
    if cls not in classes:
        raise EdgekitError(f"the count-based latency of {cls} is not calibrated yet (benchmarks/mcu_emulated.py "
                           "did not emulate its reference models); use the analytic estimate.")
    cal = classes[cls]
    cycles = predict_cycles(cal["params"], c["instructions"], c["weight_bytes"])
    return cycles / (t.mhz * 1e3), expected_error(cal, c.get("op_totals") or {})


def expected_error(cal: dict, op_totals: dict) -> float:
    """The class's leave-one-benchmark-out error for a model like this one: the dense benchmark's
    for a model that mostly runs fully connected layers, the worse of the convolutional benchmarks'
    otherwise (the whole class's median when the calibration does not split them)."""
    kind = "dense" if dense_share(op_totals) > DENSE_SHARE else "conv"
    return float(cal.get(f"lobo_{kind}_abs_error", cal["lobo_median_abs_error"]))
