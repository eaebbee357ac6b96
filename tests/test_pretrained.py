"""Pretrained weights (keras.applications' files) and fine-tuning with a frozen backbone.

The reference networks are tf_keras.applications' own builders with ``weights=None``: their
``save_weights("x.h5")`` writes the same legacy HDF5 layout as the ImageNet files keras.applications
downloads to ~/.keras/models (this machine has no network, so no real ImageNet file is used).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import EdgekitError

SHAPE = (32, 32, 3)


def _cosine(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _reference(name):
    import tf_keras

    apps = tf_keras.applications
    # classifier_activation=None: compare logits (softmax over 1000 classes of a random net is
    # nearly uniform, so its cosine would be high even between unrelated weights).
    return {
        "mobilenet_v2": (lambda: apps.MobileNetV2(input_shape=SHAPE, alpha=0.35, weights=None,
                                                  classifier_activation=None), {"alpha": 0.35}),
        "mobilenet_v1": (lambda: apps.MobileNet(input_shape=SHAPE, alpha=0.25, weights=None,
                                                classifier_activation=None), {"alpha": 0.25}),
        "mobilenet_v3_small": (lambda: apps.MobileNetV3Small(input_shape=SHAPE, alpha=0.75, weights=None,
                                                             include_preprocessing=False,
                                                             classifier_activation=None), {"alpha": 0.75}),
        "resnet50": (lambda: apps.ResNet50(input_shape=SHAPE, weights=None, classifier_activation=None), {}),
    }[name]


def _randomize_batchnorm(model, seed=0):
    """Fresh BatchNorm layers (gamma 1, mean 0, var 1) plus random init shrink logits to ~1e-11, which
    would make any two nets look alike; random statistics give outputs that tell weights apart."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.8, 1.6, g.shape), rng.normal(0, 0.2, b.shape),
                               rng.normal(0, 0.2, m.shape), rng.uniform(0.3, 1.0, v.shape)])


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    files = {}
    for name in ("mobilenet_v2", "mobilenet_v1", "mobilenet_v3_small", "resnet50"):
        build, knobs = _reference(name)
        ref = build()
        _randomize_batchnorm(ref)
        ref.save_weights(str(d / f"{name}.h5"))
        x = np.random.default_rng(0).standard_normal((4,) + SHAPE).astype("float32")
        files[name] = (d / f"{name}.h5", knobs, x, ref(x, training=False).numpy())
    return files


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v1", "mobilenet_v3_small", "resnet50"])
def test_keras_applications_weights_give_the_same_outputs(weight_files, name):
    from edgekit.models import create_model

    path, knobs, x, want = weight_files[name]
    net = create_model(name, input_shape=SHAPE, weights=path, classifier_activation="linear", **knobs)
    got = net(x, training=False).numpy()
    assert np.std(want) > 1e-3  # logits that differ between samples and classes
    assert _cosine(got, want) >= 0.99999
    assert net._edgekit_weights.new == ()
    if name != "mobilenet_v2":
        return
    # control: the same architecture without the file is far from it
    fresh = create_model(name, input_shape=SHAPE, classifier_activation="linear", **knobs)
    assert _cosine(fresh(x, training=False).numpy(), want) < 0.99


def test_new_head_keeps_the_backbone(weight_files):
    from edgekit.models import create_model

    path, knobs, x, _ = weight_files["mobilenet_v2"]
    net = create_model("mobilenet_v2", input_shape=SHAPE, num_classes=10, weights=path, **knobs)
    assert net._edgekit_weights.new == ("predictions",) and net.output_shape == (None, 10)
    import tf_keras

    ref = tf_keras.applications.MobileNetV2(input_shape=SHAPE, alpha=0.35, weights=None, include_top=False)
    ref.load_weights(str(path), by_name=True)
    features = tf_keras.Model(net.input, net.get_layer("out_relu").output)
    assert _cosine(features(x, training=False), ref(x, training=False)) >= 0.99999


def test_mismatches_are_refused_with_the_layer_named(weight_files):
    from edgekit.models import create_model

    v2, _, _, _ = weight_files["mobilenet_v2"]
    with pytest.raises(EdgekitError, match="layer 'block_1_project' has weight shapes"):
        create_model("mobilenet_v2", input_shape=SHAPE, weights=v2, alpha=0.5)
    with pytest.raises(EdgekitError, match="no weights for layer 'Conv1'"):
        create_model("mobilenet_v2", input_shape=SHAPE, weights=weight_files["resnet50"][0], alpha=0.35)
    with pytest.raises(EdgekitError, match="has no keras.applications weights"):
        create_model("resnet8", weights=v2)


