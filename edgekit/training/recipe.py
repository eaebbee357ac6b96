"""How a run's settings follow the data set's size and the model's family: the one place for that rule.

A setting the user gave (a flag, a key of ``--config``, a field passed to :class:`TrainConfig`) is
kept; every other one comes from :func:`scaled_config`. The rule, in words (README "Your own data"
says the same):

* **Optimizer steps, not epochs, are what a model from scratch needs.** A network seeing
  :data:`SAMPLES_SEEN` training samples (about 23 epochs of the built-in digits) learns; 224 images
  at 40 epochs are only 280 steps, and MobileNetV2 stayed at chance there. So
  ``epochs = clamp(SAMPLES_SEEN / n_train, MIN_EPOCHS, MAX_EPOCHS)``: 40 for digits (unchanged),
  179 for 224 training images.
* **Smaller batches on small data** (16 below :data:`SMALL_DATA` training samples): more, noisier
  steps per epoch, which is what a few hundred samples need; BatchNorm's statistics still see
  16 samples x every spatial position per step.
* **Stronger augmentation on few images**: below :data:`SMALL_DATA` training images, a random
  left-right mirror joins the random shifts (``flip``) **where a mirrored image still looks like
  its class** (:mod:`edgekit.training.mirror`, measured on the training images only: an outline
  classifier scores held-out training images as they are and mirrored). On 224 shape images
  MobileNetV2 without augmentation fit the training images (0.64) while validation stayed at
  chance; with shifts and mirrors it generalised (0.75 at epoch 73 and rising), and without the
  mirror the shape sets fell to 0.83 and 0.77. On 5 letters x 60 the mirror gave the model a
  second form of every letter to learn from the same images, one no test image has: 0.40 with it,
  0.78 without (and 0.80-0.98 without it at 80x80, the side ``edgekit suggest`` now picks for their
  thin strokes: :mod:`edgekit.training.detail`). ``flip = true`` / ``false`` in ``--config``
  overrides the check.
* **Colours are offered, not shuffled by default**: below :data:`SMALL_DATA` training images a
  classifier on colours alone is scored on held-out training images
  (:mod:`edgekit.training.colour`); where it does no better than chance the ``recipe:`` line and a
  warning's "Try ..." offer ``colours = true`` in ``--config`` (each RGB training image's channels
  in a random order, half inverted). In random colours a few hundred images can be told apart by
  their colours: 4 arrow directions x 80 reached 0.83 training accuracy at validation 0.66 (test
  0.42). With shuffled colours one run of them reached 0.97 and one 0.50 (it had not begun to tell
  left from right when early stopping ended it), the 4x80 shapes 0.98; the 5 letters x 60 (thin
  strokes) started learning ~30 epochs later and ended at 0.63 instead of 0.98. Mixed, so the rule
  does not switch them on by itself.
* **The learning-rate plateau waits as early stopping does**: ReduceLROnPlateau, too, watches the
  validation loss only after :data:`WARMUP_SHARE` of the epochs (:func:`lr_plateau_start`).
* On small data, **patience grows with the epochs** (an eighth of them, at least 10), and **early
  stopping only starts once a model has had time to start learning** (after :data:`WARMUP_SHARE` of the epochs): on
  224 images the validation loss is lowest in epoch 1 or 2, before anything is learned, and a
  patience of 10 ended the run at epoch 12 with those weights. Early stopping can therefore only
  trim the second half of the planned epochs, and **it does not stop a model that is still
  learning** (training accuracy rising, validation accuracy above chance:
  :func:`early_stopping`). On the benchmark's seven other sets it never held a run (same epochs
  as before); 4 arrow directions x 80 went on from epoch 126 to 144 without a better validation
  loss (test 0.42 either way), and a one-thread run of them, let go on, kept a later epoch (0.73).
* **Transformers get a learning-rate warm-up and a lower rate** (:data:`FAMILY_DEFAULTS`): a
  post-layer-norm encoder trained with Adam at 2e-3 from the first step diverges (first-epoch
  loss 5-7 for 3 classes, where chance is 1.10; Xiong et al., "On Layer Normalization in the
  Transformer Architecture", ICML 2020, explain why warm-up is needed there).

Output scale: every classifier built by the trainer starts with its last layer's kernel at zero
(:func:`zero_head`), so the first predictions are uniform and the first loss is ln(classes), not a
confident random guess that the first steps must undo (ViT and timm do the same to their heads).
"""

from __future__ import annotations

import math

