"""Standard TFLite metadata: what the Android Task Library, MediaPipe Tasks and Android Studio read.

Apps find a model's normalization and labels in the ``TFLITE_METADATA`` entry of a .tflite file: a
FlatBuffer of tflite-support's ``metadata_schema.fbs`` (``ModelMetadata``, file identifier ``M001``),
with associated files such as ``labels.txt`` packed as an uncompressed zip appended to the model
(LiteRT ignores both). tflite-support itself pins protobuf < 4 (TensorFlow 2.21 needs 7), so the
few tables needed are built here by hand with the ``flatbuffers`` package. The field slots below
follow the schema's declaration order, which the schema may only extend at the end; the tests
read the result back with tflite-support's own ``MetadataDisplayer`` in a separate environment.

Everything written comes from the :class:`~edgekit.artifact.Artifact` record (its normalization,
labels, input/output specs), not recomputed; :func:`add_standard_metadata` adds it to the parsed
model that export writes once (:mod:`edgekit.convert`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgekit.artifact import Artifact, TensorSpec
from edgekit.errors import EdgekitError

STANDARD_METADATA_NAME = "TFLITE_METADATA"  # the name tflite-support and MediaPipe look for
METADATA_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
# The tokenizer's vocabulary as MediaPipe's and the Task Library's RegexTokenizer read it: one
# "token id" per line (edgekit's vocab.txt beside the file has one word per line instead).
TOKENIZER_VOCAB_FILE = "tokenizer_vocab.txt"
# Every field written here exists since metadata schema 1.0.0 (BERT/SentencePiece process units,
# subgraph process units, tensor groups, ... would raise it), except the RegexTokenizer of a
# text model (1.2.1); the tests compare this with tflite-support's own GetMinimumMetadataParserVersion.
MIN_PARSER_VERSION = "1.0.0"
MIN_PARSER_VERSION_TOKENIZER = "1.2.1"

# Union tags and enums of metadata_schema.fbs
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2
_NORMALIZATION_OPTIONS, _REGEX_TOKENIZER_OPTIONS = 1, 6
_TENSOR_AXIS_LABELS, _VOCABULARY = 2, 5
_RGB, _GRAYSCALE = 1, 2


@dataclass(frozen=True)
class ModelInfo:
    """What the data cannot tell: set from ``edgekit export --name/--description/--author/--license``."""

    name: str | None = None
    description: str | None = None
    version: str | None = None
    author: str | None = None
    license: str | None = None


# ---------------------------------------------------------------- flatbuffer building blocks

def _table(b, slots: list, values: dict):
    """A table whose fields are ``slots`` in schema order; ``values`` maps a field to
    ``("off", offset)`` / ``("u8"|"i8"|"u32", number)``; absent fields stay unset."""
    b.StartObject(len(slots))
    for i, field in enumerate(slots):
        if values.get(field) is None:
            continue
        kind, v = values[field]
        if kind == "off":
            b.PrependUOffsetTRelativeSlot(i, v, 0)
        elif kind == "u8":
            b.PrependUint8Slot(i, v, 0)
        elif kind == "i8":
            b.PrependInt8Slot(i, v, 0)
        elif kind == "u32":
            b.PrependUint32Slot(i, v, 0)
    return b.EndObject()


def _offsets(b, offs: list[int]):
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _floats(b, values) -> int:
    values = [float(v) for v in values]
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(v)
    return b.EndVector()


def _s(b, text: str | None):
    return None if text is None else ("off", b.CreateString(text))


# Field order of each table in metadata_schema.fbs
_MODEL = ["name", "description", "version", "subgraph_metadata", "author", "license", "associated_files",
          "min_parser_version"]
_SUBGRAPH = ["name", "description", "input_tensor_metadata", "output_tensor_metadata", "associated_files",
             "input_process_units", "output_process_units"]
_TENSOR = ["name", "description", "dimension_names", "content", "process_units", "stats", "associated_files"]
_CONTENT = ["content_properties_type", "content_properties", "range"]
_IMAGE = ["color_space", "default_size"]
_SIZE = ["width", "height"]
_PROCESS_UNIT = ["options_type", "options"]
_NORM = ["mean", "std"]
_REGEX = ["delim_regex_pattern", "vocab_file"]
_STATS = ["max", "min"]
_FILE = ["name", "description", "type", "locale"]


@dataclass(frozen=True)
class TensorInfo:
    """One input/output tensor as the metadata describes it."""

    name: str
    description: str
    image: tuple[int, int, int] | None = None  # (height, width, channels) for an image tensor
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    value_range: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # (min per channel, max per channel)
    labels_file: bool = False
    delimiter: str | None = None  # a token-id input: the RegexTokenizer's delimiter (vocabulary packed)


def _file(b, name: str, kind: int, description: str) -> int:
    return _table(b, _FILE, {"name": _s(b, name), "type": ("i8", kind), "description": _s(b, description)})


def _tensor(b, t: TensorInfo) -> int:
    if t.image is not None:
        h, w, c = t.image
        size = _table(b, _SIZE, {"width": ("u32", w), "height": ("u32", h)})
        props = _table(b, _IMAGE, {"color_space": ("i8", _RGB if c == 3 else _GRAYSCALE), "default_size": ("off", size)})
        content = _table(b, _CONTENT, {"content_properties_type": ("u8", _IMAGE_PROPERTIES),
                                       "content_properties": ("off", props)})
    else:
        props = _table(b, [], {})
        content = _table(b, _CONTENT, {"content_properties_type": ("u8", _FEATURE_PROPERTIES),
                                       "content_properties": ("off", props)})
    units = None
    if t.mean is not None:
        norm = _table(b, _NORM, {"mean": ("off", _floats(b, t.mean)), "std": ("off", _floats(b, t.std))})
        unit = _table(b, _PROCESS_UNIT, {"options_type": ("u8", _NORMALIZATION_OPTIONS), "options": ("off", norm)})
        units = ("off", _offsets(b, [unit]))
    if t.delimiter is not None:
        vocab = _file(b, TOKENIZER_VOCAB_FILE, _VOCABULARY, "Token ids: one 'token id' per line.")
        regex = _table(b, _REGEX, {"delim_regex_pattern": _s(b, t.delimiter), "vocab_file": ("off", _offsets(b, [vocab]))})
        unit = _table(b, _PROCESS_UNIT, {"options_type": ("u8", _REGEX_TOKENIZER_OPTIONS), "options": ("off", regex)})
        units = ("off", _offsets(b, [unit]))
    stats = None
    if t.value_range is not None:
        lo, hi = t.value_range
        stats = ("off", _table(b, _STATS, {"max": ("off", _floats(b, hi)), "min": ("off", _floats(b, lo))}))
    files = None
    if t.labels_file:
        f = _file(b, LABELS_FILE, _TENSOR_AXIS_LABELS,
                  "Labels of the classes the model scores, one per line, in output order.")
        files = ("off", _offsets(b, [f]))
    return _table(b, _TENSOR, {"name": _s(b, t.name), "description": _s(b, t.description), "content": ("off", content),
                               "process_units": units, "stats": stats, "associated_files": files})


def build_metadata(info: ModelInfo, inputs: list[TensorInfo], outputs: list[TensorInfo]) -> bytes:
    """A ``ModelMetadata`` FlatBuffer (file identifier ``M001``)."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    ins = [_tensor(b, t) for t in inputs]
    outs = [_tensor(b, t) for t in outputs]
    sub = _table(b, _SUBGRAPH, {"name": _s(b, info.name), "input_tensor_metadata": ("off", _offsets(b, ins)),
                                "output_tensor_metadata": ("off", _offsets(b, outs))})
    root = _table(b, _MODEL, {
        "name": _s(b, info.name), "description": _s(b, info.description), "version": _s(b, info.version),
        "subgraph_metadata": ("off", _offsets(b, [sub])), "author": _s(b, info.author),
        "license": _s(b, info.license), "min_parser_version": _s(b, min_parser_version(inputs))})
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def min_parser_version(inputs: list[TensorInfo]) -> str:
    return MIN_PARSER_VERSION_TOKENIZER if any(t.delimiter for t in inputs) else MIN_PARSER_VERSION


