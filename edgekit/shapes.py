"""``--input-shape 96x96x3`` and ``--resolution 96``: the input size as a flag (no TensorFlow here).

``--resolution R`` is a square image of side R; its channels are filled in from the model
(``(R, R, None)`` here, completed by :func:`complete_shape` once the model is known), except
where ``edgekit train`` builds the model for an image folder: there they are the images' own
(``edgekit.training.fit``). :func:`num_elements` counts the values a shape holds.
"""

from __future__ import annotations

import math
import re

from edgekit.errors import EdgekitError


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"96x96x3"`` (or ``96,96,3``, ``"64"``) to ``(96, 96, 3)``."""
    parts = [p for p in re.split(r"[x×,\s]+", str(text).strip().lower().strip("()[]")) if p]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise EdgekitError(f"--input-shape expects positive sizes like 96x96x3 (height x width x channels), got {text!r}.")
    return dims


def input_shape_from_flags(input_shape: str | None, resolution: int | None, param=None):
    """The shape the flags ask for (``None`` if neither is given); refuses contradicting flags."""
    given = [n for n, v in (("--input-shape", input_shape), ("--resolution", resolution),
                            ("--param input_shape", param)) if v is not None]
    if len(given) > 1:
        raise EdgekitError(f"give the input size once: {' and '.join(given)} both set it.")
    if input_shape is not None:
        return parse_input_shape(input_shape)
    if resolution is not None:
        if int(resolution) <= 0:
            raise EdgekitError(f"--resolution must be a positive image side, got {resolution}.")
        return (int(resolution), int(resolution), None)
    return None if param is None else tuple(param)


def complete_shape(shape, default_shape):
    """Fill a ``--resolution`` shape's channels from the model's default input."""
    if shape is None or None not in tuple(shape):
        return shape
    if len(default_shape) != 3:
        raise EdgekitError(f"--resolution applies to image models; this model's input is {tuple(default_shape)}: "
                           "use --input-shape.")
    return (shape[0], shape[1], int(default_shape[-1]))


def params_with_input_shape(params: dict, input_shape: str | None, resolution: int | None) -> dict:
    """``--input-shape 96x96x3`` / ``--resolution 96`` as the ``input_shape`` knob of ``params``."""
    shape = input_shape_from_flags(input_shape, resolution, params.get("input_shape"))
    if shape is not None:
        params["input_shape"] = shape
    return params


def square_side(input_shape: str | None, resolution: int | None) -> int | None:
    """tune and compress take square images: the side ``--input-shape``/``--resolution`` ask for."""
    shape = params_with_input_shape({}, input_shape, resolution).get("input_shape")
    if shape is None:
        return None
    if len(shape) != 3 or shape[0] != shape[1]:
        raise EdgekitError(f"--input-shape {input_shape}: this command takes square images (HxHxC), "
                           "e.g. 96x96x3 or --resolution 96.")
    return int(shape[0])


def num_elements(shape) -> int:
    """The number of values in a tensor of ``shape`` (a list of ints, NumPy ints too; ``[]`` -> 1)."""
    return math.prod(int(d) for d in shape)
