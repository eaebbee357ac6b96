"""``CompressConfig``: the knobs of compress's variants, validated like every edgekit config
(``edgekit compress --config FILE`` takes its fields as keys)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgekit.records import BenchSettings


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
    # the settings-file keys and flags; :attr:`bench` is the one record the timing code takes
    bench_runs: int = Field(50, ge=1)
    bench_warmup: int = Field(5, ge=0)
    seed: int = 0

    @property
    def bench(self) -> BenchSettings:
        """How every variant is timed: one thread, ``bench_runs`` after ``bench_warmup``."""
        return BenchSettings(threads=1, runs=self.bench_runs, warmup=self.bench_warmup)
