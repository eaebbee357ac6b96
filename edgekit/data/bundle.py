"""The files a device needs beside an exported model to compute its inputs from raw data.

- every export with audio/text/table preprocessing: ``preprocessing.json`` (the same record as
  the model's ``edgekit`` metadata entry, for apps that do not parse metadata);
- text: ``vocab.txt`` (line *i* is the word of token id *i*);
- the microcontroller bundle of an audio model: ``frontend.h``/``frontend.c``
  (:func:`edgekit.data.frontend.frontend_sources`), with the model's normalization and int8
  input quantization built in.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgekit import _io

PREPROCESSING_FILE = "preprocessing.json"


def preprocessing_files(preprocessing: dict) -> dict[str, str]:
    files = {PREPROCESSING_FILE: json.dumps(preprocessing, indent=2, default=str) + "\n"}
    if preprocessing.get("kind") == "text":
        from edgekit.data.text import VOCAB_FILE, Tokenizer

        files[VOCAB_FILE] = Tokenizer(**preprocessing["tokenizer"]).vocab_file()
    return files


def write_preprocessing_files(preprocessing: dict, out_dir: Path) -> list[str]:
    """Write :func:`preprocessing_files` into ``out_dir`` (atomically); their names."""
    files = preprocessing_files(preprocessing)
    for name, text in files.items():
        _io.write_text(Path(out_dir) / name, text)
    return sorted(files)


def mcu_preprocessing_files(metadata: dict | None, model) -> dict[str, str]:
    """Files for the MCU bundle of an int8 model (``model``: its parsed flatbuffer, for the input
    quantization), from its ``edgekit`` metadata; none without preprocessing."""
    prep = (metadata or {}).get("preprocessing")
    if not prep:
        return {}
    files = preprocessing_files(prep)
    if prep.get("kind") == "audio":
        from edgekit.data.frontend import FrontendConfig, frontend_sources

        sg = model.subgraphs[0]
        q = sg.tensors[sg.inputs[0]].quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None
        zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else None
        norm = prep["normalization"]
        files.update(frontend_sources(FrontendConfig(**prep["frontend"]), norm["mean"], norm["std"], scale, zp))
    return files
