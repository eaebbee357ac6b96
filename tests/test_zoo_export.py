"""Every registered model, small: one training step, then TFLite fp32, TFLite int8 and ONNX, each
run in its runtime and compared with Keras; the TFLite Micro operators of the int8 model checked.

What is expected of each cell comes from ``edgekit/models/support.py``, the table that
``docs/support_matrix.md`` is generated from: a supported cell must convert and match Keras, a
documented gap must fail with its documented error (never a silent skip), and the document must
be the one the table renders.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit._tf import keras
from edgekit.artifact import Normalization
from edgekit.convert import export
from edgekit.convert.mcu import tflm_ops
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import create_model, get_spec, list_models, support
from edgekit.runtime.base import load_runner
from edgekit.verification import parity

MODELS = list_models()
N = 16  # samples: a training batch and the parity inputs; int8 calibrates on another draw of N
CLASSES = 3


def _small(name):
    spec = get_spec(name)
    kwargs = dict(spec.small_knobs)
    if spec.task in ("classification", "regression"):
        kwargs["num_classes"] = CLASSES
    return spec, create_model(name, input_shape=spec.small_input_shape, **kwargs)


def _inputs(spec, model, seed=0, n=N):
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(spec.small_input_shape)
    if model.inputs[0].dtype.is_integer:
        return rng.integers(0, spec.small_knobs.get("vocab_size", 10), size=shape).astype("int32")
    return rng.uniform(-1, 1, size=shape).astype("float32")


def _eager_step(model, loss_fn, inputs, target, opt):
    # Eager (no train-function tracing, which alone costs ~40 s for a ResNet-50 here).
    from edgekit._tf import tf

    with tf.GradientTape() as tape:
        loss = loss_fn(target, model(inputs, training=True)) + sum(model.losses)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return float(loss)


def _train_one_step(spec, model, x):
    """One optimizer step the way the task trains (so BatchNorm statistics and weights move)."""
    rng = np.random.default_rng(1)
    opt = keras.optimizers.Adam(1e-3)
    if spec.task == "classification":
        ce = keras.losses.SparseCategoricalCrossentropy()
        return _eager_step(model, ce, x, rng.integers(0, CLASSES, size=N), opt)
    if spec.task == "regression":
        return _eager_step(model, keras.losses.MeanSquaredError(), x, rng.standard_normal((N, CLASSES)), opt)
    if spec.task == "anomaly":
        return _eager_step(model, keras.losses.MeanSquaredError(), x, x, opt)
    if spec.task == "embedding":
        from edgekit.models.siamese import contrastive_loss, pair_model

        return _eager_step(pair_model(model), contrastive_loss(1.0), [x, x[::-1]],
                           (np.arange(N) % 2).astype("float32")[:, None], opt)
    if spec.task == "generation":
        from edgekit.models.gan import cgan_discriminator, gan_discriminator, gan_train_step

        image_shape = tuple(spec.small_knobs["image_shape"])
        images = rng.uniform(-1, 1, size=(N,) + image_shape).astype("float32")
        if "num_classes" in spec.knobs:
            classes = spec.knobs["num_classes"]
            disc = cgan_discriminator(image_shape, num_classes=classes, filters=(8, 16))
            return gan_train_step(model, disc, opt, keras.optimizers.Adam(1e-3), images,
                                  labels=rng.integers(0, classes, size=N), num_classes=classes)
        disc = gan_discriminator(image_shape, filters=(8, 16))
        return gan_train_step(model, disc, opt, keras.optimizers.Adam(1e-3), images)
    raise AssertionError(f"no one-step trainer for task {spec.task}")


def test_the_support_document_is_the_one_the_table_renders(repo_root):
    doc = (repo_root / "docs" / "support_matrix.md").read_text()
    assert doc == support.render(), "docs/support_matrix.md is stale: run python -m edgekit.models.support"
    for name in MODELS:
        assert f"| `{name}` |" in doc, f"{name} missing from the support matrix"


def test_the_table_names_only_registered_models_and_known_columns():
    for name, column in list(support.GAPS) + list(support.NOTES):
        assert name in MODELS and column in support.COLUMNS, (name, column)
    assert set(support.MCU_UNSUPPORTED) <= set(MODELS) and set(support.INT8_COSINE) <= set(MODELS)
    assert set(support.GPU_BATCH1_FIXES) <= set(support.GPU_UNSUPPORTED) <= set(MODELS)
    for ops in support.MCU_UNSUPPORTED.values():
        assert set(ops) <= set(support.MCU_OP_REASONS), ops  # every MCU gap has its reason


def check_model(name: str, out) -> dict:
    """Build small, train one step, export to every column, run, compare; returns the figures."""
    from pathlib import Path

    out = Path(out)
    keras.utils.set_random_seed(0)  # the same weights whatever ran before in this worker
    spec, model = _small(name)
    x = _inputs(spec, model)
    _train_one_step(spec, model, x)
    reference = model.predict(x, verbose=0)
    # Calibration samples that are not the ones measured, and more of them (a sparse autoencoder's
    # rarely active units need more than 16 draws to show their range: 0.947 cosine on 16, see git log).
    x_cal = _inputs(spec, model, seed=1, n=4 * N)
    y_cal = np.zeros(len(x_cal), int)
    data = Dataset(name, x_cal, y_cal, x_cal, y_cal, x_cal, y_cal, Normalization(), [], task=spec.task)
    report = {}
    for column, (fmt, precision) in support.COLUMNS.items():
        gap = support.gap(name, column)
        if gap is not None:
            with pytest.raises(EdgekitError, match=gap.error):
                export(model, to=fmt, precision=precision, data=data, out=out, name=name)
            report[column] = f"gap (as documented): {gap.reason}"
            continue
        art = export(model, to=fmt, precision=precision, data=data, out=out, name=name)
        result = load_runner(art.path).run(x)
        p = parity(reference, result, classification=False)
        floor = support.int8_min_cosine(name) if precision == "int8" else support.FP32_MIN_COSINE
        assert p.cosine >= floor, f"{name} {column}: cosine {p.cosine:.6f} < {floor} (max |diff| {p.max_abs:.3g})"
        report[column] = f"cosine {p.cosine:.6f}"
        if column == "tflite_fp32":  # the Phone GPU column: ops the GPU delegate has no kernel for
            blocked = tuple(sorted({o.op for o in art.gpu.unsupported_ops}))
            assert blocked == support.gpu_unsupported(name), f"{name}: the GPU delegate lacks {blocked}"
            report["gpu"] = "CPU fallback: " + ", ".join(blocked) if blocked else "all ops on the GPU"
        if column == "tflite_int8":
            missing = tuple(sorted(op.name for op in tflm_ops(art.path) if not op.supported))
            assert missing == support.mcu_unsupported(name), f"{name}: TFLM lacks {missing}"
            report["mcu"] = "lacks " + ", ".join(missing) if missing else "all ops supported"
        Path(art.path).unlink(missing_ok=True)  # keep disk use flat over the registry
    return report


# A model whose small build is another's graph with more of the same blocks: the same builder
# (edgekit/models/resnet.py's _imagenet_resnet), the same block function, bias, widths and layer
# configurations, only the stage depths differ. Its export goes through the same converter paths op
# for op, so exporting it again (45 s for ResNet-152 on 2 cores, most of the file) tests nothing its
# kin's export does not: it is checked to be that graph instead (test_is_the_same_graph_as_its_exported_kin),
# and its full-size parameter count against keras.applications in test_zoo_builders. The int8 error of
# the long chains at full size is measured where full-size runs belong: benchmarks/zoo_latency.py exports
# every registry model (each export's final check compares it with Keras).
SAME_BLOCKS_AS = {
    "resnet34": ("resnet18", (3, 4, 6, 3)),
    "resnet101": ("resnet50", (3, 4, 23, 3)),
    "resnet152": ("resnet50", (3, 8, 36, 3)),
}


def _layer_kinds(model) -> set[str]:
    """Each distinct layer configuration (class and config without its name): the graph's vocabulary."""
    import json

    kinds = set()
    for layer in model.layers:
        cfg = {k: v for k, v in layer.get_config().items() if k != "name"}
        kinds.add(type(layer).__name__ + json.dumps(cfg, sort_keys=True, default=str))
    return kinds


