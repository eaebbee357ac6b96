"""The Python verbs: one function per ``edgekit`` command, with the command's name and options.

Each verb checks its arguments before any slow work, raises `edgekit.EdgekitError`
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

Progress goes to ``console`` (a ``rich.console.Console``; default: stderr), which renders in
Jupyter; TensorFlow's log lines are silenced by ``edgekit._tf`` before TensorFlow is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from edgekit.catalog import check_model
from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # the return types, without importing TensorFlow to read this module
    import tf_keras
    from rich.console import Console
    from rich.progress import Progress

    from edgekit.data.scaling import Scaling
    from edgekit.artifact import Artifact
    from edgekit.benchmarking.compare import CompareResult
    from edgekit.benchmarking.mcu_estimate import McuEstimate
    from edgekit.benchmarking.mcu_targets import Target
    from edgekit.records import EmulationResult
    from edgekit.compression.result import CompressionResult
    from edgekit.data.datasets import Dataset
    from edgekit.records import BenchFile, BundleCheck, RunReport
    from edgekit.training.fit import TrainResult
    from edgekit.training.suggest import Suggestion
    from edgekit.tuning.config import TuneResult
    from edgekit.verification import VerifyResult

PathLike = str | Path
Shape = str | Sequence[int]  # (96, 96, 3) or "96x96x3"
Range = str | tuple[float, float]  # (0, 1) or "0,1"
Warn = Callable[[str], None]

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


def _shape_text(input_shape: Shape | None) -> str | None:
    """``(96, 96, 3)`` as the ``"96x96x3"`` that ``--input-shape`` takes (one parser checks both)."""
    if input_shape is None or isinstance(input_shape, str):
        return input_shape
    return "x".join(map(str, input_shape))


def _paths(files) -> list[Path]:
    """One path or several, as a list (``bench("m.tflite")`` and ``bench(["a", "b"])`` both work)."""
    return [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]


# ----------------------------------------------------------------------------- the model zoo

def create_model(name: str, input_shape: Shape | None = None, num_classes: int | None = None, weights: PathLike | None = None,
                 **knobs: Any) -> "tf_keras.Model":
    """Build a registered model (a `tf_keras` model); `None` values keep the model's own defaults.

    Args:
        name: a registered model (see `list_models()` or `edgekit models`).
        input_shape: `(height, width, channels)` for images, `(features,)` for vectors; default: the model's.
        num_classes: size of the classifier; default: the model's.
        weights: `"imagenet"` (keras.applications' file, looked up in `~/.keras/models`; nothing is
            downloaded) or the path of a Keras `.h5` weight file.
        **knobs: the builder's own arguments (`alpha`, `filters`, ...).

    Returns:
        The built, uncompiled `tf_keras` model.

    Raises:
        EdgekitError: an unknown name (with the closest ones), a bad knob, or a weight file that is missing.

    Examples:
        >>> model = edgekit.create_model("cnn", input_shape=(16, 16, 1), num_classes=10, filters=(8, 16))
        >>> model.count_params()
    """
    from edgekit.models.registry import create_model as _create

    return _create(name, input_shape=input_shape, num_classes=num_classes, weights=weights, **knobs)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, naturally sorted (`edgekit models PATTERN`).

    Args:
        pattern: e.g. `"mobilenet*"`; `"*"` lists every model.

    Returns:
        The matching names.

    Examples:
        >>> edgekit.list_models("resnet*")
        ['resnet8', 'resnet18', 'resnet20', ...]
    """
    from edgekit.models.registry import list_models as _list

    return _list(pattern)


def load_dataset(source: PathLike, input_shape: Shape | None = None, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, scaling: "Scaling | None" = None, **options: Any) -> "Dataset":
    """Load a dataset and split it into training, validation and test sets.

    Args:
        source: `"digits"` (or another built-in), an image folder, a .zip/.tar/.tar.gz of one, an .npz
            with `x` and `y`, a .csv, or a folder of .wav or .txt class subfolders.
        input_shape: `(height, width, channels)` to resize images to.
        seed: the split's seed.
        val_fraction: share of the data in the validation split.
        test_fraction: share of the data in the test split.
        scaling: an `edgekit.data.scaling.Scaling` replacing the default normalization.
        **options: audio, text and table options (`frontend`, `augmentation`, `target`, `task`, `kind`).

    Returns:
        The `Dataset` (`x_train`, `y_train`, `x_val`, ..., `normalization`, `class_names`).

    Examples:
        >>> ds = edgekit.load_dataset("digits", input_shape=(16, 16, 1))
        >>> ds.x_train.shape, ds.num_classes
    """
    from edgekit.data.datasets import load_dataset as _load

    return _load(source, input_shape=input_shape, seed=seed, val_fraction=val_fraction,
                 test_fraction=test_fraction, scaling=scaling, **options)