# ---------------------------------------------------------------- from an Artifact record

def _per_channel(value, channels: int) -> tuple[float, ...]:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    if arr.size not in (1, channels):
        raise EdgekitError(f"normalization has {arr.size} values for {channels} channels; record one per channel.")
    return tuple(float(v) for v in np.broadcast_to(arr, (channels,)))


def _image_hwc(shape) -> tuple[int, int, int] | None:
    dims = list(shape or ())
    if len(dims) == 4 and dims[-1] in (1, 3) and all(isinstance(d, int) and d > 0 for d in dims[1:]):
        return int(dims[1]), int(dims[2]), int(dims[3])
    return None


# edgekit's tokenizer (lowercase, words are runs of [a-z0-9']) as a RegexTokenizer, which splits on
# a delimiter and does not lowercase: everything but ASCII letters, digits and apostrophes delimits,
# and each word is listed lowercase, Capitalized and UPPERCASE under one id.
TOKEN_DELIMITER = "[^a-zA-Z0-9']+"
_MP_PAD, _MP_UNKNOWN = "<PAD>", "<UNKNOWN>"  # the names MediaPipe and the Task Library look up


def tokenizer_vocabulary(tokenizer: dict) -> bytes | None:
    """The ``token id`` vocabulary file of edgekit's text tokenizer (``preprocessing["tokenizer"]``),
    or None for a tokenizer a RegexTokenizer cannot reproduce (another pattern, no lowercasing)."""
    from edgekit.data.text import TOKEN_PATTERN

    if tokenizer.get("pattern", TOKEN_PATTERN) != TOKEN_PATTERN or not tokenizer.get("lowercase", True):
        return None
    lines = [f"{_MP_PAD} 0", f"{_MP_UNKNOWN} 1"]  # edgekit: id 0 pads, id 1 is an unknown word
    for i, word in enumerate(tokenizer["vocabulary"][2:], start=2):
        lines += [f"{w} {i}" for w in dict.fromkeys((word, word.capitalize(), word.upper()))]
    return ("\n".join(lines) + "\n").encode("utf-8")


