"""How many milliseconds one inference takes on a Cortex-M board: a cost model fitted on MLPerf Tiny.

    estimate_mcu("model_int8.tflite", "nucleo-l4r5zi") -> McuEstimate   # latency_ms, per_op, fits, calibration

The cost of one operator of an int8 .tflite on TFLM + CMSIS-NN (board ``b``, core class ``c``)::

    MAC ops (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ...):
        F_b * k_kind * MACs / (peak_macs_c * lane_use(vec, lanes_c))  +  M_b * weight_bytes  +  o
    other ops (ADD, MEAN, SOFTMAX, pooling, reshapes):
        F_b * K_ELEM * activation_bytes / peak_macs_c                   +  o

- ``k_kind``: relative cost per MAC of a general conv (im2col), a depthwise conv and a fully
  connected layer, with a 1x1 conv at 1 (shared by all boards, fitted).
- ``lane_use``: the share of SIMD lanes the vectorised dimension fills (im2col depth
  ``kh*kw*cin`` for a conv, ``cin`` for 1x1, channels for depthwise, input features for dense):
  8 depthwise channels fill half of a 16-lane Helium vector and all of a 4-lane DSP word.
- ``F_b``: the board's software/memory-system factor (compiler, kernel generation, wait states
  on activations); ``M_b``: cycles per weight byte streamed from flash (a dense layer reads each
  weight once, so it is bound by this). Both per calibrated board, shrunk toward pooled values
  ``F0``/``M0``, which are what uncalibrated core classes get.
- ``o``: fixed cycles per operator (TFLM dispatch, kernel prologue, requantisation setup).

Fitted by least squares on log latency (relative error) with a ridge pull toward stated priors
(:data:`PRIORS`), because nine published rows cannot pin eleven numbers alone; the ridge and the
leave-one-out error are reported with the fit. What it cannot know: caches and flash wait
states of a given clock setting, where the linker put the arena and weights, the compiler and
its flags, the CMSIS-NN version. A board's own measurement beats this estimate.

No TensorFlow here: ops and shapes come from :mod:`edgekit.tflite_file`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from edgekit import tflite_file
from edgekit.benchmarking.mcu_targets import (ANCHORS, CORES, REFERENCE_KERNEL_ANCHORS, REFERENCE_KERNEL_MHZ, Target,
                                       get_target)
from edgekit.errors import EdgekitError

CALIBRATION_FILE = Path(__file__).with_name("mcu_calibration.json")
KINDS = ("conv", "pw", "dw", "fc")
K_ELEM = 0.5  # cycles (x F_b / peak) per activation byte of a non-MAC op: not identifiable from the anchors
# Prior guesses the fit is pulled toward (log-space ridge): conv via im2col ~1.5x a 1x1 conv per
# MAC, depthwise ~2x (little reuse), dense ~1x plus its weight stream; F0 ~8 (a DSP core at ~4
# cycles/MAC on 1x1 convs), a flash weight byte ~2 cycles, ~2000 cycles per operator.
PRIORS = {"k_conv": 1.5, "k_dw": 2.0, "k_fc": 1.0, "o": 2000.0, "F0": 8.0, "M0": 2.0}
RIDGE_SHARED = 0.2
RIDGE_BOARD = 0.2
# RAM TFLM needs beyond the arena: interpreter and allocator objects, op registrations,
# persistent buffers outside the arena and the stack of the deepest kernel; flash for the
# TFLM + CMSIS-NN code of a typical model's kernels. Order-of-magnitude figures, stated here.
RUNTIME_RAM_OVERHEAD = 16 * 1024
RUNTIME_FLASH_OVERHEAD = 96 * 1024


class OpCost(BaseModel):
    """The shape facts of one operator that the cost model reads."""

    index: int
    op: str
    kind: str  # conv | pw | dw | fc | other
    macs: int
    vec: int  # length of the dimension the SIMD kernel vectorises (0 for other ops)
    weight_bytes: int
    act_bytes: int  # int8 activations read and written


def _nelem(t) -> int:
    return int(np.prod([max(d, 1) for d in tflite_file.tensor_shape(t)] or [1]))


def op_costs(tflite_path: str | Path) -> list[OpCost]:
    """Per operator of the main subgraph (execution order): kind, MACs, vector length, bytes."""
    model = tflite_file.read_model(tflite_path)
    sg = model.subgraphs[0]
    rows = []
    for o in tflite_file.operators(model):
        ins = [i for i in o.inputs if i >= 0]
        const = {i for i in ins if tflite_file.buffer_array(model, sg.tensors[i]) is not None}
        wbytes = sum(_nelem(sg.tensors[i]) * (4 if tflite_file.tensor_type_name(sg.tensors[i].type) == "INT32" else 1)
                     for i in const)
        act = sum(_nelem(sg.tensors[i]) for i in ins if i not in const) + sum(_nelem(sg.tensors[i]) for i in o.outputs)
        kind, macs, vec = "other", 0, 0
        try:
            out = _nelem(sg.tensors[o.outputs[0]])
            w = [max(d, 1) for d in tflite_file.tensor_shape(sg.tensors[ins[1]])] if len(ins) > 1 else []
            if o.op == "CONV_2D":  # filter [cout, kh, kw, cin]
                vec = w[1] * w[2] * w[3]
                kind, macs = ("pw" if w[1] * w[2] == 1 else "conv"), out * vec
            elif o.op == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, cout]
                kind, macs, vec = "dw", out * w[1] * w[2], w[3]
            elif o.op == "FULLY_CONNECTED":  # weights [units, in_features]
                kind, macs, vec = "fc", out * w[-1], w[-1]
            elif o.op == "TRANSPOSE_CONV":  # filter [cout, kh, kw, cin], activation ins[2]
                kind, vec = "conv", w[1] * w[2] * w[3]
                macs = _nelem(sg.tensors[ins[2]]) * w[0] * w[1] * w[2]
            elif o.op == "BATCH_MATMUL":
                vec = tflite_file.tensor_shape(sg.tensors[ins[0]])[-1]
                kind, macs = "fc", out * vec
        except (IndexError, TypeError):
            kind, macs, vec = "other", 0, 0
        rows.append(OpCost(index=o.index, op=o.op, kind=kind, macs=int(macs), vec=int(vec),
                           weight_bytes=int(wbytes), act_bytes=int(act)))
    return rows


def lane_use(vec: int, lanes: int) -> float:
    """Share of SIMD lanes filled when a dimension of ``vec`` int8 values is processed ``lanes`` at a time."""
    if vec <= 0 or lanes <= 1:
        return 1.0
    return vec / (lanes * -(-vec // lanes))


# ---------------------------------------------------------------------------------------------
# The cost model


class BoardFactors(BaseModel):
    F: float  # compute factor
    M: float  # cycles per weight byte


class CostParams(BaseModel):
    k_conv: float
    k_dw: float
    k_fc: float
    o: float
    pooled: BoardFactors
    boards: dict[str, BoardFactors]
    # --kernels reference: cycles per MAC (conv-like, dense) and per activation byte, on the RV32 rows
    ref_mac: float = 0.0
    ref_fc: float = 0.0

    def factors(self, target: Target) -> BoardFactors:
        return self.boards.get(target.calibrated_on or "", self.pooled)


def op_cycles(op: OpCost, core: str, p: CostParams, f: BoardFactors, kernels: str = "cmsis-nn") -> float:
    if kernels == "reference":
        if op.kind == "fc":
            return p.ref_fc * op.macs + p.o
        if op.kind != "other":
            return p.ref_mac * op.macs + p.o
        return K_ELEM * 8 * op.act_bytes + p.o  # reference elementwise loops: ~4 cycles per byte
    c = CORES[core]
    if op.kind == "other":
        return f.F * K_ELEM * op.act_bytes / c.peak_macs + p.o
    k = {"conv": p.k_conv, "pw": 1.0, "dw": p.k_dw, "fc": p.k_fc}[op.kind]
    return f.F * k * op.macs / (c.peak_macs * lane_use(op.vec, c.lanes)) + f.M * op.weight_bytes + p.o


def model_cycles(ops: list[OpCost], core: str, p: CostParams, f: BoardFactors, kernels: str = "cmsis-nn") -> float:
    return float(sum(op_cycles(o, core, p, f, kernels) for o in ops))


# ---------------------------------------------------------------------------------------------
# Fitting


def _unpack(theta: np.ndarray, boards: list[str]) -> CostParams:
    e = np.exp(theta)
    k_conv, k_dw, k_fc, o, F0, M0 = e[:6]
    n = len(boards)
    return CostParams(
        k_conv=k_conv, k_dw=k_dw, k_fc=k_fc, o=o, pooled=BoardFactors(F=F0, M=M0),
        boards={b: BoardFactors(F=F0 * e[6 + i], M=M0 * e[6 + n + i]) for i, b in enumerate(boards)},
    )


def fit(rows: list[tuple[str, list[OpCost], float]]) -> CostParams:
    """Fit the cmsis-nn parameters to ``(target name, op costs, published ms)`` rows."""
    from scipy.optimize import least_squares

    boards = sorted({t for t, _, _ in rows})
    prior = np.log([PRIORS[k] for k in ("k_conv", "k_dw", "k_fc", "o", "F0", "M0")])
    x0 = np.concatenate([prior, np.zeros(2 * len(boards))])
    targets = [get_target(t) for t, _, _ in rows]

    def residuals(theta):
        p = _unpack(theta, boards)
        r = [np.log(model_cycles(ops, t.core, p, p.boards[t.name]) / (ms * t.mhz * 1e3))
             for t, (_, ops, ms) in zip(targets, rows)]
        return np.concatenate([r, RIDGE_SHARED * (theta[:6] - prior), RIDGE_BOARD * theta[6:]])

    return _unpack(least_squares(residuals, x0).x, boards)


def fit_reference(rows: list[tuple[list[OpCost], float]], mhz: float) -> tuple[float, float]:
    """Cycles per MAC (conv-like, dense) of TFLM's reference kernels, from rows of one core."""
    from scipy.optimize import least_squares

    def residuals(theta):
        rm, rf = np.exp(theta)
        p = CostParams(k_conv=1, k_dw=1, k_fc=1, o=PRIORS["o"], pooled=BoardFactors(F=1, M=0), boards={},
                       ref_mac=rm, ref_fc=rf)
        return [np.log(model_cycles(ops, "cortex-m4", p, p.pooled, "reference") / (ms * mhz * 1e3)) for ops, ms in rows]

    rm, rf = np.exp(least_squares(residuals, np.log([30.0, 15.0])).x)
    return float(rm), float(rf)


