"""What a user's model path must be, checked without TensorFlow.

A .keras file is a zip archive, an .h5 starts with HDF5's signature, a SavedModel is a folder
holding saved_model.pb. These checks read a few bytes at most, so `edgekit export` and
`edgekit verify` refuse a wrong path in well under a second instead of after TensorFlow's
start-up (several seconds); :func:`edgekit.models.load.load_model` runs them too, so the
messages are the same either way.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgekit.errors import EdgekitError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def keras_model_kind(path) -> str:
    """The kind of Keras model at ``path``, ``"saved_model"``, ``"keras"`` or ``"h5"``, from its
    suffix and first bytes; raises EdgekitError naming the path and what to give instead when it
    cannot be one. A file that passes may still fail to load (a damaged archive's contents)."""
    p = Path(path)
    if not p.exists():
        raise EdgekitError(f"{p}: no such file or folder. Give a .keras, .h5 or SavedModel folder.")
    if p.is_dir():
        if not (p / "saved_model.pb").exists():
            raise EdgekitError(f"{p} is a folder without saved_model.pb; give a .keras, .h5 or SavedModel folder.")
        return "saved_model"
    suffix = p.suffix.lower()
    if suffix in (".tflite", ".onnx"):
        raise EdgekitError(f"{p} is already a deployable {suffix} file; give the Keras model it came from.")
    if p.stat().st_size == 0:
        raise EdgekitError(f"{p} is empty (0 bytes).")
    if suffix == ".keras":
        if not zipfile.is_zipfile(p):
            raise EdgekitError(f"{p} is not a valid .keras file (not a zip archive); it may be truncated or corrupt.")
        return "keras"
    if suffix in (".h5", ".hdf5"):
        with open(p, "rb") as fh:
            if fh.read(8) != HDF5_SIGNATURE:
                raise EdgekitError(f"{p} is not a valid HDF5 file; it may be truncated or corrupt.")
        return "h5"
    raise EdgekitError(f"{p}: unsupported model file '{suffix}'; give a .keras, .h5 or SavedModel folder.")
