"""Artifacts made once per test run and shared by every pytest-xdist worker.

``pytest -n 2`` (the README's test block) runs two worker processes, and a session-scoped fixture runs
once in EACH of them: a model trained in a session fixture would be trained twice. :func:`shared` makes
the work once per run instead: the first worker to ask builds the folder under a file lock, the
others wait on the lock and read what it wrote (the pattern of pytest-xdist's documentation,
"Making session-scoped fixtures execute only once").

    @pytest.fixture(scope="session")
    def tiny_model(tmp_path_factory):
        def build(folder):                      # runs once per test run, in one worker
            train("cnn", "digits", out=folder, epochs=1)
            return {"accuracy": ...}            # anything JSON: every worker gets it back
        folder, info = shared(tmp_path_factory, "tiny_model", build)
        return load_model(folder / "model.keras")

Build into the folder given (file paths inside results then hold for every worker); rebuild live
objects (a Keras model, a record) from the files in the fixture. A build that raises leaves no
marker, so the next worker to ask tries again and its test shows the error too.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from filelock import FileLock


def run_root(tmp_path_factory=None) -> Path:
    """A folder of this test run that every worker sees: the parent of the workers' base temp dirs
    under xdist (``pytest-N/``), the session's own base temp dir without it. Helpers without
    ``tmp_path_factory`` (an ``lru_cache``d function) get a temp folder named after xdist's run id."""
    if tmp_path_factory is not None:
        base = tmp_path_factory.getbasetemp()
        return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return _run_dir()


@functools.lru_cache(maxsize=None)
def _run_dir() -> Path:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:  # one process: nothing to share with
        return Path(tempfile.mkdtemp(prefix="edgekit-"))
    # short: artifact paths show up in commands' tables, and a long one wraps their cells
    d = Path(tempfile.gettempdir()) / f"edgekit-{run[:8]}"
    d.mkdir(exist_ok=True)
    return d


def shared(tmp_path_factory, name: str, build: Callable[[Path], object]) -> tuple[Path, object]:
    """``(folder, value)``: ``build(folder)`` run once per test run across workers; ``value`` is what
    it returned, through JSON (the same for the worker that built it and the ones that waited).
    ``tmp_path_factory`` may be None (see :func:`run_root`)."""
    root = run_root(tmp_path_factory)
    folder, done = root / name, root / f".{name}.done.json"
    with FileLock(str(root / f".{name}.lock")):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a build that raised part-way
            folder.mkdir(parents=True)
            value = build(folder)
            done.write_text(json.dumps(value, default=str))
    return folder, json.loads(done.read_text())


def workers() -> int:
    """How many xdist workers run this session (1 without xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
