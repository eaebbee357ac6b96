"""What happened in a classifier's training run, said in a line or two and kept as a record.

* how the run ended: early stopping (at which epoch, and which epoch's weights were kept) or the
  last epoch;
* whether it learned: the kept epoch's validation accuracy against chance (the majority class's
  share of the validation split, with a margin of two binomial standard errors, so that 32
  validation images at 0.31 for 4 classes count as chance) and against the training accuracy;
* whether it had finished learning: a run that ends while its training accuracy is still
  climbing (by :data:`STILL_RISING` from one patience-long window to the last, below
  :data:`FITTED`, with validation accuracy below it too) was cut short, by early stopping on a
  noisy validation loss or by its epochs.
  On 4 arrow directions x 80 the recipe's run stopped at epoch 126 with training accuracy 0.83
  and rising; given 300 epochs the same kind of set went on to 0.97 (val 0.94) by epoch ~200.

Only training and validation data are read for these: the test split stays for the one final
measurement, which :func:`judge_test` then reads against chance and the validation accuracy (what
the figure means; no choice is made from it).
"""

from __future__ import annotations

import math

import numpy as np

from edgekit.artifact import TrainingOutcome, TrainRecipe
from edgekit.training.suggest import SIDE_STEP

OVERFIT_GAP = 0.25  # training accuracy this far above validation accuracy is memorising
STILL_RISING = 0.05  # mean training accuracy up by this from one window to the next: still learning
FITTED = 0.95  # training accuracy from which a rise no longer means the model is short of steps
MIN_CHANCE_MARGIN = 0.05


def chance_margin(chance: float, n_val: int) -> float:
    """How far above chance a validation accuracy on ``n_val`` samples must be to count as learned."""
    return max(MIN_CHANCE_MARGIN, 2.0 * math.sqrt(chance * (1.0 - chance) / max(1, n_val)))


def validation_chance(dataset) -> tuple[float | None, int]:
    """The majority class's share of the validation split (``None`` without one), and its size."""
    y_val = np.asarray(dataset.y_val).ravel().astype(int)
    n_val = int(len(y_val))
    return (float(np.bincount(y_val).max() / n_val) if n_val else None), n_val


def diagnose(history: dict, stopper, config, dataset, recipe: TrainRecipe, epochs_run: int,
             model: str = "") -> TrainingOutcome:
    """The outcome of a run of ``model`` from its Keras history and its EarlyStopping callback."""
    val_loss = list(history.get("val_loss") or [])
    offset = epochs_run - len(val_loss)  # epochs before a resume are not in this history
    restored = getattr(stopper, "best_weights", None) is not None
    best = (int(stopper.best_epoch) if restored else epochs_run - 1)
    i = best - offset
    pick = lambda key: float(history[key][i]) if key in history and 0 <= i < len(history[key]) else None  # noqa: E731
    chance, n_val = validation_chance(dataset)
    outcome = TrainingOutcome(epochs_run=epochs_run, max_epochs=config.epochs,
                              stopped_early=bool(getattr(stopper, "stopped_epoch", 0)) and epochs_run < config.epochs,
                              best_epoch=best + 1, best_val_accuracy=pick("val_accuracy"),
                              train_accuracy=pick("accuracy"), chance_accuracy=chance, n_val=n_val,
                              verdict="learned", recipe=recipe)
    val, train = outcome.best_val_accuracy, outcome.train_accuracy
    if val is None or chance is None:
        return outcome
    if val <= chance + chance_margin(chance, n_val):
        outcome.verdict = "near_chance"
        outcome.warning = _near_chance_line(val, chance, dataset, train, _tries(config, dataset, model, True, recipe))
    elif train is not None and train - val >= OVERFIT_GAP:
        outcome.verdict = "overfit"
        outcome.warning = _overfit_line(val, train, dataset, _tries(config, dataset, model, False, recipe))
    elif val < FITTED and (rise := still_rising(history.get("accuracy") or [], config.patience, offset)):
        outcome.verdict = "underfit"
        outcome.warning = _underfit_line(val, rise, _tries(config, dataset, model, True, recipe))
    return outcome


