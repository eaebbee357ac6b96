"""Silencing what native libraries print straight to file descriptor 2.

TensorFlow's converter, LiteRT's delegate set-up and the CUDA probe write banners
("INFO: Created TensorFlow Lite XNNPACK delegate", MLIR statistics) past Python's
logging. They are captured here; a caller that fails can still show them.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import tempfile
import warnings
from pathlib import Path


# Where captured native output goes (a log file in the output folder), set by :func:`native_log`.
_LOG_PATH: contextvars.ContextVar[Path | None] = contextvars.ContextVar("edgekit_native_log", default=None)


@contextlib.contextmanager
def native_log(path: str | Path):
    """Within the block, what :func:`quiet_stderr` captures (converter/absl lines, Python warnings)
    is appended to ``path`` instead of being dropped, so it is there when something looks wrong."""
    token = _LOG_PATH.set(Path(path))
    try:
        yield Path(path)
    finally:
        _LOG_PATH.reset(token)


def _append_log(text: str) -> None:
    path = _LOG_PATH.get()
    if path is None or not text.strip():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:  # a log, appended to: no atomic rewrite needed
            fh.write(text if text.endswith("\n") else text + "\n")
    except OSError:
        pass  # a log that cannot be written must not fail the conversion


@contextlib.contextmanager
def quiet_stderr():
    """Redirect fd 2 to a temporary file for the block; yields a callable returning the text.

    Python warnings raised inside are captured too. Under :func:`native_log` both go to its file.
    """
    captured = {"text": ""}
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(tmp.fileno(), 2)
        try:
            yield lambda: captured["text"]
        finally:
            try:
                sys.stderr.flush()  # Python-level writes (absl/logging) still buffered for fd 2
            except (AttributeError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured["text"] = tmp.read().decode("utf-8", "replace")
            _append_log(captured["text"] + "".join(
                f"{w.category.__name__}: {w.message} ({Path(str(w.filename)).name}:{w.lineno})\n" for w in caught))


@contextlib.contextmanager
def quiet_converter():
    """:func:`quiet_stderr` plus Python's stdout: Keras 3's export path ``print``s a ~20-line
    "Saved artifact at ..." block; under :func:`native_log` it goes to the log with the rest."""
    import io

    buf = io.StringIO()
    try:
        with quiet_stderr() as text, contextlib.redirect_stdout(buf):
            yield text
    finally:
        _append_log(buf.getvalue())
