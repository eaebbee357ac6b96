"""Silencing what native libraries print straight to file descriptor 2.

TensorFlow's converter, LiteRT's delegate set-up and the CUDA probe write banners
("INFO: Created TensorFlow Lite XNNPACK delegate", MLIR statistics) past Python's
logging. They are captured here; a caller that fails can still show them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings


@contextlib.contextmanager
def quiet_stderr():
    """Redirect fd 2 to a temporary file for the block; yields a callable returning the text."""
    captured = {"text": ""}
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(tmp.fileno(), 2)
        try:
            yield lambda: captured["text"]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured["text"] = tmp.read().decode("utf-8", "replace")
