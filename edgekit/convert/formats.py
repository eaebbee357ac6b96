"""The one table of export formats and precisions.

The CLI's choices, argument checks and the docs all derive from :data:`FORMATS`; adding a
precision means adding it here and teaching the converter module to produce it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    precisions: tuple[str, ...]
    needs_data: tuple[str, ...]  # precisions that need calibration data
    runtime: str
    description: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("tflite", ".tflite", ("fp32", "fp16", "dynamic", "int8"), ("int8",), "litert",
                     "TensorFlow Lite flatbuffer for LiteRT on phones (int8: full-integer, int8 in and out)"),
        ExportFormat("onnx", ".onnx", ("fp32", "int8"), ("int8",), "onnxruntime",
                     "ONNX graph via tf2onnx (int8: QDQ, onnxruntime static quantization, per-channel)"),
        ExportFormat("mcu", ".tflite", ("int8",), ("int8",), "tflm",
                     "microcontroller bundle: full-int8 TFLite as a C array, op resolver, TFLM-measured arena, "
                     "README and main.cc"),
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
