"""The typed rows of edgekit's result files: report.json, compression.json, trials.json and the bench JSON.

Each file is the ``model_dump()`` of a record here, so the JSON keys are a contract kept in one place,
and the CLI, the Markdown and HTML templates read attributes rather than string keys. The records sit
beside :mod:`edgekit.artifact` (the file records they are built from), extend vela's and ``mcu.json``'s
records (:class:`~edgekit.benchmarking.npu.NpuEstimate`, :class:`~edgekit.convert.mcu.McuReport`) and
import no TensorFlow.

Keys that a writer only adds in some cases (``error``, ``gpu`` for a .tflite, ``roofline`` for a row
with a MAC count, ...) are left out of the dump when they were never set: :class:`Record` dumps with
``exclude_unset``, so a row read back from its file dumps to the same keys it was read from.

    >>> RunReport.model_validate_json(Path("export/run/report.json").read_text()).artifacts[0].latency_ms.p50
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgekit.artifact import Artifact, Latency, LatencySummary, Parity, TrainingOutcome
from edgekit.benchmarking.npu import NpuEstimate
from edgekit.convert.mcu import McuReport


# ----------------------------------------------------------------------------- notebooks and pandas

class Tabular(abc.ABC):
    """A result with rows: ``rows()`` (plain dicts, one per table row), ``to_dataframe()`` (pandas,
    imported only when asked for), a table in Jupyter (``_repr_html_``) and a readable ``print()``.

        >>> report.to_dataframe()          # or pandas.DataFrame(report.rows())
    """

    @abc.abstractmethod
    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per table row."""

    def table_title(self) -> str:
        return type(self).__name__

    def to_dataframe(self):
        """The rows as a :class:`pandas.DataFrame` (pandas is not an edgekit dependency: install it to use this)."""
        try:
            import pandas as pd
        except ImportError:
            from edgekit.errors import EdgekitError

            raise EdgekitError("to_dataframe() needs pandas: `pip install pandas`, or use .rows() "
                               "(a list of dicts any table library takes).") from None
        return pd.DataFrame(self.rows())

    def _repr_html_(self) -> str:
        return html_table(self.rows(), self.table_title())

    def __str__(self) -> str:
        return text_table(self.rows(), self.table_title())


