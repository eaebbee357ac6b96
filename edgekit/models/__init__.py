"""Model zoo. Each family module registers its builders on import; the list is explicit."""

from edgekit.models import autoencoders  # noqa: F401
from edgekit.models import cnn  # noqa: F401
from edgekit.models import ds_cnn  # noqa: F401
from edgekit.models import gan  # noqa: F401
from edgekit.models import mlp  # noqa: F401
from edgekit.models import mobilenet_v1  # noqa: F401
from edgekit.models import mobilenet_v2  # noqa: F401
from edgekit.models import mobilenet_v3  # noqa: F401
from edgekit.models import resnet  # noqa: F401
from edgekit.models import rnn  # noqa: F401
from edgekit.models import siamese  # noqa: F401
from edgekit.models import transformer  # noqa: F401
from edgekit.models.macs import count_macs, count_params
from edgekit.models.registry import ModelSpec, create_model, get_spec, list_models, register_model

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models", "register_model", "count_macs", "count_params"]
