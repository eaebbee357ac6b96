"""Walking a functional Keras model's layer graph (what channel pruning, QAT annotation and
the mixed-precision fallback need to know about who feeds whom)."""

from __future__ import annotations


def inbound_layers(layer) -> list:
    """The layers feeding ``layer``, over all its inbound nodes (tf_keras gives a node's
    ``inbound_layers`` as one layer or as a list, depending on how many there are)."""
    found = []
    for node in layer._inbound_nodes:
        src = node.inbound_layers
        found += list(src) if isinstance(src, (list, tuple)) else [src]
    return found


def outbound_layers(model) -> dict[str, list]:
    """Layer name -> the layers it feeds."""
    out: dict[str, list] = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for src in inbound_layers(layer):
            out[src.name].append(layer)
    return out
