"""Training hyperparameters as one small frozen, validated object."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(40, ge=1, description="upper bound; early stopping usually ends sooner")
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    patience: int = Field(10, ge=0, description="epochs without val_loss improvement before stopping")
    seed: int = 0
    augment: bool = True
    tensorboard: bool = True
