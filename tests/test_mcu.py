"""Microcontroller bundle, TFLM in a child process, and the Ethos-U estimate, on real small models."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from _tiny_int8 import digits, digits_models, softmax_abort_model  # noqa: E402

from edgekit.convert import mcu  # noqa: E402
from edgekit.errors import EdgekitError  # noqa: E402
from edgekit.runtime import tflm  # noqa: E402


def test_arena_is_measured_minimal_and_runs():
    int8, _ = digits_models()
    a = tflm.measure_arena_detail(int8)
    assert a.bytes > 0 and a.bytes % 16 == 0
    assert a.tflm_reported_bytes and 0 < a.tflm_reported_bytes <= a.bytes
    assert tflm.measure_arena(int8) == a.bytes
    # One 16-byte step less does not allocate: the figure is the smallest that works.
    with pytest.raises(EdgekitError, match="cannot load this model"):
        tflm.TFLMRunner(int8, arena=a.bytes - 16)
    _, _, xte, _ = digits()
    with tflm.TFLMRunner(int8, arena=a.bytes) as r:
        assert r.input_spec.dtype == "int8" and r.input_spec.scale
        out = r.run(xte[:5])
        assert out.shape == (5, 10)
        assert np.allclose(out.sum(axis=1), 1.0, atol=0.05)  # dequantized softmax
        r.prepare(xte[:1])
        r.invoke_once()
        assert r.last_invoke_ms > 0
        assert len(r.time_invokes(3)) == 3


def test_bundle_files_agreement_and_c_array(tmp_path):
    int8, _ = digits_models()
    _, _, xte, yte = digits()
    rep = mcu.build_mcu_bundle(int8, tmp_path / "mcu", x_test_float=xte)
    assert rep.tflm_error is None
    assert rep.tflm_agreement is not None and rep.tflm_agreement >= 0.999
    assert rep.tflm_max_abs_diff is not None and rep.tflm_max_abs_diff < 0.05
    assert rep.tflm_agreement_xnnpack is not None  # against LiteRT's default XNNPACK kernels
    assert rep.n_samples == len(xte)
    assert rep.ops == ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"]
    assert rep.unsupported_ops == []
    assert rep.resolver_methods == ["AddConv2D", "AddDepthwiseConv2D", "AddFullyConnected", "AddReshape", "AddSoftmax"]
    data = int8.read_bytes()
    assert rep.flash_bytes == len(data)
    assert rep.arena_bytes == tflm.measure_arena(int8)

    out = tmp_path / "mcu"
    assert sorted(p.name for p in out.iterdir()) == ["Makefile", "README.md", "edgekit_counter.h", "main.cc", "mcu.json",
                                                     "model_data.cc", "model_data.h", "model_ops.h", "mps2-an386.ld",
                                                     "mps2-an505.ld", "mps3-an547.ld", "startup.c"]
    j = json.loads((out / "mcu.json").read_text())
    assert {"arena_bytes", "flash_bytes", "ops", "unsupported_ops", "tflm_agreement"} <= set(j)
    assert j["arena_bytes"] == rep.arena_bytes and j["tflm_agreement"] == rep.tflm_agreement

    cc = (out / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_model[]" in cc
    assert f"const unsigned int g_model_len = {len(data)};" in cc
    assert mcu.parse_c_array(cc) == data
    # An independent parser (LiteRT's own xxd reader) gets the same bytes back.
    from ai_edge_litert.tools.flatbuffer_utils import xxd_output_to_bytes

    assert bytes(xxd_output_to_bytes(out / "model_data.cc")) == data
    ops_h = (out / "model_ops.h").read_text()
    assert f"kModelArenaSize = {rep.arena_bytes};" in (out / "model_data.h").read_text()
    assert '#include "model_data.h"' in ops_h
    assert "MicroMutableOpResolver<kModelOpCount>" in ops_h and "resolver.AddDepthwiseConv2D()" in ops_h

    if shutil.which("g++"):  # the array compiles and keeps its alignment
        main = tmp_path / "main.cc"
        main.write_text('#include "model_data.h"\n#include <cstdint>\n'
                        "int main() { return (reinterpret_cast<std::uintptr_t>(g_model) % 16 == 0 && "
                        f"g_model_len == {len(data)} && g_model[4] == 'T') ? 0 : 1; }}\n")
        exe = tmp_path / "a.out"
        subprocess.run(["g++", "-std=c++17", "-I", str(out), str(main), str(out / "model_data.cc"), "-o", str(exe)],
                       check=True, capture_output=True)
        assert subprocess.run([str(exe)]).returncode == 0


def test_bundle_constants_equal_the_model(tmp_path):
    """model_data.h's constants, compiled and printed by g++, are the model's own; mcu.json's paths
    are relative to the bundle; the array name is the caller's; main.cc and the README use them."""
    from ai_edge_litert.interpreter import Interpreter

    int8, _ = digits_models()
    out = tmp_path / "bundle"
    labels = [f"digit {i}" for i in range(10)]
    norm = {"mean": 0.0, "std": 1.0, "raw_range": [0.0, 1.0]}
    rep = mcu.build_mcu_bundle(int8, out, name="g_digits", labels=labels, normalization=norm, target="ek-ra6m4")
    it = Interpreter(model_path=str(int8))
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    j = json.loads((out / "mcu.json").read_text())
    assert (out / j["model"]).resolve() == int8.resolve() and not j["model"].startswith("/")
    assert j["array_name"] == "g_digits" and j["labels"] == labels
    assert j["normalization"] == {**norm, "input_range": [0.0, 1.0]}  # stated like the .tflite's metadata
    assert j["input"]["shape"] == list(ind["shape"]) and j["input"]["zero_point"] == ind["quantization"][1]
    assert j["estimate"]["target"] == "ek-ra6m4" and j["estimate"]["latency_ms"] > 0
    assert j["estimate"]["basis"] == "analytic" and 0 < j["estimate"]["expected_error"] < 1
    assert f"± {j['estimate']['expected_error']:.0%}" in j["estimate"]["summary"]
    assert j["estimate"]["summary"] in (out / "README.md").read_text()
    assert j["estimate"]["fits"]["arena_bytes"] == rep.arena_bytes
    h = (out / "model_data.h").read_text()
    assert "extern const unsigned char g_digits[];" in h
    main_cc = (out / "main.cc").read_text()
    assert "kDigitsInputScale" in main_cc and "DigitsOpResolver" in main_cc and "tensor_arena[kArenaBytes]" in main_cc
    assert "constexpr unsigned int kArenaBytes = kDigitsArenaSize;" in main_cc  # the measured arena off Helium
    readme = (out / "README.md").read_text()
    assert "main.cc" in readme and "ek-ra6m4" in readme and f"{rep.arena_bytes:,} bytes" in readme
    if not shutil.which("g++"):
        pytest.fail("g++ is needed to compile model_data.h's constants")
    prog = tmp_path / "print.cc"
    prog.write_text(
        '#include <cstdio>\n#include "model_data.h"\nint main() {\n'
        '  std::printf("%d %d %.9g %d %s\\n", kDigitsInputDims, kDigitsInputElements, kDigitsInputScale, '
        'kDigitsInputZeroPoint, kDigitsInputType);\n'
        '  for (int i = 0; i < kDigitsInputDims; ++i) std::printf("%d ", kDigitsInputShape[i]);\n'
        '  std::printf("\\n%d %.9g %d %s\\n", kDigitsOutputElements, kDigitsOutputScale, kDigitsOutputZeroPoint, '
        'kDigitsOutputType);\n'
        '  std::printf("%u %d %s %d %.9g %.9g %.9g\\n", kDigitsArenaSize, kDigitsNumLabels, kDigitsLabels[9], '
        '(int)kDigitsHasNormalization, kDigitsNormMean, kDigitsNormStd, kDigitsRawMax);\n'
        '  return g_digits_len > 0 ? 0 : 1;\n}\n')
    exe = tmp_path / "print"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-I", str(out), str(prog), str(out / "model_data.cc"),
                    "-o", str(exe)], check=True, capture_output=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    dims, n, scale, zp, dtype = lines[0].split()
    assert int(dims) == len(ind["shape"]) and int(n) == int(np.prod(ind["shape"])) and dtype == "int8"
    assert float(scale) == pytest.approx(ind["quantization"][0], rel=1e-6) and int(zp) == ind["quantization"][1]
    assert [int(x) for x in lines[1].split()] == list(ind["shape"])
    n_out, oscale, ozp, otype = lines[2].split()
    assert int(n_out) == int(np.prod(outd["shape"])) and otype == "int8"
    assert float(oscale) == pytest.approx(outd["quantization"][0], rel=1e-6) and int(ozp) == outd["quantization"][1]
    arena, nlab, *rest = lines[3].split()
    assert int(arena) == rep.arena_bytes and int(nlab) == 10 and rest[:2] == ["digit", "9"]
    assert rest[2:] == ["1", "0", "1", "1"]


