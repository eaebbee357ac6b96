"""Where `edgekit demo`'s time goes: the demo's pipeline run with a timestamp on every console line.

Runs :func:`edgekit.pipeline.run` with the demo's arguments (MobileNetV2 alpha 0.35 on digits) and
records, for each stage (training, each export with its verify/bench/memory/profile, vela, the MCU
bundle, the other runtimes, ceilings and report), the wall-clock seconds and the CPU seconds of this
process and its finished children (``os.times()``). On a shared machine the CPU seconds are the
steadier figure: wall time stretches with the load, CPU time much less.

    python benchmarks/demo_stages.py [--note "measured under load"]

Writes benchmarks/results/demo_stages.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_IMPORT = time.perf_counter()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

STAGES = (("train", "[bold]train[/]"), ("bench keras", "[bold]bench[/] keras"), ("export tflite fp32", "[bold]export[/] tflite fp32"),
          ("export tflite int8", "[bold]export[/] tflite int8"), ("export onnx fp32", "[bold]export[/] onnx fp32"),
          ("npu (vela)", "[bold]npu[/]"), ("mcu bundle (TFLM)", "[bold]mcu[/]"), ("other runtimes", "[bold]bench[/] model_int8"))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class StageConsole:
    """Forwards to a Rich console and notes (stage, wall, cpu) when a line starts a new stage."""

    def __init__(self, console):
        self.console, self.marks = console, []

    def print(self, *a, **k):
        text = str(a[0]) if a else ""
        for name, prefix in STAGES:
            if text.startswith(prefix) and (not self.marks or self.marks[-1][0] != name):
                self.marks.append((name, time.perf_counter(), _cpu()))
        self.console.print(*a, **k)

    def __getattr__(self, item):
        return getattr(self.console, item)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    from rich.console import Console

    from edgekit.benchmarking.harness import machine_info
    from edgekit.pipeline import run

    marks = [("start (imports, data)", T_IMPORT, 0.0)]
    con = StageConsole(Console(stderr=True, soft_wrap=True))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = run("mobilenet_v2", "digits", params={"alpha": 0.35}, out=Path(tmp) / "demo", epochs=60, console=con)
    end = (time.perf_counter(), _cpu())
    marks += con.marks
    stages = []
    for i, (name, w, c) in enumerate(marks):
        w2, c2 = (marks[i + 1][1], marks[i + 1][2]) if i + 1 < len(marks) else end
        stages.append({"stage": name, "wall_s": round(w2 - w, 2), "cpu_s": round(c2 - c, 2)})
    stages[-1]["stage"] += " + ceilings, report, html, manifest"
    doc = {"stages": stages, "total_wall_s": round(end[0] - T_IMPORT, 1), "total_cpu_s": round(end[1], 1),
           "pipeline_wall_s": round(end[0] - t0, 1), "epochs_run": report["training"]["epochs_run"],
           "keras_test_accuracy": report["training"]["test_accuracy"],
           "artifacts": {f"{a['format']} {a['precision']}": a.get("accuracy") for a in report["artifacts"]},
           "note": args.note, "loadavg_end": [round(v, 2) for v in os.getloadavg()],
           "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip(),
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine_info()}
    from _provenance import write_markdown, write_results

    path = write_results(HERE / "results" / "demo_stages.json", doc)
    md = ["# Where `edgekit demo`'s time goes", "", f"{args.note} Load average at the end {doc['loadavg_end']}.", "",
          "| stage | wall s | CPU s (process + children) |", "| --- | ---: | ---: |"]
    md += [f"| {s['stage']} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} |" for s in stages]
    md += [f"| **total** | **{doc['total_wall_s']:.1f}** | **{doc['total_cpu_s']:.1f}** |", "",
           f"{doc['epochs_run']} epochs, Keras test accuracy {doc['keras_test_accuracy']:.4f}; "
           f"commit {doc['commit'][:12]}, {doc['date']}, {doc['machine']['cpu']}, {doc['machine']['cores']} cores.", ""]
    write_markdown(path, "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
