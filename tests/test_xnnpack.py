"""Issue 20: an int8 model whose requantization scale XNNPACK rejects (>= 256) still runs and benchmarks.

The model is real: a conv with very large weights (what a tuning trial at a large learning rate
produced) fused with ReLU6, calibrated on raw 0..255 pixels, so input scale x filter scale / output
scale lands far above 256. LiteRT's default interpreter cannot load it ("failed to create XNNPACK
runtime"); the reference kernels can.
"""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    from sklearn.datasets import load_digits

    from edgekit._tf import keras
    from edgekit.convert import export

    tmp = tmp_path_factory.mktemp("xnnpack")
    d = load_digits()
    npz = tmp / "raw.npz"
    np.savez(npz, x=(d.images * 255 / 16).astype(np.float32)[..., None], y=d.target)
    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([L.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu6", name="big_conv"), L.Flatten(),
                          L.Dense(10, name="head")])
    w, b = m.get_layer("big_conv").get_weights()
    m.get_layer("big_conv").set_weights([w * 5000.0, b])
    path = tmp / "big.keras"
    m.save(path)
    warnings = []
    art = export(path, to="tflite", precision="int8", data=str(npz), input_range="0,255", out=tmp,
                 warn=warnings.append, io="int8")  # int8 in: the convolution is the first op
    return art, warnings


def test_export_names_the_op_and_channel(refused):
    art, warnings = refused
    line = next(w for w in warnings if "XNNPACK" in w)
    assert "CONV_2D #0" in line and "channel" in line and "requantization scale" in line
    assert art.extra["xnnpack_refuses"]


def test_litert_falls_back_and_bench_records_it(refused, cli, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.runtime.litert import LiteRTRunner

    art, _ = refused
    with pytest.raises(RuntimeError, match="XNNPACK"):  # the default interpreter really refuses it
        Interpreter(model_path=art.path).allocate_tensors()
    r = LiteRTRunner(art.path)
    assert r.xnnpack is False and "CONV_2D" in r.xnnpack_fallback
    assert r.run(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)
    res = cli("bench", art.path, "--runs", "5", "--warmup", "1", "--no-roofline", "--json", tmp_path / "b.json")
    assert res.returncode == 0, res.stderr
    assert "XNNPACK failed to prepare" in res.stderr and "reference kernels" in res.stderr
    row = json.loads((tmp_path / "b.json").read_text())["results"][0]
    assert row["options"]["xnnpack"] is False and "CONV_2D" in row["options"]["xnnpack_fallback"]
