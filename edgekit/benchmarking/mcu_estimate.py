"""How many milliseconds one inference takes on a Cortex-M board, from how CMSIS-NN's kernels work.

    estimate_mcu("model_int8.tflite", "nucleo-l4r5zi") -> McuEstimate
        # latency_ms, expected_error, basis, per_op, fits

The model, per operator of an int8 .tflite run by TFLM + CMSIS-NN on board ``b`` of SIMD family ``f``::

    cycles = F_b * work_f(op) + W_b * dense_weight_bytes(op)

- ``work_f(op)``: the kernel's instruction-stream cycles, counted before any fit from CMSIS-NN's
  source (:mod:`edgekit.benchmarking.mcu_kernels`): MACs at the kernel's cycles per MAC, divided by
  the share of SIMD lanes the reduced dimension fills (``kh*kw*cin`` of an im2col conv, ``cin`` of a
  1x1 conv and of a dense layer over 4 (DSP) or 16 (Helium) int8 lanes; channels of a depthwise conv
  over 4 lanes on both, since both widen to 32-bit); im2col elements and copy calls; one
  requantisation per output element; pooling/elementwise bytes; a fixed cost per operator.
- ``F_b``: the board's factor on that count (compiler, flash wait states on code and constants,
  bus contention, the kernel generation of its TFLM): one number per measured board.
- ``W_b``: cycles per weight byte of a dense layer (each weight is read exactly once per inference,
  so no cache holds it: a stream from flash): one number per measured board, never negative.

Two numbers per board, three boards: six fitted numbers on nine published rows
(:data:`edgekit.benchmarking.mcu_targets.ANCHORS`). ``calibrate`` also refits with each row, each
benchmark and each board left out; the leave-one-benchmark-out error of a core class (a model the fit
never saw, on a board it did) is the expected error shown beside every estimate of that class, and
the leave-one-board-out error is the one shown for boards nobody measured.

``basis`` says what a figure rests on: ``"analytic"`` (this model). An estimate from instruction
counts of an emulated core carries ``"emulated counts"``; :data:`BASES` lists both.

No TensorFlow here: ops and shapes come from :mod:`edgekit.tflite_file`.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from edgekit import tflite_file
from edgekit.benchmarking.mcu_kernels import CORE_ISSUE, KERNELS, KernelCosts
from edgekit.benchmarking.mcu_targets import (ANCHORS, CORES, REFERENCE_KERNEL_ANCHORS, REFERENCE_KERNEL_MHZ, Target,
                                              get_target)
from edgekit.errors import EdgekitError

CALIBRATION_FILE = Path(__file__).with_name("mcu_calibration.json")
BASES = ("analytic", "emulated counts")
RESULTS_FILE = "benchmarks/results/mcu_estimates.md"
# Rows with fewer dense-layer weight bytes than this carry no information on W_b (the kws/vww
# classifiers hold < 1 KB): a fold without such a row keeps W_b = 0 instead of fitting noise.
MIN_DENSE_BYTES = 16 * 1024
# RAM TFLM needs beyond the arena: interpreter and allocator objects, op registrations,
# persistent buffers outside the arena and the stack of the deepest kernel; flash for the
# TFLM + CMSIS-NN code of a typical model's kernels. Order-of-magnitude figures, stated here.
RUNTIME_RAM_OVERHEAD = 16 * 1024
RUNTIME_FLASH_OVERHEAD = 96 * 1024
MVE_DW_CH_BLOCK = 124  # CH_IN_BLOCK_MVE of arm_depthwise_conv_s8_opt: channels per column-buffer pass


class OpCost(BaseModel):
    """The shape facts of one operator that the cost model reads."""

    index: int
    op: str
    kind: str  # conv | pw | dw | fc | other
    macs: int
    outputs: int  # output elements (one requantisation each)
    vec: int  # the reduced dimension the matrix kernels vectorise (kh*kw*cin, cin, in_features)
    channels: int  # depthwise: channels (the lanes of its kernel)
    pixels: int  # output positions of a conv / depthwise conv (one im2col column each)
    kh: int  # kernel rows (one contiguous copy per row and output position for an im2col conv)
    taps: int  # kernel positions (one copy per tap and output position for a depthwise conv)
    dense_weight_bytes: int  # int8 weights of a dense layer, read once per inference
    weight_bytes: int  # all constant bytes the op reads (weights, bias)
    act_bytes: int  # int8 activations read and written


def _tensor_dims(sg, i) -> list[int]:
    return [max(d, 1) for d in tflite_file.tensor_shape(sg.tensors[i])]


def _nelem(sg, i) -> int:
    return int(np.prod(_tensor_dims(sg, i) or [1]))


def op_costs(tflite_path: str | Path) -> list[OpCost]:
    """Per operator of the main subgraph (execution order): its kind and units of work."""
    model = tflite_file.read_model(tflite_path)
    sg = model.subgraphs[0]
    rows = []
    for o in tflite_file.operators(model):
        ins = [i for i in o.inputs if i >= 0]
        const = {i for i in ins if tflite_file.buffer_array(model, sg.tensors[i]) is not None}
        wbytes = sum(_nelem(sg, i) * (4 if tflite_file.tensor_type_name(sg.tensors[i].type) == "INT32" else 1)
                     for i in const)
        out = _nelem(sg, o.outputs[0]) if o.outputs else 0
        act = sum(_nelem(sg, i) for i in ins if i not in const) + out
        r = dict(kind="other", macs=0, vec=0, channels=0, pixels=0, kh=0, taps=0, dense=0)
        try:
            if o.op in ("CONV_2D", "TRANSPOSE_CONV"):  # filter [cout, kh, kw, cin]
                cout, kh, kw, cin = _tensor_dims(sg, ins[1])
                pix = out // cout
                macs = out * kh * kw * cin if o.op == "CONV_2D" else _nelem(sg, ins[2]) * cout * kh * kw
                r.update(kind="pw" if kh * kw == 1 else "conv", macs=macs, vec=kh * kw * cin, pixels=pix, kh=kh,
                         taps=kh * kw)
            elif o.op == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, cout]
                _, kh, kw, ch = _tensor_dims(sg, ins[1])
                r.update(kind="dw", macs=out * kh * kw, channels=ch, pixels=out // ch, kh=kh, taps=kh * kw)
            elif o.op == "FULLY_CONNECTED":  # weights [units, in_features]
                units, feats = _tensor_dims(sg, ins[1])[-2:]
                r.update(kind="fc", macs=out * feats, vec=feats, dense=units * feats if ins[1] in const else 0)
            elif o.op == "BATCH_MATMUL":
                feats = _tensor_dims(sg, ins[0])[-1]
                r.update(kind="fc", macs=out * feats, vec=feats)
        except (IndexError, ValueError, ZeroDivisionError):
            r = dict(kind="other", macs=0, vec=0, channels=0, pixels=0, kh=0, taps=0, dense=0)
        rows.append(OpCost(index=o.index, op=o.op, kind=r["kind"], macs=int(r["macs"]), outputs=int(out),
                           vec=int(r["vec"]), channels=int(r["channels"]), pixels=int(r["pixels"]), kh=int(r["kh"]),
                           taps=int(r["taps"]), dense_weight_bytes=int(r["dense"]), weight_bytes=int(wbytes),
                           act_bytes=int(act)))
    return rows


def lane_use(vec: int, lanes: int) -> float:
    """Share of SIMD lanes filled when a dimension of ``vec`` values is processed ``lanes`` at a time."""
    if vec <= 0 or lanes <= 1:
        return 1.0
    return vec / (lanes * -(-vec // lanes))


def op_work(op: OpCost, k: KernelCosts) -> float:
    """Instruction-stream cycles of one operator on a SIMD family, from the kernel costs alone (no fit)."""
    cycles = k.op
    if op.kind in ("pw", "conv", "fc"):
        cycles += k.mat_mac * op.macs / lane_use(op.vec, k.mat_lanes) + k.requant * op.outputs
        if op.kind == "conv":
            cycles += k.im2col_elem * op.pixels * op.vec + k.im2col_call * op.pixels * op.kh
    elif op.kind == "dw":
        passes = -(-op.channels // MVE_DW_CH_BLOCK) if k.family == "mve" else 1
        cycles += (k.dw_mac * op.macs / lane_use(op.channels, k.dw_lanes) + k.requant * op.outputs
                   + k.im2col_elem * op.macs + k.im2col_call * op.pixels * op.taps * passes)
    else:
        cycles += k.elem * op.act_bytes
    return cycles


def family(core: str) -> str:
    return CORES[core].family


# ---------------------------------------------------------------------------------------------
# The fitted numbers


class BoardFactors(BaseModel):
    F: float  # multiplies the kernels' instruction-stream cycles
    W: float  # cycles per dense-layer weight byte


class CostParams(BaseModel):
    boards: dict[str, BoardFactors]
    pooled: BoardFactors  # geometric mean of F, mean of W: what a board nobody measured gets
    # --kernels reference: cycles per MAC (conv-like, dense) of TFLM's portable kernels, on the RV32 rows
    ref_mac: float = 0.0
    ref_fc: float = 0.0

    def factors(self, target: Target) -> BoardFactors:
        return self.boards.get(target.calibrated_on or "", self.pooled)


def model_work(ops: list[OpCost], core: str) -> tuple[float, int]:
    """(kernel-count cycles, dense weight bytes) of a whole model on ``core``."""
    k = KERNELS[family(core)]
    return float(sum(op_work(o, k) for o in ops)), int(sum(o.dense_weight_bytes for o in ops))


def op_cycles(op: OpCost, core: str, f: BoardFactors, p: CostParams, kernels: str = "cmsis-nn",
              issue: float = 1.0) -> float:
    if kernels == "reference":
        if op.kind == "fc":
            return p.ref_fc * op.macs + KERNELS["scalar"].op
        if op.kind != "other":
            return p.ref_mac * op.macs + KERNELS["scalar"].op
        return KERNELS["scalar"].elem * op.act_bytes + KERNELS["scalar"].op
    return f.F * issue * op_work(op, KERNELS[family(core)]) + f.W * op.dense_weight_bytes


Row = tuple[str, list[OpCost], float]  # (target name, op costs, published ms)


def _fit_board(rows: list[Row]) -> BoardFactors:
    """F and W of one board by least squares on log latency (relative error), W >= 0.

    With no dense-heavy row among ``rows`` W is not identifiable and stays 0."""
    from scipy.optimize import least_squares

    t = get_target(rows[0][0])
    work = [model_work(ops, t.core) for _, ops, _ in rows]
    cycles = [ms * t.mhz * 1e3 for _, _, ms in rows]
    has_dense = any(w >= MIN_DENSE_BYTES for _, w in work)

    def residuals(theta):
        F, W = math.exp(theta[0]), (math.exp(theta[1]) if has_dense else 0.0)
        return [math.log((F * c + W * w) / y) for (c, w), y in zip(work, cycles)]

    x0 = [math.log(np.median([y / c for (c, _), y in zip(work, cycles)])), 0.0]
    if not has_dense:
        x0 = x0[:1] + [0.0]
        sol = least_squares(lambda th: residuals([th[0], 0.0]), x0[:1], bounds=(-20, 20)).x
        return BoardFactors(F=math.exp(sol[0]), W=0.0)
    sol = least_squares(residuals, x0, bounds=([-20, -30], [20, 20])).x
    return BoardFactors(F=math.exp(sol[0]), W=math.exp(sol[1]))


def fit_cost_model(rows: list[Row]) -> CostParams:
    """F_b and W_b of every board in ``rows`` (each board fitted on its own rows)."""
    boards = {}
    for name in sorted({r[0] for r in rows}):
        boards[name] = _fit_board([r for r in rows if r[0] == name])
    pooled = BoardFactors(F=float(np.exp(np.mean([math.log(f.F) for f in boards.values()]))),
                          W=float(np.mean([f.W for f in boards.values()])))
    return CostParams(boards=boards, pooled=pooled)


def n_fitted(params: CostParams) -> int:
    """Numbers the CMSIS-NN fit takes from the rows: F and W per board."""
    return 2 * len(params.boards)


def predict_ms(ops: list[OpCost], target: Target, params: CostParams, board: str | None = None) -> float:
    f = params.boards[board] if board else params.factors(target)
    return sum(op_cycles(o, target.core, f, params) for o in ops) / (target.mhz * 1e3)


def fit_reference(rows: list[tuple[list[OpCost], float]], mhz: float) -> tuple[float, float]:
    """Cycles per MAC (conv-like, dense) of TFLM's reference kernels, from rows of one core."""
    from scipy.optimize import least_squares

    def residuals(theta):
        rm, rf = np.exp(theta)
        p = CostParams(boards={}, pooled=BoardFactors(F=1, W=0), ref_mac=rm, ref_fc=rf)
        return [np.log(sum(op_cycles(o, "cortex-m4", p.pooled, p, "reference") for o in ops) / (ms * mhz * 1e3))
                for ops, ms in rows]

    rm, rf = np.exp(least_squares(residuals, np.log([30.0, 15.0])).x)
    return float(rm), float(rf)


