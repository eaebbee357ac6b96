"""A plain convolutional network: conv blocks, pooling, dense head."""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_image_shape, check_int_list, check_positive
from edgekit.models.registry import register_model

layers = keras.layers


@register_model(
    task="classification",
    default_input_shape=(28, 28, 1),
    small_input_shape=(16, 16, 1),
    small_knobs={"filters": (8, 16), "dense_units": (16,)},
    input_kind="image",
    paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998",
    family="cnn",
)
def cnn(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    filters=(32, 64),
    convs_per_block: int = 1,
    kernel_size: int = 3,
    pool: str = "max",
    batch_norm: bool = True,
    dense_units=(128,),
    dropout: float = 0.25,
    classifier_activation: str | None = "softmax",
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    """A LeNet-style CNN: blocks of 'same' convs + ReLU, each followed by 2x2 pooling,
    then flatten, dense layers and the classifier.

    Reference: LeCun et al., "Gradient-Based Learning Applied to Document Recognition", 1998.

    Args:
        input_shape: (height, width, channels); each block halves height and width, so they
            must be at least ``2 ** len(filters)``.
        num_classes: size of the classifier.
        filters: channels of each block.
        convs_per_block: convolutions in each block (2 gives a VGG-style block).
        kernel_size: square kernel size (odd).
        pool: max or avg pooling after each block.
        batch_norm: BatchNormalization after each conv (the conv then has no bias).
        dense_units: widths of the dense layers before the classifier (may be empty).
        dropout: dropout before each dense layer and the classifier (0 disables).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        bn_momentum: BatchNormalization momentum.
        name: model name.
    """
    fn = "cnn"
    filters = check_int_list(fn, "filters", filters)
    shape = check_image_shape(fn, input_shape, min_size=2 ** len(filters))
    check_positive(fn, "num_classes", num_classes, integer=True)
    check_positive(fn, "convs_per_block", convs_per_block, integer=True)
    check_positive(fn, "kernel_size", kernel_size, integer=True)
    check_choice(fn, "pool", pool, ("max", "avg"))
    dense_units = check_int_list(fn, "dense_units", dense_units, allow_empty=True)
    if not 0.0 <= dropout < 1.0:
        raise EdgekitError(f"{fn}: dropout must be in [0, 1), got {dropout!r}.")

    Pool = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
    inputs = layers.Input(shape=shape, name="input")
    x = inputs
    for b, f in enumerate(filters, start=1):
        for c in range(1, int(convs_per_block) + 1):
            p = f"block{b}_conv{c}"
            x = layers.Conv2D(f, kernel_size, padding="same", use_bias=not batch_norm, name=p)(x)
            if batch_norm:
                x = layers.BatchNormalization(momentum=bn_momentum, name=p + "_bn")(x)
            x = layers.Activation("relu", name=p + "_relu")(x)
        x = Pool(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, u in enumerate(dense_units, start=1):
        if dropout:
            x = layers.Dropout(dropout, name=f"dense_{i}_dropout")(x)
        x = layers.Dense(u, activation="relu", name=f"dense_{i}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name or "cnn")
