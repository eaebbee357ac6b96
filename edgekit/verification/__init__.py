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
from edgekit.records import GateResult, OutputParity, VerifyFile
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
    outputs: list[OutputParity] = field(default_factory=list)  # each output by name (``parity``: the worst)

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
              max_accuracy_drop: float | None = None) -> dict[str, GateResult]:
        """Each threshold given, with the measured value and whether it passed. A gate whose value
        could not be measured (no classes, no labels) fails: a gate that checked nothing must not pass."""
        p = self.parity
        checks = {"min_cosine": (min_cosine, p.cosine, lambda v, t: v >= t),
                  "min_top1_agreement": (min_top1_agreement, p.top1_agreement, lambda v, t: v >= t),
                  "max_accuracy_drop": (max_accuracy_drop, self.accuracy_drop, lambda v, t: v <= t)}
        return {k: GateResult(threshold=t, value=v, passed=v is not None and bool(ok(v, t)))
                for k, (t, v, ok) in checks.items() if t is not None}

    def record(self, reference: str | None = None, **thresholds) -> VerifyFile:
        """The typed ``verify --json`` record (:class:`~edgekit.records.VerifyFile`); its ``model_dump()``
        is the file."""
        gates = self.gates(**thresholds)
        rec = VerifyFile(
            artifact=self.artifact, source=self.source, n=self.n, cosine=self.parity.cosine,
            max_abs=self.parity.max_abs, top1_agreement=self.parity.top1_agreement, accuracy=self.accuracy,
            accuracy_ci95=self.accuracy_ci, reference_accuracy=self.reference_accuracy,
            reference_accuracy_ci95=self.reference_accuracy_ci, accuracy_drop=self.accuracy_drop,
            normalization=self.normalization.model_dump() if self.normalization else None,
            warnings=self.warnings, outputs=self.outputs, gates=gates, passed=all(g.passed for g in gates.values()))
        return rec.set(reference=reference) if reference is not None else rec


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


def random_sample(runner, n: int = 1, seed: int = 0):
    """Random inputs for ``runner``: one array, or a dict of one array per input name (several inputs)."""
    specs = runner.input_specs
    if len(specs) == 1:
        return random_inputs(runner.input_spec.shape, n, seed)
    return {s.name: random_inputs(s.shape, n, seed) for s in specs}