# ---------------------------------------------------------------------------------------------
# Calibration and its out-of-sample errors


class CalibrationRow(BaseModel):
    target: str
    core: str
    bench: str
    published_ms: float
    fitted_ms: float  # with all rows in the fit
    loo_ms: float  # this row left out
    lobo_ms: float  # this row's benchmark left out on every board (a model the fit never saw)
    loboard_ms: float  # this row's board left out (pooled factors of the other boards)
    source: str

    def error(self, which: str) -> float:
        return getattr(self, f"{which}_ms") / self.published_ms - 1


class ExpectedError(BaseModel):
    """The error to expect of an estimate, from refits that left the relevant rows out."""

    median: float  # median |error|
    worst: float  # largest |error|
    n: int
    how: str  # which refits, which rows


def calibrate(features: dict[str, list[OpCost]]) -> tuple[CostParams, list[CalibrationRow]]:
    """Fit on every anchor row, then refit leaving out each row, each benchmark, each board."""
    rows: list[Row] = [(a.target, features[a.bench], a.ms) for a in ANCHORS]
    params = fit_cost_model(rows)
    lobo = {b: fit_cost_model([r for r, a in zip(rows, ANCHORS) if a.bench != b]) for b in {a.bench for a in ANCHORS}}
    out = []
    for i, a in enumerate(ANCHORS):
        t = get_target(a.target)
        ops = features[a.bench]
        loo = fit_cost_model(rows[:i] + rows[i + 1:])
        others = fit_cost_model([r for r in rows if r[0] != a.target])
        out.append(CalibrationRow(
            target=a.target, core=t.core, bench=a.bench, published_ms=a.ms,
            fitted_ms=predict_ms(ops, t, params, a.target), loo_ms=predict_ms(ops, t, loo, a.target),
            lobo_ms=predict_ms(ops, t, lobo[a.bench], a.target),
            loboard_ms=predict_ms(ops, t.model_copy(update={"calibrated_on": None}), others),
            source=a.source))
    rm, rf = fit_reference([(features[a.bench], a.ms) for a in REFERENCE_KERNEL_ANCHORS], REFERENCE_KERNEL_MHZ)
    params.ref_mac, params.ref_fc = rm, rf
    return params, out