# ----------------------------------------------------------------------------- train

def train(name: str | None, data: Any, *, out: PathLike, params: dict | None = None, epochs: int | None = None,
          batch_size: int | None = None, learning_rate: float | None = None, seed: int | None = None,
          config: PathLike | None = None, target: str | None = None, task: str | None = None,
          frontend: dict | None = None, audio_augment: dict | None = None, input_shape: Shape | None = None,
          resolution: int | None = None, weights: PathLike | None = None, freeze_backbone: bool | None = None,
          unfreeze: int | None = None, optimizer: str | None = None, momentum: float | None = None,
          nesterov: bool | None = None, weight_decay: float | None = None, schedule: str | None = None,
          label_smoothing: float | None = None, loss: str | None = None, huber_delta: float | None = None,
          console: "Console | None" = None) -> "TrainResult":
    """Train a registered model and save `model.keras`, `model.json` and `metrics.json` in `out` (`edgekit train`).

    Options left at `None` take the `config` file's value, then `TrainConfig`'s default.

    Args:
        name: a registered model (`list_models()`); `None`: the one `suggest(data)` picks (said on the console).
        data: a source (`"digits"`, a folder, an archive, .npz, .csv, ...) or a loaded `Dataset`.
        out: folder for `model.keras`, `model.json`, `metrics.json` and TensorBoard logs.
        params: the model's knobs, e.g. `{"alpha": 0.35}` (`--param alpha=0.35`).
        epochs: the most epochs (early stopping may end sooner).
        batch_size: batch size.
        learning_rate: the optimizer's rate (`--lr`).
        seed: seed of the split, the initialization and the shuffling (default 0).
        config: a TOML or JSON file of `TrainConfig` keys; options given here override it.
        target: a CSV table's column to predict, or a text CSV's label column.
        task: `"classification"` or `"regression"` for a CSV table (default: from the target column).
        frontend: audio folders: the front end's knobs (`{"window_ms": 30, "mel_bins": 40}`).
        audio_augment: audio folders: augmentation knobs (`{"copies": 1, "snr_db": 10}`).
        input_shape: the model input, `(96, 96, 3)` or `"96x96x3"`.
        resolution: a square image side (channels: an image folder's own when the model is built for it, else the
            model's).
        weights: `"imagenet"` or a Keras `.h5` weight file to start from.
        freeze_backbone: train only the head of a pretrained model.
        unfreeze: then also train the last N backbone blocks at a tenth of the rate.
        optimizer: `"adam"`, `"adamw"`, `"sgd"` or `"rmsprop"`.
        momentum: SGD/RMSprop momentum.
        nesterov: Nesterov momentum (SGD).
        weight_decay: AdamW's weight decay.
        schedule: `"plateau"`, `"cosine"`, `"exponential"` or `"constant"`.
        label_smoothing: classification label smoothing, e.g. 0.1.
        loss: regression loss, `"mse"`, `"mae"` or `"huber"`.
        huber_delta: the Huber loss's delta.
        console: a `rich.console.Console` for progress (default: stderr; it renders in Jupyter).

    Returns:
        The `TrainResult` (`model_path`, `metrics`, `history`, `headline`, `test_outputs`: the outputs
        `metrics` were computed from, the model and its dataset).

    Raises:
        EdgekitError: a bad option, model, data or config file, before any training.

    Examples:
        >>> result = edgekit.train("cnn", "digits", out="runs/cnn", epochs=2, params={"filters": (8, 16)})
        >>> result.metrics["accuracy"], result.model_path
    """
    from edgekit.config import load_config
    from edgekit.shapes import complete_shape, params_with_input_shape
    from edgekit.training.config import TrainConfig

    overrides = _given(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                       freeze_backbone=freeze_backbone, unfreeze=unfreeze, optimizer=optimizer, momentum=momentum,
                       nesterov=nesterov, weight_decay=weight_decay, schedule=schedule,
                       label_smoothing=label_smoothing, loss=loss, huber_delta=huber_delta)
    cfg = load_config(config, TrainConfig, overrides=overrides, flags={"learning_rate": "--lr"})
    params = params_with_input_shape(dict(params or {}), _shape_text(input_shape), resolution)
    if name is None:
        import dataclasses

        pick = suggest(data, target, seed=cfg.seed)
        chosen = dataclasses.replace(pick, params={**pick.params, **params})  # a knob or resolution given wins
        if "input_shape" in params and "input_shape" in pick.params:  # --resolution's channels: the pick's
            chosen.params["input_shape"] = complete_shape(params["input_shape"], pick.params["input_shape"])
        given = [k for k in params if pick.params.get(k) != params[k]]
        note = f"; {', '.join(given)} as given" if given else ""
        _console(console).print(f"[bold]model[/]: {pick.model} {chosen.knobs_text()} ({pick.reason}{note})",
                                highlight=False)
        if pick.caution:
            _console(console).print(f"  warning: {pick.caution}", highlight=False)
        name, params = pick.model, chosen.params
        target = pick.options.get("target")
    options = _given(target=target, task=task, frontend=dict(frontend) if frontend else None,
                     augmentation=dict(audio_augment) if audio_augment else None)
    check_model(name, params)
    _check_paths(None, data)
    from edgekit.training.fit import train as _train  # TensorFlow starts here, after the settings are checked

    return _train(name, data, params=params, config=cfg, out=out, console=_console(console), weights=weights,
                  data_options=options)


