"""Training for the tasks other than classification: regression, anomaly detection,
embeddings and generation. :func:`edgekit.training.train` dispatches here by the model's task.

Each task fits the registered model the way its family is trained, scores it on the test split
with the task's own figures, and saves what gets deployed as ``model.keras`` with its card:

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
from pathlib import Path

import numpy as np

from edgekit._tf import keras
from edgekit.errors import EdgekitError
from edgekit.training.optim import lr_callbacks, make_optimizer, regression_loss

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


def _callbacks(config, line):
    return [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        *lr_callbacks(config),
        line,
    ]


# ---------------------------------------------------------------------------------------------
# regression


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """RMSE, MAE and R^2 of predictions, in whatever units the arrays are in."""
    y_true = np.asarray(y_true, np.float64).ravel()
    y_pred = np.asarray(y_pred, np.float64).ravel()
    err = y_pred - y_true
    ss_res, ss_tot = float(np.sum(err**2)), float(np.sum((y_true - y_true.mean()) ** 2))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - ss_res / ss_tot if ss_tot else 0.0}


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
    pred = net.predict(dataset.x_test, batch_size=256, verbose=0)
    to_units = getattr(dataset, "targets", lambda y: np.asarray(y, np.float64))
    metrics = regression_report(to_units(dataset.y_test), to_units(pred))
    if hasattr(dataset, "target_mean"):
        metrics["target_normalization"] = {"mean": dataset.target_mean, "std": dataset.target_std}
    return net, hist.history, metrics, {"test_rmse": metrics["rmse"], "test_r2": metrics["r2"]}


# ---------------------------------------------------------------------------------------------
# anomaly detection


def fit_anomaly(name, dataset, params, config, line):
    from sklearn.metrics import roc_auc_score

    from edgekit.models import create_model
    from edgekit.models.autoencoders import anomaly_scores

    net = create_model(name, input_shape=dataset.input_shape, **params)
    net.compile(optimizer=make_optimizer(config, -(-len(dataset.x_train) // config.batch_size)), loss="mse")
    hist = net.fit(dataset.x_train, dataset.x_train, validation_data=(dataset.x_val, dataset.x_val),
                   epochs=config.epochs, batch_size=config.batch_size, callbacks=_callbacks(config, line),
                   shuffle=True, verbose=0)
    scores = anomaly_scores(net, dataset.x_test)
    val_scores = anomaly_scores(net, dataset.x_val)
    y = np.asarray(dataset.y_test).ravel()
    if len(np.unique(y)) < 2:
        raise EdgekitError(f"{dataset.name}: the test split needs normal and anomalous samples (y 0 and 1) "
                           "to score an anomaly detector.")
    threshold = float(np.quantile(val_scores, 0.99))
    flagged = scores > threshold
    metrics = {"roc_auc": float(roc_auc_score(y, scores)), "threshold": threshold,
               "recall_at_threshold": float(flagged[y == 1].mean()),
               "false_alarm_rate": float(flagged[y == 0].mean()),
               "n_normal": int((y == 0).sum()), "n_anomaly": int((y == 1).sum())}
    return net, hist.history, metrics, {"test_roc_auc": metrics["roc_auc"], "threshold": threshold}


# ---------------------------------------------------------------------------------------------
# embeddings


def make_pairs(x, y, n_pairs: int, seed: int = 0):
    """``n_pairs`` balanced pairs: ``(a, b, same)`` with same = 1 for a same-class pair (drawn by
    :func:`edgekit.verification.tasks.pair_indices`, so a deployed model's pair AUC uses the same draw)."""
    from edgekit.verification.tasks import pair_indices

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


def pair_auc(tower, x, y, n_pairs: int = 4000, seed: int = 1) -> float:
    """ROC AUC of -distance between embeddings for same-class (positive) vs different-class pairs."""
    from sklearn.metrics import roc_auc_score

    a, b, same = make_pairs(x, y, n_pairs, seed)
    ea = tower.predict(a, batch_size=256, verbose=0)
    eb = tower.predict(b, batch_size=256, verbose=0)
    return float(roc_auc_score(same, -np.linalg.norm(ea - eb, axis=1)))


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
    auc = pair_auc(tower, dataset.x_test, dataset.y_test)
    metrics = {"pair_roc_auc": auc, "margin": margin}
    return tower, hist.history, metrics, {"test_pair_roc_auc": auc}


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
    metrics = generation_report(gen, dataset, classes, seed=config.seed)
    metrics.update(final_d_loss=history["d_loss"][-1], final_g_loss=history["g_loss"][-1])
    headline = {k: v for k, v in metrics.items() if k in ("class_accuracy", "classes_covered")}
    return gen, history, metrics, headline, disc


def generation_report(generator, dataset, num_classes=None, n: int = 1000, seed: int = 0) -> dict:
    """Judge generated images with a classifier trained on the real training images
    (scikit-learn logistic regression): for a conditional generator, the share of samples
    classified as the class asked for; for any generator, how many classes its samples cover
    (a collapsed GAN covers few)."""
    from sklearn.linear_model import LogisticRegression

    flat = lambda a: np.asarray(a, np.float32).reshape(len(a), -1)  # noqa: E731
    clf = LogisticRegression(max_iter=500).fit(flat(dataset.x_train), np.asarray(dataset.y_train).ravel())
    rng = np.random.default_rng(seed)
    dim = int(generator.input_shape[-1])
    if num_classes:
        from edgekit.models.gan import cgan_inputs

        asked = rng.integers(0, num_classes, size=n)
        z = cgan_inputs(rng.standard_normal((n, dim - num_classes)), asked, num_classes)
    else:
        asked, z = None, rng.standard_normal((n, dim)).astype(np.float32)
    images = generator.predict(z, batch_size=256, verbose=0)
    pred = clf.predict(flat(images))
    counts = np.bincount(pred, minlength=len(dataset.class_names))
    out = {"classes_covered": int((counts >= n * 0.02).sum()), "real_classifier_test_accuracy":
           float(clf.score(flat(dataset.x_test), np.asarray(dataset.y_test).ravel()))}
    if asked is not None:
        out["class_accuracy"] = float(np.mean(pred == asked))
    return out


def headline(task: str, metrics: dict) -> str:
    """One line with the figures that matter for ``task``."""
    keys = {"classification": ("accuracy",), "regression": ("rmse", "mae", "r2"), "anomaly": ("roc_auc",),
            "embedding": ("pair_roc_auc",), "generation": ("class_accuracy", "classes_covered")}[task]
    return ", ".join(f"{k} {metrics[k]:.4f}" if isinstance(metrics[k], float) else f"{k} {metrics[k]}"
                     for k in keys if k in metrics)


def fit_task(task, name, dataset, params, config, line, input_shape=None):
    """Returns ``(deployed model, history, metrics, card metrics, extra models to save)``."""
    t0 = time.time()
    extras = {}
    if task == "regression":
        net, hist, metrics, card_metrics = fit_regression(name, dataset, params, config, line)
    elif task == "anomaly":
        net, hist, metrics, card_metrics = fit_anomaly(name, dataset, params, config, line)
    elif task == "embedding":
        net, hist, metrics, card_metrics = fit_embedding(name, dataset, params, config, line)
    elif task == "generation":
        net, hist, metrics, card_metrics, disc = fit_generation(name, dataset, params, config, line, input_shape)
        extras["discriminator.keras"] = disc
    else:
        raise EdgekitError(f"no trainer for task {task!r}.")
    metrics["epochs_run"] = len(next(iter(hist.values()), []))
    return net, hist, metrics, card_metrics, extras, time.time() - t0


def save_extras(out: Path, extras: dict):
    from edgekit._io import atomic_path

    for fname, m in extras.items():  # saved under a temporary name (Keras picks the format from its suffix)
        with atomic_path(Path(out) / fname) as tmp:
            m.save(str(tmp))


__all__ = ["fit_task", "headline", "regression_report", "make_pairs", "pair_auc", "generation_report",
           "data_input_shape", "BUILTIN_DATA"]
