"""MobileNetV3 Small and Large, written the way keras/applications writes them."""

from __future__ import annotations

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_image_shape, check_positive, correct_pad, make_divisible
from edgekit.models.registry import register_model

layers = keras.layers

# Each row: (expansion, output channels, kernel, stride, squeeze-excite?, activation).
# "K" is the variant's kernel (5, or 3 when minimalistic); "HS" is hard-swish (ReLU when minimalistic).
_SMALL = [
    (1, 16, 3, 2, True, "RE"),
    (72 / 16, 24, 3, 2, False, "RE"),
    (88 / 24, 24, 3, 1, False, "RE"),
    (4, 40, "K", 2, True, "HS"),
    (6, 40, "K", 1, True, "HS"),
    (6, 40, "K", 1, True, "HS"),
    (3, 48, "K", 1, True, "HS"),
    (3, 48, "K", 1, True, "HS"),
    (6, 96, "K", 2, True, "HS"),
    (6, 96, "K", 1, True, "HS"),
    (6, 96, "K", 1, True, "HS"),
]
_LARGE = [
    (1, 16, 3, 1, False, "RE"),
    (4, 24, 3, 2, False, "RE"),
    (3, 24, 3, 1, False, "RE"),
    (3, 40, "K", 2, True, "RE"),
    (3, 40, "K", 1, True, "RE"),
    (3, 40, "K", 1, True, "RE"),
    (6, 80, 3, 2, False, "HS"),
    (2.5, 80, 3, 1, False, "HS"),
    (2.3, 80, 3, 1, False, "HS"),
    (2.3, 80, 3, 1, False, "HS"),
    (6, 112, 3, 1, True, "HS"),
    (6, 112, 3, 1, True, "HS"),
    (6, 160, "K", 2, True, "HS"),
    (6, 160, "K", 1, True, "HS"),
    (6, 160, "K", 1, True, "HS"),
]

_DOC_TEMPLATE = """MobileNetV3-{variant}: inverted residuals with squeeze-and-excitation and hard-swish.

    Reference: Howard et al., "Searching for MobileNetV3", ICCV 2019 (arXiv:1905.02244).
    Layer layout follows ``keras.applications.MobileNetV3{variant}`` (with
    ``include_preprocessing=False``: the Rescaling layer it adds has no parameters), so the
    parameter count is the same. Published figures at 224x224, 1000 classes:

    | variant | MACs | params |
    | --- | --- | --- |
    | Large 1.0 | 219 M (217 M released) | 5.48 M |
    | Small 1.0 | 66 M | 2.55 M |

    Layer names use ``_`` where keras uses ``/`` (``expanded_conv_3_squeeze_excite_conv``).

    Args:
        input_shape: (height, width, channels), at least 32x32.
        num_classes: size of the classifier.
        alpha: width multiplier of the inverted residual blocks (the stem keeps 16 channels,
            as in keras); 0.75 and 1.0 are the paper's.
        minimalistic: drop squeeze-and-excitation and hard-swish and use 3x3 kernels only
            (the "minimalistic" models, friendlier to integer accelerators).
        include_top: add global pooling and the classifier head.
        pooling: without the top, ``None``, ``"avg"`` or ``"max"`` pooling of the features.
        dropout: dropout rate before the classifier (keras' default 0.2).
        classifier_activation: ``"softmax"``, ``None`` for logits, or any Keras activation.
        bn_momentum: BatchNormalization momentum (keras.applications: 0.999; 0.9 here so
            moving statistics converge on small data; not a parameter).
        name: model name.
    """


