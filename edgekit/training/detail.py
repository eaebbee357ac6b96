"""How thin are the thinnest parts of an image set's objects? Measured on the training split only.

Why it matters: on a few hundred images `edgekit suggest` reads images at most 64x64 (more pixels
cost time and, for filled shapes, added nothing). Letters are strokes: 5 letters x 60 at 96x96,
read at 64x64, had strokes about 4 px wide and MobileNetV2 0.35 had not started to learn them when
early stopping ended the run at epoch 119 (training accuracy 0.32, test 0.20); read at 96x96
(strokes about 6 px) it learned, late (0.817, 0.833, 0.933 on three seeds); read at 80x80, the
smallest side in steps of 16 where the strokes are 5 px, it learned sooner on two of the three
(0.983, 0.983, 0.800; benchmarks/results/small_data_onset_probe*.md) at 0.69x the pixels. The shapes' thinnest parts are
~19 px wide at 64.

The measure: per image, the pixels whose colour is clearly not the background's (its median
colour), specks of one pixel removed; the largest distance from such a pixel to the background
(the half-width of the object's thickest part, which for a letter is its stroke). The set's
figure is the median over its training images, in pixels of the side it is read at.
"""

from __future__ import annotations

import numpy as np

# A stroke narrower than twice this (in pixels at the side read) is too thin: the letters had
# 2.0 at 64 and did not start learning by epoch 119; 2.5 at 80 and 3.0 at 96, and learned at both.
MIN_HALF_WIDTH = 2.5


def background_distance(img: np.ndarray) -> np.ndarray:
    """How far each pixel's colour is from the image's median colour (its background, mostly)."""
    flat = img.reshape(-1, img.shape[-1])
    return np.linalg.norm(img - np.median(flat, axis=0), axis=-1)


def object_mask(d: np.ndarray) -> np.ndarray:
    """The pixels of :func:`background_distance` ``d`` clearly away from the background: above
    half-way from the median distance to the near-largest one."""
    lo, hi = np.median(d), np.percentile(d, 99.5)
    return d > lo + 0.5 * (hi - lo)


def half_width(img: np.ndarray) -> float:
    """The half-width in pixels of the thickest part of ``img``'s object (see the module)."""
    from scipy import ndimage

    mask = ndimage.binary_opening(object_mask(background_distance(img)))
    return float(ndimage.distance_transform_edt(mask).max()) if mask.any() else 0.0


def training_half_width(source, side: int, seed: int = 0) -> float:
    """The median :func:`half_width` of ``source``'s training images (the split ``edgekit train``
    makes with ``seed``; validation and test images are not looked at), read at ``side`` x ``side``."""
    from edgekit.data import load_dataset

    ds = load_dataset(source, input_shape=(side, side, None), seed=seed)
    return float(np.median([half_width(x) for x in ds.x_train]))
