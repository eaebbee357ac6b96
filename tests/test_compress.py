"""edgekit.compression on small real models: sizes, sparsity, stripping, thinner models, QAT of
MobileNetV3, the mixed-precision fallback and compression.json.

Models are tiny (MobileNetV2 0.35 and MobileNetV3-Small at 32x32, a few epochs on digits) so
the file fits a few minutes on two cores; the headline figures are measured by
benchmarks/compression.py at 96x96.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit._tf import keras
from edgekit.compression import compress
from edgekit.compression.channel import channel_prune
from edgekit.compression.prune import cluster, distinct_values, is_m_by_n, kernel_sparsity, prune, wrapper_layers
from edgekit.compression.quantize import qat_model, tflite_bytes
from edgekit.compression.sensitivity import widen_channel
from edgekit.data import load_dataset
from edgekit.models import create_model

KEYS_BASELINE = {"format", "precision", "bytes", "accuracy", "p50_ms"}
KEYS_VARIANT = {"name", "steps", "format", "precision", "bytes", "gzip_bytes", "sparsity", "accuracy", "drop",
                "p50_ms", "speedup", "parity"}


def _fit(model, data, epochs, lr=2e-3):
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, batch_size=32, epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="module")
def mnv2(trained):
    """The suite's MobileNetV2 0.35 trained on these digits (conftest.py), loaded again from its file
    so that nothing done here reaches the other tests' copy."""
    from edgekit.models.load import load_model

    return load_model(trained.model_path).model


def test_compress_writes_the_table_and_keeps_every_artifact(mnv2, digits32, tmp_path):
    rep = compress(mnv2, _subset(digits32, 320), out=tmp_path, only=["ptq_int8", "prune", "prune_per_tensor", "channel"],
                   prune_epochs=1,
                   channel_epochs=1, bench_runs=5, bench_warmup=1, calibration=50)
    doc = json.loads((tmp_path / "compression.json").read_text())
    from conftest import check_record_file
    from edgekit.records import CompressionFile

    check_record_file(tmp_path / "compression.json", CompressionFile)
    assert rep.variant("prune").gzip_bytes == doc["variants"][1]["gzip_bytes"]  # records, read as attributes
    assert set(doc) == {"metric", "baseline", "variants", "selection_split", "selection_n", "measure_split",
                        "measure_n"} and doc["metric"]["name"] == "accuracy"
    assert KEYS_BASELINE <= set(doc["baseline"])
    assert [v["name"] for v in doc["variants"]] == ["ptq_int8", "prune", "prune_per_tensor", "channel"]
    for v in doc["variants"]:
        assert "error" not in v, v.get("error")
        assert KEYS_VARIANT <= set(v)
        assert (tmp_path / v["path"].split("/")[-1]).is_file()
        assert {"cosine", "top1_agreement", "max_abs", "n"} <= set(v["parity"])
    base = doc["baseline"]["bytes"]
    int8 = rep.variant("ptq_int8")
    # int8 weights are a quarter of fp32, but per-channel quantization adds a float scale and an int64
    # zero point per output channel (weights and biases): ~0.39x at this thin width (0.35), ~0.28x per-tensor.
    assert int8["bytes"] <= 0.42 * base
    assert int8["parity"]["top1_agreement"] >= 0.9
    pruned = rep.variant("prune")
    assert pruned["sparsity"] >= 0.74  # 75% target on Conv2D/Dense kernels, reached by the schedule
    assert pruned["gzip_bytes"] < 0.7 * int8["gzip_bytes"]  # the zeros compress
    # the same pruned model without per-channel scales (incompressible floats): smaller still
    assert rep.variant("prune_per_tensor")["gzip_bytes"] < 0.9 * pruned["gzip_bytes"]
    assert rep.variant("prune_per_tensor")["parent"] == pruned["parent"] == "prune"  # pruned once, quantized twice
    thin = rep.variant("channel")
    assert thin["params"] < 0.7 * thin["input_params"] and thin["accuracy"] is not None
    assert thin["bytes"] < 0.7 * base
    assert "| ptq_int8 |" in (tmp_path / "compression.md").read_text()


