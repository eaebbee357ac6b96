"""`edgekit bench` against `litert-benchmark` on the same MobileNetV2 1.0/224 .tflite, 1 thread.

keras.applications' MobileNetV2 (random weights: no download here) is converted by hand with
tf.lite.TFLiteConverter, then both tools time the same file, alternating, several rounds, each
in its own process. Writes benchmarks/results/bench_vs_litert.{json,md}: every round keeps both
tools' raw timings (edgekit's per-run list, litert-benchmark's own result JSON), and the file
records its provenance (benchmarks/_provenance.py: commit, date, machine, package versions).

    python benchmarks/bench_vs_litert.py [--rounds 5] [--runs 100]
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
BIN = Path(sys.executable).parent


def convert(path: Path) -> None:
    code = (
        "import os; os.environ['TF_USE_LEGACY_KERAS']='1'\n"
        "from edgekit._tf import tf, keras\n"
        "m = keras.applications.MobileNetV2(weights=None)\n"
        f"open({str(path)!r}, 'wb').write(tf.lite.TFLiteConverter.from_keras_model(m).convert())\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def edgekit_p50(model: Path, runs: int, warmup: int, out: Path) -> tuple[float, dict]:
    """p50 and the raw record (every timed run, in ms)."""
    subprocess.run([str(BIN / "edgekit"), "bench", str(model), "--threads", "1", "--runs", str(runs),
                    "--warmup", str(warmup), "--json", str(out), "--no-roofline"], check=True, capture_output=True)
    lat = json.loads(out.read_text())["results"][0]["latency_ms"]
    return lat["p50"], {"raw_ms": lat["raw"]}


def litert_p50(model: Path, runs: int, warmup: int, out: Path) -> tuple[float, dict]:
    """median and litert-benchmark's whole result JSON (its own raw record, whatever it holds)."""
    subprocess.run([str(BIN / "litert-benchmark"), "--model", str(model), "--num_runs", str(runs),
                    "--warmup_runs", str(warmup), "--num_threads", "1", "--result_json", str(out)],
                   check=True, capture_output=True)
    data = json.loads(out.read_text())
    lat = data.get("latency", data)
    return float(lat["median_ms"]), {"result_json": data}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "mobilenet_v2_1.0_224_fp32.tflite"
        print("converting keras.applications MobileNetV2 1.0/224 ...", flush=True)
        convert(model)
        rows = []
        for r in range(args.rounds):
            # Alternate the order so drift on a noisy machine hits both tools alike.
            first, second = (edgekit_p50, litert_p50) if r % 2 == 0 else (litert_p50, edgekit_p50)
            res, raw = {}, {}
            for fn, f in ((first, "a.json"), (second, "b.json")):
                res[fn.__name__], raw[fn.__name__.replace("_p50", "")] = fn(model, args.runs, args.warmup, tmp / f)
            res["raw"] = raw
            res["ratio"] = res["edgekit_p50"] / res["litert_p50"]
            rows.append(res)
            print(f"round {r + 1}: edgekit {res['edgekit_p50']:.3f} ms, litert-benchmark {res['litert_p50']:.3f} ms, "
                  f"ratio {res['ratio']:.3f}", flush=True)
    ratios = [r["ratio"] for r in rows]
    summary = {
        "model": "keras.applications MobileNetV2 1.0/224 fp32 (random weights), converted with tf.lite",
        "threads": 1, "runs": args.runs, "warmup": args.warmup, "rounds": rows,
        "median_ratio": statistics.median(ratios), "min_ratio": min(ratios), "max_ratio": max(ratios),
        "within_5_percent": abs(statistics.median(ratios) - 1) <= 0.05,
        "cpu_count": os.cpu_count(),
    }
    from _provenance import provenance_line, write_markdown, write_results

    path = write_results(out_dir / "bench_vs_litert.json", summary)
    summary = json.loads(path.read_text())
    md = ["# edgekit bench vs litert-benchmark", "", summary["model"] + ", 1 thread, "
          f"{args.runs} runs after {args.warmup} warm-up, {args.rounds} alternating rounds.", "",
          "| round | edgekit p50 ms | litert-benchmark median ms | ratio |", "| ---: | ---: | ---: | ---: |"]
    md += [f"| {i + 1} | {r['edgekit_p50']:.3f} | {r['litert_p50']:.3f} | {r['ratio']:.3f} |" for i, r in enumerate(rows)]
    md += ["", f"Median ratio **{summary['median_ratio']:.3f}** (spread {summary['min_ratio']:.3f}–"
           f"{summary['max_ratio']:.3f}); within ±5%: {summary['within_5_percent']}.", "",
           provenance_line(summary) + " Raw timings of both tools are in bench_vs_litert.json.", ""]
    write_markdown(path, "\n".join(md))
    print("\n".join(md))
    return 0 if summary["within_5_percent"] else 1


if __name__ == "__main__":
    sys.exit(main())
