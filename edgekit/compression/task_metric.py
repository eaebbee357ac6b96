"""compress for every task: which variants apply (a variant is scored by edgekit.measure with the task's figures, edgekit.verification.tasks)."""

from __future__ import annotations

from edgekit.errors import EdgekitError
from edgekit.verification.stats import format_drop  # noqa: F401 - importable here, as before


# Variants that fine-tune train with class labels (cross-entropy); other tasks get the post-training ones.
def needs_labels(name: str) -> bool:
    return not name.startswith(("ptq", "onnx"))


def task_variants(task: str, names: list[str], only) -> tuple[list[str], dict]:
    if task == "classification":
        return names, {}
    if task == "generation":
        raise EdgekitError("compress scores variants with a task metric on test data; a generator has none here "
                           "(use `edgekit export` and `edgekit verify` for its output parity).")
    asked = [n for n in names if needs_labels(n) and only and n in only]
    if asked:
        raise EdgekitError(f"{', '.join(asked)}: fine-tunes with class labels; a {task} model gets the post-training "
                           "variants (ptq_*, onnx_int8).")
    reason = f"fine-tunes with class labels; not available for a {task} model"
    if not any(not needs_labels(n) for n in names):
        raise EdgekitError(f"no variant left for a {task} model: it gets the post-training ones (ptq_*, onnx_int8).")
    return [n for n in names if not needs_labels(n)], {n: reason for n in names if needs_labels(n)}


def data_shape(model_shape: tuple, asked, source: str) -> tuple:
    """The size to load data at: ``asked`` (--input-shape/--resolution) where the model's input allows it."""
    if asked is None:
        return model_shape
    asked = tuple(asked)
    if None in asked:  # --resolution: channels are the model's
        asked = asked[:2] + tuple(model_shape[2:])
    fits = len(asked) == len(model_shape) and all(m is None or m == a for m, a in zip(model_shape, asked))
    if not fits:
        raise EdgekitError(f"{source} takes inputs of shape {model_shape}; --input-shape/--resolution asked for "
                           f"{asked}. Compress the model at the size it was trained at (or retrain it).")
    return asked
