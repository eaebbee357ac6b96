"""One trial: train, export, time and measure (the work every tuner class delegates to), and
the measure gate that keeps several workers' timings apart (see :mod:`edgekit.tuning.tuner`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from edgekit._io import write_json
from edgekit.errors import EdgekitError, first_line
from edgekit.tuning.config import TFLM_MEASURED, Budgets, TuneConfig

GATE_PATH = Path(tempfile.gettempdir()) / "edgekit-tune-measure.lock"


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
        return load_tune_dataset(name, self.data, resolution, self.config.seed, self._datasets,
                                 scaling=self.config.input_scaling())

    def run(self, trial_id: str, values: dict, trial_dir: Path) -> dict:
        from edgekit._tf import keras
        from edgekit.artifact import ModelCard
        from edgekit.benchmarking.harness import bench_runner
        from edgekit.convert import export
        from edgekit.models import count_macs, count_params, create_model, get_spec
        from edgekit.models.save import save_model
        from edgekit.runtime.base import load_runner
        from edgekit.training.loop import fit
        from edgekit.tuning.space import trial_config

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
        # The oracle ranks validation accuracy: the trial keeps its best epoch by that figure.
        stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=self.config.patience,
                                                restore_best_weights=True)
        hist = fit(net, ds, train_config(cfg, self.config, epochs, initial_epoch), stopper=stopper,
                   callbacks=[_gate_callback(self.gate)], initial_epoch=initial_epoch)
        val_accuracy = float(net.evaluate(ds.x_val, ds.y_val, verbose=0)[1])
        train_seconds = time.time() - t0

        spec = get_spec(cfg.model)
        card = ModelCard(name=cfg.model, task=spec.task, params=count_params(net), macs=count_macs(net),
                         input_shape=(None,) + ds.input_shape, dataset=ds.name, normalization=ds.normalization,
                         labels=ds.class_names, knobs=_tuples_as_lists(cfg.knobs),
                         metrics={"val_accuracy": val_accuracy})
        model_path = save_model(net, card, trial_dir / "model.keras")

        art = export(net, to="tflite", precision=self.config.precision, data=ds, out=trial_dir, name="model",
                     card=card, seed=self.config.seed)
        with self.gate.exclusive():
            bench = self.config.bench
            runner, lat = bench_runner(lambda: load_runner(art.path, "litert", bench.threads), bench.runs,
                                       bench.warmup, x=ds.x_val[:1])
        del runner
        arena, arena_source = self._arena(art.path)
        reasons = self.budgets.violations(lat.p50, art.bytes, arena, arena_source)
        mcu = _mcu_estimate(art.path, self.budgets.target, arena if arena_source == TFLM_MEASURED else None)
        reasons += self.budgets.mcu_violations(mcu.get("latency_ms"))
        record = {
            "id": trial_id, "model": cfg.model, "knobs": _tuples_as_lists(cfg.knobs), "resolution": cfg.resolution,
            "optimizer": cfg.optimizer, "learning_rate": cfg.learning_rate, "schedule": cfg.schedule,
            "batch_size": cfg.batch_size, "val_accuracy": val_accuracy, "latency_ms": lat.p50,
            "latency_p90_ms": lat.p90, "bytes": art.bytes, "arena_bytes": arena, "arena_source": arena_source,
            "feasible": not reasons, "infeasible_because": reasons, "params": card.params, "macs": card.macs,
            "epochs_run": len(hist.history.get("loss", [])), "train_seconds": round(train_seconds, 1),
            "seconds": round(time.time() - t0, 1), "precision": self.config.precision,
            "tflite": Path(art.path).name, "keras": model_path.name, "worker": os.environ.get("KERASTUNER_TUNER_ID"),
        }
        if self.budgets.target:
            record["mcu_latency_ms"], record["mcu_estimate"] = mcu.get("latency_ms"), mcu
        write_json(trial_dir / "edgekit.json", record)
        self.log(f"trial {trial_id}: {cfg.model} {_tuples_as_lists(cfg.knobs)} res {cfg.resolution} {cfg.optimizer} "
                 f"-> val_accuracy {val_accuracy:.4f}, {lat.p50:.3f} ms, {art.bytes / 1024:.1f} KB, "
                 f"arena {'?' if arena is None else f'{arena / 1024:.1f} KB'}"
                 + (f", {self.budgets.target} est. {mcu['latency_ms']:.1f} ms" if mcu.get("latency_ms") else "")
                 + ("" if not reasons else f" [infeasible: {'; '.join(reasons)}]") + f" ({record['seconds']:.0f}s)")
        return {"score": val_accuracy if not reasons else val_accuracy - 1.0, "val_accuracy": val_accuracy,
                "latency_ms": float(lat.p50), "bytes": float(art.bytes),
                "arena_bytes": float(arena) if arena is not None else -1.0, "feasible": 0.0 if reasons else 1.0,
                "mcu_latency_ms": float(mcu.get("latency_ms") or -1.0)}

    def _arena(self, tflite_path) -> tuple[int | None, str]:
        if not self.config.measure_arena:
            return (_estimate_arena(tflite_path),
                    "estimate (lower bound: largest op's input+output activations); measure_arena is off")
        try:
            from edgekit.runtime.tflm import measure_arena

            return measure_arena(tflite_path), TFLM_MEASURED
        except Exception as e:  # noqa: BLE001 - recorded; under --max-ram-kb the trial is then infeasible
            est = _estimate_arena(tflite_path)
            why = first_line(e)
            return est, f"estimate (lower bound: largest op's input+output activations); TFLM could not run it: {why}"


def train_config(cfg, config: TuneConfig, epochs: int, initial_epoch: int = 0):
    """The :class:`~edgekit.training.TrainConfig` that trains a trial: its point in the space
    (``cfg``, a :class:`~edgekit.tuning.space.TrialConfig`) and the search's settings. ``edgekit train``
    with these settings trains the same way.

    The space's exponential schedule decays to a tenth over the epochs the trial runs; TrainConfig
    spells a decay per epoch, so that is ``0.1 ** (1 / epochs run)``."""
    from edgekit.training.config import TrainConfig

    runs = max(1, epochs - initial_epoch)
    o = cfg.optimizer_options
    return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                       patience=config.patience, seed=config.seed, augment=config.augment, tensorboard=False,
                       optimizer=cfg.optimizer, schedule=cfg.schedule, decay_rate=0.1 ** (1 / runs),
                       **{k: o[k] for k in ("momentum", "nesterov", "weight_decay") if k in o})


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


def _mcu_estimate(tflite_path, target: str | None, arena: int | None) -> dict:
    """The trial's Cortex-M estimate on ``target`` ({} without a target; {"error"} when it cannot run)."""
    if not target:
        return {}
    from edgekit.benchmarking.mcu_estimate import estimate_mcu

    try:
        e = estimate_mcu(tflite_path, target, arena_bytes=arena, measure_arena=False)
    except EdgekitError as err:  # e.g. an fp32 trial: the estimate is for full-int8 models
        return {"target": target, "error": str(err)}
    return {"target": e.target, "core": e.core, "mhz": e.mhz, "kernels": e.kernels, "latency_ms": e.latency_ms,
            "cycles": e.cycles, "fits": e.fits.model_dump(), "basis": e.basis, "expected_error": e.expected_error,
            "summary": e.summary}


