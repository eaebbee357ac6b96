"""The shared state of one compress run (:class:`Context`): what a variant builder reads and the
float parents it builds once, for every variant that starts from the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from edgekit._io import atomic_path, write_bytes
from edgekit.compression.config import CompressConfig
from edgekit.compression.splits import selection


class Context:
    """The state of one compress run that variants share: the float parents, built once, and their
    outputs; the calibration samples (training split); the selection split every choice reads."""

    def __init__(self, model, data, out: Path, cfg: CompressConfig, console):
        self.model, self.data, self.out, self.cfg, self.console = model, data, out, cfg, console
        self.rep = data.representative(cfg.calibration, seed=cfg.seed)  # training samples
        self.selection = selection(data)  # what every choice between candidates reads (never the test split)
        self._selection_baseline: float | None = None
        self.parents: dict[str, object] = {"input": model}
        self.parent_outputs: dict[str, np.ndarray] = {}
        self.meta = {"model": model.name, "normalization": data.normalization.model_dump(),
                     "labels": data.class_names, "source": "edgekit compress"}
        self.metric = None  # the task's headline figure (edgekit.verification.tasks.TaskMetric), set by compress
        self.channel_plan = None  # the channel variants' plan (edgekit.compression.channel.ChannelPlan)
        self.aiq_float: Path | None = None  # the plain fp32 .tflite the ai-edge-quantizer variants start from

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
