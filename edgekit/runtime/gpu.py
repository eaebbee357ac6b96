"""Will a .tflite run on a phone's GPU delegate? Which op, in which layer, blocks it, and what to change.

LiteRT ships a model analyzer (``ai_edge_litert._pywrap_analyzer_wrapper.ModelAnalyzer``, the same
check as TensorFlow's ``tf.lite.experimental.Analyzer`` without TensorFlow); :func:`analyzer_text` is
the one place edgekit calls that private wrapper. In ai-edge-litert 2.3.0 (and TF 2.21) the
analyzer's per-operator GPU check is gone: it prints "looks compatible with GPU delegate" for every
model, even one with ops the delegate has no kernel for (SEGMENT_SUM, UNIDIRECTIONAL_SEQUENCE_LSTM).
So edgekit also checks each operator against the delegate's rules as LiteRT's
``tools/versioning/gpu_compatibility.cc`` states them (the supported-op list and the option
constraints that models here hit), and reports both: any ``GPU COMPATIBILITY WARNING`` the analyzer
prints is kept, and the notes say which check found what.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgekit.artifact import GpuCompat, GpuOp
from edgekit.tflite_file import io_types, op_name, read_model, read_tflite_bytes, tensor_name, tensor_shape

# Builtin ops the GPU delegate has a kernel for (the cases of gpu_compatibility.cc's switch).
GPU_OPS = frozenset("""
ABS ADD ADD_N ATAN2 AVERAGE_POOL_2D BATCH_MATMUL CAST CEIL CONCATENATION CONV_2D COS CUMSUM DENSIFY
DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP FLOOR
FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS LESS_EQUAL
LOG LOGICAL_AND LOGISTIC LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD
PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT
SQUARE SQUARED_DIFFERENCE STABLEHLO_CLAMP STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV
""".split())
GPU_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})

_BATCH1 = ("with a dynamic batch the converter computes shapes at run time (SHAPE, STRIDED_SLICE, EXPAND_DIMS); "
           "a batch-1 export (`edgekit export --batch1`) folds them away")
# What to change, per op, where edgekit (or the model's author) can.
FIXES = {
    "SHAPE": _BATCH1,
    "EXPAND_DIMS": "no GPU kernel for EXPAND_DIMS; " + _BATCH1,
    "L2_NORMALIZATION": "no GPU kernel for L2_NORMALIZATION: normalize the embedding in the app, or write it as "
                        "x * rsqrt(sum(x*x)) (MUL, SUM, RSQRT have GPU kernels)",
    "REVERSE_V2": "a backward RNN reverses the sequence (REVERSE_V2, no GPU kernel): it runs on the CPU",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "the GPU delegate has no sequence-LSTM kernel: this part runs on the CPU "
                                    "(the delegate splits the graph); for a GPU-only graph use a Conv1D or "
                                    "attention model (e.g. `ds_cnn`, `transformer_encoder`) instead of the LSTM",
    "BIDIRECTIONAL_SEQUENCE_LSTM": "no GPU kernel for a bidirectional LSTM: it runs on the CPU; use a Conv1D or "
                                   "attention model for a GPU-only graph",
    "WHILE": "a rolled loop (a recurrent layer): build it with unroll=True or use a non-recurrent model",
    "STRIDED_SLICE": "a slice that drops an axis (x[:, -1] or x[:, 0]): slice with a kept axis and Reshape, "
                     "or pool over the axis (GlobalAveragePooling1D) instead",
    "ARG_MAX": "take the arg-max in the app from the scores instead of inside the model",
    "ARG_MIN": "take the arg-min in the app instead of inside the model",
    "TOPK_V2": "take the top-k in the app from the scores instead of inside the model",
    "GATHER": "the GPU GATHER needs float data and 1-D int32 indices; an Embedding lookup on token ids runs on "
              "the CPU",
    "SOFTMAX": "the GPU softmax needs beta 1 (no temperature inside the model)",
    "CAST": "the GPU casts only between float/int32/bool; keep the input in the type the model computes in",
}

_WARNING = re.compile(r"GPU COMPATIBILITY WARNING: (?!Subgraph#)(.*)")
_OP_LINE = re.compile(r"^\s*Op#(\d+) (\S+)\(")


def analyzer_text(path: str | Path) -> str:
    """LiteRT's model analyzer report with its GPU check on (the one caller of the private wrapper)."""
    from ai_edge_litert import _pywrap_analyzer_wrapper

    return _pywrap_analyzer_wrapper.ModelAnalyzer(str(path), True, True)


