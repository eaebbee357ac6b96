"""edgekit's trainer against a plain ``model.fit`` on the same arrays: samples per second.

The demo's model (MobileNetV2 alpha 0.35, 32x32x3, 10 classes) on the demo's data (the digits
train split, resized as ``edgekit demo`` does), batch 32, validation on the val split each epoch:

* ``edgekit``: :func:`edgekit.train.train` itself (its tf.data input pipeline with seeded shifts,
  op determinism, its callbacks: early stopping, LR on plateau, BackupAndRestore, TensorBoard);
  per-epoch times are read off its one-line-per-epoch console output;
* ``plain``: ``create_model`` + the same compile + ``model.fit(x_train, y_train, batch_size=32,
  shuffle=True, validation_data=...)`` on the NumPy arrays, op determinism on (as in ``edgekit``);
* ``plain_nondeterministic``: the same plain fit with TensorFlow op determinism switched off, to
  see what determinism costs; and a second round of each arm shows what it buys (bit-identical
  histories from the same seed, or not).

Arms alternate within each round, in one process; the first epoch of every run (tracing, graph
building) is left out of the medians. Writes benchmarks/results/train_overhead.{json,md}.

    python benchmarks/train_overhead.py [--epochs 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgekit._io import write_json, write_text  # noqa: E402
from edgekit._tf import keras, reproducible, tf  # noqa: E402
from edgekit.bench.harness import machine_info  # noqa: E402
from edgekit.data import load_dataset  # noqa: E402
from edgekit.models import create_model  # noqa: E402
from edgekit.train import train  # noqa: E402

MODEL, PARAMS, SHAPE, BATCH, SEED = "mobilenet_v2", {"alpha": 0.35}, (32, 32, 3), 32, 0


class _Stamps:
    """A console stand-in: edgekit's trainer prints one line per epoch; the time of each is kept."""

    def __init__(self):
        self.times: list[float] = []
        self.cpu: list[float] = []

    def print(self, text="", *a, **k):
        if str(text).lstrip().startswith("epoch"):
            self.times.append(time.perf_counter())
            self.cpu.append(time.process_time())
        elif str(text).startswith("[bold]train[/]"):
            self.times, self.cpu = [time.perf_counter()], [time.process_time()]  # printed just before fit starts


class _EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times, self.cpu = [time.perf_counter()], [time.process_time()]

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter())
        self.cpu.append(time.process_time())


def run_edgekit(epochs: int, tmp: Path) -> dict:
    stamps = _Stamps()
    res = train(MODEL, "digits", params=dict(PARAMS), out=tmp / f"edgekit-{time.time_ns()}", console=stamps,
                epochs=epochs, patience=epochs, seed=SEED)
    return {"epoch_seconds": _diffs(stamps.times), "epoch_cpu_seconds": _diffs(stamps.cpu),
            "val_loss": [float(v) for v in res.history["val_loss"]]}


def _diffs(ts: list[float]) -> list[float]:
    return [round(b - a, 4) for a, b in zip(ts, ts[1:])]


