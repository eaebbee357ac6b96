"""Built-in datasets for every task, made from data scikit-learn ships (no download) or
generated offline with a fixed seed.

=================  ==============  =========================================================
name               task            what
=================  ==============  =========================================================
``diabetes``       regression      scikit-learn's diabetes: 442 patients, 10 standardized
                                   features, disease progression after a year (targets
                                   standardized; RMSE/MAE are reported in the original units)
``digits_flat``    classification  the 1,797 digits as 64 features (for MLPs)
``digits_anomaly`` anomaly         digits; "normal" is one digit (0), every other digit is an
                                   anomaly. Train and validation hold normal digits only, the
                                   test split both (``y``: 1 = anomaly)
``digits_pairs``   embedding       digits with their classes; the trainer draws same-class and
                                   different-class pairs from each split
``digits_gen``     generation      digit images in [-1, 1] (a generator's tanh range), with
                                   their classes for a conditional GAN
``token_order``    classification  2,000 token sequences holding token 1 and token 2 once each
                                   among random fillers; the label is whether 1 comes before 2.
                                   Every sequence has the same token counts, so a bag-of-words
                                   model can do no better than chance: order must be modelled
=================  ==============  =========================================================

Digit sources give 64 features for a one-dimensional ``input_shape`` and images resized to the
model's resolution for ``(height, width, channels)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.artifact import Normalization
from edgekit.data.datasets import IMAGE_NORMALIZATION, Dataset, _split, _to_image_batch
from edgekit.errors import EdgekitError

TASK_OF = {
    "diabetes": "regression",
    "digits_flat": "classification",
    "digits_anomaly": "anomaly",
    "digits_pairs": "embedding",
    "digits_gen": "generation",
    "token_order": "classification",
}
NAMES = tuple(TASK_OF)
ANOMALY_NORMAL_DIGIT = 0
TOKEN_A, TOKEN_B, TOKEN_VOCAB = 1, 2, 20  # fillers are 3..19 (0 stays free for padding)


@dataclass
class RegressionDataset(Dataset):
    """A regression dataset: ``y`` arrays are standardized targets, ``(y - target_mean) / target_std``."""

    target_mean: float = 0.0
    target_std: float = 1.0

    def targets(self, y_standardized: np.ndarray) -> np.ndarray:
        """Back to the original target units."""
        return np.asarray(y_standardized, np.float64) * self.target_std + self.target_mean


def builtin_task(name: str) -> str:
    return TASK_OF[name]


def load_builtin(name: str, input_shape=None, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2) -> Dataset:
    if name not in TASK_OF:
        raise EdgekitError(f"unknown built-in dataset {name!r}; choose one of {', '.join(NAMES)}.")
    if name == "diabetes":
        return _diabetes(seed, val_fraction, test_fraction)
    if name == "token_order":
        return _token_order(input_shape, seed, val_fraction, test_fraction)
    raw, y, names, normalization = _digits_input(name, input_shape)
    x = normalization.apply(raw).astype(np.float32)
    if name == "digits_anomaly":
        return _anomaly_split(name, x, y, normalization, seed, val_fraction, test_fraction)
    ds = _split(name, x, y, names, normalization, seed, val_fraction, test_fraction)
    ds.task = TASK_OF[name]
    return ds


def _digits_input(name, input_shape):
    from sklearn.datasets import load_digits

    d = load_digits()
    raw = d.images.astype(np.float32) * (255.0 / 16.0)
    names = [str(i) for i in range(10)]
    shape = tuple(input_shape) if input_shape is not None else ((8, 8, 1) if name == "digits_gen" else (64,))
    if len(shape) == 1:
        if shape[0] != 64:
            raise EdgekitError(f"{name}: flat digits have 64 features but the model expects {shape[0]}; "
                               "build the model with input_shape=(64,) or use an image model.")
        raw = raw.reshape(len(raw), 64)
        # Standardized features: the scale dense layers train best on.
        normalization = Normalization(mean=float(raw.mean()), std=float(raw.std()), raw_range=(0.0, 255.0))
    else:
        raw = _to_image_batch(raw, shape)
        normalization = IMAGE_NORMALIZATION  # [-1, 1]
    return raw, d.target.astype(np.int64), names, normalization


def _anomaly_split(name, x, digit, normalization, seed, val_fraction, test_fraction) -> Dataset:
    """Normal digits are split three ways; anomalies go to the test split only."""
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(digit == ANOMALY_NORMAL_DIGIT))
    anomalies = np.flatnonzero(digit != ANOMALY_NORMAL_DIGIT)
    n_test = max(1, int(round(len(normal) * test_fraction)))
    n_val = max(1, int(round(len(normal) * val_fraction)))
    test_n, val, train = normal[:n_test], normal[n_test : n_test + n_val], normal[n_test + n_val :]
    test = np.concatenate([test_n, anomalies])
    y = (digit != ANOMALY_NORMAL_DIGIT).astype(np.int64)
    return Dataset(name, x[train], y[train], x[val], y[val], x[test], y[test], normalization,
                   ["normal", "anomaly"], task="anomaly")


def _diabetes(seed, val_fraction, test_fraction) -> RegressionDataset:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    d = load_diabetes()
    x = d.data.astype(np.float32)  # already centred and scaled by scikit-learn
    # sklearn scales each column to unit norm over 442 rows (std ~0.048): rescale to unit variance
    # with one global factor so the recorded Normalization (a scalar) describes it exactly.
    normalization = Normalization(mean=0.0, std=float(x.std()), raw_range=(float(x.min()), float(x.max())))
    x = normalization.apply(x).astype(np.float32)
    y = d.target.astype(np.float64)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1.0 - test_fraction), random_state=seed)
    mean, std = float(y[train].mean()), float(y[train].std())
    ys = ((y - mean) / std).astype(np.float32)[:, None]
    return RegressionDataset("diabetes", x[train], ys[train], x[val], ys[val], x[test], ys[test], normalization,
                             ["progression"], task="regression", target_mean=mean, target_std=std)


def token_order_sequences(n: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of ``length`` int32 tokens and their labels (1 when token 1 precedes token 2)."""
    if length < 2:
        raise EdgekitError(f"token_order: sequences need at least 2 positions, got {length}.")
    rng = np.random.default_rng(seed)
    x = rng.integers(TOKEN_B + 1, TOKEN_VOCAB, size=(n, length)).astype(np.int32)
    pos = np.stack([rng.choice(length, size=2, replace=False) for _ in range(n)])
    x[np.arange(n), pos[:, 0]] = TOKEN_A
    x[np.arange(n), pos[:, 1]] = TOKEN_B
    return x, (pos[:, 0] < pos[:, 1]).astype(np.int64)


def _token_order(input_shape, seed, val_fraction, test_fraction) -> Dataset:
    shape = tuple(input_shape) if input_shape is not None else (16,)
    if len(shape) != 1:
        raise EdgekitError(f"token_order holds token sequences (length,); the model expects {shape}. "
                           "Use a sequence model (lstm, bilstm, seq_attention, transformer_encoder).")
    x, y = token_order_sequences(2000, int(shape[0]), seed=1234)  # the data are fixed; seed splits them
    ds = _split("token_order", x, y, ["B before A", "A before B"], Normalization(mean=0.0, std=1.0, raw_range=(0, TOKEN_VOCAB - 1)),
                seed, val_fraction, test_fraction)
    return ds
