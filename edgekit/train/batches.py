"""Seeded training batches shared by `train` and `tune`."""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras


class ShiftedBatches(keras.utils.Sequence):
    """Shuffled batches; images get small random shifts (up to 1/16 of the side), which on a
    dataset the size of digits is worth several points of test accuracy.

    Written with numpy and one seeded generator so that the same seed gives the same batches
    in every run (tf.data's parallel random ops do not)."""

    def __init__(self, x, y, batch_size: int, seed: int, augment: bool):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.pad = max(1, x.shape[1] // 16) if augment and x.ndim == 4 else 0
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        xb, yb = self.x[idx], self.y[idx]
        if self.pad:
            p = self.pad
            padded = np.pad(xb, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=float(self.x.min()))
            h, w = xb.shape[1:3]
            offsets = self.rng.integers(0, 2 * p + 1, size=(len(xb), 2))
            xb = np.stack([padded[k, dy : dy + h, dx : dx + w] for k, (dy, dx) in enumerate(offsets)])
        return xb, yb

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))
