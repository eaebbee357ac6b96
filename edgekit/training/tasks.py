"""Training for the tasks other than classification: regression, anomaly detection,
embeddings and generation. :func:`edgekit.training.train` dispatches here by the model's task.

Each task fits the registered model the way its family is trained and scores its outputs on the
test split with the task's own figures (:mod:`edgekit.verification.tasks`, the functions every
export is scored with); :func:`edgekit.training.train` saves what gets deployed as ``model.keras``
with its card:

==============  ======================================  =========================================
task            fit                                     test figures (``metrics.json``)
==============  ======================================  =========================================
regression      the model's own loss (mlp_regressor:    RMSE, MAE (original target units), R^2
                Huber by default), standardized targets
anomaly         reconstruct normal samples (MSE)        ROC AUC of the reconstruction error
                                                        (normal vs anomaly), a threshold at the
                                                        99th percentile of validation errors
embedding       the tower inside a pair model,          ROC AUC of -distance for same-class vs
                contrastive loss (``margin`` param)     different-class test pairs
generation      with its discriminator                  (c)GAN: a real-digit classifier's
                (:func:`~edgekit.models.gan.gan_train_  accuracy on the requested classes (cGAN),
                step`), a fixed number of epochs        the classes covered (GAN); final losses
==============  ======================================  =========================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit._tf import keras
from edgekit.errors import EdgekitError
from edgekit.training.optim import lr_callbacks, make_optimizer, regression_loss
from edgekit.verification.tasks import (anomaly_threshold, generated_image_figures, pair_indices,
                                        score_outputs)

# A model of this task trains on a dataset of the same task; these are the built-in ones.
BUILTIN_DATA = {
    "classification": "digits, digits_flat, token_order",
    "regression": "diabetes",
    "anomaly": "digits_anomaly",
    "embedding": "digits_pairs",
    "generation": "digits_gen",
}
EXTRA_PARAMS = {"embedding": ("margin",)}  # loss settings given with --param beside the builder's knobs


def data_input_shape(spec, params: dict, input_shape, data=None):
    """The shape the data must have for ``spec``'s model (a generator's data are its images).
    ``None`` lets feature vectors (a built-in set, an .npz, a table) keep their own width: the model
    is built to fit them."""
    if spec.task == "generation":
        return tuple(params.get("image_shape") or spec.knobs.get("image_shape"))
    if input_shape:
        return tuple(input_shape)
    if spec.input_kind == "features":
        return None
    return spec.default_input_shape


def predict_outputs(net, x) -> np.ndarray:
    """A Keras model's outputs on ``x`` as the Keras reference gives them (the first output, float32):
    scored here, and reused by the end-to-end run as every export's reference."""
    out = net.predict(x, batch_size=256, verbose=0)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out, np.float32)


@dataclass
class TaskFit:
    """What a task's training hands back: the deployed model and what it scored."""

    net: object
    history: dict
    metrics: dict  # metrics.json
    card_metrics: dict  # the model card's headline figures
    outputs: np.ndarray | None  # the deployed model's outputs on the test split (None: a generator's data are images)
    extras: dict = field(default_factory=dict)  # further models to save beside it, by file name
    seconds: float = 0.0


def _callbacks(config, line):
    return [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        *lr_callbacks(config),
        line,
    ]


# ---------------------------------------------------------------------------------------------
# regression


