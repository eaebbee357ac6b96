"""The Python verbs: one function per ``edgekit`` command, with the command's name and options.

Each verb checks its arguments before any slow work, raises :class:`~edgekit.errors.EdgekitError`
with the same one-line message the command prints, writes the same files, and returns the typed
record the command prints. The CLI (``edgekit/cli/``) parses flags, calls these and prints; nothing
else. Options named after a flag take the flag's name in snake case (``--batch-size`` is
``batch_size``); ``--param key=value`` is ``params={"key": value}``; ``--lr`` is ``learning_rate``;
``--out`` is ``out``; ``--json`` is ``json``. An option left at ``None`` means "not given": the
settings file (``config``) or the documented default applies, as when the flag is left out.

    >>> import edgekit
    >>> result = edgekit.train("cnn", "digits", out="runs/cnn", epochs=2)
    >>> art = edgekit.export(result.model_path, to="tflite", precision="int8", data="digits", out="export/cnn")
    >>> edgekit.verify(art.path, reference=result.model_path, data="digits").parity.cosine

Progress goes to ``console`` (a :class:`rich.console.Console`; default: stderr), which renders in
Jupyter; TensorFlow's log lines are silenced by :mod:`edgekit._tf` before TensorFlow is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # the return types, without importing TensorFlow to read this module
    from edgekit.artifact import Artifact
    from edgekit.benchmarking.compare import CompareResult
    from edgekit.benchmarking.mcu_estimate import McuEstimate
    from edgekit.benchmarking.mcu_targets import Target
    from edgekit.compression.records import CompressionReport
    from edgekit.data.datasets import Dataset
    from edgekit.records import BenchFile, BundleCheck, RunReport
    from edgekit.training.fit import TrainResult
    from edgekit.tuning.config import TuneResult
    from edgekit.verification import VerifyResult

PathLike = str | Path

__all__ = ["create_model", "list_models", "load_dataset", "train", "export", "verify", "bench", "compare",
           "compress", "tune", "estimate", "targets", "demo", "check", "run"]


def _console(console):
    """The caller's console, or a stderr one (Rich renders it as HTML in Jupyter)."""
    if console is not None:
        return console
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _given(**values) -> dict:
    """The options the caller set (``None`` means "not given")."""
    return {k: v for k, v in values.items() if v is not None}


def _paths(files) -> list[Path]:
    """One path or several, as a list (``bench("m.tflite")`` and ``bench(["a", "b"])`` both work)."""
    return [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]


# ----------------------------------------------------------------------------- the model zoo

