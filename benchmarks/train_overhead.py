"""edgekit's trainer against a plain ``model.fit`` on the same arrays: samples per second.

The demo's model (MobileNetV2 alpha 0.35, 32x32x3, 10 classes) on the demo's data (the digits
train split, resized as ``edgekit demo`` does), batch 32, Adam 2e-3, validation on the same val
split after every epoch in both arms, TensorFlow op determinism on in both:

* ``edgekit``: :func:`edgekit.training.train` itself, as a user runs it: its tf.data input pipeline
  (seeded shuffle and random shifts), its callbacks (early stopping that keeps the best weights,
  LR on plateau, the resume checkpoint, TensorBoard logs, a Rich line per epoch, printed to a
  Rich console that writes to memory); per-epoch times are taken when that line is printed;
* ``plain``: ``create_model`` + the same compile + ``model.fit(x_train, y_train, batch_size=32,
  shuffle=True, validation_data=(x_val, y_val))`` on the NumPy arrays: no augmentation, no
  callbacks but a timer;
* ``edgekit_batches`` (``--pipeline-arm``): the plain fit on edgekit's tf.data batches instead
  of the arrays, no callbacks: the input pipeline's share of the difference on its own;
* ``plain_nondeterministic`` (``--determinism-arm``): the same plain fit with op determinism off,
  to see what determinism costs.

Arms alternate within each round (the order flips every round), in one process; the first epoch
of every run (tracing, graph building, the first resume checkpoint) is left out of the medians.
Wall and process-CPU seconds are both kept: the machine is shared, and CPU time is the less
disturbed of the two. After the timed rounds, one instrumented edgekit run (not in the medians)
times each callback's epoch hooks and the input pipelines on their own: where an overhead would
come from. Writes benchmarks/results/train_overhead.{json,md} with provenance.

    python benchmarks/train_overhead.py [--epochs 8] [--rounds 5] [--pipeline-arm] [--determinism-arm] [--note ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _provenance import provenance_line, write_markdown, write_results  # noqa: E402

from edgekit._tf import keras, reproducible, tf  # noqa: E402
from edgekit.data import load_dataset  # noqa: E402
from edgekit.models import create_model  # noqa: E402
from edgekit.training import TrainConfig, train  # noqa: E402
from edgekit.training.batches import training_batches  # noqa: E402

MODEL, PARAMS, SHAPE, BATCH, SEED = "mobilenet_v2", {"alpha": 0.35}, (32, 32, 3), 32, 0
EPOCH_HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end", "on_train_end")


class _Stamps:
    """edgekit's Rich console (writing to memory), stamping the time of each epoch line it prints."""

    def __init__(self):
        from rich.console import Console

        self.console = Console(file=io.StringIO(), soft_wrap=True, force_terminal=True)
        self.times: list[float] = []
        self.cpu: list[float] = []

    def print(self, text="", *a, **k):
        self.console.print(text, *a, **k)
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


def _diffs(ts: list[float]) -> list[float]:
    return [round(b - a, 4) for a, b in zip(ts, ts[1:])]


def run_edgekit(epochs: int, tmp: Path) -> dict:
    stamps = _Stamps()
    res = train(MODEL, "digits", params=dict(PARAMS), out=tmp / f"edgekit-{time.time_ns()}", console=stamps,
                epochs=epochs, patience=epochs, seed=SEED)
    return {"epoch_seconds": _diffs(stamps.times), "epoch_cpu_seconds": _diffs(stamps.cpu),
            "val_loss": [float(v) for v in res.history["val_loss"]]}


def run_plain(ds, epochs: int, deterministic: bool, batches=False) -> dict:
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
        if batches:  # edgekit's input pipeline, augmentation on, as train() builds it for images
            hist = net.fit(training_batches(ds.x_train, ds.y_train, BATCH, SEED, True), epochs=epochs,
                           validation_data=(ds.x_val, ds.y_val), callbacks=[timer], verbose=0)
        else:
            hist = net.fit(ds.x_train, ds.y_train, batch_size=BATCH, epochs=epochs, shuffle=True,
                           validation_data=(ds.x_val, ds.y_val), callbacks=[timer], verbose=0)
    finally:
        reproducible(SEED)  # back to edgekit's setting for the next arm
    return {"epoch_seconds": _diffs(timer.times), "epoch_cpu_seconds": _diffs(timer.cpu),
            "val_loss": [float(v) for v in hist.history["val_loss"]]}