def _small_cnn(data):
    keras.utils.set_random_seed(0)
    inp = keras.Input(data.input_shape, name="input")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_a")(inp)
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv_b")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    return _fit(keras.Model(inp, out, name="small_cnn"), data, 2)


def test_erk_allocation_prunes_wide_layers_more_and_keeps_the_total():
    from edgekit.compression.prune import _prunable, erk_sparsities

    net = create_model("mobilenet_v2", input_shape=(32, 32, 3), num_classes=10, alpha=0.35)
    targets = erk_sparsities(net, 0.75)
    sizes = {layer.name: int(np.prod(layer.kernel.shape)) for layer in net.layers if _prunable(layer)}
    assert set(targets) == set(sizes) and all(0.0 <= s < 1.0 for s in targets.values())
    total = sum(sizes[k] * targets[k] for k in sizes) / sum(sizes.values())
    assert total == pytest.approx(0.75, abs=1e-6)  # "75% sparse" still means 75% of the kernel weights
    widest, thinnest = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    assert targets[widest] > 0.85 and targets[thinnest] == 0.0  # 112->1280 head conv vs an 8-channel projection


def test_a_chance_level_input_model_is_flagged(tmp_path):
    """A model fed other scaling than it was trained on scores at chance; every drop would then read 'no loss'."""
    data = load_dataset("digits", input_shape=(8, 8, 1), seed=0)
    net = _small_cnn(data)
    w, b = net.get_layer("predictions").get_weights()
    net.get_layer("predictions").set_weights([np.zeros_like(w), np.eye(len(b))[3] * 10])  # always says "3"
    rep = compress(net, data, out=tmp_path, only=["ptq_dynamic"], bench_runs=3, bench_warmup=1)
    assert "chance level" in rep.baseline["warning"] and "(raw - 127.5) / 127.5" in rep.baseline["warning"]
    assert "**Warning:**" in (tmp_path / "compression.md").read_text()
    assert "warning" not in compress(_small_cnn(data), data, out=tmp_path / "ok", only=["ptq_dynamic"],
                                     bench_runs=3, bench_warmup=1).baseline


def test_two_of_four_and_clustering_leave_plain_layers():
    data = load_dataset("digits", input_shape=(8, 8, 1), seed=0)
    net = _small_cnn(data)
    before = [w.copy() for w in net.get_weights()]
    sparse = prune(net, data, m_by_n=(2, 4), epochs=1)
    assert wrapper_layers(sparse) == [] and not any("prune" in w.name for w in sparse.weights)
    assert is_m_by_n(sparse, 2, 4)
    assert 0.45 <= kernel_sparsity(sparse) <= 0.55
    pruned = prune(net, data, sparsity=0.75, epochs=2)
    assert wrapper_layers(pruned) == [] and kernel_sparsity(pruned) >= 0.74
    clustered = cluster(net, data, clusters=8, epochs=1)
    assert wrapper_layers(clustered) == []
    assert distinct_values(clustered) <= 8
    assert clustered.count_params() == net.count_params()
    for a, b in zip(before, net.get_weights()):  # the caller's model is left as it was
        np.testing.assert_array_equal(a, b)


def test_channel_pruning_thins_v1_v2_and_resnet_and_they_run():
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    for name, knobs in (("mobilenet_v1", {"alpha": 0.5}), ("mobilenet_v2", {"alpha": 0.35}), ("resnet8", {})):
        net = create_model(name, input_shape=(32, 32, 3), num_classes=10, **knobs)
        thin, plan = channel_prune(net, 0.5)
        assert thin.count_params() < 0.75 * net.count_params(), name
        assert thin(x).shape == (2, 10)
        if name == "mobilenet_v2":  # residual adds kept consistent: projections into an Add keep their width
            assert thin.get_layer("block_2_project").filters == net.get_layer("block_2_project").filters
            assert thin.get_layer("block_2_expand").filters < net.get_layer("block_2_expand").filters
            assert "Add" in plan.skipped["block_2_project"]
    # a thinned layer's kept filters are copied, not re-initialized
    net = create_model("mobilenet_v1", input_shape=(32, 32, 3), num_classes=10, alpha=0.5)
    thin, plan = channel_prune(net, 0.5)
    k_in, k_out = plan.keep["conv_pw_1"], plan.keep["conv_pw_2"]
    np.testing.assert_array_equal(thin.get_layer("conv_pw_2").kernel.numpy(),
                                  net.get_layer("conv_pw_2").kernel.numpy()[:, :, k_in][..., k_out])