def create_model(name: str, input_shape=None, num_classes: int | None = None, weights: PathLike | None = None,
                 **knobs):
    """Build a registered model (a ``tf_keras`` model); ``None`` values keep the model's defaults.

    ``weights``: ``"imagenet"`` (keras.applications' file, looked up in ``~/.keras/models``; nothing is
    downloaded) or the path of a Keras ``.h5`` weight file. ``knobs`` are the builder's arguments
    (``alpha``, ``filters``, ...; see ``edgekit models``).

    Example:
        >>> model = edgekit.create_model("cnn", input_shape=(16, 16, 1), num_classes=10, filters=(8, 16))
        >>> model.count_params()
    """
    from edgekit.models.registry import create_model as _create

    return _create(name, input_shape=input_shape, num_classes=num_classes, weights=weights, **knobs)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``edgekit models PATTERN``), naturally sorted.

    Example:
        >>> edgekit.list_models("resnet*")
        ['resnet8', 'resnet18', ...]
    """
    from edgekit.models.registry import list_models as _list

    return _list(pattern)


def load_dataset(source: PathLike, input_shape=None, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, scaling=None, **options) -> "Dataset":
    """Load a dataset (``"digits"``, an image folder, an archive, an .npz, a CSV, audio or text folders)
    and split it into training, validation and test sets with ``seed``.

    Example:
        >>> ds = edgekit.load_dataset("digits", input_shape=(16, 16, 1))
        >>> ds.x_train.shape, ds.num_classes
    """
    from edgekit.data.datasets import load_dataset as _load

    return _load(source, input_shape=input_shape, seed=seed, val_fraction=val_fraction,
                 test_fraction=test_fraction, scaling=scaling, **options)


# ----------------------------------------------------------------------------- train

def train(name: str, data: Any, *, out: PathLike, params: dict | None = None, epochs: int | None = None,
          batch_size: int | None = None, learning_rate: float | None = None, seed: int | None = None,
          config: PathLike | None = None, target: str | None = None, task: str | None = None,
          frontend: dict | None = None, audio_augment: dict | None = None, input_shape=None,
          resolution: int | None = None, weights: PathLike | None = None, freeze_backbone: bool | None = None,
          unfreeze: int | None = None, optimizer: str | None = None, momentum: float | None = None,
          nesterov: bool | None = None, weight_decay: float | None = None, schedule: str | None = None,
          label_smoothing: float | None = None, loss: str | None = None, huber_delta: float | None = None,
          console=None) -> "TrainResult":
    """Train a registered model on ``data`` and save ``model.keras`` (with its normalization and
    labels in ``model.json``) and ``metrics.json`` in ``out`` (``edgekit train``).

    ``data``: a source (``"digits"``, a folder, an archive, .npz, .csv, ...) or a loaded Dataset.
    ``params``: the model's knobs (``{"alpha": 0.35}``). ``config``: a TOML/JSON file of
    :class:`~edgekit.training.TrainConfig` keys; options given here override it. ``target``/``task``:
    CSV tables; ``frontend``/``audio_augment``: audio folders (dicts of their knobs).
    ``input_shape`` (``(96, 96, 3)`` or ``"96x96x3"``) or ``resolution`` (square side) size the input;
    ``weights``: ``"imagenet"`` or a Keras .h5 file to start from. Returns the
    :class:`~edgekit.training.fit.TrainResult` (``model_path``, ``metrics``, ``history``, ``headline``).

    Example:
        >>> result = edgekit.train("cnn", "digits", out="runs/cnn", epochs=2, params={"filters": (8, 16)})
        >>> result.metrics["accuracy"], result.model_path
    """
    from edgekit.config import load_config
    from edgekit.shapes import params_with_input_shape
    from edgekit.training.config import TrainConfig

    overrides = _given(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                       freeze_backbone=freeze_backbone, unfreeze=unfreeze, optimizer=optimizer, momentum=momentum,
                       nesterov=nesterov, weight_decay=weight_decay, schedule=schedule,
                       label_smoothing=label_smoothing, loss=loss, huber_delta=huber_delta)
    cfg = load_config(config, TrainConfig, overrides=overrides, flags={"learning_rate": "--lr"})
    shape = None if input_shape is None or isinstance(input_shape, str) else "x".join(map(str, input_shape))
    params = params_with_input_shape(dict(params or {}), input_shape if shape is None else shape, resolution)
    options = _given(target=target, task=task, frontend=dict(frontend) if frontend else None,
                     augmentation=dict(audio_augment) if audio_augment else None)
    from edgekit.training.fit import train as _train  # TensorFlow starts here, after the settings are checked

    return _train(name, data, params=params, config=cfg, out=out, console=_console(console), weights=weights,
                  data_options=options)


# ----------------------------------------------------------------------------- export and verify

def export(model: PathLike, to: str = "tflite", precision: str = "fp32", data: Any = None, out: PathLike = "export",
           opset: int | None = None, unsafe: bool = False, input_range=None, mean: float | None = None,
           std: float | None = None, target: str = "nucleo-l4r5zi", array_name: str = "g_model",
           label_file: PathLike | None = None, name: str | None = None, description: str | None = None,
           author: str | None = None, license: str | None = None, batch1: bool = False, warn=None) -> "Artifact":
    """Convert a Keras model (.keras, .h5 or a SavedModel folder) to ``to`` at ``precision`` in
    ``out`` and return its :class:`~edgekit.artifact.Artifact` record (``edgekit export``).

    ``data`` calibrates int8 (its training split). ``input_range`` (``(0, 1)`` or ``"0,1"``) or
    ``mean``/``std``: the model's input scaling when it declares none. ``to="mcu"`` writes the
    microcontroller bundle (int8 .tflite, C array, op resolver, mcu.json) for board ``target``; its
    figures are in ``artifact.extra["mcu"]``. ``name``/``description``/``author``/``license`` go into
    the TFLite metadata; ``label_file`` packs class names; ``batch1`` fixes the batch at 1.

    Example:
        >>> art = edgekit.export("runs/cnn/model.keras", to="tflite", precision="int8", data="digits", out="export/cnn")
        >>> art.bytes, art.sha256, art.input.scale, art.normalization
    """
    from edgekit.formats import check_format

    say = warn or _stderr_warning
    scaling = dict(input_range=input_range, mean=mean, std=std, labels=label_file, warn=say)
    if to == "mcu":
        check_format(to, "int8" if precision == "fp32" else precision)  # the bundle is int8; fp32 is the default
        from edgekit.convert import export_mcu

        art, mcu = export_mcu(model, data, out=out, unsafe=unsafe, target=target, array_name=array_name, **scaling)
        art.extra["mcu"] = mcu.model_dump()
        return art
    check_format(to, precision)
    from edgekit.convert import export as _export
    from edgekit.convert.tflite_metadata import ModelInfo

    info = ModelInfo(name=name, description=description, author=author, license=license)
    return _export(model, to=to, precision=precision, data=data, out=out, opset=opset, unsafe=unsafe, info=info,
                   fixed_batch=batch1, **scaling)


def _stderr_warning(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {msg}", highlight=False)


def verify(artifact: PathLike, reference: PathLike, data: Any = None, seed: int = 0, json: PathLike | None = None,
           min_cosine: float | None = None, min_top1_agreement: float | None = None,
           max_accuracy_drop: float | None = None, input_range=None, mean: float | None = None,
           std: float | None = None, warn=None) -> "VerifyResult":
    """Run ``artifact`` (.tflite/.onnx path or Artifact) in its runtime and compare its outputs with the
    Keras ``reference`` on ``data``'s test split (random inputs without ``data``) (``edgekit verify``).

    The gates (``min_cosine``, ``min_top1_agreement``, ``max_accuracy_drop``) are evaluated into the
    ``json`` file and :meth:`~edgekit.verification.VerifyResult.gates`; a failed gate is a result,
    not an exception (the command exits 3). Returns the :class:`~edgekit.verification.VerifyResult`.

    Example:
        >>> check = edgekit.verify("export/cnn/model_int8.tflite", reference="runs/cnn/model.keras", data="digits")
        >>> check.parity.cosine, check.accuracy, check.gates(min_cosine=0.99)
    """
    if max_accuracy_drop is not None and data is None:
        raise EdgekitError("--max-accuracy-drop needs labelled data: pass --data (random inputs have no accuracy).")
    from edgekit.verification import verify as _verify

    path = getattr(artifact, "path", artifact)
    r = _verify(path, reference, data=data, seed=seed, input_range=input_range, mean=mean, std=std,
                warn=warn or _stderr_warning)
    if json is not None:
        from edgekit._io import write_json

        doc = r.as_dict(min_cosine=min_cosine, min_top1_agreement=min_top1_agreement,
                        max_accuracy_drop=max_accuracy_drop)
        write_json(json, dict(doc, reference=str(reference)))
    return r


# ----------------------------------------------------------------------------- bench and compare

def bench(files: PathLike | Sequence[PathLike], runtime: str | None = None, threads: str | int | Sequence[int] = "1",
          runs: int = 100, warmup: int = 10, xnnpack: bool = True, profile: bool = False, roofline: bool = True,
          macs: int | None = None, json: PathLike | None = None, interleave: bool = False, rounds: int = 10,
          threshold: float = 0.10, progress=None) -> "BenchFile":
    """Time single-sample inference of each file at each thread count (``edgekit bench``): init, first
    run, mean, p50, p90, p99, std (ms), peak memory, roofline, and a per-op ``profile``.

    ``threads``: ``"1"``, ``"1,2"``, ``"1-4"``, an int or a list. ``interleave``: time the files in
    ``rounds`` alternating rounds of one run (compare them with :func:`compare_bench`). ``json``: write
    the :class:`~edgekit.records.BenchFile` (the return value) there. ``progress``: a Rich Progress to
    draw on (default: a transient bar on stderr; it renders in Jupyter too).

    Example:
        >>> doc = edgekit.bench("export/cnn/model_int8.tflite", threads="1,2", runs=50)
        >>> [(r.threads, r.latency_ms.p50) for r in doc.results]
    """
    from edgekit.benchmarking.harness import bench as _bench
    from edgekit.benchmarking.harness import machine_info, parse_threads
    from edgekit.records import BenchFile

    paths = _paths(files)
    if not paths:
        raise EdgekitError("bench needs at least one model file.")
    counts = [int(threads)] if isinstance(threads, int) else (
        parse_threads(threads) if isinstance(threads, str) else [int(t) for t in threads])
    if interleave and threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    results = []
    with _progress_bar(progress) as prog:
        if interleave:
            from edgekit.benchmarking.interleave import bench_interleaved

            opts = {} if xnnpack else {"xnnpack": False}
            for t in counts:
                task = prog.add_task(f"{len(paths)} files interleaved ({t} thread{'s' if t > 1 else ''})", total=runs)
                results += bench_interleaved(paths, runtime, t, runs, warmup, rounds,
                                             progress=lambda i, n, k=task: prog.update(k, completed=i), **opts)
        else:
            for f in paths:
                opts = {"xnnpack": False} if (not xnnpack and (runtime or "litert") == "litert"
                                              and f.suffix == ".tflite") else {}
                for t in counts:
                    task = prog.add_task(f"{f.name} ({t} thread{'s' if t > 1 else ''})", total=runs)
                    results.append(_bench(f, runtime, t, runs, warmup,
                                          progress=lambda i, n, k=task: prog.update(k, completed=i),
                                          roofline=roofline, macs=macs, profile=profile, **opts))
    if not interleave:
        _add_gpu(paths, results)
    doc = BenchFile(machine=machine_info(), run=_run_stamp(**({"interleaved": True} if interleave else {})),
                    results=results)
    if roofline and not interleave:
        from edgekit.benchmarking.ceiling import int8_matmul_ceiling, matmul_ceiling

        doc.set(ceiling=matmul_ceiling().model_dump(), ceiling_int8=int8_matmul_ceiling().model_dump())
    if json is not None:
        from edgekit._io import write_json

        write_json(json, doc.model_dump())
    return doc


def _progress_bar(progress):
    """The caller's Rich Progress, or a transient one on stderr."""
    import contextlib

    if progress is not None:
        return contextlib.nullcontext(progress)
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True)


