"""The one place that chooses the Keras flavour and sets TensorFlow's environment.

edgekit builds every model with ``tf_keras`` (Keras 2): tensorflow-model-optimization
(pruning, clustering, QAT) rejects Keras 3 models. ``TF_USE_LEGACY_KERAS=1`` must be set
*before* TensorFlow is imported so that ``tf.keras`` is ``tf_keras`` too. Every other
module gets TensorFlow and Keras from here::

    from edgekit._tf import tf, keras
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log lines; Python exceptions still carry errors
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # keeps float results bit-stable across runs
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only: skips the CUDA probe and its error lines


def _import_quietly():
    """Import TensorFlow with file descriptor 2 silenced: its C++ side prints CUDA and
    absl banners before any log level applies. Python errors still surface (raised after
    the descriptor is restored)."""
    from edgekit._native import quiet_stderr

    with quiet_stderr():
        import tensorflow
        import tf_keras

        # Probing devices here, while silenced, keeps the CUDA probe quiet later too.
        tensorflow.config.set_visible_devices([], "GPU")
    tensorflow.get_logger().setLevel("ERROR")
    try:  # absl writes conversion chatter to stderr at INFO
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover
        pass
    return tensorflow, tf_keras


tf, keras = _import_quietly()

_threads = os.environ.get("EDGEKIT_TF_THREADS")
if _threads:
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(_threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(_threads))
    except RuntimeError:
        # TensorFlow already ran something in this process (a notebook that used it before importing
        # edgekit): its pools are fixed for the process. Say so rather than fail every command.
        warnings.warn(f"EDGEKIT_TF_THREADS={_threads} not applied: TensorFlow had already started in this "
                      f"process; set it before anything uses TensorFlow", RuntimeWarning, stacklevel=2)



def reproducible(seed: int) -> None:
    """Same seed, same numbers: seed Python, NumPy and TensorFlow and ask for deterministic op
    kernels (multi-threaded reductions otherwise sum in a different order from run to run).
    They cost little on CPU for models of the size edgekit trains and fine-tunes."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def tfmot_module():
    """tensorflow-model-optimization (pruning, QAT) for the tf_keras models chosen above; imported on
    first use, as only compress needs it."""
    import tensorflow_model_optimization

    return tensorflow_model_optimization


__all__ = ["tf", "keras", "reproducible", "tfmot_module"]
