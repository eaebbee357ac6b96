"""How long the README's test block takes on a fresh clone, as CI runs it (``.ci/run``).

Clones the repository's HEAD into a temporary folder (what CI checks out: committed work only),
runs ``.ci/run`` there (a new ``.venv``, ``pip install -e ".[test]"``, the pytest command) and
records:

* the wall time of the whole block, of the install and of pytest, and the CPU time of all of it;
* pytest's summary line (passed / failed) and its slowest items (``--durations=25``);
* per test file, the seconds its tests took on their xdist worker and which worker ran it
  (``EDGEKIT_TEST_TIMELINE``, tests/conftest.py), and each worker's busy and finishing time: a
  worker that finishes long before the other means the files are badly ordered (conftest.py's
  ``SLOW_FILES``).

Caches outside the clone (pip's, the TFLM library and the phone-app venvs under
``~/.cache/edgekit``) are used as they are: say in ``--note`` whether they were cold.

    python benchmarks/test_block.py [--note "..."] [--keep DIR]

Writes benchmarks/results/test_block.{json,md} (a new run beside earlier ones, never over them).
Target (issue "the house"): the block in <= 20 minutes on 2 cores, with margin for a slower machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _provenance import ROOT, provenance, provenance_line, write_markdown, write_results  # noqa: E402

TARGET_MINUTES = 20.0


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_block(clone: Path) -> dict:
    timeline = clone / "timeline.txt"
    env = dict(os.environ, EDGEKIT_TEST_TIMELINE=str(timeline))
    env.pop("VIRTUAL_ENV", None)
    load_before = os.getloadavg()
    t0, cpu0 = time.time(), _cpu_children()
    proc = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env, capture_output=True, text=True)
    wall, cpu = time.time() - t0, _cpu_children() - cpu0
    out = proc.stdout + proc.stderr
    summary = next((ln.strip("= ") for ln in reversed(out.splitlines()) if re.search(r"\d+ (passed|failed)", ln)), "")
    m = re.search(r" in ([\d.]+)s", summary)
    pytest_s = float(m.group(1)) if m else None
    slowest = [ln.strip() for ln in out.splitlines() if re.match(r"^\d+\.\d+s (setup|call|teardown) ", ln)]
    return {"returncode": proc.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "pytest_s": pytest_s, "install_and_start_s": round(wall - pytest_s, 1) if pytest_s else None,
            "summary": summary, "failed": [ln for ln in out.splitlines() if ln.startswith("FAILED ")],
            "slowest": slowest, "load_before": load_before, "load_after": os.getloadavg(),
            "timeline": _timeline(timeline), "failures_text": _failures(proc.stdout),
            "output_tail": out[-3000:]}


def _failures(stdout: str, limit: int = 20_000) -> str:
    """pytest's FAILURES section (tracebacks and captured output), which the output's tail, mostly
    pip's stderr, does not hold; empty when nothing failed."""
    start = stdout.find("= FAILURES =")
    if start < 0:
        return ""
    ends = [i for i in (stdout.find(mark, start) for mark in ("warnings summary", "short test summary info")) if i > 0]
    return stdout[start:min(ends) if ends else None][:limit]


def _timeline(path: Path) -> dict:
    """Per file: worker and seconds; per worker: busy seconds and when it finished (from the start)."""
    if not path.is_file():
        return {}
    rows = [ln.split(maxsplit=4) for ln in path.read_text().splitlines() if ln.count(" ") >= 4]
    if not rows:
        return {}
    start = min(float(r[1]) for r in rows)
    files: dict[str, dict] = {}
    workers: dict[str, dict] = {}
    for worker, a, b, _phase, nodeid in rows:
        seconds = float(b) - float(a)
        f = files.setdefault(nodeid.split("::")[0], {"worker": worker, "seconds": 0.0})
        f["seconds"] += seconds
        w = workers.setdefault(worker, {"busy_s": 0.0, "finished_s": 0.0})
        w["busy_s"] += seconds
        w["finished_s"] = max(w["finished_s"], float(b) - start)
    for d in list(files.values()) + list(workers.values()):
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 1)
    return {"files": dict(sorted(files.items(), key=lambda kv: -kv[1]["seconds"])), "workers": workers}


def markdown(doc: dict) -> str:
    r = doc["run"]
    minutes = r["wall_s"] / 60
    lines = [
        "# The README's test block on a fresh clone",
        "",
        provenance_line(doc),
        "",
        f"`.ci/run` in a fresh clone of commit {doc['provenance'].get('commit', '?')[:12]}: **{minutes:.1f} minutes** "
        f"(target <= {TARGET_MINUTES:.0f}), of which pytest {r['pytest_s']} s and install + start "
        f"{r['install_and_start_s']} s; CPU {r['cpu_s']} s. Load average {r['load_before'][0]:.1f} before, "
        f"{r['load_after'][0]:.1f} after. Exit code {r['returncode']}: {r['summary']}.",
        "",
    ]
    if doc.get("note"):
        lines += [doc["note"], ""]
    if r["failed"]:
        lines += ["Failed:", ""] + [f"- `{f}`" for f in r["failed"]] + [""]
        if r.get("failures_text"):
            lines += ["pytest's failure report (the JSON keeps it too):", "", "```", r["failures_text"].rstrip(), "```", ""]
    tl = r.get("timeline") or {}
    if tl.get("workers"):
        lines += ["| worker | busy s | finished at s |", "| --- | ---: | ---: |"]
        lines += [f"| {w} | {v['busy_s']} | {v['finished_s']} |" for w, v in sorted(tl["workers"].items())]
        lines += ["", "| test file | worker | s |", "| --- | --- | ---: |"]
        lines += [f"| {f} | {v['worker']} | {v['seconds']} |" for f, v in tl["files"].items() if v["seconds"] >= 5]
        lines.append("")
    lines += ["Slowest items (pytest --durations=25):", "", "```", *r["slowest"], "```"]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--note", default="", help="a sentence for the Markdown (e.g. whether caches were cold)")
    ap.add_argument("--keep", type=Path, help="clone here instead of a temporary folder (kept afterwards)")
    args = ap.parse_args()
    started = provenance()
    with tempfile.TemporaryDirectory() as tmp:
        clone = args.keep or Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        print(f"running .ci/run in {clone} ...", flush=True)
        run = run_block(clone)
    print(json.dumps({k: run[k] for k in ("returncode", "wall_s", "pytest_s", "summary")}), flush=True)
    doc = {"target_minutes": TARGET_MINUTES, "run": run, "note": args.note, "provenance_at_start": started}
    path = write_results(ROOT / "benchmarks" / "results" / "test_block.json", doc)
    doc = json.loads(path.read_text())
    print(path, write_markdown(path, markdown(doc)))


if __name__ == "__main__":
    main()
