"""What a search is asked: :class:`TuneConfig` (how to search), :class:`Budgets` (device limits
and the rule that judges a trial against them) and :class:`TuneResult` (what comes back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgekit.formats import FORMATS
from edgekit.records import BenchSettings, Tabular, TuneTrial

ORACLES = ("random", "bayesian", "hyperband")
# the one arena source a RAM budget is judged on (see Budgets.violations)
TFLM_MEASURED = "tflm"


class TuneConfig(BaseModel):
    """How to search (budgets are separate: :class:`Budgets`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(10, ge=1, description="trials to run in total (a rerun continues up to this number)")
    oracle: Literal["random", "bayesian", "hyperband"] = "random"
    epochs: int = Field(20, ge=1, description="epochs per trial (Hyperband: the most any trial gets)")
    patience: int = Field(5, ge=1, description="epochs without val_accuracy improvement before a trial stops")
    precision: str = Field("int8", description="the TFLite precision each trial exports (the format table's)")
    workers: int = Field(1, ge=1, description="1: in this process; N >= 2: a chief and N worker processes")
    seed: int = 0
    augment: bool = True
    # the settings-file keys and flags; :attr:`bench` is the one record the timing code takes
    bench_runs: int = Field(50, ge=1)
    bench_warmup: int = Field(10, ge=0)
    measure_arena: bool = True
    fixed: dict = Field(default_factory=dict, description="hyperparameters pinned to one value")
    # The input scaling every trial's model is trained with and recorded with (--input-range / --mean / --std);
    # None: the data's default (8-bit images to [-1, 1]).
    input_range: tuple[float, float] | None = None
    mean: float | None = None
    std: float | None = None

    @field_validator("precision")
    @classmethod
    def _tflite_precision(cls, v: str) -> str:
        allowed = FORMATS["tflite"].precisions
        if v not in allowed:
            raise ValueError(f"TFLite precision {v!r} is not exportable; choose one of {', '.join(allowed)}")
        return v

    @property
    def bench(self) -> BenchSettings:
        """How each trial's file is timed: one thread, ``bench_runs`` after ``bench_warmup``."""
        return BenchSettings(threads=1, runs=self.bench_runs, warmup=self.bench_warmup)

    def input_scaling(self):
        from edgekit.data.scaling import user_scaling

        return user_scaling(self.input_range, self.mean, self.std)


class Budgets(BaseModel):
    """Device limits; a trial over any of them is kept and marked infeasible."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_latency_ms: float | None = Field(None, gt=0, description="LiteRT p50, 1 thread, this machine")
    max_flash_kb: float | None = Field(None, gt=0, description="size of the exported model file")
    max_ram_kb: float | None = Field(None, gt=0, description="TFLM tensor arena")

    def violations(self, latency_ms: float, nbytes: int, arena_bytes: int | None,
                   arena_source: str = TFLM_MEASURED) -> list[str]:
        """Why a trial misses the budgets (empty: feasible).

        A RAM budget is judged only on an arena TFLM measured (``arena_source == "tflm"``): an
        estimate is a lower bound, so a trial whose arena TFLM could not measure is infeasible
        under ``max_ram_kb``, with the reason, never feasible by a guess."""
        out = []
        if self.max_latency_ms is not None and latency_ms > self.max_latency_ms:
            out.append(f"latency {latency_ms:.3f} ms > {self.max_latency_ms:g} ms")
        if self.max_flash_kb is not None and nbytes / 1024 > self.max_flash_kb:
            out.append(f"flash {nbytes / 1024:.1f} KB > {self.max_flash_kb:g} KB")
        if self.max_ram_kb is not None:
            if arena_source != TFLM_MEASURED or arena_bytes is None:
                out.append(f"RAM budget not checkable: the arena was not measured by TFLM ({arena_source})")
            elif arena_bytes / 1024 > self.max_ram_kb:
                out.append(f"arena {arena_bytes / 1024:.1f} KB > {self.max_ram_kb:g} KB")
        return out

    # --- Cortex-M latency estimate as a budget: the board and its limit ---------------------------
    target: str | None = Field(None, description="MCU board whose estimated latency each trial carries (`edgekit targets`)")
    max_mcu_latency_ms: float | None = Field(None, gt=0, description="estimated latency on `target`, TFLM + CMSIS-NN")

    def mcu_violations(self, mcu_latency_ms: float | None) -> list[str]:
        if self.max_mcu_latency_ms is None:
            return []
        if mcu_latency_ms is None:
            return ["MCU latency unknown"]
        if mcu_latency_ms > self.max_mcu_latency_ms:
            return [f"{self.target} estimate {mcu_latency_ms:.1f} ms > {self.max_mcu_latency_ms:g} ms"]
        return []


@dataclass
class TuneResult(Tabular):
    """What :func:`edgekit.tune` returns; ``rows()`` / ``to_dataframe()`` / Jupyter show the trials."""

    out: Path
    trials: list[TuneTrial]  # trials.json is their model_dump()
    pareto: list[TuneTrial]  # the non-dominated ones
    best: TuneTrial | None
    bundle: Path | None
    report: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        front = {t.id for t in self.pareto}
        return [{"trial": t.id, "status": t.status, "knobs": t.knobs, "resolution": t.resolution,
                 "val_accuracy": t.val_accuracy, "latency_ms": t.latency_ms, "bytes": t.bytes,
                 "arena_bytes": t.arena_bytes, "mcu_latency_ms": t.mcu_latency_ms, "feasible": t.feasible,
                 "pareto": t.id in front} for t in self.trials]

    def table_title(self) -> str:
        return f"search in {self.out}: {len(self.trials)} trials"
