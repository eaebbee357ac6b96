"""A uint8 image input that takes camera pixels as they are.

Phone libraries (the Android Task Library, MediaPipe Tasks) feed a uint8 input tensor the image's
bytes unchanged: they read the metadata's normalization only for float inputs. So a uint8 file is
right in an app only when its input quantization *is* the normalization, ``real = (q - zero_point)
* scale`` with ``scale = 1 / std`` and ``zero_point = mean``: then ``q = raw``. The converter
instead picks the input's scale and zero point from the calibration images' range, which matches
only when they happen to span 0..255 exactly. :func:`pin_raw_pixel_input` sets the input's
quantization to the normalization's; the converter's QUANTIZE op that follows the uint8 input
(uint8 -> the model's int8) requantizes from whatever the input says, so the model is unchanged.
"""

from __future__ import annotations

import numpy as np

from edgekit.artifact import Normalization

RAW_PIXELS = (0.0, 255.0)


def raw_pixel_grid(normalization: Normalization | None) -> tuple[float, int] | None:
    """``(scale, zero_point)`` of a uint8 input fed raw 8-bit pixels, or None when the data is not
    8-bit pixels. A mean that is not a whole number (127.5) rounds half up: half a pixel level off."""
    if normalization is None or tuple(normalization.raw_range) != RAW_PIXELS or not normalization.std:
        return None
    zero_point = int(np.floor(normalization.mean + 0.5))
    if not 0 <= zero_point <= 255:
        return None
    return 1.0 / float(normalization.std), zero_point


def pin_raw_pixel_input(model, normalization: Normalization | None) -> bool:
    """Quantize the uint8 image input of ``model`` (a parsed .tflite, changed in place) as
    :func:`raw_pixel_grid` says; True when it was changed. Left as is: no uint8 4-D input, a
    normalization that is not of 8-bit pixels, calibration data that did not span at least half of
    0..255, or an input that feeds anything other than QUANTIZE ops (then its scale is part of the
    arithmetic, not a border)."""
    from ai_edge_litert import schema_py_generated as schema

    grid = raw_pixel_grid(normalization)
    if grid is None:
        return False
    sg = model.subgraphs[0]
    index = sg.inputs[0]
    tensor = sg.tensors[index]
    if tensor.type != schema.TensorType.UINT8 or len(tensor.shape) != 4 or tensor.quantization is None:
        return False
    scale, zero_point = grid
    calibrated = float(np.ravel(tensor.quantization.scale)[0]) if tensor.quantization.scale is not None else 0.0
    # The calibration images spanned at least half of 0..255 (the converter's step is at most twice the
    # pixel step): the data are 8-bit pixels. Otherwise (a record that says 0..255 for data that is not,
    # e.g. features in [0, 1)) one pixel step would flatten the input: keep the calibrated grid.
    if not 0.5 <= calibrated / scale <= 1.05:
        return False
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    consumers = [op for op in sg.operators if index in list(op.inputs)]
    if not consumers or any(codes[op.opcodeIndex] != schema.BuiltinOperator.QUANTIZE for op in consumers):
        return False
    tensor.quantization.scale = np.asarray([scale], np.float32)
    tensor.quantization.zeroPoint = np.asarray([zero_point], np.int64)
    tensor.quantization.min = tensor.quantization.max = None
    return True
