from edgekit.train.config import TrainConfig
from edgekit.train.fit import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