@pytest.mark.parametrize("name", [m for m in MODELS if m not in SAME_BLOCKS_AS])
def test_exports_run_and_match_keras(name, tmp_path):
    import gc

    # Every model at its registry's small knobs (the ImageNet ResNets at a quarter width: the same
    # graph, 1/16 of the weights), in this process.
    try:
        report = check_model(name, tmp_path)
    finally:
        keras.backend.clear_session()
        gc.collect()
    print(name, report)


@pytest.mark.parametrize("name", sorted(SAME_BLOCKS_AS))
def test_is_the_same_graph_as_its_exported_kin(name):
    """``name``'s small build has exactly the layer configurations of its exported kin, one residual
    Add per block of its stage depths, and the same support-table row: what its export would test."""
    kin, depths = SAME_BLOCKS_AS[name]
    assert kin in MODELS and get_spec(kin).small_knobs == get_spec(name).small_knobs
    for column in support.COLUMNS:
        assert support.gap(name, column) == support.gap(kin, column), column
    assert support.int8_min_cosine(name) == support.int8_min_cosine(kin)
    assert support.mcu_unsupported(name) == support.mcu_unsupported(kin)
    assert support.gpu_unsupported(name) == support.gpu_unsupported(kin)
    try:
        _, model = _small(name)
        _, other = _small(kin)
        assert _layer_kinds(model) == _layer_kinds(other)
        adds = sum(isinstance(layer, keras.layers.Add) for layer in model.layers)
        assert adds == sum(depths), (name, adds, depths)
    finally:
        keras.backend.clear_session()
