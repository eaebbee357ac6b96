"""Wall time of `edgekit demo` (no flags) as a user runs it: N consecutive runs in fresh processes.

    python benchmarks/demo_wall.py [--runs 3] [--work /tmp/edgekit-demo-wall]

Each run is `python -m edgekit.cli demo --out <work>/run<i>` in its own process (imports, training,
exports, TFLM, vela, report: everything the README's first block does after the install). Records
the wall seconds, exit code, the 1/5/15-minute load average at the start (a busy machine shows
there), and from each run's report.json the Keras and int8 test accuracy and the epochs trained.
Writes benchmarks/results/demo_wall.{json,md} with provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def one_run(out: Path) -> dict:
    load = os.getloadavg()
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "edgekit.cli", "demo", "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    row = {"wall_s": round(wall, 1), "exit": res.returncode, "load_avg_at_start": [round(x, 2) for x in load]}
    try:
        rep = json.loads((out / "report.json").read_text())
        int8 = next(a for a in rep["artifacts"] if a["format"] == "tflite" and a["precision"] == "int8")
        row.update(keras_test_accuracy=rep["training"]["test_accuracy"], int8_accuracy=int8["accuracy"],
                   epochs=rep["training"]["epochs_run"], training_s=rep["training"]["seconds"])
    except (OSError, KeyError, StopIteration, ValueError) as e:
        row["report_error"] = f"{type(e).__name__}: {e}"
        row["stderr_tail"] = res.stderr[-1500:]
    return row


def render(doc: dict) -> str:
    from _provenance import provenance_line

    lines = ["# `edgekit demo` wall time", "", provenance_line(doc), "",
             "| run | wall s | exit | load avg at start | Keras test acc | int8 acc | epochs | training s |",
             "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    def f(v):
        return "—" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    for i, r in enumerate(doc["runs"], 1):
        lines.append(f"| {i} | {r['wall_s']} | {r['exit']} | {' '.join(map(str, r['load_avg_at_start']))} "
                     f"| {f(r.get('keras_test_accuracy'))} | {f(r.get('int8_accuracy'))} | {f(r.get('epochs'))} "
                     f"| {f(r.get('training_s'))} |")
    lines += ["", f"Median wall: {doc['median_wall_s']} s; every run ≤ 180 s: {doc['all_within_180_s']}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    import statistics

    from _provenance import write_markdown, write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/edgekit-demo-wall")
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    runs = []
    for i in range(args.runs):
        out = Path(args.work) / f"run{i + 1}"
        row = one_run(out)
        print(f"run {i + 1}: {row['wall_s']} s, exit {row['exit']}, load {row['load_avg_at_start']}", flush=True)
        runs.append(row)
    walls = [r["wall_s"] for r in runs]
    doc = {"runs": runs, "median_wall_s": round(statistics.median(walls), 1),
           "all_within_180_s": all(w <= 180 and r["exit"] == 0 for w, r in zip(walls, runs))}
    path = write_results(Path(args.results) / "demo_wall.json", doc)
    write_markdown(path, render(json.loads(path.read_text())))
    return 0 if doc["all_within_180_s"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
