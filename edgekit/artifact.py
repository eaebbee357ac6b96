"""The typed records that every step passes on.

A step returns records (an :class:`Artifact`, a :class:`Parity`, a :class:`Latency`);
later steps read the records instead of re-parsing files an earlier step wrote.
These are plain pydantic models so that ``report.json`` is their ``model_dump``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from edgekit._io import file_key

Format = Literal["keras", "tflite", "onnx", "mcu"]


class Normalization(BaseModel):
    """How raw pixels/features become model inputs: ``x = (raw - mean) / std``.

    ``raw_range`` is the range the raw data lives in (e.g. 0..255 for 8-bit images),
    so a deployed model can be fed camera frames with the same preprocessing.
    """

    model_config = ConfigDict(frozen=True)
    mean: float = 0.0
    std: float = 1.0
    raw_range: tuple[float, float] = (0.0, 255.0)

    def apply(self, raw):
        return (raw - self.mean) / self.std

    @computed_field  # in model_dump, so metadata and model.json state the range the model is fed
    @property
    def input_range(self) -> tuple[float, float]:
        """The range of the model's input tensor: ``raw_range`` after normalization."""
        lo, hi = self.raw_range
        return (round((lo - self.mean) / self.std, 6), round((hi - self.mean) / self.std, 6))


class TensorSpec(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str = "input"
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    # For quantized integer inputs: real = (q - zero_point) * scale
    scale: float | None = None
    zero_point: int | None = None


class Provenance(BaseModel):
    source_model: str
    data: str | None = None
    steps: list[str] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict)
    created: str | None = None


class GpuOp(BaseModel):
    """One operator the phone GPU delegate rejects: which op, in which Keras layer, why, and what to change."""

    index: int
    op: str
    layer: str
    reason: str
    fix: str | None = None


class GpuCompat(BaseModel):
    """GPU-delegate compatibility of a .tflite (``edgekit.runtime.gpu``); ``artifacts[].gpu`` in report.json."""

    compatible: bool
    unsupported_ops: list[GpuOp] = Field(default_factory=list)
    notes: str = ""


class Artifact(BaseModel):
    """One file that can be deployed or benchmarked."""

    path: str
    format: Format
    precision: str
    bytes: int
    sha256: str
    input: TensorSpec
    output: TensorSpec | None = None
    normalization: Normalization | None = None
    labels: list[str] | None = None
    provenance: Provenance
    extra: dict = Field(default_factory=dict)  # format-specific facts, e.g. {"opset": 17}
    gpu: GpuCompat | None = None  # .tflite only: will it run on a phone's GPU delegate

    @classmethod
    def from_file(cls, path: str | Path, **fields) -> "Artifact":
        p = Path(path)
        return cls(path=str(p), bytes=file_bytes(p), sha256=sha256_of(p), **fields)


class Parity(BaseModel):
    cosine: float
    max_abs: float
    top1_agreement: float | None
    n: int


class LatencySummary(BaseModel):
    """Single-sample latency in milliseconds: the statistics of ``runs`` timed runs."""

    runtime: str
    threads: int
    init: float
    first: float
    mean: float
    p50: float
    p90: float
    p99: float
    std: float
    runs: int


class Latency(LatencySummary):
    """Single-sample latency in milliseconds; ``raw`` keeps every timed run."""

    raw: list[float] = Field(default_factory=list, repr=False)


# A file's digest, computed once per run while the file is unchanged (export, the report and the
# manifest all state it); keyed by :func:`edgekit._io.file_key`.
_DIGESTS: dict[tuple, str] = {}


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, or of a folder's files in name order (a SavedModel)."""
    p = Path(path)
    if not p.is_file():
        return _digest(sorted(q for q in p.rglob("*") if q.is_file()))
    key = file_key(p)
    if key not in _DIGESTS:
        _DIGESTS[key] = _digest([p])
    return _DIGESTS[key]


def remember_sha256(path: str | Path, digest: str) -> None:
    """Record the digest of a file a writer just wrote from bytes it hashed in memory."""
    _DIGESTS[file_key(path)] = digest


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def file_bytes(path: Path) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(q.stat().st_size for q in p.rglob("*") if q.is_file())


class TrainRecipe(BaseModel):
    """The settings a run trained with and why: what the user gave, and what the data-size rule
    (:mod:`edgekit.training.recipe`) filled in."""

    model_config = ConfigDict(extra="forbid")
    epochs: int
    patience: int
    batch_size: int
    learning_rate: float
    warmup_epochs: int
    augment: bool
    flip: bool = False
    colours: bool = False  # colour channels shuffled and inverted at random (edgekit.training.colour)
    colour_tells_class: bool | None = None  # the colour check's answer (None: not measured)
    schedule: str = "plateau"  # the learning-rate schedule (TrainConfig.schedule)
    small_data: bool = False  # below the rule's SMALL_DATA training samples
    rule: str  # the data-size rule's line, e.g. "small data (224 training samples): ..."
    from_rule: list[str] = Field(default_factory=list)  # the keys the rule set (the others were given)


class TrainingOutcome(BaseModel):
    """What happened while a classifier trained: when and why it stopped, which epoch's weights were
    kept, and whether it learned (``verdict``; ``warning`` is the one line printed when it did not).
    ``model.json``'s ``training`` and report.json's ``training_outcome``."""

    model_config = ConfigDict(extra="forbid")
    epochs_run: int
    max_epochs: int
    stopped_early: bool
    best_epoch: int | None = None  # 1-based: the epoch whose weights the saved model has
    best_val_accuracy: float | None = None
    train_accuracy: float | None = None  # on the (augmented) training batches at the best epoch
    chance_accuracy: float | None = None  # the majority class's share of the validation split
    n_val: int | None = None
    verdict: Literal["learned", "near_chance", "overfit", "underfit"] = "learned"
    warning: str | None = None
    recipe: TrainRecipe | None = None
    # After the one measurement on the test split (a report, not a choice: nothing is picked from it):
    # "partly_learned" when test accuracy is less than half-way from chance to 1, "below_validation"
    # when it is significantly below the kept epoch's validation accuracy, else "as_validated".
    test_verdict: Literal["as_validated", "below_validation", "partly_learned"] | None = None
    test_warning: str | None = None


class ModelCard(BaseModel):
    """What travels with a trained model (saved beside it as ``<model>.json``)."""

    name: str
    task: str = "classification"
    params: int | None = None
    macs: int | None = None
    input_shape: tuple[int | None, ...] | None = None
    dataset: str | None = None
    normalization: Normalization | None = None
    labels: list[str] | None = None
    knobs: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    # audio front-end knobs, text tokenizer or table columns (edgekit.data.audio/text/table)
    preprocessing: dict | None = None
    training: TrainingOutcome | None = None  # classifiers: how the run ended and whether it learned

    @staticmethod
    def path_for(model_path: str | Path) -> Path:
        p = Path(model_path)
        return p.with_name(p.name + ".json") if p.is_dir() else p.with_suffix(".json")

    @classmethod
    def read_beside(cls, model_path: str | Path) -> "ModelCard | None":
        p = cls.path_for(model_path)
        if not p.is_file():
            return None
        try:
            return cls.model_validate_json(p.read_text())
        except ValueError:
            return None


_VERSIONED = ("edgekit", "tensorflow", "tf_keras", "keras", "tensorflow-model-optimization", "tf2onnx", "onnx",
              "onnxruntime", "ai-edge-litert", "numpy")


def library_versions() -> dict[str, str]:
    """Versions of the stack, read from package metadata (imports nothing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in _VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