class CalibrationRow(BaseModel):
    target: str
    bench: str
    published_ms: float
    fitted_ms: float  # with all rows in the fit
    loo_ms: float  # with this row left out of the fit
    loo_error: float  # loo_ms / published_ms - 1
    source: str


def calibrate(features: dict[str, list[OpCost]]) -> tuple[CostParams, list[CalibrationRow]]:
    """Fit on every anchor row and leave each out once; ``features`` maps bench -> op costs."""
    rows = [(a.target, features[a.bench], a.ms) for a in ANCHORS]
    params = fit(rows)
    out = []
    for i, a in enumerate(ANCHORS):
        loo = fit(rows[:i] + rows[i + 1:])
        t = get_target(a.target)
        ms_all = model_cycles(features[a.bench], t.core, params, params.boards[t.name]) / (t.mhz * 1e3)
        ms_loo = model_cycles(features[a.bench], t.core, loo, loo.boards[t.name]) / (t.mhz * 1e3)
        out.append(CalibrationRow(target=a.target, bench=a.bench, published_ms=a.ms, fitted_ms=ms_all,
                                  loo_ms=ms_loo, loo_error=ms_loo / a.ms - 1, source=a.source))
    rm, rf = fit_reference([(features[a.bench], a.ms) for a in REFERENCE_KERNEL_ANCHORS], REFERENCE_KERNEL_MHZ)
    params.ref_mac, params.ref_fc = rm, rf
    return params, out


