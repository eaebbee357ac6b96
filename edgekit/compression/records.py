"""The settings and records of a compression run: :class:`CompressConfig` (what to run, validated
like every edgekit config), a built variant (:class:`_Built`) and its table row spec (:class:`_Variant`),
the run's shared state (:class:`_Context`: float parents built once, their outputs, the calibration
set) and what comes back (:class:`CompressionReport`)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgekit._io import atomic_path, write_bytes
from edgekit.compression.splits import selection
from edgekit.records import CompressionBaseline, CompressionVariant, Tabular, compression_rows


class CompressConfig(BaseModel):
    """Knobs of the standard variants (frozen; validated before any work starts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sparsity: float = Field(0.75, gt=0, lt=1, description="magnitude pruning target (over all Conv2D/Dense kernels)")
    prune_allocation: Literal["erk", "uniform"] = Field(
        "erk", description="how the target is spread over layers (erk: wide layers pruned more)")
    prune_epochs: int = Field(4, ge=1)
    clusters: int = Field(16, ge=2)
    cluster_epochs: int = Field(2, ge=1)
    qat_epochs: int = Field(2, ge=1)
    channel_ratio: float = Field(0.5, gt=0, lt=1, description="fraction of prunable channels removed")
    # 6 epochs left MobileNetV1 0.5/96 (digits) 2.5-2.8 points below its parent, 20 with shifted images 0.28;
    # one run each, about 1.4 points of run-to-run spread
    # (benchmarks/results/channel_recovery.md)
    channel_epochs: int = Field(20, ge=0, description="fine-tuning of the thinner model, distilled from the input")
    learning_rate: float = Field(5e-4, gt=0, description="fine-tuning rate (QAT uses a fifth of it)")
    batch_size: int = Field(32, ge=1)
    max_drop: float = Field(0.01, ge=0, description="accuracy budget of the mixed-precision fallback")
    int4_max_bytes: float = Field(0.20, gt=0, le=1, description="aiq_mixed's size cap, a fraction of the fp32 "
                                  "TFLite's bytes: int8 layers are added while the file fits it")
    calibration: int = Field(200, ge=1, description="training samples for int8 calibration")
    bench_runs: int = Field(50, ge=1)
    bench_warmup: int = Field(5, ge=0)
    seed: int = 0


@dataclass
class _Built:
    """What a variant builder hands back: the file, and the float model it was made from."""

    path: Path
    format: str
    precision: str
    parent: str  # key of the float parent in the context's cache
    notes: dict = field(default_factory=dict)


@dataclass
class _Variant:
    name: str
    steps: Callable[[CompressConfig], list[str]]
    build: Callable[["_Context"], _Built]
    about: str


@dataclass
class CompressionReport(Tabular):
    """What :func:`~edgekit.compression.compress` returns: the records of compression.json and where it went.
    ``rows()`` / ``to_dataframe()`` / Jupyter show the compression table."""

    baseline: CompressionBaseline
    variants: list[CompressionVariant]
    json_path: Path
    md_path: Path
    out: Path
    metric: dict | None = None  # the task's headline figure that ``drop`` is measured in

    def as_dict(self) -> dict:
        return {"baseline": self.baseline.model_dump(), "variants": [v.model_dump() for v in self.variants]}

    @property
    def exit_code(self) -> int:
        """0 when every requested variant ran (or did not apply), 3 when one failed, 70 on a bug."""
        from edgekit.errors import failure_exit_code

        return failure_exit_code(v.status or "ok" for v in self.variants)

    def rows(self) -> list[dict]:
        return compression_rows(self.baseline, self.variants)

    def table_title(self) -> str:
        return f"compression of {self.out} ({(self.metric or {}).get('name', 'accuracy')})"

    def variant(self, name: str) -> CompressionVariant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)


class _Context:
    def __init__(self, model, data, out: Path, cfg: CompressConfig, console):
        self.model, self.data, self.out, self.cfg, self.console = model, data, out, cfg, console
        self.rep = data.representative(cfg.calibration, seed=cfg.seed)  # training samples
        self.selection = selection(data)  # what every choice between candidates reads (never the test split)
        self._selection_baseline: float | None = None
        self.parents: dict[str, object] = {"input": model}
        self.parent_outputs: dict[str, np.ndarray] = {}
        self.meta = {"model": model.name, "normalization": data.normalization.model_dump(),
                     "labels": data.class_names, "source": "edgekit compress"}
        self.baseline_accuracy: float | None = None
        self.results: dict[str, dict] = {}

    # float parents, built once and shared by the variants that need them
    def parent(self, key: str, make: Callable[[], object]):
        if key not in self.parents:
            self.parents[key] = make()
            if not getattr(self.parents[key], "_edgekit_qat", False):
                with atomic_path(self.out / "models" / f"{key}.keras") as tmp:
                    self.parents[key].save(str(tmp))
        return self.parents[key]

    def outputs(self, key: str) -> np.ndarray:
        if key not in self.parent_outputs:
            m = self.parents[key]
            self.parent_outputs[key] = np.asarray(m.predict(self.data.x_test, batch_size=128, verbose=0), np.float32)
        return self.parent_outputs[key]

    def selection_accuracy(self, blob: bytes) -> float:
        """Accuracy of a candidate .tflite (LiteRT) on the selection split."""
        from edgekit.runtime.base import load_runner
        from edgekit.verification import accuracy

        tmp = self.out / ".selection_try.tflite"
        write_bytes(tmp, blob)
        try:
            return float(accuracy(load_runner(tmp, "litert").run(self.selection.x), self.selection.y))
        finally:
            tmp.unlink(missing_ok=True)

    @property
    def selection_baseline(self) -> float:
        """The fp32 TFLite's accuracy on the selection split: what candidates' drops are measured from."""
        if self._selection_baseline is None:
            from edgekit.compression.quantize import tflite_bytes

            base = self.out / "baseline_fp32.tflite"  # compress writes it first; convert again only without it
            blob = base.read_bytes() if base.is_file() else tflite_bytes(self.model, "fp32")
            self._selection_baseline = self.selection_accuracy(blob)
        return self._selection_baseline

    def write_tflite(self, name: str, blob: bytes) -> Path:
        from edgekit.convert.tflite import add_metadata

        return write_bytes(self.out / f"{name}.tflite", add_metadata(blob, dict(self.meta, variant=name)))


def _gzip_bytes(path: Path) -> int:
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9))
