"""Parity: run an artifact in its real runtime and compare it with its reference model.

Works on any runner (LiteRT, onnxruntime, Keras, TFLM), so every format is checked the
same way. Imports no TensorFlow itself; a Keras reference brings it in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.artifact import Normalization, Parity
from edgekit.errors import EdgekitError
from edgekit.verification.stats import accuracy_ci, small_split_warning


@dataclass
class VerifyResult:
    artifact: str
    parity: Parity
    accuracy: float | None
    reference_accuracy: float | None
    n: int
    source: str  # "test split of <data>" or "random inputs"
    normalization: Normalization | None = None  # how the inputs were scaled (the model's own)
    warnings: list[str] = field(default_factory=list)

    @property
    def accuracy_ci(self):
        return accuracy_ci(self.accuracy, self.n)

    @property
    def reference_accuracy_ci(self):
        return accuracy_ci(self.reference_accuracy, self.n)

    @property
    def accuracy_drop(self) -> float | None:
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return self.reference_accuracy - self.accuracy

    def gates(self, min_cosine: float | None = None, min_top1_agreement: float | None = None,
              max_accuracy_drop: float | None = None) -> dict[str, dict]:
        """Each threshold given, with the measured value and whether it passed. A gate whose value
        could not be measured (no classes, no labels) fails: a gate that checked nothing must not pass."""
        p = self.parity
        checks = {"min_cosine": (min_cosine, p.cosine, lambda v, t: v >= t),
                  "min_top1_agreement": (min_top1_agreement, p.top1_agreement, lambda v, t: v >= t),
                  "max_accuracy_drop": (max_accuracy_drop, self.accuracy_drop, lambda v, t: v <= t)}
        return {k: {"threshold": t, "value": v, "passed": v is not None and bool(ok(v, t))}
                for k, (t, v, ok) in checks.items() if t is not None}

    def as_dict(self, **thresholds) -> dict:
        gates = self.gates(**thresholds)
        return {"artifact": self.artifact, "source": self.source, "n": self.n, "cosine": self.parity.cosine,
                "max_abs": self.parity.max_abs, "top1_agreement": self.parity.top1_agreement,
                "accuracy": self.accuracy, "accuracy_ci95": self.accuracy_ci,
                "reference_accuracy": self.reference_accuracy, "reference_accuracy_ci95": self.reference_accuracy_ci,
                "accuracy_drop": self.accuracy_drop,
                "normalization": self.normalization.model_dump() if self.normalization else None,
                "warnings": self.warnings, "gates": gates, "passed": all(g["passed"] for g in gates.values())}


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


def random_inputs(shape, n: int = 32, seed: int = 0, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Inputs shaped like the model's, uniform in the range it is fed (default [-1, 1])."""
    dims = tuple(d if d is not None else 1 for d in shape[1:])
    return np.random.default_rng(seed).uniform(low, high, size=(n,) + dims).astype(np.float32)


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
           seed: int = 0, input_range=None, mean: float | None = None, std: float | None = None,
           warn=None) -> VerifyResult:
    """Compare ``artifact`` (a path or Artifact) with ``reference`` (a Keras model path or runner).

    With ``data`` (a Dataset or source) the test split is used, scaled as the reference model
    declares (its Rescaling/Normalization layer or model.json; ``input_range``/``mean``/``std``
    otherwise), and accuracy is reported with its 95 % interval; without, random inputs in the
    model's input range.
    """
    from edgekit.runtime.base import Runner, load_runner

    warnings: list[str] = []
    say = lambda m: (warnings.append(m), warn(m) if warn else None)  # noqa: E731
    path = getattr(artifact, "path", artifact)
    cand = load_runner(path, runtime)
    ref = reference if isinstance(reference, Runner) else load_runner(reference, "keras")
    want, got = tuple(ref.input_spec.shape[1:]), tuple(cand.input_spec.shape[1:])
    if None not in want + got and want != got:  # not the model it came from: say so before running either
        raise EdgekitError(f"{Path(str(path)).name} takes input {got} but the reference "
                           f"{Path(str(getattr(ref, 'path', reference))).name} takes {want}: is it the model it was "
                           "exported from?")
    keras_model = getattr(getattr(ref, "loaded", None), "model", None)
    card, user = None, None
    if keras_model is not None or input_range is not None or mean is not None or std is not None:
        from edgekit.artifact import ModelCard
        from edgekit.data.scaling import user_scaling

        user = user_scaling(input_range, mean, std)
        card = ModelCard.read_beside(ref.path)
    if data is None:
        norm = None
        if keras_model is not None:
            from edgekit.models.preprocessing import resolve_scaling

            scaling = resolve_scaling(keras_model, card, user, say)
            norm = scaling.normalization_for(None) if scaling is not None else None
        elif user is not None:
            norm = user.normalization_for(None)
        lo, hi = norm.input_range if norm is not None else (-1.0, 1.0)
        if str(ref.input_spec.dtype).startswith("int"):
            x, y, source = _random_token_ids(path, ref.input_spec.shape, n_random, seed), None, "random token ids"
        else:
            x, y, source = random_inputs(ref.input_spec.shape, n_random, seed, lo, hi), None, "random inputs"
    else:
        from edgekit.models.preprocessing import dataset_for_model

        ds, _ = dataset_for_model(data, keras_model, input_shape=ref.input_spec.shape[1:], card=card, user=user,
                                  seed=seed, warn=say)
        x, y, source, norm = ds.x_test, ds.y_test, f"test split of {ds.name}", ds.normalization
        small = small_split_warning(len(y))
        if small:
            say(small)
    shape_model = tuple(d for d in ref.input_spec.shape[1:])
    if tuple(x.shape[1:]) != shape_model:
        raise EdgekitError(f"data shape {tuple(x.shape[1:])} does not fit the model input {shape_model}.")
    out_shape = ref.output_spec.shape
    classification = y is not None or (len(out_shape) == 2 and (out_shape[-1] or 0) > 1)
    res = verify_runners(cand, ref, x, y, classification, source)
    res.normalization, res.warnings = norm, warnings
    return res
