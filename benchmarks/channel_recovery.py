"""Why 50% channel pruning lost points: distillation epochs and shifted training images, measured.

    nice -n 15 python benchmarks/channel_recovery.py --model /tmp/splits-bench/mobilenet_v1/train/model.keras

Thins a trained MobileNetV1 0.5/96 (digits) by 50% of its prunable channels and recovers it with
``edgekit.compression.channel.channel_prune`` for each (epochs, shifted images) setting. Each row keeps
the validation accuracy per epoch (what chooses the epoch kept) and the Keras test accuracy of the
kept model against its parent's (measured once per setting, to explain a regression; nothing here
is chosen on it). Writes benchmarks/results/channel_recovery.{json,md} (a new stamped file when one exists).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a trained tf_keras .keras file (benchmarks/compression.py trains one)")
    ap.add_argument("--settings", default="6:0,6:1,20:0,20:1", help="epochs:shifted pairs")
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)

    from _provenance import provenance_line, write_markdown, write_results

    from edgekit._tf import reproducible
    from edgekit.compression.channel import channel_prune
    from edgekit.data import load_dataset
    from edgekit.models.load import load_model

    net = load_model(args.model).model
    shape = tuple(net.inputs[0].shape[1:])
    ds = load_dataset("digits", input_shape=shape, seed=0)

    def acc(m, x, y):
        return float(np.mean(m.predict(x, batch_size=128, verbose=0).argmax(1) == y))

    parent = {"val": acc(net, ds.x_val, ds.y_val), "test": acc(net, ds.x_test, ds.y_test)}
    rows, path = [], None
    for item in args.settings.split(","):
        epochs, shifted = int(item.split(":")[0]), item.split(":")[1] == "1"
        reproducible(0)
        t0 = time.time()
        thin, plan = channel_prune(net, 0.5, ds, epochs, 1e-3, 32, augment=shifted)
        rows.append({"epochs": epochs, "shifted": shifted, "recovery": plan.recovery,
                     "test_accuracy": acc(thin, ds.x_test, ds.y_test), "params": int(thin.count_params()),
                     "seconds": round(time.time() - t0, 1)})
        rows[-1]["test_drop"] = parent["test"] - rows[-1]["test_accuracy"]
        print(json.dumps(rows[-1]), flush=True)
        doc = {"model": args.model, "input": list(shape), "ratio": 0.5, "learning_rate": 1e-3, "batch_size": 32,
               "parent": parent, "parent_params": int(net.count_params()), "n_val": len(ds.y_val),
               "n_test": len(ds.y_test), "rows": rows}
        path = write_results(Path(args.results) / "channel_recovery.json", doc)
        doc = json.loads(path.read_text())
        md = ["# Channel pruning (50%) of MobileNetV1: distillation epochs and shifted images", "",
              f"Parent: {args.model}, Keras accuracy {parent['val']:.4f} on validation ({len(ds.y_val)}), "
              f"{parent['test']:.4f} on test ({len(ds.y_test)}; one image = {100 / len(ds.y_test):.2f} points). "
              "The epoch kept is chosen on validation; the test column is measured once per setting.", "",
              provenance_line(doc), "", "| epochs | shifted images | best val accuracy (epoch kept) | test accuracy | "
              "test drop (pt) | s |", "| ---: | --- | --- | ---: | ---: | ---: |"]
        md += [f"| {r['epochs']} | {'yes' if r['shifted'] else 'no'} | {r['recovery']['best_val_accuracy']:.4f} "
               f"({r['recovery']['kept_epoch'] + 1}) | {r['test_accuracy']:.4f} | {r['test_drop'] * 100:+.2f} | "
               f"{r['seconds']:.0f} |" for r in rows]
        write_markdown(path, "\n".join(md) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
