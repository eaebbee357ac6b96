"""DCGAN-style generators (unconditional and class-conditional), their discriminators, and a
training step. The generator is what gets deployed: noise (and a class) in, an image out.

A conditional generator takes one input, ``concat(z, one_hot(label))`` of size
``latent_dim + num_classes`` (:func:`cgan_inputs` builds it), so every exporter and runtime sees
a single float tensor; its ``input_shape`` is that whole width, like every model's.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_image_shape, check_int_list, check_positive
from edgekit.models._nonclass import reject_num_classes
from edgekit.models.registry import register_model

layers = keras.layers


def _generator_body(x, image_shape, filters, bn_momentum):
    """Dense to a (h, w, filters[0]) map, then stride-2 transposed convs up to image_shape, tanh."""
    fn = "gan_generator"
    ups = len(filters)
    factor = 2 ** ups
    h, w, c = image_shape
    if h % factor or w % factor:
        raise EdgekitError(f"{fn}: image height and width {image_shape[:2]} must be multiples of {factor} "
                           f"(2 ** len(filters)).")
    h0, w0 = h // factor, w // factor
    x = layers.Dense(h0 * w0 * filters[0], use_bias=False, name="project")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((h0, w0, filters[0]), name="project_reshape")(x)
    for i, f in enumerate(filters[1:] + (filters[-1],), start=1):
        if i == ups:
            break
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False, name=f"up{i}_deconv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"up{i}_bn")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    return layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="tanh", name="image")(x)


_GEN = dict(
    task="generation",
    default_input_shape=(100,),
    small_input_shape=(16,),
    small_knobs={"image_shape": (8, 8, 1), "filters": (16, 8)},
    input_kind="features",
    family="gan",
)


@register_model(
    paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014; Radford, Metz and Chintala, DCGAN, "
    "ICLR 2016 (arXiv:1511.06434)",
    **_GEN,
)
def gan_generator(input_shape=(100,), num_classes=None, image_shape=(28, 28, 1), filters=(128, 64),
                  bn_momentum: float = 0.9, name: str | None = None):
    """DCGAN generator: latent vector z to an image in [-1, 1].

    Dense + BN + ReLU to a small feature map, stride-2 transposed convs (BN + ReLU) doubling it
    ``len(filters)`` times, tanh output. Train with :func:`gan_discriminator` and
    :func:`gan_train_step`.

    Reference: Goodfellow et al., NeurIPS 2014; Radford et al., "Unsupervised Representation
    Learning with Deep Convolutional GANs", ICLR 2016.

    Args:
        input_shape: ``(latent_dim,)``.
        num_classes: not used (see ``cgan_generator``); must be left unset.
        image_shape: (height, width, channels) of the output; height and width multiples of
            ``2 ** len(filters)``. Scale training images to [-1, 1].
        filters: channels of the first feature map and of each upsampling stage.
        bn_momentum: BatchNormalization momentum.
        name: model name.
    """
    fn = "gan_generator"
    reject_num_classes(fn, num_classes, "an unconditional generator has no classes (use cgan_generator)")
    shape = tuple(input_shape)
    if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] <= 0:
        raise EdgekitError(f"{fn}: input_shape must be (latent_dim,), got {input_shape!r}.")
    image_shape = check_image_shape(fn, image_shape)
    filters = check_int_list(fn, "filters", filters)
    z = layers.Input(shape=shape, name="input")
    return keras.Model(z, _generator_body(z, image_shape, filters, bn_momentum), name=name or fn)


@register_model(
    paper="Mirza and Osindero, Conditional Generative Adversarial Nets, 2014 (arXiv:1411.1784)",
    **{**_GEN, "default_input_shape": (110,), "small_input_shape": (26,)},
)
def cgan_generator(input_shape=(110,), num_classes: int = 10, image_shape=(28, 28, 1), filters=(128, 64),
                   bn_momentum: float = 0.9, name: str | None = None):
    """Conditional GAN generator: (z, class) to an image of that class.

    Its single input is ``concat(z, one_hot(label))``, ``latent_dim + num_classes`` wide (build it
    with :func:`cgan_inputs`); the rest is :func:`gan_generator`'s body. Train with
    :func:`cgan_discriminator` and :func:`gan_train_step` (pass ``labels``).

    Reference: Mirza and Osindero, "Conditional Generative Adversarial Nets", 2014.

    Args:
        input_shape: ``(latent_dim + num_classes,)``: the model's whole input (100 noise values
            and 10 one-hot classes by default).
        num_classes: number of classes the generator is conditioned on.
        image_shape, filters, bn_momentum: as for ``gan_generator``.
        name: model name.
    """
    fn = "cgan_generator"
    shape = tuple(input_shape)
    check_positive(fn, "num_classes", num_classes, integer=True)
    if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] <= num_classes:
        raise EdgekitError(f"{fn}: input_shape must be (latent_dim + num_classes,) with latent_dim >= 1; "
                           f"got {input_shape!r} with num_classes={num_classes}.")
    image_shape = check_image_shape(fn, image_shape)
    filters = check_int_list(fn, "filters", filters)
    zy = layers.Input(shape=shape, name="input")
    return keras.Model(zy, _generator_body(zy, image_shape, filters, bn_momentum), name=name or fn)


def cgan_inputs(z, labels, num_classes: int) -> np.ndarray:
    """The conditional generator's input: noise ``z`` (n, latent_dim) and int ``labels`` (n,)."""
    z = np.asarray(z, dtype="float32")
    labels = np.asarray(labels).astype(int).ravel()
    if len(labels) != len(z) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise EdgekitError(f"cgan_inputs: need one label in [0, {num_classes}) per noise row; got {len(labels)} "
                           f"labels for {len(z)} rows.")
    return np.concatenate([z, np.eye(num_classes, dtype="float32")[labels]], axis=1)


