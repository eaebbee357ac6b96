"""Transformer encoders: a BERT-style text encoder (TinyBERT-sized by default) and ViT-Tiny."""

from __future__ import annotations

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_image_shape, check_positive
from edgekit.models.registry import register_model

layers = keras.layers


@keras.saving.register_keras_serializable(package="edgekit")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embedding plus a learned absolute position embedding (BERT's, without segments)."""

    def __init__(self, vocab_size: int, max_length: int, embed_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)
        self.max_length = int(max_length)
        self.embed_dim = int(embed_dim)
        self.token_embedding = layers.Embedding(self.vocab_size, self.embed_dim, name="token_embedding")
        self.position_embedding = layers.Embedding(self.max_length, self.embed_dim, name="position_embedding")

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build(input_shape)
        super().build(input_shape)

    def call(self, token_ids):
        length = token_ids.shape[-1] if token_ids.shape[-1] is not None else tf.shape(token_ids)[-1]
        positions = tf.range(length)
        return self.token_embedding(token_ids) + self.position_embedding(positions)[tf.newaxis]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embed_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, max_length=self.max_length, embed_dim=self.embed_dim)
        return config


@keras.saving.register_keras_serializable(package="edgekit")
class ClassTokenAndPosition(layers.Layer):
    """Prepends ViT's learned class token to the patch sequence and adds learned positions."""

    def build(self, input_shape):
        num_patches, dim = int(input_shape[1]), int(input_shape[2])
        self.cls = self.add_weight(name="cls", shape=(1, 1, dim), initializer="zeros")
        self.pos = self.add_weight(
            name="pos", shape=(1, num_patches + 1, dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        super().build(input_shape)

    def call(self, patches):
        cls = tf.tile(self.cls, [tf.shape(patches)[0], 1, 1])
        return tf.concat([cls, patches], axis=1) + self.pos

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="edgekit")
def gelu_erf(x):
    """Exact GELU, ``0.5 x (1 + erf(x / sqrt 2))`` (Hendrycks and Gimpel, 2016), written with
    ``erf``. Keras' ``gelu`` computes the same through ``erfc``, which tf2onnx emits as an ONNX
    ``Erfc`` node that onnxruntime has no kernel for; ``erf`` becomes ONNX ``Erf``. The TFLite
    converter fuses either form into its ``GELU`` op. Outputs equal Keras' ``gelu`` to ~1e-6."""
    return 0.5 * x * (1.0 + tf.math.erf(x * 0.7071067811865476))


def _keras_activation(name):
    return gelu_erf if name == "gelu" else name


def _encoder_block(x, num_heads, key_dim, ff_dim, dropout, activation, norm_first, eps, name):
    """One transformer encoder layer: self-attention and a feed-forward network, each with a
    residual connection and layer norm (after the residual as in BERT, or before as in ViT)."""
    dim = x.shape[-1]
    h = layers.LayerNormalization(epsilon=eps, name=name + "_attn_norm")(x) if norm_first else x
    h = layers.MultiHeadAttention(num_heads, key_dim, dropout=dropout, name=name + "_attn")(h, h)
    if dropout:
        h = layers.Dropout(dropout, name=name + "_attn_dropout")(h)
    x = layers.Add(name=name + "_attn_add")([x, h])
    if not norm_first:
        x = layers.LayerNormalization(epsilon=eps, name=name + "_attn_norm")(x)
    h = layers.LayerNormalization(epsilon=eps, name=name + "_ffn_norm")(x) if norm_first else x
    h = layers.Dense(ff_dim, activation=_keras_activation(activation), name=name + "_ffn_1")(h)
    h = layers.Dense(dim, name=name + "_ffn_2")(h)
    if dropout:
        h = layers.Dropout(dropout, name=name + "_ffn_dropout")(h)
    x = layers.Add(name=name + "_ffn_add")([x, h])
    if not norm_first:
        x = layers.LayerNormalization(epsilon=eps, name=name + "_ffn_norm")(x)
    return x


def _check_dims(fn, embed_dim, num_heads, ff_dim, num_layers, dropout):
    for arg, v in (("embed_dim", embed_dim), ("num_heads", num_heads), ("ff_dim", ff_dim), ("num_layers", num_layers)):
        check_positive(fn, arg, v, integer=True)
    if embed_dim % num_heads:
        raise EdgekitError(f"{fn}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}).")
    if not 0.0 <= dropout < 1.0:
        raise EdgekitError(f"{fn}: dropout must be in [0, 1), got {dropout!r}.")


@register_model(
    task="classification",
    default_input_shape=(128,),
    small_input_shape=(16,),
    small_knobs={"vocab_size": 100, "embed_dim": 32, "num_heads": 2, "ff_dim": 64, "num_layers": 2},
    input_kind="sequence",
    paper="Vaswani et al., Attention Is All You Need, NeurIPS 2017; Jiao et al., TinyBERT, Findings of EMNLP 2020 "
    "(arXiv:1909.10351)",
    family="transformer",
)
def transformer_encoder(
    input_shape=(128,),
    num_classes: int = 2,
    vocab_size: int = 30522,
    embed_dim: int = 312,
    num_heads: int = 12,
    ff_dim: int = 1200,
    num_layers: int = 4,
    dropout: float = 0.1,
    activation: str = "gelu",
    pooling: str = "mean",
    classifier_activation: str | None = "softmax",
    name: str | None = None,
):
    """Transformer encoder classifier over token ids (BERT-style, post-layer-norm).

    Token and learned position embeddings, ``num_layers`` encoder layers (multi-head
    self-attention, feed-forward, residuals and layer norm), pooling, a dense classifier.
    The default configuration is TinyBERT-4's (4 layers, hidden 312, 12 heads, feed-forward
    1200, BERT's 30,522-token vocabulary; Jiao et al., 2020), without segment embeddings.

    Args:
        input_shape: ``(sequence_length,)`` of int token ids (0 may be used for padding; it is
            attended to like any token, there is no mask).
        num_classes: size of the classifier.
        vocab_size: number of token ids.
        embed_dim: hidden size (divisible by ``num_heads``).
        num_heads: attention heads (each of size ``embed_dim // num_heads``).
        ff_dim: feed-forward inner size.
        num_layers: encoder layers.
        dropout: dropout in attention and after each sub-layer.
        activation: feed-forward activation (``gelu``, exact, written with erf so that it
            converts to ONNX; ``relu`` quantizes more simply).
        pooling: ``mean`` over positions or ``first`` token (BERT's [CLS]).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: model name.
    """
    fn = "transformer_encoder"
    shape = tuple(input_shape)
    if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] <= 0:
        raise EdgekitError(f"{fn}: input_shape must be (sequence_length,), got {input_shape!r}.")
    check_positive(fn, "num_classes", num_classes, integer=True)
    check_positive(fn, "vocab_size", vocab_size, integer=True)
    _check_dims(fn, embed_dim, num_heads, ff_dim, num_layers, dropout)
    check_choice(fn, "pooling", pooling, ("mean", "first"))

    inputs = layers.Input(shape=shape, dtype="int32", name="input")
    x = TokenAndPositionEmbedding(vocab_size, shape[0], embed_dim, name="embeddings")(inputs)
    x = layers.LayerNormalization(epsilon=1e-12, name="embeddings_norm")(x)
    if dropout:
        x = layers.Dropout(dropout, name="embeddings_dropout")(x)
    for i in range(int(num_layers)):
        x = _encoder_block(x, num_heads, embed_dim // num_heads, ff_dim, dropout, activation, False, 1e-12,
                           f"encoder_{i}")
    if pooling == "mean":
        x = layers.GlobalAveragePooling1D(name="pool")(x)
    else:
        x = layers.Cropping1D((0, shape[0] - 1), name="first_token")(x)
        x = layers.Flatten(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name or fn)


