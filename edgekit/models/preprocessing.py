"""Preprocessing as a declared property of the model, not an assumption about the data.

:func:`declared_scaling` reads what a Keras model (tf_keras or Keras 3) does to its input
before anything learned: a ``Rescaling`` or ``Normalization`` layer at its top (also inside a
nested model, after ``Resizing``/augmentation layers), or a keras.applications model whose
``preprocess_input`` maps 8-bit images to [-1, 1]. :func:`resolve_scaling` weighs that against
the user's ``--input-range``/``--mean``/``--std`` and the ``model.json`` edgekit wrote, and
:func:`dataset_for_model` loads data in the range the model expects.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from edgekit.artifact import ModelCard, Normalization
from edgekit.data.scaling import DEFAULT_RAW_RANGE, Scaling, same_normalization
from edgekit.errors import EdgekitError

# Layers that do not change input values (or only at training time) and may sit before the scaling.
_PASS_THROUGH = ("InputLayer", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
                 "RandomTranslation", "RandomContrast", "RandomCrop", "RandomBrightness")
# keras.applications models whose preprocess_input is mode "tf" (x / 127.5 - 1) and that carry no
# preprocessing layer of their own (MobileNetV3 and EfficientNet do: they are found by their layers).
_TF_MODE_NAMES = re.compile(r"^(mobilenet_\d\.\d\d_\d+|mobilenetv2_\d\.\d\d_\d+|inception_v3|xception|"
                            r"inception_resnet_v2|nasnet_(mobile|large)|resnet\d+v2)$")


def _first_value_layer(model):
    """The first layer that changes values, descending into nested models."""
    for layer in getattr(model, "layers", []):
        kind = type(layer).__name__
        if kind in _PASS_THROUGH:
            continue
        if getattr(layer, "layers", None) and kind in ("Functional", "Sequential", "Model"):
            return _first_value_layer(layer)
        return layer
    return None


def _scalar(v, what: str) -> float | None:
    a = np.asarray(v, np.float64).ravel()
    if a.size == 0:
        return None
    if not np.allclose(a, a[0], rtol=1e-6):
        return None  # per-channel: described as "feed raw data" instead of a single scale
    return float(a[0])


def declared_scaling(model) -> Scaling | None:
    """What the model's own first layers (or its keras.applications family) say about its input."""
    layer = _first_value_layer(model)
    kind = type(layer).__name__ if layer is not None else ""
    if kind == "Rescaling":
        cfg = layer.get_config()
        scale, offset = _scalar(cfg.get("scale", 1.0), "scale"), _scalar(cfg.get("offset", 0.0), "offset")
        detail = f"Rescaling(scale={cfg.get('scale')}, offset={cfg.get('offset')})"
        if not scale or offset is None:
            return Scaling(mean=0.0, std=1.0, source="Rescaling layer", detail=detail + ", fed raw data")
        # The layer maps its input onto [-1, 1] (offset -1) or [0, 1]: the input range is the preimage.
        out_lo = -1.0 if offset <= -0.5 else 0.0
        lo, hi = sorted(((out_lo - offset) / scale, (1.0 - offset) / scale))
        return Scaling(input_range=(round(lo, 6), round(hi, 6)), source="Rescaling layer", detail=detail)
    if kind == "Normalization":
        cfg = layer.get_config()
        if cfg.get("invert"):
            return None
        mean, var = getattr(layer, "mean", None), getattr(layer, "variance", None)
        m = float(np.mean(np.asarray(mean))) if mean is not None else None
        s = float(np.sqrt(np.mean(np.asarray(var)))) if var is not None else None
        detail = "Normalization" + (f"(mean {m:.4g}, std {s:.4g})" if m is not None and s is not None else "")
        return Scaling(mean=0.0, std=1.0, source="Normalization layer", detail=detail + ", fed raw data")
    name = getattr(model, "name", "") or ""
    if _TF_MODE_NAMES.match(name):
        return Scaling(input_range=(-1.0, 1.0), source="keras.applications", detail=f"{name}: preprocess_input maps 0..255 to [-1, 1]")
    return None


def _layer_stats(model) -> tuple[float, float] | None:
    layer = _first_value_layer(model)
    if type(layer).__name__ != "Normalization":
        return None
    return float(np.mean(np.asarray(layer.mean))), float(np.sqrt(np.mean(np.asarray(layer.variance))))