def _add_gpu(paths: list[Path], results: list) -> None:
    """Each .tflite row gets its GPU-delegate check (the ``gpu`` key of bench's JSON)."""
    from edgekit.runtime.gpu import gpu_compatibility

    for f in dict.fromkeys(p for p in paths if p.suffix.lower() == ".tflite"):
        g = gpu_compatibility(f).model_dump()
        for r in results:
            if Path(r.artifact) == f:
                r.gpu = g


def _run_stamp(**extra) -> dict:
    """One id per bench run: ``compare`` says when two files come from different runs."""
    import datetime
    import uuid

    return {"id": uuid.uuid4().hex, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **extra}


def compare_bench(doc: "BenchFile", files: Sequence[PathLike], threshold: float = 0.10) -> "CompareResult":
    """The comparison of an interleaved :func:`bench` (``bench(..., interleave=True)``): every file
    against the first, rows paired by thread count. Raises when nothing could be compared.

    Example:
        >>> doc = edgekit.bench(["a.tflite", "b.tflite"], interleave=True, runs=200)
        >>> edgekit.api.compare_bench(doc, ["a.tflite", "b.tflite"]).rows[0].ratio
    """
    from edgekit.benchmarking.compare import compare_docs, gate_problems
    from edgekit.records import BenchFile

    paths = _paths(files)
    docs = [(p, BenchFile(machine=doc.machine, run=doc.run,
                          results=[r for r in doc.results if r.artifact == str(p)]).model_dump()) for p in paths]
    result = compare_docs(docs, threshold, match="threads")
    problems = gate_problems(result)
    if problems:
        raise NothingCompared(problems[0], result)
    return result


