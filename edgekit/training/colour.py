"""Does an image's colour say anything about its class? Measured on the training split only.

Why it matters: in a few hundred images each image's colours are close to unique, and a network
from scratch can tell its training images apart by colour alone. On 4 arrow directions x 80,
drawn in random colours on random backgrounds, MobileNetV2 0.35 reached 0.83-0.90 training
accuracy while validation stayed near 0.6 (test 0.42-0.73). With the colour channels of each
training image put in a random order and half of them inverted (``colours = true``), that
shortcut is gone, and the model must learn the shapes: one run of the arrows reached 0.97 test
accuracy, another 0.50 (still at 0.55 training accuracy when early stopping ended it), the 4 x 80
shapes 0.98 (benchmarks/results/small_data_onset_probe_20261207T070632Z.md,
small_data-20261207T072023Z.md). Where colour is part of a class (ripe and unripe fruit),
shuffling it would teach the model to ignore what tells the classes apart; and on 5 letters x 60
in random colours (thin strokes) it delayed learning by ~30 epochs (0.63 instead of 0.98). So the
recipe only offers ``colours = true``, where colour alone predicts the class no better than chance.

The test: per image, a coarse colour histogram (4 levels per channel) and the median colours of
its background and of its object (:mod:`edgekit.training.detail`'s mask) feed a logistic
regression trained on folds of the training images; its accuracy on the held-out folds is set
against the majority class's share. Colour tells the classes apart where that accuracy is above chance
by :data:`MARGIN_SE` standard errors (at least :data:`MIN_GAIN`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.training.detail import background_distance, object_mask

MARGIN_SE = 2.0  # binomial standard errors of chance
MIN_GAIN = 0.05
FOLDS = 5
LEVELS = 4  # histogram levels per channel


@dataclass(frozen=True)
class ColourCheck:
    accuracy: float  # cross-validated accuracy of the colour classifier on held-out training images
    chance: float  # the majority class's share of the training images
    margin: float  # above chance by more than this: colour tells the classes apart

    @property
    def tells_class(self) -> bool:
        return self.accuracy - self.chance > self.margin

    def describe(self) -> str:
        return (f"a classifier on colours alone scored {self.accuracy:.2f} on held-out training images, "
                f"chance {self.chance:.2f}")


def colour_features(x: np.ndarray) -> np.ndarray:
    """``(N, LEVELS**3 + 6)``: each image's colour histogram, background colour and object colour,
    in the units of ``x``."""
    lo, hi = float(x.min()), float(x.max())
    scale = (hi - lo) or 1.0
    out = []
    for img in x:
        levels = np.clip(((img - lo) / scale * LEVELS).astype(int), 0, LEVELS - 1).reshape(-1, 3)
        index = (levels[:, 0] * LEVELS + levels[:, 1]) * LEVELS + levels[:, 2]
        hist = np.bincount(index, minlength=LEVELS ** 3) / len(index)
        flat = img.reshape(-1, 3)
        mask = object_mask(background_distance(img)).ravel()
        obj = np.median(flat[mask], axis=0) if mask.any() else np.median(flat, axis=0)
        out.append(np.concatenate([hist, np.median(flat, axis=0), obj]))
    return np.asarray(out, np.float32)


def colour_check(x: np.ndarray, y: np.ndarray, seed: int = 0) -> ColourCheck | None:
    """Whether colour alone tells the classes ``y`` of the RGB images ``x`` (N, H, W, 3) apart;
    ``None`` for other images or too few images per class to cross-validate."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y).ravel()
    _, counts = np.unique(y, return_counts=True)
    if x.ndim != 4 or x.shape[-1] != 3 or len(counts) < 2 or counts.min() < FOLDS:
        return None
    held_out = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
                                 colour_features(x), y, cv=StratifiedKFold(FOLDS, shuffle=True, random_state=seed))
    accuracy = float(np.mean(held_out == y))
    chance = float(counts.max() / len(y))
    margin = max(MIN_GAIN, MARGIN_SE * float(np.sqrt(chance * (1 - chance) / len(y))))
    return ColourCheck(round(accuracy, 4), round(chance, 4), round(margin, 4))
