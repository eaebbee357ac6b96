"""Perceptron and multilayer perceptrons for feature vectors (classifier and regressor)."""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_features, check_int_list, check_positive, check_rate
from edgekit.models.registry import register_model

layers = keras.layers

ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "selu", "swish", "softplus", "tanh", "sigmoid")
INITIALIZERS = {"he": "he_normal", "glorot": "glorot_uniform", "lecun": "lecun_normal"}
NORMS = ("none", "batch", "layer")
REGRESSION_LOSSES = ("huber", "mse", "mae")


def _regularizer(l1, l2):
    if l1 and l2:
        return keras.regularizers.L1L2(l1=l1, l2=l2)
    if l1:
        return keras.regularizers.L1(l1)
    if l2:
        return keras.regularizers.L2(l2)
    return None


def _activation_layer(kind, name):
    if kind == "leaky_relu":
        return layers.LeakyReLU(alpha=0.01, name=name)
    if kind == "prelu":
        return layers.PReLU(name=name)
    return layers.Activation(kind, name=name)


def _hidden_stack(x, fn, units, activation, initializer, dropout, l1, l2, norm):
    check_choice(fn, "activation", activation, ACTIVATIONS)
    check_choice(fn, "initializer", initializer, tuple(INITIALIZERS))
    check_choice(fn, "norm", norm, NORMS)
    check_rate(fn, "dropout", dropout)
    for arg, v in (("l1", l1), ("l2", l2)):
        if not isinstance(v, (int, float)) or v < 0:
            raise EdgekitError(f"{fn}: {arg} must be a number >= 0, got {v!r}.")
    reg = _regularizer(l1, l2)
    for i, u in enumerate(units, start=1):
        x = layers.Dense(u, use_bias=norm == "none", kernel_initializer=INITIALIZERS[initializer],
                         kernel_regularizer=reg, name=f"dense_{i}")(x)
        if norm == "batch":
            x = layers.BatchNormalization(momentum=0.9, name=f"dense_{i}_bn")(x)
        elif norm == "layer":
            x = layers.LayerNormalization(name=f"dense_{i}_ln")(x)
        x = _activation_layer(activation, f"dense_{i}_{activation}")(x)
        if dropout:
            # SELU's self-normalization needs AlphaDropout, which keeps mean and variance.
            drop = layers.AlphaDropout if activation == "selu" else layers.Dropout
            x = drop(dropout, name=f"dense_{i}_dropout")(x)
    return x, reg


_FEATURES = dict(default_input_shape=(64,), small_input_shape=(16,), input_kind="features", family="mlp")


@register_model(
    task="classification",
    paper="Rosenblatt, The Perceptron, Psychological Review 1958; as softmax regression",
    **_FEATURES,
)
def perceptron(
    input_shape=(64,),
    num_classes: int = 10,
    l1: float = 0.0,
    l2: float = 0.0,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
):
    """Single-layer perceptron: one Dense layer from features to classes.

    Reference: Rosenblatt, "The Perceptron", 1958. Trained here with a differentiable
    softmax (multinomial logistic regression) instead of the step-function update rule;
    the decision boundary is the same linear one.

    Args:
        input_shape: (features,).
        num_classes: number of classes.
        l1, l2: weight penalties on the kernel (0 disables).
        classifier_activation: ``"softmax"``, ``"sigmoid"`` or ``None`` for logits.
        name: model name.
    """
    shape = check_features("perceptron", input_shape)
    check_positive("perceptron", "num_classes", num_classes, integer=True)
    for arg, v in (("l1", l1), ("l2", l2)):
        if not isinstance(v, (int, float)) or v < 0:
            raise EdgekitError(f"perceptron: {arg} must be a number >= 0, got {v!r}.")
    inputs = layers.Input(shape=shape, name="input")
    x = layers.Dense(num_classes, kernel_regularizer=_regularizer(l1, l2), name="predictions",
                     activation=classifier_activation)(inputs)
    return keras.Model(inputs, x, name=name or "perceptron")


