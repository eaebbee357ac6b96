"""The one compile-and-fit loop for classifiers.

``edgekit train`` (both phases of fine-tuning) and every tune trial train through :func:`fit`, so a
trial's model is trained exactly as ``edgekit train`` trains it with the trial's settings (a
:class:`~edgekit.training.config.TrainConfig`): the same optimizer and schedules, loss, batches
and augmentation. What differs between callers is passed in rather than branched on:

* ``stopper``, the EarlyStopping callback: ``train`` watches the validation loss from the recipe's
  start epoch; a trial keeps its epoch of best validation accuracy, the figure its oracle ranks;
* ``backup``, the resume checkpoint: ``train`` only (keras-tuner reruns an interrupted trial whole);
* ``console`` (one line per epoch), ``logs`` (TensorBoard) and ``callbacks`` of the caller's own
  (tune's measure gate);
* ``initial_epoch``: Hyperband continues a trial from an earlier round's weights.
"""

from __future__ import annotations

import time
from pathlib import Path

from edgekit._tf import keras, tf
from edgekit.training.batches import training_batches
from edgekit.training.optim import compile_classifier, lr_callbacks
from edgekit.training.outcome import chance_margin, still_rising


def fit(net, dataset, config, *, stopper, backup: Path | None = None, logs: Path | None = None, console=None,
        callbacks=(), initial_epoch: int = 0, lr_patience: int | None = None, lr_start: int = 0):
    """Compile the classifier ``net`` for ``config`` and fit it on ``dataset``'s training split,
    validated on its validation split, from ``initial_epoch`` to ``config.epochs``. ``lr_patience`` and
    ``lr_start``: when the learning-rate plateau halves the rate (see ``optim.lr_callbacks``). Returns
    Keras' History (its ``epoch`` list counts epochs before a resume too)."""
    steps = steps_per_epoch(dataset, config)
    # a continued trial's schedule spans the epochs it still has to run
    compile_classifier(net, config, steps, epochs=max(1, config.epochs - initial_epoch))
    cbs = [stopper, *lr_callbacks(config, steps, patience=lr_patience, start_from_epoch=lr_start)]
    if backup is not None:
        cbs.append(_backup_and_restore(Path(backup)))
    if console is not None:
        cbs.append(EpochLine(console, config.epochs))
    if logs is not None:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(logs), write_graph=False))
    cbs.extend(callbacks)
    # Image shifts would scramble audio features (time x coefficient); audio has its own augmentation.
    shift_images = config.augment and not dataset.preprocessing
    batches = training_batches(dataset.x_train, dataset.y_train, config.batch_size, config.seed, shift_images,
                               flip=bool(config.flip),
                               # low + high - raw, the inverse image, is sum(input_range) - x in model units
                               invert_about=sum(dataset.normalization.input_range) if config.colours else None)
    return net.fit(batches, validation_data=(dataset.x_val, dataset.y_val), epochs=config.epochs,
                   initial_epoch=initial_epoch, callbacks=cbs, verbose=0)


def steps_per_epoch(dataset, config) -> int:
    return -(-len(dataset.x_train) // config.batch_size)


class EpochLine(keras.callbacks.Callback):
    """One line per epoch (Keras' own bar floods logs and non-terminals)."""

    def __init__(self, console, epochs):
        super().__init__()
        self.console, self.epochs, self.t0 = console, epochs, time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k not in ("lr", "learning_rate"))
        self.console.print(f"  epoch {epoch + 1:>3}/{self.epochs}  {parts}  [{time.time() - self.t0:.0f}s]")


class LearningAwareStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that lets a run go on while its training accuracy is still rising
    (:func:`~edgekit.training.outcome.still_rising` over the last two patience windows) and its best
    validation accuracy so far is above chance (``chance`` of ``n_val`` samples, with
    :func:`~edgekit.training.outcome.chance_margin`): on a few dozen validation samples the
    validation loss can sit flat for 80 epochs while the model learns, then fall (4 arrow
    directions x 80: 0.8 from epoch 40 to 160, 0.22 at 200). A model memorising labels that do not
    follow the inputs also rises in training accuracy, but its validation accuracy stays at
    chance, and it is stopped as before."""

    def __init__(self, chance: float, n_val: int, **kwargs):
        super().__init__(**kwargs)
        self.floor = chance + chance_margin(chance, n_val)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.train_acc, self.best_val_acc = [], 0.0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.train_acc.append(float(logs.get("accuracy", 0.0)))
        self.best_val_acc = max(self.best_val_acc, float(logs.get("val_accuracy", 0.0)))
        super().on_epoch_end(epoch, logs)
        if self.model.stop_training and self.stopped_epoch == epoch and self.learning():
            self.model.stop_training, self.stopped_epoch = False, 0

    def learning(self) -> bool:
        return self.best_val_acc > self.floor and still_rising(self.train_acc, self.patience) is not None


def _backup_and_restore(backup: Path):
    """``BackupAndRestore`` that also survives a kill landing while it saves.

    TensorFlow writes a checkpoint's files (the ``.index`` last) and only then names it in the
    ``checkpoint`` state file. A SIGKILL between the two leaves a complete checkpoint that the
    callback does not see, and the rerun silently starts again from epoch 1. Before training,
    point the state file at the newest complete checkpoint.
    """
    chief = backup / "chief"  # tf_keras' WorkerTrainingState keeps the checkpoints here
    done = sorted(chief.glob("ckpt-*.index"), key=lambda p: int(p.stem.split("-")[-1]))
    if done:
        newest = str(done[-1].with_suffix(""))
        state = tf.train.get_checkpoint_state(str(chief))
        if state is None or Path(state.model_checkpoint_path).name != Path(newest).name:
            tf.compat.v1.train.update_checkpoint_state(str(chief), newest, all_model_checkpoint_paths=[newest])
    return _ThrottledBackup(str(backup))


class _ThrottledBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that writes its checkpoint after the first epoch and then only once
    :data:`BACKUP_COST_SHARE`'s worth of training time has passed since the last one.

    A checkpoint of model and optimizer state takes ~0.2 s wall (~0.1 s CPU) for the demo's
    MobileNetV2 0.35/32, a fifth of an epoch of ~1.1 s: written after every epoch it cost ~15% of
    the trainer's throughput, and throttled to 5% it was still most of the gap to a plain
    ``model.fit`` (benchmarks/results/train_overhead.md). At 1% a killed run loses at most
    ~100 save-times of work (~20 s here) plus the epoch it was in; a checkpoint of the first
    epoch is always there, so a rerun never starts again from scratch.
    """

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir)
        self._next_save = 0.0  # monotonic time; the first epoch is always saved

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() < self._next_save:
            return
        t0 = time.monotonic()
        super().on_epoch_end(epoch, logs)
        took = time.monotonic() - t0
        self._next_save = time.monotonic() + took / BACKUP_COST_SHARE


BACKUP_COST_SHARE = 0.01  # the most of training time the resume checkpoints may take
