"""Fit a registered (or user) model on a dataset, evaluate it, save ``model.keras``.

Early stopping restores the best weights; TensorBoard logs go to ``<out>/logs``;
``BackupAndRestore`` keeps a checkpoint so a killed run resumes where it stopped (the loop and its
callbacks: :mod:`edgekit.training.loop`, which tune's trials train through too).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit._io import write_json, write_text
from edgekit._tf import keras, reproducible
from edgekit.artifact import ModelCard
from edgekit.catalog import unknown_knobs
from edgekit.data import Dataset, load_dataset
from edgekit.errors import EdgekitError
from edgekit.records import DatasetSummary, TrainReport
from edgekit.models import count_macs, count_params, create_model, get_spec
from edgekit.shapes import complete_shape
from edgekit.models.save import save_model
from edgekit.training.config import TrainConfig
from edgekit.training.finetune import freeze_for_head, thaw_all, unfreeze_last_blocks
from edgekit.training.loop import EpochLine, fit
from edgekit.training.outcome import diagnose, judge_test, report_outcome, report_test, validation_chance
from edgekit.training.recipe import (early_stopping, lr_patience, lr_plateau_start, scaled_config,
                                     wants_colour_check, wants_mirror_check, zero_head)
from edgekit.training.tasks import BUILTIN_DATA, EXTRA_PARAMS, data_input_shape, fit_task, predict_outputs, save_extras
from edgekit.verification.tasks import class_breakdown, headline, score_outputs


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
    # The Keras model's outputs on dataset.x_test, which ``metrics`` were computed from; the end-to-end
    # run reuses them as every export's reference. None for a generator (its test data are images).
    test_outputs: np.ndarray | None = field(default=None, repr=False)

    @property
    def headline(self) -> str:
        """The task's figures in one line (accuracy; RMSE/MAE/R^2; ROC AUC; ...)."""
        return headline(self.card.task, self.metrics)


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
    asked_shape = params.pop("input_shape", None)
    follow_channels = _channels_follow_data(spec, data, asked_shape, weights)
    input_shape = complete_shape(asked_shape, spec.default_input_shape)
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
        if follow_channels:
            shape = (*shape[:2], None)  # the images' own channels (grey or colour)
        options = dict(data_options or {})
        if spec.input_kind == "sequence":
            options.setdefault("kind", "text")  # a CSV for a sequence model holds text, not a table
            if "input_shape" not in params_given:
                shape = None  # fitted to the training texts, at most the model's own length
                options.setdefault("max_length", int(spec.default_input_shape[0]))
        dataset = load_dataset(data, input_shape=shape, seed=config.seed,
                               warn=lambda line: console.print(f"  note: {line}", highlight=False), **options)
        if follow_channels:
            _say_channels(model, spec, dataset, console)
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
    mirror = None
    if wants_mirror_check(config, len(dataset.x_train), images):
        from edgekit.training.mirror import mirror_check

        mirror = mirror_check(dataset.x_train, dataset.y_train, seed=config.seed)  # training images only
    colour = None
    if wants_colour_check(config, len(dataset.x_train), images):
        from edgekit.training.colour import colour_check

        colour = colour_check(dataset.x_train, dataset.y_train, seed=config.seed)  # training images only
    config, recipe = scaled_config(config, len(dataset.x_train), spec.family, pretrained=bool(finetune), images=images,
                                   mirror=mirror, colour=colour)
    if not finetune:
        zero_head(net)  # first predictions uniform: the first loss is ln(classes)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stopper = early_stopping(config, recipe, *validation_chance(dataset))
    console.print(f"[bold]train[/] {model} {dict(params)} on {dataset.name}: "
                  f"{len(dataset.x_train)} train / {len(dataset.x_val)} val, input {dataset.input_shape}")
    console.print(f"  recipe: {recipe.rule}", highlight=False)
    t0 = time.time()
    hist = fit(net, dataset, config, stopper=stopper, backup=out / "backup", console=console,
               logs=out / "logs" if config.tensorboard else None,
               lr_patience=lr_patience(config, recipe), lr_start=lr_plateau_start(config, recipe))
    epochs_run = (hist.epoch[-1] + 1) if hist.epoch else 0  # counts epochs before a resume too
    outcome = diagnose(hist.history, stopper, config, dataset, recipe, epochs_run, model)
    report_outcome(outcome, console)
    if config.unfreeze:
        epochs_run += _fit_unfrozen(net, config, dataset, out, console)
    seconds = time.time() - t0
    outputs = predict_outputs(net, dataset.x_test)
    metrics = score_outputs("classification", outputs, dataset)
    metrics.update(class_breakdown(dataset.y_test, outputs, dataset.class_names))
    metrics["epochs_run"] = epochs_run
    judge_test(outcome, metrics["confusion_matrix"], config, dataset, model)
    metrics["training"] = outcome.model_dump()
    metrics.update(finetune)
    thaw_all(net, finetune)

    card = ModelCard(name=model, task=spec.task, params=count_params(net), macs=count_macs(net),
                     input_shape=(None,) + dataset.input_shape, dataset=dataset.name,
                     normalization=dataset.normalization, labels=dataset.class_names, knobs=params,
                     metrics={"test_accuracy": metrics["accuracy"]}, preprocessing=dataset.preprocessing,
                     training=outcome)
    model_path = save_model(net, card, out / "model.keras")
    write_json(out / "metrics.json", metrics)
    write_text(out / "report.json", TrainReport(model=model, knobs=params, dataset=DatasetSummary.of(dataset),
                                                test_accuracy=metrics["accuracy"], seconds=round(seconds, 1),
                                                training=outcome).model_dump_json(indent=2))
    shutil.rmtree(out / "backup", ignore_errors=True)  # the run finished: nothing to resume
    console.print(f"  test accuracy {metrics['accuracy']:.4f} after {metrics['epochs_run']} epochs "
                  f"({seconds:.0f}s); saved {model_path}")
    report_test(outcome, console)
    return TrainResult(model_path, net, card, dataset, metrics, hist.history, seconds, outputs)