def suggest(data: PathLike, target: str | None = None, seed: int = 0) -> "Suggestion":
    """Pick a registry model and input size for your data and say why (`edgekit suggest`).

    Args:
        data: an image, audio or text folder with one subfolder per class, a .csv table or an .npz.
        target: a CSV table's column to predict; for a folder, an MCU board (`targets()`) the model must suit.
        seed: the train/validation/test split `train` makes with this seed; only its training images are
            looked at for what the images show (how thin their strokes are).

    Returns:
        The `Suggestion` (`model`, `params`, `reason`, and `command(data)`: the `edgekit train` line).

    Examples:
        >>> pick = edgekit.suggest("shapes/")
        >>> pick.model, pick.params, pick.reason
    """
    from edgekit.training.suggest import suggest as _suggest

    board = None
    if target and not str(data).lower().endswith(".csv"):
        from edgekit.benchmarking.mcu_targets import get_target

        board = get_target(target).name  # an unknown board fails here, with the list
        target = None
    return _suggest(str(data), target=target, board=board, seed=seed)


# ----------------------------------------------------------------------------- export and verify

def export(model: PathLike, to: str = "tflite", precision: str = "fp32", data: Any = None, out: PathLike = "export",
           opset: int | None = None, unsafe: bool = False, input_range: Range | None = None, mean: float | None = None,
           std: float | None = None, target: str = "nucleo-l4r5zi", array_name: str = "g_model",
           label_file: PathLike | None = None, name: str | None = None, description: str | None = None,
           author: str | None = None, license: str | None = None, batch1: bool = False, io: str | None = None,
           warn: Warn | None = None) -> "Artifact":
    """Convert a Keras model to TFLite, ONNX or a microcontroller bundle, and record it (`edgekit export`).

    Args:
        model: a `.keras` (Keras 3 or tf_keras), `.h5` or SavedModel folder.
        to: `"tflite"`, `"onnx"` or `"mcu"` (`edgekit.formats.FORMATS`).
        precision: `"fp32"`, `"fp16"`, `"dynamic"`, `"int8"`, ... (the format's precisions).
        data: calibration data for int8 (its training split is used): a source or a `Dataset`.
        out: the output folder.
        opset: the ONNX opset (default 17).
        unsafe: allow Lambda layers' code in `.keras` files (trusted files only).
        input_range: the range the model's input expects, `(0, 1)` or `"0,1"`, when the model declares none.
        mean: model input = (raw - mean) / std, instead of `input_range`.
        std: see `mean`.
        target: `to="mcu"`: the board of the latency estimate (`targets()`).
        array_name: `to="mcu"`: the C identifier of the model array.
        label_file: class names, one per line in output order (packed as labels.txt).
        name: the model name in the TFLite metadata.
        description: the description in the TFLite metadata.
        author: the author in the TFLite metadata.
        license: the license in the TFLite metadata.
        batch1: a TFLite with a fixed batch of 1 (GPU-delegate friendly).
        io: input and output type of a full-integer file, `"uint8"` (the default for TFLite: what phone
            libraries take), `"int8"` (the default for `to="mcu"`) or `"float32"`.
        warn: called with each warning line (default: printed on stderr).

    Returns:
        The `Artifact` (path, format, precision, bytes, sha256, input spec, normalization, labels,
        provenance); for `to="mcu"` the int8 .tflite's, with the bundle's figures in `extra["mcu"]`.

    Raises:
        EdgekitError: an unknown format or precision, int8 without data, a model that does not load.

    Examples:
        >>> art = edgekit.export("runs/cnn/model.keras", to="tflite", precision="int8", data="digits", out="export/cnn")
        >>> art.bytes, art.sha256, art.input.scale, art.normalization
    """
    from edgekit.formats import check_format

    say = warn or _stderr_warning
    scaling = dict(input_range=input_range, mean=mean, std=std, labels=label_file, warn=say)
    # the bundle is int8; fp32 is the default precision
    check_format(to, "int8" if to == "mcu" and precision == "fp32" else precision)
    _check_paths(model, data)
    if to == "mcu":
        from edgekit.convert import export_mcu

        art, mcu = export_mcu(model, data, out=out, unsafe=unsafe, target=target, array_name=array_name, io=io,
                              **scaling)
        art.extra["mcu"] = mcu.model_dump()
        return art
    from edgekit.convert import export as _export
    from edgekit.convert.tflite_metadata import ModelInfo

    info = ModelInfo(name=name, description=description, author=author, license=license)
    return _export(model, to=to, precision=precision, data=data, out=out, opset=opset, unsafe=unsafe, info=info,
                   fixed_batch=batch1, io=io, **scaling)