def test_imagenet_reads_the_keras_cache_and_names_a_missing_file(weight_files, tmp_path, monkeypatch, cli):
    import shutil

    from edgekit.models import create_model

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(EdgekitError) as e:
        create_model("mobilenet_v2", input_shape=(96, 96, 3), num_classes=2, alpha=0.35, weights="imagenet")
    msg = str(e.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5" in msg
    assert str(tmp_path / "keras" / "models") in msg and "\n" not in msg
    # keras.applications' file name in the cache folder is found (32x32 reads the 224 file, as keras does)
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    shutil.copy(weight_files["mobilenet_v2"][0], cache / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224.h5")
    net = create_model("mobilenet_v2", input_shape=SHAPE, num_classes=10, alpha=0.35, weights="imagenet")
    assert net._edgekit_weights.path.endswith("_0.35_224.h5") and net._edgekit_weights.new == ("predictions",)
    # the CLI: one line naming the file and the folder
    res = cli("train", "mobilenet_v1", "--data", "digits", "--weights", "imagenet", "--param", "alpha=0.25",
              "--out", tmp_path / "run", env={"KERAS_HOME": str(tmp_path / "empty")})
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "mobilenet_2_5_224_tf_no_top.h5" in res.stderr and str(tmp_path / "empty" / "models") in res.stderr


def test_freeze_backbone_trains_only_the_head(weight_files, digits32, tmp_path):
    from edgekit.models.weights import read_weight_file
    from edgekit.training import train

    path, knobs, _, _ = weight_files["mobilenet_v2"]
    res = train("mobilenet_v2", digits32, params=dict(knobs), weights=path, out=tmp_path, epochs=2, patience=2,
                tensorboard=False, freeze_backbone=True)
    stored = read_weight_file(path)
    net = res.model
    moved = [layer.name for layer in net.layers if layer.weights and layer.name != "predictions"
             and not all(np.array_equal(w.numpy(), a) for w, a in zip(layer.weights, stored[layer.name.lower()][1]))]
    assert moved == []  # kernels and BatchNorm statistics alike: BN ran in inference mode
    head = net.get_layer("predictions").get_weights()[0]
    assert head.shape == (1280, 10) and np.abs(head).sum() > 0
    assert res.metrics["freeze_backbone"] and res.metrics["weights"]["new_layers"] == ["predictions"]
    assert res.metrics["head_layers"] == ["predictions"]
    # the head trained: it left the initialization train() gave it (same seed, same call, built here
    # twice to show the seed fixes it); a falling loss is no check on random-weight features near chance
    from edgekit._tf import reproducible
    from edgekit.models import create_model

    def initial_head():
        reproducible(0)
        m = create_model("mobilenet_v2", input_shape=digits32.input_shape, num_classes=10, weights=path, **dict(knobs))
        return m.get_layer("predictions").get_weights()[0]

    init = initial_head()
    assert np.array_equal(init, initial_head())
    assert not np.allclose(head, init, atol=1e-6)
    assert all(layer.trainable for layer in net.layers)  # saved thawed: compress's fine-tuning can train it


def test_unfreeze_picks_the_last_blocks_and_keeps_batchnorm_frozen():
    from edgekit.models import create_model
    from edgekit.models.weights import set_backbone_trainable

    v2 = create_model("mobilenet_v2", input_shape=SHAPE, num_classes=10, alpha=0.35)
    trainable, frozen = set_backbone_trainable(v2, 1)
    assert trainable == ["block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1", "predictions"]
    assert "block_16_expand_BN" in frozen and "Conv_1_bn" in frozen and "block_15_expand" in frozen
    r50 = create_model("resnet50", input_shape=SHAPE, num_classes=10, width=0.25)
    trainable, _ = set_backbone_trainable(r50, 2)
    assert {n.split("_")[0] + "_" + n.split("_")[1] for n in trainable[:-1]} == {"conv5_block2", "conv5_block3"}
    v1 = create_model("mobilenet_v1", input_shape=SHAPE, num_classes=10, alpha=0.25)
    assert set_backbone_trainable(v1, 1)[0] == ["conv_dw_13", "conv_pw_13", "conv_preds"]
    with pytest.raises(EdgekitError, match="has 13 blocks"):
        set_backbone_trainable(v1, 14)


def test_keras3_files(tmp_path):
    """Keras 3 names MobileNetV3's layers differently (expanded_conv_depthwise_bn); its whole-model .h5 loads
    by those names. Its .weights.h5 keys tensors by class and order, no names: refused, with what to do."""
    import keras as keras3

    from edgekit.models import create_model

    ref = keras3.applications.MobileNetV3Small(input_shape=SHAPE, alpha=0.75, weights=None, include_preprocessing=False,
                                               classifier_activation=None)
    _randomize_batchnorm(ref)
    ref.save(str(tmp_path / "v3.h5"))
    x = np.random.default_rng(0).standard_normal((4,) + SHAPE).astype("float32")
    net = create_model("mobilenet_v3_small", input_shape=SHAPE, alpha=0.75, classifier_activation="linear",
                       weights=tmp_path / "v3.h5")
    assert _cosine(net(x, training=False).numpy(), np.asarray(ref(x, training=False))) >= 0.99999
    ref.save_weights(str(tmp_path / "v3.weights.h5"))
    with pytest.raises(EdgekitError, match="records no layer names"):
        create_model("mobilenet_v3_small", input_shape=SHAPE, alpha=0.75, weights=tmp_path / "v3.weights.h5")