def _native_image_shape(data, default: tuple) -> tuple:
    """An image folder's own size (in steps of 16, at least 32) when it is smaller than the model's
    default input: 64x64 images are not blown up to 224x224, which costs 12x the time and learns
    nothing more."""
    from edgekit.training.suggest import folder_image_side, image_side

    p = Path(str(data))
    native = folder_image_side(p) if p.is_dir() else None
    if native is None:
        return default
    side = image_side(native, largest=int(default[0]))
    return (side, side, default[2])


def _channels_follow_data(spec, data, asked_shape, weights) -> bool:
    """Whether the model is built with the channels of the user's image folder (or archive of one):
    a classifier built from scratch whose channels no ``--input-shape`` fixed. ``cnn`` (grey by
    default) built for colour images then sees their colour, which averaging to grey would lose;
    pretrained weights (``--weights``) keep the channels they were trained with."""
    from edgekit.data.archive import is_archive

    if spec.input_kind != "image" or spec.task != "classification" or len(spec.default_input_shape) != 3:
        return False
    if weights is not None or (asked_shape is not None and tuple(asked_shape)[-1] is not None):
        return False
    if not isinstance(data, (str, Path)):  # a loaded Dataset already has its channels
        return False
    p = Path(data)
    return p.is_dir() or (p.is_file() and is_archive(p))


def _say_channels(model, spec, dataset, console) -> None:
    """One line when the data's channels are not the model's default ones."""
    c, default = dataset.input_shape[-1], spec.default_input_shape[-1]
    if c != default:
        what = "in colour" if c == 3 else "grey" if c == 1 else f"of {c} channels"
        console.print(f"  input channels: {c}: the images are {what}, so {model} is built for {c} "
                      f"(its default is {default}; --input-shape HxWxC sets them)", highlight=False)


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


def _fit_unfrozen(net, config, dataset, out, console) -> int:
    """Phase 2 of fine-tuning: the last blocks train too, at a lower rate. Returns the epochs run."""
    lr, epochs = unfreeze_last_blocks(net, config, console)
    # The head is trained already: no warm-up, no mirrored images, fresh batches (seed + 1).
    phase2 = config.model_copy(update={"learning_rate": lr, "epochs": epochs, "warmup_epochs": 0, "flip": False,
                                       "seed": config.seed + 1})
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    hist = fit(net, dataset, phase2, stopper=stopper, backup=out / "backup_unfreeze", console=console)
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
        raise unknown_knobs(name, unknown, [*spec.knobs, *EXTRA_PARAMS.get(spec.task, ())])


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
    done = fit_task(spec.task, model, dataset, dict(params), config, EpochLine(console, config.epochs), input_shape)
    net, metrics = done.net, done.metrics
    card = ModelCard(name=model, task=spec.task, params=count_params(net), macs=count_macs(net),
                     input_shape=(None,) + tuple(int(d) for d in net.inputs[0].shape[1:]), dataset=dataset.name,
                     normalization=dataset.normalization, labels=dataset.class_names, knobs=dict(params),
                     metrics=done.card_metrics, preprocessing=dataset.preprocessing)
    save_extras(out, done.extras)
    model_path = save_model(net, card, out / "model.keras")
    write_json(out / "metrics.json", metrics)
    console.print(f"  test {headline(spec.task, metrics)} after {metrics['epochs_run']} epochs ({done.seconds:.0f}s); "
                  f"saved {model_path}")
    return TrainResult(model_path, net, card, dataset, metrics, done.history, done.seconds, done.outputs)
