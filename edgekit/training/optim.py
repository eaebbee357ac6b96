"""The optimizer, learning-rate schedule and loss a run asked for (:class:`TrainConfig` fields).

Kept apart from the training loop so that the loop (batches, callbacks) can change without
touching what is optimized and how.
"""

from __future__ import annotations

from edgekit._tf import keras, tf


def make_optimizer(config, steps_per_epoch: int, epochs: int | None = None, learning_rate: float | None = None):
    """Adam (default), AdamW, SGD (momentum, Nesterov) or RMSprop with the configured schedule."""
    lr = float(learning_rate or config.learning_rate)
    epochs = int(epochs or config.epochs)
    rate = lr
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps_per_epoch * epochs))
    elif config.schedule == "exponential":
        rate = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=max(1, steps_per_epoch),
                                                           decay_rate=config.decay_rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=config.momentum)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(rate)


def lr_callbacks(config) -> list:
    """ReduceLROnPlateau for the 'plateau' schedule (a decaying schedule sets the rate itself)."""
    if config.schedule != "plateau":
        return []
    # Halving the rate when validation loss stalls steadies small, noisy validation sets.
    return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, config.patience // 3),
                                              min_lr=1e-5, verbose=0)]


@keras.saving.register_keras_serializable(package="edgekit")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (tf_keras' sparse loss has no smoothing)."""

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = False, name="sparse_smoothed_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing, self.from_logits = float(label_smoothing), bool(from_logits)

    def call(self, y_true, y_pred):
        classes = tf.shape(y_pred)[-1]
        onehot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(onehot, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


def classification_loss(config):
    if config.label_smoothing:
        return SparseSmoothedCrossentropy(config.label_smoothing)
    return "sparse_categorical_crossentropy"


def compile_classifier(net, config, steps_per_epoch: int, epochs: int | None = None,
                       learning_rate: float | None = None):
    net.compile(optimizer=make_optimizer(config, steps_per_epoch, epochs, learning_rate),
                loss=classification_loss(config), metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def regression_loss(config, default):
    """MSE, MAE or Huber(delta) when the run names one, else the model's own (``default``)."""
    if config.loss == "mse":
        return keras.losses.MeanSquaredError(name="mse")
    if config.loss == "mae":
        return keras.losses.MeanAbsoluteError(name="mae")
    if config.loss == "huber":
        return keras.losses.Huber(delta=config.huber_delta, name="huber")
    return default
