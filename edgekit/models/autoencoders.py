"""Autoencoders for anomaly detection: dense, convolutional, denoising, sparse, and a VAE.

Each reconstructs its input; the anomaly score of a sample is its reconstruction error
(:func:`anomaly_scores`): trained on normal data only, a model reconstructs unseen kinds of
input badly. MLPerf Tiny's anomaly detection reference is ``autoencoder_dense`` at its defaults.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_features, check_image_shape, check_int_list, check_positive
from edgekit.models._nonclass import reject_num_classes
from edgekit.models.registry import register_model

layers = keras.layers

_WHAT = "an autoencoder reconstructs its input"


def _dense_stack(x, units, prefix, bn_momentum, activity_regularizer=None):
    for i, u in enumerate(units, start=1):
        x = layers.Dense(u, name=f"{prefix}_{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{prefix}_{i}_bn")(x)
        x = layers.Activation("relu", name=f"{prefix}_{i}_relu")(x)
    return x


def _dense_autoencoder(fn, input_shape, hidden_units, bottleneck, bn_momentum, noise_stddev=0.0, l1_activity=0.0,
                       name=None):
    shape = check_features(fn, input_shape)
    units = check_int_list(fn, "hidden_units", hidden_units, allow_empty=True)
    check_positive(fn, "bottleneck", bottleneck, integer=True)
    inputs = layers.Input(shape=shape, name="input")
    x = inputs
    if noise_stddev:
        # Corrupts the input during training only; inference sees the clean input.
        x = layers.GaussianNoise(noise_stddev, name="input_noise")(x)
    x = _dense_stack(x, units, "encoder", bn_momentum)
    reg = keras.regularizers.L1(l1_activity) if l1_activity else None
    x = layers.Dense(bottleneck, activity_regularizer=reg, name="bottleneck")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bottleneck_bn")(x)
    x = layers.Activation("relu", name="bottleneck_relu")(x)
    x = _dense_stack(x, units[::-1], "decoder", bn_momentum)
    x = layers.Dense(shape[0], name="reconstruction")(x)
    return keras.Model(inputs, x, name=name or fn)


_FEATURES = dict(
    task="anomaly",
    default_input_shape=(640,),
    small_input_shape=(32,),
    small_knobs={"hidden_units": (16, 16), "bottleneck": 4},
    input_kind="features",
    family="autoencoder",
)

_DENSE_ARGS = """
    Args:
        input_shape: (features,). MLPerf Tiny: 640 (5 frames x 128 log-mel bins of machine sound).
        num_classes: not used (an autoencoder has no classes); must be left unset.
        hidden_units: encoder layer widths; the decoder mirrors them.
        bottleneck: code size.
        bn_momentum: BatchNormalization momentum.
        name: model name.
