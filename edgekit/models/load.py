"""Loading any user model: a ``.keras`` from Keras 3 or tf_keras, an ``.h5``, or a SavedModel.

:func:`load_model` returns a :class:`LoadedModel`, which hides the flavour: it predicts,
describes its input, and hands the converters what they need.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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


def _first_line(e: Exception) -> str:
    s = str(e).strip()
    return (s.splitlines()[0] if s else type(e).__name__)[:300]


def load_model(path: str | Path, unsafe: bool = False) -> LoadedModel:
    """Load a Keras or SavedModel model for conversion or as a reference.

    ``.keras`` files are loaded in Keras' safe mode (a Lambda layer's code is refused)
    unless ``unsafe=True``.
    """
    p = Path(path)
    if not p.exists():
        raise EdgekitError(f"{p}: no such file or folder. Give a .keras, .h5 or SavedModel folder.")
    if p.is_dir():
        if not (p / "saved_model.pb").exists():
            raise EdgekitError(f"{p} is a folder without saved_model.pb; give a .keras, .h5 or SavedModel folder.")
        return _load_saved_model(p)
    suffix = p.suffix.lower()
    if suffix in (".tflite", ".onnx"):
        raise EdgekitError(f"{p} is already a deployable {suffix} file; give the Keras model it came from.")
    if p.stat().st_size == 0:
        raise EdgekitError(f"{p} is empty (0 bytes).")
    if suffix == ".keras":
        if not zipfile.is_zipfile(p):
            raise EdgekitError(f"{p} is not a valid .keras file (not a zip archive); it may be truncated or corrupt.")
        return _load_keras_file(p, unsafe)
    if suffix in (".h5", ".hdf5"):
        with open(p, "rb") as fh:
            if fh.read(8) != HDF5_SIGNATURE:
                raise EdgekitError(f"{p} is not a valid HDF5 file; it may be truncated or corrupt.")
        return _load_keras_file(p, unsafe)
    raise EdgekitError(f"{p}: unsupported model file '{suffix}'; give a .keras, .h5 or SavedModel folder.")


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
    msg = " / ".join(_first_line(e) for e in errors)
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
        raise EdgekitError(f"{p}: could not load the SavedModel ({_first_line(e)}).") from e
    sig = obj.signatures.get("serving_default")
    if sig is None:
        raise EdgekitError(f"{p}: the SavedModel has no 'serving_default' signature to convert.")
    if len(sig.structured_input_signature[1]) != 1:
        raise EdgekitError(f"{p}: only single-input SavedModels are supported (found {len(sig.structured_input_signature[1])}).")
    lm = LoadedModel(str(p), "saved_model", function=sig)
    lm._keepalive = obj  # the signature needs its object alive
    return lm
