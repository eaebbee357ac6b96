"""A chief or worker process of a parallel search: ``python -m edgekit.tuning._worker OUT``.

The role comes from ``KERASTUNER_TUNER_ID`` (``chief`` or ``tunerN``). A worker given
``EDGEKIT_TUNE_CORE`` pins itself to that core before TensorFlow is imported (so every thread
TensorFlow starts inherits the affinity); ``EDGEKIT_TF_THREADS=1`` keeps it to one thread.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    core = os.environ.get("EDGEKIT_TUNE_CORE")
    if core is not None:
        os.sched_setaffinity(0, {int(core)})
    from edgekit.tuning.tuner import worker_main

    worker_main(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