class NothingCompared(EdgekitError):
    """:func:`compare` found nothing to compare (no row paired, or no raw timings); ``result`` holds
    the rows that did not pair and the notes that say why."""

    def __init__(self, message: str, result: "CompareResult"):
        super().__init__(message)
        self.result = result


def compare(files: Sequence[PathLike], threshold: float = 0.10, markdown: PathLike | None = None,
            match: str = "name+format+precision+runtime+threads") -> "CompareResult":
    """Side-by-side latency of two or more ``bench(..., json=...)`` files (the first is the baseline),
    with bootstrap confidence intervals (``edgekit compare``). Raises :class:`NothingCompared` when
    nothing could be compared (no row paired, or a paired row without raw timings); a regression is a result:
    ``edgekit.benchmarking.compare.has_regression(result)``. ``markdown``: also write the table there.

    Example:
        >>> result = edgekit.compare(["before.json", "after.json"], threshold=0.10)
        >>> [(r.model, r.ratio, r.status) for r in result.rows]
    """
    from edgekit.benchmarking.compare import compare as _compare
    from edgekit.benchmarking.compare import gate_problems, to_markdown

    paths = _paths(files)
    if len(paths) < 2:
        raise EdgekitError("compare needs at least two bench JSON files (baseline first).")
    if threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    result = _compare(paths, threshold=threshold, match=match)
    if markdown is not None:
        from edgekit._io import write_text

        write_text(markdown, to_markdown(result))
    problems = gate_problems(result)
    if problems:
        raise NothingCompared(problems[0] if len(problems) == 1 else " ".join(problems), result)
    return result