def test_c_array_rejects_bad_names():
    with pytest.raises(EdgekitError, match="not a C identifier"):
        mcu.c_array(b"\x00" * 4, "1model")


def test_op_table_matches_installed_tflm():
    kernels = mcu.installed_tflm_kernels()
    assert kernels, "no Register_* symbols found in tflite_micro's extension"
    assert set(mcu.TFLM_BUILTIN_RESOLVER) <= kernels
    assert all(m.startswith("Add") for m in mcu.TFLM_BUILTIN_RESOLVER.values())


def test_tflm_abort_is_one_error_line_and_parent_continues(tmp_path):
    bad = softmax_abort_model()
    with pytest.raises(EdgekitError) as ei:
        tflm.measure_arena(bad)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{bad}: TFLM aborted (signal SIGABRT) while creating the interpreter")
    # The bundle can record the failure instead of raising, and still writes the C files.
    rep = mcu.build_mcu_bundle(bad, tmp_path / "bad", on_tflm_error="record")
    assert rep.arena_bytes is None and "SIGABRT" in rep.tflm_error
    assert json.loads((tmp_path / "bad" / "mcu.json").read_text())["tflm_error"] == rep.tflm_error
    # The parent process is fine and TFLM still works for a good model.
    int8, _ = digits_models()
    assert tflm.measure_arena(int8) > 0