def app_task(art: Artifact, preprocessing: dict | None) -> str:
    """One line: which phone-library task takes this file, or what the app must do instead."""
    kind = (preprocessing or {}).get("kind")
    if kind == "text":
        if tokenizer_vocabulary(preprocessing["tokenizer"]) is None:
            return ("no app library can tokenize for this model (its tokenizer is not edgekit's default): "
                    "tokenize in the app with vocab.txt and call the LiteRT Interpreter.")
        return "MediaPipe TextClassifier / Task Library NLClassifier: raw strings (RegexTokenizer in the metadata)."
    if kind == "audio":
        return ("MediaPipe AudioClassifier cannot run it: it feeds a waveform, this model takes edgekit's "
                "log-mel/MFCC features; compute them in the app (preprocessing.json) and call the LiteRT Interpreter.")
    if kind == "table":
        return ("no app library takes table rows: encode the columns as preprocessing.json says and call the "
                "LiteRT Interpreter.")
    image = _image_hwc(art.input.shape) is not None
    if image and art.input.dtype == "int8":
        return ("MediaPipe and the Task Library refuse int8 image input: ship the --io uint8 export (the default) "
                "to them, or quantize in the app and call the LiteRT Interpreter.")
    if image and art.input.dtype == "uint8" and not art.extra.get("raw_pixel_input"):
        return ("the uint8 input is not on the 8-bit pixel grid (the calibration images did not span 0..255), so "
                "the app libraries would misread camera bytes: quantize with the recorded scale and zero point and "
                "call the LiteRT Interpreter, or export --io float32.")
    if is_image_classifier(art):
        return "MediaPipe ImageClassifier / Task Library ImageClassifier: camera images (labels and normalization in the metadata)."
    if image and art.output is not None and len(art.output.shape or ()) == 2:
        return "MediaPipe ImageEmbedder / Task Library ImageEmbedder: camera images to an embedding vector."
    return "no app-library task fits this model's input/output: call the LiteRT Interpreter."


