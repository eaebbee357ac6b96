"""Pretrained weights: keras.applications' weight files loaded into the zoo's builders.

edgekit's MobileNet V1/V2/V3 and ResNet-50/101/152 have keras.applications' layers, names and
parameter counts, so the ``.h5`` files keras.applications downloads fit them. This machine (and
many CI machines) has no network, so nothing is downloaded: ``weights="imagenet"`` reads the file
from the Keras cache folder (``$KERAS_HOME/models``, default ``~/.keras/models``) under the exact
name keras.applications gives it, and a missing file is one line naming the file, the folder and
where to fetch it. ``weights=PATH`` reads any weight file of the architecture.

Matching is by layer name, never by position: a layer of the model without weights in the file, a
layer of the file the model lacks, or a shape that differs is refused with the layer named. The
classifier is the exception: with another ``num_classes`` (or a file saved without its top) the
head keeps its fresh initialization and the backbone is loaded, as in transfer learning.

The layout read is the Keras HDF5 one with layer names (``layer_names`` / ``weight_names``
attributes): keras.applications' downloads (the same files for tf_keras and Keras 3), tf_keras'
``save_weights("x.h5")`` and either Keras' whole-model ``model.save("x.h5")``. Keras 3's
``.weights.h5`` is refused: it keys tensors by class and creation order, with no layer names. Names
are compared lower-case with ``/`` read as ``_`` and ``batchnorm`` as ``bn``: keras.applications'
MobileNetV3 writes ``expanded_conv/depthwise/BatchNorm`` (tf_keras) or ``expanded_conv_depthwise_bn``
(Keras 3) where the zoo writes ``expanded_conv_depthwise_BatchNorm``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError, first_line

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"

# registry name -> (keras.applications constructor, the layers that form the classifier head)
PRETRAINED = {
    "mobilenet_v1": ("MobileNet", ("conv_preds",)),
    "mobilenet_v2": ("MobileNetV2", ("predictions",)),
    "mobilenet_v3_small": ("MobileNetV3Small", ("Logits", "Conv_2")),
    "mobilenet_v3_large": ("MobileNetV3Large", ("Logits", "Conv_2")),
    "resnet50": ("ResNet50", ("predictions",)),
    "resnet101": ("ResNet101", ("predictions",)),
    "resnet152": ("ResNet152", ("predictions",)),
}
IMAGENET_CLASSES = 1000
# What the ImageNet files were trained on, where it differs from edgekit's image scaling ((x - 127.5) / 127.5,
# which is MobileNet V1/V2's own preprocessing, and V3's after its built-in Rescaling layer).
INPUT_NOTE = dict.fromkeys(
    ("resnet50", "resnet101", "resnet152"),
    "keras.applications' ResNet weights were trained on caffe-style inputs (BGR, 0..255 minus the ImageNet mean); "
    "edgekit feeds (x - 127.5) / 127.5, so the first layers see another scale until fine-tuning adapts them")


@dataclass(frozen=True)
class WeightsLoad:
    """What a load did: the file, the layers set from it, the head layers left newly initialized."""

    path: str
    loaded: tuple[str, ...]
    new: tuple[str, ...]


def keras_cache_dir() -> Path:
    """Where keras.applications keeps downloads: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _check_pretrained(name: str):
    if name not in PRETRAINED:
        raise EdgekitError(f"model {name!r} has no keras.applications weights; --weights works for "
                           f"{', '.join(PRETRAINED)}.")


def imagenet_files(name: str, knobs: dict, input_shape, include_top: bool) -> tuple[list[str], str]:
    """keras.applications' file names for ``name`` with these knobs (preferred first) and the URL folder.

    A model with a new head prefers the ``no_top`` file but the full file holds the same backbone.
    """
    _check_pretrained(name)
    rows = int(input_shape[0]) if input_shape else 224
    square = input_shape is None or int(input_shape[0]) == int(input_shape[1])
    alpha = float(knobs.get("alpha", 1.0))
    if name == "mobilenet_v1":
        texts = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
        _check_alpha(name, alpha, texts)
        rows = rows if square and rows in (128, 160, 192, 224) else 224
        top, no_top = f"mobilenet_{texts[alpha]}_{rows}_tf.h5", f"mobilenet_{texts[alpha]}_{rows}_tf_no_top.h5"
        folder = _BASE + "mobilenet/"
    elif name == "mobilenet_v2":
        _check_alpha(name, alpha, (0.35, 0.5, 0.75, 1.0, 1.3, 1.4))
        rows = rows if square and rows in (96, 128, 160, 192, 224) else 224
        stem = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}"
        top, no_top = stem + ".h5", stem + "_no_top.h5"
        folder = _BASE + "mobilenet_v2/"
    elif name.startswith("mobilenet_v3"):
        _check_alpha(name, alpha, (0.75, 1.0))
        kind = "small" if name.endswith("small") else "large"
        stem = f"weights_mobilenet_v3_{kind}{'_minimalistic' if knobs.get('minimalistic') else ''}_224_{alpha}_float"
        top, no_top = stem + ".h5", stem + "_no_top_v2.h5"
        folder = _BASE + "mobilenet_v3/"
    else:
        top, no_top = f"{name}_weights_tf_dim_ordering_tf_kernels.h5", f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"
        folder = _BASE + "resnet/"
    return ([top, no_top] if include_top else [no_top, top]), folder


