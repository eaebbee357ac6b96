"""Training on a user's small data: the data-size rule, and a train step that says what happened.

One real run through the CLI on features with random labels (nothing to learn): it must exit 0,
print the chance-level line and the early-stopping line, and keep both in report.json and
model.json. The rest is the rule itself and the data inspection behind `edgekit suggest`, which
need no TensorFlow.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest


@pytest.fixture(scope="module")
def random_label_run(tmp_path_factory):
    from conftest import run_cli

    d = tmp_path_factory.mktemp("random_labels")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=600)  # drawn apart from x: there is nothing to learn
    np.savez(d / "random.npz", x=x, y=y)
    (d / "train.toml").write_text("patience = 2\ntensorboard = false\n")
    res = run_cli("train", "mlp", "--data", d / "random.npz", "--epochs", "30", "--config", d / "train.toml",
                  "--out", d / "run")
    return res, d / "run"


def test_random_labels_say_chance_and_exit_0(random_label_run):
    res, out = random_label_run
    assert res.returncode == 0, res.stderr[-2000:]
    line = next(ln for ln in res.stderr.splitlines() if "near chance" in ln)
    assert re.search(r"warning: validation accuracy 0\.\d+ is near chance \(0\.\d+, 60 validation samples\)", line)
    assert "Try more epochs (--epochs 60)" in line and "a smaller model" in line
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["verdict"] == "near_chance" and report["training"]["warning"] in line
    # the test split is at chance too; the training line already said so, so no second line
    assert report["training"]["test_verdict"] == "partly_learned" and "test_warning" not in report["training"]
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["verdict"] == "near_chance"


def test_early_stopping_line_names_the_kept_epoch(random_label_run):
    res, out = random_label_run
    m = re.search(r"early stopping ended the run at epoch (\d+) of 30 \(validation loss had not improved for 2 "
                  r"epochs\); the saved model is epoch (\d+)'s", res.stderr)
    assert m, res.stderr[-2000:]
    stopped, best = int(m.group(1)), int(m.group(2))
    assert best == stopped - 2 and best > 15  # patience 2, watched from epoch 16 (half of 30: small data)
    training = json.loads((out / "report.json").read_text())["training"]
    assert training["stopped_early"] is True and training["best_epoch"] == best and training["epochs_run"] == stopped
    # the kept epoch's validation loss is the lowest of the run
    history = json.loads((out / "metrics.json").read_text())["training"]
    assert history["best_epoch"] == best


def test_image_lines_say_what_to_try():
    """The chance and overfit lines for images name --resolution, `cnn`, --weights and more epochs."""
    from types import SimpleNamespace

    from edgekit.training import TrainConfig
    from edgekit.training.outcome import diagnose
    from edgekit.training.recipe import scaled_config

    config, recipe = scaled_config(TrainConfig(), n_train=224, family="mobilenet", images=True)
    ds = SimpleNamespace(input_shape=(64, 64, 3), preprocessing=None, x_train=np.zeros((224, 1)),
                         y_val=np.repeat([0, 1, 2, 3], 8))
    stopper = SimpleNamespace(best_weights=object(), best_epoch=59, stopped_epoch=103)

    def run(train_acc, val_acc):
        hist = {"accuracy": [train_acc] * 104, "val_accuracy": [val_acc] * 104, "val_loss": [1.0] * 104}
        return diagnose(hist, stopper, config, ds, recipe, 104, "mobilenet_v2")

    chance = run(0.30, 0.31)
    assert chance.verdict == "near_chance" and chance.best_epoch == 60 and chance.stopped_early
    for hint in ("--epochs 358", "--resolution 96, ~2.2x the time an epoch", "`cnn`", "--weights imagenet"):
        assert hint in chance.warning, hint
    over = run(0.99, 0.60)
    assert over.verdict == "overfit" and "far below training accuracy 0.99" in over.warning
    assert run(0.95, 0.90).verdict == "learned" and run(0.95, 0.90).warning is None
    # training accuracy still climbing at the end (0.60 -> 0.80 over the last two patience windows of 22)
    hist = {"accuracy": list(np.linspace(0.3, 0.8, 104)), "val_accuracy": [0.66] * 104, "val_loss": [1.0] * 104}
    rising = diagnose(hist, stopper, config, ds, recipe, 104, "mobilenet_v2")
    assert rising.verdict == "underfit" and "still rising when the run ended" in rising.warning
    assert "epochs 61-82" in rising.warning and "--epochs 358" in rising.warning
    hist["accuracy"] = list(np.linspace(0.3, 0.99, 82)) + [0.99] * 22  # risen and fitted: learned
    hist["val_accuracy"] = [0.9] * 104
    assert diagnose(hist, stopper, config, ds, recipe, 104, "mobilenet_v2").verdict == "learned"


def test_test_line_says_when_the_held_out_figure_is_weak():
    """After the one test measurement: a run the training lines passed (kept at validation 0.66 on 32
    images) but tested at 0.42 on 64 gets a line naming both facts and the most confused pair; a run
    tested near its validation accuracy gets none; one tested well below it (but above half-way)
    is `below_validation`."""
    from types import SimpleNamespace

    from edgekit.artifact import TrainingOutcome
    from edgekit.training import TrainConfig
    from edgekit.training.outcome import judge_test
    from edgekit.training.recipe import scaled_config

    config, recipe = scaled_config(TrainConfig(), n_train=224, family="mobilenet", images=True)
    ds = SimpleNamespace(input_shape=(64, 64, 3), preprocessing=None, x_train=np.zeros((224, 1)),
                         class_names=["down", "left", "right", "up"])

    def judged(val, confusion):
        outcome = TrainingOutcome(epochs_run=144, max_epochs=179, stopped_early=True, best_epoch=104,
                                  best_val_accuracy=val, chance_accuracy=0.25, n_val=32, recipe=recipe)
        return judge_test(outcome, confusion, config, ds, "mobilenet_v2")

    arrows = [[7, 2, 1, 6], [1, 6, 8, 1], [2, 5, 7, 2], [5, 1, 2, 8]]  # 28 of 64 right: 0.44
    weak = judged(0.66, arrows)
    assert weak.test_verdict == "partly_learned", weak
    for fact in ("test accuracy 0.44 on 64 held-out samples", "less than half-way from chance (0.25) to 1",
                 "well below the validation accuracy 0.66", "'left' taken for 'right' in 8 of 16",
                 "--epochs 358", "--resolution 96"):
        assert fact in weak.test_warning, fact
    good = judged(0.97, [[16, 0, 0, 0], [0, 15, 1, 0], [0, 0, 16, 0], [1, 0, 0, 15]])
    assert good.test_verdict == "as_validated" and good.test_warning is None
    below = judged(1.0, [[13, 1, 1, 1], [1, 13, 1, 1], [1, 1, 13, 1], [1, 1, 1, 13]])  # 0.81
    assert below.test_verdict == "below_validation" and "half-way" not in below.test_warning
    assert "flatters the model" in below.test_warning
    assert judged(0.81, [[13, 1, 1, 1], [1, 13, 1, 1], [1, 1, 13, 1], [1, 1, 1, 13]]).test_warning is None


def test_early_stopping_lets_a_model_that_is_still_learning_go_on():
    """On small data the stopper does not end a run whose training accuracy is still rising while its
    validation accuracy is above chance; at chance (labels the inputs do not predict) it stops as before."""
    from edgekit._tf import keras
    from edgekit.training import TrainConfig
    from edgekit.training.recipe import early_stopping, scaled_config

    config, recipe = scaled_config(TrainConfig(), n_train=224, family="mobilenet", images=True)
    net = keras.Sequential([keras.layers.Input((1,)), keras.layers.Dense(1)])

    def stopped_at(val_accuracy):
        stopper = early_stopping(config, recipe, chance=0.25, n_val=32)
        stopper.set_model(net)
        net.stop_training = False
        stopper.on_train_begin()
        for epoch in range(config.epochs):
            stopper.on_epoch_end(epoch, {"val_loss": 1.0, "val_accuracy": val_accuracy,
                                         "accuracy": 0.3 + 0.6 * epoch / config.epochs})
            if net.stop_training:
                return epoch + 1
        return None

    assert config.patience == 22 and stopped_at(0.25) == 90 + 22  # epoch 90: first watched
    assert stopped_at(0.66) is None


def test_learning_rate_plateau_waits_for_early_stopping_start():
    from edgekit._tf import keras
    from edgekit.training import TrainConfig
    from edgekit.training.optim import lr_callbacks
    from edgekit.training.recipe import lr_plateau_start, scaled_config

    small, recipe = scaled_config(TrainConfig(), n_train=224, family="mobilenet")
    assert lr_plateau_start(small, recipe) == 89
    digits, recipe = scaled_config(TrainConfig(), n_train=1257, family="mobilenet")
    assert lr_plateau_start(digits, recipe) == 0
    # a validation loss that never improves: no cut before the start epoch, one a patience after it
    plateau = lr_callbacks(TrainConfig(), 10, patience=6, start_from_epoch=5)[-1]
    net = keras.Sequential([keras.layers.Input((1,)), keras.layers.Dense(1)])
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    plateau.set_model(net)
    plateau.on_train_begin()
    rates = []
    for epoch in range(8):
        plateau.on_epoch_end(epoch, {"val_loss": 1.0})
        rates.append(float(keras.backend.get_value(net.optimizer.learning_rate)))
    assert all(abs(r - 1e-3) < 1e-9 for r in rates[:7])
    assert abs(rates[7] - 5e-4) < 1e-9  # epochs 5 (first best), 6, 7: two without a gain = 6 // 3


def test_recipe_scales_with_data_size():
    from edgekit.training import TrainConfig
    from edgekit.training.recipe import early_stopping_start, scaled_config

    small, recipe = scaled_config(TrainConfig(), n_train=224, family="mobilenet")
    assert (small.epochs, small.batch_size, small.patience) == (179, 16, 22)
    assert early_stopping_start(small, recipe.small_data) == 89 and "224 training samples" in recipe.rule
    # the built-in digits (1,257 training images) keep the settings they were tuned with
    digits, recipe = scaled_config(TrainConfig(), n_train=1257, family="mobilenet")
    assert (digits.epochs, digits.batch_size, digits.patience, digits.learning_rate) == (40, 32, 10, 2e-3)
    assert early_stopping_start(digits, recipe.small_data) == 0 and recipe.from_rule == []
    # edgekit demo's 60 epochs on digits keep patience 10, watched from epoch 1
    demo, recipe = scaled_config(TrainConfig(epochs=60), n_train=1257, family="mobilenet")
    assert demo.patience == 10 and early_stopping_start(demo, recipe.small_data) == 0
    # what the user gave is kept; transformers get a warm-up and a lower rate
    given, recipe = scaled_config(TrainConfig(epochs=5, batch_size=8), n_train=224, family="transformer")
    assert (given.epochs, given.batch_size, given.warmup_epochs, given.learning_rate) == (5, 8, 3, 5e-4)
    assert "epochs" not in recipe.from_rule and given.patience == 10
    # a pretrained start keeps the default epochs
    assert scaled_config(TrainConfig(), n_train=224, family="mobilenet", pretrained=True)[0].epochs == 40


def test_sequence_length_fits_the_training_texts():
    from edgekit.data.text import fitted_sequence_length

    texts = [" ".join(["w"] * n) for n in range(8, 18)]
    assert fitted_sequence_length(texts) == 24 and fitted_sequence_length(texts, cap=16) == 16


def test_suggest_looks_at_the_data(tmp_path):
    from PIL import Image

    from edgekit.training.suggest import suggest

    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (72, 72), (200, 40 * i, 30)).save(tmp_path / "img" / c / f"{i}.png")
            (tmp_path / "grey" / c).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (72, 72), (90, 90, 90)).save(tmp_path / "grey" / c / f"{i}.png")
        (tmp_path / "txt" / c).mkdir(parents=True)
        (tmp_path / "txt" / c / "t.txt").write_text("a few words\n")
    pick = suggest(tmp_path / "img")
    assert pick.model == "mobilenet_v2" and pick.params["input_shape"] == (64, 64, 3) and "72 px" in pick.reason
    assert suggest(tmp_path / "txt").model == "transformer_encoder"
    assert "--resolution 64" in pick.command("img/")
    # the input's channels are the images': grey images (even saved as RGB) get one
    assert suggest(tmp_path / "grey").params["input_shape"] == (64, 64, 1)
    # 3 images per class: the suggestion says that a model from scratch may only memorise them
    assert "~3 images per class" in pick.caution and "--weights" in pick.caution
    assert suggest(tmp_path / "txt").caution == ""



def test_suggest_reads_sensor_windows_as_sequences(tmp_path):
    """(N, 50, 3) windows of signed sensor values are sequences, not 50x3-pixel images; the command
    it prints parses back to the same shape."""
    from edgekit.cli._app import _parse_params
    from edgekit.training.suggest import suggest

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "walk.npz", x=rng.normal(size=(30, 50, 3)).astype("float32"), y=np.arange(30) % 3)
    pick = suggest(tmp_path / "walk.npz")
    assert pick.model == "lstm" and pick.params == {"input_shape": (50, 3)} and "50 steps x 3 features" in pick.reason
    assert "--param input_shape=50x3" in pick.command("walk.npz") and pick.caution == ""
    assert _parse_params(["input_shape=50x3"]) == {"input_shape": (50, 3)}
    np.savez(tmp_path / "grey.npz", x=rng.integers(0, 256, (30, 28, 28)).astype("uint8"), y=np.arange(30) % 3)
    assert suggest(tmp_path / "grey.npz").model == "mobilenet_v2"


def _drawn(kind: str, rng, side: int = 32):
    """One side x side RGB image: a 'b' or 'd' (a stem with a bowl on its right or left), a circle
    or a square, at a random place, size and colour on noise of another colour."""
    from PIL import Image, ImageDraw

    bg, fg = rng.integers(0, 120, 3), rng.integers(136, 256, 3)
    img = Image.fromarray(np.clip(bg + rng.normal(0, 12, (side, side, 3)), 0, 255).astype(np.uint8), "RGB")
    draw, colour = ImageDraw.Draw(img), tuple(int(c) for c in fg)
    r = int(rng.integers(4, 7))
    x, y = (int(v) for v in rng.integers(r + 2, side - 3 * r - 2, 2))
    if kind in ("b", "d"):
        stem = x if kind == "b" else x + 2 * r
        draw.rectangle([stem - 1, y - 2 * r, stem + 1, y + 2 * r], fill=colour)
        draw.ellipse([x, y, x + 2 * r, y + 2 * r], outline=colour, width=2)
    elif kind == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    else:
        draw.rectangle([x - r, y - r, x + r, y + r], fill=colour)
    return np.asarray(img, np.float32) / 127.5 - 1.0


def test_mirror_is_chosen_by_whether_mirrored_training_images_keep_their_class():
    """b and d are each other's mirror image: mirrored, a b is read as a d, and the rule leaves the
    mirror off; circles and squares look the same mirrored, and it stays on."""
    from edgekit.training import TrainConfig
    from edgekit.training.mirror import mirror_check
    from edgekit.training.recipe import scaled_config, wants_mirror_check

    rng = np.random.default_rng(11)

    def check(kinds):
        x = np.stack([_drawn(k, rng) for k in kinds for _ in range(40)])
        return mirror_check(x, np.repeat(np.arange(len(kinds)), 40))

    letters, shapes = check(("b", "d")), check(("circle", "square"))
    assert letters.accuracy >= 0.8 and letters.mirrored < 0.5 and not letters.keeps_class, letters
    assert shapes.accuracy >= 0.8 and shapes.keeps_class, shapes
    assert wants_mirror_check(TrainConfig(), 80, images=True)
    assert not wants_mirror_check(TrainConfig(flip=True), 80, images=True)  # given: kept, not measured
    assert not wants_mirror_check(TrainConfig(), 1200, images=True)  # the mirror is a small-data setting
    off, recipe = scaled_config(TrainConfig(), 64, "mobilenet", images=True, mirror=letters)
    assert off.flip is False and "mirror off: an outline classifier scored" in recipe.rule
    on, recipe = scaled_config(TrainConfig(), 64, "mobilenet", images=True, mirror=shapes)
    assert on.flip is True and "mirror on" in recipe.rule


def test_shuffled_colours_are_offered_where_colour_says_nothing_about_the_class():
    """Circles and squares in random colours: colour alone scores chance, and the recipe line and the
    outcome lines offer `colours = true`; where each class has its own hue, colour tells them apart and
    nothing is offered. The rule itself never switches the shuffle on (it delayed thin letters)."""
    from edgekit.training import TrainConfig
    from edgekit.training.colour import colour_check
    from edgekit.training.recipe import scaled_config, wants_colour_check

    rng = np.random.default_rng(12)
    x = np.stack([_drawn(k, rng) for k in ("circle", "square") for _ in range(40)])
    y = np.repeat([0, 1], 40)
    random = colour_check(x, y)
    hued = x.copy()
    hued[:40, ..., 0] = -1.0  # circles without red
    tinted = colour_check(hued, y)
    assert random.accuracy <= 0.65 and not random.tells_class, random
    assert tinted.accuracy >= 0.9 and tinted.tells_class, tinted
    assert colour_check(x[..., :1], y) is None  # grey images: not measured, colours left alone
    assert wants_colour_check(TrainConfig(), 80, images=True)
    assert not wants_colour_check(TrainConfig(colours=False), 80, images=True)
    assert not wants_colour_check(TrainConfig(), 1200, images=True)
    from types import SimpleNamespace

    from edgekit.training.outcome import diagnose

    offered, recipe = scaled_config(TrainConfig(), 224, "mobilenet", images=True, colour=random)
    assert not offered.colours and not recipe.colours and recipe.colour_tells_class is False
    assert "colours say nothing about the class here: a classifier on colours alone" in recipe.rule
    assert "`colours = true`" in recipe.rule
    ds = SimpleNamespace(input_shape=(64, 64, 3), preprocessing=None, x_train=np.zeros((224, 1)),
                         y_val=np.repeat([0, 1, 2, 3], 8))
    stopper = SimpleNamespace(best_weights=object(), best_epoch=59, stopped_epoch=103)
    hist = {"accuracy": [0.99] * 104, "val_accuracy": [0.6] * 104, "val_loss": [1.0] * 104}
    assert "`colours = true` in --config" in diagnose(hist, stopper, offered, ds, recipe, 104).warning
    kept, recipe = scaled_config(TrainConfig(), 224, "mobilenet", images=True, colour=tinted)
    assert not kept.colours and recipe.colour_tells_class is True and "colours" not in recipe.rule
    assert "colours" not in diagnose(hist, stopper, kept, ds, recipe, 104).warning
    given, recipe = scaled_config(TrainConfig(colours=True), 224, "mobilenet", images=True)
    assert given.colours and recipe.colours and recipe.rule.endswith("; given: colours True")  # given: used, and said


def test_shuffled_colours_are_channel_orders_and_inversions_of_the_image():
    from edgekit.training.batches import training_batches

    x = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 3)).astype("float32")
    xb, yb = next(iter(training_batches(x, np.arange(64), 64, seed=3, augment=True, invert_about=0.0)))
    xb, yb = xb.numpy(), yb.numpy()
    pad = 1  # shifts of up to 1 px at side 8: compare the centres
    seen = set()
    for img, i in zip(xb, yb):
        centre = img[pad:-pad, pad:-pad]
        ways = {(order, sign) for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
                for sign in (1, -1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if np.allclose(centre, sign * x[i][pad + dy:8 - pad + dy, pad + dx:8 - pad + dx][..., list(order)])}
        assert ways, i
        seen |= ways
    assert len({o for o, _ in seen}) >= 4 and {s for _, s in seen} == {1, -1}


def test_thin_strokes_keep_more_pixels(tmp_path):
    """96-px images of 3-px lines are read at 96 (at 64 or 80 the lines would be under 5 px wide);
    of 7-px lines at 80, the smallest side in steps of 16 where they are 5 px; of filled discs at 64,
    as every small image set."""
    from PIL import Image, ImageDraw

    from edgekit.training.detail import half_width
    from edgekit.training.suggest import suggest

    rng = np.random.default_rng(5)
    for name, kinds in (("lines", ("slash", "cross")), ("strokes", ("slash", "backslash")), ("discs", ("small", "large"))):
        for kind in kinds:
            (tmp_path / name / kind).mkdir(parents=True)
            for i in range(12):
                img = Image.fromarray(np.clip(rng.normal(60, 10, (96, 96, 3)), 0, 255).astype(np.uint8), "RGB")
                draw, x, y = ImageDraw.Draw(img), *(int(v) for v in rng.integers(30, 66, 2))
                if name != "discs":  # one line, or two crossing, 3 px wide; or one 7 px wide
                    width = 3 if name == "lines" else 7
                    if kind != "backslash":
                        draw.line([x - 25, y + 25, x + 25, y - 25], fill=(230, 200, 40), width=width)
                    if kind in ("cross", "backslash"):
                        draw.line([x - 25, y - 25, x + 25, y + 25], fill=(230, 200, 40), width=width)
                else:
                    r = 14 if kind == "small" else 22
                    draw.ellipse([x - r, y - r, x + r, y + r], fill=(230, 200, 40))
                img.save(tmp_path / name / kind / f"{i}.png")
    line = np.asarray(Image.open(tmp_path / "lines" / "slash" / "0.png"), np.float32)
    assert 1.0 <= half_width(line) <= 3.0
    thin, medium, thick = suggest(tmp_path / "lines"), suggest(tmp_path / "strokes"), suggest(tmp_path / "discs")
    assert thin.params["input_shape"] == (96, 96, 3) and "strokes" in thin.reason, thin.reason
    assert medium.params["input_shape"] == (80, 80, 3) and "read at 80, where they are 6.0" in medium.reason, \
        medium.reason
    assert thick.params["input_shape"] == (64, 64, 3) and "strokes" not in thick.reason
    # 56-px images are read at 48, their own size in steps of 16 (3-px lines would be ~1.7 px at 32)
    for kind in ("slash", "cross"):
        (tmp_path / "small" / kind).mkdir(parents=True)
        for i in range(12):
            img = Image.fromarray(np.clip(rng.normal(60, 10, (56, 56, 3)), 0, 255).astype(np.uint8), "RGB")
            draw, x, y = ImageDraw.Draw(img), *(int(v) for v in rng.integers(20, 36, 2))
            draw.line([x - 14, y + 14, x + 14, y - 14], fill=(230, 200, 40), width=3)
            if kind == "cross":
                draw.line([x - 14, y - 14, x + 14, y + 14], fill=(230, 200, 40), width=3)
            img.save(tmp_path / "small" / kind / f"{i}.png")
    small = suggest(tmp_path / "small")
    assert small.params["input_shape"] == (48, 48, 3) and "kept at their own size in steps of 16" in small.reason, \
        small.reason
