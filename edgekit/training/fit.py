"""Fit a registered (or user) model on a dataset, evaluate it, save ``model.keras``.

Early stopping restores the best weights; TensorBoard logs go to ``<out>/logs``;
``BackupAndRestore`` keeps a checkpoint so a killed run resumes where it stopped.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgekit._io import atomic_path, write_json, write_text
from edgekit._tf import keras, reproducible, tf
from edgekit.artifact import ModelCard
from edgekit.data import Dataset, load_dataset
from edgekit.errors import EdgekitError
from edgekit.records import DatasetSummary, TrainReport
from edgekit.models import count_macs, count_params, create_model, get_spec
from edgekit.shapes import complete_shape
from edgekit.training.batches import training_batches
from edgekit.training.config import TrainConfig
from edgekit.training.finetune import freeze_for_head, thaw_all, unfreeze_last_blocks
from edgekit.training.metrics import classification_metrics
from edgekit.training.optim import compile_classifier, lr_callbacks
from edgekit.training.outcome import diagnose, report_outcome
from edgekit.training.recipe import early_stopping, lr_patience, lr_plateau_start, scaled_config, zero_head
from edgekit.training.tasks import BUILTIN_DATA, EXTRA_PARAMS, data_input_shape, fit_task, headline, save_extras


@dataclass
class TrainResult:
    """What :func:`edgekit.train` returns (the model and its data stay out of the repr: they are large)."""

    model_path: Path
    model: object = field(repr=False)
    card: ModelCard = field(repr=False)
    dataset: Dataset = field(repr=False)
    metrics: dict
    history: dict = field(repr=False)
    seconds: float

    @property
    def headline(self) -> str:
        """The task's figures in one line (accuracy; RMSE/MAE/R^2; ROC AUC; ...)."""
        return headline(self.card.task, self.metrics)


class _EpochLine(keras.callbacks.Callback):
    """One line per epoch (Keras' own bar floods logs and non-terminals)."""

    def __init__(self, console, epochs):
        super().__init__()
        self.console, self.epochs, self.t0 = console, epochs, time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k not in ("lr", "learning_rate"))
        self.console.print(f"  epoch {epoch + 1:>3}/{self.epochs}  {parts}  [{time.time() - self.t0:.0f}s]")


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


