"""Siamese embedding network and the metric-learning losses that train it.

The registered ``siamese`` model is the shared tower: one input to one L2-normalized embedding
(what gets deployed; two inputs are compared by the distance of their embeddings). Losses:

- :func:`contrastive_loss` for pairs (Hadsell, Chopra and LeCun, CVPR 2006),
- :func:`triplet_loss` for (anchor, positive, negative) triplets (Schroff et al., FaceNet, CVPR 2015),
- :func:`info_nce_loss` for a batch of positive pairs, the others serving as negatives
  (van den Oord et al., CPC, 2018; SimCLR's NT-Xent).
"""

from __future__ import annotations

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_int_list, check_positive
from edgekit.models._nonclass import reject_num_classes
from edgekit.models.registry import register_model

layers = keras.layers


@keras.saving.register_keras_serializable(package="edgekit")
class L2Normalize(layers.Layer):
    """Scales each embedding to unit L2 norm (cosine geometry; distances in [0, 2])."""

    def call(self, x):
        return x * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(x), axis=-1, keepdims=True), 1e-12))


@keras.saving.register_keras_serializable(package="edgekit")
class EuclideanDistance(layers.Layer):
    """Distance between two embeddings, shape (batch, 1)."""

    def call(self, inputs):
        a, b = inputs
        return tf.sqrt(tf.reduce_sum(tf.square(a - b), axis=-1, keepdims=True) + 1e-12)


@register_model(
    task="embedding",
    default_input_shape=(28, 28, 1),
    small_input_shape=(8, 8, 1),
    small_knobs={"filters": (8, 16), "embedding_dim": 8},
    input_kind="image",
    paper="Bromley et al., Signature Verification using a Siamese Time Delay Neural Network, NIPS 1993; "
    "Hadsell, Chopra and LeCun, Dimensionality Reduction by Learning an Invariant Mapping, CVPR 2006",
    family="siamese",
)
def siamese(input_shape=(28, 28, 1), num_classes=None, embedding_dim: int = 32, filters=(32, 64),
            hidden_units=(128,), normalize: bool = True, bn_momentum: float = 0.9, name: str | None = None):
    """The shared tower of a Siamese network: input to a (unit-norm) embedding.

    Images go through 3x3 conv + BN + ReLU + 2x2 max-pool blocks, feature vectors ``(F,)``
    through Dense layers; then Dense to ``embedding_dim`` and L2 normalization. Train it with
    :func:`contrastive_loss` on pairs (:func:`pair_model`), :func:`triplet_loss`, or
    :func:`info_nce_loss`; compare two inputs by the Euclidean distance of their embeddings.

    Reference: Bromley et al., NIPS 1993; Hadsell, Chopra and LeCun, CVPR 2006.

    Args:
        input_shape: (height, width, channels) or (features,).
        num_classes: not used (the output is an embedding); must be left unset.
        embedding_dim: size of the embedding.
        filters: channels of the conv blocks (images; each halves height and width).
        hidden_units: Dense widths before the embedding.
        normalize: L2-normalize the embedding.
        bn_momentum: BatchNormalization momentum.
        name: model name.
    """
    fn = "siamese"
    reject_num_classes(fn, num_classes, "the output is an embedding")
    check_positive(fn, "embedding_dim", embedding_dim, integer=True)
    units = check_int_list(fn, "hidden_units", hidden_units, allow_empty=True)
    shape = tuple(input_shape)
    inputs = layers.Input(shape=shape, name="input")
    x = inputs
    if len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape):
        filters = check_int_list(fn, "filters", filters)
        if min(shape[:2]) < 2 ** len(filters):
            raise EdgekitError(f"{fn}: {len(filters)} pooling blocks need height and width >= {2 ** len(filters)}, "
                               f"got {shape[:2]}.")
        for i, f in enumerate(filters, start=1):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i}_conv")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{i}_bn")(x)
            x = layers.Activation("relu", name=f"block{i}_relu")(x)
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = layers.Flatten(name="flatten")(x)
    elif not (len(shape) == 1 and isinstance(shape[0], int) and shape[0] > 0):
        raise EdgekitError(f"{fn}: input_shape must be (height, width, channels) or (features,), got {input_shape!r}.")
    for i, u in enumerate(units, start=1):
        x = layers.Dense(u, activation="relu", name=f"dense_{i}")(x)
    x = layers.Dense(embedding_dim, name="embedding")(x)
    if normalize:
        x = L2Normalize(name="l2_normalize")(x)
    return keras.Model(inputs, x, name=name or fn)


def pair_model(tower):
    """Two inputs through the same ``tower`` to the Euclidean distance of their embeddings,
    shape (batch, 1): train it with :func:`contrastive_loss` and labels 1 = same, 0 = different."""
    shape = tower.input_shape[1:]
    a = layers.Input(shape=shape, name="input_a")
    b = layers.Input(shape=shape, name="input_b")
    ea, eb = tower(a), tower(b)
    d = EuclideanDistance(name="distance")([ea, eb])
    return keras.Model([a, b], d, name=f"{tower.name}_pair")


def contrastive_loss(margin: float = 1.0):
    """Loss on pair distances: ``y d^2 + (1 - y) max(margin - d, 0)^2`` (y = 1 for a same-class
    pair). Similar pairs are pulled together, dissimilar ones pushed at least ``margin`` apart.
    Hadsell, Chopra and LeCun, CVPR 2006."""
    check_positive("contrastive_loss", "margin", margin)

    def loss(y_true, distance):
        y = tf.cast(tf.reshape(y_true, tf.shape(distance)), distance.dtype)
        return tf.reduce_mean(y * tf.square(distance) + (1.0 - y) * tf.square(tf.maximum(margin - distance, 0.0)))

    loss.__name__ = "contrastive_loss"
    return loss


def triplet_loss(anchor, positive, negative, margin: float = 0.2):
    """``mean(max(|a - p|^2 - |a - n|^2 + margin, 0))`` over embedding triplets
    (Schroff, Kalenichenko and Philbin, FaceNet, CVPR 2015)."""
    check_positive("triplet_loss", "margin", margin)
    dp = tf.reduce_sum(tf.square(anchor - positive), axis=-1)
    dn = tf.reduce_sum(tf.square(anchor - negative), axis=-1)
    return tf.reduce_mean(tf.maximum(dp - dn + margin, 0.0))


def info_nce_loss(z_a, z_b, temperature: float = 0.1):
    """InfoNCE over a batch of positive pairs ``(z_a[i], z_b[i])``: cross-entropy of picking the
    true partner among all of ``z_b`` by cosine similarity / ``temperature``, symmetrized.
    van den Oord, Li and Vinyals, "Representation Learning with Contrastive Predictive Coding",
    2018; SimCLR's NT-Xent (Chen et al., ICML 2020) is the same with both views as negatives."""
    check_positive("info_nce_loss", "temperature", temperature)
    z_a = tf.math.l2_normalize(z_a, axis=-1)
    z_b = tf.math.l2_normalize(z_b, axis=-1)
    logits = tf.matmul(z_a, z_b, transpose_b=True) / temperature
    labels = tf.range(tf.shape(logits)[0])
    ce = keras.losses.sparse_categorical_crossentropy
    return 0.5 * (tf.reduce_mean(ce(labels, logits, from_logits=True))
                  + tf.reduce_mean(ce(labels, tf.transpose(logits), from_logits=True)))
