"""What XNNPACK (LiteRT's default CPU delegate) refuses in an int8 .tflite, found before running it.

XNNPACK requantizes a convolution's int32 accumulator to int8 with one float per output channel,
``input scale x filter scale[c] / output scale``, and rejects a node whose scale is not in
[2**-32, 256): the whole delegate then fails to prepare ("failed to create XNNPACK runtime") and
LiteRT's default interpreter cannot load a model that its reference kernels run fine. A tuning
trial with a large learning rate produced such a file (a DEPTHWISE_CONV_2D at 501).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit import tflite_file

MAX_REQUANT_SCALE = 256.0  # exclusive upper bound in XNNPACK's convolution/fully-connected definitions
MIN_REQUANT_SCALE = 2.0 ** -32
_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


@dataclass(frozen=True)
class RequantProblem:
    op_index: int
    op: str
    output: str  # the op's output tensor name
    channel: int
    scale: float

    def describe(self) -> str:
        return (f"{self.op} #{self.op_index} ({self.output}), channel {self.channel}: requantization scale "
                f"{self.scale:.4g} (input scale x filter scale / output scale) is outside XNNPACK's "
                f"[2^-32, {MAX_REQUANT_SCALE:g})")


def _scales(tensor) -> np.ndarray | None:
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    return np.asarray(q.scale, np.float64)


def requant_problems(model) -> list[RequantProblem]:
    """Every (op, channel) of the main subgraph whose requantization scale XNNPACK rejects, worst first.

    ``model`` is a parsed model (:func:`edgekit.tflite_file.read_model`) or a path.
    """
    if not hasattr(model, "subgraphs"):
        model = tflite_file.read_model(model)
    sg = model.subgraphs[0]
    found = []
    for op in tflite_file.operators(model):
        if op.op not in _OPS or len(op.inputs) < 2 or not op.outputs:
            continue
        # TRANSPOSE_CONV's inputs are (output_shape, filter, input)
        i_in, i_w = (op.inputs[2], op.inputs[1]) if op.op == "TRANSPOSE_CONV" else (op.inputs[0], op.inputs[1])
        if min(i_in, i_w) < 0:
            continue
        t_in, t_w, t_out = sg.tensors[i_in], sg.tensors[i_w], sg.tensors[op.outputs[0]]
        if tflite_file.tensor_type_name(t_in.type) not in ("INT8", "UINT8"):
            continue
        s_in, s_w, s_out = _scales(t_in), _scales(t_w), _scales(t_out)
        if s_in is None or s_w is None or s_out is None or not s_out[0]:
            continue
        requant = s_in[0] * s_w / s_out[0]
        bad = np.flatnonzero((requant >= MAX_REQUANT_SCALE) | (requant < MIN_REQUANT_SCALE))
        if len(bad):
            c = int(bad[np.argmax(requant[bad])])
            name = tflite_file.tensor_name(t_out).split(";")[0]  # fused ops join their names with ";"
            found.append(RequantProblem(op.index, op.op, name, c, float(requant[c])))
    return sorted(found, key=lambda p: -p.scale)


def summary(problems: list[RequantProblem]) -> str | None:
    """One line naming the worst op and channel (and how many more), or None."""
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more op(s))" if len(problems) > 1 else ""
    return (f"XNNPACK will refuse this model: {problems[0].describe()}{more}; LiteRT falls back to its reference "
            "kernels (slower). Retrain with a lower learning rate or more calibration data.")
