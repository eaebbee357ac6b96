"""Keras as a runtime (the reference, and a baseline for benchmarks). Imports TensorFlow lazily."""

from __future__ import annotations

import numpy as np

from edgekit.artifact import TensorSpec
from edgekit.runtime.base import Runner


class KerasRunner(Runner):
    name = "keras"

    def __init__(self, path, threads: int = 1, unsafe: bool = False, loaded=None):
        super().__init__(path, threads)
        import os

        os.environ.setdefault("EDGEKIT_TF_THREADS", str(threads))
        from edgekit._tf import tf
        from edgekit.models.load import load_model

        try:  # only possible before TensorFlow's runtime has started
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass
        self.loaded = loaded or load_model(path, unsafe=unsafe)
        self._fn = None  # traced on first prepare(): only the benchmark needs it (one-input models)
        self._x = None

    @property
    def input_spec(self) -> TensorSpec:
        return TensorSpec(name="input", shape=self.loaded.input_shape, dtype=self.loaded.input_dtype)

    @property
    def output_spec(self) -> TensorSpec:
        return self.output_specs[0].model_copy(update={"name": "output"})

    @property
    def input_specs(self) -> list[TensorSpec]:
        """The model's inputs named after its Input layers (what an ``.npz`` keys its arrays by)."""
        from edgekit.models.signature import input_specs

        return input_specs(self.loaded)

    @property
    def output_specs(self) -> list[TensorSpec]:
        from edgekit.models.signature import output_specs

        return output_specs(self.loaded)

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from edgekit.models.signature import predict_named

        specs = self.input_specs
        if len(specs) == 1 and len(feeds) == 1:  # one input: whatever the caller named it
            feeds = {specs[0].name: next(iter(feeds.values()))}
        return predict_named(self.loaded, feeds)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.loaded.predict(x)

    def prepare(self, x: np.ndarray) -> None:
        from edgekit._tf import tf

        if self._fn is None:
            self._fn = self.loaded.concrete_function(batch=1)
        self._x = tf.constant(np.asarray(x, self.loaded.input_dtype)[:1])

    def invoke_once(self) -> None:
        out = self._fn(self._x)
        (out[0] if isinstance(out, (list, tuple)) else out).numpy()