def _discriminator_body(x, filters, dropout):
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 4, strides=2, padding="same", name=f"down{i}_conv")(x)
        x = layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"down{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Dense(1, name="logit")(x)


def gan_discriminator(image_shape=(28, 28, 1), filters=(64, 128), dropout: float = 0.3, name=None):
    """DCGAN discriminator: stride-2 convs with LeakyReLU(0.2), one real/fake logit."""
    image_shape = check_image_shape("gan_discriminator", image_shape)
    filters = check_int_list("gan_discriminator", "filters", filters)
    img = layers.Input(shape=image_shape, name="image")
    return keras.Model(img, _discriminator_body(img, filters, dropout), name=name or "gan_discriminator")


def cgan_discriminator(image_shape=(28, 28, 1), num_classes: int = 10, filters=(64, 128), dropout: float = 0.3,
                       name=None):
    """Conditional discriminator: inputs (image, one-hot label); the label is projected to an
    image-sized plane and stacked as an extra channel."""
    image_shape = check_image_shape("cgan_discriminator", image_shape)
    check_positive("cgan_discriminator", "num_classes", num_classes, integer=True)
    filters = check_int_list("cgan_discriminator", "filters", filters)
    img = layers.Input(shape=image_shape, name="image")
    label = layers.Input(shape=(num_classes,), name="label")
    plane = layers.Dense(image_shape[0] * image_shape[1], name="label_project")(label)
    plane = layers.Reshape((image_shape[0], image_shape[1], 1), name="label_plane")(plane)
    x = layers.Concatenate(name="stack")([img, plane])
    return keras.Model([img, label], _discriminator_body(x, filters, dropout), name=name or "cgan_discriminator")


def _adversarial_step(generator, discriminator, g_optimizer, d_optimizer, real_images, onehot, latent_dim):
    """One step on tensors (eager or inside a tf.function); returns (d_loss, g_loss) tensors."""
    n = tf.shape(real_images)[0]
    conditional = onehot is not None
    gen_in = (lambda z: tf.concat([z, onehot], axis=1)) if conditional else (lambda z: z)  # noqa: E731
    disc = ((lambda x: discriminator([x, onehot], training=True)) if conditional  # noqa: E731
            else (lambda x: discriminator(x, training=True)))
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    z = tf.random.normal((n, latent_dim))
    with tf.GradientTape() as tape:
        fake = generator(gen_in(z), training=True)
        real_logit, fake_logit = disc(real_images), disc(fake)
        d_loss = bce(tf.ones_like(real_logit), real_logit) + bce(tf.zeros_like(fake_logit), fake_logit)
    d_optimizer.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_variables),
                                    discriminator.trainable_variables))
    z = tf.random.normal((n, latent_dim))
    with tf.GradientTape() as tape:
        fake_logit = disc(generator(gen_in(z), training=True))
        g_loss = bce(tf.ones_like(fake_logit), fake_logit)
    g_optimizer.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables),
                                    generator.trainable_variables))
    return d_loss, g_loss


def _latent_dim(generator, num_classes):
    return int(generator.input_shape[-1]) - (int(num_classes) if num_classes else 0)


def gan_train_step(generator, discriminator, g_optimizer, d_optimizer, real_images, labels=None, num_classes=None):
    """One adversarial step (non-saturating loss): update the discriminator on real vs generated
    images, then the generator to fool it. Returns ``{"d_loss": ..., "g_loss": ...}`` as floats.

    For a conditional pair pass int ``labels`` (one per real image) and ``num_classes``.
    Runs eagerly; for many steps use :func:`compiled_gan_train_step` (the same step, traced once).
    """
    real_images = tf.convert_to_tensor(real_images, tf.float32)
    onehot = None
    if labels is not None:
        if num_classes is None:
            raise EdgekitError("gan_train_step: pass num_classes with labels.")
        onehot = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
    d_loss, g_loss = _adversarial_step(generator, discriminator, g_optimizer, d_optimizer, real_images, onehot,
                                       _latent_dim(generator, num_classes if labels is not None else None))
    return {"d_loss": float(d_loss), "g_loss": float(g_loss)}


def compiled_gan_train_step(generator, discriminator, g_optimizer, d_optimizer, num_classes=None):
    """:func:`gan_train_step` as a ``tf.function`` for one (generator, discriminator) pair:
    ``step(real_images)`` or, for a conditional pair, ``step(real_images, labels)``; returns
    ``(d_loss, g_loss)`` tensors. Several times faster than the eager step on small models."""
    latent_dim = _latent_dim(generator, num_classes)

    @tf.function
    def step(real_images, labels=None):
        onehot = None if labels is None else tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
        return _adversarial_step(generator, discriminator, g_optimizer, d_optimizer,
                                 tf.cast(real_images, tf.float32), onehot, latent_dim)

    return step
