"""Training: ``train(name, data, ...)`` and its settings, :class:`TrainConfig`.

``TrainConfig`` is plain pydantic; the training code imports TensorFlow, so it is loaded on first
use. That keeps ``edgekit train --config bad.toml`` answering before TensorFlow starts.
"""

from edgekit.training.config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name):
    if name in ("TrainResult", "train"):
        from edgekit.training import fit

        return getattr(fit, name)
    raise AttributeError(f"module 'edgekit.training' has no attribute {name!r}")