def parse_analyzer(text: str) -> dict:
    """``{"compatible": bool, "warnings": [(op_index, op, message)]}`` from the analyzer's text."""
    warnings, last = [], None
    for line in text.splitlines():
        m = _OP_LINE.match(line)
        if m:
            last = (int(m.group(1)), m.group(2))
            continue
        w = _WARNING.search(line)
        if w and last is not None:
            warnings.append((last[0], last[1], w.group(1).strip()))
    return {"compatible": "looks compatible with GPU delegate" in text and not warnings, "warnings": warnings}


def layer_of(name: str) -> str:
    """The Keras layer a converted tensor came from: ``model/block_3_expand/Conv2D;...`` -> ``block_3_expand``."""
    first = name.split(";")[0]
    parts = [p for p in first.split("/") if p]
    if len(parts) >= 3:
        return parts[1]
    return parts[-2] if len(parts) == 2 else (parts[0] if parts else name)


def _op_layer(model, sg, op) -> str:
    """The layer of an op: from its output's name, else its weights', else its inputs' (converter-made
    names such as ``tfl.strided_slice`` or ``StatefulPartitionedCall:0`` carry no layer)."""
    from edgekit.tflite_file import buffer_array

    ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
    const = [i for i in ins if buffer_array(model, sg.tensors[i]) is not None]
    own = [int(i) for i in (op.outputs if op.outputs is not None else [])] + const
    for i in own:
        if "/" in tensor_name(sg.tensors[i]).split(";")[0]:
            return layer_of(tensor_name(sg.tensors[i]))
    for i in ins:
        if i not in const and "/" in tensor_name(sg.tensors[i]).split(";")[0]:
            return f"the layer after {layer_of(tensor_name(sg.tensors[i]))}"
    return tensor_name(sg.tensors[own[0]]) if own else "?"


def _options(op):
    return getattr(op, "builtinOptions", None)


def _rule(model, sg, op, name: str) -> str | None:
    """Why the GPU delegate rejects this op, or None."""
    if name not in GPU_OPS and name not in GPU_CUSTOM_OPS:
        return f"not supported op {name}"
    ins = [sg.tensors[i] for i in (op.inputs if op.inputs is not None else []) if i >= 0]
    outs = [sg.tensors[i] for i in (op.outputs if op.outputs is not None else [])]
    opts = _options(op)
    from edgekit.tflite_file import tensor_type_name as ttype

    if name == "STRIDED_SLICE":
        for mask in ("ellipsisMask", "newAxisMask", "shrinkAxisMask"):
            if getattr(opts, mask, 0):
                return f"STRIDED_SLICE with {mask} (the GPU slice keeps every axis)"
        if ins and len(tensor_shape(ins[0])) not in (3, 4):
            return f"STRIDED_SLICE of a {len(tensor_shape(ins[0]))}-D tensor (GPU: 3-D or 4-D only)"
    elif name == "SLICE" and ins and len(tensor_shape(ins[0])) not in (3, 4):
        return f"SLICE of a {len(tensor_shape(ins[0]))}-D tensor (GPU: 3-D or 4-D only)"
    elif name == "SOFTMAX" and opts is not None and float(getattr(opts, "beta", 1.0)) != 1.0:
        return "SOFTMAX with beta != 1"
    elif name == "GATHER" and len(ins) >= 2:
        if ttype(ins[0].type) == "INT32":
            return "GATHER of int32 data"
        if len(tensor_shape(ins[1])) != 1 or ttype(ins[1].type) != "INT32":
            return "GATHER needs 1-D int32 indices"
    elif name == "CAST" and ins and outs:
        a, b = ttype(ins[0].type), ttype(outs[0].type)
        ok = ({a, b} <= {"FLOAT32", "INT32"}) or (a == "BOOL" and b in ("FLOAT16", "FLOAT32")) or \
             (a in ("FLOAT16", "FLOAT32") and b == "BOOL")
        if not ok:
            return f"CAST {a} -> {b}"
    elif name == "DEQUANTIZE" and ins and ttype(ins[0].type) == "INT16":
        return "DEQUANTIZE of int16"
    elif name == "ADD_N" and len(ins) != 2:
        return "ADD_N with more than 2 inputs"
    elif name == "FULLY_CONNECTED" and ins:
        buf = model.buffers[ins[0].buffer] if ins[0].buffer else None
        if buf is not None and buf.data is not None and len(buf.data):
            return "FULLY_CONNECTED with a constant input"
    elif name == "MIRROR_PAD" and opts is not None and int(getattr(opts, "mode", 0)) != 0:
        return "MIRROR_PAD in SYMMETRIC mode (GPU: REFLECT only)"
    return None


