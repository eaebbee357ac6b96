"""tune + compress on digits against the estimated Cortex-M4 latency of an untuned MobileNetV2 1.0/96.

    PYTHONPATH=. python benchmarks/mcu_tune.py [--trials 8] [--epochs 10] [--target nucleo-l4r5zi]

1. Baseline: MobileNetV2 alpha 1.0 at 96x96 trained on digits with edgekit's trainer for the same
   epochs as a tuning trial, full-int8 TFLite, its estimated latency L0 on the target
   (edgekit.benchmarking.mcu_estimate, TFLM + CMSIS-NN) and its test accuracy.
2. ``tune`` mobilenet_v2 on digits with ``--target`` and ``--max-mcu-latency-ms 0.25 * L0``:
   every trial carries its estimate; the best is the most accurate trial within the budget.
3. ``compress`` the tuned model: full-int8 variants (PTQ, channel pruning int8), each estimated.
4. The claim: the chosen int8 model is within 1 point of the best accuracy found (baseline or
   tuned, Keras test accuracy) at <= 0.25x L0.

Writes benchmarks/results/mcu_tune.{json,md} with provenance. Run on a shared 2-core machine:
wall times are only indicative.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _int8_accuracy(path: Path, ds) -> float:
    from edgekit.runtime.litert import LiteRTRunner

    y = LiteRTRunner(path, threads=1).run(ds.x_test)
    return float(np.mean(np.argmax(y.reshape(len(ds.x_test), -1), axis=1) == ds.y_test))


def _f(v, spec="{:.4f}") -> str:
    return "" if v is None else spec.format(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--target", default="nucleo-l4r5zi")
    ap.add_argument("--out", type=Path, default=Path("/tmp/edgekit-mcu-tune"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from rich.console import Console

    from edgekit import _io
    from edgekit.benchmarking.harness import machine_info
    from edgekit.benchmarking.mcu_estimate import estimate_mcu
    from edgekit.compression import compress
    from edgekit.convert import export
    from edgekit.training import train
    from edgekit.tuning import Budgets, TuneConfig, tune
    from edgekit.tuning.tuner import load_tune_dataset

    console = Console(stderr=True, soft_wrap=True)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    # 1. the untuned baseline
    console.print("[bold]baseline[/] mobilenet_v2 alpha 1.0 at 96x96")
    base = train("mobilenet_v2", "digits", params={"alpha": 1.0, "input_shape": (96, 96, 3)}, out=out / "baseline",
                 epochs=args.epochs, seed=args.seed, console=console)
    base_art = export(base.model_path, to="tflite", precision="int8", data=base.dataset, out=out / "baseline",
                      name="baseline", seed=args.seed)
    base_est = estimate_mcu(base_art.path, args.target)
    budget = 0.25 * base_est.latency_ms
    baseline = {"model": "mobilenet_v2", "alpha": 1.0, "resolution": 96, "macs": base.card.macs,
                "keras_test_accuracy": base.metrics["accuracy"], "int8_test_accuracy": _int8_accuracy(base_art.path, base.dataset),
                "mcu_latency_ms": base_est.latency_ms, "fits": base_est.fits.model_dump(), "seconds": round(base.seconds, 1)}
    console.print(f"  baseline: accuracy {baseline['keras_test_accuracy']:.4f}, {base_est.latency_ms:.0f} ms on "
                  f"{args.target}; budget {budget:.0f} ms")

    # 2. the search, scored on the estimate
    res = tune("mobilenet_v2", "digits", out=out / "tune", console=console,
               config=TuneConfig(trials=args.trials, epochs=args.epochs, seed=args.seed),
               budgets=Budgets(target=args.target, max_mcu_latency_ms=budget))
    best = res.best
    completed = [t for t in res.trials if t["status"] == "COMPLETED"]

    # 3. compress the tuned model; every full-int8 variant estimated
    ds = load_tune_dataset("mobilenet_v2", "digits", best.get("resolution"), args.seed)
    rep = compress(Path(best["dir"]) / "model.keras", ds, out=out / "compress", only=["ptq_int8", "channel_int8"],
                   console=console)
    variants = []
    for v in rep.variants:
        row = {k: v.get(k) for k in ("name", "precision", "bytes", "accuracy", "drop", "error")}
        if v.get("path") and v.get("precision") == "int8":
            e = estimate_mcu(v["path"], args.target)
            row.update(mcu_latency_ms=e.latency_ms, macs=e.macs, fits=e.fits.model_dump())
        variants.append(row)

    # 4. the claim
    best_found = max(baseline["keras_test_accuracy"], rep.baseline["accuracy"])
    ok = [v for v in variants if v.get("mcu_latency_ms") is not None and v["mcu_latency_ms"] <= budget
          and v.get("accuracy") is not None]
    chosen = max(ok, key=lambda v: (v["accuracy"], -v["mcu_latency_ms"])) if ok else None
    met = bool(chosen and chosen["accuracy"] >= best_found - 0.01)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    result = {
        "target": args.target, "trials": args.trials, "epochs": args.epochs, "seed": args.seed,
        "baseline": baseline, "budget_ms": budget,
        "trials_table": [{k: t.get(k) for k in ("id", "status", "knobs", "resolution", "val_accuracy", "latency_ms",
                                                 "mcu_latency_ms", "bytes", "feasible", "error")} for t in res.trials],
        "tuned": {"id": best["id"], "knobs": best.get("knobs"), "resolution": best.get("resolution"),
                  "val_accuracy": best["val_accuracy"], "keras_test_accuracy": rep.baseline["accuracy"]},
        "compressed": variants, "best_accuracy_found": best_found, "chosen": chosen,
        "claim": {"within_1_point": met, "latency_ratio": chosen["mcu_latency_ms"] / base_est.latency_ms if chosen else None},
        "seconds": round(time.time() - t0, 1),
        "provenance": {"commit": commit, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                       "machine": machine_info(), "note": "shared 2-core machine under load; wall times indicative"},
    }
    res_dir = ROOT / "benchmarks" / "results"
    _io.write_json(res_dir / "mcu_tune.json", result)
    md = [f"# tune + compress on digits vs an untuned MobileNetV2 1.0/96 on {args.target} (estimated)", "",
          f"commit `{commit[:12]}`, {result['provenance']['date']}; {args.trials} trials x {args.epochs} epochs, "
          f"seed {args.seed}; {result['seconds']:.0f} s on a shared, loaded 2-core machine.", "",
          f"Baseline MobileNetV2 1.0 at 96x96 ({baseline['macs'] / 1e6:.1f} M MACs), same trainer and epochs: "
          f"test accuracy {baseline['keras_test_accuracy']:.4f} (int8 {baseline['int8_test_accuracy']:.4f}), "
          f"estimated {baseline['mcu_latency_ms']:.0f} ms on {args.target}. Budget: 0.25x = {budget:.0f} ms.", "",
          "| trial | status | knobs | res | val acc | est. MCU ms | feasible |", "|---|---|---|---|---|---|---|"]
    for t in result["trials_table"]:
        md.append(f"| {t['id']} | {t['status']} | {t.get('knobs') or ''} | {t.get('resolution') or ''} | "
                  f"{_f(t.get('val_accuracy'))} | {_f(t.get('mcu_latency_ms'), '{:.1f}')} | {t.get('feasible')} |")
    md += ["", f"Tuned: trial {best['id']} {best.get('knobs')} at {best.get('resolution')}: Keras test accuracy "
           f"{rep.baseline['accuracy']:.4f}.", "", "| compressed | precision | accuracy | est. MCU ms | x baseline |",
           "|---|---|---|---|---|"]
    for v in variants:
        lat = v.get("mcu_latency_ms")
        md.append(f"| {v['name']} | {v.get('precision')} | {_f(v.get('accuracy'))} | {_f(lat, '{:.1f}')} | "
                  f"{_f(None if lat is None else lat / base_est.latency_ms, '{:.3f}')} |"
                  + (f" failed: {v['error']}" if v.get("error") else ""))
    md += ["", f"Best accuracy found (baseline or tuned, Keras test): {best_found:.4f}. Chosen: "
           + (f"{chosen['name']}, accuracy {chosen['accuracy']:.4f}, {chosen['mcu_latency_ms']:.1f} ms "
              f"({result['claim']['latency_ratio']:.3f}x). " if chosen else "none within budget. ")
           + f"**Within 1 point at <= 0.25x: {'met' if met else 'NOT met'}.**", "",
           "Latencies are estimates (benchmarks/results/mcu_estimates.md: median leave-one-out error of the model "
           "on the published rows), not measurements on a board."]
    _io.write_text(res_dir / "mcu_tune.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if met else 3


if __name__ == "__main__":
    raise SystemExit(main())