from edgekit.artifact import TrainRecipe

SMALL_DATA = 1000  # training samples: below this the batch is 16
SAMPLES_SEEN = 40_000  # training samples a run from scratch sees (epochs x n_train), before clamping
MIN_EPOCHS, MAX_EPOCHS = 40, 300
SMALL_BATCH = 16
MIN_PATIENCE = 10
# Of the epochs. Watched from half-way, the validation loss of the six small-data benchmark runs
# (five kinds of data, 159-239 epochs) never went more than 16 epochs without a new best (9% of
# 179) before the kept epoch; at a quarter of the epochs every run then idled 40-60 epochs past
# it. An eighth (22 of 179) keeps the same best epochs and ends each run ~13-17% sooner
# (benchmarks/results/small_data_patience_replay.md).
PATIENCE_SHARE = 0.125
# The learning-rate plateau (ReduceLROnPlateau, a third of this patience) keeps the quarter the
# runs above were measured with: tied to the shorter patience it halved the rate twice as often
# and the 4x80 shapes ended at 0.516 instead of 0.969 (small_data-20261206T204412Z.md).
LR_PATIENCE_SHARE = 0.25
# Of the epochs: early stopping neither stops nor picks a best epoch before this. At 0.2, 168 shape
# images (239 epochs) were stopped at epoch 108 with epoch 49's weights (validation 0.38 on 24 images)
# while the training accuracy was still climbing: a small model from scratch learns slowly and its
# validation loss on a few dozen samples is too noisy to end the first half of its step budget.
WARMUP_SHARE = 0.5
# A validation loss lower by less than this is no improvement: a text model at 1e-4 kept "improving"
# by 1e-5 an epoch and ran all its 159 epochs after it had nothing left to learn.
MIN_DELTA = 1e-3

# Per model family: what differs from TrainConfig's own defaults.
FAMILY_DEFAULTS = {
    "transformer": {"learning_rate": 5e-4, "warmup_epochs": 3},
}


def wants_mirror_check(config, n_train: int, images: bool) -> bool:
    """Whether the rule would choose the mirror, so :func:`edgekit.training.mirror.mirror_check`
    must be run on the training images first."""
    return _augmenting_small_images_without(config, "flip", n_train, images)


def wants_colour_check(config, n_train: int, images: bool) -> bool:
    """Whether :func:`edgekit.training.colour.colour_check` should be run on the training images first,
    to offer ``colours = true`` where colour says nothing about the class."""
    return _augmenting_small_images_without(config, "colours", n_train, images)


def _augmenting_small_images_without(config, key: str, n_train: int, images: bool) -> bool:
    """A small image set, augmented, whose ``key`` the user did not give."""
    return images and n_train < SMALL_DATA and key not in config.model_fields_set and config.augment


def scaled_config(config, n_train: int, family: str | None, pretrained: bool = False, images: bool = False,
                  mirror=None, colour=None):
    """``config`` with every setting the user did not give filled by the rule above; returns
    ``(config, TrainRecipe)``. A pretrained start (``--weights``) keeps TrainConfig's defaults for
    the epochs: fine-tuning needs far fewer steps than learning from scratch. ``mirror``: the
    :class:`~edgekit.training.mirror.MirrorCheck` of the training images (``None``: not measured,
    e.g. too few images per class, and the mirror is used on small image sets as before). ``colour``:
    the :class:`~edgekit.training.colour.ColourCheck` of the training images (``None``: not
    measured or not RGB); it is reported, not acted on (see the rule above)."""
    given = set(config.model_fields_set)
    fill: dict = {}
    small = n_train < SMALL_DATA
    if small:
        fill["batch_size"] = SMALL_BATCH
    if small and images:
        fill["flip"] = mirror is None or mirror.keeps_class
    if not pretrained:
        fill["epochs"] = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(SAMPLES_SEEN / max(1, n_train)))))
    fill.update(FAMILY_DEFAULTS.get(family or "", {}))
    fill = {k: v for k, v in fill.items() if k not in given and v != getattr(config, k)}
    config = config.model_copy(update=fill)
    if "patience" not in given and small:
        patience = max(MIN_PATIENCE, int(config.epochs * PATIENCE_SHARE))
        if patience != config.patience:
            fill["patience"] = patience
            config = config.model_copy(update={"patience": patience})
    what = (f"{'small data' if small else 'data'} ({n_train} training samples"
            + (f", {family} family" if family in FAMILY_DEFAULTS else "") + ")")
    set_here = _settings(fill)
    rule = f"{what}: {set_here}" if set_here else f"{what}: the settings as given"
    # the given settings a recipe records (TrainRecipe's fields; the rest of TrainConfig is not the recipe's)
    if given_here := _settings({k: getattr(config, k) for k in sorted(given & set(TrainRecipe.model_fields))}):
        rule += f"; given: {given_here}"
    if mirror is not None and "flip" in fill:
        rule += f" (mirror {'on' if fill['flip'] else 'off'}: {mirror.describe()})"
    if colour is not None and small and images and "colours" not in given and not colour.tells_class:
        rule += (f" (colours say nothing about the class here: {colour.describe()}; `colours = true` in --config "
                 f"shuffles them, so that the model cannot tell training images apart by colour: it helped some "
                 f"sets and hurt others, README 'Your own data')")
    return config, TrainRecipe(epochs=config.epochs, patience=config.patience, batch_size=config.batch_size,
                               learning_rate=config.learning_rate, warmup_epochs=config.warmup_epochs,
                               augment=config.augment, flip=bool(config.flip), colours=bool(config.colours),
                               colour_tells_class=None if colour is None else colour.tells_class,
                               schedule=config.schedule,
                               small_data=small, rule=rule,
                               from_rule=sorted(fill))


