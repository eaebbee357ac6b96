"""Microcontroller targets, their core classes, and the published latencies the estimate is fitted on.

Three tables, all facts with a source, no fitted numbers (those are in ``mcu_calibration.json``):

- ``CORES``: per Cortex-M core class, which CMSIS-NN code path it builds (``family``: the DSP
  extension's SMLAD kernels, Helium/MVE's vector kernels, or plain C); the cycles of each path's
  kernels are counted in :mod:`edgekit.benchmarking.mcu_kernels`.
- ``TARGETS``: boards users name, with clock, SRAM and flash from the vendors' datasheets, and
  which published board calibrates them (``calibrated_on``; ``None``: extrapolated by core class
  and clock).
- ``ANCHORS``: the MLPerf Tiny closed-division rows of TFLM + CMSIS-NN on Cortex-M CPUs
  (``/work/shared/MCU_ANCHORS.md``; MLCommons ``tiny_results_v0.5 .. v1.2``), and the TFLM
  reference-kernel row used for ``--kernels reference``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from edgekit.errors import EdgekitError


class CoreClass(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # "cortex-m4"
    family: str  # the CMSIS-NN code path it builds: dsp (ARM_MATH_DSP), mve (ARM_MATH_MVEI), scalar
    simd: str  # what the family's kernels have to work with


CORES: dict[str, CoreClass] = {c.name: c for c in [
    CoreClass(name="cortex-m0plus", family="scalar", simd="no DSP extension: C kernels, MULS, loads dominate"),
    CoreClass(name="cortex-m3", family="scalar", simd="no DSP extension: C kernels, MLA"),
    CoreClass(name="cortex-m4", family="dsp", simd="DSP extension: SMLAD, 2 int16 MACs per instruction, 4 int8 per word"),
    CoreClass(name="cortex-m33", family="dsp", simd="DSP extension: SMLAD, 2 int16 MACs per instruction, 4 int8 per word"),
    CoreClass(name="cortex-m7", family="dsp", simd="DSP extension, dual issue"),
    CoreClass(name="cortex-m55", family="mve", simd="Helium (MVE): 16 int8 lanes per vector, two beats per cycle"),
    CoreClass(name="cortex-m85", family="mve", simd="Helium (MVE): 16 int8 lanes per vector, two beats per cycle"),
]}


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    board: str
    core: str  # a key of CORES
    mhz: float
    ram_bytes: int | None  # on-chip SRAM usable for the arena, stack and runtime
    flash_bytes: int | None  # on-chip (or, for the Pico, board) flash for code and the model
    calibrated_on: str | None = None  # the anchor board whose measurements fix this target's factors

    @property
    def calibrated(self) -> bool:
        return self.calibrated_on == self.name


_K = 1024
TARGETS: dict[str, Target] = {t.name: t for t in [
    Target(name="nucleo-l4r5zi", board="ST NUCLEO-L4R5ZI (STM32L4R5ZI)", core="cortex-m4", mhz=120,
           ram_bytes=640 * _K, flash_bytes=2048 * _K, calibrated_on="nucleo-l4r5zi"),
    Target(name="ek-ra6m4", board="Renesas EK-RA6M4 (R7FA6M4AF3CFB)", core="cortex-m33", mhz=200,
           ram_bytes=256 * _K, flash_bytes=1024 * _K, calibrated_on="ek-ra6m4"),
    Target(name="ek-ra8d1", board="Renesas EK-RA8D1 (R7FA8D1BHECBD)", core="cortex-m85", mhz=480,
           ram_bytes=1024 * _K, flash_bytes=2048 * _K, calibrated_on="ek-ra8d1"),
    Target(name="nucleo-h743zi", board="ST NUCLEO-H743ZI (STM32H743ZI)", core="cortex-m7", mhz=480,
           ram_bytes=1024 * _K, flash_bytes=2048 * _K),
    Target(name="nucleo-h7a3zi", board="ST NUCLEO-H7A3ZI-Q (STM32H7A3ZI)", core="cortex-m7", mhz=280,
           ram_bytes=1376 * _K, flash_bytes=2048 * _K),
    Target(name="nucleo-u575zi", board="ST NUCLEO-U575ZI-Q (STM32U575ZI)", core="cortex-m33", mhz=160,
           ram_bytes=786 * _K, flash_bytes=2048 * _K, calibrated_on="ek-ra6m4"),
    # A board whose flash holds a MobileNetV2 1.0 (2.2 M int8 weights): STM32U5A9, 4 MB flash, 2514 KB SRAM.
    Target(name="stm32u5a9j-dk", board="ST STM32U5A9J-DK (STM32U5A9NJ)", core="cortex-m33", mhz=160,
           ram_bytes=2514 * _K, flash_bytes=4096 * _K, calibrated_on="ek-ra6m4"),
    Target(name="nrf5340-dk", board="Nordic nRF5340 DK (application core)", core="cortex-m33", mhz=128,
           ram_bytes=512 * _K, flash_bytes=1024 * _K, calibrated_on="ek-ra6m4"),
    Target(name="arduino-nano-33-ble", board="Arduino Nano 33 BLE (nRF52840)", core="cortex-m4", mhz=64,
           ram_bytes=256 * _K, flash_bytes=1024 * _K, calibrated_on="nucleo-l4r5zi"),
    Target(name="rpi-pico", board="Raspberry Pi Pico (RP2040, one core)", core="cortex-m0plus", mhz=133,
           ram_bytes=264 * _K, flash_bytes=2048 * _K),
]}

_GENERIC = re.compile(r"^(cortex-)?(m0\+|m0plus|m3|m4f?|m7|m33|m55|m85)@(\d+(?:\.\d+)?)$", re.I)


def get_target(name: str) -> Target:
    """A board from :data:`TARGETS`, or a generic ``cortex-m4@80`` (core class @ MHz, RAM/flash unknown)."""
    key = name.strip().lower()
    if key in TARGETS:
        return TARGETS[key]
    m = _GENERIC.match(key)
    if m:
        core = m.group(2).replace("+", "plus").rstrip("f")
        core = "cortex-" + ("m0plus" if core.startswith("m0") else core)
        mhz = float(m.group(3))
        if mhz <= 0:
            raise EdgekitError(f"target {name!r}: the clock must be positive MHz, e.g. cortex-m4@80.")
        cal = {"cortex-m4": "nucleo-l4r5zi", "cortex-m33": "ek-ra6m4", "cortex-m85": "ek-ra8d1"}.get(core)
        return Target(name=f"{core}@{mhz:g}", board=f"generic {core} at {mhz:g} MHz", core=core, mhz=mhz,
                      ram_bytes=None, flash_bytes=None, calibrated_on=cal)
    raise EdgekitError(
        f"unknown target {name!r}; use one of {', '.join(TARGETS)} (see `edgekit targets`) "
        "or a generic core@MHz such as cortex-m4@80."
    )


class Anchor(BaseModel):
    """One published latency: ``bench`` on ``target``, milliseconds per inference."""

    model_config = ConfigDict(frozen=True)

    target: str
    bench: str  # kws | vww | ad
    ms: float
    round: str
    engine: str
    source: str


def _rows(target, rnd, engine, src, kws, vww, ad):
    return [Anchor(target=target, bench=b, ms=ms, round=rnd, engine=engine, source=src)
            for b, ms in (("kws", kws), ("vww", vww), ("ad", ad))]


_SRC = "MLCommons tiny_results_{r} closed/{s}/results/*/{{kws,vww,ad}}/performance/results.txt (1000 / median inf/s)"
ANCHORS: list[Anchor] = [
    *_rows("nucleo-l4r5zi", "v0.5", "TFLM v2.3.1 + CMSIS-NN, GCC", _SRC.format(r="v0.5", s="reference_submissions"),
           181.92, 600.60, 10.052),
    *_rows("ek-ra6m4", "v0.7", "TFLM + CMSIS-NN, GCC 8.3.1", _SRC.format(r="v0.7", s="renesas"),
           50.571, 162.36, 4.613),
    *_rows("ek-ra8d1", "v1.2", "TFLM + CMSIS-NN (Helium), LLVM 17", _SRC.format(r="v1.2", s="renesas"),
           3.465, 13.393, 0.531),
]

# TFLM with its portable reference kernels (no CMSIS-NN): the only published rows are Peng Cheng
# Lab's RV32 at 336 MHz (from its performance log). A 32-bit single-issue core running the same C
# kernels; used for --kernels reference on every Arm core, with that caveat stated in the output.
REFERENCE_KERNEL_ANCHORS: list[Anchor] = _rows(
    "rv32@336", "v1.0", "TFLM reference kernels (RV32, 336 MHz)",
    "MLCommons tiny_results_v1.0 closed/pengcheng performance log", 325.67, 846.65, 13.651)
REFERENCE_KERNEL_MHZ = 336.0

# The MLPerf Tiny reference models as the zoo builds them (MAC counts checked by tests against
# MCU_ANCHORS.md: kws 2,656,768; vww 7,489,664; ic 12,501,632; ad 264,192).
REFERENCE_MODELS: dict[str, tuple[str, dict]] = {
    "kws": ("ds_cnn", {"input_shape": (49, 10, 1), "mfcc_in_model": False, "num_classes": 12}),
    "vww": ("mobilenet_v1", {"input_shape": (96, 96, 3), "alpha": 0.25, "num_classes": 2}),
    "ic": ("resnet8", {"input_shape": (32, 32, 3), "num_classes": 10}),
    "ad": ("autoencoder_dense", {"input_shape": (640,)}),
}
REFERENCE_MACS = {"kws": 2_656_768, "vww": 7_489_664, "ic": 12_501_632, "ad": 264_192}