def still_rising(train_accuracy: list, window: int, offset: int = 0):
    """``(first, last, before, after)`` when the mean training accuracy of the last ``window``
    epochs is :data:`STILL_RISING` above the ``window`` before them and below :data:`FITTED`:
    the two means and the two windows' 1-based epoch ranges; else ``None``."""
    window = max(2, int(window))
    acc = [float(a) for a in train_accuracy]
    if len(acc) < 2 * window:
        return None
    before, after = acc[-2 * window:-window], acc[-window:]
    first, last = sum(before) / window, sum(after) / window
    if last - first < STILL_RISING or last >= FITTED:
        return None
    end = offset + len(acc)
    return first, last, (end - 2 * window + 1, end - window), (end - window + 1, end)


def _tries(config, dataset, model: str, more_epochs: bool, recipe: TrainRecipe | None = None) -> str:
    """What to try, for this kind of data and model."""
    from edgekit.models.weights import PRETRAINED

    tries = [f"more epochs (--epochs {config.epochs * 2})"] if more_epochs else ["more data"]
    if recipe is not None and recipe.colour_tells_class is False and not recipe.colours:
        tries.append("shuffled colours (`colours = true` in --config: colour says nothing about the class here)")
    if len(dataset.input_shape) == 3 and not dataset.preprocessing:  # images (not audio features)
        side = int(dataset.input_shape[0])
        larger = larger_side(side)
        tries.append(f"a larger input (--resolution {larger}, ~{(larger / side) ** 2:.1f}x the time an epoch: "
                     f"small parts such as arrowheads or thin strokes keep more pixels)")
        if model != "cnn":
            tries.append("a smaller model such as `cnn`")
        if model in PRETRAINED:
            tries.append("--weights imagenet (pretrained features)")
        else:
            tries.append("a model with pretrained weights and --weights imagenet (mobilenet_v2, mobilenet_v1, resnet50)")
    else:
        tries.append("a smaller model (fewer units or layers with --param)")
    return ", ".join(tries)