def _check_alpha(name, alpha, allowed):
    if alpha not in allowed:
        raise EdgekitError(f"{name}: ImageNet weights exist for alpha {', '.join(f'{a:g}' for a in allowed)} only "
                           f"(got {alpha:g}); pick one of those or pass a weight file: weights=\"path/to/weights.h5\" "
                           "(CLI: --weights PATH).")


def resolve_weights(name: str, weights: str | os.PathLike, knobs: dict, input_shape, num_classes) -> Path:
    """The weight file ``weights`` ("imagenet" or a path) means for model ``name``."""
    _check_pretrained(name)
    if str(weights) != "imagenet":
        p = Path(weights).expanduser()
        if not p.is_file():
            raise EdgekitError(f"{p}: no such weight file; give a Keras .h5 weight file or \"imagenet\" "
                               "(weights=... in Python, --weights on the command line).")
        return p
    if input_shape is not None and int(input_shape[-1]) != 3:
        raise EdgekitError(f"{name}: ImageNet weights take 3-channel images; the input has {input_shape[-1]} "
                           "channel(s).")
    same_head = knobs.get("include_top", True) and (num_classes in (None, IMAGENET_CLASSES))
    candidates, url = imagenet_files(name, knobs, input_shape, include_top=bool(same_head))
    folder = keras_cache_dir()
    for fname in candidates:
        if (folder / fname).is_file():
            return folder / fname
    raise EdgekitError(f"ImageNet weights for {name} not found: put keras.applications' {candidates[0]} in {folder} "
                       f"(download {url}{candidates[0]} on a machine with network; no download is tried here), "
                       "or pass a weight file: weights=\"path/to/weights.h5\" (CLI: --weights PATH).")


def _layer_key(layer_name: str) -> str:
    k = layer_name.lower().replace("/", "_")
    return k.replace("batchnorm", "bn")


def read_weight_file(path: str | os.PathLike) -> dict[str, tuple[str, list[np.ndarray]]]:
    """``{normalized layer name: (name in the file, [arrays])}`` for every layer with weights."""
    import h5py

    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            g = f["model_weights"] if "model_weights" in f else f
            out = {}
            if "layer_names" in g.attrs:  # legacy Keras HDF5 (keras.applications' files)
                for raw in g.attrs["layer_names"]:
                    lname = raw.decode() if isinstance(raw, bytes) else str(raw)
                    names = [w.decode() if isinstance(w, bytes) else str(w) for w in g[lname].attrs["weight_names"]]
                    if names:
                        out[_layer_key(lname)] = (lname, [np.asarray(g[lname][w]) for w in names])
            elif "layers" in g:
                # Keras 3's .weights.h5 keys layers by class and creation order (batch_normalization_12),
                # not by layer name, so nothing in it says which layer a tensor belongs to.
                raise EdgekitError(f"{p} is a Keras 3 .weights.h5 file, which records no layer names to match by; "
                                   "save the model with model.save('model.h5') (names kept) or give "
                                   "keras.applications' .h5 file.")
            else:
                raise EdgekitError(f"{p}: an HDF5 file without Keras weights (no layer_names, no layers/).")
    except OSError as e:
        raise EdgekitError(f"{p}: not a readable HDF5 weight file ({first_line(e)}); "
                           "it may be truncated or not a Keras .h5 file.") from None
    if not out:
        raise EdgekitError(f"{p}: the file holds no layer weights.")
    return out


