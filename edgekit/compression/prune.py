"""tfmot weight pruning (magnitude, polynomial schedule; 2:4 structured) and weight clustering.

Every function returns a *stripped* plain Keras model (no ``PruneLowMagnitude`` or
``ClusterWeights`` wrappers): what gets exported is an ordinary model whose zeros
(or shared values) compress well with gzip.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras, tf, tfmot_module
from edgekit.errors import EdgekitError, first_line


def _prunable(layer) -> bool:
    return isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and not isinstance(
        layer, keras.layers.DepthwiseConv2D)


def _wrap_layers(model, wrap):
    """Clone ``model`` wrapping Conv2D/Dense layers (depthwise and the rest are left alone:
    their weights are few and pruning them costs accuracy)."""

    try:  # wrap a private copy: fine-tuning must not move the caller's weights
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        wrapped = keras.models.clone_model(copy, clone_function=lambda layer: wrap(layer) if _prunable(layer)
                                           else layer)
    except Exception as e:  # noqa: BLE001 - tfmot raises ValueError naming the layer
        raise EdgekitError(f"cannot wrap {model.name} for tfmot: {first_line(e)}") from e
    return wrapped


def fine_tune(model, data, epochs: int, callbacks=(), learning_rate: float = 5e-4, batch_size: int = 32):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
              validation_data=(data.x_val, data.y_val), callbacks=list(callbacks))
    return model


def erk_sparsities(model, sparsity: float) -> dict[str, float]:
    """Per-layer targets that average to ``sparsity`` over all Conv2D/Dense kernel weights.

    Erdos-Renyi-Kernel allocation (Evci et al., "Rigging the Lottery", ICML 2020): a layer's
    density is proportional to (sum of its kernel dims) / (their product), so wide layers are
    pruned hard and the thin ones, where every weight matters, lightly or not at all (a layer
    whose density would exceed 1 stays dense and the rest share its budget). On MobileNetV2
    0.35 that prunes the 112->1280 head conv to 90% and leaves the 8-channel blocks alone.
    Measured there (96x96, digits, 6 epochs distilled, fp32): 75% in every layer lost 3.3
    points of test accuracy, ERK at 75% overall lost none.
    """
    layers = [(layer.name, tuple(int(d) for d in layer.kernel.shape)) for layer in model.layers if _prunable(layer)]
    n = np.array([np.prod(shape) for _, shape in layers], float)
    raw = np.array([sum(shape) / np.prod(shape) for _, shape in layers])
    dense = np.zeros(len(layers), bool)
    while True:
        budget = (1 - sparsity) * n.sum() - n[dense].sum()  # non-zeros left for the layers still pruned
        if dense.all() or budget <= 0:  # cannot happen with real shapes; never return a wrong total
            return {name: sparsity for name, _ in layers}
        density = np.where(dense, 1.0, budget / (raw[~dense] * n[~dense]).sum() * raw)
        if (density <= 1).all():
            break
        dense |= density > 1
    return {name: float(1 - d) for (name, _), d in zip(layers, density)}


def prune(model, data, sparsity: float = 0.75, epochs: int = 4, m_by_n: tuple[int, int] | None = None,
          batch_size: int = 32, learning_rate: float = 5e-4, allocation: str = "erk", distill: bool = True,
          seed: int = 0):
    """Magnitude pruning of Conv2D/Dense kernels to ``sparsity`` overall with a polynomial
    schedule (from 0 over the first 2/3 of fine-tuning), or ``m_by_n=(2, 4)`` structured sparsity.

    ``allocation="erk"`` spreads the target over layers by :func:`erk_sparsities`; ``"uniform"``
    prunes every layer to ``sparsity``. Fine-tuning distils from the unpruned ``model`` with a
    cosine-decayed rate and keeps the best validation epoch among those already at the target
    (:func:`edgekit.compression.distill.distill_fit`). On MobileNetV2 0.35/96 (digits, 6 epochs),
    the int8 of uniform 75% with plain fine-tuning lost 3.9 points of test accuracy; ERK with
    distillation 0.8 (benchmarks/results/compression.md).
    """
    from edgekit.compression.distill import distill_fit

    tfmot = tfmot_module()
    sp = tfmot.sparsity.keras
    if not 0.0 < sparsity < 1.0:
        raise EdgekitError(f"prune: sparsity must be in (0, 1), got {sparsity!r}.")
    if allocation not in ("erk", "uniform"):
        raise EdgekitError(f"prune: allocation must be 'erk' or 'uniform', got {allocation!r}.")
    per_epoch = int(np.ceil(len(data.x_train) / batch_size))
    if m_by_n is not None:
        def wrap(layer):
            return sp.prune_low_magnitude(layer, sparsity_m_by_n=tuple(m_by_n),
                                          pruning_schedule=sp.ConstantSparsity(0.5, begin_step=0, frequency=10))
        at_target = 0
    else:
        # masks are updated every ``frequency`` steps up to ``end_step``: put end_step on that grid,
        # or the last update happens before it and the model stops short of the target
        frequency = max(1, per_epoch * epochs // 30)
        end_step = max(frequency, int(per_epoch * epochs * 2 / 3) // frequency * frequency)
        at_target = int(np.ceil((end_step + 1) / per_epoch)) - 1  # first epoch that ends at the target
        targets = erk_sparsities(model, sparsity) if allocation == "erk" else \
            {layer.name: sparsity for layer in model.layers if _prunable(layer)}

        def wrap(layer):
            if targets[layer.name] <= 0.0:
                return layer  # ERK keeps it dense
            return sp.prune_low_magnitude(layer, pruning_schedule=sp.PolynomialDecay(
                initial_sparsity=0.0, final_sparsity=targets[layer.name], begin_step=0, end_step=end_step,
                frequency=frequency))
    wrapped = _wrap_layers(model, wrap)
    distill_fit(wrapped, data, epochs, teacher=model if distill else None, learning_rate=learning_rate,
                batch_size=batch_size, seed=seed, callbacks=[sp.UpdatePruningStep()], best_from_epoch=at_target)
    return strip(wrapped)


def cluster(model, data, clusters: int = 16, epochs: int = 2, batch_size: int = 32, learning_rate: float = 1e-4,
            preserve_sparsity: bool = False):
    """Weight clustering: each Conv2D/Dense kernel takes at most ``clusters`` distinct values."""
    tfmot = tfmot_module()
    ck = tfmot.clustering.keras
    if not isinstance(clusters, int) or clusters < 2:
        raise EdgekitError(f"cluster: clusters must be an integer >= 2, got {clusters!r}.")
    kw = dict(number_of_clusters=clusters, cluster_centroids_init=ck.CentroidInitialization.KMEANS_PLUS_PLUS)
    if preserve_sparsity:
        kw["preserve_sparsity"] = True
    wrapped = _wrap_layers(model, lambda layer: ck.cluster_weights(layer, **kw))
    fine_tune(wrapped, data, epochs, learning_rate=learning_rate, batch_size=batch_size)
    return strip(wrapped)


_WRAPPERS = ("PruneLowMagnitude", "ClusterWeights", "ClusterWeightsMHA", "QuantizeWrapper", "QuantizeWrapperV2",
             "QuantizeAnnotate")


def strip(model):
    """Remove pruning and clustering wrappers (QAT wrappers are kept: the converter needs them)."""
    tfmot = tfmot_module()
    model = tfmot.sparsity.keras.strip_pruning(model)
    return tfmot.clustering.keras.strip_clustering(model)


def wrapper_layers(model) -> list[str]:
    """Names of layers still wrapped by tfmot's pruning/clustering wrappers."""
    return [layer.name for layer in model.layers if type(layer).__name__ in _WRAPPERS[:3]]


