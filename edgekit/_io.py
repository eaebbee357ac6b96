"""Atomic file writes: a step that fails never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None):
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only on success.

    Works for files and for folders (a SavedModel). The temporary name keeps ``dest``'s
    suffix because some writers (Keras' ``save``) choose the format from it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sfx = dest.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".partial{sfx}", dir=dest.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp = Path(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def file_key(path: str | Path) -> tuple:
    """What tells an unchanged file apart from a rewritten one: its resolved path, inode, size and
    modification and change times (an atomic rewrite is a new inode). Keys the per-run memos of
    facts read from files (a .tflite's parsed model, a file's digest)."""
    p = Path(path).resolve()
    st = p.stat()
    return (str(p), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def write_bytes(dest: str | Path, data: bytes) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | Path, text: str) -> Path:
    return write_bytes(dest, text.encode("utf-8"))


def write_json(dest: str | Path, obj) -> Path:
    """``obj`` as indented JSON; a pydantic record anywhere inside is written as its ``model_dump()``."""
    return write_text(dest, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(o):
    dump = getattr(o, "model_dump", None)
    return dump() if callable(dump) else str(o)


def inside(out_dir: str | Path, relative: str | Path) -> Path:
    """``out_dir / relative``, resolved, refusing any path that would land outside ``out_dir``.

    For paths that come from files (a config value, an archive member): absolute paths, ``..``
    that climbs out and symlinks already inside ``out_dir`` that point out are all refused with
    an :class:`~edgekit.errors.EdgekitError`. Check with this before writing, not after.
    """
    from edgekit.errors import EdgekitError

    root = Path(out_dir).resolve()
    rel = Path(relative)
    if rel.is_absolute() or rel.drive:
        raise EdgekitError(f"{str(relative)!r} is an absolute path; give a path relative to {out_dir}.")
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise EdgekitError(f"{str(relative)!r} resolves outside {out_dir}; give a path inside it.")
    return target