def larger_side(side: int) -> int:
    """Half as large again, in image-side steps: what to try when small parts may be lost at ``side``.
    Larger was better on every small image set measured: 4 arrow directions x 80 (64 px images)
    0.453 at 32, 0.531 at 48, 0.422-0.734 at 64, 0.906-0.953 at 96; 5 letters x 60 better at 80 than
    64; 3 marks x 90 0.926 at 48, 0.963 at 64 (benchmarks/results/small_data*.md)."""
    return -(-(side * 3 // 2) // SIDE_STEP) * SIDE_STEP


def _near_chance_line(val, chance, dataset, train, tries: str) -> str:
    n = len(dataset.x_train)
    margin = chance_margin(chance, len(dataset.y_val))
    if train is None:
        cause = "the model did not learn"
    elif train <= chance + margin:
        cause = (f"it did not fit even the training samples (training accuracy {train:.2f}): too few steps for "
                 f"this model from scratch, or labels that do not follow the inputs")
    else:
        cause = (f"what it learned from its {n} training samples (training accuracy {train:.2f}) does not carry "
                 f"over: too few samples for this model, or labels that do not follow the inputs")
    return (f"validation accuracy {val:.2f} is near chance ({chance:.2f}, {len(dataset.y_val)} validation "
            f"samples): {cause}. Try {tries}.")


def _underfit_line(val, rise, tries: str) -> str:
    first, last, (a, b), (c, d) = rise
    return (f"training accuracy was still rising when the run ended ({first:.2f} over epochs {a}-{b}, {last:.2f} "
            f"over {c}-{d}): the model had not finished learning (validation accuracy {val:.2f}). Try {tries}.")


def _overfit_line(val, train, dataset, tries: str) -> str:
    return (f"validation accuracy {val:.2f} is far below training accuracy {train:.2f}: the model memorises its "
            f"{len(dataset.x_train)} training samples. Try {tries}.")


def judge_test(outcome: TrainingOutcome, confusion, config, dataset, model: str = "") -> TrainingOutcome:
    """Read the test split's confusion matrix (rows: true class) against chance and against the kept
    epoch's validation accuracy; set ``test_verdict`` and, when the training lines said nothing,
    ``test_warning``.

    Why after the test: a run can pass every check on its validation split and still not have
    learned the task. With 32 validation images an epoch picked for its validation loss flatters
    the model (4 arrow directions x 80: kept at validation 0.66, tested at 0.42, and no training
    line fired). The test split is measured once either way; this only says what the figure means.
    """
    cm = np.asarray(confusion, dtype=np.int64)
    n = int(cm.sum())
    if n == 0 or cm.ndim != 2:
        return outcome
    rows = cm.sum(axis=1)
    acc, chance = float(np.trace(cm) / n), float(rows.max() / n)
    weak = acc < chance + (1.0 - chance) / 2.0
    val, n_val = outcome.best_val_accuracy, outcome.n_val or 0
    below = val is not None and n_val > 0 and val - acc > 2.0 * _difference_se(val, n_val, acc, n)
    outcome.test_verdict = "partly_learned" if weak else "below_validation" if below else "as_validated"
    if outcome.test_verdict == "as_validated" or outcome.warning:
        return outcome
    said = []  # (what the figure is, what that means)
    if weak:
        said.append((f"less than half-way from chance ({chance:.2f}) to 1",
                     "the model tells only some classes apart" + _most_confused(cm, dataset.class_names)))
    if below:
        said.append((f"well below the validation accuracy {val:.2f} the saved epoch was picked on ({n_val} samples)",
                     f"an epoch picked on {n_val} validation samples flatters the model: the test's figure is "
                     f"the one to go by"))
    facts, causes = zip(*said)
    outcome.test_warning = (f"test accuracy {acc:.2f} on {n} held-out samples is {' and '.join(facts)}: "
                            f"{'; '.join(causes)}. Try {_tries(config, dataset, model, True, outcome.recipe)}.")
    return outcome


def _difference_se(p1: float, n1: int, p2: float, n2: int) -> float:
    """Standard error of the difference of two accuracies on independent samples (with a pseudo-count
    each way, so that 1.00 on a few samples is not taken as certain)."""
    def var(p, n):
        q = (p * n + 1.0) / (n + 2.0)
        return q * (1.0 - q) / n
    return math.sqrt(var(p1, n1) + var(p2, n2))


def _most_confused(cm: np.ndarray, class_names) -> str:
    """`` (most confused: 'a' taken for 'b' in 9 of 16)`` from a confusion matrix, or ``""``."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    if off.max() == 0:
        return ""
    i, j = np.unravel_index(int(off.argmax()), off.shape)
    names = list(class_names or []) or [str(k) for k in range(len(cm))]
    return f" (most confused: '{names[i]}' taken for '{names[j]}' in {off[i, j]} of {cm[i].sum()})"


def stop_line(outcome: TrainingOutcome) -> str:
    """How the run ended and which epoch the saved model is."""
    kept = f"the saved model is epoch {outcome.best_epoch}'s, the lowest validation loss"
    if outcome.best_val_accuracy is not None:
        kept += f" (val accuracy {outcome.best_val_accuracy:.4f})"
    if outcome.stopped_early:
        patience = outcome.recipe.patience if outcome.recipe else None
        why = f" (validation loss had not improved for {patience} epochs)" if patience is not None else ""
        return f"early stopping ended the run at epoch {outcome.epochs_run} of {outcome.max_epochs}{why}; {kept}"
    return f"ran all {outcome.epochs_run} epochs; {kept}"


def report_outcome(outcome: TrainingOutcome, console) -> None:
    """How the run ended, and the training lines' warning (before the test is measured)."""
    console.print(f"  {stop_line(outcome)}", highlight=False)
    _print_warning(outcome.warning, console)


def report_test(outcome: TrainingOutcome, console) -> None:
    """The line :func:`judge_test` left, after the test accuracy is printed."""
    _print_warning(outcome.test_warning, console)


def _print_warning(line: str | None, console) -> None:
    if line:
        console.print(f"  [yellow]warning:[/] {line}", highlight=False)
