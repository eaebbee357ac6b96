"""Each task's figures computed from a model's outputs: the one module for them, at training and at deployment.

``edgekit train`` scores the Keras model's test outputs here, and the end-to-end run, tune's best
bundle and ``compress`` score every artifact's (Keras, LiteRT, onnxruntime) with the same functions,
so a training run's figure and an export's are comparable to the last digit. No TensorFlow here.

==============  =====================================  ===========================  =================
task            figures (per artifact)                 headline (``drop`` in        better
                                                       compress)
==============  =====================================  ===========================  =================
classification  top-1 accuracy                         accuracy                     higher
regression      RMSE, MAE (original units), R^2        rmse                         lower
anomaly         ROC AUC of the reconstruction error,   roc_auc                      higher
                recall and false alarms at the
                training run's threshold
embedding       ROC AUC of -distance, same- vs         pair_roc_auc                 higher
                different-class test pairs
generation      output parity with the Keras model     cosine                       higher
==============  =====================================  ===========================  =================

A training run adds what only it can compute: per-class precision and recall and the confusion
matrix (:func:`class_breakdown`), the anomaly threshold from the validation errors
(:func:`anomaly_threshold`), and a generator's figures judged by a classifier of real images
(:func:`generated_image_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class TaskMetric:
    task: str
    name: str  # the headline figure
    higher_is_better: bool
    columns: tuple[str, ...]  # the figures a report shows per artifact

    def drop(self, baseline: float, value: float) -> float:
        """How much worse ``value`` is than ``baseline`` (positive = worse), in the metric's units."""
        return (baseline - value) if self.higher_is_better else (value - baseline)

    def as_dict(self) -> dict:
        return {"task": self.task, "name": self.name, "higher_is_better": self.higher_is_better,
                "columns": list(self.columns)}


METRICS = {
    "classification": TaskMetric("classification", "accuracy", True, ("accuracy",)),
    "regression": TaskMetric("regression", "rmse", False, ("rmse", "mae", "r2")),
    "anomaly": TaskMetric("anomaly", "roc_auc", True, ("roc_auc", "recall_at_threshold", "false_alarm_rate")),
    "embedding": TaskMetric("embedding", "pair_roc_auc", True, ("pair_roc_auc",)),
    # a generator's figures are the parity columns every report already has (cosine, max abs)
    "generation": TaskMetric("generation", "cosine", True, ()),
}


def task_metric(task: str) -> TaskMetric:
    if task not in METRICS:
        raise EdgekitError(f"no figures defined for task {task!r}; tasks: {', '.join(METRICS)}.")
    return METRICS[task]


def pair_indices(y, n_pairs: int = 4000, seed: int = 1):
    """Balanced same/different-class index pairs ``(i, j, same)``; ``edgekit.training.tasks.make_pairs``
    draws its training pairs with this, so a runner's pair AUC matches the training run's figure."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y).ravel()
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    i = rng.integers(0, len(y), size=n_pairs)
    same = (np.arange(n_pairs) % 2 == 0).astype(np.float32)
    j = np.empty(n_pairs, np.int64)
    for k in range(n_pairs):
        c = y[i[k]]
        if same[k]:
            j[k] = rng.choice(by_class[c])
        else:
            others = [d for d in by_class if d != c]
            j[k] = rng.choice(by_class[others[rng.integers(len(others))]])
    return i, j, same


def score_outputs(task: str, outputs, dataset, reference=None, threshold: float | None = None) -> dict:
    """The task's figures for ``outputs`` = a model's outputs on ``dataset.x_test``.

    ``reference``: the Keras model's outputs (generation is scored by parity with it);
    ``threshold``: the anomaly score threshold chosen at training.
    """
    out = np.asarray(outputs, np.float64)
    y = dataset.y_test
    if task == "classification":
        return {"accuracy": float(np.mean(predicted_classes(out) == np.asarray(y).ravel()))}
    if task == "regression":
        to_units = getattr(dataset, "targets", lambda v: np.asarray(v, np.float64))
        return regression_figures(to_units(y), to_units(out))
    if task == "anomaly":
        return anomaly_figures(reconstruction_errors(out, dataset.x_test), y, threshold,
                               data=getattr(dataset, "name", "data"))
    if task == "embedding":
        return {"pair_roc_auc": pair_auc(out, y)}
    if task == "generation":
        if reference is None:
            return {"cosine": 1.0, "max_abs": 0.0}
        from edgekit.verification import parity

        p = parity(reference, out, classification=False)
        return {"cosine": p.cosine, "max_abs": p.max_abs}
    raise EdgekitError(f"no figures defined for task {task!r}.")


def predicted_classes(outputs) -> np.ndarray:
    out = np.asarray(outputs)
    return out.reshape(len(out), -1).argmax(1)


def class_breakdown(y_true, outputs, class_names: list[str]) -> dict:
    """Per-class precision, recall and support, and the confusion matrix (rows: true class)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true).ravel(), predicted_classes(outputs)
    labels = list(range(len(class_names)))
    precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "per_class": {name: {"precision": float(p), "recall": float(r), "support": int(s)}
                      for name, p, r, s in zip(class_names, precision, recall, support)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def regression_figures(y_true, y_pred) -> dict:
    """RMSE, MAE and R^2 of predictions, in whatever units the arrays are in."""
    t, p = np.asarray(y_true, np.float64).ravel(), np.asarray(y_pred, np.float64).ravel()
    err = p - t
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot else 0.0}