def train(model, data, params: dict | None = None, config: TrainConfig | None = None,
          out: str | Path = "runs/train", console=None, data_options: dict | None = None,
          weights: str | Path | None = None, **config_overrides) -> TrainResult:
    """Train ``model`` (a registry name) on ``data`` (a Dataset or a source like ``"digits"``).

    ``params`` are the builder's knobs (``alpha=0.35``); ``config`` the training hyperparameters;
    ``weights`` ``"imagenet"`` or a weight file to start from (see :mod:`edgekit.models.weights`).
    ``data_options`` go to :func:`~edgekit.data.load_dataset` for audio, text and CSV sources
    (``frontend``, ``augmentation``, ``target``, ``task``).
    """
    from rich.console import Console

    console = console or Console(stderr=True, soft_wrap=True)
    config = config or TrainConfig(**config_overrides)
    params = dict(params or {})
    params_given = dict(params)
    spec = get_spec(model)
    input_shape = complete_shape(params.pop("input_shape", None), spec.default_input_shape)
    _check_extra_params(model, spec, params)
    if isinstance(data, Dataset):
        dataset = data
    else:
        if spec.task != "classification":
            _check_task_of_source(model, spec, data)
        if data == "digits" and spec.input_kind == "features" and spec.task == "classification":
            raise EdgekitError(f"model {model!r} takes feature vectors and 'digits' are images; "
                               "use --data digits_flat (the same digits as 64 features).")
        shape = data_input_shape(spec, params, input_shape, data)
        if spec.input_kind == "image" and len(shape) == 3 and data == "digits" and not input_shape:
            shape = spec.small_input_shape  # digits are 8x8: the small resolution fits them
        elif spec.input_kind == "image" and len(shape) == 3 and "input_shape" not in params_given:
            shape = _native_image_shape(data, shape)
        options = dict(data_options or {})
        if spec.input_kind == "sequence":
            options.setdefault("kind", "text")  # a CSV for a sequence model holds text, not a table
            if "input_shape" not in params_given:
                shape = None  # fitted to the training texts, at most the model's own length
                options.setdefault("max_length", int(spec.default_input_shape[0]))
        dataset = load_dataset(data, input_shape=shape, seed=config.seed, **options)
    params = _fit_params_to_preprocessing(spec, params, dataset)
    if spec.task != dataset.task:
        raise EdgekitError(f"model {model!r} is {_a(spec.task)} model but {dataset.name!r} is {_a(dataset.task)} dataset; "
                           f"pick a {dataset.task} model (`edgekit models`) or {spec.task} data "
                           f"(built-in: {BUILTIN_DATA[spec.task]}).")

    reproducible(config.seed)
    if spec.task != "classification":
        if weights is not None or config.freeze_backbone:
            raise EdgekitError(f"--weights and --freeze-backbone apply to pretrained classifiers; {model!r} is "
                               f"{_a(spec.task)} model.")
        return _train_task(model, spec, dataset, params, config, Path(out), console, input_shape)
    net = create_model(model, input_shape=dataset.input_shape, num_classes=dataset.num_classes, weights=weights,
                       **params)
    finetune = _pretrained_summary(net, model, config, console)
    finetune.update(freeze_for_head(net, config, console))
    images = dataset.x_train.ndim == 4 and not dataset.preprocessing
    config, recipe = scaled_config(config, len(dataset.x_train), spec.family, pretrained=bool(finetune), images=images)
    if not finetune:
        zero_head(net)  # first predictions uniform: the first loss is ln(classes)
    steps = -(-len(dataset.x_train) // config.batch_size)
    compile_classifier(net, config, steps)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stopper = early_stopping(config, recipe)
    callbacks = [
        stopper,
        *lr_callbacks(config, steps, patience=lr_patience(config, recipe),
                      start_from_epoch=lr_plateau_start(config, recipe)),
        _backup_and_restore(out / "backup"),
        _EpochLine(console, config.epochs),
    ]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False))
    console.print(f"[bold]train[/] {model} {dict(params)} on {dataset.name}: "
                  f"{len(dataset.x_train)} train / {len(dataset.x_val)} val, input {dataset.input_shape}")
    console.print(f"  recipe: {recipe.rule}", highlight=False)
    t0 = time.time()
    # Image shifts would scramble audio features (time x coefficient); audio has its own augmentation.
    shift_images = config.augment and not dataset.preprocessing
    batches = training_batches(dataset.x_train, dataset.y_train, config.batch_size, config.seed, shift_images,
                               flip=bool(config.flip))
    hist = net.fit(batches, validation_data=(dataset.x_val, dataset.y_val),
                   epochs=config.epochs, callbacks=callbacks, verbose=0)
    epochs_run = (hist.epoch[-1] + 1) if hist.epoch else 0  # counts epochs before a resume too
    outcome = diagnose(hist.history, stopper, config, dataset, recipe, epochs_run, model)
    report_outcome(outcome, console)
    if config.unfreeze:
        epochs_run += _fit_unfrozen(net, config, dataset, steps, out, console)
    seconds = time.time() - t0
    probs = net.predict(dataset.x_test, batch_size=256, verbose=0)
    metrics = classification_metrics(dataset.y_test, probs, dataset.class_names)
    metrics["epochs_run"] = epochs_run
    metrics["training"] = outcome.model_dump()
    metrics.update(finetune)
    thaw_all(net, finetune)

    card = ModelCard(name=model, task=spec.task, params=count_params(net), macs=count_macs(net),
                     input_shape=(None,) + dataset.input_shape, dataset=dataset.name,
                     normalization=dataset.normalization, labels=dataset.class_names, knobs=params,
                     metrics={"test_accuracy": metrics["accuracy"]}, preprocessing=dataset.preprocessing,
                     training=outcome)
    model_path = out / "model.keras"
    with atomic_path(model_path) as tmp:
        net.save(str(tmp))
    write_text(ModelCard.path_for(model_path), card.model_dump_json(indent=2))
    write_json(out / "metrics.json", metrics)
    write_text(out / "report.json", TrainReport(model=model, knobs=params, dataset=DatasetSummary.of(dataset),
                                                test_accuracy=metrics["accuracy"], seconds=round(seconds, 1),
                                                training=outcome).model_dump_json(indent=2))
    shutil.rmtree(out / "backup", ignore_errors=True)  # the run finished: nothing to resume
    console.print(f"  test accuracy {metrics['accuracy']:.4f} after {metrics['epochs_run']} epochs "
                  f"({seconds:.0f}s); saved {model_path}")
    return TrainResult(model_path, net, card, dataset, metrics, hist.history, seconds)


def _native_image_shape(data, default: tuple) -> tuple:
    """An image folder's own size (in steps of 32, at least 32) when it is smaller than the model's
    default input: 64x64 images are not blown up to 224x224, which costs 12x the time and learns
    nothing more."""
    from edgekit.training.suggest import folder_image_side, image_side

    p = Path(str(data))
    native = folder_image_side(p) if p.is_dir() else None
    if native is None:
        return default
    side = image_side(native, largest=int(default[0]))
    return (side, side, default[2])


def _fit_params_to_preprocessing(spec, params: dict, dataset) -> dict:
    """Audio features and token vocabularies set knobs the model must agree with."""
    kind = (dataset.preprocessing or {}).get("kind")
    params = dict(params)
    if kind == "audio" and "mfcc_in_model" in spec.knobs:
        params.setdefault("mfcc_in_model", False)  # the features come from edgekit.data.frontend
    if kind == "text" and "vocab_size" in spec.knobs:
        size = len(dataset.preprocessing["tokenizer"]["vocabulary"])
        if int(params.setdefault("vocab_size", size)) < size:
            raise EdgekitError(f"--param vocab_size={params['vocab_size']} is smaller than the vocabulary "
                               f"fitted on {dataset.name} ({size} ids); leave it out or raise it.")
    return params


