"""Fine-tuning a pretrained backbone the way practitioners do (and TFLite Model Maker does).

Phase 1 (``freeze_backbone``): the backbone is frozen, BatchNormalization included (a frozen BN
layer runs in inference mode: its moving statistics neither update nor get replaced by batch
statistics), and only the head trains. Phase 2 (``unfreeze N``): the last N blocks of the backbone
train too, at a lower learning rate (``unfreeze_learning_rate``, default a tenth), their BN
layers still frozen. Blocks are defined in :func:`edgekit.models.weights.set_backbone_trainable`.
"""

from __future__ import annotations

from edgekit.errors import EdgekitError
from edgekit.models.weights import set_backbone_trainable


def freeze_for_head(net, config, console) -> dict:
    """Phase 1: freeze the backbone when asked; returns what was frozen (for metrics.json)."""
    if not config.freeze_backbone:
        return {}
    trainable, frozen = set_backbone_trainable(net, 0)
    if not trainable:
        raise EdgekitError(f"{net.name}: nothing left to train with the backbone frozen.")
    console.print(f"  backbone frozen: {len(frozen)} layers with weights; training the head ({', '.join(trainable)})")
    return {"freeze_backbone": True, "head_layers": trainable, "frozen_layers": len(frozen)}


def unfreeze_last_blocks(net, config, console) -> tuple[float, int]:
    """Phase 2: unfreeze the last ``config.unfreeze`` blocks; returns (learning rate, epochs)."""
    trainable, frozen = set_backbone_trainable(net, config.unfreeze)
    lr = config.unfreeze_learning_rate or config.learning_rate / 10
    epochs = config.unfreeze_epochs or config.epochs
    console.print(f"  fine-tuning the last {config.unfreeze} block(s): {len(trainable)} layers train "
                  f"(BatchNorm stays frozen), learning rate {lr:g}, up to {epochs} epochs")
    return lr, epochs


def thaw_all(net, finetune: dict):
    """After fine-tuning, every layer trainable again: the saved model is what a user (or ``compress``'s
    pruning and QAT fine-tuning) trains next, and frozen flags would silently stop it learning."""
    if finetune.get("freeze_backbone"):
        for layer in net.layers:
            layer.trainable = True
