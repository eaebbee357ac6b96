"""Loading any user model: a ``.keras`` from Keras 3 or tf_keras, an ``.h5``, or a SavedModel.

:func:`load_model` returns a :class:`LoadedModel`, which hides the flavour: it predicts,
describes its input, and hands the converters what they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError, first_line
from edgekit.model_file import keras_model_kind


@dataclass(frozen=True)
class ModelInput:
    name: str
    shape: tuple  # with the batch dimension (None when free)
    dtype: str


def _signature_name(name: str) -> str:
    """``"image:0"`` -> ``"image"``: the name a file's signature can carry."""
    return str(name).split(":")[0]


@dataclass
class LoadedModel:
    path: str
    flavour: str  # "tf_keras", "keras3" or "saved_model"
    model: object | None = None  # a Keras model (either flavour)
    function: object | None = None  # a SavedModel serving signature when there is no Keras model

    @property
    def input_shape(self) -> tuple:
        if self.model is not None:
            shape = self.model.inputs[0].shape
        else:
            shape = list(self.function.structured_input_signature[1].values())[0].shape
        return tuple(None if d is None else int(d) for d in shape)

    @property
    def input_dtype(self) -> str:
        if self.model is not None:
            return tf.as_dtype(self.model.inputs[0].dtype).name
        return list(self.function.structured_input_signature[1].values())[0].dtype.name

    @property
    def name(self) -> str:
        return getattr(self.model, "name", None) or Path(self.path).stem

    def predict(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        x = np.asarray(x, dtype=self.input_dtype)
        outs = []
        for i in range(0, len(x), batch_size):
            xb = tf.constant(x[i : i + batch_size])
            if self.model is not None:
                y = self.model(xb, training=False)
            else:
                y = self.function(xb) if not self._kw else self.function(**{self._kw: xb})
                if isinstance(y, dict):
                    y = list(y.values())[0]
            if isinstance(y, (list, tuple)):
                y = y[0]
            outs.append(np.asarray(y, dtype=np.float32))
        return np.concatenate(outs, axis=0)

    @property
    def _kw(self):
        if self.function is None:
            return None
        return list(self.function.structured_input_signature[1].keys())[0]

    @property
    def inputs(self) -> list[ModelInput]:
        """Every input in the model's order. A single input is named ``input`` (the name every
        exported file gives it); several keep the model's own names, by which data and runtimes
        find them."""
        if self.model is not None:
            names = list(getattr(self.model, "input_names", None) or [t.name for t in self.model.inputs])
            found = [(n, t.shape, tf.as_dtype(t.dtype).name) for n, t in zip(names, self.model.inputs)]
        else:
            found = [(k, s.shape, s.dtype.name) for k, s in self.function.structured_input_signature[1].items()]
        if len(found) == 1:
            found = [("input",) + found[0][1:]]
        return [ModelInput(_signature_name(n), tuple(None if d is None else int(d) for d in shape), dtype)
                for n, shape, dtype in found]

    @property
    def output_names(self) -> list[str]:
        """The outputs' names in the model's order: Keras' output names (a Sequential's last layer),
        or the SavedModel signature's keys. Exported files name their outputs so."""
        if self.model is None:
            return list(self.function.structured_outputs)
        names = list(getattr(self.model, "output_names", None) or [])
        if len(names) != len(self.model.outputs) or len(set(names)) != len(names):
            names = [self.model.layers[-1].name] if len(self.model.outputs) == 1 else [
                _signature_name(t.name) for t in self.model.outputs]
        return [_signature_name(n) for n in names]

    def frozen_function(self, batch: int | None = None, lower_control_flow: bool = False):
        """The model's inference call over every input (named as :attr:`inputs`), its outputs a
        dict keyed by :attr:`output_names`, with every variable folded into a constant.

        What converters get for Keras 3 models and SavedModels: a traced Keras 3 call keeps its
        variables as resource handles, which the TFLite converter writes as VAR_HANDLE /
        READ_VARIABLE ops (a file that outputs NaN) and tf2onnx turns into extra graph inputs
        (a Normalization layer's mean and variance). Control flow stays functional (``While``,
        ``If``) unless ``lower_control_flow``: the TFLite converter and tf2onnx's loop rewriter
        both want it so for a recurrent layer."""
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        specs = [tf.TensorSpec((batch,) + i.shape[1:], tf.as_dtype(i.dtype), name=i.name) for i in self.inputs]
        names = self.output_names
        call = tf.function(self._flat_call(names), input_signature=specs).get_concrete_function()
        frozen = convert_variables_to_constants_v2(call, lower_control_flow=lower_control_flow)

        def named(*xs):  # the frozen function returns a flat list; a dict keeps the names in the file
            return dict(zip(names, frozen(*xs)))

        return tf.function(named, input_signature=specs).get_concrete_function()

    def _flat_call(self, names: list[str]):
        """``call(*inputs) -> [outputs in the order of names]`` for a Keras model or a signature."""
        if self.model is not None:
            model = self.model

            def call(*xs):
                y = model(list(xs) if len(xs) > 1 else xs[0], training=False)
                if isinstance(y, dict):
                    return [y[k] for k in y]
                return list(y) if isinstance(y, (list, tuple)) else [y]
        else:
            sig, keys = self.function, list(self.function.structured_input_signature[1])

            def call(*xs):
                y = sig(**dict(zip(keys, xs)))
                return [y[k] for k in names]
        return call

    def concrete_function(self, batch: int | None = None):
        """A concrete function with one input named 'input' (for tf2onnx and the TFLite converter)."""
        shape = (batch,) + tuple(self.input_shape[1:])
        spec = tf.TensorSpec(shape, tf.as_dtype(self.input_dtype), name="input")
        if self.model is not None:
            model = self.model
            fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        else:
            sig, kw = self.function, self._kw
            fn = tf.function(lambda x: list(sig(**{kw: x}).values())[0], input_signature=[spec])
        return fn.get_concrete_function()


def keras_flavour(model) -> str:
    """``"tf_keras"`` or ``"keras3"``: which Keras built ``model``, read from its class (the converters
    treat the two differently, and a user may hand either to the Python API)."""
    return "tf_keras" if any(c.__module__.startswith("tf_keras") for c in type(model).__mro__) else "keras3"


def as_loaded(model, unsafe: bool = False) -> LoadedModel:
    """``model`` (a path, a Keras model of either flavour, or a LoadedModel) as a LoadedModel."""
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model, unsafe=unsafe)
    return LoadedModel(path=getattr(model, "name", "model"), flavour=keras_flavour(model), model=model)