"""


@register_model(paper="MLPerf Tiny anomaly detection reference (mlcommons/tiny); Hinton and Salakhutdinov, "
                "Science 2006", **_FEATURES)
def autoencoder_dense(input_shape=(640,), num_classes=None, hidden_units=(128, 128, 128, 128), bottleneck: int = 8,
                      bn_momentum: float = 0.9, name: str | None = None):
    """Fully connected autoencoder: Dense-BN-ReLU encoder, a small code, a mirrored decoder.

    Reference: MLPerf Tiny's anomaly detection model (ToyADMOS/DCASE 2020 task 2): 640 inputs,
    four 128-unit layers, an 8-unit bottleneck, four 128-unit layers, 640 outputs (AUC target 0.85).
    """
    reject_num_classes("autoencoder_dense", num_classes, _WHAT)
    return _dense_autoencoder("autoencoder_dense", input_shape, hidden_units, bottleneck, bn_momentum, name=name)


@register_model(paper="Vincent et al., Extracting and Composing Robust Features with Denoising Autoencoders, "
                "ICML 2008", **_FEATURES)
def autoencoder_denoising(input_shape=(640,), num_classes=None, hidden_units=(128, 128, 128, 128),
                          bottleneck: int = 8, noise_stddev: float = 0.1, bn_momentum: float = 0.9,
                          name: str | None = None):
    """Denoising autoencoder: the dense autoencoder trained to reconstruct the clean input from a
    copy corrupted by Gaussian noise (``GaussianNoise``, active in training only, so the exported
    model has no random op).

    Reference: Vincent et al., "Extracting and Composing Robust Features with Denoising
    Autoencoders", ICML 2008. ``noise_stddev`` is in input units (standardize inputs first).
    """
    reject_num_classes("autoencoder_denoising", num_classes, _WHAT)
    check_positive("autoencoder_denoising", "noise_stddev", noise_stddev)
    return _dense_autoencoder("autoencoder_denoising", input_shape, hidden_units, bottleneck, bn_momentum,
                              noise_stddev=noise_stddev, name=name)


@register_model(paper="Ng, Sparse autoencoder, CS294A lecture notes 2011; Goodfellow et al., Deep Learning, "
                "section 14.2.1", **_FEATURES)
def autoencoder_sparse(input_shape=(640,), num_classes=None, hidden_units=(128, 128), bottleneck: int = 64,
                       l1_activity: float = 1e-4, bn_momentum: float = 0.9, name: str | None = None):
    """Sparse autoencoder: a wider code kept sparse by an L1 penalty on its activity
    (``l1_activity`` x sum |code|, added to the loss through Keras' activity regularizer).

    Reference: Goodfellow, Bengio and Courville, "Deep Learning", 2016, section 14.2.1.
    """
    reject_num_classes("autoencoder_sparse", num_classes, _WHAT)
    check_positive("autoencoder_sparse", "l1_activity", l1_activity)
    return _dense_autoencoder("autoencoder_sparse", input_shape, hidden_units, bottleneck, bn_momentum,
                              l1_activity=l1_activity, name=name)


for _f in (autoencoder_dense, autoencoder_denoising, autoencoder_sparse):
    _f.__doc__ += _DENSE_ARGS


@register_model(
    task="anomaly",
    default_input_shape=(28, 28, 1),
    small_input_shape=(16, 16, 1),
    small_knobs={"filters": (8, 16), "bottleneck": 8},
    input_kind="image",
    paper="Masci et al., Stacked Convolutional Auto-Encoders for Hierarchical Feature Extraction, ICANN 2011",
    family="autoencoder",
)
def autoencoder_conv(input_shape=(28, 28, 1), num_classes=None, filters=(32, 64), bottleneck: int = 32,
                     output_activation: str | None = None, bn_momentum: float = 0.9, name: str | None = None):
    """Convolutional autoencoder: stride-2 3x3 convs down, a dense code, transposed convs up.

    Reference: Masci et al., "Stacked Convolutional Auto-Encoders", ICANN 2011.

    Args:
        input_shape: (height, width, channels); height and width must be multiples of
            ``2 ** len(filters)``.
        num_classes: not used; must be left unset.
        filters: channels of the encoder convs (the decoder mirrors them).
        bottleneck: size of the dense code.
        output_activation: ``None`` (linear, for standardized inputs) or ``"sigmoid"`` for
            inputs in [0, 1].
        bn_momentum: BatchNormalization momentum.
        name: model name.
    """
    fn = "autoencoder_conv"
    reject_num_classes(fn, num_classes, _WHAT)
    filters = check_int_list(fn, "filters", filters)
    shape = check_image_shape(fn, input_shape)
    factor = 2 ** len(filters)
    if shape[0] % factor or shape[1] % factor:
        raise EdgekitError(f"{fn}: height and width {shape[:2]} must be multiples of {factor} "
                           f"(2 ** len(filters)) for the decoder to restore them.")
    check_positive(fn, "bottleneck", bottleneck, integer=True)
    inputs = layers.Input(shape=shape, name="input")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False, name=f"encoder_conv{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"encoder_conv{i}_bn")(x)
        x = layers.Activation("relu", name=f"encoder_conv{i}_relu")(x)
    h, w = shape[0] // factor, shape[1] // factor
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(bottleneck, activation="relu", name="bottleneck")(x)
    x = layers.Dense(h * w * filters[-1], activation="relu", name="decoder_dense")(x)
    x = layers.Reshape((h, w, filters[-1]), name="decoder_reshape")(x)
    for i, f in enumerate(filters[::-1][1:] + (filters[0],), start=1):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", use_bias=False, name=f"decoder_deconv{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"decoder_deconv{i}_bn")(x)
        x = layers.Activation("relu", name=f"decoder_deconv{i}_relu")(x)
    x = layers.Conv2D(shape[2], 3, padding="same", activation=output_activation, name="reconstruction")(x)
    return keras.Model(inputs, x, name=name or fn)


@keras.saving.register_keras_serializable(package="edgekit")
class Sampling(layers.Layer):
    """The reparameterization trick: z = mean + exp(log_var / 2) * eps with eps ~ N(0, I), so
    gradients flow to mean and log_var. Adds the KL divergence to N(0, I) as a loss.

    At inference (``training=False``) it returns the mean: deterministic, so the exported model
    has no random op and its outputs match Keras'.
    """

    def __init__(self, kl_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.kl_weight = float(kl_weight)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mean) - tf.exp(log_var), axis=-1)
        # (no add_metric: its AssignAdd would sit in the inference graph, which tf2onnx cannot convert)
        self.add_loss(self.kl_weight * tf.reduce_mean(kl))
        if training:
            return mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
        return mean

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(kl_weight=self.kl_weight)
        return config


@register_model(
    task="anomaly",
    default_input_shape=(640,),
    small_input_shape=(32,),
    small_knobs={"hidden_units": (16,), "latent_dim": 4},
    input_kind="features",
    paper="Kingma and Welling, Auto-Encoding Variational Bayes, ICLR 2014 (arXiv:1312.6114)",
    family="autoencoder",
)
def vae(input_shape=(640,), num_classes=None, hidden_units=(128, 64), latent_dim: int = 8, beta: float = 1.0,
        name: str | None = None):
    """Variational autoencoder: the encoder gives a Gaussian posterior (mean, log variance), a
    sample by reparameterization feeds the decoder; the KL term to N(0, I) is added with
    ``add_loss``, the reconstruction loss is whatever the model is compiled with (MSE).

    Reference: Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014. The KL term is
    divided by the number of input features so that ``beta`` = 1 weighs it against a per-feature
    mean squared error as the ELBO weighs it against the summed error (beta-VAE when not 1).

    Args:
        input_shape: (features,).
        num_classes: not used; must be left unset.
        hidden_units: encoder widths (the decoder mirrors them).
        latent_dim: size of z.
        beta: weight of the KL term.
        name: model name. The decoder alone is ``model.get_layer("decoder")`` (a nested model
            from z to the reconstruction), a generator.
    """
    fn = "vae"
    reject_num_classes(fn, num_classes, "a VAE reconstructs its input")
    shape = check_features(fn, input_shape)
    units = check_int_list(fn, "hidden_units", hidden_units)
    check_positive(fn, "latent_dim", latent_dim, integer=True)
    if not isinstance(beta, (int, float)) or beta < 0:
        raise EdgekitError(f"{fn}: beta must be a number >= 0, got {beta!r}.")
    inputs = layers.Input(shape=shape, name="input")
    x = inputs
    for i, u in enumerate(units, start=1):
        x = layers.Dense(u, activation="relu", name=f"encoder_{i}")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(kl_weight=beta / shape[0], name="z")([z_mean, z_log_var])

    z_in = layers.Input(shape=(latent_dim,), name="z_input")
    y = z_in
    for i, u in enumerate(units[::-1], start=1):
        y = layers.Dense(u, activation="relu", name=f"decoder_{i}")(y)
    y = layers.Dense(shape[0], name="reconstruction")(y)
    decoder = keras.Model(z_in, y, name="decoder")
    return keras.Model(inputs, decoder(z), name=name or fn)


def anomaly_scores(model, x, batch_size: int = 256, reduce: str = "mean") -> np.ndarray:
    """Reconstruction error per sample: the anomaly score (higher means more anomalous).

    ``reduce`` is ``"mean"`` (mean squared error over features, the usual score) or ``"max"``
    (the worst feature). ``model`` is a Keras autoencoder, or any callable from a batch to its
    reconstruction (an exported artifact's predict function).
    """
    if reduce not in ("mean", "max"):
        raise EdgekitError(f"anomaly_scores: reduce must be mean or max, got {reduce!r}.")
    x = np.asarray(x, dtype="float32")
    if isinstance(model, keras.Model):
        recon = model.predict(x, batch_size=batch_size, verbose=0)
    else:
        recon = np.concatenate([np.asarray(model(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])
    err = np.square(recon.reshape(len(x), -1) - x.reshape(len(x), -1))
    return err.mean(axis=1) if reduce == "mean" else err.max(axis=1)