def summarise(rows: list[CalibrationRow], which: str, how: str) -> ExpectedError:
    errs = [abs(r.error(which)) for r in rows]
    return ExpectedError(median=float(np.median(errs)), worst=float(max(errs)), n=len(errs), how=how)


def expected_errors(rows: list[CalibrationRow]) -> dict[str, ExpectedError]:
    """Per core class with a measured board: its leave-one-benchmark-out error; ``"unmeasured"``: the
    leave-one-board-out error over all rows (what a board the fit never saw can expect)."""
    out = {}
    for core in sorted({r.core for r in rows}):
        sel = [r for r in rows if r.core == core]
        out[core] = summarise(sel, "lobo", f"leave-one-benchmark-out on {', '.join(sorted({r.target for r in sel}))} "
                                           f"({', '.join(r.bench for r in sel)})")
    out["unmeasured"] = summarise(rows, "loboard", "leave-one-board-out over all measured boards")
    return out


@lru_cache(maxsize=1)
def load_calibration() -> dict:
    if not CALIBRATION_FILE.is_file():
        raise EdgekitError(f"{CALIBRATION_FILE} is missing; run `python benchmarks/mcu_estimates.py` to fit it.")
    return json.loads(CALIBRATION_FILE.read_text())


# ---------------------------------------------------------------------------------------------
# The estimate