# ----------------------------------------------------------------------------- compress and tune

def compress(model: PathLike, data: Any, *, out: PathLike, only: Iterable[str] | None = None,
             skip: Iterable[str] | None = None, max_drop: float | None = None, sparsity: float | None = None,
             channel_ratio: float | None = None, epochs: int | None = None, seed: int | None = None,
             config: PathLike | None = None, input_range=None, mean: float | None = None, std: float | None = None,
             input_shape=None, resolution: int | None = None, console=None) -> "CompressionReport":
    """Compress a tf_keras model every standard way and measure each variant (``edgekit compress``):
    PTQ, QAT, pruning, clustering, channel pruning, mixed precision. Writes every variant's file,
    ``compression.json`` and ``compression.md`` to ``out``.

    ``only``/``skip``: variant names (a list, or comma-separated). ``epochs`` sets the fine-tuning
    epochs of pruning, clustering, channel pruning and QAT. ``config``: a TOML/JSON file of
    :class:`~edgekit.compression.CompressConfig` keys; options given here override it. A variant that
    fails is recorded with its ``status``, not raised (``report.exit_code`` is the command's exit code).

    Example:
        >>> rep = edgekit.compress("runs/cnn/model.keras", "digits", out="compressed", only=["ptq_int8"])
        >>> rep.variant("ptq_int8").bytes, rep.to_dataframe()
    """
    from edgekit.compression.records import CompressConfig
    from edgekit.config import load_config
    from edgekit.shapes import params_with_input_shape

    epoch_keys = ("prune_epochs", "qat_epochs", "channel_epochs", "cluster_epochs")
    overrides = _given(max_drop=max_drop, sparsity=sparsity, channel_ratio=channel_ratio, seed=seed)
    if epochs is not None:
        overrides.update(dict.fromkeys(epoch_keys, epochs))
    cfg = load_config(config, CompressConfig, overrides=overrides, flags=dict.fromkeys(epoch_keys, "--epochs"))
    text = None if input_shape is None or isinstance(input_shape, str) else "x".join(map(str, input_shape))
    shape = params_with_input_shape({}, input_shape if text is None else text, resolution).get("input_shape")
    from edgekit.compression.api import compress as _compress

    return _compress(str(model), data, out=out, only=_names(only), skip=_names(skip), max_drop=cfg.max_drop,
                     config=cfg, console=_console(console), input_range=input_range, mean=mean, std=std,
                     input_shape=shape)


