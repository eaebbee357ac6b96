"""What each CMSIS-NN int8 kernel costs per unit of work, by SIMD family, counted from its source.

Written down before any fit: every constant below is an instruction count of the kernel's inner
loop in CMSIS-NN's public source (github.com/ARM-software/CMSIS-NN, ``Source/``), turned into
cycles with the issue rules of the cores' technical reference manuals. The latency model
(:mod:`edgekit.benchmarking.mcu_estimate`) multiplies these counts by the work of each operator
and fits only a board's memory-system/compiler factor on top.

Issue rules used (Arm TRMs):

- Cortex-M4 (DDI 0439) and Cortex-M33 (100230): single issue; SMLAD, SXTB16, SXTAB16, PKHBT/TB
  one cycle; back-to-back LDRs pipeline to about one cycle each. So one instruction ~ one cycle.
- Cortex-M7 (DDI 0489): dual issue of most ALU/load pairs. Arm's CoreMark/MHz (M4 3.42, M7 5.01)
  gives the ~0.68x instruction-stream time used for an uncalibrated M7 (``CORE_ISSUE``).
- Cortex-M55 (101051) and Cortex-M85 (101924): Helium (MVE) in two beats per cycle: a 128-bit
  vector instruction takes two cycles, and a vector load may overlap a vector multiply-accumulate,
  so a load/MAC pair costs about two cycles. 16 int8 lanes for ``VMLADAVA.S8``; 4 int32 lanes
  where a kernel widens int8 to int32 (``VLDRB.S32`` + ``VMLA``: the depthwise kernels).

The unit of work of each operator is counted from its shapes by :func:`op_work` in
``mcu_estimate``: MACs, im2col elements, output elements, weight bytes streamed once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class KernelCosts(BaseModel):
    """Cycles per unit of work of CMSIS-NN's int8 kernels on one SIMD family (before any fit)."""

    model_config = ConfigDict(frozen=True)

    family: str  # dsp | mve | scalar
    mat_mac: float  # per MAC of the matrix kernels (1x1 conv, im2col conv, fully connected) at full lanes
    mat_lanes: int  # int8 values one step of the matrix kernels consumes along the reduced dimension
    dw_mac: float  # per MAC of the depthwise kernel at full lanes
    dw_lanes: int  # channels one step of the depthwise kernel covers
    im2col_elem: float  # per element the conv / depthwise kernels copy into their column buffer
    im2col_call: float  # per contiguous run copied (call overhead of the memcpy / conversion loop)
    requant: float  # per output element: requantise (multiplier, shift), offset, clamp, store, loop setup
    elem: float  # per activation byte of a non-MAC op (pooling/mean, add, softmax, reshape copies)
    op: float  # per operator: TFLM's invoke loop, the kernel's Eval and the CMSIS-NN wrapper's checks
    source: str


KERNELS: dict[str, KernelCosts] = {k.family: k for k in [
    KernelCosts(
        family="dsp",
        # arm_nn_mat_mult_nt_t_s8 / arm_nn_mat_mult_kernel_s8_s16: a 2x2 block of outputs per 4 int8 of the
        # reduced dimension = 16 MACs in 8 SMLAD + 4 loads + 4..8 SXTB16 (read_and_pad) = 18 instructions.
        mat_mac=18 / 16, mat_lanes=4,
        # arm_depthwise_conv_s8_opt (DSP): 8 MACs (4 channels x 2 taps) per 6 loads, 4 SXTB16, 8 PKHBT/TB,
        # 4 SMLAD and 2 pointer updates = 24 instructions.
        dw_mac=24 / 8, dw_lanes=4,
        # arm_q7_to_q15_with_offset: 4 elements per LDR, 2 SXTAB16, 2 PKH, 2 STR, loop = 8 instructions.
        im2col_elem=8 / 4, im2col_call=10,
        # arm_nn_requantize (doubling high multiply via SMULL, rounding divide by 2^shift) ~10, offset add,
        # two clamps, byte store, loads of multiplier and shift ~6: 16 per output.
        requant=16,
        elem=2.0,  # arm_avgpool / mean: one load and add per byte, plus the final divide per output
        op=1500,  # not in CMSIS-NN: TFLM's MicroInterpreter loop, Eval's tensor lookups, the wrapper's checks
        source="CMSIS-NN DSP (ARM_MATH_DSP) kernels: Source/NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c, "
               "arm_nn_vec_mat_mult_t_s8.c, Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c, "
               "arm_depthwise_conv_s8_opt.c, arm_q7_to_q15_with_offset.c; one instruction ~ one cycle (M4/M33 TRM)",
    ),
    KernelCosts(
        family="mve",
        # arm_nn_mat_mult_nt_t_s8 (MVE inline asm): 4 rows x 16 int8 = 64 MACs in 5 VLDRB.8 + 4 VMLADAVA.S8;
        # dual-beat with load/MAC overlap ~ 10 cycles.
        mat_mac=10 / 64, mat_lanes=16,
        # arm_nn_depthwise_conv_nt_t_s8 (MVE): 4 channels x 4 pixels = 16 MACs per 5 VLDRB.S32 + 4 VMLA + 1 VADD
        # (kernel sum) = 10 instructions; int32 lanes, so 4 channels per vector.
        dw_mac=10 / 16, dw_lanes=4,
        # arm_memcpy_s8 into the int8 column buffer: a 16-byte VLDRB/VSTRB pair ~ 2 cycles, ~8 per call.
        im2col_elem=2 / 16, im2col_call=8,
        # arm_requantize_mve_32x4 (VQRDMULH, VSHL, rounding shift ~8) + VADD, VMAX, VMIN, VSTRB: 12 vector
        # instructions per 4 outputs at ~2 cycles, i.e. ~6 per output with the row-block setup.
        requant=6,
        elem=0.5,  # vectorised pooling / elementwise: 16 bytes per ~4 cycles
        op=1500,
        source="CMSIS-NN MVE (ARM_MATH_MVEI) kernels: arm_nn_mat_mult_nt_t_s8.c, arm_nn_vec_mat_mult_t_s8.c, "
               "arm_nn_depthwise_conv_nt_t_s8.c, arm_depthwise_conv_s8_opt.c, arm_memcpy_s8; two beats per "
               "cycle (M55/M85 TRM)",
    ),
    KernelCosts(
        family="scalar",
        # No DSP extension: CMSIS-NN falls back to plain C, per MAC LDRSB x2, offset ADD, MLA, loop ~ 5.
        mat_mac=5.0, mat_lanes=1, dw_mac=6.0, dw_lanes=1, im2col_elem=3.0, im2col_call=10, requant=20,
        elem=3.0, op=1500,
        source="CMSIS-NN's C fallbacks (no ARM_MATH_DSP): one multiply-accumulate per ~5 instructions",
    ),
]}

# Time of the same instruction stream relative to a single-issue core, used only for a core class
# with no measured board (its board factor is then the pooled one): the Cortex-M7 dual-issues, and
# Arm's CoreMark/MHz (M4 3.42, M7 5.01) puts the gain at ~1.46x on integer code.
CORE_ISSUE = {"cortex-m7": 3.42 / 5.01}