def test_qat_int8_mobilenet_v3_small_runs_in_litert_and_agrees(digits32, tmp_path):
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    from edgekit.runtime.base import load_runner

    # 6 epochs: a 3-epoch model has enough near-ties (top-2 margins ~0) that a few flips are noise.
    net = _fit(create_model("mobilenet_v3_small", input_shape=(32, 32, 3), num_classes=10, alpha=0.75), digits32, 6)
    q = qat_model(net)
    assert any(c == "output" and "hswish" in k for k, c in q._edgekit_custom_layers.items())
    assert any("squeeze_excite_mul" in k for k in q._edgekit_custom_layers)
    _fit(q, _subset(digits32, 512), 1, lr=1e-4)
    path = tmp_path / "mnv3_qat_int8.tflite"
    path.write_bytes(tflite_bytes(q, "qat_int8", digits32.representative(50)))
    ops = Counter(op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details())
    # hard-swish is TFLite's fused op, and every BatchNormalization is folded into its conv
    # (an unfolded one would add a MUL and an ADD, requantized with no QAT counterpart).
    assert ops["HARD_SWISH"] == sum(k.endswith("_hswish") for k in q._edgekit_custom_layers)
    assert ops["MUL"] == 2 * sum(k.endswith("squeeze_excite_mul") for k in q._edgekit_custom_layers)
    runner = load_runner(path, "litert")
    assert runner.input_spec.dtype == "int8"
    x = digits32.x_test
    agree = np.mean(runner.run(x).argmax(1) == q.predict(x, verbose=0).argmax(1))
    assert agree >= 0.98, agree


def _outlier_cnn(data):
    """A small CNN whose float function is unchanged by an equivalent rescaling that gives one
    channel a 1000x larger range: per-tensor int8 activations then lose the other channels."""
    keras.utils.set_random_seed(0)
    inp = keras.Input(data.input_shape, name="input")
    h = keras.layers.Conv2D(16, 3, padding="same", name="hidden")(inp)  # linear: the rescaling passes through
    h = keras.layers.Conv2D(32, 1, activation="relu", name="mix")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    m = _fit(keras.Model(inp, out, name="outlier_cnn"), data, 40, lr=5e-3)
    before = m.predict(data.x_test, verbose=0)
    widen_channel(m, "hidden", "mix")
    np.testing.assert_allclose(m.predict(data.x_test, verbose=0), before, atol=1e-4)  # same float function
    return m


@pytest.fixture(scope="module")
def outlier():
    data = load_dataset("digits", input_shape=(8, 8, 1), seed=0)
    return data, _outlier_cnn(data)


def test_mixed_precision_brings_the_drop_within_budget_and_names_the_layers(outlier, tmp_path):
    data, m = outlier
    rep = compress(m, data, out=tmp_path, only=["ptq_int8", "mixed"], max_drop=0.01, bench_runs=5, bench_warmup=1)
    assert rep.baseline["accuracy"] > 0.7
    int8, mixed = rep.variant("ptq_int8"), rep.variant("mixed")
    assert int8["drop"] > 0.01  # full int8 breaks the budget
    assert "error" not in mixed, mixed.get("error")
    assert mixed["full_int8_drop"] > 0.01 and mixed["within_budget"] and mixed["drop"] <= 0.01
    assert mixed["float_layers"] and set(mixed["float_layers"]) & {"hidden", "mix"}
    assert "layers kept in float" in (tmp_path / "compression.md").read_text()