def test_abort_during_inference(monkeypatch):
    int8, _ = digits_models()
    arena = tflm.measure_arena(int8)
    monkeypatch.setenv("EDGEKIT_TFLM_TEST_ABORT", "invoke")  # the child calls abort() before invoke
    _, _, xte, _ = digits()
    with pytest.raises(EdgekitError, match=r"TFLM aborted \(signal SIGABRT\) while running inference on 3 samples"):
        tflm.run_tflm(int8, xte[:3], arena=arena)


def test_float_model_is_refused(tmp_path):
    _, fp32 = digits_models()
    with pytest.raises(EdgekitError, match="full-int8"):
        mcu.build_mcu_bundle(fp32, tmp_path / "f")
    assert not (tmp_path / "f").exists()
    from edgekit.benchmarking.npu import estimate_npu

    with pytest.raises(EdgekitError, match="not a full-int8 model"):
        estimate_npu(fp32)


def test_vela_estimates_u55_and_u65():
    from edgekit.benchmarking.npu import estimate_npus

    int8, _ = digits_models()
    u55, u65 = estimate_npus(int8)
    for e in (u55, u65):
        assert e.sram_bytes > 0 and e.npu_ops > 0 and e.cpu_ops == 0
        assert e.cycles > 0 and e.inference_ms > 0
        assert e.macs > 10_000  # conv 8x8x8x9 + depthwise 8x8x8x9 + dense 512x10
    assert u55.accelerator == "ethos-u55-128" and u55.flash_bytes > 0
    assert u65.accelerator == "ethos-u65-256" and (u65.flash_bytes + u65.dram_bytes) > 0
    assert u55.macs == u65.macs