def random_inputs(shape, n: int = 32, seed: int = 0, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Inputs shaped like the model's, uniform in the range it is fed (default [-1, 1])."""
    dims = tuple(d if d is not None else 1 for d in shape[1:])
    return np.random.default_rng(seed).uniform(low, high, size=(n,) + dims).astype(np.float32)


def verify(artifact, reference, data=None, runtime: str | None = None, n_random: int = 32,
           seed: int = 0, input_range=None, mean: float | None = None, std: float | None = None,
           warn=None) -> VerifyResult:
    """Compare ``artifact`` (a path or Artifact) with ``reference`` (a Keras model path or runner).

    With ``data`` (a Dataset or source) the test split is used, scaled as the reference model
    declares (its Rescaling/Normalization layer or model.json; ``input_range``/``mean``/``std``
    otherwise), and accuracy is reported with its 95 % interval; without, random inputs in the
    model's input range. A model with several inputs takes an ``.npz`` with one array per input
    name (plus ``y``); each output is compared with the Keras output of the same name
    (:mod:`edgekit.verification.check`, the code the export's final check runs).
    """
    from edgekit.runtime.base import Runner, load_runner
    from edgekit.verification.check import as_feeds, check_inputs, compare_outputs, embedding_vocabulary, worst

    warnings: list[str] = []
    say = lambda m: (warnings.append(m), warn(m) if warn else None)  # noqa: E731
    path = getattr(artifact, "path", artifact)
    cand = load_runner(path, runtime)
    if isinstance(reference, (str, Path)):
        from edgekit.model_file import keras_model_kind
        from edgekit.runtime.base import check_model_file

        keras_model_kind(check_model_file(reference))  # a wrong reference fails before TensorFlow starts
    ref = reference if isinstance(reference, Runner) else load_runner(reference, "keras")
    keras_model = getattr(getattr(ref, "loaded", None), "model", None)
    several = len(ref.input_specs) > 1
    card, user = None, None
    if keras_model is not None or input_range is not None or mean is not None or std is not None:
        from edgekit.artifact import ModelCard
        from edgekit.data.scaling import user_scaling

        user = user_scaling(input_range, mean, std)
        card = ModelCard.read_beside(ref.path)
    if data is None:
        norm = None
        if keras_model is not None and not several:
            from edgekit.models.preprocessing import resolve_scaling

            scaling = resolve_scaling(keras_model, card, user, say)
            norm = scaling.normalization_for(None) if scaling is not None else None
        elif user is not None:
            norm = user.normalization_for(None)
        lo_hi = norm.input_range if norm is not None else (-1.0, 1.0)
        vocab = _saved_vocabulary(path) or embedding_vocabulary(keras_model)
        feeds, y = check_inputs(ref, seed, n_random, lo_hi, vocab), None
        ints = all(str(s.dtype).startswith("int") for s in ref.input_specs)
        source = "random token ids" if ints else "random inputs"
    else:
        if several:  # one array per input name, fed as given (no scaling layer describes several inputs)
            from edgekit.data import Dataset, load_dataset

            ds = data if isinstance(data, Dataset) else load_dataset(data, seed=seed, warn=say)
        else:
            from edgekit.models.preprocessing import dataset_for_model

            ds, _ = dataset_for_model(data, keras_model, input_shape=ref.input_spec.shape[1:], card=card, user=user,
                                      seed=seed, warn=say)
        feeds, y, source, norm = as_feeds(ds.x_test, ref.input_specs), ds.y_test, f"test split of {ds.name}", \
            ds.normalization
        small = small_split_warning(len(y))
        if small:
            say(small)
        y = _labels_that_fit(y, ds, ref, say)
    classes = _class_output(ref)
    classification = y is not None or classes is not None
    outputs, ref_out, out = compare_outputs(cand, ref, feeds, Path(str(path)).name, classification)
    for o in outputs:
        if not o.finite:
            say(f"output {o.name} of {Path(str(path)).name} is not finite (NaN or inf) on {o.n} inputs.")
    scored = classes or ref.output_specs[0].name
    res = VerifyResult(
        artifact=str(cand.path), parity=worst(outputs),
        accuracy=accuracy(out[scored], y) if classification and y is not None else None,
        reference_accuracy=accuracy(ref_out[scored], y) if classification and y is not None else None,
        n=outputs[0].n, source=source, outputs=outputs,
    )
    res.normalization, res.warnings = norm, warnings
    return res


def _class_output(ref) -> str | None:
    """The name of the first output that scores classes (2-D, more than one unit), else None."""
    for s in ref.output_specs:
        if len(s.shape) == 2 and (s.shape[-1] or 0) > 1:
            return s.name
    return None


def _labels_that_fit(y, ds, ref, say):
    """The data's labels when they can score the model's class output; else None, with a line why."""
    name = _class_output(ref)
    if y is None or ds.task != "classification":
        return y
    if name is None:
        return y if len(ref.output_specs) == 1 else None
    units = next(s.shape[-1] for s in ref.output_specs if s.name == name)
    if ds.num_classes and ds.num_classes != units:
        say(f"the data have {ds.num_classes} classes but the model's output {name} has {units}: no accuracy is "
            "computed (parity only).")
        return None
    return y


def _saved_vocabulary(path) -> int | None:
    from edgekit.convert.metadata import read_metadata

    try:
        return len(((read_metadata(path) or {}).get("preprocessing") or {})["tokenizer"]["vocabulary"])
    except (KeyError, TypeError, EdgekitError):
        return None
