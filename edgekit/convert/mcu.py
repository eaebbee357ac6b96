"""A microcontroller bundle from an int8 ``.tflite`` file: C array, op resolver, arena, agreement.

No TensorFlow here: the model is read with LiteRT's flatbuffer schema
(``ai_edge_litert.schema_py_generated``), the arena is measured by the real TensorFlow Lite Micro
interpreter in a child process (:mod:`edgekit.runtime.tflm`), and TFLM's outputs are compared
with LiteRT's.

    build_mcu_bundle("model_int8.tflite", "export/mcu", x_test_float=x) -> McuReport

writes ``model_data.cc`` / ``model_data.h`` (a 16-byte aligned ``const unsigned char`` array, its
length and the constants to run it: input/output shape, type, scale, zero point, normalization,
labels, measured arena size), ``model_ops.h`` (a ``MicroMutableOpResolver`` sized for exactly the
model's ops), an example ``main.cc``, a ``README.md`` and ``mcu.json`` (paths relative to the
bundle, with the Cortex-M latency estimate of :mod:`edgekit.benchmarking.mcu_estimate`), and the
cross-build of :mod:`edgekit.convert.mcu_build` (``Makefile``, ``startup.c``, one linker script
per QEMU board) that ``edgekit emulate`` runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from edgekit import _io, tflite_file
from edgekit.artifact import Normalization
from edgekit.benchmarking.mcu_estimate import McuEstimate
from edgekit.convert import mcu_build, mcu_sources
from edgekit.convert.mcu_sources import resolver_header  # noqa: F401  (public here since the start)
from edgekit.errors import EdgekitError

# ---------------------------------------------------------------------------------------------
# Which builtin operators TFLM can run, and the MicroMutableOpResolver method that adds each.
#
# Source: the builtin operators registered by tflite-micro's own Python interpreter
# (``PythonOpsResolver`` in python/tflite_micro/python_ops_resolver.cc, which calls one
# ``MicroMutableOpResolver::AddXxx()`` per kernel), i.e. exactly what the interpreter that measures
# the arena here can resolve; method names as declared in
# tensorflow/lite/micro/micro_mutable_op_resolver.h. Every entry has a ``Register_<OP>`` kernel
# symbol in the installed ``tflite_micro/python/tflite_micro/_runtime.so``
# (see :func:`installed_tflm_kernels`, checked by the tests). Custom operators that TFLM ships
# (signal processing, Ethos-U, detection post-processing) are listed separately.
# Keyed by the ``BuiltinOperator`` enum name of the TFLite schema.
TFLM_BUILTIN_RESOLVER: dict[str, str] = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "ELU": "AddElu",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable",
    "REDUCE_MAX": "AddReduceMax",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile",
    "ZEROS_LIKE": "AddZerosLike",
    # Kernels present in the installed _runtime.so and added by newer MicroMutableOpResolver
    # headers (AddBatchMatMul, AddEmbeddingLookup, AddReduceAll, AddReduceMin, AddReverseV2).
    "BATCH_MATMUL": "AddBatchMatMul",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MIN": "AddReduceMin",
    "REVERSE_V2": "AddReverseV2",
}
# Custom operators (by custom_code) that a stock MicroMutableOpResolver can add.
TFLM_CUSTOM_RESOLVER: dict[str, str] = {
    "ethos-u": "AddEthosU",
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
}


class McuOp(BaseModel):
    name: str  # BuiltinOperator name, or the custom code of a custom op
    count: int  # how many nodes of the graph use it
    method: str | None  # MicroMutableOpResolver method, None when TFLM has no kernel for it
    supported: bool


class McuReport(BaseModel):
    """What ``mcu.json`` holds. The first five fields are the contract the CLI and report read."""

    arena_bytes: int | None
    flash_bytes: int  # the model array in flash (the .tflite bytes), not the application code
    ops: list[str]
    unsupported_ops: list[str]
    # Share of test samples where TFLM's top class is LiteRT's. Outputs are int8, so two classes
    # can tie at the top; a tie counts as agreement when the other runtime's pick is among the
    # tied classes. ``tflm_agreement_strict`` compares plain argmax (first index wins ties).
    tflm_agreement: float | None
    tflm_max_abs_diff: float | None = None  # largest |TFLM - LiteRT| over dequantized outputs
    # The two figures above compare with LiteRT's built-in kernels (XNNPACK off); these with
    # LiteRT's default (XNNPACK), whose int8 rounding differs slightly from TFLM's.
    tflm_agreement_strict: float | None = None
    tflm_agreement_xnnpack: float | None = None
    tflm_max_abs_diff_xnnpack: float | None = None
    tflm_reported_arena_bytes: int | None = None  # TFLM's RecordingMicroAllocator total
    resolver_methods: list[str] = Field(default_factory=list)
    n_samples: int = 0
    model: str = ""
    array_name: str = "g_model"
    files: list[str] = Field(default_factory=list)
    tflm_error: str | None = None
    # What model_data.h holds as constants (the input's and output's quantization), and the Cortex-M
    # latency estimate.
    input: mcu_sources.IoSpec | None = None
    output: mcu_sources.IoSpec | None = None
    normalization: Normalization | None = None
    labels: list[str] | None = None
    estimate: McuEstimate | None = None  # the Cortex-M latency estimate for the default/--target board
    estimate_error: str | None = None


# ---------------------------------------------------------------------------------------------
# The flatbuffer side


def _ops_of_model(model) -> list[McuOp]:
    counts: dict[str, int] = {}
    custom = set()
    for sg in model.subgraphs or []:
        for op in sg.operators or []:
            oc = model.operatorCodes[op.opcodeIndex]
            name = tflite_file.op_name(oc)
            if tflite_file.is_custom(oc):
                custom.add(name)
            counts[name] = counts.get(name, 0) + 1
    out = []
    for name in sorted(counts):
        method = (TFLM_CUSTOM_RESOLVER if name in custom else TFLM_BUILTIN_RESOLVER).get(name)
        out.append(McuOp(name=name, count=counts[name], method=method, supported=method is not None))
    return out


def tflm_ops(tflite_path: str | Path) -> list[McuOp]:
    """The operators of a .tflite model, each with its MicroMutableOpResolver method and
    whether TFLM has a kernel for it (sorted by name)."""
    return _ops_of_model(tflite_file.read_model(tflite_path))


def installed_tflm_kernels() -> set[str]:
    """Operator names with a ``Register_<OP>`` kernel symbol in the installed tflite-micro
    extension (empty when tflite-micro is not installed). Used to check the table above."""
    import importlib.util

    spec = importlib.util.find_spec("tflite_micro")
    if spec is None or not spec.submodule_search_locations:
        return set()
    so = Path(list(spec.submodule_search_locations)[0]) / "python" / "tflite_micro" / "_runtime.so"
    if not so.is_file():
        return set()
    data = so.read_bytes()
    return {m.decode() for m in re.findall(rb"Register_([A-Z0-9_]+?)Ev", data)}


# ---------------------------------------------------------------------------------------------
# C source

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def c_array(tflite_bytes: bytes, name: str = "g_model", header: str = "model_data.h") -> tuple[str, str]:
    """``(cc_text, h_text)``: the model as an ``alignas(16) const unsigned char`` array with its length.

    TFLM reads the flatbuffer in place from flash, and its tensors and buffers need 16-byte
    alignment, hence ``alignas(16)``.
    """
    if not _IDENT.match(name):
        raise EdgekitError(f"{name!r} is not a C identifier; use letters, digits and '_' (e.g. g_model).")
    data = bytes(tflite_bytes)
    guard = re.sub(r"[^A-Za-z0-9]", "_", header).upper() + "_"
    h = (
        f"// Generated by edgekit: the TFLite model as a C array ({len(data)} bytes).\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {name}[];\n"
        f"extern const unsigned int {name}_len;\n\n"
        f"#endif  // {guard}\n"
    )
    lines = []
    for i in range(0, len(data), 12):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[i : i + 12]) + ",")
    cc = (
        f"// Generated by edgekit: the TFLite model as a C array ({len(data)} bytes).\n"
        f'#include "{header}"\n\n'
        f"alignas(16) const unsigned char {name}[] = {{\n" + "\n".join(lines) + "\n};\n"
        f"const unsigned int {name}_len = {len(data)};\n"
    )
    return cc, h


def parse_c_array(cc_text: str) -> bytes:
    """The bytes back from :func:`c_array`'s ``.cc`` text (for checks)."""
    body = cc_text[cc_text.index("{") + 1 : cc_text.index("};")]
    return bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-fA-F]{2})", body))


