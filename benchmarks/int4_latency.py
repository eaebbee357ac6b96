"""CPU latency of weight-only int4 beside fp32 and int8: the files a compress run left, timed alternately.

    nice -n 15 python benchmarks/int4_latency.py /tmp/splits-bench/mobilenet_v1/compressed --rounds 5

compress times each variant once, in table order, so on a shared machine two rows can be minutes apart
under different load. Here litert-benchmark (the official tool, 1 thread) times every file in each
round, round after round, and the table keeps each file's median of round medians and its ratio to
fp32 in the same rounds. Writes benchmarks/results/int4_latency.{json,md} (stamped when one exists).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("baseline_fp32", "ptq_int8", "aiq_w4_channel", "aiq_mixed", "channel")


def litert_median_ms(path: Path, runs: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        subprocess.run(["litert-benchmark", "--model", str(path), "--num_runs", str(runs), "--warmup_runs",
                        str(warmup), "--num_threads", "1", "--result_json", str(out)],
                       check=True, capture_output=True, text=True)
        return float(json.loads(out.read_text())["latency"]["median_ms"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a compress --out folder")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    from _provenance import provenance_line, write_markdown, write_results

    files = {k: args.folder / f"{k}.tflite" for k in FILES if (args.folder / f"{k}.tflite").is_file()}
    comp = json.loads((args.folder / "compression.json").read_text())
    sizes = {k: p.stat().st_size for k, p in files.items()}
    rounds = []
    for _ in range(args.rounds):
        load = os.getloadavg()[0]
        rounds.append({"load_before": round(load, 2),
                       "median_ms": {k: litert_median_ms(p, args.runs, args.warmup) for k, p in files.items()}})
        print(json.dumps(rounds[-1]), flush=True)
    med = {k: statistics.median(r["median_ms"][k] for r in rounds) for k in files}
    ratio = {k: statistics.median(r["median_ms"][k] / r["median_ms"]["baseline_fp32"] for r in rounds) for k in files}
    doc = {"folder": str(args.folder), "runs": args.runs, "warmup": args.warmup, "threads": 1, "bytes": sizes,
           "test_drop": {v["name"]: v.get("drop") for v in comp["variants"] if v["name"] in files},
           "rounds": rounds, "median_ms": med, "ratio_to_fp32": ratio}
    path = write_results(Path(args.results) / "int4_latency.json", doc)
    doc = json.loads(path.read_text())
    md = ["# Weight-only int4 on LiteRT's CPU path: size against time", "",
          f"Files of `{args.folder}`; litert-benchmark, 1 thread, {args.runs} runs after {args.warmup} warm-up, "
          f"{args.rounds} rounds, every file in every round; 1-min load before each round: "
          f"{', '.join(str(r['load_before']) for r in rounds)}.", "", provenance_line(doc), "",
          "| file | bytes | x fp32 bytes | median ms | x fp32 time (per round, median) | test drop (pt) |",
          "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for k in files:
        d = doc["test_drop"].get(k)
        md.append(f"| {k} | {sizes[k]:,} | {sizes[k] / sizes['baseline_fp32']:.3f} | {med[k]:.3f} | {ratio[k]:.2f} | "
                  f"{'' if d is None else f'{d * 100:+.2f}'} |")
    write_markdown(path, "\n".join(md) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
