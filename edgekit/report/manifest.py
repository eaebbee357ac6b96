"""A run folder's manifest (file, bytes, sha256), written last; `edgekit check DIR` verifies it.

Because the manifest is the last file written, a bundle without one was interrupted, and a
bundle whose files differ from it was changed or damaged after the run.
"""

from __future__ import annotations

from pathlib import Path

from edgekit._io import write_json
from edgekit.artifact import file_bytes, sha256_of
from edgekit.errors import EdgekitError

MANIFEST = "manifest.json"
# Training scratch that is not part of the deliverable bundle.
_SKIP_DIRS = {"logs", "backup"}


def _bundle_files(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
                  and not (set(p.relative_to(run_dir).parts[:-1]) & _SKIP_DIRS))


def write_manifest(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    files = [{"file": str(p.relative_to(run_dir)), "bytes": file_bytes(p), "sha256": sha256_of(p)}
             for p in _bundle_files(run_dir)]
    return write_json(run_dir / MANIFEST, {"files": files})


def check_bundle(run_dir: str | Path) -> list[str]:
    """Problems found (empty when the bundle matches its manifest)."""
    import json

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EdgekitError(f"{run_dir}: not a folder; give a run bundle folder (export/<run>/).")
    mpath = run_dir / MANIFEST
    if not mpath.is_file():
        raise EdgekitError(f"{run_dir} has no {MANIFEST}: the run did not finish, or this is not a bundle.")
    try:
        entries = json.loads(mpath.read_text())["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise EdgekitError(f"{mpath} is not a valid manifest ({type(e).__name__}).") from e
    problems = []
    listed = set()
    for e in entries:
        p = run_dir / e["file"]
        listed.add(e["file"])
        if not p.is_file():
            problems.append(f"{e['file']}: missing")
        elif file_bytes(p) != e["bytes"]:
            problems.append(f"{e['file']}: {file_bytes(p)} bytes, manifest says {e['bytes']}")
        elif sha256_of(p) != e["sha256"]:
            problems.append(f"{e['file']}: sha256 differs from the manifest")
    for p in _bundle_files(run_dir):
        if str(p.relative_to(run_dir)) not in listed:
            problems.append(f"{p.relative_to(run_dir)}: not in the manifest")
    return problems
