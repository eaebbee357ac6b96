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
    if config.warmup_epochs and not isinstance(rate, float):
        rate = WarmUp(rate, config.warmup_epochs * steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=config.momentum)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(rate)


@keras.saving.register_keras_serializable(package="edgekit")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """A decaying schedule whose first ``steps`` steps rise linearly to it."""

    def __init__(self, schedule, steps: int):
        self.schedule, self.steps = schedule, int(steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return self.schedule(step) * tf.minimum(1.0, (step + 1.0) / float(max(1, self.steps)))

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "steps": self.steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.optimizers.schedules.deserialize(config["schedule"]), config["steps"])


class _LinearWarmUp(keras.callbacks.Callback):
    """Raise a constant (or plateau-driven) learning rate linearly over the first ``steps`` steps.
    A callback rather than a schedule: ReduceLROnPlateau needs the rate to stay a variable."""

    def __init__(self, learning_rate: float, steps: int):
        super().__init__()
        self.learning_rate, self.steps, self.step = float(learning_rate), int(steps), 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.step < self.steps:
            keras.backend.set_value(self.model.optimizer.learning_rate,
                                    self.learning_rate * (self.step + 1) / self.steps)
        elif self.step == self.steps:
            keras.backend.set_value(self.model.optimizer.learning_rate, self.learning_rate)
        self.step += 1


def lr_callbacks(config, steps_per_epoch: int = 0, learning_rate: float | None = None,
                 patience: int | None = None, start_from_epoch: int = 0) -> list:
    """The warm-up (``warmup_epochs``, for a rate that is not a decaying schedule) and
    ReduceLROnPlateau for the 'plateau' schedule (a decaying schedule sets the rate itself), which
    halves the rate after a third of ``patience`` (default: early stopping's) epochs without a gain,
    counted from epoch ``start_from_epoch`` (0-based)."""
    out = []
    if config.warmup_epochs and steps_per_epoch and config.schedule in ("plateau", "constant"):
        out.append(_LinearWarmUp(learning_rate or config.learning_rate, config.warmup_epochs * steps_per_epoch))
    if config.schedule != "plateau":
        return out
    # Halving the rate when validation loss stalls steadies small, noisy validation sets.
    return out + [_PlateauFrom(start_from_epoch, monitor="val_loss", factor=0.5,
                               patience=max(1, (patience or config.patience) // 3), min_lr=1e-5, verbose=0)]


class _PlateauFrom(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau that neither counts nor records a best before epoch ``start`` (0-based)."""

    def __init__(self, start: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.start:
            super().on_epoch_end(epoch, logs)


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