def gpu_compatibility(path: str | Path) -> GpuCompat:
    """Check a .tflite for the GPU delegate: LiteRT's analyzer plus edgekit's per-op rules."""
    read_tflite_bytes(path)
    text = analyzer_text(path)
    analyzer = parse_analyzer(text)
    model = read_model(path)
    blocked: dict[tuple[int, int], GpuOp] = {}
    for s, sg in enumerate(model.subgraphs):
        for i, op in enumerate(sg.operators or []):
            name = op_name(model.operatorCodes[op.opcodeIndex])
            reason = _rule(model, sg, op, name)
            if reason is None:
                continue
            layer = _op_layer(model, sg, op)
            blocked[(s, i)] = GpuOp(index=i, op=name, layer=layer, reason=reason, fix=FIXES.get(name))
    for i, name, message in analyzer["warnings"]:  # a future analyzer that checks per op again
        blocked.setdefault((0, i), GpuOp(index=i, op=name, layer="?", reason=message, fix=FIXES.get(name)))
    ops = [blocked[k] for k in sorted(blocked)]
    notes = []
    if analyzer["compatible"] and ops:
        notes.append("LiteRT's analyzer says 'looks compatible' (its per-op GPU check is absent in this "
                     "LiteRT); edgekit's op rules found the ops listed")
    elif not ops:
        notes.append("every op has a GPU delegate kernel (LiteRT analyzer and edgekit's op rules)")
    ins, _ = io_types(model)
    sg0 = model.subgraphs[0]
    sig = sg0.tensors[sg0.inputs[0]].shapeSignature if len(sg0.inputs) else None
    if ops and sig is not None and len(sig) and int(sig[0]) == -1:
        notes.append("the batch is dynamic: " + _BATCH1)
    if any(t in ("INT8", "UINT8") for t in ins):
        notes.append("integer input: the GPU delegate runs quantized models by dequantizing weights to float; "
                     "the fp16 export is the GPU-friendly one")
    if ops:
        notes.append("the delegate runs the supported parts and leaves the rest to the CPU, which costs copies "
                     "between them")
    return GpuCompat(compatible=not ops, unsupported_ops=ops, notes="; ".join(notes) + ".")


def gpu_summary(g: GpuCompat) -> str:
    """One line for the console and report.md."""
    if g.compatible:
        return "GPU delegate: compatible"
    shown = ", ".join(f"{o.op} in {o.layer}" for o in g.unsupported_ops[:4])
    more = f" (+{len(g.unsupported_ops) - 4} more)" if len(g.unsupported_ops) > 4 else ""
    return f"GPU delegate: not compatible: {shown}{more}"