def fit_regression(name, dataset, params, config, line):
    from edgekit.models import create_model

    outputs = 1 if dataset.y_train.ndim == 1 else int(dataset.y_train.shape[1])
    net = create_model(name, input_shape=dataset.input_shape, num_classes=outputs, **params)
    loss = net.loss if getattr(net, "loss", None) else keras.losses.MeanSquaredError(name="mse")
    loss = regression_loss(config, loss)
    steps = -(-len(dataset.x_train) // config.batch_size)
    net.compile(optimizer=make_optimizer(config, steps), loss=loss,
                metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
    hist = net.fit(dataset.x_train, dataset.y_train, validation_data=(dataset.x_val, dataset.y_val),
                   epochs=config.epochs, batch_size=config.batch_size, callbacks=_callbacks(config, line), verbose=0)
    outputs = predict_outputs(net, dataset.x_test)
    metrics = score_outputs("regression", outputs, dataset)
    if hasattr(dataset, "target_mean"):
        metrics["target_normalization"] = {"mean": dataset.target_mean, "std": dataset.target_std}
    return TaskFit(net, hist.history, metrics, {"test_rmse": metrics["rmse"], "test_r2": metrics["r2"]}, outputs)


# ---------------------------------------------------------------------------------------------
# anomaly detection


def fit_anomaly(name, dataset, params, config, line):
    from edgekit.models import create_model

    net = create_model(name, input_shape=dataset.input_shape, **params)
    net.compile(optimizer=make_optimizer(config, -(-len(dataset.x_train) // config.batch_size)), loss="mse")
    hist = net.fit(dataset.x_train, dataset.x_train, validation_data=(dataset.x_val, dataset.x_val),
                   epochs=config.epochs, batch_size=config.batch_size, callbacks=_callbacks(config, line),
                   shuffle=True, verbose=0)
    threshold = anomaly_threshold(predict_outputs(net, dataset.x_val), dataset.x_val)
    outputs = predict_outputs(net, dataset.x_test)
    metrics = score_outputs("anomaly", outputs, dataset, threshold=threshold)
    y = np.asarray(dataset.y_test).ravel()
    metrics.update(n_normal=int((y == 0).sum()), n_anomaly=int((y == 1).sum()))
    return TaskFit(net, hist.history, metrics, {"test_roc_auc": metrics["roc_auc"], "threshold": threshold},
                   outputs)


# ---------------------------------------------------------------------------------------------
# embeddings


def make_pairs(x, y, n_pairs: int, seed: int = 0):
    """``n_pairs`` balanced pairs: ``(a, b, same)`` with same = 1 for a same-class pair (drawn by
    :func:`edgekit.verification.tasks.pair_indices`, the draw the pair AUC is scored on)."""
    i, j, same = pair_indices(y, n_pairs, seed)
    return x[i], x[j], same


class _PairBatches(keras.utils.Sequence):
    """Fresh balanced pairs every epoch (seeded), so the tower sees many partners per sample."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed, self.epoch = x, y, batch_size, seed, 0
        self._draw()

    def _draw(self):
        self.a, self.b, self.same = make_pairs(self.x, self.y, 2 * len(self.x), seed=self.seed + self.epoch)

    def __len__(self):
        return int(np.ceil(len(self.a) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return (self.a[s], self.b[s]), self.same[s]

    def on_epoch_end(self):
        self.epoch += 1
        self._draw()


def fit_embedding(name, dataset, params, config, line):
    from edgekit.models import create_model
    from edgekit.models.siamese import contrastive_loss, pair_model

    margin = float(params.pop("margin", 1.0))
    tower = create_model(name, input_shape=dataset.input_shape, **params)
    pairs = pair_model(tower)
    steps = -(-2 * len(dataset.x_train) // config.batch_size)
    pairs.compile(optimizer=make_optimizer(config, steps), loss=contrastive_loss(margin))
    va, vb, vsame = make_pairs(dataset.x_val, dataset.y_val, 2 * len(dataset.x_val), seed=config.seed + 10_000)
    hist = pairs.fit(_PairBatches(dataset.x_train, dataset.y_train, config.batch_size, config.seed),
                     validation_data=((va, vb), vsame), epochs=config.epochs, callbacks=_callbacks(config, line),
                     verbose=0)
    outputs = predict_outputs(tower, dataset.x_test)
    auc = score_outputs("embedding", outputs, dataset)["pair_roc_auc"]
    metrics = {"pair_roc_auc": auc, "margin": margin}
    return TaskFit(tower, hist.history, metrics, {"test_pair_roc_auc": auc}, outputs)


# ---------------------------------------------------------------------------------------------
# generation


def fit_generation(name, dataset, params, config, line, input_shape=None):
    from edgekit.models import create_model, get_spec
    from edgekit.models.gan import cgan_discriminator, compiled_gan_train_step, gan_discriminator

    spec = get_spec(name)
    conditional = "num_classes" in spec.knobs or name.startswith("cgan")
    image_shape = tuple(dataset.input_shape)
    params = {k: v for k, v in params.items() if k != "image_shape"}
    latent = int(input_shape[0]) if input_shape else None
    if conditional:
        classes = dataset.num_classes
        import inspect

        # ModelSpec.knobs leaves num_classes out: the builder's own default is the one its input shape assumes
        built_for = inspect.signature(spec.builder).parameters["num_classes"].default
        shape = (latent,) if latent else (spec.default_input_shape[0] - built_for + classes,)
        gen = create_model(name, input_shape=shape, num_classes=classes, image_shape=image_shape, **params)
        disc = cgan_discriminator(image_shape, num_classes=classes)
    else:
        classes = None
        gen = create_model(name, input_shape=(latent,) if latent else None, image_shape=image_shape, **params)
        disc = gan_discriminator(image_shape)
    # DCGAN's optimizer settings (Adam, beta_1 0.5); the learning rate is the run's.
    g_opt = keras.optimizers.Adam(config.learning_rate, beta_1=0.5)
    d_opt = keras.optimizers.Adam(config.learning_rate, beta_1=0.5)
    step = compiled_gan_train_step(gen, disc, g_opt, d_opt, num_classes=classes)
    x, y = dataset.x_train, np.asarray(dataset.y_train)
    rng = np.random.default_rng(config.seed)
    history: dict[str, list] = {"d_loss": [], "g_loss": []}
    for epoch in range(config.epochs):
        order = rng.permutation(len(x))
        d_sum = g_sum = 0.0
        steps = 0
        for s in range(0, len(x) - config.batch_size + 1, config.batch_size):
            idx = order[s : s + config.batch_size]
            d_loss, g_loss = step(x[idx], y[idx]) if conditional else step(x[idx])
            d_sum, g_sum, steps = d_sum + float(d_loss), g_sum + float(g_loss), steps + 1
        history["d_loss"].append(d_sum / max(steps, 1))
        history["g_loss"].append(g_sum / max(steps, 1))
        line.on_epoch_end(epoch, {"d_loss": history["d_loss"][-1], "g_loss": history["g_loss"][-1]})
    metrics = generated_image_figures(*_generate(gen, classes, seed=config.seed), dataset)
    metrics.update(final_d_loss=history["d_loss"][-1], final_g_loss=history["g_loss"][-1])
    headline = {k: v for k, v in metrics.items() if k in ("class_accuracy", "classes_covered")}
    # no test outputs: a generator's test data are images, not the latent vectors it takes
    return TaskFit(gen, history, metrics, headline, None, {"discriminator.keras": disc})


def _generate(generator, num_classes=None, n: int = 1000, seed: int = 0):
    """``n`` images from seeded latent vectors, and the class asked for each (None: not conditional)."""
    rng = np.random.default_rng(seed)
    dim = int(generator.input_shape[-1])
    if num_classes:
        from edgekit.models.gan import cgan_inputs

        asked = rng.integers(0, num_classes, size=n)
        z = cgan_inputs(rng.standard_normal((n, dim - num_classes)), asked, num_classes)
    else:
        asked, z = None, rng.standard_normal((n, dim)).astype(np.float32)
    return generator.predict(z, batch_size=256, verbose=0), asked


def fit_task(task, name, dataset, params, config, line, input_shape=None) -> TaskFit:
    t0 = time.time()
    if task == "regression":
        fit = fit_regression(name, dataset, params, config, line)
    elif task == "anomaly":
        fit = fit_anomaly(name, dataset, params, config, line)
    elif task == "embedding":
        fit = fit_embedding(name, dataset, params, config, line)
    elif task == "generation":
        fit = fit_generation(name, dataset, params, config, line, input_shape)
    else:
        raise EdgekitError(f"no trainer for task {task!r}.")
    fit.metrics["epochs_run"] = len(next(iter(fit.history.values()), []))
    fit.seconds = time.time() - t0
    return fit


def save_extras(out: Path, extras: dict):
    from edgekit._io import atomic_path

    for fname, m in extras.items():  # saved under a temporary name (Keras picks the format from its suffix)
        with atomic_path(Path(out) / fname) as tmp:
            m.save(str(tmp))


__all__ = ["fit_task", "TaskFit", "predict_outputs", "make_pairs", "data_input_shape", "BUILTIN_DATA"]