def reconstruction_errors(outputs, x) -> np.ndarray:
    """An autoencoder's anomaly score per sample: the mean squared reconstruction error."""
    out = np.asarray(outputs, np.float64)
    return np.mean((out.reshape(len(out), -1) - np.asarray(x, np.float64).reshape(len(out), -1)) ** 2, axis=1)


# Validation errors of normal samples: the share above the threshold is the false alarm rate aimed at.
ANOMALY_QUANTILE = 0.99


def anomaly_threshold(val_outputs, x_val) -> float:
    """The score above which a sample is flagged, from the validation split (normal samples only)."""
    return float(np.quantile(reconstruction_errors(val_outputs, x_val), ANOMALY_QUANTILE))


def anomaly_figures(scores, y, threshold: float | None = None, data: str = "data") -> dict:
    """ROC AUC of ``scores`` for ``y`` (1 = anomaly); recall and false alarms at ``threshold``."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(y).ravel()
    if len(np.unique(labels)) < 2:
        raise EdgekitError(f"{data}: the test split needs normal and anomalous samples (y 0 and 1) to score an "
                           "anomaly detector.")
    res = {"roc_auc": float(roc_auc_score(labels, scores))}
    if threshold is not None:
        flagged = np.asarray(scores) > threshold
        res.update(threshold=float(threshold), recall_at_threshold=float(flagged[labels == 1].mean()),
                   false_alarm_rate=float(flagged[labels == 0].mean()))
    return res


def pair_auc(embeddings, y, n_pairs: int = 4000, seed: int = 1) -> float:
    """ROC AUC of -distance between embeddings, same-class (positive) vs different-class pairs."""
    from sklearn.metrics import roc_auc_score

    i, j, same = pair_indices(y, n_pairs, seed)
    e = np.asarray(embeddings, np.float64)
    e = e.reshape(len(e), -1)
    return float(roc_auc_score(same, -np.linalg.norm(e[i] - e[j], axis=1)))


def generated_image_figures(images, asked, dataset) -> dict:
    """Judge generated images with a classifier trained on the real training images (scikit-learn
    logistic regression): how many classes the samples cover (a collapsed GAN covers few) and, for
    a conditional generator (``asked``: the class asked for each image), the share classified as asked."""
    from sklearn.linear_model import LogisticRegression

    flat = lambda a: np.asarray(a, np.float32).reshape(len(a), -1)  # noqa: E731
    clf = LogisticRegression(max_iter=500).fit(flat(dataset.x_train), np.asarray(dataset.y_train).ravel())
    pred = clf.predict(flat(images))
    counts = np.bincount(pred, minlength=len(dataset.class_names))
    out = {"classes_covered": int((counts >= len(pred) * 0.02).sum()), "real_classifier_test_accuracy":
           float(clf.score(flat(dataset.x_test), np.asarray(dataset.y_test).ravel()))}
    if asked is not None:
        out["class_accuracy"] = float(np.mean(pred == asked))
    return out


# The figures a training run prints in its one line, per task.
HEADLINE = {"classification": ("accuracy",), "regression": ("rmse", "mae", "r2"), "anomaly": ("roc_auc",),
            "embedding": ("pair_roc_auc",), "generation": ("class_accuracy", "classes_covered")}


def headline(task: str, metrics: dict) -> str:
    """One line with the figures that matter for ``task``."""
    return ", ".join(f"{k} {metrics[k]:.4f}" if isinstance(metrics[k], float) else f"{k} {metrics[k]}"
                     for k in HEADLINE[task] if k in metrics)
