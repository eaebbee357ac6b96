"""Probe: does the zero-initialised classifier (training/recipe.py ``zero_head``) make `edgekit demo`'s
training run longer?

Trains the demo's model (MobileNetV2 0.35 on the built-in digits, 60 epochs at most, the demo's
early stopping) with the head as the trainer sets it (``zero``) and with Keras' random start
(``nozero``), and writes benchmarks/results/demo_zero_head_probe.{json,md} (a later run beside it):
test accuracy, epochs run, wall time and every epoch's line.

    nice python benchmarks/demo_zero_head_probe.py [zero nozero] [--note "..."]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _provenance import provenance, write_markdown, write_results  # noqa: E402

WORK = Path("runs/demo_zero_head_probe")


def run(variant: str) -> dict:
    from rich.console import Console

    from edgekit.training import fit as fitmod

    keep = fitmod.zero_head
    if variant == "nozero":
        fitmod.zero_head = lambda net: False
    out = WORK / variant
    out.mkdir(parents=True, exist_ok=True)
    log = out / "train.log"
    t0 = time.time()
    try:
        with open(log, "w") as f:
            res = fitmod.train("mobilenet_v2", "digits", params={"alpha": 0.35}, epochs=60, out=out / "run",
                               console=Console(file=f, soft_wrap=True, width=200))
    finally:
        fitmod.zero_head = keep
    return {"variant": variant, "test_accuracy": res.metrics.get("accuracy"),
            "epochs_run": res.metrics.get("epochs_run"), "wall_s": round(time.time() - t0, 1),
            "epochs_lines": [ln.rstrip() for ln in log.read_text().splitlines() if ln.lstrip().startswith("epoch")]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("variants", nargs="*", help="zero, nozero or both (the default)")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    variants = args.variants or ["zero", "nozero"]
    if set(variants) - {"zero", "nozero"}:
        ap.error(f"variants are zero and nozero, got {' '.join(variants)}")
    rows = [run(v) for v in variants]
    doc = {"provenance": provenance(), "rows": rows, "note": args.note}
    path = write_results(Path(__file__).resolve().parent / "results" / "demo_zero_head_probe.json", doc)
    lines = ["# The zero-initialised classifier and the demo's training length", "",
             f"{doc['provenance']['date']}, commit {str(doc['provenance']['commit'])[:10]}; "
             "`benchmarks/demo_zero_head_probe.py`, per-epoch lines in the JSON.", "",
             "| head | test acc | epochs run | wall s |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['variant']} | {r['test_accuracy']:.4f} | {r['epochs_run']} | {r['wall_s']} |" for r in rows]
    write_markdown(path, "\n".join(lines + ["", args.note, ""]))
    print(path)


if __name__ == "__main__":
    main()