class _ReadByKey(BaseModel):
    # mcu.json's estimate was a dict: scripts that read ``report["mcu"]["estimate"]["summary"]`` keep
    # working, as with edgekit's records (edgekit's own code reads attributes)
    def __getitem__(self, key: str):
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in type(self).model_fields

    def get(self, key: str, default=None):
        return getattr(self, key) if key in type(self).model_fields else default


class OpEstimate(_ReadByKey):
    index: int
    op: str
    macs: int
    cycles: int


class Fits(_ReadByKey):
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


class CalibrationSource(_ReadByKey):
    """Where an estimate's fitted factors and their out-of-sample errors are written down."""

    commit: str | None = None
    file: str
    fitted_numbers: int | None = None
    rows: int


class McuEstimate(_ReadByKey):
    target: str
    board: str
    core: str
    mhz: float
    kernels: str
    latency_ms: float
    expected_error: float | None  # median |error| of this kind of estimate out of sample (0.2 = 20%)
    expected_error_worst: float | None  # the largest such error
    expected_error_from: str  # which refits gave it
    basis: str  # one of BASES
    basis_detail: str  # one line: what the figure rests on
    summary: str  # the one line every user-facing place prints
    cycles: int
    macs: int
    per_op: list[OpEstimate]
    fits: Fits
    calibrated: bool  # the target's factors come from its own published measurements
    calibration: CalibrationSource
    cannot_know: str = ("caches and flash wait states at the chosen clock, where the linker puts weights and "
                        "arena, the compiler and its flags, the CMSIS-NN version")


