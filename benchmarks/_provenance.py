"""What every results file under benchmarks/results/ records about where its figures came from, and
how a run is kept: a new run never replaces an earlier one.

    from _provenance import provenance, write_markdown, write_results
    path = write_results(Path("benchmarks/results/x.json"), {"rows": rows, ...})   # adds "provenance"
    write_markdown(path, text)   # x.md (or x_<stamp>.md) beside it, with the list of every run of x

``write_results`` writes ``x.json`` when there is none yet; when there is, it writes
``x_<UTC stamp>.json`` beside it and leaves the earlier file as it was (a run that missed its target
stays on record next to the one that met it). Later writes of the same process to ``x.json`` go to
the file that process started (a script that saves after each model updates its own run).

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
import re
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


_STAMP = re.compile(r"_\d{8}T\d{6}Z$")
_THIS_RUN: dict[Path, Path] = {}  # path asked for -> the file this process writes it to


def stamp(when: _dt.datetime | None = None) -> str:
    return (when or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def new_run_path(path: str | Path) -> Path:
    """Where this process's run of ``path`` goes: ``path`` if free, else a stamped name beside it."""
    path = Path(path).resolve()
    if path in _THIS_RUN:
        return _THIS_RUN[path]
    out = path
    if path.exists():
        out = path.with_name(f"{path.stem}_{stamp()}{path.suffix}")
        n = 1
        while out.exists() or out.with_suffix(".md").exists():
            out = path.with_name(f"{path.stem}_{stamp()}_{n}{path.suffix}")
            n += 1
    _THIS_RUN[path] = out
    return out


def runs_of(path: str | Path) -> list[Path]:
    """Every kept run of results file ``path`` (``x.json`` and its stamped siblings), oldest first."""
    path = Path(path)
    base = _STAMP.sub("", path.stem)
    found = [p for p in path.parent.glob(f"{base}*{path.suffix}")
             if p.stem == base or (_STAMP.search(p.stem) and _STAMP.sub("", p.stem) == base)]
    return sorted(found, key=lambda p: (p.stem != base, p.stem))


def write_results(path: str | Path, doc: dict, *, indent: int = 2) -> Path:
    """Write ``doc`` with a ``provenance`` entry (atomically, through edgekit's writer), never over an
    earlier run's file (see :func:`new_run_path`). Returns the path written."""
    from edgekit._io import write_json

    path = new_run_path(path)
    doc = dict(doc)
    doc["provenance"] = provenance()
    return write_json(path, doc) if indent == 2 else _write_compact(path, doc, indent)


def runs_section(json_path: str | Path) -> str:
    """Markdown: every kept run of this results file, with its date, commit and load, linked."""
    import json

    lines = ["## Runs kept", "", "Every run of this benchmark is kept (a new run never replaces an earlier one):", ""]
    for p in runs_of(json_path):
        try:
            prov = json.loads(p.read_text()).get("provenance") or {}
        except ValueError:
            prov = {}
        load = prov.get("load_average")
        md = p.with_suffix(".md")
        lines.append(f"- [{p.name}]({md.name if md.exists() or p == Path(json_path) else p.name}): "
                     f"{prov.get('date', 'date not recorded')}, commit {(prov.get('commit') or '?')[:12]}"
                     + (f", load {load[0]:.1f}" if load else "") + (" (this run)" if p == Path(json_path) else ""))
    return "\n".join(lines) + "\n"


def write_markdown(json_path: str | Path, text: str) -> Path:
    """Write a run's Markdown beside its results file (same stem), ending with :func:`runs_section`."""
    from edgekit._io import write_text

    json_path = Path(json_path)
    return write_text(json_path.with_suffix(".md"), text.rstrip("\n") + "\n\n" + runs_section(json_path))


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
