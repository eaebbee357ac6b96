"""Quantization: post-training variants to TFLite and quantization-aware training (tfmot).

PTQ precisions (:data:`PTQ_PRECISIONS`): ``fp16``, ``dynamic`` (int8 weights, float
activations), ``int8`` (full integer, per-channel weights, int8 in and out), ``int8_per_tensor``
(one scale per weight tensor, for targets that need it) and ``int16x8`` (int16 activations,
int8 weights; float in and out).

QAT (:func:`qat_model`) works on models that tfmot's default registry rejects: layers it does
not know get a :class:`OutputQuantizeConfig` (no weights of their own, e.g. MobileNetV3's
``HardSwish`` and ``HardSigmoid`` layers and its squeeze-and-excitation ``Multiply``;
``LayerNormalization``)
or a :class:`NoOpQuantizeConfig` (layers whose weights tfmot cannot fake-quantize, such as
``MultiHeadAttention`` and custom embeddings); the converter then calibrates those from the
representative data. Integer inputs (token ids) get no input quantizer.
"""

from __future__ import annotations

from edgekit._tf import keras, tf, tfmot_module
from edgekit.compression.graph import inbound_layers
from edgekit.formats import FORMATS
from edgekit.convert.tflite import QAT_INT8, to_tflite
from edgekit.errors import EdgekitError, first_line
from edgekit.models.load import as_loaded

# compress's post-training precisions: the TFLite row of the format table (export's and compress-only ones)
PTQ_PRECISIONS = FORMATS["tflite"].ptq


def _is_int_input(model) -> bool:
    return not tf.as_dtype(model.inputs[0].dtype).is_floating


def tflite_bytes(model, precision: str = "fp32", representative=None) -> bytes:
    """Convert a Keras model to TFLite at one PTQ precision (or from a QAT model with ``"qat_int8"``),
    through the export path (:func:`edgekit.convert.tflite.to_tflite`, one converter setup).

    Unlike ``edgekit export``, an op with no int8 kernel may stay float in the int8 variants
    (``allow_float_ops``): compress compares accuracy, size and speed, and that is what it did
    before the two setups were merged (TensorFlow's quantizer left such ops float whatever op set
    it was given). Token ids stay int32; a float input becomes int8 in the int8 variants."""
    if precision not in PTQ_PRECISIONS + (QAT_INT8,):
        raise EdgekitError(f"unknown quantization {precision!r}; choose one of {', '.join(PTQ_PRECISIONS)}.")
    return to_tflite(as_loaded(model), precision, representative, allow_float_ops=True)


# --------------------------------------------------------------------------- QAT