def format_estimate(latency_ms: float, expected: float | None, basis: str, target: str) -> str:
    """``"12.3 ms ± 14% on ek-ra6m4 (analytic)"``: a latency never printed without its expected error."""
    err = "± ?" if expected is None else f"± {expected:.0%}"
    ms = f"{latency_ms:.3g}" if latency_ms < 100 else f"{latency_ms:,.0f}"
    return f"{ms} ms {err} on {target} ({basis})"


def _expected(cal: dict, t: Target, kernels: str) -> ExpectedError | None:
    table = {k: ExpectedError.model_validate(v) for k, v in cal.get("expected_error", {}).items()}
    if kernels == "reference":
        return table.get("reference")
    if t.calibrated:
        return table.get(t.core)
    # a board nobody measured, even of a measured core class: the board-to-board spread dominates
    return table.get("unmeasured")


def target_expected_error(target: str | Target, kernels: str = "cmsis-nn") -> ExpectedError | None:
    """The expected error of an estimate on ``target`` (what `edgekit targets` lists)."""
    t = target if isinstance(target, Target) else get_target(target)
    return _expected(load_calibration(), t, kernels)


def _basis_detail(t: Target, kernels: str) -> str:
    if kernels == "reference":
        return ("TFLM reference kernels, fitted on the only published reference-kernel rows (an RV32 core at "
                "336 MHz), applied per clock to this Arm core: a rough figure")
    if t.calibrated:
        return (f"CMSIS-NN kernel instruction counts x {t.name}'s own factors, fitted on its published MLPerf Tiny "
                f"rows (TFLM + CMSIS-NN)")
    if t.calibrated_on:
        return (f"CMSIS-NN kernel instruction counts x the factors of {t.calibrated_on} (same core class, "
                f"{t.core}), scaled by clock: this board was never measured")
    extra = " and dual issue (CoreMark/MHz)" if t.core in CORE_ISSUE else ""
    return (f"CMSIS-NN kernel instruction counts for {t.core}'s SIMD family{extra} x the pooled factors of the "
            "measured boards: an extrapolation")