def _embedded_metadata(path: Path) -> dict:
    """The edgekit metadata embedded in the .tflite (labels, normalization), or {}."""
    from edgekit.convert.metadata import read_metadata

    try:
        return read_metadata(path) or {}
    except Exception:  # a file without (or with unreadable) metadata still makes a bundle
        return {}


def top1_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(tie-aware, strict) share of rows whose top class agrees between two (N, C) outputs.

    Tie-aware: row i agrees when ``a``'s argmax reaches ``b``'s maximum or ``b``'s argmax reaches
    ``a``'s maximum, i.e. the picks differ only by how a tie in quantized outputs was broken.
    """
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    ia, ib = a.argmax(axis=1), b.argmax(axis=1)
    rows = np.arange(len(a))
    strict = ia == ib
    tie = (b[rows, ia] == b.max(axis=1)) | (a[rows, ib] == a.max(axis=1))
    return float(np.mean(strict | tie)), float(np.mean(strict))


# ---------------------------------------------------------------------------------------------
# The bundle


def _preprocessing_files(path: Path, model) -> dict[str, str]:
    """What the device needs to compute the model's input (an audio model: frontend.c/.h)."""
    from edgekit.convert.metadata import read_metadata
    from edgekit.data.bundle import mcu_preprocessing_files

    return mcu_preprocessing_files(read_metadata(path), model)


