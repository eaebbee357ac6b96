from edgekit.data.datasets import BUILTIN, Dataset, check_source, load_dataset

__all__ = ["BUILTIN", "Dataset", "check_source", "load_dataset"]
