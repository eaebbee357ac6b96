"""Trials per hour of one search with 1 worker (in-process) and with 2 workers (chief + 2 pinned
worker processes), on this machine.

    /work/venv/bin/python benchmarks/tune_workers.py [--trials 6] [--epochs 4] [--model mobilenet_v2]

Both runs are the same search (same model, seed, oracle, pinned hyperparameters), so the random
oracle proposes the same points. Wall time covers everything a user waits for: process start-up,
training, export, LiteRT timing (serialized by the measure gate) and TFLM arena measurement, but
not the final report/bundle (timed separately). Writes benchmarks/results/tune_workers.{json,md}.

Caveat printed with the result: on a 2-core machine, the 1-worker run already uses both cores for
TensorFlow's intra-op threads, so the 2-worker gain comes from small models not filling two cores
and from overlapping the single-threaded phases (conversion, timing, TFLM); other load on the
machine during the run distorts both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _search_seconds(out: Path) -> float:
    """From the first trial's start to the last trial's end, via keras-tuner's own trial files."""
    proj = out / "search" / "tune"
    ends = [p.stat().st_mtime for p in proj.glob("trial_*/trial.json")]
    return max(ends) - out.joinpath("run.json").stat().st_mtime


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)

    from rich.console import Console

    from edgekit.benchmarking.harness import machine_info
    from edgekit.tuning import TuneConfig, tune

    console = Console(stderr=True, soft_wrap=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tune-workers-"))
    fixed = {"alpha": 0.35, "resolution": 32, "optimizer": "adam"} if args.model.startswith("mobilenet") else {}
    rows = []
    for workers in (1, 2):
        out = work / f"w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        cfg = TuneConfig(trials=args.trials, epochs=args.epochs, patience=args.epochs, workers=workers, fixed=fixed,
                         bench_runs=50)
        t0 = time.time()
        res = tune(args.model, "digits", out=out, config=cfg, console=console)
        total = time.time() - t0
        search = _search_seconds(out)
        done = sum(t["status"] == "COMPLETED" for t in res.trials)
        rows.append({"workers": workers, "trials_completed": done, "search_seconds": round(search, 1),
                     "total_seconds": round(total, 1), "trials_per_hour": round(done / search * 3600, 1),
                     "median_latency_ms": sorted(t["latency_ms"] for t in res.trials if t["latency_ms"])[done // 2],
                     # one trial's own wall time (train + export + measure): on one pinned core vs
                     # the whole machine, this is what decides the speed-up
                     "median_trial_seconds": statistics.median(t["seconds"] for t in res.trials if t.get("seconds")),
                     "load_average_after": os.getloadavg()})
        console.print(rows[-1])
    ratio = rows[1]["trials_per_hour"] / rows[0]["trials_per_hour"]
    result = {"model": args.model, "fixed": fixed, "trials": args.trials, "epochs": args.epochs, "rows": rows,
              "speedup_2_vs_1": round(ratio, 2), "cores": len(os.sched_getaffinity(0)), "machine": machine_info()}
    res_dir = ROOT / "benchmarks" / "results"
    from _provenance import provenance_line, write_markdown, write_results

    path = write_results(res_dir / "tune_workers.json", result)
    result = json.loads(path.read_text())
    md = [f"# tune: 1 vs 2 workers ({args.model} {fixed}, {args.trials} trials x {args.epochs} epochs, digits)", "",
          f"Machine: {result['machine']['cpu']}, {result['cores']} cores available.", "", provenance_line(result), "",
          "| workers | trials | search s | trials/hour | median s per trial | median latency ms | load avg after |",
          "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        md.append(f"| {r['workers']} | {r['trials_completed']} | {r['search_seconds']} | {r['trials_per_hour']} | "
                  f"{r['median_trial_seconds']:.1f} | "
                  f"{r['median_latency_ms']:.4f} | {', '.join(f'{x:.1f}' for x in r['load_average_after'])} |")
    md += ["", f"2 workers / 1 worker: **{ratio:.2f}x** trials per hour (target in issue 6: >= 1.7x).", "",
           "1 worker runs in-process with TensorFlow's default threads (both cores); each of the 2 workers is "
           "pinned to one core with one TensorFlow thread. Search seconds run from the start of the search to "
           "the last trial file written (process start-up included for 2 workers). Other processes on the "
           "machine during the run (see load average) slow both runs."]
    write_markdown(path, "\n".join(md) + "\n")
    console.print(f"speedup {ratio:.2f}x; wrote {res_dir / 'tune_workers.md'}")


if __name__ == "__main__":
    main()