@register_model(
    task="classification",
    default_input_shape=(224, 224, 3),
    small_input_shape=(32, 32, 3),
    small_knobs={"patch_size": 8, "embed_dim": 32, "num_heads": 2, "mlp_dim": 64, "depth": 2},
    input_kind="image",
    paper="Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021 (arXiv:2010.11929); "
    "Touvron et al., DeiT, ICML 2021 (the Tiny configuration)",
    family="transformer",
)
def vit_tiny(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    patch_size: int = 16,
    embed_dim: int = 192,
    depth: int = 12,
    num_heads: int = 3,
    mlp_dim: int = 768,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
):
    """ViT-Tiny: non-overlapping patches embedded by a strided conv, a class token and learned
    positions, pre-norm encoder layers, the class token's final state to the classifier.

    Reference: Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021; the Tiny
    configuration (192 wide, 12 layers, 3 heads, MLP 768, patch 16) is DeiT-Ti's
    (Touvron et al., 2021): about 5.7 M parameters and 1.26 G multiply-adds at 224, 1000 classes.

    Args:
        input_shape: (height, width, channels), both sides multiples of ``patch_size``.
        num_classes: size of the classifier.
        patch_size: side of each square patch.
        embed_dim, depth, num_heads, mlp_dim: encoder width, layers, heads and MLP size.
        dropout: dropout in attention and after each sub-layer.
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: model name.
    """
    fn = "vit_tiny"
    shape = check_image_shape(fn, input_shape, min_size=1)
    check_positive(fn, "patch_size", patch_size, integer=True)
    if shape[0] % patch_size or shape[1] % patch_size:
        raise EdgekitError(f"{fn}: input height and width {shape[:2]} must be multiples of patch_size {patch_size}.")
    check_positive(fn, "num_classes", num_classes, integer=True)
    _check_dims(fn, embed_dim, num_heads, mlp_dim, depth, dropout)

    num_patches = (shape[0] // patch_size) * (shape[1] // patch_size)
    inputs = layers.Input(shape=shape, name="input")
    x = layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embed")(inputs)
    x = layers.Reshape((num_patches, embed_dim), name="patch_flatten")(x)
    x = ClassTokenAndPosition(name="cls_pos")(x)
    if dropout:
        x = layers.Dropout(dropout, name="pos_dropout")(x)
    for i in range(int(depth)):
        x = _encoder_block(x, num_heads, embed_dim // num_heads, mlp_dim, dropout, "gelu", True, 1e-6,
                           f"encoder_{i}")
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = layers.Cropping1D((0, num_patches), name="cls_token")(x)
    x = layers.Flatten(name="pool")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name or fn)