@lru_cache(maxsize=1)
def load_calibration() -> dict:
    if not CALIBRATION_FILE.is_file():
        raise EdgekitError(f"{CALIBRATION_FILE} is missing; run `python benchmarks/mcu_estimates.py` to fit it.")
    return json.loads(CALIBRATION_FILE.read_text())


# ---------------------------------------------------------------------------------------------
# The estimate


class OpEstimate(BaseModel):
    index: int
    op: str
    macs: int
    cycles: int


class Fits(BaseModel):
    ram: bool | None  # None: the board's RAM or the arena is unknown
    flash: bool | None
    arena_bytes: int | None
    runtime_ram_overhead_bytes: int = RUNTIME_RAM_OVERHEAD
    ram_needed_bytes: int | None
    ram_bytes: int | None
    model_bytes: int
    runtime_flash_overhead_bytes: int = RUNTIME_FLASH_OVERHEAD
    flash_needed_bytes: int
    flash_bytes: int | None


class McuEstimate(BaseModel):
    target: str
    board: str
    core: str
    mhz: float
    kernels: str
    latency_ms: float
    cycles: int
    macs: int
    per_op: list[OpEstimate]
    fits: Fits
    calibrated: bool  # the target's factors come from its own published measurements
    basis: str  # one line: what the figure rests on
    calibration: dict  # the anchor rows, their leave-one-out errors, the median
    cannot_know: str = ("caches and flash wait states at the chosen clock, where the linker puts weights and "
                        "arena, the compiler and its flags, the CMSIS-NN version")