def build_mcu_bundle(
    int8_tflite_path: str | Path,
    out_dir: str | Path,
    x_test_float: np.ndarray | None = None,
    *,
    name: str = "g_model",
    on_tflm_error: str = "raise",
    timeout: float = 120.0,
    target: str | None = "nucleo-l4r5zi",
    labels: list[str] | None = None,
    normalization: Normalization | dict | None = None,
    litert_outputs: np.ndarray | None = None,
) -> McuReport:
    """Write ``model_data.cc``, ``model_data.h``, ``model_ops.h`` and ``mcu.json`` into ``out_dir``.

    ``x_test_float``: normalized float samples (what the Keras model sees); when given, TFLM and
    LiteRT run them and ``tflm_agreement`` is the share with the same argmax (against LiteRT's
    built-in kernels; ``tflm_agreement_xnnpack`` against LiteRT with XNNPACK). When TFLM fails
    (crash, unloadable model), ``on_tflm_error="raise"`` raises the one-line EdgekitError before
    anything is written; ``"record"`` writes the bundle with ``tflm_error`` set and arena unknown.
    ``target``: the board of the latency estimate in mcu.json and the README (None: no estimate).
    ``labels`` / ``normalization``: default to what the .tflite's edgekit metadata records.
    ``litert_outputs``: the file's outputs on ``x_test_float`` in LiteRT's default setup (XNNPACK),
    when the caller already ran it (:func:`edgekit.measure.measure`'s ``outputs``): reused, not run again.
    """
    from edgekit.runtime.tflm import TFLMRunner, measure_arena_detail

    if on_tflm_error not in ("raise", "record"):
        raise EdgekitError(f"on_tflm_error must be 'raise' or 'record', got {on_tflm_error!r}.")
    path = Path(int8_tflite_path)
    opened = tflite_file.open_tflite(path)  # parsed once per run
    data, model = opened.data, opened.model
    ins, _ = tflite_file.io_types(model)
    if any(t not in ("INT8", "UINT8") for t in ins):
        raise EdgekitError(
            f"{path} takes {'/'.join(ins)} input; a microcontroller bundle needs a full-int8 model "
            "(export with --precision int8 and calibration data)."
        )
    ops = _ops_of_model(model)
    unsupported = [op.name for op in ops if not op.supported]
    cc, h = c_array(data, name)  # checks the name before any slow step
    if target is not None:
        from edgekit.benchmarking.mcu_targets import get_target

        get_target(target)  # an unknown board is an error before the slow steps
    meta = _embedded_metadata(path)
    labels = labels if labels is not None else meta.get("labels")
    normalization = normalization if normalization is not None else meta.get("normalization")
    normalization = Normalization.model_validate(normalization) if isinstance(normalization, dict) else normalization
    norm_dict = normalization.model_dump() if normalization is not None else None  # what the C sources print
    inp, outp = mcu_sources.io_specs(model)

    arena = reported = agreement = strict = max_abs = agreement_xnn = max_abs_xnn = None
    n = 0
    error = None
    if unsupported:
        error = f"{path}: TFLM has no kernel for {', '.join(unsupported)}; the model cannot run on TFLM."
    else:
        try:
            a = measure_arena_detail(path, timeout=timeout)
            arena, reported = a.bytes, a.tflm_reported_bytes
            if x_test_float is not None and len(x_test_float):
                from edgekit.runtime.litert import LiteRTRunner

                x = np.asarray(x_test_float, np.float32)
                with TFLMRunner(path, arena=arena, timeout=timeout) as r:
                    y_tflm = r.run(x)
                n = len(x)
                y_tflm = y_tflm.reshape(n, -1)
                # The reference is LiteRT's built-in kernels, the same integer arithmetic TFLM
                # implements; XNNPACK's int8 kernels round differently (a partly trained
                # MobileNetV1 0.25/96: 97.6% argmax agreement with XNNPACK, 100% without), so
                # that figure is kept separately.
                y_ref = LiteRTRunner(path, threads=1, xnnpack=False).run(x).reshape(n, -1)
                y_xnn = (np.asarray(litert_outputs, np.float32) if litert_outputs is not None else
                         LiteRTRunner(path, threads=1, xnnpack=True).run(x)).reshape(n, -1)
                agreement, strict = top1_agreement(y_tflm, y_ref)
                max_abs = float(np.max(np.abs(y_tflm - y_ref)))
                agreement_xnn, _ = top1_agreement(y_tflm, y_xnn)
                max_abs_xnn = float(np.max(np.abs(y_tflm - y_xnn)))
        except EdgekitError as e:
            error = str(e)
    if error and on_tflm_error == "raise":
        raise EdgekitError(error)

    estimate = estimate_error = None
    if target is not None and not unsupported:
        from edgekit.benchmarking.mcu_estimate import estimate_mcu

        try:
            est = estimate_mcu(path, target, arena_bytes=arena, measure_arena=False)
            estimate = est
        except EdgekitError as e:
            estimate_error = str(e)

    out = Path(out_dir)
    guard = re.sub(r"[^A-Za-z0-9]", "_", "model_data.h").upper() + "_"
    model_file = os.path.relpath(path.resolve(), out.resolve())
    files = {
        "model_data.cc": cc,
        "model_data.h": mcu_sources.data_header(name, len(data), inp, outp, arena, norm_dict, labels, guard),
        "model_ops.h": resolver_header(ops, arena, name),
        "main.cc": mcu_sources.main_cc(name, inp, outp, arena is not None),
        "README.md": mcu_sources.readme(name, model_file, inp, outp, arena, len(data), norm_dict, labels,
                                        [op.name for op in ops], estimate.model_dump() if estimate else None),
    }
    files.update(_preprocessing_files(path, model))
    files.update(mcu_build.build_files())
    files["Makefile"] = mcu_build.makefile(["main.cc", "model_data.cc", "startup.c"])
    report = McuReport(
        arena_bytes=arena,
        flash_bytes=len(data),
        ops=[op.name for op in ops],
        unsupported_ops=unsupported,
        tflm_agreement=agreement,
        tflm_max_abs_diff=max_abs,
        tflm_agreement_strict=strict,
        tflm_agreement_xnnpack=agreement_xnn,
        tflm_max_abs_diff_xnnpack=max_abs_xnn,
        tflm_reported_arena_bytes=reported,
        resolver_methods=[op.method for op in ops if op.method],
        n_samples=n,
        model=model_file,
        array_name=name,
        files=sorted([*files, "mcu.json"]),
        tflm_error=error,
        input=inp,
        output=outp,
        normalization=normalization,
        labels=labels,
        estimate=estimate,
        estimate_error=estimate_error,
    )
    for fname, text in files.items():
        _io.write_text(out / fname, text)
    _io.write_json(out / "mcu.json", report.model_dump())
    return report
