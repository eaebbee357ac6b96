"""Training options: optimizers, schedules, label smoothing, regression losses, the input size as a flag;
validated in config files and flags like the other settings (one line, before TensorFlow starts)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.errors import EdgekitError


def test_config_file_and_flags_validate_the_new_keys(tmp_path, cli):
    from edgekit.config import load_config
    from edgekit.training import TrainConfig

    good = tmp_path / "train.toml"
    good.write_text('optimizer = "sgd"\nnesterov = true\nschedule = "cosine"\nlabel_smoothing = 0.1\n'
                    'freeze_backbone = true\nunfreeze = 2\nloss = "huber"\nhuber_delta = 0.5\n')
    cfg = load_config(good, TrainConfig)
    assert (cfg.optimizer, cfg.nesterov, cfg.schedule, cfg.unfreeze, cfg.huber_delta) == ("sgd", True, "cosine", 2, 0.5)
    for text, needle in (('optimizer = "lion"', "optimizer"), ('optimizer = "adam"\nnesterov = true', "nesterov"),
                         ("unfreeze = 2", "freeze_backbone"), ("label_smoothing = 1.5", "label_smoothing"),
                         ('loss = "hinge"', "loss"), ("momentum = 0.9\nmomentun = 1", "momentun")):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(EdgekitError, match=needle):
            load_config(bad, TrainConfig)
    res = cli("train", "cnn", "--data", "digits", "--optimizer", "lion", "--out", tmp_path / "r")
    assert res.returncode == 1 and "--optimizer" in res.stderr and "Traceback" not in res.stderr
    res = cli("train", "cnn", "--data", "digits", "--input-shape", "16xfoo", "--out", tmp_path / "r")
    assert res.returncode == 1 and "--input-shape" in res.stderr


def test_optimizers_schedules_and_losses():
    from edgekit._tf import keras
    from edgekit.training import TrainConfig
    from edgekit.training.optim import SparseSmoothedCrossentropy, make_optimizer, regression_loss

    sgd = make_optimizer(TrainConfig(optimizer="sgd", nesterov=True, momentum=0.8), steps_per_epoch=10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == pytest.approx(0.8)
    assert isinstance(make_optimizer(TrainConfig(optimizer="rmsprop"), 10), keras.optimizers.RMSprop)
    adamw = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=1e-3), 10)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(1e-3)
    cos = make_optimizer(TrainConfig(schedule="cosine", learning_rate=0.1, epochs=5), 10)._learning_rate  # the schedule
    assert float(cos(0)) == pytest.approx(0.1) and float(cos(50)) == pytest.approx(0.0, abs=1e-6)
    exp = make_optimizer(TrainConfig(schedule="exponential", learning_rate=0.1, decay_rate=0.5), 10)._learning_rate
    assert float(exp(20)) == pytest.approx(0.025)
    # label smoothing on integer labels = categorical cross-entropy on smoothed one-hots
    y, p = np.array([0, 2]), np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    smooth = np.eye(3)[y] * 0.9 + 0.1 / 3
    want = float(np.mean(-(smooth * np.log(p)).sum(1)))
    assert float(SparseSmoothedCrossentropy(0.1)(y, p)) == pytest.approx(want, rel=1e-5)
    huber = regression_loss(TrainConfig(loss="huber", huber_delta=0.5), default=None)
    assert isinstance(huber, keras.losses.Huber) and float(huber(np.array([0.0]), np.array([2.0]))) == pytest.approx(0.875)
    assert isinstance(regression_loss(TrainConfig(loss="mae"), None), keras.losses.MeanAbsoluteError)
    assert regression_loss(TrainConfig(), "model's own") == "model's own"


def test_train_with_sgd_label_smoothing_at_a_flag_input_size(tmp_path, cli):
    res = cli("train", "cnn", "--data", "digits", "--input-shape", "20x20x1", "--optimizer", "sgd", "--nesterov",
              "--schedule", "cosine", "--label-smoothing", "0.1", "--lr", "0.05", "--epochs", "3",
              "--out", tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["input_shape"] == [None, 20, 20, 1]
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] > 0.5
    res = cli("train", "mlp_regressor", "--data", "diabetes", "--loss", "mae", "--resolution", "32", "--out",
              tmp_path / "r")
    assert res.returncode == 1 and "--resolution applies to image models" in res.stderr


def test_input_size_flags():
    from edgekit.compression.api import data_shape
    from edgekit.shapes import complete_shape, input_shape_from_flags, parse_input_shape

    assert parse_input_shape("96x96x3") == (96, 96, 3) and parse_input_shape("64") == (64,)
    assert complete_shape(input_shape_from_flags(None, 96), (224, 224, 3)) == (96, 96, 3)
    with pytest.raises(EdgekitError, match="give the input size once"):
        input_shape_from_flags("96x96x3", 96)
    assert data_shape((None, None, 3), (96, 96, None), "m") == (96, 96, 3)
    with pytest.raises(EdgekitError, match="takes inputs of shape"):
        data_shape((32, 32, 3), (96, 96, 3), "m")
