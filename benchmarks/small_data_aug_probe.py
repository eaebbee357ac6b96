"""Probe: which augmentation lets MobileNetV2 0.35 learn the letters without losing the shapes?

Trains what ``edgekit train --data DIR`` trains for the benchmark's image sets (MobileNetV2 0.35 at
64x64, the small-data recipe) with :func:`edgekit.training.fit.train`, changing the augmentation only:

* ``recipe``: as the work tree's recipe chooses;
* ``flip_off``: shifts only (``flip = false``);
* ``turn`` / ``flip_turn`` (at commit 2cde20b, whose training_batches had the option): shifts,
  without / with the mirror, and a random rotation (+-15 degrees) and zoom (+-10%);
* ``recolour`` / ``recolour_noflip`` (at commit 2cde20b): the recipe, with / without the mirror,
  and each image's colour channels in a random order, a random half of them inverted;
* ``lr<rate>`` (``lr0.005``): the recipe at another Adam learning rate (2e-3 in the recipe);
* ``anneal_flip_off`` / ``anneal_flip_on``: no plateau; from early stopping's start (half the
  epochs) the rate falls along a half cosine to 0 at the last epoch; without / with the mirror;
* ``head_small_flip_off`` / ``_flip_on``: the classifier's kernel starts at 1% of its random
  initialisation instead of zero (the recipe zeroes it), without / with the mirror;
* ``res96`` / ``res96_flip_off``: the recipe (with / without the mirror) at 96x96 instead of 64x64.

Same data and train/validation/test split as benchmarks/small_data.py; the test split is measured
once at the end. Each run's per-epoch history (training and validation accuracy, learning rate) is
kept in the JSON row.

    nice -n 10 python benchmarks/small_data_aug_probe.py glyphs96 anneal_flip_off OUT_DIR
    python benchmarks/small_data_aug_probe.py collect "NOTE" OUT_DIR...   # -> results/small_data_aug_probe.{json,md}

``collect`` keeps every run found under the OUT_DIRs, finished or not: a run stopped by hand (its
trend was clear and the machine was needed) is kept with the epochs its log reached.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_data import CASES  # noqa: E402
import numpy as np  # noqa: E402


def main(case: str, variant: str, work: Path) -> None:
    from rich.console import Console

    from edgekit._tf import keras
    from edgekit.training import loop

    lrs: list[float] = []

    class LogRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            lrs.append(float(keras.backend.get_value(self.model.optimizer.learning_rate)))

    overrides = {"flip_off": {"flip": False}, "res96_flip_off": {"flip": False},
                 "anneal_flip_off": {"flip": False}, "anneal_flip_on": {"flip": True},
                 "head_small_flip_off": {"flip": False}, "head_small_flip_on": {"flip": True}}.get(variant, {})
    if variant.startswith("anneal"):  # no plateau: the rate falls along a half cosine over the second half
        class Anneal(keras.callbacks.Callback):
            def __init__(self, rate, start, epochs):
                super().__init__()
                self.rate, self.start, self.epochs = rate, start, epochs

            def on_epoch_begin(self, epoch, logs=None):
                t = max(0.0, (epoch - self.start) / max(1, self.epochs - self.start))
                keras.backend.set_value(self.model.optimizer.learning_rate,
                                        self.rate * 0.5 * (1 + np.cos(np.pi * t)))

        def lr_callbacks(config, steps_per_epoch=0, learning_rate=None, patience=None, start_from_epoch=0):
            return [Anneal(learning_rate or config.learning_rate, start_from_epoch, config.epochs)]

        loop.lr_callbacks = lr_callbacks
    if variant.startswith("head_small"):  # the classifier starts small and random instead of at zero
        from edgekit.training import fit as fit_module

        def small_head(net):
            dense = [layer for layer in net.layers if isinstance(layer, keras.layers.Dense)][-1]
            weights = dense.get_weights()
            weights[0] = weights[0] * 0.01
            dense.set_weights(weights)
            return True

        fit_module.zero_head = small_head
    original_fit = loop.fit

    def fit(*a, callbacks=(), **kw):
        return original_fit(*a, callbacks=[*callbacks, LogRate()], **kw)

    from edgekit.training import fit as fit_module

    fit_module.fit = fit
    work.mkdir(parents=True, exist_ok=True)
    data = CASES[case][1](work)  # the benchmark's own data maker and seed
    log = open(work / f"{case}_{variant}.log", "w")
    t0, c0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0]
    if variant.startswith("lr"):  # lr0.005: the recipe at another learning rate
        overrides = {"learning_rate": float(variant[2:])}
    side = 96 if variant.startswith("res96") else 64
    res = fit_module.train("mobilenet_v2", str(data), params={"alpha": 0.35, "input_shape": (side, side, 3)},
                           out=work / f"run_{case}_{variant}", console=Console(file=log, soft_wrap=True, width=200),
                           **overrides)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    h = res.history
    row = {"case": case, "variant": variant, "test_accuracy": res.metrics.get("accuracy"),
           "epochs_run": res.metrics.get("epochs_run"), "best_epoch": res.metrics["training"].get("best_epoch"),
           "wall_s": round(time.monotonic() - t0, 1),
           "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 1),
           "load_1min_before": round(load, 2), "load_1min_after": round(os.getloadavg()[0], 2),
           "history": {"accuracy": [round(v, 4) for v in h.get("accuracy", [])],
                       "val_accuracy": [round(v, 4) for v in h.get("val_accuracy", [])],
                       "val_loss": [round(v, 4) for v in h.get("val_loss", [])], "lr": lrs}}
    (work / f"{case}_{variant}.json").write_text(json.dumps(row, indent=1))
    print(json.dumps({k: v for k, v in row.items() if k != "history"}))


EPOCH = re.compile(r"epoch\s+(\d+)/(\d+)\s+loss=\S+ accuracy=(\S+) val_loss=(\S+) val_accuracy=(\S+)")


def _from_log(log: Path) -> dict:
    """A run stopped before its end: what its per-epoch log reached."""
    case, variant = log.stem.split("_", 1)
    epochs = [m.groups() for m in map(EPOCH.search, log.read_text().splitlines()) if m]
    last = epochs[-1] if epochs else None
    return {"case": case, "variant": variant, "test_accuracy": None, "stopped_by_hand": True,
            "epochs_run": int(last[0]) if last else 0, "max_epochs": int(last[1]) if last else None,
            "history": {"accuracy": [float(e[2]) for e in epochs], "val_accuracy": [float(e[4]) for e in epochs],
                        "val_loss": [float(e[3]) for e in epochs]}}


def collect(note: str, dirs: list[Path]) -> None:
    from _provenance import ROOT, write_markdown, write_results

    rows = []
    for d in dirs:
        for log in sorted(Path(d).glob("*/*.log")):
            done = log.with_suffix(".json")
            rows.append(json.loads(done.read_text()) if done.exists() else _from_log(log))
    path = write_results(ROOT / "benchmarks" / "results" / "small_data_aug_probe.json", {"about": note, "rows": rows})
    lines = ["# Augmentation probes on the small image sets", "", note, "",
             "| data | variant | test acc | epochs | train acc (last) | val acc (last) | best val acc | CPU s | wall s "
             "| load before/after |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        h = r["history"]
        acc = f"{r['test_accuracy']:.3f}" if r.get("test_accuracy") is not None else "stopped by hand"
        lines.append(f"| {r['case']} | {r['variant']} | {acc} | {r['epochs_run']} | "
                     f"{h['accuracy'][-1] if h['accuracy'] else ''} | {h['val_accuracy'][-1] if h['val_accuracy'] else ''} | "
                     f"{max(h['val_accuracy']) if h['val_accuracy'] else ''} | {r.get('cpu_s', '')} | {r.get('wall_s', '')} | "
                     f"{r.get('load_1min_before', '')}/{r.get('load_1min_after', '')} |")
    lines += ["", "Training and validation accuracy every 20 epochs (train/val):", ""]
    for r in rows:
        h = r["history"]
        marks = ", ".join(f"{i + 1}: {h['accuracy'][i]:.2f}/{h['val_accuracy'][i]:.2f}"
                          for i in range(19, len(h["accuracy"]), 20))
        lines.append(f"- {r['case']} {r['variant']}: {marks}")
    write_markdown(path, "\n".join(lines))
    print(path)


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        collect(sys.argv[2], [Path(a) for a in sys.argv[3:]])
    else:
        main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
