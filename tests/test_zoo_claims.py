"""Textbook claims, shown on real bundled data with the zoo's models and edgekit's trainer.

Data: scikit-learn's diabetes and digits (shipped with scikit-learn), and ``token_order``, a
sequence task generated offline where only the order of two tokens decides the label.
Every training run is seeded; the thresholds are the claims', the measured figures are printed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgekit.training import train

QUIET = dict(tensorboard=False)


def _run(name, data, out, params=None, **config):
    return train(name, data, params=params, out=out, **{**QUIET, **config})


def test_huber_beats_mse_when_a_tenth_of_the_training_targets_are_outliers(tmp_path):
    from edgekit.data import load_dataset

    clean = load_dataset("diabetes")
    rng = np.random.default_rng(0)
    y = clean.y_train.copy()
    hit = rng.choice(len(y), size=len(y) // 10, replace=False)
    y[hit] += rng.uniform(8, 12, size=(len(hit), 1)).astype(np.float32)  # 8 to 12 standard deviations off
    corrupted = dataclasses.replace(clean, y_train=y)  # validation and test targets stay clean
    rmse = {}
    for loss in ("huber", "mse"):
        res = _run("mlp_regressor", corrupted, tmp_path / loss, params={"loss": loss, "hidden_units": (32,)},
                   epochs=100, patience=15, learning_rate=3e-3)
        rmse[loss] = res.metrics["rmse"]
        print(loss, {k: round(v, 3) for k, v in res.metrics.items() if k in ("rmse", "mae", "r2")})
    assert rmse["huber"] < rmse["mse"], rmse


def test_dense_autoencoder_on_one_digit_flags_the_others(tmp_path):
    res = _run("autoencoder_dense", "digits_anomaly", tmp_path,
               params={"input_shape": (64,), "hidden_units": (32,), "bottleneck": 8}, epochs=60, patience=8)
    print(res.metrics)
    assert res.metrics["roc_auc"] >= 0.9
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "model.json").is_file()


def test_siamese_contrastive_separates_same_and_different_digit_pairs(tmp_path):
    res = _run("siamese", "digits_pairs", tmp_path,
               params={"input_shape": (64,), "hidden_units": (64,), "embedding_dim": 16}, epochs=10, patience=4)
    print(res.metrics)
    assert res.metrics["pair_roc_auc"] >= 0.95


def test_cnn_on_digits_reaches_97_percent(tmp_path):
    res = _run("cnn", "digits", tmp_path, epochs=12, patience=4)
    print("cnn test accuracy", res.metrics["accuracy"])
    assert res.metrics["accuracy"] >= 0.97


@pytest.fixture(scope="module")
def bag_of_words_accuracy():
    """Logistic regression on token counts: every token_order sequence has the same counts of the
    two tokens that matter, so it can only guess."""
    from sklearn.linear_model import LogisticRegression

    from edgekit.data import load_dataset
    from edgekit.data.builtin import TOKEN_VOCAB

    d = load_dataset("token_order", input_shape=(16,))
    counts = lambda x: np.stack([np.bincount(r, minlength=TOKEN_VOCAB) for r in x])  # noqa: E731
    acc = LogisticRegression(max_iter=1000).fit(counts(d.x_train), d.y_train).score(counts(d.x_test), d.y_test)
    print("bag-of-words accuracy", acc)
    assert acc < 0.6
    return acc


SEQUENCE_MODELS = {
    "lstm": {"vocab_size": 20, "embed_dim": 16, "units": (32,)},
    "transformer_encoder": {"vocab_size": 20, "embed_dim": 32, "num_heads": 2, "ff_dim": 64, "num_layers": 2,
                            "dropout": 0.0},
}


@pytest.mark.parametrize("name", sorted(SEQUENCE_MODELS))
def test_sequence_models_beat_bag_of_words_when_order_matters(name, tmp_path, bag_of_words_accuracy):
    res = _run(name, "token_order", tmp_path, params={"input_shape": (16,), **SEQUENCE_MODELS[name]},
               epochs=10, patience=4, augment=False)
    print(name, "accuracy", res.metrics["accuracy"], "bag of words", bag_of_words_accuracy)
    assert res.metrics["accuracy"] >= bag_of_words_accuracy + 0.3


GENERATORS = {
    "gan_generator": {"input_shape": (16,), "image_shape": (8, 8, 1), "filters": (32, 16)},
    "cgan_generator": {"input_shape": (26,), "image_shape": (8, 8, 1), "filters": (32, 16)},
}


def _exports_match_keras(model, x, out, name):
    from edgekit.artifact import Normalization
    from edgekit.convert import export
    from edgekit.data import Dataset
    from edgekit.models import support
    from edgekit.runtime.base import load_runner
    from edgekit.verification import parity

    # int8 is calibrated on one half of the samples and compared with Keras on the other half
    half = len(x) // 2
    x_cal, x = x[:half], x[half:]
    reference = model.predict(x, verbose=0)
    calib = Dataset(name, x_cal, np.zeros(len(x_cal), int), x_cal[:1], np.zeros(1, int), x_cal[:1], np.zeros(1, int),
                    Normalization(), [])
    cosines = {}
    for fmt, precision in support.COLUMNS.values():
        art = export(model, to=fmt, precision=precision, data=calib, out=out, name=name)
        cosines[f"{fmt}_{precision}"] = parity(reference, load_runner(art.path).run(x), classification=False).cosine
    print(name, cosines)
    assert cosines["tflite_fp32"] >= support.FP32_MIN_COSINE and cosines["onnx_fp32"] >= support.FP32_MIN_COSINE
    assert cosines["tflite_int8"] >= support.int8_min_cosine(name)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_trained_gan_generators_export_and_match_keras(name, tmp_path):
    from edgekit.models.gan import cgan_inputs

    res = _run(name, "digits_gen", tmp_path / "run", params=GENERATORS[name], epochs=12)
    print(name, res.metrics)
    gen = res.model
    rng = np.random.default_rng(0)
    dim = int(gen.input_shape[-1])
    if name == "cgan_generator":
        z = cgan_inputs(rng.standard_normal((64, dim - 10)), np.arange(64) % 10, 10)
        assert res.metrics["class_accuracy"] >= 0.7  # it draws the digit it is asked for
    else:
        z = rng.standard_normal((64, dim)).astype(np.float32)
        assert res.metrics["classes_covered"] >= 5  # not collapsed onto a few digits
    _exports_match_keras(gen, z, tmp_path / "export", name)


def test_trained_vae_and_its_decoder_export_and_match_keras(tmp_path):
    res = _run("vae", "digits_anomaly", tmp_path / "run",
               params={"input_shape": (64,), "hidden_units": (32,), "latent_dim": 4}, epochs=40, patience=6)
    print("vae", res.metrics)
    assert res.metrics["roc_auc"] >= 0.9
    from edgekit.data import load_dataset

    x = load_dataset("digits_anomaly", input_shape=(64,)).x_test[:64]
    _exports_match_keras(res.model, x, tmp_path / "export", "vae")
    decoder = res.model.get_layer("decoder")  # the VAE's generator: latent z to a digit
    z = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    _exports_match_keras(decoder, z, tmp_path / "export", "vae_decoder")


def test_train_refuses_a_model_whose_task_does_not_fit_the_data(tmp_path):
    from edgekit.errors import EdgekitError

    for name, data in (("mlp_regressor", "digits"), ("autoencoder_dense", "diabetes"), ("cnn", "digits_gen"),
                       ("siamese", "digits_anomaly")):
        with pytest.raises(EdgekitError, match="model .* is an? .* model but .* is an? .* dataset"):
            train(name, data, out=tmp_path)


def test_cli_trains_a_regressor_and_says_in_one_line_when_the_task_does_not_fit(cli, tmp_path):
    ok = cli("train", "mlp_regressor", "--data", "diabetes", "--epochs", "3", "--out", tmp_path / "reg")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "rmse" in ok.stdout and "r2" in ok.stdout
    assert (tmp_path / "reg" / "model.keras").exists() and (tmp_path / "reg" / "model.json").is_file()
    bad = cli("train", "vae", "--data", "digits", "--out", tmp_path / "bad")
    assert bad.returncode != 0
    lines = [line for line in bad.stderr.strip().splitlines() if "anomaly" in line]
    assert len(lines) == 1 and "digits_anomaly" in lines[0], bad.stderr[-2000:]
    assert "Traceback" not in bad.stderr


from _speech import spoken_keywords  # noqa: E402


def test_ds_cnn_recognizes_spoken_keywords(tmp_path):
    data = spoken_keywords(tmp_path / "keywords.npz")
    res = _run("ds_cnn", data, tmp_path / "run", params={"filters": 32, "input_shape": (16000,)},
               epochs=30, patience=6)
    print("ds_cnn keyword accuracy", res.metrics["accuracy"], "on", len(res.dataset.x_test), "test clips")
    assert res.metrics["accuracy"] >= 0.90
