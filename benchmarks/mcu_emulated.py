"""The MLPerf Tiny reference models and the demo model on emulated Cortex-M4, M33 and M55 (TFLM +
CMSIS-NN in QEMU), and the count-based latency model fitted on the published rows.

    PYTHONPATH=. python benchmarks/mcu_emulated.py --tflm /path/to/tflite-micro [--cores cortex-m4,...]

For every model and core: the bundle ``export --to mcu`` writes, its own ``main.cc`` built with
``-DEDGEKIT_EMULATE`` against TFLM + CMSIS-NN for the core, run twice in qemu-system-arm on the same
10 inputs; outputs compared byte for byte with LiteRT's reference kernels; instructions per
inference and per op. The reference models have random weights and random calibration data (as in
benchmarks/mcu_estimates.py: counts depend on ops and shapes, not on weight values), their global
average pooling written as the reference models write it (AVERAGE_POOL_2D, not MEAN), and random
int8 inputs; the demo model (MobileNetV2 0.35, 32x32, digits, as `edgekit demo` trains it, fewer
epochs) runs on its validation split.

Then the latency model of edgekit/benchmarking/mcu_counts.py is fitted per core class on the
MLPerf Tiny TFLM + CMSIS-NN rows (kws, vww, ad of the L4R5ZI M4, the RA6M4 M33 and the RA8D1 M85,
whose Helium core is emulated on QEMU's Cortex-M55) with leave-one-out and
leave-one-benchmark-out errors. No image-classification (ic) row is used or looked at; the
ResNet-8 counts are reported, its latency predicted blind.

Writes benchmarks/results/mcu_emulated.{json,md} (a stamped sibling if they exist) and
edgekit/benchmarking/mcu_counts.json (the fitted parameters).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CORES = ["cortex-m4", "cortex-m33", "cortex-m55"]
N_INPUTS = 10


def _int8(model, path: Path) -> None:
    from edgekit._tf import tf

    shape = tuple(model.input_shape[1:])
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (16, *shape)).astype("float32")
    # Untrained, a deep MobileNet's activations shrink layer after layer until a requantization
    # scale underflows and TFLM aborts in Prepare. One training-mode pass with momentum 0 sets each
    # BatchNormalization's moving statistics to its batch statistics: activations of a trained
    # network's scale, without training.
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    for layer in bns:
        layer.momentum = 0.0
    if bns:
        model(calib, training=True)
    # Batch 1 fixed, as the MLPerf Tiny reference files: a Keras Reshape with a free batch becomes
    # SHAPE/STRIDED_SLICE/PACK ops that TFLM's interpreter rejects.
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec((1, *shape), tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())


def _as_reference(model):
    """The zoo model with its global average pooling written as the MLPerf Tiny reference models
    write it: ``AveragePooling2D`` over the whole feature map, then ``Flatten``. Converted, that is
    AVERAGE_POOL_2D (CMSIS-NN's pooling); ``GlobalAveragePooling2D`` becomes MEAN, TFLM's scalar
    reduce kernel, which on the M55 took 37% of the DS-CNN's instructions. Same MACs and weights."""
    from edgekit._tf import tf

    K = tf.keras

    def swap(layer):
        if type(layer).__name__ == "GlobalAveragePooling2D":
            hw = tuple(layer.input_shape[1:3])
            pool = [K.layers.AveragePooling2D(pool_size=hw)]
            return K.Sequential(pool if layer.get_config().get("keepdims") else [*pool, K.layers.Flatten()],
                                name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    return K.models.clone_model(model, clone_function=swap)


def reference_models(d: Path) -> dict[str, Path]:
    from edgekit.benchmarking.mcu_targets import REFERENCE_MODELS
    from edgekit.models import create_model

    files = {}
    for bench, (name, kw) in REFERENCE_MODELS.items():
        files[bench] = d / f"{bench}.tflite"
        if not files[bench].is_file():
            print(f"building {bench}: {name} {kw}", flush=True)
            _int8(_as_reference(create_model(name, **kw)), files[bench])
    return files


def demo_model(d: Path, epochs: int):
    """The demo's model (MobileNetV2 alpha 0.35 at 32x32 on digits), int8, and its validation inputs."""
    from edgekit.convert import export
    from edgekit.data import load_dataset
    from edgekit.training import train

    ds = load_dataset("digits", input_shape=(32, 32, 3), seed=0)
    f = d / "demo" / "model_int8.tflite"
    if not f.is_file():
        print(f"training the demo model ({epochs} epochs)", flush=True)
        t = train("mobilenet_v2", ds, params={"alpha": 0.35}, out=d / "demo-train", epochs=epochs, patience=epochs)
        art = export(t.model_path, to="tflite", precision="int8", data=t.dataset, out=d / "demo")
        Path(art.path).replace(f)
    return f, ds.x_val[:N_INPUTS]


VARIANTS = {  # name: (with a weight-byte term, weighting)
    "two_numbers": (True, "instructions"),
    "cpi_only": (False, "instructions"),
    "cpi_only_rows": (False, "rows"),  # each benchmark's relative error alike (the earlier fit)
}


def fit(rows: list[dict], anchors) -> dict:
    """The per-class fit on the published rows, with LOO / LOBO errors of every variant."""
    from edgekit.benchmarking.mcu_counts import (CORE_CLASS, DENSE_SHARE, EMULATED_CORE, cross_validate, dense_share,
                                                 fit_class, predict_cycles)
    from edgekit.benchmarking.mcu_targets import TARGETS

    by = {(r["bench"], r["core"]): r for r in rows}
    classes = {}
    for cls in sorted(set(CORE_CLASS.values())):
        pts = []
        for a in anchors:
            t = TARGETS[a.target]
            if CORE_CLASS.get(t.core) != cls or a.bench == "ic":
                continue
            r = by.get((a.bench, EMULATED_CORE[t.core]))
            if r is None:
                continue
            pts.append({"target": a.target, "core": t.core, "emulated_on": EMULATED_CORE[t.core], "bench": a.bench,
                        "ms": a.ms, "mhz": t.mhz, "cycles": a.ms * t.mhz * 1e3, "instructions": r["instructions"],
                        "weight_bytes": r["weight_bytes"], "dense_share": dense_share(r["op_totals"]),
                        "round": a.round, "engine": a.engine})
        if len({p["bench"] for p in pts}) < 2:
            classes[cls] = {"rows": pts, "note": "fewer than two benchmarks emulated: not fitted"}
            continue
        out = {"rows": pts}
        for variant, (w, weighting) in VARIANTS.items():
            params = fit_class(pts, w, weighting)
            cv = cross_validate(pts, w, weighting)
            for p, loo, lobo in zip(pts, cv["loo"], cv["lobo"]):
                p[f"{variant}_fitted_error"] = predict_cycles(params, p["instructions"], p["weight_bytes"]) / p["cycles"] - 1
                p[f"{variant}_loo_error"] = loo
                p[f"{variant}_lobo_error"] = lobo
            out[variant] = {"params": params, "weighting": weighting,
                            "loo_median_abs_error": float(np.median(np.abs(cv["loo"]))),
                            "lobo_median_abs_error": float(np.median(np.abs(cv["lobo"]))),
                            "lobo_max_abs_error": float(np.max(np.abs(cv["lobo"])))}
            for kind, sel in (("conv", lambda p: p["dense_share"] <= DENSE_SHARE),
                              ("dense", lambda p: p["dense_share"] > DENSE_SHARE)):
                errs = [abs(p[f"{variant}_lobo_error"]) for p in pts if sel(p)]
                if errs:  # the worse left-out benchmark of the kind: two convolutional rows make no median
                    out[variant][f"lobo_{kind}_abs_error"] = float(max(errs))
        # One number (cpi, every instruction weighing alike); the second number is used only where it
        # lowers the LOBO median and no left-out benchmark misses by more than 100%: fitted exactly on
        # two benchmarks, it can extrapolate wildly to the third.
        two, one = out["two_numbers"], out["cpi_only"]
        use = ("two_numbers" if two["lobo_median_abs_error"] < one["lobo_median_abs_error"]
               and two["lobo_max_abs_error"] <= 1.0 else "cpi_only")
        out["used"] = use
        for k in ("params", "weighting", "lobo_median_abs_error", "loo_median_abs_error", "lobo_max_abs_error",
                  "lobo_conv_abs_error", "lobo_dense_abs_error"):
            if k in out[use]:
                out[k] = out[use][k]
        classes[cls] = out
    return classes


def _md(doc: dict) -> str:
    from _provenance import provenance_line

    from edgekit.benchmarking.tflm_build import SINGLE_ROUNDING_DEFINE

    L = ["# MLPerf Tiny reference models and the demo model on emulated Cortex-M (TFLM + CMSIS-NN in QEMU)", "",
         provenance_line(doc), "",
         f"TFLM {doc['sources'].get('tflite-micro', '?')[:12]}, CMSIS-NN {doc['sources'].get('CMSIS-NN', '?')[:12]}, "
         f"CMSIS_6 {doc['sources'].get('CMSIS_6', '?')[:12]}; QEMU {doc['qemu']}, {doc['gcc']}. Instructions counted by "
         "SysTick under `-icount shift=0` (exact to one tick: 40 instructions on the M4 board, 50 on the M33, 31.25 on "
         "the M55). The program is each bundle's own `main.cc` (`export --to mcu`) built with `-DEDGEKIT_EMULATE`.", "",
         "Outputs are compared byte for byte with LiteRT's reference kernels (`BUILTIN_REF`). LiteRT's int8 "
         "convolutions round their requantization twice (as TFLM and CMSIS-NN by default), its fully connected layers "
         "once (checked layer by layer on the reference models' preserved intermediates); with TFLM's default the "
         "dense autoencoder differed from LiteRT by up to 2 in 1,233 of its 6,400 outputs (mcu_emulated.md, the "
         f"previous run). CMSIS-NN's fully connected sources are therefore compiled with `{SINGLE_ROUNDING_DEFINE}`, "
         "everything else with TFLM's defaults. The column 'values differing from host TFLM' compares with the Python "
         "tflite-micro package (TFLM's portable kernels, two roundings everywhere).", "",
         "The arena: 'target' is what the interpreter used on the core, 'program' what the bundle's `main.cc` declares "
         "(the host figure, plus 1/4 and 4 KiB on Helium), 'host' the bisection with TFLM's reference kernels on x86. "
         "Each program ran with the bundle's own arena.", "",
         "| model | core | instructions / inference | outputs = LiteRT reference (inputs) | values differing from host TFLM | same in 2 runs | flash B | RAM B | arena B (target / program / host) |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        if "error" in r:
            L.append(f"| {r['bench']} | {r['core']} | failed: {r['error']} | | | | | | |")
            continue
        L.append(f"| {r['bench']} ({r['model_name']}) | {r['core']} | {r['instructions']:,} | "
                 f"{'yes' if r['outputs_equal'] else 'NO: ' + str(r.get('values_differing')) + ' of ' + str(r.get('values_compared')) + ' values by ' + str(r['max_abs_diff_q'])} ({r['n_samples']}) | "
                 f"{r.get('values_differing_host_tflm')} | {'yes' if r['identical_runs'] else 'NO'} | {r['flash_bytes']:,} | {r['ram_bytes']:,} | "
                 f"{r['arena_used_bytes']:,} / {r.get('program_arena_bytes') or 0:,} / {r['arena_bytes'] or 0:,} |")
    L += ["", "## Instructions per op type (first input)", "", "| model | core | " + " | ".join(["op", "instructions", "share"]) + " |",
          "|---|---|---|---|---|"]
    for r in doc["rows"]:
        if "error" in r:
            continue
        for op, n in sorted(r["op_totals"].items(), key=lambda kv: -kv[1]):
            L.append(f"| {r['bench']} | {r['core']} | {op} | {n:,} | {n / max(r['instructions'], 1):.1%} |")
    L += ["", "## Latency from counts: cycles = cpi x instructions [+ c_w x weight bytes], per core class", "",
          "Fitted on the MLPerf Tiny TFLM + CMSIS-NN rows (kws, vww, ad; no ic row is used). The M85 board (RA8D1) is "
          "emulated on QEMU's Cortex-M55: the same Helium (MVE) instruction set, a different pipeline, which cpi absorbs. "
          "With one row per benchmark and board, leave-one-out (LOO) and leave-one-benchmark-out (LOBO) leave out the "
          "same row, so their figures are equal. Variants: **two numbers** (cpi and cycles per weight byte, every "
          "instruction weighing alike), **cpi only** (one number, every instruction weighing alike: total cycles / "
          "total instructions), **cpi only, rows alike** (one number, each benchmark's relative error weighing alike: "
          "the previous run's model). The weighting was chosen after seeing both on these same rows (no other rows "
          "exist): the LOBO figures below are not a blind test; the ic predictions at the end are.", ""]
    for cls, c in doc["fit"].items():
        if "params" not in c:
            L += [f"- {cls}: {c.get('note')}"]
            continue
        L += [f"### {cls}", "", "| variant | params | LOO median | LOBO median | LOBO max | LOBO conv (worse of kws, vww) | LOBO dense (ad) |",
              "|---|---|---|---|---|---|---|"]
        for v in VARIANTS:
            q = c[v]
            ps = ", ".join(f"{k} {val:.3f}" for k, val in q["params"].items())
            L.append(f"| {v.replace('_', ' ')} | {ps} | {q['loo_median_abs_error']:.1%} | {q['lobo_median_abs_error']:.1%} | "
                     f"{q['lobo_max_abs_error']:.0%} | {q.get('lobo_conv_abs_error', float('nan')):.1%} | "
                     f"{q.get('lobo_dense_abs_error', float('nan')):.1%} |")
        L += ["", f"**Used by `latency_from_counts`: {c['used'].replace('_', ' ')}; LOBO median error "
              f"{c['lobo_median_abs_error']:.1%}, max {c['lobo_max_abs_error']:.0%}**; a model's expected error is the "
              f"conv figure ({c.get('lobo_conv_abs_error', float('nan')):.1%}) or, when fully connected layers run more "
              f"than half its instructions, the dense one ({c.get('lobo_dense_abs_error', float('nan')):.1%}).", "",
              "| board | core (emulated) | bench | published ms | instructions | weight B | FC share | "
              + " | ".join(f"{v.replace('_', ' ')} LOBO" for v in VARIANTS) + " |",
              "|---|---|---|---|---|---|---|" + "---|" * len(VARIANTS)]
        for p in c["rows"]:
            L.append(f"| {p['target']} | {p['core']} ({p['emulated_on']}) | {p['bench']} | {p['ms']} | {p['instructions']:,} | "
                     f"{p['weight_bytes']:,} | {p.get('dense_share', 0):.0%} | "
                     + " | ".join(f"{p[f'{v}_lobo_error']:+.1%}" for v in VARIANTS) + " |")
        L.append("")
    L += ["Why one number: each class has three rows, and only one of them (ad) is a dense, weight-streaming model. A "
          "second number for what instruction counts do not see (cycles per weight byte read from flash, or a separate "
          "cost for fully connected instructions) is fitted, when ad is left out, on kws and vww alone, whose weights "
          "are few and reused: it is unidentified there and the left-out ad misses by 150-620% (the 'two numbers' "
          "rows). The dense row's cost per counted instruction differs from the convolutional rows' in a direction that "
          "changes with the board (M4 -30%, M33 +17%, M85 +72% relative to kws and vww together), so no shared correction can be "
          "learned from these rows either; the expected error of a dense model is that row's left-out error. The "
          "instruction mix of a QEMU plugin was not used: the counts are SysTick's under -icount.", ""]
    if doc.get("predictions"):
        L += ["## Predictions from counts (not fitted on)", "", "| model | board | ms | expected error |", "|---|---|---|---|"]
        for p in doc["predictions"]:
            L.append(f"| {p['bench']} | {p['target']} | {p['ms']:.2f} | {p['expected_error']:.0%} |")
    return "\n".join(L) + "\n"


def analyse(rows: list[dict]) -> dict:
    """Fit the count-based latency on the emulated rows, write edgekit/benchmarking/mcu_counts.json,
    and predict every emulated model on the three calibrated boards."""
    from edgekit import _io
    from edgekit.benchmarking.mcu_counts import CALIBRATION_FILE, latency_from_counts, load_count_calibration
    from edgekit.benchmarking.mcu_targets import ANCHORS

    ok = [r for r in rows if "error" not in r]
    classes = fit(ok, ANCHORS)
    keys = ("params", "used", "weighting", "loo_median_abs_error", "lobo_median_abs_error", "lobo_max_abs_error",
            "lobo_conv_abs_error", "lobo_dense_abs_error", "rows")
    cal = {"model": "cycles = cpi * instructions [+ cycles_per_weight_byte * weight_bytes] (edgekit/benchmarking/mcu_counts.py)",
           "classes": {k: {kk: v[kk] for kk in keys if kk in v} for k, v in classes.items() if "params" in v},
           "fitted_on": "MLPerf Tiny kws/vww/ad TFLM + CMSIS-NN rows of nucleo-l4r5zi, ek-ra6m4, ek-ra8d1 "
                        "(benchmarks/results/mcu_emulated.json)"}
    _io.write_json(CALIBRATION_FILE, cal)
    load_count_calibration.cache_clear()
    preds = []
    for r in ok:
        for target in ("nucleo-l4r5zi", "ek-ra6m4", "ek-ra8d1"):
            try:
                ms, err = latency_from_counts(r, target)
            except Exception:  # counts of another core than the board's
                continue
            preds.append({"bench": r["bench"], "target": target, "core": r["core"], "ms": ms, "expected_error": err})
    return {"fit": classes, "predictions": preds}


def render(path: Path) -> None:
    """Re-run the analysis of a results file (its rows unchanged) and rewrite it and its Markdown."""
    from edgekit import _io

    doc = json.loads(path.read_text())
    doc.update(analyse(doc["rows"]))
    _io.write_json(path, doc)
    path.with_suffix(".md").write_text(_md(doc))


def _stamped(path: Path) -> Path:
    if not path.exists():
        return path
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M")
    return path.with_name(f"{path.stem}_{stamp}{path.suffix}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tflm", help="tflite-micro checkout (with its downloads/ prepared)")
    ap.add_argument("--cores", default=",".join(CORES))
    ap.add_argument("--work", default=None, help="keep models, bundles and builds here")
    ap.add_argument("--demo-epochs", type=int, default=8)
    ap.add_argument("--render", default=None, help="only re-analyse this results JSON (rows kept) and rewrite its .md")
    a = ap.parse_args()
    if a.render:
        render(Path(a.render))
        return 0
    if not a.tflm:
        ap.error("--tflm is required")

    import subprocess

    from _provenance import write_results

    from edgekit import _io
    from edgekit.benchmarking import tflm_build
    from edgekit.benchmarking.emulate import emulate
    from edgekit.benchmarking.mcu_targets import REFERENCE_MODELS

    work = Path(a.work or tempfile.mkdtemp(prefix="mcu-emulated-"))
    work.mkdir(parents=True, exist_ok=True)
    models = {b: (f, None, REFERENCE_MODELS[b][0]) for b, f in reference_models(work / "models").items()}
    demo_f, demo_x = demo_model(work / "models", a.demo_epochs)
    models["demo"] = (demo_f, demo_x, "mobilenet_v2 0.35 32x32 digits")

    rows = []
    for core in a.cores.split(","):
        for bench, (f, x, name) in models.items():
            cached = work / "rows" / f"{bench}-{core}.json"
            if cached.is_file():  # a row measured by an earlier invocation on the same work folder
                rows.append(json.loads(cached.read_text()))
                continue
            print(f"emulating {bench} on {core}", flush=True)
            try:
                r = emulate(f, core, a.tflm, x=x, n=N_INPUTS, work_dir=work / "runs" / f"{bench}-{core}", runs=2,
                            inputs_note=None if x is not None else f"{N_INPUTS} uniform random int8 inputs (seed 0)")
                row = {"bench": bench, "model_name": name, **r.model_dump()}
                print(f"  {r.instructions:,} instructions, outputs equal {r.outputs_equal}, runs identical "
                      f"{r.identical_runs}", flush=True)
                row["measured_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                _io.write_json(cached, row)
            except Exception as e:  # one failing model/core is a row, not the end of the run
                row = {"bench": bench, "model_name": name, "core": core, "error": f"{type(e).__name__}: {e}"[:400]}
                print(f"  failed: {row['error']}", flush=True)
            rows.append(row)

    qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    gcc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    doc = {"rows": rows, "sources": tflm_build.source_commits(a.tflm), "qemu": qemu, "gcc": gcc, "n_inputs": N_INPUTS}
    doc.update(analyse(rows))
    jpath = _stamped(HERE / "results" / "mcu_emulated.json")
    write_results(jpath, doc)
    jpath.with_suffix(".md").write_text(_md(json.loads(jpath.read_text())))
    print(f"wrote {jpath} and {jpath.with_suffix('.md')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