def test_vela_unknown_accelerator():
    from edgekit.benchmarking.npu import estimate_npu

    int8, _ = digits_models()
    with pytest.raises(EdgekitError, match="unknown accelerator"):
        estimate_npu(int8, "ethos-u99")


def test_unsupported_op_is_reported(tmp_path):
    """The digits net with its RESHAPE relabelled TILE (no TFLM kernel): the op check and the real
    interpreter both say so, in one line."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    int8, _ = digits_models()
    model = flatbuffer_utils.read_model(str(int8))
    for oc in model.operatorCodes:
        if oc.builtinCode == schema.BuiltinOperator.RESHAPE:
            oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.TILE
    tile = tmp_path / "tile.tflite"
    flatbuffer_utils.write_model(model, str(tile))
    ops = {op.name: op for op in mcu.tflm_ops(tile)}
    assert not ops["TILE"].supported and ops["TILE"].method is None
    with pytest.raises(EdgekitError, match="TFLM has no kernel for TILE"):
        mcu.build_mcu_bundle(tile, tmp_path / "out")
    rep = mcu.build_mcu_bundle(tile, tmp_path / "out", on_tflm_error="record")
    assert rep.unsupported_ops == ["TILE"] and rep.arena_bytes is None
    assert "NOT SUPPORTED BY TFLM (no kernel): TILE" in (tmp_path / "out" / "model_ops.h").read_text()
    with pytest.raises(EdgekitError, match="Didn't find op for builtin opcode 'TILE'"):
        tflm.measure_arena(tile)


@pytest.mark.slow
def test_visual_wake_words_shape_bundle(tmp_path):
    """Issue 7's bar: MobileNetV1 alpha 0.25 at 96x96x3 (MLPerf Tiny VWW shape), int8, trained
    briefly on digits: arena <= 256 KB, flash <= 1 MB, TFLM agrees with LiteRT on >= 99.9%.
    Measured while writing this: arena 104,224 B, flash 309,000 B, agreement 1.0 tie-aware
    (strict 0.9966: one sample whose two top classes tie in LiteRT's int8 output; 0.95-0.98
    against LiteRT with XNNPACK), U55-128 0.74 ms, U65-256 0.27 ms, 7.49 M MACs."""
    from _tiny_int8 import _convert

    from edgekit._tf import keras, tf

    xtr, ytr, xte, _ = digits()

    def up(x):
        x = tf.image.resize(x, (96, 96), method="nearest").numpy()
        return np.repeat(x * 2 - 1, 3, axis=-1).astype("float32")

    from edgekit.models import create_model

    keras.utils.set_random_seed(0)
    m = create_model("mobilenet_v1", input_shape=(96, 96, 3), num_classes=10, alpha=0.25)
    m.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    m.fit(up(xtr), ytr, epochs=2, batch_size=32, verbose=0)
    p = tmp_path / "vww_int8.tflite"
    p.write_bytes(_convert(m, True, up(xtr[:200])))
    rep = mcu.build_mcu_bundle(p, tmp_path / "mcu", x_test_float=up(xte))
    assert rep.arena_bytes <= 256 * 1024 and rep.flash_bytes <= 1024 * 1024
    assert rep.tflm_agreement >= 0.999 and rep.unsupported_ops == []
    assert rep.tflm_agreement_strict >= 0.99


def test_top1_agreement_counts_int8_ties():
    a = np.array([[0, 5, 5], [3, 1, 0], [0, 1, 2]], np.float32)
    b = np.array([[0, 4, 5], [3, 1, 0], [0, 2, 1]], np.float32)
    assert mcu.top1_agreement(a, b) == pytest.approx((2 / 3, 1 / 3))
