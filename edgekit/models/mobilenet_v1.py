"""MobileNetV1, written the way keras/applications writes it."""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_image_shape, check_positive
from edgekit.models.registry import register_model

layers = keras.layers

# (pointwise filters, stride) of the 13 depthwise separable blocks, in order.
_V1_BLOCKS = [
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
]


@register_model(
    task="classification",
    default_input_shape=(224, 224, 3),
    small_input_shape=(32, 32, 3),
    small_knobs={"alpha": 0.25},
    paper="Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
    "Applications, 2017 (arXiv:1704.04861)",
    family="mobilenet",
)
def mobilenet_v1(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    include_top: bool = True,
    pooling: str | None = None,
    dropout: float = 1e-3,
    classifier_activation: str | None = "softmax",
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    """MobileNetV1: a 3x3 conv stem and 13 depthwise separable blocks with ReLU6.

    Reference: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
    Vision Applications", 2017. Layer layout and names follow ``keras.applications.MobileNet``
    (classifier as a 1x1 conv after global pooling), so the parameter count is the same:
    4,253,864 at alpha 1.0, 224x224x3, 1000 classes; about 569 M multiply-adds at 1.0/224
    (the paper's Table 8). MLPerf Tiny's visual wake words model is alpha 0.25, 96x96x3, 2 classes.

    Args:
        input_shape: (height, width, channels), at least 32x32. The paper uses 128, 160, 192, 224
            (its "resolution multiplier").
        num_classes: size of the classifier.
        alpha: width multiplier: every layer has ``int(filters * alpha)`` channels
            (0.25, 0.5, 0.75, 1.0 in the paper).
        depth_multiplier: channel multiplier of each depthwise conv (a positive integer; 1 in the paper).
        include_top: add global pooling and the classifier.
        pooling: without the top, ``None``, ``"avg"`` or ``"max"`` pooling of the features.
        dropout: dropout rate before the classifier (keras' default 0.001; 0 disables it).
        classifier_activation: ``"softmax"``, ``None`` for logits, or any Keras activation.
        bn_momentum: BatchNormalization momentum (keras.applications: 0.99). 0.9 suits training
            from scratch on small data; it is not a parameter, so counts are unchanged.
        name: model name (default ``mobilenet_{alpha}_{resolution}``).
    """
    shape = check_image_shape("mobilenet_v1", input_shape, min_size=32)
    check_positive("mobilenet_v1", "alpha", alpha)
    check_positive("mobilenet_v1", "depth_multiplier", depth_multiplier, integer=True)
    check_positive("mobilenet_v1", "num_classes", num_classes, integer=True)
    check_choice("mobilenet_v1", "pooling", pooling, (None, "avg", "max"))
    if not 0.0 <= dropout < 1.0:
        raise EdgekitError(f"mobilenet_v1: dropout must be in [0, 1), got {dropout!r}.")
    if int(32 * alpha) < 1:
        raise EdgekitError(f"mobilenet_v1: alpha {alpha!r} leaves the stem with no channels; use alpha >= 1/32.")

    inputs = layers.Input(shape=shape, name="input")
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(momentum=bn_momentum, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)

    for block_id, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
        x = _depthwise_conv_block(x, int(filters * alpha), int(depth_multiplier), stride, block_id, bn_momentum)

    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(num_classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Reshape((num_classes,), name="reshape_2")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="global_max_pooling2d")(x)

    return keras.Model(inputs, x, name=name or f"mobilenet_{alpha:0.2f}_{shape[0]}")


def _depthwise_conv_block(inputs, pointwise_filters, depth_multiplier, stride, block_id, bn_momentum):
    x = inputs
    if stride == 2:
        # TF-style 'same' for a stride-2 3x3 conv pads bottom/right only.
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D(
        3,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        depth_multiplier=depth_multiplier,
        use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(pointwise_filters, 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)
