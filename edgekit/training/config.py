"""Training hyperparameters as one small frozen, validated object."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(40, ge=1, description="upper bound; early stopping usually ends sooner")
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    patience: int = Field(10, ge=0, description="epochs without val_loss improvement before stopping")
    warmup_epochs: int = Field(0, ge=0, description="epochs over which the learning rate rises linearly from ~0")
    seed: int = 0
    augment: bool = True
    flip: Optional[bool] = Field(None, description="images: also mirror left-right when augmenting (default: below 1,000 "
                                                   "training images, on where mirrored training images still look like "
                                                   "their class: edgekit.training.mirror)")
    colours: Optional[bool] = Field(None, description="RGB images: also shuffle the colour channels and invert at "
                                                      "random when augmenting (default off; below 1,000 training "
                                                      "images train offers it where colour alone does not predict "
                                                      "the class: edgekit.training.colour)")
    tensorboard: bool = True
    # optimizer and learning-rate schedule (edgekit.training.optim)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD and RMSprop momentum")
    nesterov: bool = Field(False, description="Nesterov momentum (SGD only)")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW's decoupled weight decay")
    schedule: Literal["plateau", "cosine", "exponential", "constant"] = Field(
        "plateau", description="plateau halves the rate when val_loss stalls; cosine and exponential decay per step")
    decay_rate: float = Field(0.9, gt=0, le=1, description="exponential schedule: factor per epoch")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="classification only")
    loss: Optional[Literal["mse", "mae", "huber"]] = Field(None, description="regression loss (default: the model's)")
    huber_delta: float = Field(1.0, gt=0, description="Huber loss delta (in standardized target units)")
    # fine-tuning a pretrained backbone (edgekit.training.finetune)
    freeze_backbone: bool = Field(False, description="train the head with the backbone (and its BatchNorm) frozen")
    unfreeze: int = Field(0, ge=0, description="then unfreeze the backbone's last N blocks and train again")
    unfreeze_learning_rate: Optional[float] = Field(None, gt=0, description="default learning_rate / 10")
    unfreeze_epochs: Optional[int] = Field(None, ge=1, description="default: epochs")

    @model_validator(mode="after")
    def _consistent(self):
        if self.nesterov and self.optimizer != "sgd":
            raise ValueError(f"nesterov applies to the sgd optimizer, not {self.optimizer}")
        if self.unfreeze and not self.freeze_backbone:
            raise ValueError("unfreeze N follows a frozen-backbone phase: add freeze_backbone (--freeze-backbone)")
        return self