def _input_info(art: Artifact, name: str) -> TensorInfo:
    spec, norm = art.input, art.normalization
    hwc = _image_hwc(spec.shape)
    channels = hwc[2] if hwc else 1
    mean = std = value_range = None
    if spec.dtype.startswith("float") and norm is not None:
        mean, std = _per_channel(norm.mean, channels), _per_channel(norm.std, channels)
        lo, hi = norm.raw_range
        value_range = (tuple((lo - m) / s for m, s in zip(mean, std)), tuple((hi - m) / s for m, s in zip(mean, std)))
    elif spec.dtype in ("int8", "uint8"):
        info = np.iinfo(spec.dtype)
        value_range = ((float(info.min),), (float(info.max),))
        if norm is not None:  # quantized inputs share the float model's normalization (schema comment)
            mean, std = _per_channel(norm.mean, channels), _per_channel(norm.std, channels)
    if hwc:
        what = "Input image" + (f", {norm.raw_range[0]:g}..{norm.raw_range[1]:g} pixels normalized as "
                                f"(x - mean) / std" if norm is not None else "")
    else:
        what = "Input features" + (" normalized as (x - mean) / std" if norm is not None else "")
    if spec.scale is not None:
        what += f"; quantized {spec.dtype}: real = (q - {spec.zero_point}) * {spec.scale:.6g}"
    return TensorInfo(name="image" if hwc else name, description=what + ".", image=hwc, mean=mean, std=std, value_range=value_range)


def _output_info(art: Artifact, name: str) -> TensorInfo:
    labels = art.labels or []
    spec = art.output
    classes = spec.shape[-1] if spec is not None and spec.shape else None
    if labels and classes == len(labels):
        return TensorInfo(name="scores", description=f"Scores of the {len(labels)} classes, in {LABELS_FILE} order.",
                          labels_file=True)
    if _image_hwc(art.input.shape) is not None and classes and len(spec.shape) == 2:
        return TensorInfo(name="embedding", description=f"Embedding of the image, {classes} values.")
    return TensorInfo(name=name, description="Model output.")


def tensor_spec(tensor) -> TensorSpec:
    """A parsed tensor's spec as LiteRT reports it (its shape signature, -1 as None; the scale and
    zero point of an integer tensor): what the metadata describes before the file is first loaded."""
    from edgekit.tflite_file import tensor_name, tensor_shape, tensor_type_name

    sig = tensor.shapeSignature
    dims = [int(d) for d in sig] if sig is not None and len(sig) else tensor_shape(tensor)
    dtype = tensor_type_name(tensor.type).lower()
    q = tensor.quantization
    scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0
    zero_point = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
    quantized = dtype in ("int8", "uint8", "int16") and scale
    return TensorSpec(name=tensor_name(tensor), shape=tuple(d if d > 0 else None for d in dims), dtype=dtype,
                      scale=scale if quantized else None, zero_point=zero_point if quantized else None)


def _io_names(model) -> tuple[list[str], list[str]]:
    from edgekit.tflite_file import tensor_name

    sg = model.subgraphs[0]
    return ([tensor_name(sg.tensors[i]) for i in sg.inputs], [tensor_name(sg.tensors[i]) for i in sg.outputs])


def is_image_classifier(art: Artifact) -> bool:
    out = art.output
    return (_image_hwc(art.input.shape) is not None and bool(art.labels) and out is not None
            and bool(out.shape) and out.shape[-1] == len(art.labels))


