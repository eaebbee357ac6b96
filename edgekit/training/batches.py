"""Seeded training batches shared by `train` and `tune`: a tf.data pipeline.

Why tf.data and stateless ops
    The batches used to come from a Python ``keras.utils.Sequence`` that padded and cropped each
    image in NumPy; Keras then fed it through a Python generator, one batch at a time, and the
    trainer ran at about half the samples per second of a plain ``model.fit`` on the same arrays
    (benchmarks/results/train_overhead.json). Here the shuffle, the shifts and the batching run in
    TensorFlow's C++ input pipeline, prefetched while the model trains.

Why it stays reproducible
    * the shuffle has an explicit seed, so its order for epoch k is the same in every run
      (``reshuffle_each_iteration``: a new order each epoch, drawn from that seed);
    * each batch's shifts come from *stateless* random ops whose seed is (``seed``, a number drawn
      from ``Dataset.random(seed)``, which also changes each epoch and repeats between runs); a
      stateless op's output is a pure function of its seed, so neither thread scheduling nor a
      parallel map can change it;
    * the map runs in parallel but with ``deterministic=True`` (batches leave in order), and
      each batch is a pure function of its indices and its draw, so which thread made it does
      not matter.

Why a parallel map
    Keras' own array adapter (what a plain ``model.fit(x, y)`` uses) maps its batches with
    ``num_parallel_calls=AUTOTUNE``. With a sequential map here, one prefetch thread made every
    batch; on a loaded 2-core machine a step then waited whenever that thread was descheduled,
    and fitting on these batches ran at 0.80x plain fit's wall-clock speed for the same CPU time
    (0.99x); mapped in parallel, 1.01x (a one-off A/B of 3 alternating rounds at load average 4-6,
    with the same histories). A second A/B (4 rounds, load 2.5-3.6) found the parallel map with
    tf.data's autotuner and intra-op parallelism still waiting ~0.1 s an epoch beyond its CPU time
    (0.94x plain fit's wall clock, 0.98x its CPU time); with both off, 1.005x and 0.98x, same
    history. The kept figures are in benchmarks/results/train_overhead.json. The augmentation
    itself is one vectorised op per batch, ~15 ms CPU an epoch of digits.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import tf


def shift_pad(x: np.ndarray, augment: bool) -> int:
    """Pixels an image may move each way: 1/16 of the side (at least 1), 0 without augmentation
    or for data that is not a batch of images."""
    return max(1, x.shape[1] // 16) if augment and x.ndim == 4 else 0


def _random_shift(xb, seed, pad: int):
    """Shift every image of ``xb`` by its own (dy, dx) in [-pad, pad], repeating the edge pixels
    into the uncovered border: gather rows and columns at per-image offsets, clamped to the image.

    The border repeats the image's own edge rather than a constant: on a coloured or textured
    background a constant (black) bar is a strong edge that no test image has, and a network from
    scratch on a few hundred images spent its first epochs on those bars. On digits (black
    borders) both are the same."""
    h, w = xb.shape[1], xb.shape[2]
    n = tf.shape(xb)[0]
    offsets = tf.random.stateless_uniform([n, 2], seed=seed, minval=-pad, maxval=pad + 1, dtype=tf.int32)
    rows = tf.clip_by_value(offsets[:, :1] + tf.range(h)[None, :], 0, h - 1)  # (n, h)
    cols = tf.clip_by_value(offsets[:, 1:] + tf.range(w)[None, :], 0, w - 1)  # (n, w)
    out = tf.gather(xb, rows, axis=1, batch_dims=1)  # (n, h, w, c)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def _random_flip(xb, seed):
    """Mirror a random half of the images left to right."""
    n = tf.shape(xb)[0]
    flip = tf.random.stateless_uniform([n, 1, 1, 1], seed=seed) < 0.5
    return tf.where(flip, tf.reverse(xb, axis=[2]), xb)


def _random_colours(xb, seed, invert_about: float):
    """Put each image's colour channels in a random order and invert a random half of them
    (``invert_about - x``: the inverse of the raw range in the images' normalised units)."""
    n = tf.shape(xb)[0]
    draws = tf.random.stateless_uniform([n, 2], seed=seed)
    order = tf.gather(_CHANNEL_ORDERS, tf.cast(draws[:, 0] * 6.0, tf.int32) % 6)  # (n, 3)
    xb = tf.gather(xb, order, axis=3, batch_dims=1)
    invert = tf.reshape(draws[:, 1] < 0.5, [-1, 1, 1, 1])
    return tf.where(invert, invert_about - xb, xb)


_CHANNEL_ORDERS = tf.constant([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], tf.int32)


def training_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool,
                     flip: bool = False, invert_about: float | None = None) -> "tf.data.Dataset":
    """Shuffled (and, for images with ``augment``, randomly shifted, with ``flip`` mirrored, and with
    ``invert_about`` given, of RGB images, in random colours: :func:`_random_colours`) batches of ``(x, y)``.

    Small random shifts (up to 1/16 of the side) are worth several points of test accuracy on a
    dataset the size of digits. Same ``seed``, same batches in every run, epoch after epoch.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = len(x)
    pad = shift_pad(x, augment)
    flip = bool(flip and augment and x.ndim == 4)
    colours = invert_about is not None and augment and x.ndim == 4 and x.shape[-1] == 3
    # Shuffle and batch indices, then gather each batch from the whole arrays held once (as
    # Keras' own array adapter does): shuffling the images themselves copies every one through
    # the shuffle buffer each epoch.
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()
    order = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    key = tf.constant(seed, tf.int64)

    def batch(idx, xy, r):
        xb, yb = tf.gather(xy[0], idx), tf.gather(xy[1], idx)
        if pad:
            xb = _random_shift(xb, tf.stack([key, r]), pad)
        if flip:
            xb = _random_flip(xb, tf.stack([key + 1, r]))
        if colours:
            xb = _random_colours(xb, tf.stack([key + 2, r]), float(invert_about))
        return xb, yb

    ds = tf.data.Dataset.zip((order, arrays, draws)).map(batch, num_parallel_calls=tf.data.AUTOTUNE,
                                                         deterministic=True)
    # A batch's map is ~0.7 ms of CPU: let it run on one thread, not the intra-op pool the
    # training step's own ops share; and without the autotuner, whose ramp-up and background
    # thread made steps wait ~0.1 s an epoch beyond their CPU time (see "Why a parallel map").
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.max_intra_op_parallelism = 1
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)
