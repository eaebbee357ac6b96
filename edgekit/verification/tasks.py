"""Each task's figures computed from a model's outputs, for any runner (Keras, LiteRT, onnxruntime).

The end-to-end run and ``compress`` score every artifact with the same function, so the Keras
reference and its exports are compared on equal terms. No TensorFlow here.

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
    from sklearn.metrics import roc_auc_score

    out = np.asarray(outputs, np.float64)
    y = dataset.y_test
    if task == "classification":
        return {"accuracy": float(np.mean(out.reshape(len(out), -1).argmax(1) == np.asarray(y).ravel()))}
    if task == "regression":
        to_units = getattr(dataset, "targets", lambda v: np.asarray(v, np.float64))
        t, p = np.asarray(to_units(y), np.float64).ravel(), np.asarray(to_units(out), np.float64).ravel()
        err = p - t
        ss_tot = float(np.sum((t - t.mean()) ** 2))
        return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
                "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot else 0.0}
    if task == "anomaly":
        x = np.asarray(dataset.x_test, np.float64).reshape(len(out), -1)
        scores = np.mean((out.reshape(len(out), -1) - x) ** 2, axis=1)
        labels = np.asarray(y).ravel()
        res = {"roc_auc": float(roc_auc_score(labels, scores))}
        if threshold is not None:
            flagged = scores > threshold
            res.update(threshold=float(threshold), recall_at_threshold=float(flagged[labels == 1].mean()),
                       false_alarm_rate=float(flagged[labels == 0].mean()))
        return res
    if task == "embedding":
        i, j, same = pair_indices(y)
        e = out.reshape(len(out), -1)
        return {"pair_roc_auc": float(roc_auc_score(same, -np.linalg.norm(e[i] - e[j], axis=1)))}
    if task == "generation":
        if reference is None:
            return {"cosine": 1.0, "max_abs": 0.0}
        from edgekit.verification import parity

        p = parity(reference, out, classification=False)
        return {"cosine": p.cosine, "max_abs": p.max_abs}
    raise EdgekitError(f"no figures defined for task {task!r}.")