def load_weights(model, path: str | os.PathLike, head: tuple[str, ...] = ()) -> WeightsLoad:
    """Set ``model``'s weights from ``path`` by layer name; ``head`` layers may stay new (see module doc)."""
    stored = read_weight_file(path)
    head_keys = {_layer_key(h) for h in head}
    loaded, new, used = [], [], set()
    for layer in model.layers:
        if not layer.weights:
            continue
        key = _layer_key(layer.name)
        entry = stored.get(key)
        is_head = key in head_keys
        if entry is None:
            if is_head:
                new.append(layer.name)
                continue
            raise EdgekitError(f"{path}: no weights for layer {layer.name!r}; the file is not for this architecture "
                               "or these knobs (alpha, minimalistic, width, ...).")
        fname, arrays = entry
        want = [tuple(int(d) for d in w.shape) for w in layer.weights]
        have = [tuple(a.shape) for a in arrays]
        used.add(key)
        if want != have:
            if is_head:
                new.append(layer.name)
                continue
            raise EdgekitError(f"{path}: layer {layer.name!r} has weight shapes {want} but the file's {fname!r} has "
                               f"{have}; the file is for other knobs (alpha, input channels, ...).")
        layer.set_weights(arrays)
        loaded.append(layer.name)
    extra = sorted(stored[k][0] for k in set(stored) - used - head_keys)
    if extra:
        raise EdgekitError(f"{path}: the file has weights for layer {extra[0]!r} that the model lacks"
                           f"{f' (and {len(extra) - 1} more)' if len(extra) > 1 else ''}; it is for another "
                           "architecture or depth.")
    return WeightsLoad(str(path), tuple(loaded), tuple(new))


def build_pretrained(name: str, builder, weights, kwargs: dict):
    """Build ``name`` with ``kwargs`` and load ``weights`` ("imagenet" or a path) into it."""
    _check_pretrained(name)
    path = resolve_weights(name, weights, kwargs, kwargs.get("input_shape"), kwargs.get("num_classes"))
    model = builder(**kwargs)
    report = load_weights(model, path, head=PRETRAINED[name][1])
    model._edgekit_weights = report  # read by the trainer (freezing) and the model card
    return model


# ---------------------------------------------------------------------------------------------
# the backbone and its blocks, for fine-tuning

_BLOCK = re.compile(r"^(conv_(?:dw|pw)_(\d+)|block_(\d+)_|expanded_conv_(\d+)_|expanded_conv_|conv(\d)_block(\d+)_)")


def head_start(model) -> int:
    """Index in ``model.layers`` of the head: the last global pooling layer (the zoo's heads begin there)."""
    pools = [i for i, layer in enumerate(model.layers) if type(layer).__name__.startswith("Global")]
    if not pools:
        raise EdgekitError(f"{model.name}: no global pooling layer, so no head to train apart from a backbone; "
                           "--freeze-backbone needs a model with a pooled classifier head.")
    return pools[-1]


def block_of(layer_name: str) -> str | None:
    """The block a backbone layer belongs to (``block_12``, ``conv4_block3``, ``conv_dw_5`` -> 5), else None."""
    m = _BLOCK.match(layer_name)
    if not m:
        return None
    if m.group(2):
        return f"mobilenet_v1_{m.group(2)}"
    if m.group(3):
        return f"block_{m.group(3)}"
    if m.group(4):
        return f"expanded_conv_{m.group(4)}"
    if m.group(5):
        return f"conv{m.group(5)}_block{m.group(6)}"
    return "expanded_conv_0"


def set_backbone_trainable(model, unfreeze_blocks: int = 0) -> tuple[list[str], list[str]]:
    """Freeze the backbone (every layer before the head) except its last ``unfreeze_blocks`` blocks.

    BatchNormalization layers of the backbone stay frozen even in unfrozen blocks: a frozen BN runs
    in inference mode (moving statistics, no update), which is what keeps pretrained features
    intact on a small dataset. Layers after the last block (MobileNetV2's ``Conv_1``) count as
    part of it; the stem is never unfrozen by a block count. Returns (trainable, frozen) names.
    """
    start = head_start(model)
    backbone = model.layers[:start]
    blocks, current = [], None
    owner = {}
    for layer in backbone:
        b = block_of(layer.name)
        if b is not None and b != current:
            current = b
            blocks.append(b)
        owner[layer.name] = current  # None: the stem, before the first block
    if unfreeze_blocks and not blocks:
        raise EdgekitError(f"{model.name}: no blocks recognised in the backbone; --unfreeze works on the "
                           "MobileNet and ResNet families.")
    if unfreeze_blocks > len(blocks):
        raise EdgekitError(f"--unfreeze {unfreeze_blocks}: {model.name} has {len(blocks)} blocks.")
    thawed = set(blocks[len(blocks) - unfreeze_blocks:]) if unfreeze_blocks else set()
    trainable, frozen = [], []
    for layer in backbone:
        on = owner[layer.name] in thawed and type(layer).__name__ != "BatchNormalization"
        layer.trainable = on
        if layer.weights:
            (trainable if on else frozen).append(layer.name)
    for layer in model.layers[start:]:
        layer.trainable = True
        if layer.weights:
            trainable.append(layer.name)
    return trainable, frozen