def load_model(path: str | Path, unsafe: bool = False) -> LoadedModel:
    """Load a Keras or SavedModel model for conversion or as a reference.

    ``.keras`` files are loaded in Keras' safe mode (a Lambda layer's code is refused)
    unless ``unsafe=True``.
    """
    p = Path(path)
    if keras_model_kind(p) == "saved_model":
        return _load_saved_model(p)
    return _load_keras_file(p, unsafe)


def _load_keras_file(p: Path, unsafe: bool) -> LoadedModel:
    errors = []
    import edgekit.models  # noqa: F401 - registers the zoo's custom layers (register_keras_serializable)

    try:  # tf_keras first: our own models, and what tfmot needs
        kwargs = {"compile": False}
        if p.suffix == ".keras":
            kwargs["safe_mode"] = not unsafe
        m = keras.models.load_model(str(p), **kwargs)
        return LoadedModel(str(p), "tf_keras", model=m)
    except Exception as e:  # noqa: BLE001 - any failure means "try the other flavour"
        errors.append(e)
    try:
        import keras as keras3

        kwargs = {"compile": False}
        if p.suffix == ".keras":
            kwargs["safe_mode"] = not unsafe
        m = keras3.saving.load_model(str(p), **kwargs)
        return LoadedModel(str(p), "keras3", model=m)
    except Exception as e:  # noqa: BLE001
        errors.append(e)
    msg = " / ".join(first_line(e) for e in errors)
    if "safe_mode" in msg or "Lambda" in msg:
        raise EdgekitError(
            f"{p} contains a Lambda layer (arbitrary code); refused in safe mode. "
            "Pass --unsafe only if you trust the file."
        )
    raise EdgekitError(f"{p}: could not load the model ({msg}). Is the file truncated or from another tool?")


def _load_saved_model(p: Path) -> LoadedModel:
    try:
        m = keras.models.load_model(str(p), compile=False)
        if getattr(m, "inputs", None):
            return LoadedModel(str(p), "tf_keras", model=m)
    except Exception:  # noqa: BLE001 - not a Keras SavedModel; use its signature
        pass
    try:
        obj = tf.saved_model.load(str(p))
    except Exception as e:  # noqa: BLE001
        raise EdgekitError(f"{p}: could not load the SavedModel ({first_line(e)}).") from e
    sig = obj.signatures.get("serving_default")
    if sig is None:
        raise EdgekitError(f"{p}: the SavedModel has no 'serving_default' signature to convert.")
    if len(sig.structured_input_signature[1]) != 1:
        raise EdgekitError(f"{p}: only single-input SavedModels are supported (found {len(sig.structured_input_signature[1])}); "
                           "give the Keras model (.keras or .h5) instead.")
    lm = LoadedModel(str(p), "saved_model", function=sig)
    lm._keepalive = obj  # the signature needs its object alive
    return lm
