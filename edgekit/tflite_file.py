"""Reading .tflite files: the ground floor that runtime, convert, bench and the MCU bundle share.

A .tflite file is a FlatBuffer whose file identifier ``TFL3`` sits at bytes 4..8. This module checks
that identifier once, parses the buffer with LiteRT's generated schema (``ai_edge_litert``, no
TensorFlow), and names operators and tensor types. Everything here works on bytes or paths and
returns plain Python values, so any layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgekit._io import file_key
from edgekit.errors import EdgekitError

TFLITE_IDENTIFIER = b"TFL3"
CUSTOM_CODE = 32  # BuiltinOperator.CUSTOM


def is_tflite_bytes(data: bytes) -> bool:
    """True when ``data`` carries the TFLite file identifier."""
    return len(data) >= 16 and data[4:8] == TFLITE_IDENTIFIER


def read_tflite_bytes(path: str | Path, hint: str = "export it with --to tflite first") -> bytes:
    """The bytes of a .tflite file, or one clear error (missing file, no ``TFL3`` identifier)."""
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"{p}: no such file. Check the path to the .tflite model.")
    data = p.read_bytes()
    if not is_tflite_bytes(data):
        raise EdgekitError(f"{p} is not a TFLite model (no 'TFL3' identifier); {hint}.")
    return data


def parse_model(data: bytes):
    """The object API model (``schema_py_generated.ModelT``) of a .tflite buffer."""
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        return flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    except Exception as e:  # a corrupt flatbuffer raises whatever the generated code hits first
        raise EdgekitError(f"the .tflite flatbuffer cannot be parsed ({type(e).__name__}); re-export it.") from e


def read_model(path: str | Path):
    """Check and parse a .tflite file in one step: :func:`open_tflite`'s model (shared: read it, never
    change it; :func:`parse_model` gives a copy of one's own to edit)."""
    return open_tflite(path).model


@dataclass(frozen=True)
class TfliteFile:
    """A .tflite file's bytes and its parsed model, read once per run (:func:`open_tflite`)."""

    path: Path
    data: bytes
    model: object  # schema_py_generated.ModelT, shared by every reader: never changed in place


# Parsing a .tflite into the object API costs more than anything else a reader does with it, and one
# run reads the same file many times (export, the GPU and XNNPACK checks, the MCU bundle, estimates), so
# each file is parsed once and kept while it is unchanged on disk. The key is the file's identity and
# stat (an atomic rewrite is a new inode); the few newest files are kept, fewer when they are large (a
# parsed model holds a copy of its weights).
_OPENED: dict[tuple, TfliteFile] = {}
_KEEP, _KEEP_BYTES = 4, 256 << 20


def open_tflite(path: str | Path, hint: str = "export it with --to tflite first") -> TfliteFile:
    """The checked bytes and parsed model of a .tflite file, parsed once while the file is unchanged."""
    p = Path(path)
    if not p.is_file():
        read_tflite_bytes(p, hint)  # its one-line error
    found = _OPENED.pop(file_key(p), None)
    if found is None:
        data = read_tflite_bytes(p, hint)
        return remember(p, data, parse_model(data))
    _OPENED[file_key(p)] = found  # the newest again
    return found


def remember(path: str | Path, data: bytes, model) -> TfliteFile:
    """Record what a writer already knows of the file it wrote at ``path`` (its bytes, and the parsed
    model they were serialized from), so later readers in this run do not parse it again."""
    p = Path(path)
    f = TfliteFile(path=p, data=bytes(data), model=model)
    _OPENED[file_key(p)] = f
    while len(_OPENED) > 1 and (len(_OPENED) > _KEEP or sum(len(o.data) for o in _OPENED.values()) > _KEEP_BYTES):
        _OPENED.pop(next(iter(_OPENED)))  # the oldest
    return f


@lru_cache(maxsize=1)
def _enum_names(enum_name: str) -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    enum = getattr(schema, enum_name)
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def opcode_builtin(opcode) -> int:
    """The builtin code of an OperatorCode (newer files use ``builtinCode``, old ones the deprecated byte)."""
    return max(int(opcode.builtinCode), int(opcode.deprecatedBuiltinCode))


def op_name(opcode) -> str:
    """``CONV_2D``, ``FULLY_CONNECTED``, ... or the custom op's own name."""
    code = opcode_builtin(opcode)
    name = _enum_names("BuiltinOperator").get(code, f"BUILTIN_{code}")
    if name == "CUSTOM":
        custom = opcode.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return name


def is_custom(opcode) -> bool:
    return opcode_builtin(opcode) == CUSTOM_CODE


def tensor_type_name(t: int) -> str:
    """``INT8``, ``FLOAT32``, ... for a TensorType value."""
    return _enum_names("TensorType").get(int(t), str(t))


def text(value) -> str:
    """A string field of the parsed model (bytes once parsed, str when set in Python) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def tensor_name(tensor) -> str:
    return text(tensor.name)


def tensor_shape(tensor) -> list[int]:
    return [int(d) for d in (tensor.shape if tensor.shape is not None else [])]


@dataclass(frozen=True)
class OpInfo:
    """One operator of the main subgraph, in execution order."""

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom: bool


def operators(model, subgraph: int = 0) -> list[OpInfo]:
    sg = model.subgraphs[subgraph]
    out = []
    for i, op in enumerate(sg.operators or []):
        oc = model.operatorCodes[op.opcodeIndex]
        out.append(OpInfo(
            index=i, op=op_name(oc), custom=is_custom(oc),
            inputs=tuple(int(x) for x in (op.inputs if op.inputs is not None else [])),
            outputs=tuple(int(x) for x in (op.outputs if op.outputs is not None else [])),
        ))
    return out


def io_types(model) -> tuple[list[str], list[str]]:
    """Type names of the main subgraph's inputs and outputs."""
    sg = model.subgraphs[0]
    ins = [tensor_type_name(sg.tensors[i].type) for i in sg.inputs]
    outs = [tensor_type_name(sg.tensors[i].type) for i in sg.outputs]
    return ins, outs


def buffer_array(model, tensor) -> np.ndarray | None:
    """The constant data of a tensor as bytes (uint8 view), or None for an activation."""
    if not tensor.buffer:
        return None
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    return np.asarray(data, dtype=np.uint8)
