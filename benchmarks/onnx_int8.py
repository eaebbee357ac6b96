"""Why onnxruntime static int8 loses accuracy that TFLite int8 does not (issue 20), and the fix.

    PYTHONPATH=. /work/main/.venv/bin/python benchmarks/onnx_int8.py [--epochs 4] [--work DIR]

Trains the issue's kind of model briefly on digits (MobileNetV1 alpha 1.0, 4 epochs: an undertrained
net with wide, uneven activations, where quantization choices show), exports fp32 ONNX once, then
quantizes it with onnxruntime under several settings and scores each on the test split beside the
TFLite int8 of the same Keras model. "fake-quant" runs the same QDQ file with graph optimizations
off (float kernels between QuantizeLinear/DequantizeLinear pairs): the gap between it and the
optimized run is the int8 kernels' own error, the rest is the choice of quantization parameters.

Writes benchmarks/results/onnx_int8.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _accuracy_onnx(path, x, y, optimize=True) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    out = np.concatenate([s.run(None, {name: x[i : i + 64]})[0] for i in range(0, len(x), 64)])
    return float(np.mean(out.argmax(1) == y))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v1")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--work", default="/tmp/edgekit-onnx-int8")
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--reuse", action="store_true", help="reuse the model trained in --work by an earlier run")
    args = ap.parse_args(argv)

    from edgekit.benchmarking.harness import machine_info
    from edgekit.compression.quantize import tflite_bytes
    from edgekit.convert.onnx import CALIBRATION_SAMPLES, QUANT_SETTINGS, cpu_lacks_vnni, quantize_onnx_int8, to_onnx
    from edgekit.data import load_dataset
    from edgekit.models.load import LoadedModel
    from edgekit.runtime.base import load_runner
    from edgekit.training import train

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ds = load_dataset("digits", input_shape=(args.size, args.size, 3), seed=0)
    if args.reuse and (work / "train" / "model.keras").is_file():
        from edgekit.models.load import load_model

        model = load_model(work / "train" / "model.keras").model
    else:
        model = train(args.model, ds, params={"alpha": args.alpha}, out=work / "train", epochs=args.epochs,
                      patience=args.epochs).model
    x, y = ds.x_test, ds.y_test
    keras_acc = float(np.mean(model.predict(x, verbose=0).argmax(1) == y))
    rows = {}
    tfl = work / "int8.tflite"
    tfl.write_bytes(tflite_bytes(model, "int8", ds.representative(200)))
    rows["tflite int8 (LiteRT)"] = float(np.mean(load_runner(tfl, "litert").run(x).argmax(1) == y))

    import onnx

    fp32 = work / "fp32.onnx"
    onnx.save(to_onnx(LoadedModel(str(work), "tf_keras", model=model)), str(fp32))
    rows["onnx fp32"] = _accuracy_onnx(fp32, x, y)
    settings = {
        "before: minmax, 200 samples, per-channel, s8/s8": dict(QUANT_SETTINGS["before"]),
        f"after (edgekit default: {CALIBRATION_SAMPLES} samples)": dict(QUANT_SETTINGS["default"],
                                                                     samples=CALIBRATION_SAMPLES),
        "before + reduce_range": dict(QUANT_SETTINGS["before"], reduce_range=True),
        "before + u8 activations": dict(QUANT_SETTINGS["before"], activation_type="QUInt8"),
        "before + percentile 99.999": dict(QUANT_SETTINGS["before"], calibrate_method="Percentile"),
        "before + entropy": dict(QUANT_SETTINGS["before"], calibrate_method="Entropy"),
        "before + 1000 samples": dict(QUANT_SETTINGS["before"], samples=1000),
        "before + all training samples": dict(QUANT_SETTINGS["before"], samples=10**9),
    }
    for name, kw in settings.items():
        n = kw.pop("samples", 200)
        out = work / f"q_{len(rows)}.onnx"
        t1 = time.time()
        try:
            quantize_onnx_int8(fp32, out, ds.representative(n), **kw)
            rows[name] = _accuracy_onnx(out, x, y)
            rows[name + " [fake-quant]"] = _accuracy_onnx(out, x, y, optimize=False)
        except Exception as e:  # noqa: BLE001 - one setting failing is a result too
            rows[name] = f"failed: {type(e).__name__}: {str(e)[:200]}"
        print(f"{name}: {rows[name]} [{time.time() - t1:.0f}s]", flush=True)

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    doc = {"commit": commit, "date": dt.datetime.now(dt.timezone.utc).isoformat(), "machine": machine_info(),
           "model": {"name": args.model, "alpha": args.alpha, "input": args.size, "epochs": args.epochs},
           "n_test": int(len(y)), "keras_accuracy": keras_acc, "accuracy": rows, "settings": QUANT_SETTINGS,
           "seconds": round(time.time() - t0, 1), "cpu_lacks_vnni": cpu_lacks_vnni(), "reused_model": args.reuse,
           "note": "measured on a shared, loaded 2-core machine"}
    tfl_drop = keras_acc - rows["tflite int8 (LiteRT)"]
    lines = [f"# ONNX int8 vs TFLite int8: {args.model} alpha {args.alpha}, {args.size}x{args.size}, "
             f"{args.epochs} epochs on digits", "",
             f"Commit {commit[:10]}, {doc['date'][:16]}Z, {doc['machine']['cpu']}. Keras accuracy {keras_acc:.4f} on "
             f"{len(y)} test samples (one sample = {100 / len(y):.2f} points).", "",
             "| variant | accuracy | drop vs Keras (pt) | drop minus TFLite int8 drop (pt) |", "| --- | ---: | ---: | ---: |"]
    for k, v in rows.items():
        if isinstance(v, float):
            lines.append(f"| {k} | {v:.4f} | {(keras_acc - v) * 100:+.2f} | {((keras_acc - v) - tfl_drop) * 100:+.2f} |")
        else:
            lines.append(f"| {k} | {v} | | |")
    stem = f"onnx_int8_{args.model}_{args.alpha:g}_{args.size}"
    from _provenance import write_markdown, write_results

    write_markdown(write_results(Path(args.results) / f"{stem}.json", doc), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