def _build(variant, blocks, last_point_ch, input_shape, num_classes, alpha, minimalistic, include_top, pooling,
           dropout, classifier_activation, bn_momentum, name):
    fn = f"mobilenet_v3_{variant.lower()}"
    shape = check_image_shape(fn, input_shape, min_size=32)
    check_positive(fn, "alpha", alpha)
    check_positive(fn, "num_classes", num_classes, integer=True)
    check_choice(fn, "pooling", pooling, (None, "avg", "max"))
    if not 0.0 <= dropout < 1.0:
        raise EdgekitError(f"{fn}: dropout must be in [0, 1), got {dropout!r}.")

    kernel = 3 if minimalistic else 5
    se_ratio = None if minimalistic else 0.25
    hs = "RE" if minimalistic else "HS"

    inputs = layers.Input(shape=shape, name="input")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="Conv")(inputs)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="Conv_BatchNorm")(x)
    x = _apply_activation(x, hs, "Conv_act")

    for block_id, (expansion, filters, k, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(
            x,
            expansion,
            make_divisible(filters * alpha),
            kernel if k == "K" else k,
            stride,
            se_ratio if se else None,
            hs if act == "HS" else "RE",
            block_id,
            bn_momentum,
        )

    last_conv_ch = make_divisible(x.shape[-1] * 6)
    if alpha > 1.0:
        last_point_ch = make_divisible(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, 1, padding="same", use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="Conv_1_BatchNorm")(x)
    x = _apply_activation(x, hs, "Conv_1_act")

    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = layers.Conv2D(last_point_ch, 1, padding="same", use_bias=True, name="Conv_2")(x)
        x = _apply_activation(x, hs, "Conv_2_act")
        if dropout > 0:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(num_classes, 1, padding="same", name="Logits")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Activation(classifier_activation, name="Predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name or f"mobilenetv3_{variant.lower()}_{alpha:g}_{shape[0]}")


@keras.saving.register_keras_serializable(package="edgekit")
class HardSigmoid(layers.Layer):
    """``relu6(x + 3) / 6`` as one layer without weights.

    One layer gives quantization-aware training one fake-quant point at its output (see
    ``edgekit.compression.quantize``). In int8 TFLite it becomes ADD (fused RELU6) then MUL by
    1/6: the ADD's calibrated range is [0, 6], six times the output's [0, 1], so the two
    requantizations round on the same grid and the unmodelled one adds no error.
    """

    def call(self, x):
        return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="edgekit")
class HardSwish(layers.Layer):
    """``x * relu6(x + 3) / 6`` as one layer without weights, written the way
    keras.applications' MobileNetV3 writes it so that the TFLite converter fuses it into its
    single ``HARD_SWISH`` op (fp32 and int8). Quantization-aware training then models the
    int8 graph exactly: one fake-quant at the layer's output, one requantization in TFLite.
    (Stock layers, e.g. ``Rescaling`` + ``ReLU`` + ``Multiply``, lower to MUL, ADD, MINIMUM,
    RELU and MUL, each requantized, and QAT models only some of those steps.)
    """

    def call(self, x):
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape


def _apply_activation(x, kind, name):
    if kind == "RE":
        return layers.ReLU(name=name + "_relu")(x)
    return HardSwish(name=name + "_hswish")(x)


def _se_block(inputs, filters, se_ratio, prefix):
    x = layers.GlobalAveragePooling2D(keepdims=True, name=prefix + "squeeze_excite_avgpool")(inputs)
    x = layers.Conv2D(make_divisible(filters * se_ratio), 1, padding="same", name=prefix + "squeeze_excite_conv")(x)
    x = layers.ReLU(name=prefix + "squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", name=prefix + "squeeze_excite_conv_1")(x)
    x = HardSigmoid(name=prefix + "squeeze_excite_hsigmoid")(x)
    return layers.Multiply(name=prefix + "squeeze_excite_mul")([inputs, x])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, act, block_id, bn_momentum):
    shortcut = x
    prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
    infilters = x.shape[-1]
    if block_id:
        x = layers.Conv2D(make_divisible(infilters * expansion), 1, padding="same", use_bias=False,
                          name=prefix + "expand")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=prefix + "expand_BatchNorm")(x)
        x = _apply_activation(x, act, prefix + "expand")
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, kernel_size), name=prefix + "depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=prefix + "depthwise")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=prefix + "depthwise_BatchNorm")(x)
    x = _apply_activation(x, act, prefix + "depthwise")
    if se_ratio:
        x = _se_block(x, make_divisible(infilters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=prefix + "project_BatchNorm")(x)
    if stride == 1 and infilters == filters:
        x = layers.Add(name=prefix + "add")([shortcut, x])
    return x


_SPEC = dict(
    task="classification",
    default_input_shape=(224, 224, 3),
    small_input_shape=(32, 32, 3),
    small_knobs={"alpha": 0.75},
    paper="Howard et al., Searching for MobileNetV3, ICCV 2019 (arXiv:1905.02244)",
    family="mobilenet",
)


@register_model(**_SPEC)
def mobilenet_v3_small(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    alpha: float = 1.0,
    minimalistic: bool = False,
    include_top: bool = True,
    pooling: str | None = None,
    dropout: float = 0.2,
    classifier_activation: str | None = "softmax",
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    return _build("Small", _SMALL, 1024, input_shape, num_classes, alpha, minimalistic, include_top, pooling,
                  dropout, classifier_activation, bn_momentum, name)


@register_model(**_SPEC)
def mobilenet_v3_large(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    alpha: float = 1.0,
    minimalistic: bool = False,
    include_top: bool = True,
    pooling: str | None = None,
    dropout: float = 0.2,
    classifier_activation: str | None = "softmax",
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    return _build("Large", _LARGE, 1280, input_shape, num_classes, alpha, minimalistic, include_top, pooling,
                  dropout, classifier_activation, bn_momentum, name)


mobilenet_v3_small.__doc__ = _DOC_TEMPLATE.format(variant="Small")
mobilenet_v3_large.__doc__ = _DOC_TEMPLATE.format(variant="Large")
