"""Probe: when does MobileNetV2 start to learn on 60 images per class, and what moves that epoch?

On the 60-per-class check sets (``shapes128``, ``glyphs96`` of ``benchmarks/small_data.py``) the
recipe's runs sit near the 0.90 line and land on either side of it from one machine to the next.
This probe logs, after every epoch, the training accuracy as Keras reports it (augmented batches,
BatchNorm in training mode), the accuracy on the un-augmented training images in inference mode,
and the validation accuracy, for the recipe and for one change at a time:

* ``base``: the recipe as shipped (``flip`` as the mirror check decides: off for the letters);
* ``nozero=1``: the classifier's kernel keeps Keras' random start instead of zeros;
* ``learning_rate=...``, ``optimizer=sgd``, ``augment=false``, ``epochs=...``: TrainConfig fields;
* ``model=cnn p_filters=16,32,64,128 p_dense_units=64,``: another registry model and its knobs;
* ``colour=perm_inv``: the colour channels of each training image permuted at random and inverted
  half the time (the letters' colours are random, so colour is a nuisance there); ``colour=perm``:
  permuted only; ``colour=onset``: permuted and inverted from the epoch after the training accuracy
  (Keras') first reaches half-way from chance to 1 (pass ``colours=false`` beside either, so that the trainer's own shuffle, which
  came later, stays off);
* ``hmap=0,2,1,3 vmap=3,1,2,0``: a random half of the training images mirrored left-right with
  their labels mapped (class i -> hmap[i]; the arrows' folders sort as down, left, right, up, so
  left and right swap) and a half flipped upside down with ``vmap``: every image then has a twin of
  the same colours with the opposite label, so colours cannot tell training images apart;
* ``affine=ZOOM,DEGREES``: the random shift replaced by one affine warp per image (shift as before,
  scale 1 +- ZOOM, rotation +- DEGREES, the border repeating the edge).

The split and data are the benchmark's (seed 0); the test split is measured once at the end.

    nice python benchmarks/small_data_onset_probe.py run CASE VARIANT WORK [key=value ...]
    python benchmarks/small_data_onset_probe.py collect WORK_DIR... [--note "..."]

``run`` writes ``WORK/VARIANT.json`` (the per-epoch rows and the summary); ``collect`` gathers such
files into ``benchmarks/results/small_data_onset_probe.{json,md}`` with provenance.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_data import CASES  # noqa: E402


def _value(v: str):
    if v in ("true", "false"):
        return v == "true"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def _colour_batches(loop, tf, invert: bool = True, switch=None):
    """Wrap the training batches: each image's channels permuted at random and (``invert``) negated half
    the time; with ``switch`` (a boolean tf.Variable) only while it is on."""
    original = loop.training_batches
    perms = tf.constant([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], tf.int32)

    def training_batches(x, y, batch_size, seed, augment, flip=False, invert_about=None):
        def colour(xb, yb):
            n = tf.shape(xb)[0]
            xb = tf.gather(xb, tf.gather(perms, tf.random.uniform([n], 0, 6, tf.int32)), axis=3, batch_dims=1)
            if not invert:
                return xb, yb
            return xb * tf.where(tf.random.uniform([n, 1, 1, 1]) < 0.5, -1.0, 1.0), yb

        def maybe(xb, yb):
            return tf.cond(switch, lambda: colour(xb, yb), lambda: (xb, yb))
        return original(x, y, batch_size, seed, augment, flip, invert_about).map(colour if switch is None else maybe)

    loop.training_batches = training_batches


def _relabelled_flips(loop, tf, hmap, vmap):
    """Wrap the training batches: a random half of the images mirrored left-right with their labels
    mapped by ``hmap`` (class i -> hmap[i]), and independently a half flipped upside down with ``vmap``."""
    original = loop.training_batches

    def training_batches(x, y, batch_size, seed, augment, flip=False, invert_about=None):
        def relabel(xb, yb):
            n = tf.shape(xb)[0]
            shape = tf.shape(yb)
            yi = tf.reshape(tf.cast(yb, tf.int32), [-1])
            for axis, mapping in ((2, hmap), (1, vmap)):
                if mapping is None:
                    continue
                pick = tf.random.uniform([n]) < 0.5
                xb = tf.where(tf.reshape(pick, [-1, 1, 1, 1]), tf.reverse(xb, axis=[axis]), xb)
                yi = tf.where(pick, tf.gather(tf.constant(mapping, tf.int32), yi), yi)
            return xb, tf.cast(tf.reshape(yi, shape), yb.dtype)
        return original(x, y, batch_size, seed, augment, flip, invert_about).map(relabel)

    loop.training_batches = training_batches


def _affine_shift(zoom: float, degrees: float, tf):
    """A replacement for batches._random_shift: shift, scale and rotation in one warp per image."""
    def warp(xb, seed, pad):
        h, w = xb.shape[1], xb.shape[2]
        r = tf.random.stateless_uniform([tf.shape(xb)[0], 4], seed=seed, minval=-1.0, maxval=1.0)
        scale, angle = 1.0 + zoom * r[:, 0], degrees * math.pi / 180.0 * r[:, 1]
        c, s = tf.cos(angle) / scale, tf.sin(angle) / scale
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        zero = tf.zeros_like(c)
        # output (x, y) reads input (c x + s y + a2, -s x + c y + b2): a rotation and scale about the centre
        t = tf.stack([c, s, cx - c * cx - s * cy + pad * r[:, 2],
                      -s, c, cy + s * cx - c * cy + pad * r[:, 3], zero, zero], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(images=xb, transforms=t, output_shape=tf.constant([h, w]),
                                                     fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    return warp


def run(case: str, variant: str, work: Path, settings: list[str]) -> None:
    import numpy as np
    from rich.console import Console

    from edgekit._tf import keras, tf
    from edgekit.training import batches, loop
    from edgekit.training import fit as fitmod

    over = dict(a.split("=", 1) for a in settings)
    rows: list[dict] = []
    if over.pop("nozero", ""):
        fitmod.zero_head = lambda net: False
    switch = tf.Variable(False) if over.get("colour") == "onset" else None
    if colour := over.pop("colour", ""):
        _colour_batches(loop, tf, invert=colour != "perm", switch=switch)
    hmap, vmap = over.pop("hmap", ""), over.pop("vmap", "")
    if hmap or vmap:
        _relabelled_flips(loop, tf, [int(t) for t in hmap.split(",")] if hmap else None,
                          [int(t) for t in vmap.split(",")] if vmap else None)
    if affine := over.pop("affine", ""):
        zoom, degrees = (float(t) for t in affine.split(","))
        batches._random_shift = _affine_shift(zoom, degrees, tf)

    original_fit = fitmod.fit

    def fit(net, dataset, config, **kw):
        class PerEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                p = self.model.predict(dataset.x_train, verbose=0, batch_size=64)
                seen = float((p.argmax(-1) == np.asarray(dataset.y_train).reshape(-1)).mean())
                rows.append({"epoch": epoch + 1, "acc_inf_train": seen,
                             **{k: float(v) for k, v in (logs or {}).items()}})
                k = int(np.max(dataset.y_train)) + 1
                if switch is not None and not bool(switch.numpy()) and logs.get("accuracy", 0) >= (1 + 1 / k) / 2:
                    switch.assign(True)
                    rows[-1]["colour_on"] = True
        kw["callbacks"] = [*kw.get("callbacks", ()), PerEpoch()]
        return original_fit(net, dataset, config, **kw)

    fitmod.fit = fit
    work.mkdir(parents=True, exist_ok=True)
    data = CASES[case][1](work)
    side = int(over.pop("side", 96))
    model = over.pop("model", "mobilenet_v2")
    params = {"input_shape": (side, side, 3)}
    if model == "mobilenet_v2":
        params["alpha"] = float(over.pop("alpha", 0.35))
    for key in [k for k in over if k.startswith("p_")]:
        v = over.pop(key)
        params[key[2:]] = tuple(int(t) for t in v.split(",") if t) if "," in v else _value(v)
    t0 = time.time()
    res = fitmod.train(model, str(data), params=params, out=work / f"run_{variant}",
                       console=Console(file=open(work / f"{variant}.log", "w"), soft_wrap=True, width=200),
                       **{k: _value(v) for k, v in over.items()})
    summary = {"case": case, "variant": variant, "settings": settings,
               "test_accuracy": res.metrics.get("accuracy"), "epochs_run": res.metrics.get("epochs_run"),
               "wall_s": round(time.time() - t0, 1)}
    (work / f"{variant}.json").write_text(json.dumps({"summary": summary, "rows": rows}))
    print(json.dumps(summary))


def _first(rows, key, level):
    return next((r["epoch"] for r in rows if r.get(key, 0) >= level), None)


def collect(dirs: list[Path], note: str) -> None:
    from _provenance import ROOT, provenance, write_markdown, write_results

    runs = []
    for d in dirs:
        for f in sorted(Path(d).glob("*.json")):
            doc = json.loads(f.read_text())
            rows = doc["rows"]
            runs.append({**doc["summary"], "epochs_logged": len(rows),
                         "first_epoch_train_acc_0.6": _first(rows, "acc_inf_train", 0.6),
                         "first_epoch_val_acc_0.6": _first(rows, "val_accuracy", 0.6),
                         "val_acc_at": {str(e): next((r["val_accuracy"] for r in rows if r["epoch"] == e), None)
                                        for e in (40, 80, 120)},
                         "rows": rows})
    doc = {"provenance": provenance(), "note": note, "runs": runs}
    path = write_results(ROOT / "benchmarks" / "results" / "small_data_onset_probe.json", doc)
    lines = ["# When MobileNetV2 starts to learn on 60 images per class", "",
             f"{doc['provenance']['date']}, commit {str(doc['provenance'].get('commit'))[:10]}. "
             "Produced by `benchmarks/small_data_onset_probe.py` (what each setting changes is in its "
             "docstring); per-epoch rows in the JSON beside this file. Test accuracy is measured once, "
             "at the end; 'test acc' is blank for a run cut short.", "",
             "| case | settings | train acc >= 0.6 (epoch, inference mode) | val acc >= 0.6 (epoch) | "
             "val acc at 40 / 80 / 120 | epochs | test acc | wall s |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in runs:
        at = " / ".join("-" if v is None else f"{v:.2f}" for v in r["val_acc_at"].values())
        test = "" if r.get("test_accuracy") is None else f"{r['test_accuracy']:.3f}"
        lines.append(f"| {r['case']} | `{' '.join(r['settings']) or '(recipe)'}` | {r['first_epoch_train_acc_0.6'] or '-'} "
                     f"| {r['first_epoch_val_acc_0.6'] or '-'} | {at} | {r['epochs_logged']} | {test} | "
                     f"{r.get('wall_s') or ''} |")
    lines += ["", note, ""]
    write_markdown(path, "\n".join(lines))
    print(path)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5:])
    else:
        args = sys.argv[2:]
        note = args[args.index("--note") + 1] if "--note" in args else ""
        collect([Path(a) for a in args if a != "--note" and a != note], note)
