"""Shared checks for builders whose output is not a class vector."""

from __future__ import annotations

from edgekit.errors import EdgekitError


def reject_num_classes(fn: str, num_classes, what: str):
    if num_classes is not None:
        raise EdgekitError(f"{fn}: {what}, so num_classes does not apply (got {num_classes!r}); leave it unset.")


def check_features(fn: str, input_shape):
    shape = tuple(input_shape)
    if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] <= 0:
        raise EdgekitError(f"{fn}: input_shape must be (features,) with a positive int, got {input_shape!r}.")
    return shape


def check_int_list(fn: str, arg: str, values, allow_empty: bool = False):
    values = tuple(values)
    if (not values and not allow_empty) or any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in values):
        raise EdgekitError(f"{fn}: {arg} must be a {'' if allow_empty else 'non-empty '}sequence of positive ints, "
                           f"got {values!r}.")
    return values


def check_rate(fn: str, arg: str, value, upper: float = 1.0):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < upper:
        raise EdgekitError(f"{fn}: {arg} must be in [0, {upper:g}), got {value!r}.")
    return value