def _value_text(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def text_table(rows: list[dict], title: str = "") -> str:
    """Rows as an aligned plain-text table (what ``print(result)`` shows)."""
    cols = _columns(rows)
    cells = [cols] + [[_value_text(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cols))]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(([title] if title else []) + lines[:1] + ["  ".join("-" * w for w in widths)] + lines[1:])


def html_table(rows: list[dict], title: str = "") -> str:
    """Rows as an HTML table (what Jupyter shows for a result), every cell escaped."""
    from html import escape

    cols = _columns(rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape(_value_text(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Elided:
    """How a long list shows in a record's repr: its length, not its hundred timings."""

    def __init__(self, items: list):
        self.items = items

    def __repr__(self) -> str:
        return f"[... {len(self.items)} items]"


class Record(BaseModel):
    """A result row: unknown keys are an error (a typo would otherwise become a silent new key), and
    keys never set stay out of the JSON."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def __repr_args__(self):
        # raw timings and per-op lists would make a repr thousands of characters long
        for k, v in super().__repr_args__():
            yield k, (_Elided(v) if isinstance(v, list) and len(v) > 8 else v)

    def model_dump(self, **kw) -> dict[str, Any]:
        kw.setdefault("exclude_unset", True)
        return super().model_dump(**kw)

    def model_dump_json(self, **kw) -> str:
        kw.setdefault("exclude_unset", True)
        return super().model_dump_json(**kw)

    def set(self, **fields) -> "Record":
        """Set fields (validated), marking them as set so they appear in the dump; returns self."""
        for k, v in fields.items():
            setattr(self, k, v)
        return self

    def has(self, name: str) -> bool:
        """Whether ``name`` was set (it appears in the JSON), even to ``None``."""
        return name in self.model_fields_set or name in (self.model_extra or {})

    # Read access by key, as in the JSON it dumps to: scripts written when these were dicts
    # (``rep.variants[0]["drop"]``, ``"error" in row``) keep working. edgekit's own code reads attributes.
    def __getitem__(self, key: str):
        if not self.has(key):
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.has(key)

    def get(self, key: str, default=None):
        return getattr(self, key) if self.has(key) else default


# ----------------------------------------------------------------------------- shared pieces

# Which split of the data a figure comes from. Every choice edgekit makes (a mixed-precision layer set,
# int4 layers, the fine-tuning epoch kept, a search's best trial) reads "validation" ("train" only where the
# validation split is too small, and the file says so); the test split is measured once, at the end.
SplitName = Literal["train", "validation", "test"]


class RowParity(Record):
    """Agreement of an artifact's outputs with its reference's (``artifacts[].parity``)."""

    cosine: float
    max_abs: float
    top1_agreement: Optional[float] = None

    @classmethod
    def of(cls, parity: Parity | None) -> "RowParity | None":
        return None if parity is None else cls(**parity.model_dump(exclude={"n"}))


class VariantParity(RowParity):
    """``compression.json``'s parity of a variant with its float parent, with the number of samples."""

    n: int

    @classmethod
    def of(cls, parity: Parity | None) -> "VariantParity | None":
        return None if parity is None else cls(**parity.model_dump())


class RowLatency(Record, LatencySummary):
    """``latency_ms`` of a report row: the :class:`~edgekit.artifact.Latency` summary without the raw
    timings (they go to ``raw_latency_ms`` beside it)."""

    @classmethod
    def of(cls, lat: Latency | None) -> "RowLatency | None":
        return None if lat is None else cls(**lat.model_dump(exclude={"raw"}))


def timed(lat: Latency) -> dict[str, Any]:
    """A report row's latency fields (``row.set(**timed(lat))``): the summary in ``latency_ms`` and the
    raw timings beside it in ``raw_latency_ms``, the one shape of latency in report.json."""
    return {"latency_ms": RowLatency.of(lat), "raw_latency_ms": list(lat.raw)}


# ----------------------------------------------------------------------------- a row's deploy figures

class StepError(Record):
    """Where a step's figures would be (``memory_mb``, ``profile``, ``mcu``), the reason it has none."""

    error: str
    status: Optional[str] = None  # "failed" | "internal error" | "not applicable" (None: failed)


class MemoryFigures(Record):
    """``memory_mb``: resident memory in MB around loading and running one file
    (:mod:`edgekit.benchmarking.harness`); ``peak_delta`` is what the model costs."""

    rss_before: Optional[float] = None
    rss_after_load: Optional[float] = None
    rss_after_runs: Optional[float] = None
    peak: Optional[float] = None
    peak_delta: Optional[float] = None
    method: str


class Roofline(Record):
    """``roofline``: achieved multiply-accumulates per second against this CPU's ceiling of the row's precision."""

    macs: int
    gmacs_per_s: float
    ceiling_gmacs_per_s: Optional[float] = None
    fraction: Optional[float] = None
    ceiling_precision: Optional[str] = None  # "fp32" | "int8": which ceiling


class OpTime(Record):
    """One operator of a per-op profile."""

    index: int
    name: str
    op: str
    ms: float
    macs: Optional[int] = None
    share: float


class Profile(Record):
    """``profile``: per-operator times of one file (:mod:`edgekit.benchmarking.profile`)."""

    runtime: str
    threads: int
    runs: int
    method: str
    rows: list[OpTime]
    sum_ms: float
    total_ms: float
    sum_over_total: Optional[float] = None
    xnnpack: Optional[bool] = None  # LiteRT: whether the profiled interpreter used XNNPACK


class NpuFigures(Record, NpuEstimate):
    """One item of ``npu``: vela's Arm Ethos-U estimate (:class:`~edgekit.benchmarking.npu.NpuEstimate`)."""


class NpuFailure(StepError):
    """One item of ``npu`` whose estimate failed."""

    accelerator: str


class McuFigures(Record, McuReport):
    """``mcu``: the microcontroller bundle's ``mcu.json`` (:class:`~edgekit.convert.mcu.McuReport`) and its folder."""

    dir: Optional[str] = None


# ----------------------------------------------------------------------------- report.json

class ArtifactRow(Record):
    """One row of ``report.json``'s ``artifacts``: the file, its task figures, parity and latency, and
    (for deployable files) peak memory, roofline and a per-op profile."""

    path: str
    format: str
    precision: str
    bytes: int
    sha256: Optional[str] = None
    accuracy: Optional[float] = None
    parity: Optional[RowParity] = None
    latency_ms: Optional[RowLatency] = None
    input: Optional[dict] = None
    normalization: Optional[dict] = None
    provenance: Optional[dict] = None
    extra: dict = Field(default_factory=dict)
    gpu: Optional[dict] = None  # .tflite only: the phone GPU delegate check (edgekit.runtime.gpu)
    raw_latency_ms: list[float] = Field(default_factory=list)
    metrics: Optional[dict[str, Optional[float]]] = None  # the task's figures (accuracy, rmse, roc_auc, ...)
    options: Optional[dict] = None  # runtime options as they ran (xnnpack fallback)
    label: Optional[str] = None
    memory_mb: Optional[MemoryFigures | StepError] = None
    roofline: Optional[Roofline] = None
    profile: Optional[Profile | StepError] = None
    error: Optional[str] = None
    status: Optional[str] = None

    @classmethod
    def of(cls, art: Artifact, accuracy: float | None = None, parity: Parity | None = None,
           latency: Latency | None = None, gpu: dict | None = None) -> "ArtifactRow":
        row = cls(path=art.path, format=art.format, precision=art.precision, bytes=art.bytes, sha256=art.sha256,
                  accuracy=accuracy, parity=RowParity.of(parity), latency_ms=RowLatency.of(latency),
                  input=art.input.model_dump(), normalization=art.normalization.model_dump() if art.normalization
                  else None, provenance=art.provenance.model_dump(), extra=art.extra)
        if gpu is not None:
            row.gpu = gpu
        if latency is not None:
            row.raw_latency_ms = list(latency.raw)
        return row

    @classmethod
    def failed(cls, path: str | Path, format: str, precision: str, error: str, status: str) -> "ArtifactRow":
        """The row of an export that failed: no file, no figures, the one-line reason."""
        return cls(path=str(path), format=format, precision=precision, bytes=0, sha256=None, accuracy=None,
                   parity=None, latency_ms=None, error=error, status=status)

    @property
    def name(self) -> str:
        return Path(self.path).name


class RuntimeRow(Record):
    """``report.json``'s ``runtimes``: the int8 .tflite on other runtimes (LiteRT reference kernels, TFLM)."""

    path: str
    format: str
    precision: str
    runtime: str
    label: str
    options: dict = Field(default_factory=dict)
    latency_ms: Optional[RowLatency] = None
    raw_latency_ms: list[float] = Field(default_factory=list)
    error: Optional[str] = None
    status: Optional[str] = None

    @property
    def name(self) -> str:
        return Path(self.path).name


class StepFailure(Record):
    """``report.json``'s ``failures``: every requested step that did not pass, as
    :class:`edgekit.steps.StepLog` recorded it (an internal error's traceback is in ``edgekit-error.log``)."""

    step: str
    status: str  # "failed" | "internal error" ("not applicable" steps are not failures)
    error: str  # one line
    exception: Optional[str] = None  # the exception's type name


class ModelSummary(Record):
    name: str
    params: Optional[int] = None
    macs: Optional[int] = None
    knobs: Optional[dict] = None


class DatasetSummary(Record):
    name: str
    n_train: int
    n_val: int
    n_test: int
    num_classes: Optional[int] = None
    input_shape: list[Optional[int]]

    @classmethod
    def of(cls, ds) -> "DatasetSummary":
        return cls(name=ds.name, n_train=len(ds.x_train), n_val=len(ds.x_val), n_test=len(ds.x_test),
                   num_classes=ds.num_classes, input_shape=list(ds.input_shape))


class BenchSettings(Record):
    """How a file is timed: single-sample invokes at ``threads``, ``warmup`` untimed first, then ``runs``
    timed. The one record every timing takes (``measure()``, the demo, compress, tune) and report.json's
    ``bench``; compress's and tune's settings files spell it ``bench_runs``/``bench_warmup``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1)
    runs: int = Field(100, ge=1)
    warmup: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _every_key_in_the_file(self) -> "BenchSettings":
        # defaults are settings that were used: report.json names all three even when a caller set one
        self.__pydantic_fields_set__.update(type(self).model_fields)
        return self


class RunReport(Tabular, Record):
    """``report.json`` of a run bundle (``edgekit demo``/``train --export``, and tune's ``best/``)."""

    model: ModelSummary
    dataset: DatasetSummary
    normalization: Optional[dict] = None
    labels: Optional[list[str]] = None
    task: Optional[str] = None
    metric: Optional[dict] = None  # the task's headline figure (edgekit.verification.tasks.TaskMetric)
    training: dict = Field(default_factory=dict)
    training_outcome: Optional[TrainingOutcome] = None  # classifiers: early stop, best epoch, chance/overfit line
    bench: BenchSettings
    verify_source: str
    machine: dict
    artifacts: list[ArtifactRow]
    run_dir: str
    ceiling: Optional[dict] = None  # float32 sgemm ceiling (edgekit.benchmarking.ceiling)
    ceiling_int8: Optional[dict] = None  # int8 MatMulInteger ceiling: int8 rows' "of ceiling"
    runtimes: list[RuntimeRow] = Field(default_factory=list)
    npu: Optional[list[NpuFigures | NpuFailure]] = None  # Ethos-U estimates (vela), or per-accelerator errors
    mcu: Optional[McuFigures | StepError] = None  # the microcontroller bundle's figures, or why there are none
    failures: list[StepFailure] = Field(default_factory=list)
    selection_split: Optional[SplitName] = None  # what chose this model (early stopping, a search's best trial)
    measure_split: Optional[SplitName] = None  # what the artifacts' task figures are measured on


    def rows(self) -> list[dict[str, Any]]:
        """One row per artifact: file, format, precision, bytes, the task's figures, parity, p50/p99 ms."""
        cols = (self.metric or {"columns": ["accuracy"]})["columns"]
        out = []
        for a in self.artifacts:
            figures = a.metrics or {"accuracy": a.accuracy}
            lat = a.latency_ms
            out.append({"file": a.name, "format": a.format, "precision": a.precision, "bytes": a.bytes,
                        **{c: figures.get(c) for c in cols},
                        "cosine": a.parity.cosine if a.parity else None,
                        "top1_agreement": a.parity.top1_agreement if a.parity else None,
                        "p50_ms": lat.p50 if lat else None, "p99_ms": lat.p99 if lat else None,
                        "error": a.error})
        return out

    def table_title(self) -> str:
        m = self.model
        return f"{m.name} {m.knobs or ''}: {m.params or 0:,} params, {(m.macs or 0) / 1e6:.1f} M MACs ({self.run_dir})"

    def __repr__(self) -> str:
        return (f"RunReport(model={self.model.name!r}, dataset={self.dataset.name!r}, "
                f"artifacts={[a.name for a in self.artifacts]}, failures={len(self.failures)}, run_dir={self.run_dir!r})")


class TrainReport(Record):
    """``report.json`` of ``edgekit train``'s folder (a run bundle's report.json, a :class:`RunReport`,
    carries the same ``training_outcome``)."""

    model: str
    knobs: dict = Field(default_factory=dict)
    dataset: DatasetSummary
    test_accuracy: float
    seconds: float
    training: TrainingOutcome


# ----------------------------------------------------------------------------- compression.json

class CompressionBaseline(Record):
    """The input model as fp32 TFLite: every variant's ``drop`` and ``speedup`` is against it."""

    format: str
    precision: str
    bytes: int
    accuracy: Optional[float] = None
    score: float
    metrics: dict[str, Optional[float]]
    p50_ms: float
    path: str
    params: int
    sparsity: Optional[float] = None
    n_test: int
    accuracy_ci95: Optional[list[float]] = None
    warning: Optional[str] = None


class TaskMetricSpec(Record):
    """The task's headline figure a table is scored in (:class:`edgekit.verification.tasks.TaskMetric`)."""

    task: str
    name: str
    higher_is_better: bool
    columns: list[str]
    drop: Optional[str] = None  # how ``drop`` is computed, in words ("baseline accuracy minus variant accuracy")


class SelectionTry(Record):
    """One candidate a variant scored on the selection split: ``mixed``'s float-layer sets
    (``worst_layers``, ``float_layers``), ``aiq_mixed``'s int8-layer sets (``int8_layers``, ``kl``, ``bytes``)."""

    accuracy: float
    drop: float
    worst_layers: Optional[int] = None
    float_layers: Optional[Union[list[str], int]] = None  # the layers; a count in the oldest saved runs
    int8_layers: Optional[list[str]] = None
    kl: Optional[float] = None  # mean KL of its class probabilities against the float model's
    bytes: Optional[int] = None


class LayerSensitivity(Record):
    """A layer's int8 error (``mixed``'s ranking): its output's RMSE over its quantization scale."""

    layer: str
    op: str
    rmse_over_scale: float


class ChannelRecovery(Record):
    """What fine-tuning the thinner model did (``edgekit.compression.channel.recover``). ``augmented`` and
    ``kept_epoch`` are optional so that the saved benchmark runs that lack them still read back."""

    epochs: int
    distilled: bool
    augmented: Optional[bool] = None
    temperature: Optional[float] = None
    val_accuracy: list[float]
    best_val_accuracy: float
    kept_epoch: Optional[int] = None


class CompressionVariant(Record):
    """One row of ``compression.json``'s ``variants``. The fields after ``seconds`` are one variant's own
    (the channel plan, the mixed-precision tries, the ai-edge-quantizer recipe, ...); a builder sets them
    through :attr:`edgekit.compression.variant.Built.notes`."""

    name: str
    steps: list[str]
    format: Optional[str] = None
    precision: Optional[str] = None
    bytes: Optional[int] = None
    gzip_bytes: Optional[int] = None
    sparsity: Optional[float] = None
    accuracy: Optional[float] = None
    drop: Optional[float] = None
    p50_ms: Optional[float] = None
    speedup: Optional[float] = None
    parity: Optional[VariantParity] = None
    score: Optional[float] = None
    metrics: Optional[dict[str, Optional[float]]] = None
    accuracy_ci95: Optional[list[float]] = None
    path: Optional[str] = None
    runtime: Optional[str] = None
    parent: Optional[str] = None
    status: Optional[str] = None
    error: Optional[str] = None
    seconds: Optional[float] = None
    # qat, prune_qat, cluster_qat: layers given a custom quantize config (layer -> "output" or "float")
    custom_quantize_configs: Optional[dict[str, str]] = None
    # channel, channel_int8: parameters of the thinner model (and of the input)
    params: Optional[int] = None
    input_params: Optional[int] = None
    pruned_layers: Optional[dict[str, int]] = None  # conv -> channels kept
    skipped: Optional[dict[str, str]] = None  # conv -> why its width stays
    recovery: Optional[ChannelRecovery] = None
    # mixed, aiq_mixed: the candidates tried on the selection split and the one kept
    float_layers: Optional[list[str]] = None
    int8_layers: Optional[list[str]] = None
    within_budget: Optional[bool] = None
    max_drop: Optional[float] = None
    full_int8_drop: Optional[float] = None
    tries: Optional[list[SelectionTry]] = None
    tries_split: Optional[SplitName] = None
    most_sensitive: Optional[list[LayerSensitivity]] = None
    int4_max_bytes: Optional[float] = None
    within_size_cap: Optional[bool] = None
    ranked_layers: Optional[list[str]] = None
    int4_rounding: Optional[dict[str, str]] = None  # layer -> rounding, where not min-max
    sensitivity_kl: Optional[dict[str, float]] = None  # layer -> mean KL with that layer alone at int4
    # ai-edge-quantizer recipes: the rules as applied, and what they did not act on
    recipe: Optional[list[list[str]]] = None
    note: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status in (None, "ok") and not self.error


def compression_rows(baseline: CompressionBaseline, variants: list[CompressionVariant]) -> list[dict[str, Any]]:
    """The compression table: the baseline, then one row per variant (size against fp32, the task's
    score and its drop, p50 and speedup, top-1 agreement with the float parent, status)."""
    rows = [{"variant": "baseline", "precision": baseline.precision, "bytes": baseline.bytes, "x_fp32": 1.0,
             "gzip_x_fp32": None, "sparsity": baseline.sparsity, "score": baseline.score, "drop": None,
             "p50_ms": baseline.p50_ms, "speedup": 1.0, "top1_agreement": None, "status": "ok"}]
    for v in variants:
        ok = v.ok and v.bytes is not None
        rows.append({"variant": v.name, "precision": v.precision, "bytes": v.bytes,
                     "x_fp32": v.bytes / baseline.bytes if ok else None,
                     "gzip_x_fp32": v.gzip_bytes / baseline.bytes if ok and v.gzip_bytes else None,
                     "sparsity": v.sparsity, "score": v.score, "drop": v.drop, "p50_ms": v.p50_ms,
                     "speedup": v.speedup, "top1_agreement": v.parity.top1_agreement if v.parity else None,
                     "status": v.status or ("failed" if v.error else "ok")})
    return rows


class CompressionFile(Tabular, Record):
    """``compression.json``."""

    metric: TaskMetricSpec
    baseline: CompressionBaseline
    variants: list[CompressionVariant]
    skipped: Optional[dict[str, str]] = None
    selection_split: Optional[SplitName] = None  # what the variants' choices were made on
    selection_n: Optional[int] = None
    selection_note: Optional[str] = None  # why the selection split is not "validation", when it is not
    measure_split: Optional[SplitName] = None  # what every figure of the table is measured on, once
    measure_n: Optional[int] = None

    def rows(self) -> list[dict[str, Any]]:
        return compression_rows(self.baseline, self.variants)

    def table_title(self) -> str:
        return f"compression ({self.metric.name})"


# ----------------------------------------------------------------------------- trials.json

class TuneTrial(Record):
    """One row of a search's ``trials.json`` (read back from keras-tuner's trial files)."""

    id: str
    status: Optional[str] = None
    hyperparameters: dict = Field(default_factory=dict)
    val_accuracy: Optional[float] = None
    latency_ms: Optional[float] = None
    bytes: Optional[int] = None
    arena_bytes: Optional[int] = None
    feasible: bool = False
    arena_source: Optional[str] = None
    infeasible_because: Optional[list[str]] = None
    model: Optional[str] = None
    knobs: Optional[dict] = None
    resolution: Optional[int] = None
    params: Optional[int] = None
    macs: Optional[int] = None
    epochs_run: Optional[int] = None
    seconds: Optional[float] = None
    worker: Optional[str] = None
    mcu_latency_ms: Optional[float] = None
    mcu_estimate: Optional[dict] = None
    dir: Optional[str] = None
    score: Optional[float] = None
    error: Optional[str] = None
    traceback: Optional[str] = None
    # the split val_accuracy and score (what the oracle and the choice of the best trial read) come from;
    # the test split is measured only for the chosen trial, in best/report.json ("measure_split")
    selection_split: Optional[SplitName] = None

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED"


# ----------------------------------------------------------------------------- edgekit bench --json

class BenchLatency(RowLatency):
    """``latency_ms`` of a bench row: the summary and every timed run (``raw``, ms)."""

    raw: list[float] = Field(default_factory=list)

    @classmethod
    def of(cls, lat: Latency | None) -> "BenchLatency | None":
        return None if lat is None else cls(**lat.model_dump())


class BenchRow(Record):
    """One row of ``edgekit bench --json``'s ``results`` (:func:`edgekit.benchmarking.harness.bench_row`); its
    ``latency_ms`` keeps the raw timings (``compare`` reads them)."""

    artifact: str
    format: str
    precision: str
    runtime: str
    threads: int
    runs: int
    options: dict = Field(default_factory=dict)
    latency_ms: BenchLatency
    memory_mb: Optional[MemoryFigures] = None
    roofline: Optional[Roofline] = None
    profile: Optional[Profile] = None
    interleaved: Optional[dict] = None  # `bench --interleave`: rounds and block size
    gpu: Optional[dict] = None  # .tflite: the phone GPU delegate check (edgekit.runtime.gpu)

    @property
    def name(self) -> str:
        return Path(self.artifact).name


class BenchRun(Record):
    """``run`` of the bench JSON: one id per ``edgekit bench`` invocation, so ``compare`` can say when
    two files come from different runs (different days, machines, loads)."""

    id: str  # a fresh uuid4, hex
    date: str  # UTC, ISO 8601 to the second
    interleaved: bool = False  # set (True) only by `bench --interleave`: the files timed in alternating rounds

    @classmethod
    def stamp(cls, interleaved: bool = False) -> "BenchRun":
        import datetime
        import uuid

        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return cls(id=uuid.uuid4().hex, date=now, **({"interleaved": True} if interleaved else {}))


class BenchFile(Tabular, Record):
    """``edgekit bench --json``: the machine, the run's id and date, the rows, the ceilings."""

    machine: dict
    run: BenchRun
    results: list[BenchRow]
    ceiling: Optional[dict] = None
    ceiling_int8: Optional[dict] = None


    def rows(self) -> list[dict[str, Any]]:
        """One row per file and thread count: latency summary (ms), peak memory, roofline."""
        out = []
        for r in self.results:
            lat, mem, roof = r.latency_ms, r.memory_mb or {}, r.roofline or {}
            out.append({"file": r.name, "runtime": r.runtime, "precision": r.precision, "threads": r.threads,
                        **{f"{k}_ms": getattr(lat, k) for k in ("init", "first", "mean", "p50", "p90", "p99", "std")},
                        "peak_mb": mem.get("peak_delta"), "gmacs_per_s": roof.get("gmacs_per_s"),
                        "of_ceiling": roof.get("fraction")})
        return out

    def table_title(self) -> str:
        return "latency (ms)"


class BundleCheck(Record):
    """What :func:`edgekit.check` returns for a bundle that matches its manifest: the files checked."""

    run_dir: str
    files: list[str]


# ----------------------------------------------------------------------------- verify --json and the final check

class OutputParity(RowParity):
    """One output of a file compared with the Keras output of the same name (the parity figures of
    :class:`RowParity`): ``name`` is the Keras output's, ``file_name`` the file's own (a LiteRT
    signature key, an ONNX graph output)."""

    name: str
    file_name: str
    shape: list[Optional[int]]
    n: int
    finite: bool  # every value the file gave was a number (no NaN, no inf)
    reference_finite: bool = True  # the same for the Keras model's output (False: the model itself is broken)


class GateResult(Record):
    threshold: float
    value: Optional[float] = None
    passed: bool


class VerifyFile(Record):
    """``edgekit verify --json``: the headline parity (the worst output's), accuracies with their 95 %
    Wilson intervals, each output by name, and the gates."""

    artifact: str
    reference: Optional[str] = None
    source: str
    n: int
    cosine: float
    max_abs: float
    top1_agreement: Optional[float] = None
    accuracy: Optional[float] = None
    accuracy_ci95: Optional[tuple[float, float]] = None
    reference_accuracy: Optional[float] = None
    reference_accuracy_ci95: Optional[tuple[float, float]] = None
    accuracy_drop: Optional[float] = None
    normalization: Optional[dict] = None
    warnings: list[str] = Field(default_factory=list)
    outputs: list[OutputParity] = Field(default_factory=list)
    gates: dict[str, GateResult] = Field(default_factory=dict)
    passed: bool


# ----------------------------------------------------------------------------- emulated Cortex-M

class OpInstructions(Record):
    """One operator of one inference on an emulated core (TFLM's profiler events, in graph order)."""

    index: int
    op: str  # the kernel's tag: CONV_2D, DEPTHWISE_CONV_2D, ...
    instructions: int


class EmulationResult(Record):
    """``edgekit emulate``'s answer: the MCU bundle's own main.cc, built with TFLM for one core,
    run in QEMU on quantized inputs; its outputs against LiteRT's reference kernels, and the
    instructions it executed (SysTick under ``-icount shift=0``: exact to one tick)."""

    model: str
    core: str  # cortex-m4 | cortex-m33 | cortex-m55
    machine: str  # the QEMU machine
    kernels: str  # cmsis-nn | reference
    inputs: str  # where the inputs came from
    n_samples: int
    outputs_equal: bool  # every output byte equal to LiteRT's reference kernels'
    max_abs_diff_q: int  # largest |TFLM - LiteRT| in quantized steps
    values_differing: int  # output values (over all samples) that are not equal
    values_compared: int
    # The same inputs through TFLM's portable kernels on the host (the tflite-micro package), which
    # round every requantization twice; the emulated build rounds fully connected layers once, as
    # LiteRT does (None: tflite-micro not installed).
    values_differing_host_tflm: int | None
    instructions: int  # per inference (the median over samples)
    instructions_per_sample: list[int]
    tick_instructions: float  # one SysTick tick in instructions: the resolution of every count
    ops: list[OpInstructions]  # of the first sample
    op_totals: dict[str, int]  # instructions by operator type, first sample
    weight_bytes: int  # constant buffers of the model (what a board streams from flash per inference)
    arena_bytes: int | None  # measured on the host (bisection with TFLM)
    arena_used_bytes: int  # what the interpreter on the target reports after AllocateTensors (CMSIS-NN's scratch included)
    # The arena the bundle's program declares on this core (the host figure, plus a margin on Helium
    # cores): the run shows it is enough. None: an older program that did not print it.
    program_arena_bytes: int | None = None
    # How the library rounds its requantization: "litert" (fully connected layers once, everything
    # else twice, as LiteRT's kernels); None: not recorded (TFLM's default, twice everywhere).
    rounding: str | None = None
    flash_bytes: int  # text + data of the program (arm-none-eabi-size): code, TFLM, model
    ram_bytes: int  # data + bss: the arena, TFLM's state, 16 KiB heap and 16 KiB stack
    program: str  # the bundle's main.cc that ran
    sources: dict[str, str]  # tflite-micro commit and each third-party tree's pinned ref
    runs: int  # QEMU runs of the same program on the same inputs
    identical_runs: bool  # every count and output byte the same in all runs