def _configs():
    """QuantizeConfig classes, defined lazily so importing edgekit.compression stays cheap."""
    tfmot = tfmot_module()
    quantizers = tfmot.quantization.keras.quantizers

    class OutputQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """Fake-quantize the layer's output only (layers without weights of their own)."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                      narrow_range=False)]

        def get_config(self):
            return {}

    class NoOpQuantizeConfig(OutputQuantizeConfig):
        """Leave the layer float in training; the converter calibrates it from data."""

        def get_output_quantizers(self, layer):
            return []

    return OutputQuantizeConfig, NoOpQuantizeConfig


def _scheme(skip_input_quantize: bool):
    tfmot = tfmot_module()
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_layout_transform as lt,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_transforms as dt,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import model_transformer

    base = tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme
    if not skip_input_quantize:
        return base()

    class _Layout(lt.Default8BitQuantizeLayoutTransform):
        def apply(self, model, layer_quantize_map):
            names = ("SeparableConv1DQuantize", "SeparableConvQuantize", "Conv2DBatchNormReLUQuantize",
                     "Conv2DBatchNormActivationQuantize", "Conv2DBatchNormQuantize", "ConcatTransform",
                     "DenseBatchNormQuantize", "DenseBatchNormReLUQuantize", "DenseBatchNormActivationQuantize",
                     "LayerReLUQuantize", "LayerReluActivationQuantize")
            transforms = [getattr(dt, n)() for n in names]  # everything but InputLayerQuantize
            return model_transformer.ModelTransformer(model, transforms, set(layer_quantize_map.keys()),
                                                      layer_quantize_map).transform()

    class _Scheme(base):
        def get_layout_transformer(self):
            return _Layout()

    return _Scheme()


def _bn_after_conv(model) -> set[str]:
    """Names of BatchNormalization layers whose only input is a linear Conv2D/DepthwiseConv2D
    that feeds nothing else (the pattern tfmot folds)."""
    L = keras.layers
    names = set()
    for layer in model.layers:
        if not isinstance(layer, L.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        sources = inbound_layers(layer)
        if len(sources) != 1:
            continue
        src = sources[0]
        if (isinstance(src, (L.Conv2D, L.DepthwiseConv2D)) and not isinstance(src, L.Conv2DTranspose)
                and keras.activations.serialize(src.activation) == "linear"
                and len(src._outbound_nodes) == 1):
            names.add(layer.name)
    return names


def annotate(model, scheme: str = "default"):
    """Annotate every layer for QAT: tfmot's own config where it has one, ours elsewhere.

    Returns ``(annotated_model, custom_layers)`` where ``custom_layers`` maps layer name to the
    config used (``"output"`` or ``"float"``) so reports can say what was handled specially.
    """
    tfmot = tfmot_module()
    qk = tfmot.quantization.keras
    registry = qk.default_8bit.Default8BitQuantizeScheme().get_quantize_registry()
    Output, NoOp = _configs()
    custom: dict[str, str] = {}
    foldable = _bn_after_conv(model)

    def clone(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.BatchNormalization):
            # A BN right after a linear conv is annotated with no config of its own: tfmot's layout
            # transform (Conv2DBatchNorm[ReLU]Quantize) only matches annotated layers, and then puts
            # the fake-quant after the BN (or its ReLU), not between conv and BN, so the converter
            # folds the BN into the conv as TFLite does. Left unannotated, the BN stays float in
            # training and becomes a MUL and an ADD in int8 TFLite, each requantized from
            # calibration with no QAT counterpart (that cost MobileNetV3 several points of top-1
            # agreement). Other BNs stay float.
            return qk.quantize_annotate_layer(fresh) if layer.name in foldable else fresh
        if registry.supports(layer):
            return qk.quantize_annotate_layer(fresh)
        if not layer.weights or isinstance(layer, keras.layers.LayerNormalization):
            custom[layer.name] = "output"
            return qk.quantize_annotate_layer(fresh, Output())
        custom[layer.name] = "float"
        return qk.quantize_annotate_layer(fresh, NoOp())

    try:
        annotated = keras.models.clone_model(model, clone_function=clone)
    except Exception as e:  # noqa: BLE001
        raise EdgekitError(f"QAT: cannot annotate {model.name}: {type(e).__name__}: {first_line(e)}") from e
    annotated.set_weights(model.get_weights())
    return annotated, custom, (Output, NoOp)


def qat_model(model, scheme: str = "default"):
    """A trainable QAT copy of ``model`` (weights kept).

    ``scheme``: ``"default"``, ``"prune_preserve"`` (keeps the zeros of a stripped pruned
    model) or ``"cluster_preserve"`` (keeps a stripped clustered model's centroids).
    """
    tfmot = tfmot_module()
    qk = tfmot.quantization.keras
    annotated, custom, (Output, NoOp) = annotate(model)
    if scheme == "default":
        sch = _scheme(_is_int_input(model))
    elif scheme == "prune_preserve":
        sch = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    elif scheme == "cluster_preserve":
        sch = tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    else:
        raise EdgekitError(f"unknown QAT scheme {scheme!r}; choose default, prune_preserve or cluster_preserve.")
    try:
        with qk.quantize_scope({"OutputQuantizeConfig": Output, "NoOpQuantizeConfig": NoOp}):
            q = qk.quantize_apply(annotated, sch)
    except Exception as e:  # noqa: BLE001 - tfmot raises RuntimeError/ValueError naming the layer
        raise EdgekitError(f"QAT ({scheme}) of {model.name} failed: {first_line(e)}") from e
    q._edgekit_custom_layers = custom
    return q
