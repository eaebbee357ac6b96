from edgekit.data.datasets import BUILTIN, Dataset, load_dataset

__all__ = ["BUILTIN", "Dataset", "load_dataset"]
