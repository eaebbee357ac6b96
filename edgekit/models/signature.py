"""A Keras model's inputs and outputs by name: what the final check and the runners feed and compare.

A model may take several inputs (an image and a feature vector) and give several outputs (a class
softmax and a score). Every runtime names them differently (LiteRT's signature keys, ONNX graph
names, Keras' input and output layer names); this module is the Keras side of that mapping.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import tf
from edgekit.artifact import TensorSpec


def _static_shape(t) -> tuple:
    return tuple(None if d is None else int(d) for d in t.shape)


def input_specs(loaded) -> list[TensorSpec]:
    """The model's inputs in its own order, each with its name, shape (batch free) and dtype."""
    if loaded.model is None:
        sig = loaded.function.structured_input_signature[1]
        return [TensorSpec(name=k, shape=_static_shape(s), dtype=s.dtype.name) for k, s in sig.items()]
    model = loaded.model
    names = list(getattr(model, "input_names", None) or [])
    specs = []
    for i, t in enumerate(model.inputs):
        name = names[i] if i < len(names) else _keras_tensor_name(t, f"input_{i}")
        specs.append(TensorSpec(name=name, shape=_static_shape(t), dtype=tf.as_dtype(t.dtype).name))
    if len(specs) == 1 and not names:
        specs[0] = specs[0].model_copy(update={"name": "input"})
    return specs


def _keras_tensor_name(t, default: str) -> str:
    # Keras 3 tensors carry their Input layer's name through ``_keras_history``; tf_keras ones ``name``.
    hist = getattr(t, "_keras_history", None)
    layer = getattr(hist, "operation", None) or (hist[0] if isinstance(hist, tuple) and hist else None)
    name = getattr(layer, "name", None) or getattr(t, "name", None) or default
    return str(name).split(":")[0]


def output_specs(loaded) -> list[TensorSpec]:
    """The model's outputs in its own order, named after their output layers (``model.output_names``)."""
    if loaded.model is None:
        outs = loaded.function.structured_outputs
        return [TensorSpec(name=k, shape=_static_shape(v), dtype=v.dtype.name) for k, v in outs.items()]
    model = loaded.model
    names = list(getattr(model, "output_names", None) or [])
    specs = []
    for i, t in enumerate(model.outputs):
        name = names[i] if i < len(names) and len(set(names)) == len(names) else f"output_{i}"
        specs.append(TensorSpec(name=name, shape=_static_shape(t), dtype="float32"))
    return specs




def _feed(ins, xs):
    """One tensor, or a dict keyed by input name: both Keras accept a dict for a model built with a
    list or a dict of inputs, while a list must follow an order Keras 3 may have sorted."""
    return xs[0] if len(xs) == 1 else {s.name: x for s, x in zip(ins, xs)}


def predict_named(loaded, feeds: dict[str, np.ndarray], batch_size: int = 64) -> dict[str, np.ndarray]:
    """Run the Keras model on ``feeds`` (one array per input name); one float array per output name."""
    ins, outs = input_specs(loaded), output_specs(loaded)
    n = len(next(iter(feeds.values())))
    parts: dict[str, list] = {s.name: [] for s in outs}
    for i in range(0, n, batch_size):
        xs = [tf.constant(np.asarray(feeds[s.name][i : i + batch_size], dtype=s.dtype)) for s in ins]
        if loaded.model is not None:
            y = loaded.model(_feed(ins, xs), training=False)
            ys = list(y.values()) if isinstance(y, dict) else list(y) if isinstance(y, (list, tuple)) else [y]
        else:
            y = loaded.function(**{s.name: x for s, x in zip(ins, xs)})
            ys = [y[s.name] for s in outs]
        for s, v in zip(outs, ys):
            parts[s.name].append(np.asarray(v, np.float32))
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}