def _names(items) -> list[str] | None:
    """``["a,b", "c"]`` or ``"a,b"`` to ``["a", "b", "c"]``; None when empty."""
    if items is None:
        return None
    items = [items] if isinstance(items, str) else list(items)
    return [n.strip() for x in items for n in str(x).split(",") if n.strip()] or None


def tune(name: str, data: Any = "digits", *, out: PathLike, trials: int | None = None,
         max_latency_ms: float | None = None, max_flash_kb: float | None = None, max_ram_kb: float | None = None,
         target: str | None = None, max_mcu_latency_ms: float | None = None, oracle: str | None = None,
         workers: int | None = None, precision: str | None = None, epochs: int | None = None,
         params: dict | None = None, seed: int | None = None, config: PathLike | None = None, input_range=None,
         mean: float | None = None, std: float | None = None, input_shape=None, resolution: int | None = None,
         console=None) -> "TuneResult":
    """Hardware-aware search (``edgekit tune``): train, export and measure every trial, keep the best
    model within the budgets, write ``trials.json``, ``pareto.json``, a report and the ``best/`` bundle.

    Defaults (as the command's): ``trials=10``, ``oracle="random"``, ``workers=1``,
    ``precision="int8"``, ``epochs=20`` per trial, ``seed=0``. ``params`` pins hyperparameters.
    ``config``: a TOML/JSON file of :class:`~edgekit.tuning.TuneConfig` and
    :class:`~edgekit.tuning.Budgets` keys; options given here override it. Calling it again with the same
    arguments resumes the search up to ``trials``.

    Example:
        >>> res = edgekit.tune("cnn", "digits", out="runs/search", trials=4, epochs=3, max_latency_ms=1.0)
        >>> res.best.val_accuracy, res.bundle, res.to_dataframe()
    """
    from edgekit.config import load_config
    from edgekit.shapes import square_side
    from edgekit.tuning.config import Budgets, TuneConfig

    fixed = dict(params or {})
    text = None if input_shape is None or isinstance(input_shape, str) else "x".join(map(str, input_shape))
    side = square_side(input_shape if text is None else text, resolution)
    if side is not None:
        fixed["resolution"] = side
    if isinstance(input_range, str):
        from edgekit.data.scaling import user_scaling

        input_range = user_scaling(input_range).input_range
    overrides = _given(trials=trials, oracle=oracle, workers=workers, precision=precision, epochs=epochs, seed=seed,
                       fixed=fixed or None, max_latency_ms=max_latency_ms, max_flash_kb=max_flash_kb,
                       max_ram_kb=max_ram_kb, mean=mean, std=std, input_range=input_range, target=target,
                       max_mcu_latency_ms=max_mcu_latency_ms)
    cfg, budgets = load_config(config, (TuneConfig, Budgets), overrides=overrides, flags={"fixed": "--param"},
                               merge=("fixed",))
    if budgets.max_mcu_latency_ms is not None and not budgets.target:
        raise EdgekitError("--max-mcu-latency-ms needs --target (a board from `edgekit targets`).")
    if budgets.target:
        from edgekit.benchmarking.mcu_targets import get_target

        get_target(budgets.target)  # an unknown board fails before any training
    from edgekit.tuning.tuner import tune as _tune

    return _tune(name, data, out=out, config=cfg, budgets=budgets, console=_console(console))


# ----------------------------------------------------------------------------- microcontrollers

