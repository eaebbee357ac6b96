"""Is a left-right mirrored image still an image of its class? Measured on the training split only.

Why it matters: on a few hundred images a random mirror is the augmentation that let MobileNetV2
learn the benchmark's shapes (circles, squares, triangles, stars: a mirrored one is just another
shape of its class), and the one that kept it from learning letters (a mirrored R is no R the test
images hold: the model must learn two forms per class from the same few images). So the recipe
mirrors only where a mirrored image looks like its own class.

The test: each image's outline features (a histogram of edge orientations in a 4x4 grid over the
part of the image that differs from its background colour, so colours and positions do not
matter) feed a logistic regression trained on folds of the training images; it scores the
held-out fold as it is and mirrored. Where the classes look alike mirrored, the two scores agree
(whatever the classifier learned holds for mirrored images too); where mirroring changes the
class's look, the mirrored score falls. The mirror is used unless it falls by more than
:data:`MARGIN_SE` standard errors (at least :data:`MIN_DROP`). A classifier that learned nothing
scores chance both ways, and the mirror stays on, as before this test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.training.detail import background_distance, object_mask

MARGIN_SE = 2.0  # binomial standard errors of the as-is score
MIN_DROP = 0.05
FOLDS = 5
SIDE = 32  # the object's box is resampled to this square
CELLS, BINS = 4, 8


@dataclass(frozen=True)
class MirrorCheck:
    accuracy: float  # cross-validated accuracy of the outline classifier on held-out training images
    mirrored: float  # the same classifiers on the same images mirrored
    margin: float  # a fall larger than this: mirroring changes the classes' look

    @property
    def keeps_class(self) -> bool:
        return self.accuracy - self.mirrored <= self.margin

    def describe(self) -> str:
        return (f"an outline classifier scored {self.accuracy:.2f} on held-out training images and "
                f"{self.mirrored:.2f} on them mirrored")


def outline_features(x: np.ndarray) -> np.ndarray:
    """``(N, CELLS * CELLS * BINS)``: edge-orientation histograms of each image's object box."""
    return np.stack([_hog(_object_box(background_distance(img))) for img in x])


def _object_box(d: np.ndarray) -> np.ndarray:
    """``d`` cut to the box of its clearly different pixels, resampled to SIDE x SIDE."""
    from PIL import Image

    rows, cols = np.nonzero(object_mask(d))
    if len(rows) >= 4:
        r0, r1 = np.percentile(rows, [1, 99]).astype(int)
        c0, c1 = np.percentile(cols, [1, 99]).astype(int)
        side = max(r1 - r0, c1 - c0) // 2 + 1  # a square box about the object's centre keeps its proportions
        rc, cc = (r0 + r1) // 2, (c0 + c1) // 2
        d = np.pad(d, side, mode="edge")[rc:rc + 2 * side + 1, cc:cc + 2 * side + 1]
    return np.asarray(Image.fromarray(d.astype(np.float32), mode="F").resize((SIDE, SIDE), Image.BILINEAR))


def _hog(d: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(d)
    mag = np.hypot(gx, gy)
    bins = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * BINS).astype(int), BINS - 1)
    cell = (np.arange(SIDE) * CELLS // SIDE)
    index = (cell[:, None] * CELLS + cell[None, :]) * BINS + bins
    h = np.bincount(index.ravel(), weights=mag.ravel(), minlength=CELLS * CELLS * BINS)
    return h / (np.linalg.norm(h) + 1e-6)


def mirror_check(x: np.ndarray, y: np.ndarray, seed: int = 0) -> MirrorCheck | None:
    """Whether mirroring the images ``x`` (N, H, W, C) keeps the look of their classes ``y``;
    ``None`` with too few images per class to cross-validate."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    if x.ndim != 4 or len(counts) < 2 or counts.min() < FOLDS:
        return None
    plain, mirrored = outline_features(x), outline_features(x[:, :, ::-1])
    right = np.zeros(2)
    for fit_idx, held in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(plain, y):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(plain[fit_idx], y[fit_idx])
        right += [np.sum(clf.predict(plain[held]) == y[held]), np.sum(clf.predict(mirrored[held]) == y[held])]
    accuracy, after = right / len(y)
    margin = max(MIN_DROP, MARGIN_SE * float(np.sqrt(accuracy * (1 - accuracy) / len(y))))
    return MirrorCheck(round(float(accuracy), 4), round(float(after), 4), round(margin, 4))