def _pretrained_summary(net, model, config, console) -> dict:
    from edgekit.models.weights import INPUT_NOTE

    loaded = getattr(net, "_edgekit_weights", None)
    if loaded is None:
        if config.freeze_backbone:
            console.print("  [yellow]note:[/] --freeze-backbone without --weights trains a head over random features")
        return {}
    console.print(f"  weights: {len(loaded.loaded)} layers from {loaded.path}"
                  + (f"; new head: {', '.join(loaded.new)}" if loaded.new else ""))
    if model in INPUT_NOTE:
        console.print(f"  [yellow]note:[/] {INPUT_NOTE[model]}", highlight=False)
    return {"weights": {"path": loaded.path, "layers_loaded": len(loaded.loaded), "new_layers": list(loaded.new)}}


def _fit_unfrozen(net, config, dataset, steps, out, console) -> int:
    """Phase 2 of fine-tuning: the last blocks train too, at a lower rate. Returns the epochs run."""
    lr, epochs = unfreeze_last_blocks(net, config, console)
    compile_classifier(net, config, steps, epochs=epochs, learning_rate=lr)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
                 *lr_callbacks(config), _backup_and_restore(out / "backup_unfreeze"), _EpochLine(console, epochs)]
    batches = training_batches(dataset.x_train, dataset.y_train, config.batch_size, config.seed + 1,
                               config.augment and not dataset.preprocessing)
    hist = net.fit(batches, validation_data=(dataset.x_val, dataset.y_val), epochs=epochs, callbacks=callbacks,
                   verbose=0)
    shutil.rmtree(out / "backup_unfreeze", ignore_errors=True)
    return (hist.epoch[-1] + 1) if hist.epoch else 0


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _check_extra_params(name, spec, params):
    """Loss settings the trainer takes beside the builder's knobs are checked before work starts."""
    extra = set(EXTRA_PARAMS.get(spec.task, ())) & set(params)
    for k in extra:
        try:
            if float(params[k]) <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise EdgekitError(f"{name}: --param {k} must be a positive number, got {params[k]!r}.") from None
    builder = {k: v for k, v in params.items() if k not in extra}
    unknown = sorted(set(builder) - set(spec.knobs))
    if unknown:
        allowed = list(spec.knobs) + list(EXTRA_PARAMS.get(spec.task, ()))
        raise EdgekitError(f"model {name!r} has no knob {', '.join(map(repr, unknown))}; "
                           f"its knobs are: {', '.join(allowed) or 'none'}.")


def _check_task_of_source(name, spec, data):
    """A built-in dataset of another task is refused before anything is loaded."""
    from edgekit.data.builtin import TASK_OF

    src = str(data)
    task = "classification" if src == "digits" else TASK_OF.get(src)
    if task is not None and task != spec.task:
        raise EdgekitError(f"model {name!r} is {_a(spec.task)} model but {src!r} is {_a(task)} dataset; "
                           f"use {spec.task} data (built-in: {BUILTIN_DATA[spec.task]}).")


def _train_task(model, spec, dataset, params, config, out, console, input_shape) -> TrainResult:
    """Regression, anomaly detection, embeddings and generation (see :mod:`edgekit.training.tasks`)."""
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]train[/] {model} ({spec.task}) {dict(params)} on {dataset.name}: "
                  f"{len(dataset.x_train)} train / {len(dataset.x_val)} val, data {dataset.input_shape}")
    line = _EpochLine(console, config.epochs)
    net, history, metrics, card_metrics, extras, seconds = fit_task(spec.task, model, dataset, dict(params), config,
                                                                  line, input_shape)
    knobs = {k: v for k, v in params.items()}
    card = ModelCard(name=model, task=spec.task, params=count_params(net), macs=count_macs(net),
                     input_shape=(None,) + tuple(int(d) for d in net.inputs[0].shape[1:]), dataset=dataset.name,
                     normalization=dataset.normalization, labels=dataset.class_names, knobs=knobs,
                     metrics=card_metrics, preprocessing=dataset.preprocessing)
    model_path = out / "model.keras"
    with atomic_path(model_path) as tmp:
        net.save(str(tmp))
    save_extras(out, extras)
    write_text(ModelCard.path_for(model_path), card.model_dump_json(indent=2))
    write_json(out / "metrics.json", metrics)
    console.print(f"  test {headline(spec.task, metrics)} after {metrics['epochs_run']} epochs ({seconds:.0f}s); "
                  f"saved {model_path}")
    return TrainResult(model_path, net, card, dataset, metrics, history, seconds)
