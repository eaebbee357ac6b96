"""The model registry: every architecture registered by name, built with one call.

    >>> import edgekit
    >>> edgekit.list_models("mobilenet*")
    ['mobilenet_v2', ...]
    >>> model = edgekit.create_model("mobilenet_v2", input_shape=(96, 96, 3), num_classes=2, alpha=0.35)

A builder is registered with :func:`register_model` and a frozen :class:`ModelSpec`
that carries what tests, export and reports need to know about it (task, default input
shape, normalization, paper), so nobody repeats it elsewhere.
"""

from __future__ import annotations

import fnmatch
import inspect
from dataclasses import dataclass, field
from typing import Callable, Literal

from edgekit.catalog import natural_key, unknown_knobs, unknown_model

Task = Literal["classification", "regression", "anomaly", "embedding", "generation"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    task: Task = "classification"
    # The input a user gets when they pass no input_shape, and a small one for tests.
    default_input_shape: tuple[int, ...] = (224, 224, 3)
    small_input_shape: tuple[int, ...] = (32, 32, 3)
    small_knobs: dict = field(default_factory=dict)
    # What the input is: "image" (H, W, C), "features" (F,), "sequence" (T,) tokens, "audio" ...
    input_kind: str = "image"
    paper: str = ""
    family: str = ""

    @property
    def knobs(self) -> dict[str, object]:
        """Builder keyword arguments (other than input_shape/num_classes) and their defaults."""
        sig = inspect.signature(self.builder)
        return {
            k: p.default
            for k, p in sig.parameters.items()
            if k not in ("input_shape", "num_classes") and p.default is not inspect.Parameter.empty
        }

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.builder) or ""
        return doc.splitlines()[0] if doc else ""


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(**spec_fields):
    """Decorator: ``@register_model(task=..., default_input_shape=..., paper=...)``.

    The registry name is the builder's function name.
    """

    def deco(fn):
        name = fn.__name__
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name=name, builder=fn, **spec_fields)
        return fn

    return deco


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, naturally sorted."""
    _ensure_loaded()
    return sorted((n for n in _REGISTRY if fnmatch.fnmatch(n, pattern)), key=natural_key)


def get_spec(name: str) -> ModelSpec:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise unknown_model(name, _REGISTRY)
    return _REGISTRY[name]


def create_model(name: str, input_shape=None, num_classes=None, weights=None, **knobs):
    """Build a registered model. ``None`` values are ignored, so CLI defaults never
    override a model's own defaults.

    ``weights``: ``"imagenet"`` (keras.applications' file from the Keras cache folder) or the path
    of a Keras weight file, for the models in :data:`edgekit.models.weights.PRETRAINED`; see
    :mod:`edgekit.models.weights`.
    """
    spec = get_spec(name)
    allowed = spec.knobs
    unknown = sorted(k for k in knobs if k not in allowed)
    if unknown:
        raise unknown_knobs(name, unknown, allowed)
    kwargs = {k: v for k, v in knobs.items() if v is not None}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(int(d) for d in input_shape)
    if num_classes is not None:
        kwargs["num_classes"] = int(num_classes)
    if weights is not None:
        from edgekit.models.weights import build_pretrained

        return build_pretrained(name, spec.builder, weights, kwargs)
    return spec.builder(**kwargs)


def _ensure_loaded():
    # The families register themselves when edgekit.models is imported.
    import edgekit.models  # noqa: F401
