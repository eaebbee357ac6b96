"""Each fact once: the task figures of training and deployment come from one module, the Keras test
outputs a training run scored are the ones every export is compared with, and a tune trial trains
through the same loop and settings as ``edgekit train``."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_training_scores_the_outputs_the_run_reuses(trained):
    from edgekit.models.load import LoadedModel
    from edgekit.runtime.keras import KerasRunner
    from edgekit.verification.tasks import score_outputs

    ds, outputs = trained.dataset, trained.test_outputs
    assert outputs.shape == (len(ds.x_test), ds.num_classes) and outputs.dtype == np.float32
    # the training figure is the deployment scorer's figure on these outputs, to the last digit
    assert score_outputs("classification", outputs, ds)["accuracy"] == trained.metrics["accuracy"]
    # and they are the Keras reference's outputs, so the end-to-end run need not compute them again
    reference = KerasRunner(trained.model_path, loaded=LoadedModel(str(trained.model_path), "tf_keras", trained.model))
    np.testing.assert_allclose(reference.run(ds.x_test), outputs, atol=1e-5)
    saved = json.loads((trained.model_path.parent / "metrics.json").read_text())
    assert {"accuracy", "per_class", "confusion_matrix", "epochs_run", "training"} <= set(saved)
    assert np.trace(np.array(saved["confusion_matrix"])) == round(saved["accuracy"] * len(ds.x_test))
    card = json.loads(trained.model_path.with_suffix(".json").read_text())
    assert card["metrics"] == {"test_accuracy": saved["accuracy"]}


def test_task_figures_match_their_definitions():
    from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score

    from edgekit.verification.tasks import anomaly_figures, anomaly_threshold, pair_auc, regression_figures

    rng = np.random.default_rng(0)
    t, p = rng.normal(size=200), rng.normal(size=200)
    r = regression_figures(t, p)
    assert r["mae"] == pytest.approx(mean_absolute_error(t, p)) and r["r2"] == pytest.approx(r2_score(t, p))
    assert r["rmse"] == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))
    x = rng.normal(size=(100, 8))
    recon = x + rng.normal(scale=0.1, size=x.shape)
    threshold = anomaly_threshold(recon, x)
    assert np.mean(np.mean((recon - x) ** 2, axis=1) > threshold) == pytest.approx(0.01, abs=0.01)
    y, scores = np.r_[np.zeros(50), np.ones(50)], np.r_[rng.random(50), rng.random(50) + 0.5]
    a = anomaly_figures(scores, y, threshold=0.9)
    assert a["roc_auc"] == pytest.approx(roc_auc_score(y, scores))
    assert a["false_alarm_rate"] == pytest.approx(np.mean(scores[:50] > 0.9))
    # embeddings that are their class: same-class pairs at distance 0, every other pair farther
    classes = np.repeat(np.arange(4), 25)
    assert pair_auc(np.eye(4)[classes], classes) == 1.0


@pytest.mark.parametrize("values", [
    {"optimizer": "sgd", "lr_sgd": 0.05, "momentum": 0.8, "nesterov": True, "schedule": "exponential"},
    {"optimizer": "rmsprop", "lr_rmsprop": 1e-3, "rmsprop_momentum": 0.9, "schedule": "cosine"},
    {"optimizer": "adamw", "lr_adamw": 2e-3, "weight_decay": 1e-3, "schedule": "constant"},
])
def test_a_trial_trains_with_edgekit_trains_settings(values):
    from edgekit.training.optim import make_optimizer
    from edgekit.tuning import TuneConfig, trial_config
    from edgekit.tuning.trial import train_config

    point = {"num_layers": 1, "units_0": 32, "activation": "relu", "dropout": 0.0, "l2": 0.0, "batch_size": 64,
             **values}
    cfg = trial_config("mlp", point)
    tc = train_config(cfg, TuneConfig(patience=3, seed=5, augment=False), epochs=9, initial_epoch=4)
    assert (tc.optimizer, tc.learning_rate, tc.schedule, tc.batch_size) == (cfg.optimizer, cfg.learning_rate,
                                                                             cfg.schedule, 64)
    assert (tc.epochs, tc.patience, tc.seed, tc.augment, tc.tensorboard) == (9, 3, 5, False, False)
    opt = make_optimizer(tc, steps_per_epoch=10, epochs=5)  # the 5 epochs a continued trial still runs
    if values["optimizer"] == "sgd":
        assert opt.nesterov and float(opt.momentum) == pytest.approx(0.8)
        # the space's exponential schedule: down to a tenth over the epochs the trial runs
        assert float(opt._learning_rate(50)) == pytest.approx(0.1 * cfg.learning_rate, rel=1e-4)
    elif values["optimizer"] == "rmsprop":
        assert float(opt.momentum) == pytest.approx(0.9)
    else:
        assert float(opt.weight_decay) == pytest.approx(1e-3)
