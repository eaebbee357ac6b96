"""ResNet family: CIFAR-style ResNet-8/20, ImageNet ResNet-18/34 (basic blocks),
ResNet-50/101/152 (bottlenecks), ResNeXt-50 32x4d (grouped conv) and Wide ResNet-50-2."""

from __future__ import annotations

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_image_shape, check_positive, make_divisible
from edgekit.models.registry import register_model

layers = keras.layers

_BN_EPS = 1.001e-5  # keras.applications' ResNet epsilon


@keras.saving.register_keras_serializable(package="edgekit")
class GroupedConv2D(layers.Layer):
    """A grouped convolution written as ``groups`` ordinary convolutions on channel slices,
    concatenated: the same function and parameters as ``Conv2D(groups=g)``, in ops every
    target has (SPLIT, CONV_2D, CONCATENATION). tf_keras runs ``Conv2D(groups=g)`` through a
    compiled function that tf2onnx leaves as a node onnxruntime rejects, and TFLite Micro's
    CONV_2D has no groups; this form converts to TFLite, ONNX and TFLM."""

    def __init__(self, filters: int, kernel_size: int, groups: int, strides: int = 1, padding: str = "same",
                 use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.groups = int(filters), int(kernel_size), int(groups)
        self.strides, self.padding, self.use_bias = int(strides), padding, bool(use_bias)
        if self.filters % self.groups:
            raise EdgekitError(f"GroupedConv2D: filters ({filters}) must be divisible by groups ({groups}).")
        self.convs = [layers.Conv2D(self.filters // self.groups, self.kernel_size, strides=self.strides,
                                    padding=self.padding, use_bias=self.use_bias, name=f"group{i}")
                      for i in range(self.groups)]

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.groups:
            raise EdgekitError(f"GroupedConv2D: input channels ({channels}) must be divisible by groups ({self.groups}).")
        for conv in self.convs:
            conv.build(tuple(input_shape[:-1]) + (channels // self.groups,))
        super().build(input_shape)

    def call(self, x):
        parts = tf.split(x, self.groups, axis=-1)
        return tf.concat([conv(p) for conv, p in zip(self.convs, parts)], axis=-1)

    def compute_output_shape(self, input_shape):
        return self.convs[0].compute_output_shape(tuple(input_shape[:-1]) + (int(input_shape[-1]) // self.groups,))[:-1] + (self.filters,)

    def macs(self) -> int:
        shape = getattr(self, "output_shape", None)
        if not shape or any(d is None for d in shape[1:]):
            return 0
        cin = int(self.input_shape[-1])
        return int(shape[1] * shape[2] * self.filters * self.kernel_size**2 * cin // self.groups)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, groups=self.groups, strides=self.strides,
                      padding=self.padding, use_bias=self.use_bias)
        return config

_COMMON_ARGS = """
    Args:
        input_shape: (height, width, channels), at least 32x32.
        num_classes: size of the classifier.
        width: width multiplier on the stem and every stage's channels (rounded to multiples
            of 8; 1.0 is the paper's network). 0.25 or 0.5 give small ResNets for small inputs
            and devices, as alpha does for MobileNets.
        resnet_d: ResNet-D downsampling (He et al., "Bag of Tricks for Image Classification",
            CVPR 2019): the stride moves from the first 1x1 conv to the 3x3 conv, and the
            projection shortcut becomes 2x2 average pooling then a stride-1 1x1 conv, so no
            activation is skipped by a strided 1x1. Parameters are unchanged. (The deep 3x3 stem
            of ResNet-C is not included.)
        conv_bias: whether convolutions carry a bias. ``None`` follows the reference the
            parameter count is checked against (see above).
        include_top: add global average pooling and the classifier.
        pooling: without the top, ``None``, ``"avg"`` or ``"max"`` pooling of the features.
        dropout: dropout rate before the classifier (0 disables it).
        classifier_activation: ``"softmax"``, ``None`` for logits, or any Keras activation.
        bn_momentum: BatchNormalization momentum (keras.applications: 0.99; 0.9 here so moving
            statistics converge on small data; not a parameter).
        name: model name.
    """


def _check_common(fn, input_shape, num_classes, pooling, dropout, min_size=32):
    shape = check_image_shape(fn, input_shape, min_size=min_size)
    check_positive(fn, "num_classes", num_classes, integer=True)
    check_choice(fn, "pooling", pooling, (None, "avg", "max"))
    if not 0.0 <= dropout < 1.0:
        raise EdgekitError(f"{fn}: dropout must be in [0, 1), got {dropout!r}.")
    return shape


def _head(x, include_top, pooling, num_classes, dropout, classifier_activation):
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        return layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def _bn(x, name, momentum):
    return layers.BatchNormalization(epsilon=_BN_EPS, momentum=momentum, name=name)(x)


def _shortcut(x, out_channels, stride, resnet_d, use_bias, name, momentum):
    """Projection shortcut: strided 1x1 conv + BN, or (ResNet-D) avg-pool then 1x1 conv + BN."""
    if resnet_d and stride > 1:
        x = layers.AveragePooling2D(stride, strides=stride, padding="same", name=name + "_0_pool")(x)
        stride = 1
    x = layers.Conv2D(out_channels, 1, strides=stride, use_bias=use_bias, name=name + "_0_conv")(x)
    return _bn(x, name + "_0_bn", momentum)


def _basic_block(x, filters, stride, resnet_d, use_bias, name, momentum, shortcut_bn=True):
    """Two 3x3 convs (ResNet-18/34 and the CIFAR ResNets)."""
    if stride != 1 or x.shape[-1] != filters:
        if shortcut_bn:
            shortcut = _shortcut(x, filters, stride, resnet_d, use_bias, name, momentum)
        else:  # MLPerf Tiny's ResNet-8: the projection has no BatchNorm
            shortcut = layers.Conv2D(filters, 1, strides=stride, padding="same", use_bias=use_bias,
                                     name=name + "_0_conv")(x)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=use_bias, name=name + "_1_conv")(x)
    y = _bn(y, name + "_1_bn", momentum)
    y = layers.Activation("relu", name=name + "_1_relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=name + "_2_conv")(y)
    y = _bn(y, name + "_2_bn", momentum)
    y = layers.Add(name=name + "_add")([shortcut, y])
    return layers.Activation("relu", name=name + "_out")(y)


def _bottleneck_block(x, filters, stride, resnet_d, use_bias, name, momentum, groups=1, width=None, expansion=4):
    """1x1 reduce, 3x3 (optionally grouped), 1x1 expand to ``expansion * filters``.

    As in keras.applications' ResNet v1 the stride sits on the first 1x1 conv; with
    ``resnet_d`` it moves to the 3x3 conv.
    """
    width = width or filters
    out_channels = expansion * filters
    if stride != 1 or x.shape[-1] != out_channels:
        shortcut = _shortcut(x, out_channels, stride, resnet_d, use_bias, name, momentum)
    else:
        shortcut = x
    s1, s3 = (1, stride) if resnet_d else (stride, 1)
    y = layers.Conv2D(width, 1, strides=s1, use_bias=use_bias, name=name + "_1_conv")(x)
    y = _bn(y, name + "_1_bn", momentum)
    y = layers.Activation("relu", name=name + "_1_relu")(y)
    if groups > 1:
        y = GroupedConv2D(width, 3, groups, strides=s3, padding="same", use_bias=use_bias, name=name + "_2_conv")(y)
    else:
        y = layers.Conv2D(width, 3, strides=s3, padding="same", use_bias=use_bias, name=name + "_2_conv")(y)
    y = _bn(y, name + "_2_bn", momentum)
    y = layers.Activation("relu", name=name + "_2_relu")(y)
    y = layers.Conv2D(out_channels, 1, use_bias=use_bias, name=name + "_3_conv")(y)
    y = _bn(y, name + "_3_bn", momentum)
    y = layers.Add(name=name + "_add")([shortcut, y])
    return layers.Activation("relu", name=name + "_out")(y)


def _scaled(channels: int, width: float) -> int:
    """Channels times the width multiplier, kept a multiple of 8 (exactly ``channels`` at 1.0)."""
    return channels if width == 1.0 else make_divisible(channels * width, 8)


def _imagenet_resnet(fn, depths, block, input_shape, num_classes, resnet_d, use_bias, include_top, pooling,
                     dropout, classifier_activation, bn_momentum, name, groups=1, width_per_group=64, width=1.0):
    shape = _check_common(fn, input_shape, num_classes, pooling, dropout)
    check_positive(fn, "width", width)
    inputs = layers.Input(shape=shape, name="input")
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(_scaled(64, width), 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = _bn(x, "conv1_bn", bn_momentum)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths)):
        filters = _scaled(filters, width)
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            bname = f"conv{stage + 2}_block{b + 1}"
            if block == "basic":
                x = _basic_block(x, filters, stride, resnet_d, use_bias, bname, bn_momentum)
            else:
                inner = max(1, filters * width_per_group // 64) * groups
                x = _bottleneck_block(x, filters, stride, resnet_d, use_bias, bname, bn_momentum,
                                      groups=groups, width=inner)
    x = _head(x, include_top, pooling, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name or fn)


_IMAGENET = dict(
    task="classification",
    default_input_shape=(224, 224, 3),
    small_input_shape=(32, 32, 3),
    # The registry-wide tests build every model small: a quarter of the width keeps every layer and
    # op of the graph (what conversion and parity depend on) at 1/16 of the weights. The full-width
    # parameter counts are checked against keras.applications in test_zoo_builders.
    small_knobs={"width": 0.25},
    family="resnet",
)
_HE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (arXiv:1512.03385)"


def _imagenet_builder(fn_name, depths, block, default_bias, doc, groups=1, width_per_group=64, paper=_HE):
    def builder(
        input_shape=(224, 224, 3),
        num_classes: int = 1000,
        width: float = 1.0,
        resnet_d: bool = False,
        conv_bias: bool | None = None,
        include_top: bool = True,
        pooling: str | None = None,
        dropout: float = 0.0,
        classifier_activation: str | None = "softmax",
        bn_momentum: float = 0.9,
        name: str | None = None,
    ):
        use_bias = default_bias if conv_bias is None else bool(conv_bias)
        return _imagenet_resnet(fn_name, depths, block, input_shape, num_classes, resnet_d, use_bias, include_top,
                                pooling, dropout, classifier_activation, bn_momentum, name, groups=groups,
                                width_per_group=width_per_group, width=width)

    builder.__name__ = builder.__qualname__ = fn_name
    builder.__doc__ = doc + _COMMON_ARGS
    return register_model(paper=paper, **_IMAGENET)(builder)


resnet18 = _imagenet_builder(
    "resnet18", (2, 2, 2, 2), "basic", False,
    """ResNet-18: 7x7 stem, four stages of two basic blocks (two 3x3 convs).

    Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    Convs have no bias, as in torchvision's resnet18 (11,689,512 parameters at 224, 1000 classes;
    about 1.8 G multiply-adds).
""")
resnet34 = _imagenet_builder(
    "resnet34", (3, 4, 6, 3), "basic", False,
    """ResNet-34: 7x7 stem, stages of 3, 4, 6, 3 basic blocks.

    Reference: He et al., CVPR 2016. Convs have no bias, as in torchvision's resnet34
    (21,797,672 parameters at 224, 1000 classes; about 3.6 G multiply-adds).
""")
resnet50 = _imagenet_builder(
    "resnet50", (3, 4, 6, 3), "bottleneck", True,
    """ResNet-50 (v1): stages of 3, 4, 6, 3 bottleneck blocks.

    Reference: He et al., CVPR 2016. Layout and names follow ``keras.applications.ResNet50``:
    convs carry a bias and the stride sits on the first 1x1 conv of a block, so the parameter
    count is the same (25,636,712 at 224, 1000 classes; 25,557,032 with ``conv_bias=False``,
    torchvision's count); about 3.9 G multiply-adds.
""")
resnet101 = _imagenet_builder(
    "resnet101", (3, 4, 23, 3), "bottleneck", True,
    """ResNet-101 (v1): stages of 3, 4, 23, 3 bottleneck blocks.

    Reference: He et al., CVPR 2016. Same layout as ``keras.applications.ResNet101``
    (44,707,176 parameters at 224, 1000 classes); 7.6 G multiply-adds.
""")
resnet152 = _imagenet_builder(
    "resnet152", (3, 8, 36, 3), "bottleneck", True,
    """ResNet-152 (v1): stages of 3, 8, 36, 3 bottleneck blocks.

    Reference: He et al., CVPR 2016. Same layout as ``keras.applications.ResNet152``
    (60,419,944 parameters at 224, 1000 classes); 11.3 G multiply-adds.
""")
resnext50_32x4d = _imagenet_builder(
    "resnext50_32x4d", (3, 4, 6, 3), "bottleneck", False,
    """ResNeXt-50 32x4d: ResNet-50 whose 3x3 convs are grouped (32 groups of 4 channels per 64).

    Reference: Xie et al., "Aggregated Residual Transformations for Deep Neural Networks",
    CVPR 2017 (arXiv:1611.05431). The grouped 3x3 is a :class:`GroupedConv2D`: 32 convs on
    channel slices, concatenated (same function and parameters as ``Conv2D(groups=32)``, which
    tf2onnx cannot convert from tf_keras and TFLite Micro cannot run). No conv bias, as in torchvision (25,028,904 parameters at
    224, 1000 classes). The stride sits on the first 1x1 conv as in keras' ResNet v1 (3.77 G
    multiply-adds; torchvision strides the 3x3, 4.2 G: pass ``resnet_d=True`` for that placement).
""", groups=32, width_per_group=4,
    paper="Xie et al., Aggregated Residual Transformations for Deep Neural Networks, CVPR 2017 (arXiv:1611.05431)")
wide_resnet50_2 = _imagenet_builder(
    "wide_resnet50_2", (3, 4, 6, 3), "bottleneck", False,
    """Wide ResNet-50-2: ResNet-50 with bottleneck width doubled (the outputs keep 4x filters).

    Reference: Zagoruyko and Komodakis, "Wide Residual Networks", BMVC 2016 (arXiv:1605.07146),
    in torchvision's bottleneck form. No conv bias (68,883,240 parameters at 224, 1000 classes;
    10.9 G multiply-adds with the stride on the first 1x1 conv, 11.4 G with ``resnet_d=True``).
""", width_per_group=128,
    paper="Zagoruyko and Komodakis, Wide Residual Networks, BMVC 2016 (arXiv:1605.07146)")


# ---- CIFAR-style ResNets -------------------------------------------------------------

_CIFAR_ARGS = """
    Args:
        input_shape: (height, width, channels), at least 8x8 (32x32x3 for CIFAR-10).
        num_classes: size of the classifier.
        width: width multiplier on every stage's channels (16, 32, 64 at 1.0; multiples of 8).
        resnet_d: ResNet-D shortcut (2x2 average pooling before a stride-1 1x1 conv).
        include_top: add global average pooling and the classifier.
        pooling: without the top, ``None``, ``"avg"`` or ``"max"``.
        dropout: dropout rate before the classifier.
        classifier_activation: ``"softmax"``, ``None`` for logits, or any Keras activation.
        l2: L2 weight decay on conv and dense kernels (MLPerf Tiny uses 1e-4; 0 disables it).
        bn_momentum: BatchNormalization momentum.
        name: model name.
    """


def _cifar_resnet(fn, blocks_per_stage, shortcut_bn, input_shape, num_classes, resnet_d, include_top, pooling,
                  dropout, classifier_activation, l2, bn_momentum, name, width=1.0):
    shape = _check_common(fn, input_shape, num_classes, pooling, dropout, min_size=8)
    check_positive(fn, "width", width)
    if l2 < 0:
        raise EdgekitError(f"{fn}: l2 must be >= 0, got {l2!r}.")
    reg = keras.regularizers.L2(l2) if l2 else None
    # Conv layers pick the regularizer up from here; he_normal as in the references.
    conv_kw = dict(kernel_initializer="he_normal", kernel_regularizer=reg)

    inputs = layers.Input(shape=shape, name="input")
    x = layers.Conv2D(_scaled(16, width), 3, padding="same", name="conv1_conv", **conv_kw)(inputs)
    x = _bn(x, "conv1_bn", bn_momentum)
    x = layers.Activation("relu", name="conv1_relu")(x)
    for stage, filters in enumerate(_scaled(c, width) for c in (16, 32, 64)):
        for b in range(blocks_per_stage):
            stride = 2 if (b == 0 and stage > 0) else 1
            x = _cifar_block(x, filters, stride, resnet_d, f"stage{stage + 1}_block{b + 1}", bn_momentum,
                             shortcut_bn, conv_kw)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(num_classes, activation=classifier_activation, name="predictions", **conv_kw)(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name or fn)


def _cifar_block(x, filters, stride, resnet_d, name, momentum, shortcut_bn, conv_kw):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        s = shortcut
        st = stride
        if resnet_d and stride > 1:
            s = layers.AveragePooling2D(stride, strides=stride, padding="same", name=name + "_0_pool")(s)
            st = 1
        shortcut = layers.Conv2D(filters, 1, strides=st, padding="same", name=name + "_0_conv", **conv_kw)(s)
        if shortcut_bn:
            shortcut = _bn(shortcut, name + "_0_bn", momentum)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", name=name + "_1_conv", **conv_kw)(x)
    y = _bn(y, name + "_1_bn", momentum)
    y = layers.Activation("relu", name=name + "_1_relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=name + "_2_conv", **conv_kw)(y)
    y = _bn(y, name + "_2_bn", momentum)
    y = layers.Add(name=name + "_add")([shortcut, y])
    return layers.Activation("relu", name=name + "_out")(y)


_CIFAR = dict(
    task="classification",
    default_input_shape=(32, 32, 3),
    small_input_shape=(32, 32, 3),
    family="resnet",
)


@register_model(paper="MLPerf Tiny image classification reference (mlcommons/tiny); He et al., CVPR 2016", **_CIFAR)
def resnet8(
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    width: float = 1.0,
    resnet_d: bool = False,
    include_top: bool = True,
    pooling: str | None = None,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    l2: float = 1e-4,
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    """ResNet-8: MLPerf Tiny's CIFAR-10 image classification model.

    A 3x3 stem of 16 channels and three stages (16, 32, 64 channels) of one basic block each;
    the stride-2 stages use a 1x1 conv projection without BatchNorm, as in the reference
    (mlcommons/tiny ``benchmark/training/image_classification/keras_model.py``, 78,666
    parameters at 32x32x3, 10 classes). Target: 85% top-1 on CIFAR-10 as int8 TFLite.
    """
    return _cifar_resnet("resnet8", 1, False, input_shape, num_classes, resnet_d, include_top, pooling, dropout,
                         classifier_activation, l2, bn_momentum, name, width)


@register_model(paper=_HE, **_CIFAR)
def resnet20(
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    width: float = 1.0,
    resnet_d: bool = False,
    include_top: bool = True,
    pooling: str | None = None,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    l2: float = 1e-4,
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    """ResNet-20 for CIFAR (He et al., CVPR 2016, section 4.2: 6n+2 layers with n = 3).

    Three stages (16, 32, 64 channels) of three basic blocks. The paper's option A shortcut
    (zero-padded identity) is replaced by option B (1x1 conv + BatchNorm projection) at the two
    stride-2 blocks, which converts cleanly to every format; about 0.27 M parameters,
    41 M multiply-adds at 32x32.
    """
    return _cifar_resnet("resnet20", 3, True, input_shape, num_classes, resnet_d, include_top, pooling, dropout,
                         classifier_activation, l2, bn_momentum, name, width)


resnet8.__doc__ += _CIFAR_ARGS
resnet20.__doc__ += _CIFAR_ARGS
