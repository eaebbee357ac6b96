"""Hardware-aware search with keras-tuner: every trial is trained, exported and measured.

    >>> from edgekit.tuning import tune, TuneConfig, Budgets
    >>> res = tune("mobilenet_v2", "digits", out="runs/tune", config=TuneConfig(trials=8),
    ...            budgets=Budgets(max_latency_ms=2))
    >>> res.best["val_accuracy"], res.best["latency_ms"], res.bundle

Why the tuners are subclassed
    keras-tuner in multi-backend mode refuses a ``tf_keras`` model from a hypermodel
    (ECOSYSTEM.md), so :class:`EdgeRandomSearch`, :class:`EdgeBayesianOptimization` and
    :class:`EdgeHyperband` override ``run_trial``: build the model from the trial's values
    (:mod:`edgekit.tuning.space`), fit it, export it (int8 TFLite by default), time it in LiteRT at
    one thread with the spine's harness, read its size and its TFLM tensor arena. The oracles
    only ever see numbers.

Objective and budgets
    The oracle maximizes ``score``: the validation accuracy of a trial that meets every budget,
    and ``val_accuracy - 1`` for one that does not (so any feasible trial outranks every
    infeasible one while the oracle still learns which infeasible regions are closer).
    ``trials.json`` keeps the true ``val_accuracy`` and the reasons a trial is infeasible.
    ``--max-ram-kb`` is judged only on an arena TFLM measured: when TFLM cannot run a trial's
    model (or ``measure_arena`` is off) the trial is infeasible under a RAM budget, and
    ``arena_source`` / ``infeasible_because`` say why (:meth:`Budgets.violations`).

Failures are never silent
    A failed trial prints one line; its traceback goes to ``traceback.txt`` in the trial's folder,
    and trials.json keeps the hyperparameters it tried. After the search every trial's
    status is read back: if none completed, :class:`EdgekitError` carries the first trial's error;
    the chosen model is always a COMPLETED, feasible trial whose files exist.

Resume
    State lives in ``<out>/search/tune/`` (keras-tuner's ``overwrite=False``): rerunning the same
    command reloads the oracle; finished trials are kept, and a trial that was running when the
    process died is run again. ``<out>/search.json`` records what the search is, and a rerun with
    a different model, data, space or budgets into the same ``--out`` is refused.

Modules
    :mod:`~edgekit.tuning.config` (TuneConfig, Budgets, TuneResult), :mod:`~edgekit.tuning.trial` (one
    trial's work and the measure gate), :mod:`~edgekit.tuning.distributed` (chief and workers),
    :mod:`~edgekit.tuning.report` (what a search leaves behind), this module (tuner classes, search).

Parallel workers (``workers >= 2``)
    The parent starts a chief (``KERASTUNER_TUNER_ID=chief``, serving the oracle over gRPC on
    ``127.0.0.1`` and a free port) and N workers (``tuner0``..``tunerN-1``) as subprocesses
    (``python -m edgekit.tuning._worker``). Each worker is pinned with ``os.sched_setaffinity`` to
    its own core and runs TensorFlow with one thread.

How latency stays undistorted with several workers
    A *measure gate*: one lock file per machine (``/tmp/edgekit-tune-measure.lock``, ``flock``).
    A worker that times a model holds it exclusively for the warm-up and the timed runs; every
    training worker passes through it (takes and drops it shared) before each training and
    validation batch. So while one worker measures, every other worker's training is paused at its
    next batch boundary (the warm-up runs absorb the batch in flight), and no two measurements
    overlap. Passing the gate is two system calls per batch. Workers are also on different
    cores, and latency is the median of the timed runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from edgekit._io import write_json, write_text
from edgekit.errors import EdgekitError, first_line
from edgekit.tuning.config import ORACLES, TFLM_MEASURED, Budgets, TuneConfig, TuneResult  # noqa: F401 - public names
from edgekit.tuning.distributed import PROJECT, run_distributed, worker_main  # noqa: F401
from edgekit.tuning.trial import GATE_PATH, MeasureGate, _TrialWork, load_tune_dataset  # noqa: F401


# ----------------------------------------------------------------------------------------------
# The tuner classes


def _tuner_mixin(base):
    import keras_tuner as kt

    class _Edge(base):
        def __init__(self, *, work: _TrialWork, **kwargs):
            self._work = work
            super().__init__(**kwargs)

        def run_trial(self, trial, *args, **kwargs):
            trial_dir = Path(self.get_trial_dir(trial.trial_id))
            for stale in ("error.txt", "traceback.txt"):
                (trial_dir / stale).unlink(missing_ok=True)
            values = dict(trial.hyperparameters.values)
            try:
                return self._work.run(trial.trial_id, values, trial_dir)
            except Exception as e:
                # One line in the console; the traceback beside the trial, not on the terminal.
                # keras-tuner's gRPC messages drop a worker's error text: error.txt keeps it.
                import traceback

                line = str(e) if isinstance(e, EdgekitError) else f"{type(e).__name__}: {e}"
                line = first_line(line) or type(e).__name__
                write_text(trial_dir / "error.txt", line)
                write_text(trial_dir / "traceback.txt", traceback.format_exc())
                self._work.log(f"trial {trial.trial_id} failed: {line} (traceback in {trial_dir / 'traceback.txt'})")
                if isinstance(e, EdgekitError):  # a user-level problem with this point: no retry
                    raise kt.errors.FailedTrialError(line) from e
                raise

        # The base Tuner saves/loads Keras checkpoints itself; run_trial already saved model.keras.
        def load_model(self, trial):
            from edgekit.models.load import load_model

            return load_model(Path(self.get_trial_dir(trial.trial_id)) / "model.keras").model

    _Edge.__name__ = _Edge.__qualname__ = "Edge" + base.__name__
    return _Edge


def _classes():
    import keras_tuner as kt

    _keras_tuner_saves_atomically()
    return {"random": _tuner_mixin(kt.RandomSearch), "bayesian": _tuner_mixin(kt.BayesianOptimization),
            "hyperband": _tuner_mixin(kt.Hyperband)}


def _keras_tuner_saves_atomically() -> None:
    """keras-tuner saves oracle.json, each trial.json and tuner0.json by truncating the file and then
    writing it (``keras_tuner.src.utils.save_json``, the one function all of them go through). A kill
    between the two left an empty oracle.json, and the resumed search failed on it with a
    JSONDecodeError. Route that function through edgekit's writer, which renames a complete file
    into place."""
    from keras_tuner.src import utils

    def save_json(path, obj):
        text = json.dumps(obj)
        write_text(path, text)
        return text

    utils.save_json = save_json


def __getattr__(name):  # EdgeRandomSearch & co. without importing keras_tuner at module import
    mapping = {"EdgeRandomSearch": "random", "EdgeBayesianOptimization": "bayesian", "EdgeHyperband": "hyperband"}
    if name in mapping:
        return _classes()[mapping[name]]
    raise AttributeError(name)


def make_tuner(model: str, data, out: str | Path, config: TuneConfig, budgets: Budgets, log=print):
    """The keras-tuner object for this search (directory ``<out>/search``, project ``tune``)."""
    import keras_tuner as kt

    from edgekit.tuning.space import define_space

    # keras-tuner prints every failed trial's traceback to stderr while its (private) DEBUG flag
    # is on, which is its default; run_trial already wrote one line and traceback.txt.
    with contextlib.suppress(ImportError):
        from keras_tuner.src import config as _kt_config

        _kt_config.DEBUG = False
    hp = define_space(model, fixed=config.fixed)
    # keras-tuner's oracle reads a seed of 0 as "no seed" (``seed or random.randint(...)``): shifted by
    # one, every seed, 0 included, samples the same trials on every run.
    common = dict(work=_TrialWork(model, data, config, budgets, log), objective=kt.Objective("score", "max"),
                  hyperparameters=hp, tune_new_entries=False, seed=config.seed + 1, directory=str(Path(out) / "search"),
                  project_name=PROJECT, overwrite=False, max_consecutive_failed_trials=3)
    cls = _classes()[config.oracle]
    if config.oracle == "hyperband":
        tuner = cls(max_epochs=config.epochs, factor=3, **common)
        tuner.oracle.max_trials = config.trials  # Hyperband has no trial cap of its own
    else:
        tuner = cls(max_trials=config.trials, **common)
    return tuner


# ----------------------------------------------------------------------------------------------
# The search


def _identity(model, data, config: TuneConfig, budgets: Budgets) -> dict:
    from edgekit.tuning.space import _declared_names

    cfg = config.model_dump(exclude={"trials", "workers"})
    return {"model": model, "data": str(data), "config": cfg, "budgets": budgets.model_dump(),
            "space": _declared_names(model)}


def _check_identity(out: Path, ident: dict):
    p = out / "search.json"
    if p.is_file():
        old = json.loads(p.read_text())
        if old != json.loads(json.dumps(ident, default=str)):
            diff = [k for k in ident if json.loads(json.dumps(ident[k], default=str)) != old.get(k)]
            raise EdgekitError(f"{out} already holds a different search (differs in: {', '.join(diff)}); "
                               "rerun with the same arguments to resume it, or pick a new --out.")
    else:
        write_json(p, ident)


def tune(model: str, data="digits", out: str | Path = "runs/tune", config: TuneConfig | None = None,
         budgets: Budgets | None = None, console=None) -> TuneResult:
    """Search ``model``'s space on ``data`` under ``budgets``; write the report and the best bundle.

    Rerunning with the same arguments resumes. Returns a :class:`TuneResult`.
    """
    from rich.console import Console

    from edgekit.models import get_spec
    from edgekit.tuning.report import collect_trials, write_outputs

    console = console or Console(stderr=True, soft_wrap=True)
    config = config or TuneConfig()
    budgets = budgets or Budgets()
    from edgekit.tuning.space import define_space

    define_space(model, fixed=config.fixed)  # raises on an unknown model, family or fixed name first
    spec = get_spec(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_identity(out, _identity(model, data, config, budgets))
    write_json(out / "run.json", {"model": model, "data": str(data), "config": config.model_dump(),
                                  "budgets": budgets.model_dump()})
    console.print(f"[bold]tune[/] {model} ({spec.family}) on {data}: {config.trials} trials, {config.oracle} oracle, "
                  f"{config.workers} worker(s), budgets {budgets.model_dump(exclude_none=True) or 'none'}; state in {out}/search")
    t0 = time.time()
    crash = None
    role = os.environ.get("KERASTUNER_TUNER_ID") if os.environ.get("KERASTUNER_ORACLE_IP") else None
    if role is not None:  # one process of a search spread over machines (docs/tuning.md)
        if not isinstance(data, str):
            raise EdgekitError("a distributed search needs data given by name or path, not a Dataset object.")
        console.print(f"  this process is {role!r} of a distributed search (oracle at "
                      f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ.get('KERASTUNER_ORACLE_PORT')})")
        tuner = make_tuner(model, data, out, config, budgets, log=_trial_log(console))
        with _quiet_stdout():
            tuner.search(verbose=0)
        if role != "chief":
            trials = collect_trials(out / "search" / PROJECT)
            return TuneResult(out=out, trials=trials, pareto=[], best=None, bundle=None)
    elif config.workers == 1:
        tuner = make_tuner(model, data, out, config, budgets, log=_trial_log(console))
        try:
            with _quiet_stdout():
                tuner.search(verbose=0)
        except RuntimeError as e:  # keras-tuner: too many consecutive failed trials
            crash = first_line(e)
    else:
        if not isinstance(data, str):
            raise EdgekitError("--workers needs data given by name or path, not a Dataset object.")
        crash = run_distributed(out, console)
    seconds = time.time() - t0
    trials = collect_trials(out / "search" / PROJECT)
    return write_outputs(out, model, data, config, budgets, trials, seconds, console, crash=crash)


def _trial_log(console):
    """The console line of each trial. Plain text, not Rich markup: a trial's reasons, like
    ``[infeasible: latency 2.1 ms > 1 ms]``, would otherwise be read as a style tag and vanish."""
    return lambda line: console.print("  " + line, highlight=False, markup=False)


@contextlib.contextmanager
def _quiet_stdout():
    """keras-tuner prints its own trial tables to stdout; our log lines go to stderr instead."""
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")
    try:
        yield
    finally:
        sys.stdout.close()
        sys.stdout = saved
