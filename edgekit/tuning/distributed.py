"""A search spread over worker processes on this machine: a chief serving the oracle over gRPC
and N workers, each pinned to its own core (see :mod:`edgekit.tuning.tuner`)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from edgekit.tuning.config import Budgets, TuneConfig

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
PROJECT = "tune"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_distributed(out: Path, console) -> str | None:
    """Start a chief and N pinned workers on this machine; wait for them. Returns a crash note or None."""
    run = json.loads((out / "run.json").read_text())
    n = run["config"]["workers"]
    cores = sorted(os.sched_getaffinity(0))
    if n > len(cores):
        console.print(f"  [yellow]note[/]: {n} workers on {len(cores)} cores: workers share cores, "
                      "so training slows down each other")
    port = _free_port()
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
               PYTHONPATH=os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p))
    logs = out / "logs"
    logs.mkdir(exist_ok=True)

    def start(tuner_id: str, core: int | None):
        e = dict(env, KERASTUNER_TUNER_ID=tuner_id)
        if core is not None:
            e["EDGEKIT_TUNE_CORE"] = str(core)
            e["EDGEKIT_TF_THREADS"] = "1"
        log = open(logs / f"{tuner_id}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "edgekit.tuning._worker", str(out)], env=e, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL), log

    chief, chief_log = start("chief", None)
    workers = [start(f"tuner{i}", cores[i % len(cores)]) for i in range(n)]
    console.print(f"  chief on 127.0.0.1:{port}, workers pinned to cores "
                  f"{[cores[i % len(cores)] for i in range(n)]}; logs in {logs}")
    seen = set()
    try:
        while any(p.poll() is None for p, _ in workers):
            _echo_new_trials(out, seen, console)
            if chief.poll() is not None and chief.returncode != 0:
                break
            time.sleep(1.0)
        for p, _ in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=30)
    finally:
        for p, _ in workers:
            if p.poll() is None:
                p.terminate()
        # The chief saves the oracle after every trial and then idles up to 20 s before exiting
        # (keras-tuner's own loop): once every worker has gone its work is done.
        with contextlib.suppress(subprocess.TimeoutExpired):
            chief.wait(timeout=3)
        if chief.poll() is None:
            chief.terminate()
            chief.wait(timeout=30)
        for _, f in workers + [(chief, chief_log)]:
            f.close()
    _echo_new_trials(out, seen, console)
    bad = [f"tuner{i} exited {p.returncode}" for i, (p, _) in enumerate(workers) if p.returncode not in (0, None)]
    return "; ".join(bad) + f" (see {logs})" if bad else None


def _echo_new_trials(out: Path, seen: set, console):
    for p in sorted((out / "search" / PROJECT).glob("trial_*/edgekit.json")):
        if p not in seen:
            seen.add(p)
            with contextlib.suppress(ValueError, OSError):
                r = json.loads(p.read_text())
                console.print(f"  trial {r['id']} ({r.get('worker')}): val_accuracy {r['val_accuracy']:.4f}, "
                              f"{r['latency_ms']:.3f} ms, {r['bytes'] / 1024:.1f} KB"
                              + ("" if r["feasible"] else " [infeasible]"), highlight=False)


def worker_main(out: str | Path):
    """Entry of a chief or worker process (``python -m edgekit.tuning._worker OUT``)."""
    out = Path(out)
    run = json.loads((out / "run.json").read_text())
    config = TuneConfig(**run["config"])
    budgets = Budgets(**run["budgets"])
    from edgekit.tuning.tuner import make_tuner

    tuner = make_tuner(run["model"], run["data"], out, config, budgets, log=lambda s: print(s, flush=True))
    tuner.search(verbose=0)
