"""Latency of every registry model at its default input: params, MACs, TFLite fp32/int8 on LiteRT,
ONNX fp32 on onnxruntime (1 thread each, single sample) and the TFLM tensor arena of the int8 file.

Random weights (latency does not depend on their values); int8 calibrated on 16 random inputs of
the model's input range. Each model runs in its own child process (the big ResNets take minutes
and gigabytes in TensorFlow's converters), with a timeout; a failed cell is recorded, not fatal.
Resumable: models already in the results file are skipped (``--fresh`` to start over), so the
whole zoo can be measured in several sittings. ``--remeasure`` measures every wanted model again
in this run (models not in the file first), replacing each row as it completes, so an interrupted
re-measurement still leaves a complete table. Each row records the run it came from (start date,
commit, load average before and after it); the .md names the runs when rows come from more than one.

    python benchmarks/zoo_latency.py [--models 'mobilenet*,cnn'] [--runs 50] [--timeout 1500] [--fresh|--remeasure]

Writes benchmarks/results/zoo_latency.{json,md} (a ``rows`` list, one per model, key ``model``);
``edgekit models --latency`` shows it.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "results" / "zoo_latency.json"
COLUMNS = (("tflite_fp32_ms", "tflite", "fp32"), ("tflite_int8_ms", "tflite", "int8"), ("onnx_fp32_ms", "onnx", "fp32"))


def measure_one(name: str, runs: int, warmup: int) -> dict:
    import numpy as np

    from edgekit.artifact import Normalization
    from edgekit.benchmarking.harness import bench_row
    from edgekit.convert import export
    from edgekit.convert.mcu import build_mcu_bundle
    from edgekit.data import Dataset
    from edgekit.models import count_macs, count_params, create_model, get_spec

    spec = get_spec(name)
    net = create_model(name, input_shape=spec.default_input_shape)
    row: dict = {"model": name, "task": spec.task, "input": list(spec.default_input_shape),
                 "params": count_params(net), "macs": count_macs(net)}
    rng = np.random.default_rng(0)
    shape = (16,) + tuple(spec.default_input_shape)
    if net.inputs[0].dtype.is_integer:
        x = rng.integers(0, 10, size=shape).astype("int32")
    else:
        x = rng.uniform(-1, 1, size=shape).astype("float32")
    y = np.zeros(len(x), int)
    ds = Dataset(name, x, y, x, y, x, y, Normalization(), [], task=spec.task)
    with tempfile.TemporaryDirectory() as tmp:
        for key, fmt, prec in COLUMNS:
            try:
                art = export(net, to=fmt, precision=prec, data=ds, out=tmp, name=name)
                r = bench_row(art.path, None, 1, runs, warmup, memory="off", roofline=False)
                row[key] = round(r.latency_ms.p50, 4)
                row.setdefault("p90_ms", {})[key] = round(r.latency_ms.p90, 4)  # the spread, for noisy rows
            except Exception as e:  # noqa: BLE001 - one failed cell is recorded, the model goes on
                row[key] = None
                row.setdefault("errors", {})[key] = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:1000]}"
                continue
            if key == "tflite_int8_ms":
                try:  # the TFLM arena of the int8 file, where TFLM runs it
                    rep = build_mcu_bundle(art.path, Path(tmp) / "mcu", on_tflm_error="record")
                    row["tflm_arena_bytes"] = rep.arena_bytes
                    if rep.tflm_error:
                        row["tflm_error"] = rep.tflm_error[:1000]  # the whole reason
                except Exception as e:  # noqa: BLE001 - e.g. int32 token input: not an MCU model
                    row["tflm_error"] = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:1000]}"
    return row


# What a recorded TFLM failure turned out to be when someone looked (substring of the reason -> finding).
# Findings, not figures: each says how it was checked. Rows with random weights, so a trained model may differ.
FINDINGS = {
    "while creating the interpreter": (
        "gdb on mobilenet_v3_small's int8 file (2026-11-30): abort in TFLM's QuantizeMultiplierGreaterThanOne "
        "called from CalculateSoftmaxParams (softmax Prepare), the untrained-softmax case edgekit/runtime/tflm.py "
        "describes; the other MobileNets were not traced."),
    "Failed to initialize output tensor 0": (
        "gdb on resnet18's int8 file (2026-11-30): abort in TFLM's SoftmaxEval, also at 3,377,888 B (twice the "
        "1,688,944 B bisected arena) in a fresh worker; the 'last message' is left over from a too-small arena probe earlier in "
        "the same worker (edgekit's crash message quotes the worker's last stderr line), not the cause. The other "
        "ResNets were not traced."),
}

# Why some int8 rows are slower than fp32, as checked (LiteRT's node list after XNNPACK delegation).
SLOWER_INT8 = (
    "int8 slower than fp32: in mobilenet_v3_small's int8 file XNNPACK leaves all 19 HARD_SWISH nodes to LiteRT's "
    "built-in kernels, cutting the graph into 20 delegate partitions (fp32: 1 partition, everything delegated); "
    "in lstm's, XNNPACK takes no UNIDIRECTIONAL_SEQUENCE_LSTM in either precision and the int8 file runs TFLite's "
    "integer LSTM kernel (int8 weights, int32 biases) instead of the float one (checked 2026-11-30 on these two; "
    "MobileNetV3-large, bilstm, seq_attention, transformer_encoder, vit_tiny and ds_cnn not traced).")


def _reason(text: str) -> str:
    """A recorded TFLM error without its temporary path, so equal reasons of different models group."""
    text = re.sub(r"/\S*?/\w+_int8\.tflite: ", "", text)
    text = re.sub(r"/\S*?/\w+_int8\.tflite", "the int8 file", text)
    return text.replace("EdgekitError: ", "")


def _runs(doc: dict) -> list[str]:
    """The distinct runs the rows come from, oldest first."""
    return sorted({(r.get("measured") or {}).get("run", "?") for r in doc["rows"]})


def markdown(doc: dict) -> str:
    def ms(v):
        return "—" if v is None else f"{v:.3f}"

    runs = _runs(doc)
    letter = {run: chr(ord("A") + i) for i, run in enumerate(runs)}
    several = len(runs) > 1
    reasons: list[str] = []
    lines = ["# Zoo latency: every registry model at its default input", "",
             (f"{doc['machine']['cpu']}, {doc['machine']['cores']} cores; 1 thread, single sample, p50 after warm-up "
              f"(runs per row below); random weights; int8 calibrated on {doc.get('calibration_samples', 16)} random "
              "inputs of the model's input range (latency does not depend on calibration quality). "
              f"{doc.get('note', '')}"), "",
             ("| model | task | input | params | M MACs | TFLite fp32 ms | TFLite int8 ms | ONNX fp32 ms | TFLM arena KB "
              "| load |" + (" run |" if several else "")),
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" --- |" if several else "")]
    for r in doc["rows"]:
        m = r.get("measured") or {}
        tag = (" —" if m.get("load_before") is None else f" {m['load_before']:.1f}") + " |"
        tag += f" {letter[m.get('run', '?')]} |" if several else ""
        if r.get("error"):
            lines.append(f"| {r['model']} | | | | | failed: {r['error'][:160]} | | | |{tag}")
            continue
        if r.get("tflm_arena_bytes"):
            arena = f"{r['tflm_arena_bytes'] / 1024:,.1f}"
        elif r.get("tflm_error"):
            why = _reason(r["tflm_error"])
            if why not in reasons:
                reasons.append(why)
            arena = f"TFLM failed ({reasons.index(why) + 1})"
        else:
            arena = "—"
        lines.append(f"| {r['model']} | {r['task']} | {'x'.join(map(str, r['input']))} | {r['params']:,} | "
                     f"{(r['macs'] or 0) / 1e6:,.1f} | {ms(r.get('tflite_fp32_ms'))} | {ms(r.get('tflite_int8_ms'))} | "
                     f"{ms(r.get('onnx_fp32_ms'))} | {arena} |{tag}")
    if reasons:
        lines += ["", "TFLM failed, as recorded (the full text is the row's `tflm_error` in the JSON):", ""]
        for i, why in enumerate(reasons, 1):
            found = [note for key, note in FINDINGS.items() if key in why]
            lines.append(f"{i}. {why}" + "".join(f" *Checked:* {note}" for note in found))
    noisy = [f"{r['model']} {key.removesuffix('_ms').replace('_', ' ')} (p90 {p90:.3f} vs p50 {r[key]:.3f})"
             for r in doc["rows"] for key, p90 in (r.get("p90_ms") or {}).items()
             if r.get(key) and p90 > 1.5 * r[key]]
    if noisy:
        lines += ["", ("Noisy cells (p90 over 1.5x the p50 of the same 30 runs: another job ran during them; read "
                       "these p50s with care): " + "; ".join(noisy) + ".")]
    lines += ["", SLOWER_INT8]
    lines += ["", ("load: the 1-minute load average of the machine (2 cores, shared) just before the row was "
                   "measured; its `measured` in the JSON has the load after it too."), "",
              "Runs (each row records its own `measured`: run start, commit, load average before/after it):", ""]
    for run in runs:
        rows = [r for r in doc["rows"] if (r.get("measured") or {}).get("run", "?") == run]
        m = rows[0].get("measured") or {}
        loads = [x for r in rows for x in ((r.get("measured") or {}).get("load_before"),
                                          (r.get("measured") or {}).get("load_after")) if x is not None]
        load = (f"1-min load average {min(loads):.1f}-{max(loads):.1f} around its rows" if loads
                else m.get("note") or "load not recorded per row")
        lines.append(f"- {'run ' + letter[run] + ': ' if several else ''}started {run}, commit "
                     f"{(m.get('commit') or '?')[:12]}, {m.get('runs', doc['runs'])} runs after "
                     f"{m.get('warmup', doc['warmup'])} warm-up, {len(rows)} rows; {load}.")
    if several:
        lines += ["", ("Rows of different runs were measured at different times and loads on a shared machine: "
                       "compare figures within one run.")]
    missing = doc.get("missing") or []
    failed = [r["model"] for r in doc["rows"] if r.get("error")]
    lines += ["", (f"{len(doc['rows']) - len(failed)} of {len(doc['rows']) + len(missing)} registry models measured"
                   + (f"; failed: {', '.join(failed)}" if failed else "")
                   + (f"; not yet: {', '.join(missing)}" if missing else "")
                   + (" (rerun the script to retry)." if failed or missing else ".")),
              (f"File written at commit {((doc.get('provenance') or {}).get('commit') or '?')[:12]}, "
               f"{(doc.get('provenance') or {}).get('date')}."), ""]
    return "\n".join(lines)


def _child_failure(res: subprocess.CompletedProcess) -> str:
    """Why a model's child process gave no row: its exit (a signal such as SIGKILL from the OOM killer
    says so) and the last exception line of its stderr, not merely the last line (often a warning)."""
    import signal

    rc = res.returncode
    how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
    err = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    exc = [ln for ln in err if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", ln)]
    return f"child {how}: {(exc or err or ['no output'])[-1][:1000]}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="*", help="comma-separated shell patterns")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=1500)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--remeasure", action="store_true",
                    help="measure every wanted model again (missing ones first); old rows stay until replaced")
    ap.add_argument("--note", default="")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the JSON, measure nothing")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.one:
        print("ROW " + json.dumps(measure_one(args.one, args.runs, args.warmup), default=float), flush=True)
        return 0
    if args.markdown_only:
        from edgekit._io import write_text

        write_text(RESULTS.with_suffix(".md"), markdown(json.loads(RESULTS.read_text())))
        return 0
    from _provenance import write_markdown, write_results

    from edgekit.benchmarking.harness import machine_info
    from edgekit.models import list_models

    everything = list_models("*")
    pats = [p.strip() for p in args.models.split(",") if p.strip()]
    wanted = [n for n in everything if any(fnmatch.fnmatch(n, p) for p in pats)]
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() and not args.fresh else {"rows": []}
    for r in doc["rows"]:  # rows from before per-row provenance: the file-level record was theirs
        r.setdefault("measured", {"run": doc.get("date", "?"), "commit": doc.get("commit"), "runs": doc.get("runs"),
                                  "warmup": doc.get("warmup"), "note": doc.get("note") or None})
    doc.pop("commit", None), doc.pop("date", None)  # now in each row's "measured" and in "provenance"
    done = {r["model"] for r in doc["rows"] if not r.get("error")}
    doc["rows"] = [r for r in doc["rows"] if r["model"] in done]
    todo = [n for n in wanted if n not in done] + ([n for n in wanted if n in done] if args.remeasure else [])
    from _provenance import provenance

    p = provenance()
    run = {"run": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "commit": p["commit"], "dirty": p["dirty"],
           "runs": args.runs, "warmup": args.warmup}
    print(f"{len(todo)} models to measure: {', '.join(todo)}", flush=True)
    for name in todo:
        t0 = time.time()
        load_before = round(os.getloadavg()[0], 2)
        try:
            res = subprocess.run([sys.executable, __file__, "--one", name, "--runs", str(args.runs), "--warmup",
                                  str(args.warmup)], capture_output=True, text=True, timeout=args.timeout, check=False,
                                 env={**os.environ, "PYTHONPATH": str(HERE.parent)})
            lines = [ln for ln in res.stdout.splitlines() if ln.startswith("ROW ")]
            row = json.loads(lines[-1][4:]) if lines else {"model": name, "error": _child_failure(res)}
        except subprocess.TimeoutExpired:
            row = {"model": name, "error": f"timed out after {args.timeout:.0f} s"}
        row["seconds"] = round(time.time() - t0, 1)
        row["measured"] = {**run, "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                           "load_before": load_before, "load_after": round(os.getloadavg()[0], 2)}
        doc["rows"] = [r for r in doc["rows"] if r["model"] != name] + [row]
        doc["rows"].sort(key=lambda r: everything.index(r["model"]) if r["model"] in everything else 1e9)
        measured = {r["model"] for r in doc["rows"]}
        doc.update(runs=args.runs, warmup=args.warmup, threads=1, calibration_samples=16, note=args.note or doc.get("note", ""),
                   missing=[n for n in everything if n not in measured], machine=machine_info())
        path = write_results(RESULTS, doc)  # + provenance: commit, date, versions; never over an earlier run
        doc = json.loads(path.read_text())
        write_markdown(path, markdown(doc))
        print(f"{name}: {json.dumps({k: v for k, v in row.items() if k not in ('input',)})}", flush=True)
    return 0



if __name__ == "__main__":
    sys.exit(main())