def _default_info(art: Artifact, info: ModelInfo) -> ModelInfo:
    from edgekit import __version__

    stem = Path(art.path).stem
    name = info.name or stem.removesuffix(f"_{art.precision}")
    kind = "image classifier" if is_image_classifier(art) else "model"
    detail = f", {len(art.labels)} classes" if art.labels and kind == "image classifier" else ""
    trained = f", trained on {art.provenance.data}" if art.provenance.data else ""
    description = info.description or (f"{name}: {kind}{detail}{trained}; {art.precision} TFLite exported by edgekit "
                                       f"from {Path(art.provenance.source_model).name}.")
    created = (art.provenance.created or "")[:10]
    return ModelInfo(name=name, description=description,
                     version=info.version or " ".join(x for x in (art.precision, created) if x),
                     author=info.author or f"exported with edgekit {__version__}",
                     license=info.license or "unspecified (set it with edgekit export --license)")


def add_standard_metadata(model, art: Artifact, info: ModelInfo | None = None,
                          preprocessing: dict | None = None) -> tuple[dict[str, bytes], dict]:
    """Add ``TFLITE_METADATA`` to ``model`` (a parsed .tflite, changed in place), written from the
    record ``art`` (its normalization, labels, input/output specs) and the data's ``preprocessing``.

    Keeps every other metadata entry (edgekit's own) and replaces an earlier standard entry. Returns
    ``(files to pack after the flatbuffer, e.g. labels.txt, the record's extra['tflite_metadata'])``;
    :func:`serialize` makes the file's bytes from both.
    """
    from ai_edge_litert import schema_py_generated as schema

    info = _default_info(art, info or ModelInfo())
    in_names, out_names = _io_names(model)
    first = _input_info(art, in_names[0])
    vocab = tokenizer_vocabulary(preprocessing["tokenizer"]) if (preprocessing or {}).get("kind") == "text" else None
    if vocab is not None and len(in_names) == 1:
        first = replace(first, name="tokens", delimiter=TOKEN_DELIMITER,
                        description="Token ids of the text; the RegexTokenizer in this metadata makes them from "
                                    "raw text (lowercase is matched as lowercase, Capitalized and UPPERCASE words).")
    inputs = [first] + [TensorInfo(name=n, description="Model input.") for n in in_names[1:]]
    outputs = [_output_info(art, out_names[0])] + [TensorInfo(name=n, description="Model output.")
                                                   for n in out_names[1:]]
    buf = schema.BufferT()
    buf.data = np.frombuffer(build_metadata(info, inputs, outputs), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = STANDARD_METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if _name(m) != STANDARD_METADATA_NAME] + [entry]
    packed: dict[str, bytes] = {}
    if outputs[0].labels_file:
        packed[LABELS_FILE] = "".join(f"{label}\n" for label in art.labels).encode("utf-8")
    if inputs[0].delimiter is not None:
        packed[TOKENIZER_VOCAB_FILE] = vocab
    facts = {"name": info.name, "min_parser_version": min_parser_version(inputs),
             "image_input": inputs[0].image is not None, "normalization": inputs[0].mean is not None,
             "tokenizer": inputs[0].delimiter is not None, "packed_files": list(packed),
             "app": app_task(art, preprocessing)}
    return packed, facts


def serialize(model, packed: dict[str, bytes] | None = None) -> bytes:
    """The .tflite bytes of a parsed model, with ``packed`` files zipped after the flatbuffer."""
    from ai_edge_litert.tools import flatbuffer_utils as fu

    data = bytes(fu.convert_object_to_bytearray(model))
    return _append_zip(data, packed) if packed else data


def _name(m) -> str:
    return m.name.decode() if isinstance(m.name, bytes) else str(m.name)


def _append_zip(model: bytes, files: dict[str, bytes]) -> bytes:
    """The model followed by a zip of ``files``, stored uncompressed, as tflite-support's populator
    writes it (Python's zipfile in append mode on a non-zip file); readers map them in place."""
    stream = io.BytesIO(model)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return stream.getvalue()
