"""MobileNetV2, written the way keras/applications writes it."""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_image_shape, check_positive, correct_pad, make_divisible
from edgekit.models.registry import register_model

layers = keras.layers

# (output channels, stride, expansion) of the 17 inverted residual blocks, in order.
_V2_BLOCKS = [
    (16, 1, 1),
    (24, 2, 6), (24, 1, 6),
    (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
    (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6),
    (320, 1, 6),
]


@register_model(
    task="classification",
    default_input_shape=(224, 224, 3),
    small_input_shape=(32, 32, 3),
    small_knobs={"alpha": 0.35},
    paper="Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018 (arXiv:1801.04381)",
    family="mobilenet",
)
def mobilenet_v2(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    alpha: float = 1.0,
    expansion: int = 6,
    include_top: bool = True,
    pooling: str | None = None,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    """MobileNetV2: inverted residual blocks with linear bottlenecks and ReLU6.

    Reference: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    CVPR 2018. The layer layout and names follow ``keras.applications.MobileNetV2``, so the
    parameter count is the same (3,538,984 at alpha 1.0, 224x224x3, 1000 classes) and
    multiply-adds match the paper (about 300 M at 1.0/224).

    Args:
        input_shape: (height, width, channels). Any resolution of at least 32x32 works;
            the paper uses 96, 128, 160, 192 and 224.
        num_classes: size of the classifier.
        alpha: width multiplier; scales every layer's channels (0.35, 0.5, 0.75, 1.0, 1.3, 1.4
            in the paper). Below 1.0 the last 1x1 conv keeps 1280 channels.
        expansion: expansion factor t of blocks 1-16 (the paper's table 2 uses 6; its figure 6
            compares smaller factors). The first block keeps 1. A smaller factor thins the
            expand and depthwise convs, the bulk of the MACs, without touching the bottlenecks.
        include_top: add global pooling and the classifier.
        pooling: without the top, ``None``, ``"avg"`` or ``"max"`` pooling of the features.
        dropout: dropout rate before the classifier (0 disables it).
        classifier_activation: ``"softmax"``, ``None`` for logits, or any Keras activation.
        bn_momentum: BatchNormalization momentum. keras.applications uses 0.999, which is
            tuned for ImageNet-scale training; on small data the moving statistics never
            converge and inference accuracy collapses to chance, so the default is 0.9.
            Momentum is not a parameter: the count is unchanged.
        name: model name (default ``mobilenetv2_{alpha}_{resolution}``).
    """
    shape = check_image_shape("mobilenet_v2", input_shape, min_size=32)
    check_positive("mobilenet_v2", "alpha", alpha)
    check_positive("mobilenet_v2", "num_classes", num_classes, integer=True)
    check_positive("mobilenet_v2", "expansion", expansion, integer=True)
    check_choice("mobilenet_v2", "pooling", pooling, (None, "avg", "max"))
    if not 0.0 <= dropout < 1.0:
        raise EdgekitError(f"mobilenet_v2: dropout must be in [0, 1), got {dropout!r}.")

    inputs = layers.Input(shape=shape, name="input")
    first_block_filters = make_divisible(32 * alpha, 8)
    x = layers.Conv2D(first_block_filters, 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)

    for block_id, (filters, stride, t) in enumerate(_V2_BLOCKS):
        x = _inverted_res_block(x, filters, stride, expansion if t != 1 else 1, alpha, block_id, bn_momentum)

    last_block_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
        if dropout:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="global_max_pooling2d")(x)

    return keras.Model(inputs, x, name=name or f"mobilenetv2_{alpha:g}_{shape[0]}")


def _inverted_res_block(inputs, filters, stride, expansion, alpha, block_id, bn_momentum):
    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    x = inputs

    if block_id:  # expand: 1x1 conv to expansion * in_channels
        x = layers.Conv2D(int(expansion) * in_channels, 1, padding="same", use_bias=False, name=prefix + "expand")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=prefix + "expand_BN")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)

    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(
        3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid", name=prefix + "depthwise"
    )(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=prefix + "depthwise_BN")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)

    # project: linear bottleneck (no activation)
    x = layers.Conv2D(pointwise_filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=prefix + "project_BN")(x)

    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x
