"""Image folders packed in an archive (``--data images.zip``): checked, then extracted safely.

``.zip``, ``.tar``, ``.tar.gz`` / ``.tgz``, ``.tar.bz2`` and ``.tar.xz`` archives are accepted.
The archive holds one subfolder per class, at its top or inside a single top folder (what
``zip -r images.zip images/`` makes). It is extracted into a fresh temporary folder that is
deleted afterwards, and every member is checked *before* anything is written:

- absolute names (``/etc/x``, ``C:\\x``) and ``..`` components are refused;
- symlinks and hard links are refused (a class folder needs regular files only), and so are
  device files and FIFOs;
- the resolved target must lie inside the extraction folder (:func:`edgekit._io.inside`);
- on Pythons that have it (3.11.4+), tarfile's own ``data_filter`` is applied as well.

Files are written by this module (never ``extractall``), with exclusive creation, so nothing
can be written through a link or outside the folder. macOS ``__MACOSX/`` resource forks are
skipped. A refused member is one :class:`~edgekit.errors.EdgekitError` line naming it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterator

from edgekit._io import inside
from edgekit.errors import EdgekitError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_SKIPPED_TOP = {"__MACOSX"}


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` names an archive this module reads (by suffix)."""
    return Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


@contextlib.contextmanager
def extracted(archive: str | Path) -> Iterator[Path]:
    """Extract ``archive`` into a temporary folder; yield the folder holding the class subfolders.

    The folder is deleted on exit. Errors raised inside the block that mention the temporary
    folder are reworded to name the archive instead.
    """
    archive = Path(archive)
    tmp = Path(tempfile.mkdtemp(prefix="edgekit-data-"))
    try:
        extract(archive, tmp)
        root = _dataset_root(tmp)
        try:
            yield root
        except EdgekitError as e:
            raise EdgekitError(str(e).replace(str(tmp), archive.name)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract(archive: str | Path, dest: str | Path) -> Path:
    """Check and extract every member of ``archive`` into ``dest`` (an empty folder)."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise EdgekitError(f"{archive}: no such archive file.")
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.lower().endswith(".zip"):
        _extract_zip(archive, dest)
    else:
        _extract_tar(archive, dest)
    return dest


def _target(dest: Path, name: str, archive: Path) -> Path | None:
    """Where member ``name`` goes inside ``dest``; ``None`` for the archive's root entry or skipped members."""
    what = f"{archive.name}: member {name!r}"
    if not name or "\x00" in name:
        raise EdgekitError(f"{what} has an empty or invalid name; the archive is damaged.")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise EdgekitError(f"{what} has an absolute path; archives for --data may hold relative paths only.")
    parts = re.split(r"[/\\]", name)
    if ".." in parts:
        raise EdgekitError(f"{what} has a '..' component (it would be written outside the extraction folder).")
    parts = [p for p in parts if p not in ("", ".")]
    if not parts or parts[0] in _SKIPPED_TOP:
        return None
    try:
        return inside(dest, "/".join(parts))
    except EdgekitError:
        raise EdgekitError(f"{what} resolves outside the extraction folder.") from None


def _write(target: Path, src: IO[bytes], what: str):
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as f:  # exclusive: never overwrite, never follow a link
            shutil.copyfileobj(src, f)
    except FileExistsError:
        raise EdgekitError(f"{what} appears twice in the archive; keep one copy.") from None
    except OSError as e:
        raise EdgekitError(f"{what} cannot be extracted ({e.strerror or type(e).__name__}).") from None


def _extract_tar(archive: Path, dest: Path):
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise EdgekitError(f"{archive}: not a readable tar archive ({_short(e)}).") from None
    with tf:
        try:
            for m in tf:
                _extract_tar_member(tf, m, archive, dest)
        except (tarfile.TarError, EOFError, OSError) as e:  # truncated or corrupt data
            raise EdgekitError(f"{archive}: damaged tar archive ({_short(e)}).") from None


def _extract_tar_member(tf: tarfile.TarFile, m: tarfile.TarInfo, archive: Path, dest: Path):
    what = f"{archive.name}: member {m.name!r}"
    target = _target(dest, m.name, archive)
    if m.issym() or m.islnk():
        kind = "symlink" if m.issym() else "hard link"
        base = target.parent if (m.issym() and target) else dest.resolve()
        points = os.path.normpath(os.path.join(base, m.linkname))
        outside = os.path.isabs(m.linkname) or not Path(points).is_relative_to(dest.resolve())
        raise EdgekitError(f"{what} is a {kind} to {m.linkname!r}"
                           + (" (outside the extraction folder)" if outside else "")
                           + "; archives for --data may hold only regular files and folders.")
    if m.ischr() or m.isblk():
        raise EdgekitError(f"{what} is a device file; archives for --data may hold only regular files and folders.")
    if not (m.isreg() or m.isdir()):
        raise EdgekitError(f"{what} is a FIFO or other special file; archives for --data may hold only regular "
                           "files and folders.")
    if hasattr(tarfile, "data_filter"):  # the standard library's own check (3.11.4+), on top of ours
        try:
            tarfile.data_filter(m, str(dest))
        except tarfile.FilterError as e:
            raise EdgekitError(f"{what} is refused by tarfile's data filter ({type(e).__name__}).") from None
    if target is None:
        return
    if m.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    src = tf.extractfile(m)
    if src is None:
        raise EdgekitError(f"{what} has no data; the archive is damaged.")
    with src:
        _write(target, src, what)


def _extract_zip(archive: Path, dest: Path):
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise EdgekitError(f"{archive}: not a readable zip archive ({_short(e)}).") from None
    with zf:
        for info in zf.infolist():
            what = f"{archive.name}: member {info.filename!r}"
            target = _target(dest, info.filename, archive)
            mode = info.external_attr >> 16  # Unix mode, when the archiver recorded one
            if stat.S_ISLNK(mode):
                raise EdgekitError(f"{what} is a symlink; archives for --data may hold only regular files and folders.")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise EdgekitError(f"{what} is a device or other special file; archives for --data may hold only "
                                   "regular files and folders.")
            if target is None:
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            try:
                with zf.open(info) as src:
                    _write(target, src, what)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as e:
                raise EdgekitError(f"{what} cannot be read ({_short(e)}).") from None


def _short(e: BaseException) -> str:
    """An exception as one short line (tarfile's open errors span several)."""
    text = " ".join(str(e).split())
    return (text[:117] + "...") if len(text) > 120 else (text or type(e).__name__)


def _dataset_root(folder: Path) -> Path:
    """``folder``, or its single top folder when that one holds the class subfolders."""
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and any(c.is_dir() for c in entries[0].iterdir()):
        return entries[0]
    return folder
