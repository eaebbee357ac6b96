"""The one table of export formats and precisions.

The CLI's choices, help and argument checks, the converters, and which runtime runs a file
(:func:`runtime_for`, :func:`format_of`, used by ``runtime.base``, ``bench`` and ``measure``) all derive
from :data:`FORMATS`; adding a precision means adding it here and teaching the converter module to
produce it (:func:`edgekit.convert.tflite.configure` for TFLite). It sits on the ground floor (it
imports nothing but the error type) so that the runtimes below ``convert/`` can read it.

:data:`TFLITE_PRECISIONS` is every TFLite precision edgekit makes: those marked ``export`` are
``edgekit export --to tflite``'s choices, the rest only ``edgekit compress`` makes (its PTQ
variants, :data:`FORMATS["tflite"].ptq <ExportFormat.ptq>`).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class TflitePrecision:
    name: str
    needs_data: bool  # calibration data (a representative dataset)
    export: bool  # offered by `edgekit export`; False: made by `edgekit compress` only
    description: str


TFLITE_PRECISIONS: dict[str, TflitePrecision] = {
    p.name: p
    for p in (
        TflitePrecision("fp32", False, True, "float32"),
        TflitePrecision("fp16", False, True, "float16 weights, float32 compute"),
        TflitePrecision("dynamic", False, True, "int8 weights, float activations (dynamic range)"),
        TflitePrecision("int8", True, True, "full integer, per-channel weights, integer in and out "
                                            "(--io: uint8 or int8; token-id inputs stay int32)"),
        TflitePrecision("int8_per_tensor", True, False, "int8 with one scale per weight tensor"),
        TflitePrecision("int16x8", True, False, "int16 activations, int8 weights, float in and out"),
    )
}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    precisions: tuple[str, ...]  # what `edgekit export` makes
    needs_data: tuple[str, ...]  # precisions that need calibration data
    runtime: str
    description: str
    ptq: tuple[str, ...] = ()  # post-training precisions `edgekit compress` makes (a superset of precisions)
    # Input/output type of a full-integer file (``--io``); None: the format has no choice to make.
    default_io: str | None = None


_TFLITE_EXPORT = tuple(p.name for p in TFLITE_PRECISIONS.values() if p.export)

FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("tflite", ".tflite", _TFLITE_EXPORT,
                     tuple(p for p in _TFLITE_EXPORT if TFLITE_PRECISIONS[p].needs_data), "litert",
                     "TensorFlow Lite flatbuffer for LiteRT on phones (int8: full-integer, uint8 in and out "
                     "unless --io says otherwise)",
                     ptq=tuple(TFLITE_PRECISIONS), default_io="uint8"),
        ExportFormat("onnx", ".onnx", ("fp32", "int8"), ("int8",), "onnxruntime",
                     "ONNX graph via tf2onnx (int8: QDQ, onnxruntime static quantization, per-channel)"),
        ExportFormat("mcu", ".tflite", ("int8",), ("int8",), "tflm",
                     "microcontroller bundle: full-int8 TFLite as a C array, op resolver, TFLM-measured arena, "
                     "README and main.cc", default_io="int8"),
    )
}


def format_help() -> str:
    """``--to``'s help, from the table: every format with what it makes."""
    return "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())


def precision_help() -> str:
    """``--precision``'s help, from the table: the precisions each format allows."""
    return "; ".join(f"{f.name}: {' | '.join(f.precisions)}" for f in FORMATS.values()) + \
        f" (calibration data needed for {', '.join(sorted({p for f in FORMATS.values() for p in f.needs_data}))})"


def check_format(to: str, precision: str) -> ExportFormat:
    fmt = FORMATS.get(to)
    if fmt is None:
        raise EdgekitError(f"unknown format {to!r}; choose one of {', '.join(FORMATS)}.")
    if precision not in fmt.precisions:
        raise EdgekitError(
            f"format {to!r} has no precision {precision!r}; choose one of {', '.join(fmt.precisions)}."
        )
    return fmt


# ``--io`` of a full-integer export: the type of its input and output tensors (the converter's
# inference_input_type / inference_output_type). uint8 is what phone libraries take (the Android
# Task Library's and MediaPipe's image classifiers accept float32 or uint8 input, not int8, and
# every quantized model of the TFLite model zoo has uint8 in and out); int8 is what
# microcontroller kernels (CMSIS-NN) and MLPerf Tiny's reference models use; float32 keeps the
# quantize/dequantize inside the file.
IO_TYPES = ("uint8", "int8", "float32")
# Precisions whose file is integer from end to end, so --io means something.
IO_PRECISIONS = ("int8",)


def check_io(fmt: ExportFormat, precision: str, io: str | None) -> str | None:
    """The input/output type of this export: ``io`` checked, or the format's default; None when the
    precision keeps float in and out (``--io`` given there is an error, never silently ignored)."""
    if io is not None and io not in IO_TYPES:
        raise EdgekitError(f"unknown --io {io!r}; choose one of {', '.join(IO_TYPES)}.")
    if fmt.default_io is None or precision not in IO_PRECISIONS:
        if io is not None:
            raise EdgekitError(f"--io applies to full-integer exports (--to tflite or mcu with --precision "
                               f"{'/'.join(IO_PRECISIONS)}); {fmt.name} {precision} takes and returns float. "
                               f"Drop --io.")
        return None
    if fmt.name == "mcu" and io == "float32":
        raise EdgekitError("--to mcu makes a full-integer bundle: --io float32 is not possible there; use "
                           "--io int8 (the default) or uint8.")
    return io or fmt.default_io


def io_help() -> str:
    """``--io``'s help, from the table."""
    defaults = ", ".join(f"{f.name} {f.default_io}" for f in FORMATS.values() if f.default_io)
    return (f"full-integer exports: input/output type, {' | '.join(IO_TYPES)} (default: {defaults}; "
            f"phone libraries take uint8, not int8)")


# A Keras model is the reference every export is compared with, not an export format: it runs in Keras.
KERAS_SUFFIXES = (".keras", ".h5", "")  # "" = a SavedModel folder


def format_of(path) -> str:
    """A file's format from its suffix: the first table entry with that suffix (``.tflite`` is
    ``tflite``, run on LiteRT; an MCU bundle's .tflite is the same file format), else ``keras``."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    return next((f.name for f in FORMATS.values() if f.suffix == suffix), "keras")


def runtime_for(fmt: str) -> str:
    """The runtime that runs a format (``keras`` for the reference model)."""
    return "keras" if fmt == "keras" else FORMATS[fmt].runtime


def runtime_by_suffix() -> dict[str, str]:
    """``{suffix: runtime}`` for every file edgekit can open, from the table."""
    out: dict[str, str] = {}
    for f in FORMATS.values():
        out.setdefault(f.suffix, f.runtime)
    return {**out, **dict.fromkeys(KERAS_SUFFIXES, "keras")}
