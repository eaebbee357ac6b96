"""Hardware-aware search with keras-tuner: every trial is trained, exported and measured.

    >>> from edgekit.tune import tune, TuneConfig, Budgets
    >>> res = tune("mobilenet_v2", "digits", out="runs/tune", config=TuneConfig(trials=8),
    ...            budgets=Budgets(max_latency_ms=2))
    >>> res.best["val_accuracy"], res.best["latency_ms"], res.bundle

Why the tuners are subclassed
    keras-tuner in multi-backend mode refuses a ``tf_keras`` model from a hypermodel
    (ECOSYSTEM.md), so :class:`EdgeRandomSearch`, :class:`EdgeBayesianOptimization` and
    :class:`EdgeHyperband` override ``run_trial``: build the model from the trial's values
    (:mod:`edgekit.tune.space`), fit it, export it (int8 TFLite by default), time it in LiteRT at
    one thread with the spine's harness, read its size and its TFLM tensor arena. The oracles
    only ever see numbers.

Objective and budgets
    The oracle maximizes ``score``: the validation accuracy of a trial that meets every budget,
    and ``val_accuracy - 1`` for one that does not (so any feasible trial outranks every
    infeasible one while the oracle still learns which infeasible regions are closer).
    ``trials.json`` keeps the true ``val_accuracy`` and the reasons a trial is infeasible.

Failures are never silent
    keras-tuner swallows a trial's exception and marks it FAILED. After the search every trial's
    status is read back: if none completed, :class:`EdgekitError` carries the first trial's error;
    the chosen model is always a COMPLETED, feasible trial whose files exist.

Resume
    State lives in ``<out>/search/tune/`` (keras-tuner's ``overwrite=False``): rerunning the same
    command reloads the oracle; finished trials are kept, and a trial that was running when the
    process died is run again. ``<out>/search.json`` records what the search is, and a rerun with
    a different model, data, space or budgets into the same ``--out`` is refused.

Parallel workers (``workers >= 2``)
    The parent starts a chief (``KERASTUNER_TUNER_ID=chief``, serving the oracle over gRPC on
    ``127.0.0.1`` and a free port) and N workers (``tuner0``..``tunerN-1``) as subprocesses
    (``python -m edgekit.tune._worker``). Each worker is pinned with ``os.sched_setaffinity`` to
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
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgekit._io import write_json
from edgekit.errors import EdgekitError

PROJECT = "tune"
ORACLES = ("random", "bayesian", "hyperband")
GATE_PATH = Path(tempfile.gettempdir()) / "edgekit-tune-measure.lock"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class TuneConfig(BaseModel):
    """How to search (budgets are separate: :class:`Budgets`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(10, ge=1, description="trials to run in total (a rerun continues up to this number)")
    oracle: Literal["random", "bayesian", "hyperband"] = "random"
    epochs: int = Field(20, ge=1, description="epochs per trial (Hyperband: the most any trial gets)")
    patience: int = Field(5, ge=1, description="epochs without val_accuracy improvement before a trial stops")
    precision: Literal["int8", "fp32", "fp16", "dynamic"] = "int8"
    workers: int = Field(1, ge=1, description="1: in this process; N >= 2: a chief and N worker processes")
    seed: int = 0
    augment: bool = True
    bench_runs: int = Field(50, ge=1)
    bench_warmup: int = Field(10, ge=0)
    measure_arena: bool = True
    fixed: dict = Field(default_factory=dict, description="hyperparameters pinned to one value")


class Budgets(BaseModel):
    """Device limits; a trial over any of them is kept and marked infeasible."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_latency_ms: float | None = Field(None, gt=0, description="LiteRT p50, 1 thread, this machine")
    max_flash_kb: float | None = Field(None, gt=0, description="size of the exported model file")
    max_ram_kb: float | None = Field(None, gt=0, description="TFLM tensor arena")

    def violations(self, latency_ms: float, nbytes: int, arena_bytes: int | None) -> list[str]:
        out = []
        if self.max_latency_ms is not None and latency_ms > self.max_latency_ms:
            out.append(f"latency {latency_ms:.3f} ms > {self.max_latency_ms:g} ms")
        if self.max_flash_kb is not None and nbytes / 1024 > self.max_flash_kb:
            out.append(f"flash {nbytes / 1024:.1f} KB > {self.max_flash_kb:g} KB")
        if self.max_ram_kb is not None and (arena_bytes is None or arena_bytes / 1024 > self.max_ram_kb):
            out.append("arena unknown" if arena_bytes is None else
                       f"arena {arena_bytes / 1024:.1f} KB > {self.max_ram_kb:g} KB")
        return out


@dataclass
class TuneResult:
    out: Path
    trials: list[dict]
    pareto: list[dict]
    best: dict | None
    bundle: Path | None
    report: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# The measure gate


class MeasureGate:
    """See the module docstring: exclusive while timing, passed through by training batches."""

    def __init__(self, path: str | Path = GATE_PATH):
        self.path = Path(path)
        self._fd = None

    def _open(self):
        if self._fd is None:
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o666)
        return self._fd

    @contextlib.contextmanager
    def exclusive(self):
        import fcntl

        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def pass_through(self):
        import fcntl

        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_SH)
        fcntl.flock(fd, fcntl.LOCK_UN)


def _gate_callback(gate: MeasureGate):
    from edgekit._tf import keras

    class _Gate(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            gate.pass_through()

        def on_test_batch_begin(self, batch, logs=None):
            gate.pass_through()

    return _Gate()


# ----------------------------------------------------------------------------------------------
# One trial


class _TrialWork:
    """Train, export, measure one trial; shared by the three tuner classes."""

    def __init__(self, model: str, data, config: TuneConfig, budgets: Budgets, log=print):
        self.model, self.data, self.config, self.budgets, self.log = model, data, config, budgets, log
        self.gate = MeasureGate()
        self._datasets: dict = {}

    def dataset(self, name: str, resolution: int | None):
        return load_tune_dataset(name, self.data, resolution, self.config.seed, self._datasets)

    def run(self, trial_id: str, values: dict, trial_dir: Path) -> dict:
        from edgekit._io import atomic_path, write_text
        from edgekit._tf import keras
        from edgekit.artifact import ModelCard
        from edgekit.bench.harness import bench_runner
        from edgekit.convert import export
        from edgekit.models import count_macs, count_params, create_model, get_spec
        from edgekit.runtime.base import load_runner
        from edgekit.tune.space import make_optimizer, trial_config

        cfg = trial_config(self.model, values)
        ds = self.dataset(cfg.model, cfg.resolution)
        epochs = int(values.get("tuner/epochs", self.config.epochs))
        initial_epoch = int(values.get("tuner/initial_epoch", 0))
        trial_dir = Path(trial_dir)
        trial_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.time()

        keras.backend.clear_session()
        keras.utils.set_random_seed(self.config.seed)
        net = create_model(cfg.model, input_shape=ds.input_shape, num_classes=ds.num_classes, **cfg.knobs)
        parent = values.get("tuner/trial_id")  # Hyperband: continue from the previous round's weights
        if parent and (trial_dir.parent / f"trial_{parent}" / "model.keras").is_file():
            from edgekit.models.load import load_model

            net.set_weights(load_model(trial_dir.parent / f"trial_{parent}" / "model.keras").model.get_weights())
        else:
            initial_epoch = 0
        steps_per_epoch = math.ceil(len(ds.x_train) / cfg.batch_size)
        net.compile(optimizer=make_optimizer(cfg, steps_per_epoch * max(1, epochs - initial_epoch)),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        from edgekit.train.batches import training_batches

        stream = training_batches(ds.x_train, ds.y_train, cfg.batch_size, self.config.seed, self.config.augment)
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=self.config.patience,
                                                   restore_best_weights=True),
                     _gate_callback(self.gate)]
        hist = net.fit(stream, validation_data=(ds.x_val, ds.y_val), epochs=epochs, initial_epoch=initial_epoch,
                       callbacks=callbacks, verbose=0)
        val_accuracy = float(net.evaluate(ds.x_val, ds.y_val, verbose=0)[1])
        train_seconds = time.time() - t0

        spec = get_spec(cfg.model)
        card = ModelCard(name=cfg.model, task=spec.task, params=count_params(net), macs=count_macs(net),
                         input_shape=(None,) + ds.input_shape, dataset=ds.name, normalization=ds.normalization,
                         labels=ds.class_names, knobs=_jsonable(cfg.knobs), metrics={"val_accuracy": val_accuracy})
        model_path = trial_dir / "model.keras"
        with atomic_path(model_path) as tmp:
            net.save(str(tmp))
        write_text(ModelCard.path_for(model_path), card.model_dump_json(indent=2))

        art = export(net, to="tflite", precision=self.config.precision, data=ds, out=trial_dir, name="model",
                     card=card, seed=self.config.seed)
        with self.gate.exclusive():
            runner, lat = bench_runner(lambda: load_runner(art.path, "litert", 1), self.config.bench_runs,
                                       self.config.bench_warmup, x=ds.x_val[:1])
        del runner
        arena, arena_source = self._arena(art.path)
        reasons = self.budgets.violations(lat.p50, art.bytes, arena)
        record = {
            "id": trial_id, "model": cfg.model, "knobs": _jsonable(cfg.knobs), "resolution": cfg.resolution,
            "optimizer": cfg.optimizer, "learning_rate": cfg.learning_rate, "schedule": cfg.schedule,
            "batch_size": cfg.batch_size, "val_accuracy": val_accuracy, "latency_ms": lat.p50,
            "latency_p90_ms": lat.p90, "bytes": art.bytes, "arena_bytes": arena, "arena_source": arena_source,
            "feasible": not reasons, "infeasible_because": reasons, "params": card.params, "macs": card.macs,
            "epochs_run": len(hist.history.get("loss", [])), "train_seconds": round(train_seconds, 1),
            "seconds": round(time.time() - t0, 1), "precision": self.config.precision,
            "tflite": Path(art.path).name, "keras": model_path.name, "worker": os.environ.get("KERASTUNER_TUNER_ID"),
        }
        write_json(trial_dir / "edgekit.json", record)
        self.log(f"trial {trial_id}: {cfg.model} {_jsonable(cfg.knobs)} res {cfg.resolution} {cfg.optimizer} "
                 f"-> val_accuracy {val_accuracy:.4f}, {lat.p50:.3f} ms, {art.bytes / 1024:.1f} KB, "
                 f"arena {'?' if arena is None else f'{arena / 1024:.1f} KB'}"
                 + ("" if not reasons else f" [infeasible: {'; '.join(reasons)}]") + f" ({record['seconds']:.0f}s)")
        return {"score": val_accuracy if not reasons else val_accuracy - 1.0, "val_accuracy": val_accuracy,
                "latency_ms": float(lat.p50), "bytes": float(art.bytes),
                "arena_bytes": float(arena) if arena is not None else -1.0, "feasible": 0.0 if reasons else 1.0}

    def _arena(self, tflite_path) -> tuple[int | None, str]:
        if not self.config.measure_arena:
            return _estimate_arena(tflite_path), "estimate (lower bound: largest op's input+output activations)"
        try:
            from edgekit.runtime.tflm import measure_arena

            return measure_arena(tflite_path), "tflm"
        except Exception as e:  # noqa: BLE001 - TFLM is optional here; fall back to a labelled estimate
            est = _estimate_arena(tflite_path)
            return est, f"estimate (lower bound: largest op's input+output activations; TFLM: {str(e)[:120]})"


def _estimate_arena(tflite_path) -> int | None:
    """A lower bound of the tensor arena: the largest input+output activation bytes of one op
    (activations are the model inputs and every op's outputs; weights are not in the arena)."""
    try:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(tflite_path))
        tensors = {t["index"]: t for t in it.get_tensor_details()}
        ops = it._get_ops_details()
        activations = {int(d["index"]) for d in it.get_input_details()}
        activations |= {int(i) for op in ops for i in op["outputs"]}

        def size(i):
            t = tensors.get(int(i))
            if t is None or int(i) not in activations:
                return 0
            return int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize

        best = max((sum(size(i) for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0) for op in ops), default=0)
        return best or None
    except Exception:  # noqa: BLE001
        return None


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def load_tune_dataset(model: str, data, resolution: int | None, seed: int, cache: dict | None = None):
    """The dataset at a trial's resolution; image data are flattened for feature models (MLPs)."""
    from edgekit.data import Dataset, load_dataset
    from edgekit.models import get_spec

    spec = get_spec(model)
    key = (str(data), resolution, spec.input_kind)
    if cache is not None and key in cache:
        return cache[key]
    if isinstance(data, Dataset):
        ds = data
    elif spec.input_kind == "image":
        side = resolution or spec.small_input_shape[0]
        ds = load_dataset(data, input_shape=(side, side, spec.small_input_shape[-1]), seed=seed)
    else:
        ds = load_dataset(data, seed=seed)
    if spec.input_kind == "features" and ds.x_train.ndim > 2:
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
        ds = Dataset(ds.name, flat(ds.x_train), ds.y_train, flat(ds.x_val), ds.y_val, flat(ds.x_test), ds.y_test,
                     ds.normalization, ds.class_names, ds.task)
    if cache is not None:
        cache[key] = ds
    return ds


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
            (trial_dir / "error.txt").unlink(missing_ok=True)
            try:
                return self._work.run(trial.trial_id, dict(trial.hyperparameters.values), trial_dir)
            except Exception as e:
                # keras-tuner's gRPC messages drop a worker's error text: keep it beside the trial.
                from edgekit._io import write_text

                write_text(trial_dir / "error.txt", str(e) if isinstance(e, EdgekitError) else f"{type(e).__name__}: {e}")
                if isinstance(e, EdgekitError):  # a user-level problem with this point: no retry
                    raise kt.errors.FailedTrialError(str(e)) from e
                raise

        # The base Tuner saves/loads Keras checkpoints itself; run_trial already saved model.keras.
        def load_model(self, trial):
            from edgekit.models.load import load_model

            return load_model(Path(self.get_trial_dir(trial.trial_id)) / "model.keras").model

    _Edge.__name__ = _Edge.__qualname__ = "Edge" + base.__name__
    return _Edge


def _classes():
    import keras_tuner as kt

    return {"random": _tuner_mixin(kt.RandomSearch), "bayesian": _tuner_mixin(kt.BayesianOptimization),
            "hyperband": _tuner_mixin(kt.Hyperband)}


def __getattr__(name):  # EdgeRandomSearch & co. without importing keras_tuner at module import
    mapping = {"EdgeRandomSearch": "random", "EdgeBayesianOptimization": "bayesian", "EdgeHyperband": "hyperband"}
    if name in mapping:
        return _classes()[mapping[name]]
    raise AttributeError(name)


def make_tuner(model: str, data, out: str | Path, config: TuneConfig, budgets: Budgets, log=print):
    """The keras-tuner object for this search (directory ``<out>/search``, project ``tune``)."""
    import keras_tuner as kt

    from edgekit.tune.space import define_space

    hp = define_space(model, fixed=config.fixed)
    common = dict(work=_TrialWork(model, data, config, budgets, log), objective=kt.Objective("score", "max"),
                  hyperparameters=hp, tune_new_entries=False, seed=config.seed, directory=str(Path(out) / "search"),
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
    from edgekit.tune.space import _declared_names

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
    from edgekit.tune.report import collect_trials, write_outputs

    console = console or Console(stderr=True, soft_wrap=True)
    config = config or TuneConfig()
    budgets = budgets or Budgets()
    from edgekit.tune.space import define_space

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
        tuner = make_tuner(model, data, out, config, budgets, log=lambda s: console.print("  " + s, highlight=False))
        with _quiet_stdout():
            tuner.search(verbose=0)
        if role != "chief":
            trials = collect_trials(out / "search" / PROJECT)
            return TuneResult(out=out, trials=trials, pareto=[], best=None, bundle=None)
    elif config.workers == 1:
        tuner = make_tuner(model, data, out, config, budgets, log=lambda s: console.print("  " + s, highlight=False))
        try:
            with _quiet_stdout():
                tuner.search(verbose=0)
        except RuntimeError as e:  # keras-tuner: too many consecutive failed trials
            crash = str(e).splitlines()[0]
    else:
        if not isinstance(data, str):
            raise EdgekitError("--workers needs data given by name or path, not a Dataset object.")
        crash = run_distributed(out, console)
    seconds = time.time() - t0
    trials = collect_trials(out / "search" / PROJECT)
    return write_outputs(out, model, data, config, budgets, trials, seconds, console, crash=crash)


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
        return subprocess.Popen([sys.executable, "-m", "edgekit.tune._worker", str(out)], env=e, stdout=log,
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
    """Entry of a chief or worker process (``python -m edgekit.tune._worker OUT``)."""
    out = Path(out)
    run = json.loads((out / "run.json").read_text())
    config = TuneConfig(**run["config"])
    budgets = Budgets(**run["budgets"])
    tuner = make_tuner(run["model"], run["data"], out, config, budgets, log=lambda s: print(s, flush=True))
    tuner.search(verbose=0)