def estimate(model: PathLike, target: str = "nucleo-l4r5zi", kernels: str = "cmsis-nn", arena: int | None = None,
             json: PathLike | None = None) -> "McuEstimate":
    """Estimated milliseconds per inference of a full-int8 .tflite on a Cortex-M board running TFLM,
    per op, and whether it fits the board's RAM and flash (``edgekit estimate``).

    ``target``: a board from :func:`targets` or ``"cortex-m4@80"``; ``kernels``: ``"cmsis-nn"`` or
    ``"reference"``; ``arena``: TFLM's arena in bytes if known (measured otherwise); ``json``: write
    the :class:`~edgekit.benchmarking.mcu_estimate.McuEstimate` there.

    Example:
        >>> e = edgekit.estimate("export/cnn/model_int8.tflite", target="nucleo-l4r5zi")
        >>> e.latency_ms, e.fits.ram, e.fits.flash
    """
    from edgekit.benchmarking.mcu_estimate import estimate_mcu

    e = estimate_mcu(model, target, kernels=kernels, arena_bytes=arena)
    if json is not None:
        from edgekit._io import write_json

        write_json(json, e.model_dump())
    return e


def targets() -> list["Target"]:
    """The microcontroller boards known to :func:`estimate`, ``export(to="mcu")`` and ``tune(target=...)``
    (``edgekit targets``); a generic ``"<core>@<MHz>"`` target works too.

    Example:
        >>> [(t.name, t.core, t.mhz) for t in edgekit.targets()][:2]
    """
    from edgekit.benchmarking.mcu_targets import TARGETS

    return list(TARGETS.values())


# ----------------------------------------------------------------------------- the whole pipeline

def demo(out: PathLike | None = None, epochs: int = 60, target: str = "nucleo-l4r5zi", model: str = "mobilenet_v2",
         data: Any = "digits", params: dict | None = None, input_shape=None, resolution: int | None = None,
         console=None, **options) -> "RunReport":
    """Train, export (TFLite fp32/int8, ONNX), verify, benchmark and report one model (``edgekit demo``);
    default MobileNetV2 0.35 at 32x32 on the built-in digits. Writes the bundle (``report.json``,
    ``report.md``, ``report.html``, the models, ``mcu/``, ``manifest.json``) to ``out`` (default
    ``export/<model>-<time>``) and returns its :class:`~edgekit.records.RunReport`; a step that failed
    is listed in ``report.failures``, not raised. ``options`` go to :func:`edgekit.pipeline.run`
    (``npu=False``, ``mcu=False``, ``profile=False``, ``bench=BenchConfig(runs=20)``, ``patience=...``).

    Example:
        >>> report = edgekit.demo(model="cnn", epochs=2, out="export/demo", npu=False)
        >>> report.to_dataframe()          # one row per artifact; report shows as a table in Jupyter
    """
    from edgekit.benchmarking.mcu_targets import get_target
    from edgekit.shapes import params_with_input_shape

    get_target(target)  # an unknown board fails now, not after training
    default = {"alpha": 0.35} if model == "mobilenet_v2" else {}  # the default demo's width; others keep theirs
    text = None if input_shape is None or isinstance(input_shape, str) else "x".join(map(str, input_shape))
    params = params_with_input_shape(dict(params) if params else default, input_shape if text is None else text,
                                     resolution)
    from edgekit.pipeline import run as _run

    return _run(model, data, params=params, out=out, epochs=epochs, console=_console(console), mcu_target=target,
                **options)


run = demo  # the name the first Python API gave the demo


def check(run_dir: PathLike) -> "BundleCheck":
    """Check a run bundle against its manifest: every file present, same size and sha256 (``edgekit check``).
    Raises an :class:`~edgekit.errors.EdgekitError` naming the problems when the bundle does not match.

    Example:
        >>> edgekit.check("export/demo").files
        ['model.keras', 'model.json', 'model_fp32.tflite', ...]
    """
    import json as _json

    from edgekit.records import BundleCheck
    from edgekit.report.manifest import MANIFEST, check_bundle

    problems = check_bundle(run_dir)
    if problems:
        raise EdgekitError(f"{run_dir}: {len(problems)} problem(s); the bundle does not match its manifest: "
                           + "; ".join(problems))
    listed = _json.loads((Path(run_dir) / MANIFEST).read_text())["files"]
    return BundleCheck(run_dir=str(run_dir), files=[e["file"] for e in listed])
