"""Read back the metadata edgekit embeds in .tflite and .onnx files (no TensorFlow import)."""

from __future__ import annotations

import json
from pathlib import Path

METADATA_NAME = "edgekit"


def read_metadata(path: str | Path) -> dict | None:
    p = Path(path)
    if p.suffix == ".tflite":
        from edgekit.tflite_file import read_model

        model = read_model(p)  # parsed once per run
        for m in model.metadata or []:
            name = m.name.decode() if isinstance(m.name, bytes) else m.name
            if name == METADATA_NAME:
                return json.loads(bytes(model.buffers[m.buffer].data).decode("utf-8"))
        return None
    if p.suffix == ".onnx":
        import onnx

        m = onnx.load(str(p), load_external_data=False)
        for prop in m.metadata_props:
            if prop.key == METADATA_NAME:
                return json.loads(prop.value)
        return None
    return None