def _tuples_as_lists(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def load_tune_dataset(model: str, data, resolution: int | None, seed: int, cache: dict | None = None, scaling=None):
    """The dataset at a trial's resolution (scaled by ``scaling`` when given); image data are flattened
    for feature models (MLPs)."""
    from edgekit.data import Dataset, load_dataset
    from edgekit.models import get_spec

    spec = get_spec(model)
    key = (str(data), resolution, spec.input_kind)
    if cache is not None and key in cache:
        return cache[key]
    if isinstance(data, Dataset):
        ds = data.renormalized(scaling.normalization_for(data.normalization.raw_range)) if scaling else data
    elif spec.input_kind == "image":
        side = resolution or spec.small_input_shape[0]
        ds = load_dataset(data, input_shape=(side, side, spec.small_input_shape[-1]), seed=seed, scaling=scaling)
    else:
        ds = load_dataset(data, seed=seed, scaling=scaling)
    if spec.input_kind == "features" and ds.x_train.ndim > 2:
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
        ds = Dataset(ds.name, flat(ds.x_train), ds.y_train, flat(ds.x_val), ds.y_val, flat(ds.x_test), ds.y_test,
                     ds.normalization, ds.class_names, ds.task)
    if cache is not None:
        cache[key] = ds
    return ds