def resolve_scaling(keras_model, card: ModelCard | None = None, user: Scaling | None = None,
                    warn=None) -> Scaling | None:
    """The scaling to feed the model: the user's if given (refused when the model's layers say
    otherwise), else the model's own layers, model.json, keras.applications' convention; None if
    nothing declares it (the data's default then applies, with a warning from the caller)."""
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=2))
    declared = declared_scaling(keras_model) if keras_model is not None else None
    if user is not None:
        if declared is not None and declared.source != "keras.applications":
            ref = DEFAULT_RAW_RANGE
            if not same_normalization(user.normalization_for(ref), declared.normalization_for(ref)):
                raise EdgekitError(
                    f"{user.source} {user.detail} disagrees with the model's own {declared.describe()}; "
                    "the layer already scales the input: drop the flag.")
        if card is not None and card.normalization is not None and not same_normalization(
                user.normalization_for(card.normalization.raw_range), card.normalization):
            n = card.normalization
            warn(f"{user.source} {user.detail} differs from model.json's (raw - {n.mean:g}) / {n.std:g} "
                 "(the model was trained with that); using the flag.")
        return user
    if declared is not None and declared.source != "keras.applications":
        return declared
    if card is not None and card.normalization is not None:
        return Scaling(normalization=card.normalization, source="model.json",
                       detail=f"(raw - {card.normalization.mean:g}) / {card.normalization.std:g}")
    return declared


def dataset_for_model(data, keras_model, input_shape=None, card: ModelCard | None = None, user: Scaling | None = None,
                      seed: int = 0, warn=None):
    """Load ``data`` (a source or a Dataset) scaled the way the model expects; returns ``(dataset, scaling)``.

    Audio/text/table sources are read with the front end, vocabulary or columns saved in the
    model card (``card.preprocessing``), never refitted.

    A model declaring nothing gets the data's own default, with a one-line warning for images.
    When the data's raw range disagrees with the model's declared one (0..1 data for a
    Rescaling(1/255) model), the data are mapped onto the declared range and a warning says so.
    """
    from edgekit.data import Dataset, load_dataset

    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=2))
    scaling = resolve_scaling(keras_model, card, user, warn)
    prep = card.preprocessing if card is not None else None
    ds = data if isinstance(data, Dataset) else load_dataset(data, input_shape=input_shape, seed=seed,
                                                              preprocessing=prep, warn=warn)
    if scaling is None:
        if ds.x_train.ndim == 4 and ds.task == "classification":
            n = ds.normalization
            warn(f"the model declares no input scaling (no Rescaling/Normalization layer, no model.json); data "
                 f"fed as (raw - {n.mean:g}) / {n.std:g}, i.e. {_range(n)}. Pass --input-range or --mean/--std "
                 "if it was trained otherwise.")
        return ds, None
    if ds.task != "classification" and user is None and scaling.source == "model.json":
        return ds, scaling  # regression/anomaly datasets keep their own standardization
    raw = ds.normalization.raw_range
    norm = scaling.normalization_for(raw)
    if scaling.input_range is not None and scaling.source in ("Rescaling layer", "keras.applications"):
        lo, hi = scaling.input_range
        if raw[1] <= 1.0 < hi / 2:
            warn(f"the data are in {raw[0]:g}..{raw[1]:g} but the model's {scaling.describe()} expects "
                 f"{lo:g}..{hi:g}; the data are mapped onto {lo:g}..{hi:g}.")
    stats = _layer_stats(keras_model) if keras_model is not None else None
    if stats is not None:
        m, s = stats
        x_raw_mean = float(np.mean(ds.x_train * ds.normalization.std + ds.normalization.mean))
        if s > 0 and abs(x_raw_mean - m) > 3 * s:
            warn(f"the data's raw mean {x_raw_mean:.4g} is far from the Normalization layer's mean {m:.4g} "
                 f"(std {s:.4g}): were the data scaled differently when it was adapted?")
    if not same_normalization(norm, ds.normalization):
        ds = ds.renormalized(norm)
    return ds, scaling


def _range(n: Normalization) -> str:
    lo, hi = n.input_range
    return f"inputs in {lo:.4g}..{hi:.4g}"
