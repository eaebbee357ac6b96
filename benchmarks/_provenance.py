"""What every results file under benchmarks/results/ records about where its figures came from.

    from _provenance import provenance, write_results
    write_results(Path("benchmarks/results/x.json"), {"rows": rows, ...})   # adds "provenance"

``provenance()`` is the commit (and whether the work tree had uncommitted changes), the UTC date,
the command line, the machine (CPU, flags, cores, OS, BLAS: edgekit's ``machine_info``), the
Python version and the versions of the packages the figures depend on. The load average at the
start is kept too: this machine is shared, and a figure measured under load says so. Raw timings
stay in each script's own rows; this adds the context, never a figure.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def provenance() -> dict:
    from edgekit.artifact import library_versions
    from edgekit.benchmarking.harness import machine_info

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),  # uncommitted changes to tracked files
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "python": platform.python_version(),
        "packages": library_versions(),
        "machine": machine_info(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def write_results(path: str | Path, doc: dict, *, indent: int = 2) -> Path:
    """Write ``doc`` with a ``provenance`` entry (atomically, through edgekit's writer)."""
    from edgekit._io import write_json

    doc = dict(doc)
    doc["provenance"] = provenance()
    return write_json(path, doc) if indent == 2 else _write_compact(path, doc, indent)


def _write_compact(path, doc, indent):
    import json

    from edgekit._io import write_text

    return write_text(path, json.dumps(doc, indent=indent, default=float) + "\n")


def provenance_line(doc: dict) -> str:
    """One Markdown line naming the commit, date and machine of a results file."""
    p = doc.get("provenance")
    if not p:
        return "Provenance: not recorded (this file predates benchmarks/_provenance.py)."
    m = p.get("machine") or {}
    commit = (p.get("commit") or "?")[:12] + (" (uncommitted changes)" if p.get("dirty") else "")
    load = p.get("load_average")
    return (f"Provenance: commit {commit}, {p.get('date')}, {m.get('cpu')} ({m.get('cores')} cores), Python "
            f"{p.get('python')}" + (f", load average {load[0]:.1f} at the start" if load else "") + ".")
