"""Which data a compression choice reads: the validation split, never the test split.

A variant that chooses (the mixed-precision layer sets, the int4 layers kept at int8, the fine-tuning
epoch kept after pruning) scores its candidates on :func:`selection`'s samples; ``compress`` then
measures every variant once on the test split. Choosing on the test split and reporting on it too
would report the best of several tries as if it were one measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Below this many validation samples one image is more than 2 points of accuracy: too coarse to hold a
# 1-point budget, so the choice falls back to the training split (and the file says so).
MIN_SELECTION = 50


@dataclass(frozen=True)
class Selection:
    split: str  # "validation", or "train" when the validation split is too small
    x: np.ndarray
    y: np.ndarray
    note: str | None = None  # one line saying why the split is not "validation"


def selection(data, minimum: int = MIN_SELECTION) -> Selection:
    """The samples compress's choices are made on (``data``'s validation split when it has ``minimum``)."""
    n_val = len(data.y_val)
    if n_val >= minimum:
        return Selection("validation", data.x_val, np.asarray(data.y_val))
    note = (f"the validation split has {n_val} samples (fewer than {minimum}), too few to choose on: choices "
            f"read the training split ({len(data.y_train)} samples); the model has seen it, so drops there read "
            "smaller than on new data")
    return Selection("train", data.x_train, np.asarray(data.y_train), note)
