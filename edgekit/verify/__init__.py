"""Parity: run an artifact in its real runtime and compare it with its reference model.

Works on any runner (LiteRT, onnxruntime, Keras, TFLM), so every format is checked the
same way. Imports no TensorFlow itself; a Keras reference brings it in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.artifact import Parity
from edgekit.errors import EdgekitError


@dataclass
class VerifyResult:
    artifact: str
    parity: Parity
    accuracy: float | None
    reference_accuracy: float | None
    n: int
    source: str  # "test split of <data>" or "random inputs"


def parity(reference: np.ndarray, candidate: np.ndarray, classification: bool = True) -> Parity:
    a = np.asarray(reference, np.float64).reshape(len(reference), -1)
    b = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    if a.shape != b.shape:
        raise EdgekitError(f"output shapes differ: reference {a.shape[1:]} vs artifact {b.shape[1:]}.")
    # Cosine over all outputs flattened: one number for the whole set, robust to tiny outputs.
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    cosine = float(np.dot(a.ravel(), b.ravel()) / denom) if denom else float(np.allclose(a, b))
    top1 = float(np.mean(a.argmax(1) == b.argmax(1))) if classification and a.shape[1] > 1 else None
    return Parity(cosine=cosine, max_abs=float(np.max(np.abs(a - b))), top1_agreement=top1, n=len(a))


def accuracy(outputs: np.ndarray, labels: np.ndarray | None) -> float | None:
    if labels is None:
        return None
    out = np.asarray(outputs).reshape(len(outputs), -1)
    return float(np.mean(out.argmax(1) == labels))


def random_inputs(shape, n: int = 32, seed: int = 0) -> np.ndarray:
    """Inputs shaped like the model's, in the normalized range [-1, 1]."""
    dims = tuple(d if d is not None else 1 for d in shape[1:])
    return np.random.default_rng(seed).uniform(-1, 1, size=(n,) + dims).astype(np.float32)


def _random_token_ids(path, shape, n: int, seed: int) -> np.ndarray:
    """Token-id inputs over the saved vocabulary (ids 0..vocab-1); uniform floats would all
    cast to id 0, the padding, and compare nothing."""
    from edgekit.convert.metadata import read_metadata

    try:
        vocab = len(((read_metadata(path) or {}).get("preprocessing") or {})["tokenizer"]["vocabulary"])
    except (KeyError, TypeError):
        vocab = 16  # no saved vocabulary: the first ids every embedding has
    dims = tuple(d if d is not None else 1 for d in shape[1:])
    return np.random.default_rng(seed).integers(0, vocab, size=(n,) + dims).astype(np.int32)


def verify_runners(candidate, reference, x: np.ndarray, y: np.ndarray | None = None,
                   classification: bool = True, source: str = "") -> VerifyResult:
    ref_out = reference.run(x)
    out = candidate.run(x)
    return VerifyResult(
        artifact=str(candidate.path), parity=parity(ref_out, out, classification),
        accuracy=accuracy(out, y) if classification else None,
        reference_accuracy=accuracy(ref_out, y) if classification else None, n=len(x), source=source,
    )


def verify(artifact, reference, data=None, runtime: str | None = None, n_random: int = 32,
           seed: int = 0) -> VerifyResult:
    """Compare ``artifact`` (a path or Artifact) with ``reference`` (a Keras model path or runner).

    With ``data`` (a Dataset or source) the test split is used and accuracy is reported;
    without, random inputs shaped from the model.
    """
    from edgekit.runtime.base import Runner, load_runner

    path = getattr(artifact, "path", artifact)
    cand = load_runner(path, runtime)
    ref = reference if isinstance(reference, Runner) else load_runner(reference, "keras")
    if data is None:
        if str(ref.input_spec.dtype).startswith("int"):
            x, y, source = _random_token_ids(path, ref.input_spec.shape, n_random, seed), None, "random token ids"
        else:
            x, y, source = random_inputs(ref.input_spec.shape, n_random, seed), None, "random inputs"
    else:
        from pathlib import Path

        from edgekit.artifact import ModelCard
        from edgekit.data import Dataset, load_dataset

        card = ModelCard.read_beside(reference) if isinstance(reference, (str, Path)) else None
        # audio/text/table sources are read with the model's saved front end, vocabulary or columns
        prep = card.preprocessing if card is not None else None
        ds = data if isinstance(data, Dataset) else load_dataset(data, input_shape=ref.input_spec.shape[1:], seed=seed,
                                                                 preprocessing=prep)
        x, y, source = ds.x_test, ds.y_test, f"test split of {ds.name}"
    shape_model = tuple(d for d in ref.input_spec.shape[1:])
    if tuple(x.shape[1:]) != shape_model:
        raise EdgekitError(f"data shape {tuple(x.shape[1:])} does not fit the model input {shape_model}.")
    out_shape = ref.output_spec.shape
    classification = y is not None or (len(out_shape) == 2 and (out_shape[-1] or 0) > 1)
    return verify_runners(cand, ref, x, y, classification, source)
