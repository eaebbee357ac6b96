"""The MCU bundle's cross-build on emulated Cortex-M boards, without the TFLM sources.

A bare-metal program built with the bundle's own ``startup.c``, counter header and linker scripts
runs in qemu-system-arm on each of the three boards; SysTick under ``-icount shift=0`` must count
a loop of known length to within one tick. The toolchain and QEMU are Debian packages: they are
installed here when missing (CI runs as root), and the test fails with the command to run when
that is not possible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.convert import mcu_build
from edgekit.errors import EdgekitError

PACKAGES = ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "libstdc++-arm-none-eabi-newlib", "qemu-system-arm"]

LOOP_C = r"""
#include <stdint.h>
#include <stdio.h>
#include "edgekit_counter.h"
/* Two instructions per iteration (subs, bne): n iterations are 2n instructions. */
static void spin(uint32_t n) { __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n)); }
int main(void) {
  edgekit_counter_start();
  uint64_t t0 = edgekit_ticks(); spin(100000); uint64_t t1 = edgekit_ticks();
  spin(1100000); uint64_t t2 = edgekit_ticks();
  /* 1,000,000 more iterations in the second loop: the difference is 2,000,000 instructions,
     with the counter's own overhead cancelled. */
  printf("edgekit ticks %llu %llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
  return 7;
}
"""

FAULT_C = r"""
int main(void) {
  __asm__ volatile(".inst.n 0xde00");  /* a permanently undefined instruction: UsageFault */
  return 0;
}
"""


def _ensure_packages():
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm") and Path(
            "/usr/lib/arm-none-eabi/newlib").exists():
        return
    cmd = f"apt-get update && apt-get install -y {' '.join(PACKAGES)}"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"the Cortex-M toolchain and QEMU are missing; install them: {cmd}")
    r = subprocess.run(["sh", "-c", f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                        f"{' '.join(PACKAGES)}"], capture_output=True, text=True, timeout=900)
    if r.returncode != 0 or not shutil.which("arm-none-eabi-gcc") or not shutil.which("qemu-system-arm"):
        pytest.fail(f"could not install the Cortex-M toolchain and QEMU ({r.stderr.strip()[-200:]}); run: {cmd}")


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    _ensure_packages()
    d = tmp_path_factory.mktemp("boards")
    for name, text in mcu_build.build_files().items():
        (d / name).write_text(text)
    (d / "loop.c").write_text(LOOP_C)
    (d / "fault.c").write_text(FAULT_C)
    return d


def _build(d: Path, b: mcu_build.Board, src: str) -> Path:
    elf = d / f"{Path(src).stem}-{b.core}.elf"
    cmd = ["arm-none-eabi-gcc", *b.cpu_flags.split(), "-mthumb", "-O2", f"-I{d}", "--specs=rdimon.specs",
           "-nostartfiles", "-T", str(d / f"{b.machine}.ld"), str(d / "startup.c"), str(d / src), "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return elf


@pytest.mark.parametrize("core", list(mcu_build.BOARDS))
def test_bare_metal_loop_counts_instructions(board_dir, core):
    b = mcu_build.BOARDS[core]
    elf = _build(board_dir, b, "loop.c")
    r = subprocess.run(mcu_build.qemu_command(core, str(elf)), capture_output=True, text=True, timeout=60,
                       cwd=board_dir)
    # main's return value comes back as QEMU's exit status through semihosting.
    assert r.returncode == 7, (r.returncode, r.stdout, r.stderr)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("edgekit ticks")]
    assert line, r.stdout
    short, long = map(int, line[0].split()[2:])
    n_long = mcu_build.instructions(long, core)
    n_short = mcu_build.instructions(short, core)
    one_tick = 1e9 / b.clock_hz
    assert abs(n_long - n_short - 2_000_000) <= 2 * one_tick + 10, (n_short, n_long)
    assert abs(n_short - 200_000) <= 200, n_short  # the counter's own reads cost a few dozen instructions


def test_fault_exits_nonzero_with_its_name(board_dir):
    b = mcu_build.BOARDS["cortex-m4"]
    elf = _build(board_dir, b, "fault.c")
    r = subprocess.run(mcu_build.qemu_command(b.core, str(elf)), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "UsageFault" in r.stdout + r.stderr


def test_linker_scripts_follow_the_boards_memory_maps():
    m33 = mcu_build.linker_script(mcu_build.BOARDS["cortex-m33"])
    assert "ORIGIN = 0x10000000" in m33 and "ORIGIN = 0x38000000" in m33  # secure aliases
    m55 = mcu_build.linker_script(mcu_build.BOARDS["cortex-m55"])
    assert "CODE (rx) : ORIGIN = 0x00000000, LENGTH = 0x80000" in m55  # ITCM
    assert "RAM (rw) : ORIGIN = 0x20000000, LENGTH = 0x80000" in m55  # DTCM
    mk = mcu_build.makefile(["main.cc", "model_data.cc", "startup.c"])
    assert "-DTF_LITE_STATIC_MEMORY" in mk and "\nrun:" in mk and "arm-none-eabi-size" in mk
    # CMSIS-NN's fully connected sources are built first with single rounding (as LiteRT's dense
    # layers), keeping the defines TFLM's Makefile would have set itself; the rest with TFLM's own.
    from edgekit.benchmarking import tflm_build

    lib_rule = mk.split("$(TFLM_LIB):")[1].split("\n\n")[0]
    assert '"ADDITIONAL_DEFINES=$(FC_DEFINES)" BASE_GENDIR=$(TFLM_GEN) $(FC_OBJS)' in lib_rule
    assert lib_rule.rstrip().endswith("BASE_GENDIR=$(TFLM_GEN) microlite")
    assert "FC_DEFINES := -DCMSIS_NN -DKERNELS_OPTIMIZED_FOR_SPEED -DCMSIS_NN_USE_SINGLE_ROUNDING" in mk
    assert tflm_build.single_rounding_defines("cmsis-nn").split() == [
        "-DCMSIS_NN", "-DKERNELS_OPTIMIZED_FOR_SPEED", "-DCMSIS_NN_USE_SINGLE_ROUNDING"]
    fc = ".../obj/third_party_kernels/.../cmsis_nn/Source/FullyConnectedFunctions/arm_fully_connected_s8.o"
    vec = ".../cmsis_nn/Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.o"
    conv = ".../cmsis_nn/Source/ConvolutionFunctions/arm_convolve_s8.o"
    assert tflm_build.rounds_once(fc) and tflm_build.rounds_once(vec) and not tflm_build.rounds_once(conv)


ARENA_CHECK = """
#include <cstdint>
constexpr unsigned int kModelArenaSize = 19360;
{block}
static_assert(sizeof(tensor_arena) == EXPECTED, "arena");
"""


@pytest.mark.parametrize("core,expected", [("cortex-m4", 19360), ("cortex-m33", 19360),
                                           ("cortex-m55", (19360 + 19360 // 4 + 4096 + 15) // 16 * 16)])
def test_bundle_arena_has_the_helium_margin(board_dir, core, expected):
    """main.cc's arena, compiled for each board's CPU flags: the host-measured size on the DSP
    cores, plus a quarter and 4 KiB where the compiler targets Helium (CMSIS-NN's MVE scratch)."""
    from edgekit.convert import mcu_sources

    spec = mcu_sources.IoSpec(shape=[1, 4], dtype="int8", scale=0.1, zero_point=0)
    cc = mcu_sources.main_cc("g_model", spec, spec, True)
    block = cc[cc.index("#if defined(EDGEKIT_ARENA_BYTES)"):cc.index("tensor_arena[kArenaBytes];") + 27]
    src = board_dir / f"arena-{core}.cc"
    src.write_text(ARENA_CHECK.format(block=block))
    b = mcu_build.BOARDS[core]
    r = subprocess.run(["arm-none-eabi-g++", *b.cpu_flags.split(), "-mthumb", "-std=c++17", "-fsyntax-only",
                        f"-DEXPECTED={expected}", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_missing_tflm_sources_say_what_to_get(tmp_path):
    from edgekit.benchmarking import tflm_build

    with pytest.raises(EdgekitError, match="not a tflite-micro checkout"):
        tflm_build.require_sources(tmp_path)


def _git_repo(path: Path, files: dict[str, str], tag: str | None = None) -> str:
    path.mkdir(parents=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(["git", *cmd], cwd=path, check=True, env=env)
    (path / "later.txt").write_text("a later commit that must not be extracted\n")
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()
    if tag:
        subprocess.run(["git", "tag", tag, first], cwd=path, check=True)
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "two"], cwd=path, check=True, env=env)
    return first


def test_prepare_downloads_extracts_the_pinned_commits_and_patches(tmp_path):
    """The offline preparation of a TFLM checkout from local clones, on small stand-in repositories
    laid out as TFLM's download scripts pin them."""
    from edgekit.benchmarking import tflm_build

    repos = tmp_path / "repos"
    sha = {n: _git_repo(repos / n, {"src.h": f"// {n}\n"}) for n in ("gemmlowp", "ruy", "CMSIS_6", "Cortex_DFP", "CMSIS-NN")}
    _git_repo(repos / "flatbuffers", {"include/fb.h": "int fb = 1;\n", "BUILD": "x\n"}, tag="v25.9.23")
    _git_repo(repos / "kissfft", {"kiss_fft.h": "int k = 1;\n"}, tag="v130")
    t = tmp_path / "tflite-micro"
    mk = t / tflm_build.MAKE_DIR
    (mk / "ext_libs").mkdir(parents=True)
    (mk / "third_party_downloads.inc").write_text(
        f'GEMMLOWP_URL := "https://github.com/google/gemmlowp/archive/{sha["gemmlowp"]}.zip"\n'
        f'RUY_URL="https://github.com/google/ruy/archive/{sha["ruy"]}.zip"\n'
        'KISSFFT_URL := "https://github.com/mborgerding/kissfft/archive/refs/tags/v130.zip"\n')
    (mk / "flatbuffers_download.sh").write_text('  ZIP_PREFIX="v25.9.23"\n')
    (mk / "ext_libs" / "cmsis_download.sh").write_text(f'  ZIP_PREFIX="{sha["CMSIS_6"]}"\n  ZIP_PREFIX="{sha["Cortex_DFP"]}"\n')
    (mk / "ext_libs" / "cmsis_nn_download.sh").write_text(f'ZIP_PREFIX_NN="{sha["CMSIS-NN"]}"\n')
    (mk / "flatbuffers.patch").write_text(
        "--- a/include/fb.h\n+++ b/include/fb.h\n@@ -1 +1 @@\n-int fb = 1;\n+int fb = 2;  // TFLM's patch\n")
    (t / "third_party" / "kissfft").mkdir(parents=True)
    (t / "third_party" / "kissfft" / "kissfft.patch").write_text(
        "--- a/kiss_fft.h\n+++ b/kiss_fft.h\n@@ -1 +1 @@\n-int k = 1;\n+int k = 2;\n")

    assert "flatbuffers" in tflm_build.missing_sources(t)
    added = tflm_build.prepare_downloads(t, repos)
    d = t / tflm_build.DOWNLOADS
    assert tflm_build.missing_sources(t) == [] and len(added) == 9
    assert (d / "flatbuffers" / "include" / "fb.h").read_text() == "int fb = 2;  // TFLM's patch\n"
    assert not (d / "flatbuffers" / "BUILD").exists()  # TFLM's script deletes Bazel files
    assert (d / "kissfft" / "kiss_fft.h").read_text() == "int k = 2;\n"
    assert (d / "cmsis" / "Cortex_DFP" / "src.h").is_file() and (d / "cmsis_nn" / "src.h").is_file()
    assert not (d / "ruy" / "later.txt").exists()  # the pinned commit, not the newest
    assert tflm_build.prepare_downloads(t, repos) == []  # what exists is kept


def test_count_latency_fit_recovers_known_coefficients():
    from edgekit.benchmarking import mcu_counts

    cpi, cw = 1.7, 0.9
    rows = [{"bench": b, "instructions": n, "weight_bytes": w, "cycles": cpi * n + cw * w}
            for b, n, w in (("kws", 8e6, 22e3), ("vww", 2.4e7, 2.1e5), ("ad", 1.1e6, 2.7e5), ("kws", 8.1e6, 22e3))]
    p = mcu_counts.fit_class(rows)
    assert abs(p["cpi"] - cpi) < 1e-6 and abs(p["cycles_per_weight_byte"] - cw) < 1e-6
    cv = mcu_counts.cross_validate(rows)
    assert max(abs(e) for e in cv["loo"] + cv["lobo"]) < 1e-6
    # One number cannot follow a weight-bound row: its errors are not zero.
    assert max(abs(e) for e in mcu_counts.cross_validate(rows, with_weights=False)["lobo"]) > 0.05
    # One number with every instruction weighing alike is total cycles / total instructions; with
    # each row's relative error weighing alike, the small weight-bound row pulls it up.
    one = mcu_counts.fit_class(rows, with_weights=False)["cpi"]
    assert one == pytest.approx(sum(r["cycles"] for r in rows) / sum(r["instructions"] for r in rows))
    assert mcu_counts.fit_class(rows, with_weights=False, weighting="rows")["cpi"] > one


def test_expected_error_follows_the_models_op_mix():
    from edgekit.benchmarking import mcu_counts

    cal = {"lobo_median_abs_error": 0.07, "lobo_conv_abs_error": 0.05, "lobo_dense_abs_error": 0.46}
    assert mcu_counts.expected_error(cal, {"CONV_2D": 900, "FULLY_CONNECTED": 100}) == 0.05
    assert mcu_counts.expected_error(cal, {"CONV_2D": 100, "FULLY_CONNECTED": 900}) == 0.46
    assert mcu_counts.expected_error({"lobo_median_abs_error": 0.07}, {}) == 0.07


def test_latency_from_counts_needs_the_targets_core():
    from edgekit.benchmarking import mcu_counts

    counts = {"core": "cortex-m4", "kernels": "cmsis-nn", "instructions": 1_000_000, "weight_bytes": 10_000}
    with pytest.raises(EdgekitError, match="cortex-m55"):
        mcu_counts.latency_from_counts(counts, "ek-ra8d1")  # an M85 board: counts from the M55
    with pytest.raises(EdgekitError, match="no count-based latency for cortex-m7"):
        mcu_counts.latency_from_counts(counts, "nucleo-h743zi")


def test_emulate_command_without_tflm_sources_is_one_line(cli, tmp_path):
    r = cli("emulate", tmp_path / "model.tflite", "--core", "cortex-m4", "--tflm", tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a tflite-micro checkout" in lines[0] and "clone https://github.com/tensorflow/tflite-micro" in lines[0]


def _quantize_multiplier(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's QuantizeMultiplier, per channel: a Q31 significand and a power-of-two shift."""
    m, e = np.frexp(real)
    q = np.round(m * (1 << 31)).astype(np.int64)
    top = q == 1 << 31
    return np.where(top, q // 2, q), np.where(top, e + 1, e).astype(np.int64)


def _requantize(acc: np.ndarray, real: np.ndarray, single: bool) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier on int64 accumulators (rows x channels): one rounding
    (TFLITE_SINGLE_ROUNDING) or gemmlowp's two (a rounding doubling high multiply, then a rounding
    right shift)."""
    m, shift = _quantize_multiplier(real)
    if single:
        total = 31 - shift
        return (acc * m + (np.int64(1) << (total - 1))) >> total
    ab = acc * (np.int64(1) << np.maximum(shift, 0)) * m
    r = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    hi = np.where(r >= 0, r >> 31, -((-r) >> 31))  # C++ division truncates toward zero
    rs = np.maximum(-shift, 0)
    mask = (np.int64(1) << rs) - 1
    return (hi >> rs) + ((hi & mask) > (mask >> 1) + (hi < 0))


def test_litert_rounds_dense_layers_once_and_convolutions_twice(tmp_path):
    """Why CMSIS-NN's fully connected sources alone are built with single rounding: recomputed from
    LiteRT's own intermediates, every BUILTIN_REF dense output equals one rounding and every 1x1
    convolution output two (and each rule is contradicted by the other somewhere)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgekit._tf import keras
    from tests._tiny_int8 import _convert

    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([L.Input((4, 4, 16)), L.Conv2D(64, 1), L.Flatten(), L.Dense(128), L.Dense(128)])
    rng = np.random.default_rng(0)
    path = tmp_path / "m.tflite"
    path.write_bytes(_convert(m, True, rng.uniform(-1, 1, (32, 4, 4, 16)).astype("float32")))
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    det = {d["index"]: d["quantization_parameters"] for d in it.get_tensor_details()}
    inp = it.get_input_details()[0]
    mismatches = {("FULLY_CONNECTED", True): 0, ("FULLY_CONNECTED", False): 0, ("CONV_2D", True): 0, ("CONV_2D", False): 0}
    for x in rng.integers(-128, 128, (24, *inp["shape"][1:])).astype(np.int8):
        it.set_tensor(inp["index"], x[None])
        it.invoke()
        for op in it._get_ops_details():
            if op["op_name"] not in ("FULLY_CONNECTED", "CONV_2D"):
                continue
            i, w, b = op["inputs"]
            o = op["outputs"][0]
            w_q = it.get_tensor(w).astype(np.int64)
            w_q = w_q.reshape(w_q.shape[0], -1)
            xs = it.get_tensor(i).astype(np.int64).reshape(-1, w_q.shape[1]) - det[i]["zero_points"][0]
            acc = xs @ w_q.T + (it.get_tensor(b).astype(np.int64) if b >= 0 else 0)
            y = it.get_tensor(o).astype(np.int64).reshape(acc.shape)
            real = (np.float64(np.float32(det[i]["scales"][0])) * det[w]["scales"].astype(np.float32).astype(np.float64)
                    / np.float64(np.float32(det[o]["scales"][0])))
            for single in (True, False):
                q = np.clip(_requantize(acc, real, single) + det[o]["zero_points"][0], -128, 127)
                mismatches[(op["op_name"], single)] += int((q != y).sum())
    assert mismatches[("FULLY_CONNECTED", True)] == 0 and mismatches[("FULLY_CONNECTED", False)] > 0, mismatches
    assert mismatches[("CONV_2D", False)] == 0 and mismatches[("CONV_2D", True)] > 0, mismatches