def test_variant_choices_do_not_read_the_test_split(outlier, tmp_path):
    """The layer sets of ``mixed`` and ``aiq_mixed`` are chosen on the validation split: with the test
    labels shuffled the choices and every try are the same, while the test figures (measured once, at
    the end) fall to chance. Chosen on the test split, the shuffled run would keep no layer float
    (every try's drop is ~0 against a chance-level baseline)."""
    from dataclasses import replace

    data, m = outlier
    shuffled = replace(data, y_test=np.random.default_rng(1).permutation(data.y_test))
    real, shuf = (compress(m, d, out=tmp_path / k, only=["mixed", "aiq_mixed"], bench_runs=3, bench_warmup=1)
                  for k, d in (("real", data), ("shuffled", shuffled)))
    a, b = real.variant("mixed"), shuf.variant("mixed")
    assert a["float_layers"] and a["float_layers"] == b["float_layers"] and a["tries"] == b["tries"]
    assert a["accuracy"] > 0.7 and b["accuracy"] < 0.3  # the test split is what the row measures
    a, b = real.variant("aiq_mixed"), shuf.variant("aiq_mixed")
    assert a.ok and a["int8_layers"] == b["int8_layers"] and a["tries"] == b["tries"]
    doc = json.loads((tmp_path / "real" / "compression.json").read_text())
    assert doc["selection_split"] == "validation" and doc["measure_split"] == "test"
    assert (doc["selection_n"], doc["measure_n"]) == (len(data.y_val), len(data.y_test))
    assert "made on the validation split" in (tmp_path / "real" / "compression.md").read_text()


def test_a_failing_variant_gives_one_line_and_the_others_finish(tmp_path):
    data = load_dataset("digits", input_shape=(8, 8, 1), seed=0)
    keras.utils.set_random_seed(0)
    inp = keras.Input(data.input_shape, name="input")
    h = keras.layers.Flatten(name="flat")(inp)
    h = keras.layers.Dense(32, activation="relu", name="hidden")(h)
    mlp = _fit(keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="predictions")(h)), data, 3)
    rep = compress(mlp, data, out=tmp_path, only=["ptq_dynamic", "channel", "ptq_int8"], bench_runs=5,
                   bench_warmup=1)
    chan = rep.variant("channel")
    assert "no conv" in chan["error"] and "\n" not in chan["error"]
    for name in ("ptq_dynamic", "ptq_int8"):
        assert "error" not in rep.variant(name) and rep.variant(name)["accuracy"] > 0.5
    doc = json.loads((tmp_path / "compression.json").read_text())
    assert [v["name"] for v in doc["variants"]] == ["ptq_dynamic", "ptq_int8", "channel"]  # table order
    assert "not applicable: channel pruning" in (tmp_path / "compression.md").read_text()
    assert chan["status"] == "not applicable" and rep.exit_code == 0


def test_unknown_variant_is_one_clear_error(mnv2, digits32, tmp_path):
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="unknown variant 'ptq_int4'.*ptq_int8"):
        compress(mnv2, digits32, out=tmp_path, only=["ptq_int4"])


def _subset(data, n):
    from dataclasses import replace

    return replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])


def test_sparsity_is_read_through_qat_wrappers():
    """A QAT model's layers are wrappers whose ``kernel`` is a fake-quantized tensor: the reported
    sparsity must come from the float kernels inside (prune_qat once reported 0.00)."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)])
    for layer in net.layers:
        k = layer.kernel.numpy()
        k[:, : k.shape[1] // 2] = 0.0  # half of every kernel is zero
        layer.kernel.assign(k)
    assert kernel_sparsity(net) == pytest.approx(0.5)
    assert kernel_sparsity(qat_model(net)) == pytest.approx(0.5)


def test_a_validation_split_too_small_to_choose_on_falls_back_to_training_data_and_says_so(digits32):
    from dataclasses import replace

    from edgekit.compression.splits import MIN_SELECTION, selection

    assert selection(digits32).split == "validation" and len(selection(digits32).y) == len(digits32.y_val)
    tiny = replace(digits32, x_val=digits32.x_val[:MIN_SELECTION - 1], y_val=digits32.y_val[:MIN_SELECTION - 1])
    sel = selection(tiny)
    assert sel.split == "train" and len(sel.y) == len(tiny.y_train)  # never the test split
    assert f"has {MIN_SELECTION - 1} samples" in sel.note and "\n" not in sel.note
