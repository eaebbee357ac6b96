"""Which export formats hold which registered model: the support table and its document.

The table lists only the exceptions (a format that cannot hold a model, with the reason and
the text of the error it raises, and notes on formats that hold a model with a condition);
every other cell is supported. ``tests/test_zoo_export.py`` builds every registered model small,
trains it one step, exports it to each format, runs it in its runtime and checks it against
Keras: a supported cell must convert and match, a gap must fail with its documented error, and
the TFLite Micro operators a model lacks must be exactly the ones listed here.

Regenerate ``docs/support_matrix.md`` after changing the table or the registry::

    python -m edgekit.models.support            # writes docs/support_matrix.md
    python -m edgekit.models.support --check    # exit 1 when the committed file is stale

This module imports no converter: the document is rendered from the table and the registry.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from edgekit.models.registry import get_spec, list_models

COLUMNS = {  # column -> (format, precision) as edgekit.export takes them
    "tflite_fp32": ("tflite", "fp32"),
    "tflite_int8": ("tflite", "int8"),
    "onnx_fp32": ("onnx", "fp32"),
}
HEADERS = {"tflite_fp32": "TFLite fp32", "tflite_int8": "TFLite int8", "onnx_fp32": "ONNX fp32",
           "mcu": "MCU (TFLM ops)", "gpu": "Phone GPU (fp32 ops)"}

# Parity with Keras (cosine over all outputs of the same inputs). fp32 artifacts must equal Keras
# up to float rounding; int8 ones carry quantization error, which depends on the model.
FP32_MIN_COSINE = 0.9999
INT8_MIN_COSINE = 0.98


@dataclass(frozen=True)
class Gap:
    """A format that cannot hold a model: ``reason`` for people, ``error`` a fragment of the
    EdgekitError message the export raises (checked by the test)."""

    reason: str
    error: str


@dataclass(frozen=True)
class Note:
    """A format that holds the model with a condition worth knowing."""

    text: str


_RNN_BATCH1 = Note("batch 1: the converter needs a static batch for a rolled LSTM's TensorList ops, so "
                   "edgekit converts it from a batch-1 function with its weights frozen: the loop is a stateless "
                   "WHILE (the fused UNIDIRECTIONAL_SEQUENCE_LSTM would carry one sample's state into the next "
                   "invoke); int8 unrolls it first (or build it with unroll=True)")
_TOKENS_INT8 = Note("the input stays int32 token ids (an Embedding lookup, GATHER); everything after it is int8")
_GELU_ONNX = Note("exact GELU is written with erf (`gelu_erf`): Keras' own form goes through erfc, which "
                  "tf2onnx emits as an Erfc node that onnxruntime has no kernel for")
_GROUPED_ONNX = Note("the grouped 3x3 conv is a `GroupedConv2D` (split, 32 convs, concat): tf_keras' "
                     "Conv2D(groups=32) becomes a node onnxruntime rejects, and TFLM's CONV_2D has no groups")

GAPS: dict[tuple[str, str], Gap] = {}
NOTES: dict[tuple[str, str], Note] = {}
for _name in ("lstm", "bilstm", "seq_attention"):
    NOTES[(_name, "tflite_fp32")] = _RNN_BATCH1
    NOTES[(_name, "tflite_int8")] = _RNN_BATCH1
for _name in ("lstm", "bilstm", "seq_attention", "transformer_encoder"):
    NOTES.setdefault((_name, "tflite_int8"), _TOKENS_INT8)
for _name in ("transformer_encoder", "vit_tiny"):
    NOTES[(_name, "onnx_fp32")] = _GELU_ONNX
NOTES[("resnext50_32x4d", "onnx_fp32")] = _GROUPED_ONNX
# TFLite Micro operators the int8 model uses and TFLM has no kernel for.
MCU_UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "transformer_encoder": ("GELU", "REDUCE_PROD"),
    "vit_tiny": ("GELU", "REDUCE_PROD", "TILE"),
}
# Why TFLM lacks each operator above, and what to change for a microcontroller.
MCU_OP_REASONS: dict[str, str] = {
    "GELU": "TFLM has no GELU kernel; `transformer_encoder` can be built with activation='relu' "
            "(vit_tiny's GELU is fixed)",
    "REDUCE_PROD": "the converted attention block computes a shape as a product of dimensions (REDUCE_PROD); "
                   "TFLM has no kernel for it",
    "TILE": "ViT's class token is tiled over the batch; TFLM has no TILE kernel",
}
# Operators of the fp32 TFLite export (dynamic batch, as `edgekit export` writes it) that a phone's GPU
# delegate has no kernel for, by edgekit.runtime.gpu's rules (LiteRT's own analyzer no longer checks ops);
# tests/test_zoo_export.py checks them for every model. They run on the CPU beside the delegated rest.
GPU_UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "autoencoder_conv": ("SHAPE", "STRIDED_SLICE"),
    "bilstm": ("GATHER", "REVERSE_V2", "STRIDED_SLICE", "WHILE"),
    "cgan_generator": ("SHAPE", "STRIDED_SLICE"),
    "ds_cnn": ("EXPAND_DIMS",),
    "gan_generator": ("SHAPE", "STRIDED_SLICE"),
    "lstm": ("GATHER", "STRIDED_SLICE", "WHILE"),
    "mobilenet_v1": ("SHAPE", "STRIDED_SLICE"),
    "seq_attention": ("GATHER", "REVERSE_V2", "WHILE"),
    "siamese": ("L2_NORMALIZATION",),
    "transformer_encoder": ("GATHER", "SHAPE"),
    "vit_tiny": ("GATHER", "SHAPE", "STRIDED_SLICE"),
}
# Models whose listed ops all come from the dynamic batch: `edgekit export --batch1` leaves none
# (checked by converting each at batch 1; transformer_encoder keeps its token GATHER).
GPU_BATCH1_FIXES: tuple[str, ...] = ("autoencoder_conv", "cgan_generator", "ds_cnn", "gan_generator", "mobilenet_v1",
                                     "vit_tiny")
# Per-model int8 parity floors where quantization error is larger than INT8_MIN_COSINE allows.
INT8_COSINE: dict[str, float] = {}


def gap(name: str, column: str) -> Gap | None:
    return GAPS.get((name, column))


def note(name: str, column: str) -> Note | None:
    return NOTES.get((name, column))


def int8_min_cosine(name: str) -> float:
    return INT8_COSINE.get(name, INT8_MIN_COSINE)


def mcu_unsupported(name: str) -> tuple[str, ...]:
    return tuple(sorted(MCU_UNSUPPORTED.get(name, ())))


def gpu_unsupported(name: str) -> tuple[str, ...]:
    return tuple(sorted(GPU_UNSUPPORTED.get(name, ())))


def _support_text(name: str, column: str, footnotes: list[str]) -> str:
    def ref(text: str) -> str:
        if text not in footnotes:
            footnotes.append(text)
        return f"[{footnotes.index(text) + 1}]"

    if column == "gpu":
        missing = gpu_unsupported(name)
        if not missing:
            return "✓"
        fix = " " + ref("`--batch1` export: no such ops (the shape arithmetic of a dynamic batch is folded)") \
            if name in GPU_BATCH1_FIXES else ""
        return "CPU fallback: " + ", ".join(missing) + fix
    if column == "mcu":
        if gap(name, "tflite_int8"):
            return "— (no int8 model)"
        missing = mcu_unsupported(name)
        return "✗ lacks " + ", ".join(missing) if missing else "✓"
    g, n = gap(name, column), note(name, column)
    if g:
        return "✗ " + ref(g.reason)
    return "✓ " + ref(n.text) if n else "✓"


def render() -> str:
    """The Markdown document, from the table and the registry."""
    footnotes: list[str] = []
    cols = list(COLUMNS) + ["mcu", "gpu"]
    lines = [
        "# Export support matrix",
        "",
        "Generated by `python -m edgekit.models.support` from the registry and the support table in",
        "`edgekit/models/support.py`; do not edit by hand. `tests/test_zoo_export.py` builds every model",
        "at its small input, trains it one step, exports it to each format, runs the artifact in its",
        "runtime (LiteRT, onnxruntime) and compares it with Keras on the same inputs: a ✓ must convert",
        f"and match (cosine ≥ {FP32_MIN_COSINE} for fp32, ≥ {INT8_MIN_COSINE} for int8 unless listed below), a ✗",
        "must fail with its documented error. The MCU column lists the operators of the int8 model that",
        "TensorFlow Lite Micro has no kernel for (`edgekit.convert.mcu.tflm_ops`). The Phone GPU column",
        "lists the operators of the fp32 TFLite that a phone's GPU delegate has no kernel for",
        "(`edgekit.runtime.gpu`, the delegate's rules; LiteRT 2.3.0's analyzer itself calls every model",
        "compatible): the delegate runs the rest and leaves those to the CPU.",
        "",
        "| model | task | " + " | ".join(HEADERS[c] for c in cols) + " |",
        "| --- | --- | " + " | ".join("---" for _ in cols) + " |",
    ]
    for name in list_models():
        spec = get_spec(name)
        cells = [_support_text(name, c, footnotes) for c in cols]
        lines.append(f"| `{name}` | {spec.task} | " + " | ".join(cells) + " |")
    if footnotes:
        lines += ["", "## Notes and reasons", ""]
        lines += [f"{i}. {text}" for i, text in enumerate(footnotes, start=1)]
    used = sorted({op for ops in MCU_UNSUPPORTED.values() for op in ops})
    if used:
        lines += ["", "## Operators TFLite Micro lacks", ""]
        lines += [f"- `{op}`: {MCU_OP_REASONS[op]}" for op in used]
    gpu_ops = sorted({op for ops in GPU_UNSUPPORTED.values() for op in ops})
    if gpu_ops:
        from edgekit.runtime.gpu import FIXES

        lines += ["", "## Operators the phone GPU delegate lacks", ""]
        lines += [f"- `{op}`: {FIXES.get(op, 'no GPU delegate kernel: it runs on the CPU')}" for op in gpu_ops]
    if INT8_COSINE:
        lines += ["", "## Looser int8 parity", ""]
        lines += [f"- `{n}`: cosine ≥ {c}" for n, c in sorted(INT8_COSINE.items())]
    lines += ["", "Why int8 parity is looser: a full-integer model rounds every weight and activation to 256",
              "levels with scales calibrated on a few samples, so its outputs differ from float Keras by the",
              "quantization error (typically cosine 0.99–0.9999 on these small models); fp32 artifacts differ",
              "only by float rounding.", ""]
    return "\n".join(lines) + _your_model_section()


# The "your model" section is written by tests/test_user_models.py from its corpus of user models
# (a test owns it, since the corpus is made there); regenerating the zoo part keeps it as it is.
YOUR_MODEL_BEGIN = "<!-- your-model table: generated by tests/test_user_models.py, do not edit by hand -->"


def _your_model_section() -> str:
    text = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    at = text.find(YOUR_MODEL_BEGIN)
    return "" if at < 0 else "\n" + text[at:]


DOC = Path(__file__).resolve().parents[2] / "docs" / "support_matrix.md"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    text = render()
    if "--check" in argv:
        ok = DOC.is_file() and DOC.read_text() == text
        print(f"{DOC}: {'up to date' if ok else 'stale; run python -m edgekit.models.support'}")
        return 0 if ok else 1
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC} ({len(list_models())} models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