@register_model(
    task="classification",
    paper="Rumelhart, Hinton and Williams, Learning representations by back-propagating errors, Nature 1986",
    small_knobs={"hidden_units": (32, 16)},
    **_FEATURES,
)
def mlp(
    input_shape=(64,),
    num_classes: int = 10,
    hidden_units=(128, 64),
    activation: str = "relu",
    initializer: str = "he",
    dropout: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    norm: str = "none",
    classifier_activation: str | None = "softmax",
    name: str | None = None,
):
    """Multilayer perceptron classifier: Dense, [norm], activation, [dropout], repeated.

    Reference: Rumelhart, Hinton and Williams, "Learning representations by back-propagating
    errors", Nature 1986.

    Args:
        input_shape: (features,).
        num_classes: number of classes.
        hidden_units: width of each hidden layer.
        activation: relu, leaky_relu (slope 0.01), prelu (learned slope per unit), elu, selu
            (with ``initializer="lecun"`` and AlphaDropout, as Klambauer et al. 2017 prescribe),
            swish, softplus, tanh or sigmoid.
        initializer: he (He normal, for ReLU-like units), glorot (Glorot uniform, for tanh and
            sigmoid) or lecun (LeCun normal, for SELU).
        dropout: dropout rate after each hidden activation (0 disables).
        l1, l2: kernel weight penalties (0 disables).
        norm: none, batch (BatchNormalization before the activation; the Dense then has no bias)
            or layer (LayerNormalization).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: model name.
    """
    shape = check_features("mlp", input_shape)
    check_positive("mlp", "num_classes", num_classes, integer=True)
    units = check_int_list("mlp", "hidden_units", hidden_units)
    inputs = layers.Input(shape=shape, name="input")
    x, reg = _hidden_stack(inputs, "mlp", units, activation, initializer, dropout, l1, l2, norm)
    x = layers.Dense(num_classes, activation=classifier_activation, kernel_regularizer=reg, name="predictions")(x)
    return keras.Model(inputs, x, name=name or "mlp")


def _loss_object(loss: str = "huber", delta: float = 1.0):
    """The Keras loss object for ``loss`` in huber (quadratic within ``delta``, linear outside,
    so outliers pull less), mse or mae."""
    check_choice("mlp_regressor", "loss", loss, REGRESSION_LOSSES)
    if loss == "huber":
        check_positive("mlp_regressor", "delta", delta)
        return keras.losses.Huber(delta=float(delta), name="huber")
    if loss == "mse":
        return keras.losses.MeanSquaredError(name="mse")
    return keras.losses.MeanAbsoluteError(name="mae")


def regression_metrics():
    """RMSE, MAE and R^2, the figures reported for regressors."""
    return [
        keras.metrics.RootMeanSquaredError(name="rmse"),
        keras.metrics.MeanAbsoluteError(name="mae"),
        keras.metrics.R2Score(name="r2"),
    ]


@register_model(
    task="regression",
    paper="Huber, Robust Estimation of a Location Parameter, Annals of Mathematical Statistics 1964",
    small_knobs={"hidden_units": (32, 16)},
    **_FEATURES,
)
def mlp_regressor(
    input_shape=(64,),
    num_classes: int = 1,
    hidden_units=(64, 32),
    activation: str = "relu",
    initializer: str = "he",
    dropout: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    norm: str = "none",
    loss: str = "huber",
    delta: float = 1.0,
    learning_rate: float = 1e-3,
    name: str | None = None,
):
    """Multilayer perceptron regressor with a robust (Huber) loss by default.

    The model comes compiled (Adam at ``learning_rate``, the chosen loss, RMSE/MAE/R^2
    metrics), so ``model.loss`` carries the choice to whoever trains it; recompiling is fine.

    Reference for the loss: Huber, "Robust Estimation of a Location Parameter", 1964.

    Args:
        input_shape: (features,).
        num_classes: number of regression targets (outputs are linear).
        hidden_units, activation, initializer, dropout, l1, l2, norm: as for ``mlp``.
        loss: huber, mse or mae.
        delta: Huber's threshold between the quadratic and the linear regime, in target units
            (standardize targets first, or scale ``delta`` with them).
        learning_rate: Adam learning rate used in the compiled model.
        name: model name.
    """
    shape = check_features("mlp_regressor", input_shape)
    check_positive("mlp_regressor", "num_classes", num_classes, integer=True)
    check_positive("mlp_regressor", "learning_rate", learning_rate)
    units = check_int_list("mlp_regressor", "hidden_units", hidden_units)
    loss_obj = _loss_object(loss, delta)
    inputs = layers.Input(shape=shape, name="input")
    x, reg = _hidden_stack(inputs, "mlp_regressor", units, activation, initializer, dropout, l1, l2, norm)
    x = layers.Dense(num_classes, kernel_regularizer=reg, name="prediction")(x)
    model = keras.Model(inputs, x, name=name or "mlp_regressor")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss_obj, metrics=regression_metrics())
    return model