@contextlib.contextmanager
def _timed_callbacks(acc: dict):
    """Time the epoch-level hooks of every callback ``fit`` gets. Batch hooks are left alone:
    wrapping them would make Keras call every callback after every step."""
    fit = keras.Model.fit

    def timed_fit(self, *a, callbacks=None, **k):
        for cb in callbacks or []:
            name = type(cb).__name__
            for hook in EPOCH_HOOKS:
                def timed(*ha, _f=getattr(cb, hook), _key=(name, hook), **hk):
                    w, c = time.perf_counter(), time.process_time()
                    try:
                        return _f(*ha, **hk)
                    finally:
                        e = acc[_key]
                        e[0] += time.perf_counter() - w
                        e[1] += time.process_time() - c
                        e[2] += 1
                setattr(cb, hook, timed)
        return fit(self, *a, callbacks=callbacks, **k)

    keras.Model.fit = timed_fit
    try:
        yield
    finally:
        keras.Model.fit = fit


def _pipeline_cpu_ms(batches, epochs: int = 6) -> float:
    """Median process-CPU milliseconds to draw one epoch of batches (the first left out)."""
    cpu = []
    for _ in range(epochs):
        c = time.process_time()
        for _xy in batches:
            pass
        cpu.append(time.process_time() - c)
    return round(statistics.median(cpu[1:]) * 1e3, 1)


def profile(ds, epochs: int, tmp: Path) -> dict:
    """One instrumented edgekit run: seconds per epoch each callback's epoch hooks take; and
    the CPU an epoch of input batches costs, edgekit's pipeline against Keras' own array adapter."""
    from tf_keras.src.engine import data_adapter

    acc: dict = defaultdict(lambda: [0.0, 0.0, 0])
    with _timed_callbacks(acc):
        run = run_edgekit(epochs, tmp)
    hooks = [{"callback": cb, "hook": hook, "calls": n, "wall_s_total": round(w, 4), "cpu_s_total": round(c, 4),
              "wall_ms_per_epoch": round(w / epochs * 1e3, 2)}
             for (cb, hook), (w, c, n) in sorted(acc.items(), key=lambda kv: -kv[1][0]) if w >= 5e-4]
    keras_arrays = data_adapter.DataHandler(x=ds.x_train, y=ds.y_train, batch_size=BATCH, shuffle=True, epochs=1)
    pipeline = {
        "edgekit_augmented": _pipeline_cpu_ms(training_batches(ds.x_train, ds.y_train, BATCH, SEED, True)),
        "edgekit_no_augmentation": _pipeline_cpu_ms(training_batches(ds.x_train, ds.y_train, BATCH, SEED, False)),
        "keras_array_adapter": _pipeline_cpu_ms(keras_arrays._dataset),
    }
    return {"epochs": epochs, "median_epoch_seconds": round(statistics.median(run["epoch_seconds"][1:]), 4),
            "callback_hooks": hooks, "input_pipeline_cpu_ms_per_epoch": pipeline}


def summarize(runs: dict, n: int) -> dict:
    out = {}
    for arm, rs in runs.items():
        wall = [s for r in rs for s in r["epoch_seconds"][1:]]
        cpu = [s for r in rs for s in r["epoch_cpu_seconds"][1:]]
        out[arm] = {"median_epoch_seconds": round(statistics.median(wall), 4),
                    "samples_per_second": round(n / statistics.median(wall), 1),
                    "median_epoch_cpu_seconds": round(statistics.median(cpu), 4),
                    "samples_per_cpu_second": round(n / statistics.median(cpu), 1),
                    "repeatable": all(r["val_loss"] == rs[0]["val_loss"] for r in rs[1:]) if len(rs) > 1 else None}
    return out


def per_round_ratios(runs: dict, key: str) -> list[float]:
    """edgekit / plain samples per second within each round (each arm's median over its epochs)."""
    return [round(statistics.median(p[key][1:]) / statistics.median(e[key][1:]), 4)
            for e, p in zip(runs["edgekit"], runs["plain"])]


