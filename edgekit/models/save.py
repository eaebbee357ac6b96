"""Saving a trained model with its card: ``model.keras`` and ``model.json`` beside it.

One function for every writer (``edgekit train``, each tune trial), so the pair is always written
the same way: each file atomically, the model first, then the card (exporters and ``load_model``
read the card beside a model; a card never describes a model that is not there yet).
"""

from __future__ import annotations

from pathlib import Path

from edgekit._io import atomic_path, write_text
from edgekit.artifact import ModelCard


def save_model(model, card: ModelCard, path: str | Path) -> Path:
    """Save the Keras ``model`` to ``path`` (its suffix picks Keras' format) and ``card`` beside it."""
    path = Path(path)
    with atomic_path(path) as tmp:  # a temporary name with the same suffix: Keras picks the format from it
        model.save(str(tmp))
    write_text(ModelCard.path_for(path), card.model_dump_json(indent=2))
    return path
