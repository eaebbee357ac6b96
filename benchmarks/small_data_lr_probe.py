"""Probe: does the learning-rate plateau, acting from epoch 1, keep MobileNetV2 at chance on 60 images per class?

Trains ``mobilenet_v2`` (alpha 0.35, 64x64: what ``edgekit train --data <dir>`` picks for these sets) with
:func:`edgekit.training.fit.train` and the small-data recipe, changing one thing:

* ``recipe``: as shipped (ReduceLROnPlateau from epoch 1);
* ``late_plateau``: the plateau counts only from early stopping's start epoch (half the epochs);
* ``cosine``: no plateau: cosine decay over the recipe's epochs after a 3-epoch warm-up;
* ``flip_off`` / ``augment_off``: the recipe (as committed) without the mirror / without any augmentation.

Same train/validation/test split as the benchmark (seed 0); the test split is measured once at the end.

    nice -n 10 python benchmarks/small_data_lr_probe.py shapes128 late_plateau OUT_DIR
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_data import CASES  # noqa: E402


def main(case: str, variant: str, work: Path) -> None:
    from rich.console import Console

    from edgekit._tf import keras
    from edgekit.training import fit, recipe

    lrs: list[float] = []

    class LateStart(keras.callbacks.ReduceLROnPlateau):
        def __init__(self, start: int, **kw):
            super().__init__(**kw)
            self.start = start

        def on_epoch_end(self, epoch, logs=None):
            if epoch >= self.start:
                super().on_epoch_end(epoch, logs)

    class LogRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            lrs.append(float(keras.backend.get_value(self.model.optimizer.learning_rate)
                             if not callable(self.model.optimizer.learning_rate)
                             else self.model.optimizer.learning_rate(self.model.optimizer.iterations)))

    original = fit.lr_callbacks
    seen = {}

    def lr_callbacks(config, steps_per_epoch=0, learning_rate=None, patience=None, start_from_epoch=0):
        seen["epochs"] = config.epochs
        out = original(config, steps_per_epoch, learning_rate, patience, start_from_epoch)
        if variant == "late_plateau":
            start = recipe.early_stopping_start(config, True)
            out = [LateStart(start, monitor="val_loss", factor=0.5, patience=cb.patience, min_lr=1e-5)
                   if isinstance(cb, keras.callbacks.ReduceLROnPlateau) else cb for cb in out]
        return out + [LogRate()]

    fit.lr_callbacks = lr_callbacks
    work.mkdir(parents=True, exist_ok=True)
    data = CASES[case][1](work)  # the benchmark's own data maker and seed
    overrides = {"cosine": {"schedule": "cosine", "warmup_epochs": 3}, "flip_off": {"flip": False},
                 "augment_off": {"augment": False}}.get(variant, {})
    log = open(work / f"{case}_{variant}.log", "w")
    t0, c0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0]
    res = fit.train("mobilenet_v2", str(data), params={"alpha": 0.35, "input_shape": (64, 64, 3)},
                    out=work / f"run_{case}_{variant}", console=Console(file=log, soft_wrap=True, width=200),
                    **overrides)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    row = {"case": case, "variant": variant, "test_accuracy": res.metrics.get("accuracy"),
           "epochs_run": res.metrics.get("epochs_run"), "wall_s": round(time.monotonic() - t0, 1),
           "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 1),
           "load_1min_before": round(load, 2), "load_1min_after": round(os.getloadavg()[0], 2),
           "lr_by_epoch": lrs}
    (work / f"{case}_{variant}.json").write_text(json.dumps(row, indent=1))
    print(json.dumps({k: v for k, v in row.items() if k != "lr_by_epoch"}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