def render(doc: dict) -> str:
    s, prof = doc["arms"], doc["profile"]
    md = ["# Training overhead: edgekit's trainer vs a plain model.fit", "", provenance_line(doc), "",
          doc["what"] + ".", ""]
    if doc["note"]:
        md += [f"Conditions: {doc['note']}.", ""]
    md += [f"TensorFlow threads: intra-op {doc['tf_threads']['intra']}, inter-op {doc['tf_threads']['inter']} "
           "(0: TensorFlow's default, one per core; EDGEKIT_TF_THREADS pins both).", ""]
    md += ["What each arm does (both: same model, same compile, batch 32, validation on the same val split after "
           "every epoch, op determinism on):", "",
           "- **edgekit**: `edgekit.training.train` as a user runs it: tf.data batches with seeded shuffle and random "
           "shifts (augmentation), early stopping keeping the best weights in memory, LR on plateau, the resume "
           "checkpoint (BackupAndRestore, throttled), TensorBoard epoch logs, one Rich line per epoch.",
           "- **plain**: `model.fit(x_train, y_train, batch_size=32, shuffle=True, validation_data=...)` on the "
           "NumPy arrays, no augmentation, no callbacks."]
    if "edgekit_batches" in s:
        md.append("- **edgekit_batches**: the plain fit on edgekit's tf.data batches (shuffle and shifts) instead of "
                  "the arrays, no callbacks: the input pipeline on its own.")
    if "plain_nondeterministic" in s:
        md.append("- **plain_nondeterministic**: the plain fit with TensorFlow op determinism off.")
    md.append("")
    md += ["| arm | median s/epoch (wall) | samples/s | median CPU s/epoch | samples/CPU-s | same seed, same history |",
           "| --- | ---: | ---: | ---: | ---: | --- |"]
    for arm, a in s.items():
        md.append(f"| {arm} | {a['median_epoch_seconds']:.3f} | {a['samples_per_second']:.1f} | "
                  f"{a['median_epoch_cpu_seconds']:.3f} | {a['samples_per_cpu_second']:.1f} | {a['repeatable']} |")
    md += ["", f"edgekit / plain fit, samples/s, from the medians over all rounds' epochs: **{doc['ratio']:.3f}x** "
           f"by the wall clock, **{doc['ratio_cpu_time']:.3f}x** by process CPU time; the median of the per-round "
           f"ratios (each round's two runs side by side, so load drift between rounds cancels): "
           f"**{doc['paired_ratio']:.3f}x** wall, **{doc['paired_ratio_cpu_time']:.3f}x** CPU. Target >= "
           f"{doc['target']} on all four: met {doc['meets_target']}.",
           f"Per-round ratios (wall): {', '.join(f'{r:.3f}' for r in doc['per_round_ratio'])}; "
           f"(CPU): {', '.join(f'{r:.3f}' for r in doc['per_round_ratio_cpu_time'])}.",
           "CPU time counts every thread's seconds, spin-waiting included: a run that gets both cores more often "
           "finishes sooner by the wall clock and may spend more CPU time; neither clock alone is the work done."]
    if "determinism_speed_ratio" in doc:
        md.append(f"Plain fit without / with op determinism: {doc['determinism_speed_ratio']:.3f}x samples/s.")
    md += ["", "Load average (1 min) at the start of each run: "
           + ", ".join(f"{r['arm']} {r['load_1min']:.1f}" for r in doc["run_log"]), ""]
    md += [f"## Where edgekit's extra time per epoch goes (one instrumented run of {prof['epochs']} epochs, "
           "not in the medians)", "",
           "| callback | hook | calls | wall ms per epoch | CPU s total |", "| --- | --- | ---: | ---: | ---: |"]
    for h in prof["callback_hooks"]:
        md.append(f"| {h['callback']} | {h['hook']} | {h['calls']} | {h['wall_ms_per_epoch']:.1f} | "
                  f"{h['cpu_s_total']:.3f} |")
    p = prof["input_pipeline_cpu_ms_per_epoch"]
    md += ["", "What this showed, and what changed in edgekit/training/ (the spikes in edgekit's epochs before):", "",
           "- The resume checkpoint (BackupAndRestore) costs ~0.2 s wall per save, a fifth of an epoch here; it "
           "was written whenever 5% of training time had passed, i.e. every few epochs, each of those epochs "
           "~0.2 s longer (more under load). It now saves after the first epoch and then at most 1% of training "
           "time (training/loop.py, "
           "BACKUP_COST_SHARE); in these 8-epoch runs only the first, left-out epoch saves.",
           "- The tf.data batches were mapped by one thread with tf.data's autotuner on: on this loaded machine "
           "steps waited for batches beyond their CPU time. The map is now parallel and deterministic, single-"
           "threaded inside, autotuner off (batches.py); same batches, same histories.",
           "- Left as they are: early stopping's best-weights copy (`get_weights`, ~10 ms per improving epoch, "
           "~1%; a compiled copy costs ~1 ms but ~0.5 s to trace once per fit, no gain over a run), TensorBoard "
           "epoch scalars and the Rich line (a few ms per epoch), validation (both arms validate every epoch)."]
    md += ["", f"Input pipeline, CPU ms per epoch of batches (drawn on their own, prefetched in a background "
           f"thread during training): edgekit with shifts {p['edgekit_augmented']}, without "
           f"{p['edgekit_no_augmentation']}, Keras' array adapter (plain fit) {p['keras_array_adapter']}; "
           f"the epoch itself takes ~{prof['median_epoch_seconds'] * 1e3:.0f} ms.", "",
           "Raw per-epoch seconds (first epoch included, left out of the medians):", ""]
    for arm, rs in doc["runs"].items():
        for i, r in enumerate(rs):
            md.append(f"- {arm}, round {i + 1}: " + ", ".join(f"{x:.2f}" for x in r["epoch_seconds"]))
    md += ["", "Raw per-epoch process CPU seconds:", ""]
    for arm, rs in doc["runs"].items():
        for i, r in enumerate(rs):
            md.append(f"- {arm}, round {i + 1}: " + ", ".join(f"{x:.2f}" for x in r["epoch_cpu_seconds"]))
    others = sorted(f.name for f in (HERE / "results").glob("train_overhead*.md"))
    md += ["", "Runs of this script kept side by side (each states its own conditions): "
           + ", ".join(f"[{n}]({n})" for n in others) + "."]
    return "\n".join(md) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pipeline-arm", action="store_true", help="also time a plain fit on edgekit's tf.data batches")
    ap.add_argument("--determinism-arm", action="store_true", help="also time a plain fit without op determinism")
    ap.add_argument("--stem", default="train_overhead", help="results file name (e.g. for a pinned-thread run)")
    ap.add_argument("--note", default="", help="conditions of the run, e.g. 'measured under load'")
    args = ap.parse_args()
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2 (the first epoch is left out of the medians)")

    ds = load_dataset("digits", input_shape=SHAPE, seed=SEED)
    assert TrainConfig().batch_size == BATCH and TrainConfig().learning_rate == 2e-3  # plain compiles the same
    arms = {"edgekit": None, "plain": True}
    if args.pipeline_arm:
        arms["edgekit_batches"] = True
    if args.determinism_arm:
        arms["plain_nondeterministic"] = False
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    log = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(arms) if r % 2 == 0 else list(reversed(arms))  # alternate so drift hits all arms
            for arm in order:
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                res = (run_edgekit(args.epochs, Path(tmp)) if arm == "edgekit"
                       else run_plain(ds, args.epochs, arms[arm], batches=arm == "edgekit_batches"))
                runs[arm].append(res)
                log.append({"round": r + 1, "arm": arm, "load_1min": round(load, 2),
                            "seconds": round(time.perf_counter() - t0, 1)})
                print(f"round {r + 1} {arm} (load {load:.1f}): epochs "
                      + " ".join(f"{s:.2f}" for s in res["epoch_seconds"]) + " | cpu "
                      + " ".join(f"{s:.2f}" for s in res["epoch_cpu_seconds"]), flush=True)
        prof = profile(ds, args.epochs, Path(tmp))
    n = len(ds.x_train)
    summary = summarize(runs, n)
    ratio = summary["edgekit"]["samples_per_second"] / summary["plain"]["samples_per_second"]
    ratio_cpu = summary["edgekit"]["samples_per_cpu_second"] / summary["plain"]["samples_per_cpu_second"]
    doc = {
        "what": f"{MODEL} {PARAMS} {SHAPE} on digits ({n} train samples), batch {BATCH}, {args.epochs} epochs x "
                f"{args.rounds} rounds per arm, alternating in one process; medians leave out each run's first epoch",
        "ratio": round(ratio, 4), "ratio_cpu_time": round(ratio_cpu, 4), "target": 0.95,
        "per_round_ratio": per_round_ratios(runs, "epoch_seconds"),
        "per_round_ratio_cpu_time": per_round_ratios(runs, "epoch_cpu_seconds"),
        "paired_ratio": round(statistics.median(per_round_ratios(runs, "epoch_seconds")), 4),
        "paired_ratio_cpu_time": round(statistics.median(per_round_ratios(runs, "epoch_cpu_seconds")), 4),
        "arms": summary, "runs": runs, "run_log": log, "profile": prof, "note": args.note,
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "tf_threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter": tf.config.threading.get_inter_op_parallelism_threads()},
    }
    doc["meets_target"] = bool(min(ratio, ratio_cpu, doc["paired_ratio"], doc["paired_ratio_cpu_time"]) >= 0.95)
    if args.determinism_arm:
        doc["determinism_speed_ratio"] = round(summary["plain_nondeterministic"]["samples_per_second"]
                                               / summary["plain"]["samples_per_second"], 4)
    res_dir = HERE / "results"
    path = write_results(res_dir / f"{args.stem}.json", doc)
    doc = json.loads(path.read_text())
    md = render(doc)
    write_markdown(path, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
