"""Fine-tuning after a compression step: distillation from the uncompressed parent, a
cosine-decayed rate and the weights of the best validation epoch.

Channel pruning (:func:`edgekit.compression.channel.recover`) and magnitude pruning
(:func:`edgekit.compression.prune.prune`) both recover through :func:`distill_fit`.

Why these three choices, measured on MobileNetV1 alpha 0.5, 96x96, digits (parent 98.06% test
accuracy), 50% of the channels removed, 10 epochs, Adam 1e-3, batch 32:

- plain fine-tuning (constant rate, last epoch's weights): 95.00%, a 3.06-point drop;
- cosine decay to 1% of the rate and the best validation epoch, no teacher: 96.39%, 1.67 points;
- the same plus distillation from the parent (soft targets at temperature 4, loss
  ``hard_weight`` x cross-entropy + (1 - hard_weight) x T^2 x KL): 97.50%, 0.56 points.

The compressed model starts from the parent's strongest weights, so it mostly needs to re-learn
how to combine them; the parent's soft targets say, for every training image, how much each
wrong class resembles the right one: far more signal per sample than a label on a small
training set. The decaying rate lets the last epochs settle instead of bouncing, and keeping
the best validation epoch guards against a bad last one.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras


def probabilities(model, x, batch_size: int = 128) -> np.ndarray:
    """``model``'s class probabilities on ``x`` (a softmax is applied when it outputs logits)."""
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64)
    if out.ndim != 2 or np.any(out < -1e-6) or not np.allclose(out.sum(1), 1.0, atol=1e-3):
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
    return out


class BestOnValidation(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best validation accuracy (ties: the later one).

    Epochs before ``from_epoch`` (0-based) are not candidates: during magnitude pruning the
    early epochs have not reached the target sparsity yet, and must not be the ones kept.
    """

    def __init__(self, x, y, from_epoch: int = 0):
        super().__init__()
        self.x, self.y, self.from_epoch = x, np.asarray(y), from_epoch
        self.best, self.best_epoch, self.weights, self.history = -1.0, None, None, []

    def on_epoch_end(self, epoch, logs=None):
        acc = float(np.mean(probabilities(self.model, self.x).argmax(1) == self.y))
        self.history.append(acc)
        if epoch >= self.from_epoch and acc >= self.best:
            self.best, self.best_epoch, self.weights = acc, epoch, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)


def distill_fit(student, data, epochs: int, teacher=None, learning_rate: float = 1e-3, batch_size: int = 32,
                temperature: float = 4.0, hard_weight: float = 0.5, seed: int = 0, callbacks=(),
                best_from_epoch: int = 0, augment: bool = True) -> dict:
    """Train ``student`` on ``data``'s training split, distilled from ``teacher`` when given.

    The teacher's probabilities are computed once, on the unshifted images, and packed next to the
    label in the target, so an ordinary ``fit`` does the work. With ``augment`` the student sees the
    training images randomly shifted as ``train`` shows them (:func:`edgekit.training.batches.training_batches`),
    each with its unshifted image's soft targets: a shift of 1/16 of the side hardly moves the teacher's
    answer, and a small training set (digits: ~1,300 images) is otherwise seen unchanged every epoch
    (benchmarks/results/channel_recovery.md has the one comparison made, with its caveats). The student is compiled again with a plain loss afterwards: the packed-target loss is not
    meant to be saved. Returns what happened: validation accuracy per epoch and the epoch kept.
    """
    from edgekit._tf import tf
    from edgekit.training.batches import training_batches

    keras.utils.set_random_seed(seed)
    x, y = data.x_train, np.asarray(data.y_train).reshape(-1)
    if teacher is not None:
        soft = probabilities(teacher, x)
        soft = np.exp(np.log(soft + 1e-12) / temperature)
        soft /= soft.sum(1, keepdims=True)
        target = np.concatenate([y[:, None].astype(np.float64), soft], 1).astype(np.float32)
    else:
        target = y[:, None].astype(np.float32)
    t = float(temperature)

    def loss(y_true, y_pred):
        label = tf.cast(y_true[:, 0], tf.int32)
        p = tf.clip_by_value(y_pred, 1e-7, 1.0)
        ce = -tf.math.log(tf.gather(p, label, batch_dims=1))
        if teacher is None:
            return ce
        q = y_true[:, 1:]
        log_s = tf.nn.log_softmax(tf.math.log(p) / t)
        kl = tf.reduce_sum(q * (tf.math.log(tf.clip_by_value(q, 1e-12, 1.0)) - log_s), axis=1)
        return hard_weight * ce + (1.0 - hard_weight) * t * t * kl

    steps = int(np.ceil(len(x) / batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps), alpha=0.01)
    student.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss)
    best = BestOnValidation(data.x_val, data.y_val, from_epoch=min(best_from_epoch, epochs - 1))
    student.fit(training_batches(x, target, batch_size, seed, augment), epochs=epochs, verbose=0,
                callbacks=[*callbacks, best])
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    return {"epochs": epochs, "distilled": teacher is not None, "augmented": bool(augment and x.ndim == 4),
            "temperature": t if teacher is not None else None,
            "val_accuracy": [round(a, 4) for a in best.history], "best_val_accuracy": round(best.best, 4),
            "kept_epoch": best.best_epoch}


__all__ = ["distill_fit", "BestOnValidation", "probabilities"]