def estimate_mcu(tflite_path: str | Path, target: str | Target = "nucleo-l4r5zi", *, kernels: str = "cmsis-nn",
                 arena_bytes: int | None = None, measure_arena: bool = True) -> McuEstimate:
    """Estimated latency of one inference of an int8 .tflite on ``target``, per op, and whether it fits.

    ``arena_bytes``: TFLM's arena when already measured (mcu.json); otherwise measured here with
    the real TFLM interpreter in a child process unless ``measure_arena`` is False.
    """
    if kernels not in ("cmsis-nn", "reference"):
        raise EdgekitError(f"--kernels must be cmsis-nn or reference, got {kernels!r}.")
    t = target if isinstance(target, Target) else get_target(target)
    path = Path(tflite_path)
    data = tflite_file.read_tflite_bytes(path)
    ins, _ = tflite_file.io_types(tflite_file.parse_model(data))
    if any(x not in ("INT8", "UINT8") for x in ins):
        raise EdgekitError(f"{path} takes {'/'.join(ins)} input; the MCU estimate is for full-int8 models "
                           "(export with --precision int8 and calibration data).")
    cal = load_calibration()
    p = CostParams.model_validate(cal["params"])
    f = p.factors(t)
    ops = op_costs(path)
    per_op = [OpEstimate(index=o.index, op=o.op, macs=o.macs, cycles=int(round(op_cycles(o, t.core, p, f, kernels))))
              for o in ops]
    cycles = sum(r.cycles for r in per_op)
    if arena_bytes is None and measure_arena:
        from edgekit.runtime.tflm import measure_arena as _measure

        arena_bytes = _measure(path)
    ram_needed = None if arena_bytes is None else arena_bytes + RUNTIME_RAM_OVERHEAD
    flash_needed = len(data) + RUNTIME_FLASH_OVERHEAD
    fits = Fits(
        ram=None if ram_needed is None or t.ram_bytes is None else ram_needed <= t.ram_bytes,
        flash=None if t.flash_bytes is None else flash_needed <= t.flash_bytes,
        arena_bytes=arena_bytes, ram_needed_bytes=ram_needed, ram_bytes=t.ram_bytes,
        model_bytes=len(data), flash_needed_bytes=flash_needed, flash_bytes=t.flash_bytes,
    )
    if kernels == "reference":
        basis = ("TFLM reference kernels, fitted on the only published reference-kernel rows (an RV32 core at "
                 "336 MHz), applied per clock to this Arm core: a rough figure")
    elif t.calibrated:
        basis = f"calibrated on {t.name}'s published MLPerf Tiny results (TFLM + CMSIS-NN)"
    elif t.calibrated_on:
        basis = f"extrapolated by clock from {t.calibrated_on} (same core class, {t.core})"
    else:
        basis = f"extrapolated: {t.core}'s SIMD width and peak MACs/cycle with the pooled factors of all boards"
    rows = cal["rows"]
    return McuEstimate(
        target=t.name, board=t.board, core=t.core, mhz=t.mhz, kernels=kernels,
        latency_ms=cycles / (t.mhz * 1e3), cycles=cycles, macs=sum(o.macs for o in ops), per_op=per_op, fits=fits,
        calibrated=t.calibrated and kernels == "cmsis-nn", basis=basis,
        calibration={"rows": rows, "median_loo_error": cal["median_loo_error"], "commit": cal["provenance"]["commit"],
                     "file": "benchmarks/results/mcu_estimates.md"},
    )
