"""Argument checks and small helpers shared by the builders."""

from __future__ import annotations

from edgekit.errors import EdgekitError


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10%
    (from the MobileNet reference implementations)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def correct_pad(x, kernel_size: int):
    """Padding for a stride-2 'valid' conv that matches TF's 'same' on even inputs (the MobileNets'
    downsampling, as in keras.applications)."""
    h, w = x.shape[1], x.shape[2]
    adjust = (1 - h % 2, 1 - w % 2)
    k = kernel_size // 2
    return ((k - adjust[0], k), (k - adjust[1], k))


def check_image_shape(name: str, input_shape, min_size: int = 1, channels: tuple[int, ...] | None = None):
    shape = tuple(input_shape)
    if len(shape) != 3 or any((not isinstance(d, int)) or d <= 0 for d in shape):
        raise EdgekitError(
            f"{name}: input_shape must be (height, width, channels) of positive ints, got {input_shape!r}."
        )
    if shape[0] < min_size or shape[1] < min_size:
        raise EdgekitError(f"{name}: input height and width must be at least {min_size}, got {shape[:2]}.")
    if channels and shape[2] not in channels:
        raise EdgekitError(f"{name}: input channels must be one of {channels}, got {shape[2]}.")
    return shape


def check_positive(name: str, arg: str, value, *, integer: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise EdgekitError(f"{name}: {arg} must be {kind}, got {value!r}.")
    return value


def check_choice(name: str, arg: str, value, choices):
    if value not in choices:
        raise EdgekitError(f"{name}: {arg} must be one of {', '.join(map(str, choices))}; got {value!r}.")
    return value


def check_features(fn: str, input_shape):
    shape = tuple(input_shape)
    if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] <= 0:
        raise EdgekitError(f"{fn}: input_shape must be (features,) with a positive int, got {input_shape!r}.")
    return shape


def check_int_list(fn: str, arg: str, values, allow_empty: bool = False):
    """``values`` as a tuple of positive ints; one int is a sequence of one (``--param dense_units=64``)."""
    given = values
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if (not values and not allow_empty) or any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in values):
        raise EdgekitError(f"{fn}: {arg} must be a {'' if allow_empty else 'non-empty '}sequence of positive ints, "
                           f"got {given!r}.")
    return values


def check_rate(fn: str, arg: str, value, upper: float = 1.0):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < upper:
        raise EdgekitError(f"{fn}: {arg} must be in [0, {upper:g}), got {value!r}.")
    return value