def _stderr_warning(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {msg}", highlight=False)


def _check_paths(model, data=None) -> None:
    """A path that cannot be a Keras model, or a data source that names nothing, fails here, in well
    under a second, not after TensorFlow's start-up."""
    if isinstance(model, (str, Path)):
        from edgekit.model_file import keras_model_kind

        keras_model_kind(model)
    if isinstance(data, (str, Path)):
        from edgekit.data import check_source

        check_source(data)


def verify(artifact: PathLike, reference: PathLike, data: Any = None, seed: int = 0, json: PathLike | None = None,
           min_cosine: float | None = None, min_top1_agreement: float | None = None,
           max_accuracy_drop: float | None = None, input_range: Range | None = None, mean: float | None = None,
           std: float | None = None, warn: Warn | None = None) -> "VerifyResult":
    """Run an artifact in its real runtime and compare its outputs with the Keras model's (`edgekit verify`).

    Args:
        artifact: the .tflite or .onnx file (or its `Artifact`).
        reference: the Keras model it came from.
        data: use this dataset's test split, scaled as the model declares (else random inputs).
        seed: split / random-input seed.
        json: write cosine, max abs, top-1 agreement, accuracies with 95% intervals and the gates here.
        min_cosine: gate: fails below this output cosine.
        min_top1_agreement: gate: fails below this top-1 agreement (0..1).
        max_accuracy_drop: gate: fails when reference minus artifact accuracy exceeds this (needs `data`).
        input_range: the model's input range when it declares none, `(0, 1)` or `"0,1"`.
        mean: model input = (raw - mean) / std, instead of `input_range`.
        std: see `mean`.
        warn: called with each warning line (default: printed on stderr).

    Returns:
        The `VerifyResult` (parity, accuracies, the number of samples and their source). A failed gate is
        a result, not an exception: `result.gates(min_cosine=...)` (the command exits 3).

    Raises:
        EdgekitError: a file that does not load, an artifact that does not fit the reference.

    Examples:
        >>> check = edgekit.verify("export/cnn/model_int8.tflite", "runs/cnn/model.keras", data="digits")
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

        write_json(json, r.record(reference=str(reference), min_cosine=min_cosine,
                                  min_top1_agreement=min_top1_agreement, max_accuracy_drop=max_accuracy_drop))
    return r


# ----------------------------------------------------------------------------- bench and compare

def bench(files: PathLike | Sequence[PathLike], runtime: str | None = None, threads: str | int | Sequence[int] = "1",
          runs: int = 100, warmup: int = 10, xnnpack: bool = True, profile: bool = False, roofline: bool = True,
          macs: int | None = None, json: PathLike | None = None, interleave: bool = False, rounds: int = 10,
          threshold: float = 0.10, progress: "Progress | None" = None) -> "BenchFile":
    """Time single-sample inference of each file at each thread count (`edgekit bench`).

    Args:
        files: one .tflite, .onnx or Keras file, or a list of them.
        runtime: `"litert"`, `"onnxruntime"` or `"keras"` (default: from the suffix).
        threads: thread counts, a row each: `"1"`, `"1,2"`, `"1-4"`, an int or a list.
        runs: timed single-sample runs.
        warmup: untimed runs first.
        xnnpack: LiteRT: apply the XNNPACK delegate.
        profile: add per-operator times.
        roofline: add GMAC/s and the fraction of this CPU's measured matmul ceiling.
        macs: multiply-adds per inference (default: counted from the graph).
        json: write the returned `BenchFile` here.
        interleave: time the files in alternating rounds of one run (then `compare_bench`).
        rounds: `interleave`: the alternating rounds.
        threshold: `interleave`: the slow-down fraction `compare_bench` fails on.
        progress: a `rich.progress.Progress` to draw on (default: a transient bar on stderr).

    Returns:
        The `BenchFile` `edgekit bench --json` writes: machine, run id, one `BenchRow` per file and
        thread count (init, first, mean, p50, p90, p99, std in ms, raw timings, peak memory, roofline).

    Raises:
        EdgekitError: a missing or unreadable file, a bad thread count or run count.

    Examples:
        >>> doc = edgekit.bench("export/cnn/model_int8.tflite", threads="1,2", runs=50)
        >>> [(r.threads, r.latency_ms.p50) for r in doc.results]
    """
    from edgekit.benchmarking.harness import bench_row, machine_info, parse_threads
    from edgekit.records import BenchFile, BenchRun

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
                    results.append(bench_row(f, runtime, t, runs, warmup,
                                             progress=lambda i, n, k=task: prog.update(k, completed=i),
                                             roofline=roofline, macs=macs, profile=profile, **opts))
    if not interleave:
        _add_gpu(paths, results)
    doc = BenchFile(machine=machine_info(), run=BenchRun.stamp(interleaved=interleave), results=results)
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


def compare_bench(doc: "BenchFile", files: Sequence[PathLike], threshold: float = 0.10) -> "CompareResult":
    """The comparison of an interleaved `bench` run: every file against the first, paired by thread count.

    Args:
        doc: what `bench(files, interleave=True)` returned.
        files: the same files, the baseline first.
        threshold: a significant slow-down beyond this fraction is a regression.

    Returns:
        The `CompareResult`; `edgekit.benchmarking.compare.has_regression(result)` is the gate.

    Raises:
        NothingCompared: no row could be compared.

    Examples:
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
    """`compare` found nothing to compare (no row paired, or no raw timings); ``result`` holds
    the rows that did not pair and the notes that say why."""

    def __init__(self, message: str, result: "CompareResult"):
        super().__init__(message)
        self.result = result


def compare(files: Sequence[PathLike], threshold: float = 0.10, markdown: PathLike | None = None,
            match: str = "name+format+precision+runtime+threads") -> "CompareResult":
    """Side-by-side latency of two or more bench JSON files, with bootstrap confidence intervals (`edgekit compare`).

    Args:
        files: `bench(..., json=...)` files; the first is the baseline.
        threshold: a significant slow-down beyond this fraction is a regression.
        markdown: also write the table as Markdown here.
        match: the fields that pair rows, joined by `+`: name, format, precision, runtime, threads.

    Returns:
        The `CompareResult`. A regression is a result, not an exception:
        `edgekit.benchmarking.compare.has_regression(result)` (the command exits 1).

    Raises:
        NothingCompared: no row paired, or a paired row has no raw timings (`.result` says which).
        EdgekitError: fewer than two files, a bad threshold or `match`, an unreadable file.

    Examples:
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
             config: PathLike | None = None, input_range: Range | None = None, mean: float | None = None,
             std: float | None = None, input_shape: Shape | None = None, resolution: int | None = None,
             console: "Console | None" = None) -> "CompressionResult":
    """Compress a tf_keras model every standard way and measure each variant (`edgekit compress`).

    PTQ, QAT, pruning, clustering, channel pruning and mixed precision; every variant's file,
    `compression.json` and `compression.md` go to `out`. Options left at `None` take the `config`
    file's value, then `CompressConfig`'s default.

    Args:
        model: a tf_keras `.keras` or `.h5` model.
        data: a source such as `"digits"` (training split fine-tunes and calibrates, test split scores).
        out: the folder for every variant's file, `compression.json` and `compression.md`.
        only: run only these variants (a list, or comma-separated names).
        skip: skip these variants.
        max_drop: the accuracy budget (fraction) of the mixed-precision fallback (default 0.01).
        sparsity: the magnitude pruning target (default 0.75).
        channel_ratio: the fraction of prunable channels removed (default 0.5).
        epochs: fine-tuning epochs of pruning, clustering, channel pruning and QAT.
        seed: split and calibration seed (default 0).
        config: a TOML or JSON file of `CompressConfig` keys; options given here override it.
        input_range: the model's input range when it declares none, `(0, 1)` or `"0,1"`.
        mean: model input = (raw - mean) / std, instead of `input_range`.
        std: see `mean`.
        input_shape: load `data` at this size, `(96, 96, 3)` or `"96x96x3"`.
        resolution: load `data` as square images of this side.
        console: a `rich.console.Console` for progress (default: stderr).

    Returns:
        The `CompressionResult`: baseline, variants, where the files went; `rows()`, `to_dataframe()`
        and, in Jupyter, the table. A variant that fails is recorded with its `status`, not raised
        (`report.exit_code` is the command's exit code).

    Raises:
        EdgekitError: an unknown variant, a bad option, a model that is not tf_keras.

    Examples:
        >>> rep = edgekit.compress("runs/cnn/model.keras", "digits", out="compressed", only=["ptq_int8"])
        >>> rep.variant("ptq_int8").bytes, rep.to_dataframe()
    """
    from edgekit.compression.config import CompressConfig
    from edgekit.config import load_config
    from edgekit.shapes import params_with_input_shape

    epoch_keys = ("prune_epochs", "qat_epochs", "channel_epochs", "cluster_epochs")
    overrides = _given(max_drop=max_drop, sparsity=sparsity, channel_ratio=channel_ratio, seed=seed)
    if epochs is not None:
        overrides.update(dict.fromkeys(epoch_keys, epochs))
    cfg = load_config(config, CompressConfig, overrides=overrides, flags=dict.fromkeys(epoch_keys, "--epochs"))
    shape = params_with_input_shape({}, _shape_text(input_shape), resolution).get("input_shape")
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
         params: dict | None = None, seed: int | None = None, config: PathLike | None = None, input_range: Range | None = None,
         mean: float | None = None, std: float | None = None, input_shape: Shape | None = None, resolution: int | None = None,
         console: "Console | None" = None) -> "TuneResult":
    """Hardware-aware search: train, export and measure every trial; keep the best model within budget (`edgekit tune`).

    Writes `trials.json`, `pareto.json`, `report.md` and the `best/` bundle to `out`. Calling it again
    with the same arguments resumes the search up to `trials`. Options left at `None` take the
    `config` file's value, then the default given.

    Args:
        name: a registered model of a tunable family (mobilenet*, resnet*, mlp, cnn, vit_tiny, ...).
        data: a source such as `"digits"`.
        out: the search folder.
        trials: trials in total (default 10).
        max_latency_ms: LiteRT p50 budget at one thread.
        max_flash_kb: model file size budget.
        max_ram_kb: TFLM tensor arena budget.
        target: an MCU board; every trial carries its estimated latency there.
        max_mcu_latency_ms: budget on the estimated latency on `target`.
        oracle: `"random"` (default), `"bayesian"` or `"hyperband"`.
        workers: parallel worker processes (default 1).
        precision: the TFLite precision each trial exports (default `"int8"`).
        epochs: epochs per trial (default 20).
        params: hyperparameters pinned to one value, e.g. `{"alpha": 0.35}`.
        seed: seed of the splits, initialization and oracle (default 0).
        config: a TOML or JSON file of `TuneConfig` and `Budgets` keys; options given here override it.
        input_range: train every trial on inputs in this range, `(0, 1)` or `"0,1"`.
        mean: model input = (raw - mean) / std, instead of `input_range`.
        std: see `mean`.
        input_shape: pin the square image input, `(96, 96, 3)` or `"96x96x3"`.
        resolution: pin the square image side.
        console: a `rich.console.Console` for progress (default: stderr).

    Returns:
        The `TuneResult` (trials, the Pareto front, the best trial, the bundle's folder); `rows()`,
        `to_dataframe()` and, in Jupyter, the trials table.

    Raises:
        EdgekitError: an unknown model, family, board or option, before any training.

    Examples:
        >>> res = edgekit.tune("cnn", "digits", out="runs/search", trials=4, epochs=3, max_latency_ms=1.0)
        >>> res.best.val_accuracy, res.bundle, res.to_dataframe()
    """
    from edgekit.config import load_config
    from edgekit.shapes import square_side
    from edgekit.tuning.config import Budgets, TuneConfig

    fixed = dict(params or {})
    side = square_side(_shape_text(input_shape), resolution)
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
    check_model(name)  # its params are the search's pins, checked by the tuner
    from edgekit.tuning.tuner import tune as _tune

    return _tune(name, data, out=out, config=cfg, budgets=budgets, console=_console(console))


# ----------------------------------------------------------------------------- microcontrollers

def estimate(model: PathLike, target: str = "nucleo-l4r5zi", kernels: str = "cmsis-nn", arena: int | None = None,
             json: PathLike | None = None, counts: Any = None) -> "McuEstimate":
    """Estimated time per inference of a full-int8 .tflite on a Cortex-M board running TFLM, per op, and whether it fits (`edgekit estimate`).

    Args:
        model: a full-int8 .tflite model.
        target: a board from `targets()`, or a generic `"cortex-m4@80"` (core@MHz).
        kernels: `"cmsis-nn"` or `"reference"` (TFLM's portable C kernels).
        arena: TFLM's arena in bytes if known (`mcu.json`); measured otherwise.
        json: write the estimate here.
        counts: instructions counted on an emulated core (the JSON `emulate(..., json=...)` wrote, or its
            `EmulationResult`): the latency then rests on them (basis `"emulated counts"`).

    Returns:
        The `McuEstimate` (latency_ms with its expected error and basis, cycles, MACs, per-op costs, `fits`
        for RAM and flash).

    Raises:
        EdgekitError: a model that is not full int8, an unknown board or kernel set.

    Examples:
        >>> e = edgekit.estimate("export/cnn/model_int8.tflite", target="nucleo-l4r5zi")
        >>> e.latency_ms, e.fits.ram, e.fits.flash
    """
    from edgekit.benchmarking.mcu_estimate import estimate_mcu

    e = estimate_mcu(model, target, kernels=kernels, arena_bytes=arena, counts=counts)
    if json is not None:
        from edgekit._io import write_json

        write_json(json, e.model_dump())
    return e


def emulate(model: PathLike | None, core: str = "cortex-m4", *, tflm: PathLike, kernels: str = "cmsis-nn",
            data: Any = None, samples: int = 10, json: PathLike | None = None,
            prepare_from: PathLike | None = None) -> "EmulationResult | None":
    """Run a model's MCU bundle (its own main.cc) on an emulated Cortex-M in QEMU (`edgekit emulate`).

    Args:
        model: a full-int8 .tflite; `None` with `prepare_from` only prepares the TFLM checkout.
        core: `"cortex-m4"` (mps2-an386), `"cortex-m33"` (mps2-an505) or `"cortex-m55"` (mps3-an547, Helium).
        tflm: a tflite-micro checkout whose tools/make/downloads/ holds the pinned third-party trees.
        kernels: `"cmsis-nn"` or `"reference"` (TFLM's portable C kernels).
        data: where the inputs come from (its validation split); default: random int8 inputs.
        samples: inputs to run and compare with LiteRT's reference kernels.
        json: write the `EmulationResult` here.
        prepare_from: a folder of local git clones to fill the checkout's downloads/ from (pinned commits).

    Returns:
        The `EmulationResult` (instructions per inference and per op, outputs equal to LiteRT's or not,
        flash and RAM), or `None` when only preparing.

    Raises:
        EdgekitError: no model and nothing to prepare, a missing toolchain or TFLM tree (the line says what to get).

    Examples:
        >>> r = edgekit.emulate("export/mcu/model_int8.tflite", "cortex-m55", tflm="/src/tflite-micro", data="digits")
        >>> r.instructions, r.outputs_equal, [(o.op, o.instructions) for o in r.ops]
    """
    from edgekit.benchmarking import tflm_build
    from edgekit.benchmarking.emulate import emulate as _emulate

    if prepare_from is not None:
        tflm_build.prepare_downloads(Path(tflm), Path(prepare_from))
    if model is None:
        if prepare_from is None:
            raise EdgekitError("give a .tflite model (or only --prepare-from FOLDER --tflm DIR to prepare TFLM).")
        return None
    x = note = None
    if data is not None:
        from edgekit.convert.mcu_sources import io_specs
        from edgekit.data import load_dataset as _load
        from edgekit.tflite_file import read_model

        shape = io_specs(read_model(model))[0].shape[1:]
        ds = _load(data, input_shape=tuple(shape) if len(shape) == 3 else None)
        x, note = ds.x_val[:samples], f"{min(samples, len(ds.x_val))} samples of {data}'s validation split"
    r = _emulate(Path(model), core, Path(tflm), kernels=kernels, x=x, n=samples, inputs_note=note)
    if json is not None:
        from edgekit._io import write_json

        write_json(json, r)
    return r


def targets() -> list["Target"]:
    """The microcontroller boards `estimate`, `export(to="mcu")` and `tune(target=...)` know (`edgekit targets`).

    A generic `"<core>@<MHz>"` target (e.g. `"cortex-m4@80"`) works too, with RAM and flash unknown.

    Returns:
        One `Target` per board (name, board, core, MHz, RAM and flash bytes, calibration).

    Examples:
        >>> names = [t.name for t in edgekit.targets()]
        >>> "nucleo-l4r5zi" in names
        True
    """
    from edgekit.benchmarking.mcu_targets import TARGETS

    return list(TARGETS.values())


# ----------------------------------------------------------------------------- the whole pipeline

def demo(out: PathLike | None = None, epochs: int = 60, target: str = "nucleo-l4r5zi", model: str = "mobilenet_v2",
         data: Any = "digits", params: dict | None = None, input_shape: Shape | None = None, resolution: int | None = None,
         console: "Console | None" = None, **options: Any) -> "RunReport":
    """Train, export, verify, benchmark and report one model (`edgekit demo`; also `edgekit.run`).

    Exports TFLite fp32 and int8 and ONNX, runs each in its runtime against the Keras model, times
    it, and writes the bundle (`report.json`, `report.md`, `report.html`, the models, `mcu/`,
    `manifest.json`). A step that fails is listed in `report.failures`, not raised.

    Args:
        out: the bundle folder (default `export/<model>-<time>`).
        epochs: the most training epochs.
        target: the board of the MCU latency estimate (`targets()`).
        model: a registered model of any task.
        data: a dataset of the model's task.
        params: the model's knobs (default for mobilenet_v2: `{"alpha": 0.35}`).
        input_shape: the model input, `(96, 96, 3)` or `"96x96x3"`.
        resolution: a square image side.
        console: a `rich.console.Console` for progress (default: stderr).
        **options: passed to `edgekit.pipeline.run`: `npu=False`, `mcu=False`, `profile=False`,
            `html=False`, `bench=edgekit.records.BenchSettings(runs=20)`, `steps=[(name, fn)]` (more steps, each called
            with the `edgekit.bundle.Bundle`; a failure is in `report.failures`), training settings such as `patience=3`.

    Returns:
        The `RunReport` (`report.json`); `rows()`, `to_dataframe()` and, in Jupyter, the run's table.

    Raises:
        EdgekitError: an unknown model, board, data or option, before training.

    Examples:
        >>> report = edgekit.demo(model="cnn", epochs=2, out="export/demo", npu=False)
        >>> report.to_dataframe()
    """
    from edgekit.benchmarking.mcu_targets import get_target
    from edgekit.shapes import params_with_input_shape

    get_target(target)  # an unknown board fails now, not after training
    default = {"alpha": 0.35} if model == "mobilenet_v2" else {}  # the default demo's width; others keep theirs
    params = params_with_input_shape(dict(params) if params else default, _shape_text(input_shape), resolution)
    check_model(model, params)
    from edgekit.pipeline import run as _run

    return _run(model, data, params=params, out=out, epochs=epochs, console=_console(console), mcu_target=target,
                **options)


run = demo  # the name the first Python API gave the demo


def check(run_dir: PathLike) -> "BundleCheck":
    """Check a run bundle against its manifest: every file present, same size and sha256 (`edgekit check`).

    Args:
        run_dir: a bundle folder, e.g. `export/mobilenet_v2-<time>`.

    Returns:
        The `BundleCheck`: the files that matched.

    Raises:
        EdgekitError: the folder has no manifest, or a file is missing, changed or unlisted (named in the message).

    Examples:
        >>> edgekit.check("export/demo").files
        ['manifest.json', 'model.json', 'model.keras', ...]
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