def estimate_mcu(tflite_path: str | Path, target: str | Target = "nucleo-l4r5zi", *, kernels: str = "cmsis-nn",
                 arena_bytes: int | None = None, measure_arena: bool = True, counts=None) -> McuEstimate:
    """Estimated latency of one inference of an int8 .tflite on ``target``, its expected error, per op, and
    whether it fits.

    ``arena_bytes``: TFLM's arena when already measured (mcu.json); otherwise measured here with
    the real TFLM interpreter in a child process unless ``measure_arena`` is False. ``counts``: the
    model's instructions counted on an emulated core (``edgekit emulate --json``, an
    :class:`~edgekit.records.EmulationResult`): the latency then rests on them (basis
    ``"emulated counts"``, :mod:`edgekit.benchmarking.mcu_counts`); the per-op split stays analytic.
    """
    if kernels not in ("cmsis-nn", "reference"):
        raise EdgekitError(f"--kernels must be cmsis-nn or reference, got {kernels!r}.")
    t = target if isinstance(target, Target) else get_target(target)
    path = Path(tflite_path)
    data = tflite_file.open_tflite(path).data  # read and parsed once per run
    ins, _ = tflite_file.io_types(tflite_file.read_model(path))
    if any(x not in ("INT8", "UINT8") for x in ins):
        raise EdgekitError(f"{path} takes {'/'.join(ins)} input; the MCU estimate is for full-int8 models "
                           "(export with --precision int8 and calibration data).")
    cal = load_calibration()
    p = CostParams.model_validate(cal["params"])
    f = p.factors(t)
    issue = CORE_ISSUE.get(t.core, 1.0) if t.calibrated_on is None else 1.0
    ops = op_costs(path)
    per_op = [OpEstimate(index=o.index, op=o.op, macs=o.macs,
                         cycles=int(round(op_cycles(o, t.core, f, p, kernels, issue)))) for o in ops]
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
    exp = _expected(cal, t, kernels)
    latency = cycles / (t.mhz * 1e3)
    basis, detail = "analytic", _basis_detail(t, kernels)
    if counts is not None:
        from edgekit.benchmarking import mcu_counts

        latency, median = mcu_counts.latency_from_counts(counts, t.name)
        klass = mcu_counts.CORE_CLASS[t.core]
        fitted = mcu_counts.load_count_calibration()["classes"][klass]
        exp = ExpectedError(median=median, worst=fitted["lobo_max_abs_error"], n=len(fitted["rows"]),
                            how=f"leave-one-benchmark-out of the count-based model for {klass} "
                                "(benchmarks/results/mcu_emulated_20261206T2039.md)")
        cycles = int(round(latency * t.mhz * 1e3))
        basis = "emulated counts"
        detail = (f"instructions counted on QEMU's {mcu_counts.EMULATED_CORE[t.core]} running the model with TFLM + "
                  f"CMSIS-NN, x cycles per instruction fitted for {klass} on MLPerf Tiny rows; per-op split analytic")
    return McuEstimate(
        target=t.name, board=t.board, core=t.core, mhz=t.mhz, kernels=kernels, latency_ms=latency,
        expected_error=None if exp is None else exp.median, expected_error_worst=None if exp is None else exp.worst,
        expected_error_from="no out-of-sample figure recorded" if exp is None else exp.how,
        basis=basis, basis_detail=detail,
        summary=format_estimate(latency, None if exp is None else exp.median, basis, t.name),
        cycles=cycles, macs=sum(o.macs for o in ops), per_op=per_op, fits=fits,
        calibrated=t.calibrated and kernels == "cmsis-nn",
        calibration=CalibrationSource(commit=cal["provenance"]["commit"], file=cal.get("results_file", RESULTS_FILE),
                                      fitted_numbers=cal.get("fitted_numbers"), rows=len(cal.get("rows", []))),
    )