def kernel_sparsity(model) -> float:
    """Fraction of zeros over all Conv2D/Dense kernels (depthwise excluded, as pruned)."""
    zeros = total = 0
    for layer in model.layers:
        if not _prunable(getattr(layer, "layer", layer)):  # tfmot wrappers (QAT, pruning) hold the real layer
            continue
        # the float kernel variable: a QAT wrapper's ``kernel`` attribute is its fake-quantized tensor
        for k in (w.numpy() for w in layer.weights if w.name.split("/")[-1] == "kernel:0"):
            zeros += int(np.sum(k == 0))
            total += k.size
    return zeros / total if total else 0.0


def is_m_by_n(model, m: int = 2, n: int = 4) -> bool:
    """True when every prunable kernel has at most ``m`` non-zeros in each block of ``n`` along
    the input-channel axis (tfmot's layout: the last-but-one kernel axis)."""
    for layer in model.layers:
        if not _prunable(layer):
            continue
        k = np.asarray(layer.kernel)
        k = np.moveaxis(k, -2, -1).reshape(-1, k.shape[-2])
        if k.shape[1] % n:
            continue
        blocks = (k.reshape(k.shape[0], -1, n) != 0).sum(-1)
        if blocks.max() > m:
            return False
    return True


def distinct_values(model) -> int:
    """The largest number of distinct values in any Conv2D/Dense kernel."""
    return max((len(np.unique(np.asarray(layer.kernel))) for layer in model.layers if _prunable(layer)), default=0)


__all__ = ["prune", "erk_sparsities", "cluster", "strip", "kernel_sparsity", "wrapper_layers", "is_m_by_n", "distinct_values",
           "fine_tune", "tf"]