def run_plain(ds, epochs: int, deterministic: bool) -> dict:
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as tf_config  # no public switch back

        tf_config.disable_op_determinism()
    try:
        net = create_model(MODEL, input_shape=ds.input_shape, num_classes=ds.num_classes, **PARAMS)
        net.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        timer = _EpochTimes()
        hist = net.fit(ds.x_train, ds.y_train, batch_size=BATCH, epochs=epochs, shuffle=True,
                       validation_data=(ds.x_val, ds.y_val), callbacks=[timer], verbose=0)
    finally:
        reproducible(SEED)  # back to edgekit's setting for the next arm
    return {"epoch_seconds": _diffs(timer.times), "epoch_cpu_seconds": _diffs(timer.cpu),
            "val_loss": [float(v) for v in hist.history["val_loss"]]}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--note", default="", help="conditions of the run, e.g. 'measured under load'")
    args = ap.parse_args()
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2 (the first epoch is left out of the medians)")

    ds = load_dataset("digits", input_shape=SHAPE, seed=SEED)
    arms = {"edgekit": None, "plain": True, "plain_nondeterministic": False}
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(arms) if r % 2 == 0 else list(reversed(arms))  # alternate so drift hits all arms
            for arm in order:
                t0 = time.perf_counter()
                res = run_edgekit(args.epochs, Path(tmp)) if arm == "edgekit" else run_plain(ds, args.epochs, arms[arm])
                runs[arm].append(res)
                print(f"round {r + 1} {arm}: {time.perf_counter() - t0:.1f}s, epochs "
                      + " ".join(f"{s:.2f}" for s in res["epoch_seconds"]), flush=True)
    n = len(ds.x_train)
    summary = {}
    for arm, rs in runs.items():
        steady = [s for r in rs for s in r["epoch_seconds"][1:]]
        med = statistics.median(steady)
        cpu = statistics.median([s for r in rs for s in r["epoch_cpu_seconds"][1:]])
        summary[arm] = {"median_epoch_seconds": round(med, 4), "samples_per_second": round(n / med, 1),
                        "median_epoch_cpu_seconds": round(cpu, 4), "samples_per_cpu_second": round(n / cpu, 1),
                        "repeatable": all(r["val_loss"] == rs[0]["val_loss"] for r in rs[1:]) if len(rs) > 1 else None}
    ratio = summary["edgekit"]["samples_per_second"] / summary["plain"]["samples_per_second"]
    ratio_cpu = summary["edgekit"]["samples_per_cpu_second"] / summary["plain"]["samples_per_cpu_second"]
    det_cost = summary["plain_nondeterministic"]["samples_per_second"] / summary["plain"]["samples_per_second"]
    out = {
        "what": f"{MODEL} {PARAMS} {SHAPE} on digits ({n} train samples), batch {BATCH}, {args.epochs} epochs x "
                f"{args.rounds} rounds per arm, alternating in one process; medians leave out each run's first epoch",
        "ratio": round(ratio, 4), "target": 0.95, "meets_target": ratio >= 0.95,
        "ratio_cpu_time": round(ratio_cpu, 4),
        "determinism_speed_ratio": round(det_cost, 4),
        "arms": summary, "runs": runs,
        "note": args.note, "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "commit": _commit(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "tf_threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter": tf.config.threading.get_inter_op_parallelism_threads()},
    }
    res_dir = HERE / "results"
    write_json(res_dir / "train_overhead.json", out)
    md = ["# Training overhead: edgekit's trainer vs a plain model.fit", "", out["what"] + ".", ""]
    if args.note:
        md += [f"Conditions: {args.note} (load average {out['loadavg_before']} before, {out['loadavg_after']} after).", ""]
    md += ["| arm | median s/epoch (wall) | samples/s | median CPU s/epoch | samples/CPU-s | same seed, same history |",
           "| --- | ---: | ---: | ---: | ---: | --- |"]
    for arm, s in summary.items():
        md.append(f"| {arm} | {s['median_epoch_seconds']:.3f} | {s['samples_per_second']:.1f} | "
                  f"{s['median_epoch_cpu_seconds']:.3f} | {s['samples_per_cpu_second']:.1f} | {s['repeatable']} |")
    md += ["", f"edgekit / plain fit (both with op determinism): **{ratio:.3f}x** samples/s by the wall clock "
           f"(target >= 0.95), {ratio_cpu:.3f}x by process CPU time (less disturbed by other processes on a shared machine).",
           f"Plain fit without / with op determinism: {det_cost:.3f}x samples/s.", "",
           "Raw per-epoch seconds (first epoch included):", ""]
    for arm, rs in runs.items():
        for i, r in enumerate(rs):
            md.append(f"- {arm}, round {i + 1}: " + ", ".join(f"{s:.2f}" for s in r["epoch_seconds"]))
    md += ["", "Raw per-epoch process CPU seconds:", ""]
    for arm, rs in runs.items():
        for i, r in enumerate(rs):
            md.append(f"- {arm}, round {i + 1}: " + ", ".join(f"{s:.2f}" for s in r["epoch_cpu_seconds"]))
    md += ["", f"commit {out['commit'][:12]}, {out['date']}, {out['machine']['cpu']}, {out['machine']['cores']} cores.", ""]
    write_text(res_dir / "train_overhead.md", "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