def _settings(values: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def lr_patience(config, recipe: TrainRecipe) -> int | None:
    """The patience ReduceLROnPlateau's third is taken of: on small data with the patience from the
    rule, :data:`LR_PATIENCE_SHARE` of the epochs; else early stopping's (``None``)."""
    if not recipe.small_data or "patience" not in recipe.from_rule:
        return None
    return max(MIN_PATIENCE, int(config.epochs * LR_PATIENCE_SHARE))


def lr_plateau_start(config, recipe: TrainRecipe) -> int:
    """The epoch (0-based) from which ReduceLROnPlateau watches the validation loss: the same as
    early stopping (:func:`early_stopping_start`). Before a small model from scratch has started
    to learn, its validation loss on a few dozen samples is noise around ln(classes); a plateau
    watching it from epoch 1 halved the rate every third of its patience while nothing was learned
    yet. Watched from epoch 1 it cut the rate at epochs 34, 68, 87, ... of the 4x60 shapes (to
    3e-5 by epoch 144; test 0.396); watched from half-way, twice, at 173 and 212 (test 0.938;
    benchmarks/results/small_data_lr_probe.md)."""
    return early_stopping_start(config, recipe.small_data)


def early_stopping(config, recipe: TrainRecipe, chance: float | None = None, n_val: int = 0):
    """The EarlyStopping callback of a run: the validation loss, watched from
    :func:`early_stopping_start`, the best epoch's weights restored at the end. On small data,
    with ``chance`` (the validation split's majority share) given, it does not stop a model that
    is still learning (:class:`~edgekit.training.loop.LearningAwareStopping`)."""
    from edgekit._tf import keras

    kwargs = dict(monitor="val_loss", patience=config.patience, min_delta=MIN_DELTA, restore_best_weights=True,
                  start_from_epoch=early_stopping_start(config, recipe.small_data))
    if recipe.small_data and chance is not None:
        from edgekit.training.loop import LearningAwareStopping

        return LearningAwareStopping(chance, n_val, **kwargs)
    return keras.callbacks.EarlyStopping(**kwargs)


def early_stopping_start(config, small_data: bool) -> int:
    """The epoch (0-based) from which early stopping watches the validation loss: on small data,
    after :data:`WARMUP_SHARE` of the epochs; else after the warm-up (the built-in digits and
    ``edgekit demo`` keep the early stopping they were timed with)."""
    return max(config.warmup_epochs, int(config.epochs * WARMUP_SHARE)) if small_data else config.warmup_epochs


def zero_head(net) -> bool:
    """Set the classifier's kernel (the last Dense layer's) to zero; True when there was one."""
    from edgekit._tf import keras

    dense = [layer for layer in net.layers if isinstance(layer, keras.layers.Dense)]
    if not dense or dense[-1] is not net.layers[-1] and not _feeds_output(net, dense[-1]):
        return False
    weights = dense[-1].get_weights()
    weights[0] = weights[0] * 0.0
    dense[-1].set_weights(weights)
    return True


def _feeds_output(net, layer) -> bool:
    """Whether only activation/reshape layers stand between ``layer`` and the output."""
    after = net.layers[net.layers.index(layer) + 1:]
    return all(not l.weights for l in after)
