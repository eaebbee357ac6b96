"""The `edgekit` command: a thin Typer layer over the Python API.

Heavy imports (TensorFlow, converters, runtimes) happen inside the commands, so
`edgekit --help` answers at once and `edgekit bench model.tflite` never loads TensorFlow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit.errors import EXIT_INTERNAL, EdgekitError
from edgekit.shapes import params_with_input_shape, square_side

# Exit codes (edgekit/errors.py), shown under `edgekit --help` and in the README.
EXIT_CODES_HELP = ("[bold]Exit codes:[/] 0 everything asked for ran and passed; 1 bad input or an error (one line on "
                   "stderr), also a failed gate (compare/bench --interleave regression, a comparison that compared "
                   "nothing); 2 usage error (unknown option); 3 step failed: finished and wrote its report, but a "
                   "requested step failed (compress, demo); 70 internal error (a bug; its traceback goes to "
                   "edgekit-error.log in the output folder, or the temp folder, not to the terminal).")
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich", epilog=EXIT_CODES_HELP,
                  help="Keras models to verified, benchmarked TFLite and ONNX artifacts for phones, MCUs and NPUs.")
# Tables stay readable when output goes to a file or CI log (Rich would assume 80 columns).
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)


# ---- input scaling flags, shared by export, verify, compress and tune (issue 20)
_INPUT_RANGE_HELP = ("the range the model's input expects, LOW,HIGH (e.g. 0,1 or -1,1); raw data (0..255 images) "
                     "are mapped onto it. Needed only when the model has no Rescaling/Normalization layer or model.json")
_MEAN_HELP = "model input = (raw - MEAN) / STD, instead of --input-range"
_STD_HELP = "see --mean"


def _range_pair(text: str | None):
    """`--input-range 0,1` as a (low, high) pair, checked (None when not given)."""
    from edgekit.data.scaling import user_scaling

    return None if text is None else user_scaling(text).input_range


def _file_column(header: str = "file"):
    """A table column for file names that folds a long name instead of cutting it to `model_fp32…`."""
    from rich.table import Column

    return Column(header, overflow="fold", min_width=12)


def _warn(msg: str) -> None:
    err.print(f"[yellow]warning:[/] {msg}", highlight=False)


def _parse_params(items: list[str] | None) -> dict:
    """`--param alpha=0.35 --param pooling=avg` to {"alpha": 0.35, "pooling": "avg"}."""
    params = {}
    for item in items or []:
        if "=" not in item:
            raise EdgekitError(f"--param expects key=value, got {item!r} (e.g. --param alpha=0.35).")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = {"true": True, "false": False, "none": None}.get(raw.lower(), raw)
        if isinstance(value, list):
            value = tuple(value)
        params[key.strip()] = value
    return params


def _fmt(v, spec="{:.3f}"):
    return "—" if v is None else spec.format(v)


def _size(n):
    return f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MB"


@app.command()
def models(pattern: str = typer.Argument("*", help="shell-style filter, e.g. 'mobilenet*'"),
           live: bool = typer.Option(False, "--live", help="build each model now to count params and MACs (slow; "
                                     "the default reads the table generated from the registry)"),
           latency: bool = typer.Option(False, "--latency", help="add measured p50 latencies (LiteRT fp32/int8, onnxruntime fp32, 1 thread) and the TFLM arena from benchmarks/results/zoo_latency.json")):
    """List the registered models with their task, default input, parameters and multiply-adds."""
    from edgekit.catalog import catalog, entry, list_catalog

    lat = _zoo_latency() if latency else {}
    extra = ("TFLite fp32 ms", "TFLite int8 ms", "ONNX fp32 ms", "TFLM arena") if latency else ()
    names = list_catalog(pattern)
    if live:
        from edgekit.models import list_models

        names = list_models(pattern)
    table = Table("model", "task", "input", "params", "MACs", *extra, "paper", title="edgekit models")
    with _progress(len(names) if live else 0, "counting params and MACs") as step:
        for name in names:
            row = entry(name) if live else catalog()[name]
            step()
            m = row["macs"]
            r = lat.get(name, {})
            cells = (_fmt(r.get("tflite_fp32_ms"), "{:.3f}"), _fmt(r.get("tflite_int8_ms"), "{:.3f}"),
                     _fmt(r.get("onnx_fp32_ms"), "{:.3f}"),
                     _size(r["tflm_arena_bytes"]) if r.get("tflm_arena_bytes") else "—") if latency else ()
            table.add_row(name, row["task"], "x".join(map(str, row["input_shape"])), _fmt(row["params"], "{:,}"),
                          "—" if m is None else f"{m / 1e6:,.1f} M", *cells, row["paper"].split(",")[0])
    out.print(table)
    if latency:
        out.print(f"[dim]latency: {_ZOO_LATENCY.name} ({len(lat)} models measured; — = not measured or failed, "
                  "see the file)[/]")


_ZOO_LATENCY = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "zoo_latency.json"


def _zoo_latency() -> dict:
    """Rows of benchmarks/results/zoo_latency.json by model (written by benchmarks/zoo_latency.py)."""
    try:
        doc = json.loads(_ZOO_LATENCY.read_text())
        return {r["model"]: r for r in doc["rows"] if not r.get("error")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EdgekitError(f"no readable zoo latency table at {_ZOO_LATENCY} ({type(e).__name__}); "
                           "run `python benchmarks/zoo_latency.py` first.") from None


def _progress(total: int, what: str):
    """A transient progress bar on stderr for ``total`` steps; a no-op for 0. Yields ``step()``."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        if not total:
            yield lambda: None
            return
        from rich.progress import Progress

        with Progress(console=err, transient=True) as prog:
            task = prog.add_task(what, total=total)
            yield lambda: prog.advance(task)

    return ctx()


def _version_callback(value: bool):
    if value:
        from edgekit import __version__

        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="print the version and exit")):
    """Keras models to verified, benchmarked TFLite and ONNX artifacts for phones, MCUs and NPUs."""


@app.command()
def train(ctx: typer.Context,
          name: str = typer.Argument(..., help="registered model name (see `edgekit models`)"),
          data: str = typer.Option(..., "--data", help="'digits', an image folder (one subfolder per class) or a .zip/.tar/.tar.gz of one, an .npz with x and y, a folder of .wav or .txt class subfolders, a .csv (a table with --target, or text for a sequence model), or a built-in for another task: diabetes (regression), digits_flat, token_order (classification), digits_anomaly (anomaly), digits_pairs (embedding), digits_gen (generation)"),
          param: Optional[List[str]] = typer.Option(None, "--param", help="model knob as key=value, repeatable"),
          epochs: Optional[int] = typer.Option(None, help="maximum epochs (early stopping may end sooner)"),
          batch_size: Optional[int] = typer.Option(None, help="batch size"),
          learning_rate: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate"),
          seed: int = typer.Option(0, help="seed for splits, initialization and shuffling"),
          config: Optional[Path] = typer.Option(None, "--config", help="training settings from a TOML or JSON file (by suffix) with the keys of edgekit.train.TrainConfig (epochs, batch_size, learning_rate, patience, seed, augment, tensorboard, optimizer, momentum, nesterov, weight_decay, schedule, decay_rate, label_smoothing, loss, huber_delta, freeze_backbone, unfreeze, unfreeze_learning_rate, unfreeze_epochs); e.g. a train.toml holding `epochs = 30` and `augment = false` on separate lines. Flags given on the command line override the file"),
          out_dir: Path = typer.Option(..., "--out", help="folder for model.keras, metrics.json and TensorBoard logs"),
          target: Optional[str] = typer.Option(None, "--target", help="CSV data: the column to predict (a table), or the label column of a text CSV"),
          task: Optional[str] = typer.Option(None, "--task", help="CSV table: classification | regression (default: from the target column)"),
          frontend: Optional[List[str]] = typer.Option(None, "--frontend", help="audio folder: front-end knob as key=value, repeatable: sample_rate, clip_ms, window_ms, stride_ms, fft_length, mel_bins, num_mfccs (0: log-mel), lower_hz, upper_hz"),
          audio_augment: Optional[List[str]] = typer.Option(None, "--audio-augment", help="audio folder: augmentation as key=value, repeatable: copies (extra copies of each training clip), shift_ms, snr_db, gain_db, seed"),
          input_shape: Optional[str] = typer.Option(None, "--input-shape", help="model input as HxWxC, e.g. 96x96x3 (or a feature count)"),
          resolution: Optional[int] = typer.Option(None, "--resolution", help="square image side, e.g. 96 (channels: the model's)"),
          weights: Optional[str] = typer.Option(None, "--weights", help="start from 'imagenet' (keras.applications' file in ~/.keras/models) or a Keras .h5 weight file (MobileNet V1/V2/V3, ResNet-50/101/152)"),
          freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone", help="train only the head; the backbone and its BatchNorm stay frozen"),
          unfreeze: Optional[int] = typer.Option(None, "--unfreeze", help="after the head, also train the last N backbone blocks at a tenth of the rate"),
          optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam | adamw | sgd | rmsprop"),
          momentum: Optional[float] = typer.Option(None, "--momentum", help="SGD/RMSprop momentum (0.9)"),
          nesterov: Optional[bool] = typer.Option(None, "--nesterov", help="Nesterov momentum (sgd)"),
          weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay (1e-4)"),
          schedule: Optional[str] = typer.Option(None, "--schedule", help="plateau | cosine | exponential | constant"),
          label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", help="classification label smoothing, e.g. 0.1"),
          loss: Optional[str] = typer.Option(None, "--loss", help="regression loss: mse | mae | huber"),
          huber_delta: Optional[float] = typer.Option(None, "--huber-delta", help="Huber delta (1.0)")):
    """Train a model from the registry; saves model.keras with its normalization and labels."""
    from edgekit.config import load_config
    from edgekit.train import TrainConfig

    given, defaults = _given(ctx, dict(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, freeze_backbone=freeze_backbone,
        unfreeze=unfreeze, optimizer=optimizer, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
        schedule=schedule, label_smoothing=label_smoothing, loss=loss, huber_delta=huber_delta))
    cfg = load_config(config, TrainConfig, overrides=given, defaults=defaults, flags={"learning_rate": "--lr"})
    params = params_with_input_shape(_parse_params(param), input_shape, resolution)
    from edgekit.train import train as _train  # TensorFlow starts here, after the settings are checked

    res = _train(name, data, params=params, config=cfg, out=out_dir, console=err, weights=weights,
                 data_options=_data_options(target, task, frontend, audio_augment))
    out.print(f"test [bold]{res.headline}[/]; model: {res.model_path}")


def _data_options(target, task, frontend, audio_augment) -> dict:
    """--target/--task (CSV) and --frontend/--audio-augment (audio folders) for load_dataset."""
    opts = {"target": target, "task": task}
    if frontend:
        opts["frontend"] = {k: v for k, v in _parse_params(frontend).items()}
    if audio_augment:
        opts["augmentation"] = _parse_params(audio_augment)
    return {k: v for k, v in opts.items() if v is not None}


def _given(ctx: typer.Context, values: dict, to: dict[str, tuple[str, ...]] | None = None) -> tuple[dict, dict]:
    """Split option values into (typed on the command line, the command's defaults) by config key.

    ``values`` is keyed by option (parameter) name; ``to`` maps an option to the config keys
    it sets (``--epochs`` of compress sets four). ``None`` values are dropped. With
    ``--config``, the file sits between the two: typed flags override it, defaults do not.
    """
    given, defaults = {}, {}
    for k, v in values.items():
        if v is None:
            continue
        # click's ParameterSource enum (typer vendors click, so compare by name)
        explicit = getattr(ctx.get_parameter_source(k), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
        for key in (to or {}).get(k, (k,)):
            (given if explicit else defaults)[key] = v
    return given, defaults


@app.command()
def export(model: Path = typer.Argument(..., help=".keras (Keras 3 or tf_keras), .h5 or SavedModel folder"),
           to: str = typer.Option("tflite", "--to", help="tflite | onnx | mcu (int8 C array + TFLM-measured arena)"),
           precision: str = typer.Option("fp32", help="fp32 | int8 (tflite also fp16, dynamic)"),
           data: Optional[str] = typer.Option(None, "--data", help="calibration data for int8 (training split is used)"),
           out_dir: Path = typer.Option(Path("export"), "--out", help="output folder"),
           opset: Optional[int] = typer.Option(None, help="ONNX opset (default 17)"),
           unsafe: bool = typer.Option(False, "--unsafe", help="allow Lambda layers' code in .keras files (trusted files only)"),
           input_range: Optional[str] = typer.Option(None, "--input-range", help=_INPUT_RANGE_HELP),
           mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
           std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP),
           target: str = typer.Option("nucleo-l4r5zi", "--target", help="--to mcu: board of the latency estimate (`edgekit targets`)"),
           array_name: str = typer.Option("g_model", "--array-name", help="--to mcu: C identifier of the model array"),
           label_file: Optional[Path] = typer.Option(None, "--label-file", help="class names, one per line in output order (packed as labels.txt)"),
           name: Optional[str] = typer.Option(None, "--name", help="model name in the TFLite metadata apps read"),
           description: Optional[str] = typer.Option(None, "--description", help="model description in the TFLite metadata"),
           author: Optional[str] = typer.Option(None, "--author", help="author in the TFLite metadata"),
           license_: Optional[str] = typer.Option(None, "--license", help="license in the TFLite metadata"),
           batch1: bool = typer.Option(False, "--batch1", help="TFLite with a fixed batch of 1 (no run-time shape ops: GPU-delegate friendly)")):
    """Convert any Keras model to TFLite or ONNX and record it (size, sha256, input spec, normalization, labels, provenance).

    TFLite files carry the standard metadata (TFLITE_METADATA) that the Android Task Library and
    MediaPipe read: normalization, image size and, for a classifier, a packed labels.txt."""
    from edgekit.convert import export as _export
    from edgekit.convert.formats import check_format

    scaling = dict(input_range=input_range, mean=mean, std=std, labels=label_file, warn=_warn)
    if to == "mcu":
        from edgekit.convert import export_mcu

        art, mcu = export_mcu(model, data, out=out_dir, unsafe=unsafe, target=target, array_name=array_name,
                              **scaling)
        agree = "—" if mcu.tflm_agreement is None else f"{mcu.tflm_agreement:.4f}"
        out.print(f"{art.path}  int8  {_size(art.bytes)}; TFLM arena {mcu.arena_bytes:,} bytes, flash "
                  f"{mcu.flash_bytes:,} bytes, ops {', '.join(mcu.ops)}; TFLM/LiteRT top-1 agreement {agree}")
        if mcu.unsupported_ops:
            out.print(f"[red]ops TFLM lacks:[/] {', '.join(mcu.unsupported_ops)}")
        if mcu.estimate:
            e = mcu.estimate
            out.print(f"estimated {e['latency_ms']:.2f} ms on {e['target']} ({e['core']}, {e['mhz']:g} MHz; {e['basis']}); "
                      f"fits RAM {e['fits']['ram']}, flash {e['fits']['flash']}")
        out.print(f"bundle: {out_dir} ({', '.join(mcu.files)})")
        return
    check_format(to, precision)
    from edgekit.convert.tflite_metadata import ModelInfo

    info = ModelInfo(name=name, description=description, author=author, license=license_)
    art = _export(model, to=to, precision=precision, data=data, out=out_dir, opset=opset, unsafe=unsafe,
                  info=info, fixed_batch=batch1, **scaling)
    q = f", input scale {art.input.scale:.6g} zero point {art.input.zero_point}" if art.input.scale else ""
    out.print(f"{art.path}  {art.format} {art.precision}  {_size(art.bytes)}  sha256 {art.sha256[:12]}…{q}")
    if art.normalization is not None:
        n = art.normalization
        out.print(f"input: (raw - {n.mean:g}) / {n.std:g}, raw {n.raw_range[0]:g}..{n.raw_range[1]:g} -> "
                  f"{n.input_range[0]:g}..{n.input_range[1]:g}; labels: {len(art.labels or [])}")
    if "tflite_metadata" in art.extra:
        md = art.extra["tflite_metadata"]
        out.print(f"TFLite metadata: name {md['name']!r}, normalization {'yes' if md['normalization'] else 'no'}, "
                  f"packed {', '.join(md['packed_files']) or 'no files'} (min parser {md['min_parser_version']})")
    if art.gpu is not None:
        _print_gpu([art.path])


@app.command()
def verify(artifact: Path = typer.Argument(..., help=".tflite or .onnx file"),
           reference: Path = typer.Option(..., "--reference", help="the Keras model it came from"),
           data: Optional[str] = typer.Option(None, "--data", help="use this dataset's test split (else random inputs)"),
           seed: int = typer.Option(0, help="split / random-input seed"),
           json_out: Optional[Path] = typer.Option(None, "--json", help="write cosine, max abs, top-1 agreement, accuracies with 95% intervals and the gates here"),
           min_cosine: Optional[float] = typer.Option(None, "--min-cosine", help="gate: fail (exit 3) below this output cosine"),
           min_top1_agreement: Optional[float] = typer.Option(None, "--min-top1-agreement", help="gate: fail (exit 3) below this top-1 agreement (0..1)"),
           max_accuracy_drop: Optional[float] = typer.Option(None, "--max-accuracy-drop", help="gate: fail (exit 3) when reference minus artifact accuracy exceeds this fraction (needs --data)"),
           input_range: Optional[str] = typer.Option(None, "--input-range", help=_INPUT_RANGE_HELP),
           mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
           std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP)):
    """Run an artifact in its real runtime and compare its outputs with the Keras model; gate on thresholds."""
    from edgekit.errors import EXIT_STEP_FAILED
    from edgekit.verify import verify as _verify
    from edgekit.verify.stats import fmt_accuracy

    if max_accuracy_drop is not None and data is None:
        raise EdgekitError("--max-accuracy-drop needs labelled data: pass --data (random inputs have no accuracy).")
    thresholds = dict(min_cosine=min_cosine, min_top1_agreement=min_top1_agreement, max_accuracy_drop=max_accuracy_drop)
    r = _verify(artifact, reference, data=data, seed=seed, input_range=input_range, mean=mean, std=std, warn=_warn)
    p = r.parity
    _plain(f"{artifact.name} vs {reference.name} on {r.n} {r.source}: cosine {p.cosine:.6f}, "
           f"max abs {p.max_abs:.3g}, top-1 agreement {_fmt(p.top1_agreement, '{:.4f}')}"
           + (f", accuracy {fmt_accuracy(r.accuracy, r.n)} (reference {fmt_accuracy(r.reference_accuracy, r.n)}, "
              f"95% Wilson)" if r.accuracy is not None else ""))
    _print_gpu([artifact])
    doc = r.as_dict(**thresholds)
    if json_out:
        from edgekit._io import write_json

        write_json(json_out, dict(doc, reference=str(reference)))
    failed = [k for k, g in doc["gates"].items() if not g["passed"]]
    for k, g in doc["gates"].items():
        _plain(f"gate {k.replace('_', '-')} {g['threshold']:g}: {_fmt(g['value'], '{:.6g}')} "
               f"{'passed' if g['passed'] else 'FAILED'}")
    if failed:
        raise typer.Exit(EXIT_STEP_FAILED)


def _plain(text: str) -> None:
    """One result line: Rich on a terminal, unwrapped plain text in a pipe or CI log."""
    if sys.stdout.isatty():
        out.print(text, highlight=False)
    else:
        typer.echo(text)


def _print_gpu(files, results: list | None = None) -> None:
    """GPU-delegate compatibility of each .tflite, one line each (and into bench's JSON rows)."""
    from edgekit.runtime.gpu import gpu_compatibility, gpu_summary

    for f in dict.fromkeys(Path(x) for x in files if Path(x).suffix.lower() == ".tflite"):
        g = gpu_compatibility(f)
        out.print(f"{f.name}: {gpu_summary(g)}")
        for o in g.unsupported_ops:
            out.print(f"  op {o.index} {o.op} in {o.layer}: {o.reason}" + (f"; {o.fix}" if o.fix else ""))
        for r in results or []:
            if Path(r["artifact"]) == f:
                r["gpu"] = g.model_dump()


@app.command()
def bench(files: List[Path] = typer.Argument(..., help=".tflite, .onnx or Keras model files"),
          runtime: Optional[str] = typer.Option(None, help="litert | onnxruntime | keras (default: from the suffix)"),
          threads: str = typer.Option("1", help="thread counts, a row each: 1, 1,2 or 1-4"),
          runs: int = typer.Option(100, help="timed single-sample runs"),
          warmup: int = typer.Option(10, help="untimed runs first"),
          xnnpack: bool = typer.Option(True, "--xnnpack/--no-xnnpack", help="LiteRT: apply the XNNPACK delegate"),
          profile: bool = typer.Option(False, "--profile", help="per-operator times (LiteRT by isolating each op, onnxruntime's profiler)"),
          roofline: bool = typer.Option(True, "--roofline/--no-roofline", help="GMAC/s and fraction of this CPU's measured matmul ceiling for the row's precision (float32 or int8)"),
          macs: Optional[int] = typer.Option(None, "--macs", help="multiply-adds per inference (default: counted from the graph)"),
          json_out: Optional[Path] = typer.Option(None, "--json", help="write machine info and raw timings here"),
          interleave: bool = typer.Option(False, "--interleave", help="time the files in alternating rounds of one run and compare them with the first (the noise-robust gate: exit 1 on a significant regression)"),
          rounds: int = typer.Option(10, "--rounds", help="--interleave: alternating rounds the runs are split into"),
          threshold: float = typer.Option(0.10, "--threshold", help="--interleave: a significant slow-down beyond this fraction fails (exit 1)")):
    """Time single-sample inference: init, first run, mean, p50, p90, p99, std (ms), peak memory, roofline."""
    from rich.progress import Progress

    from edgekit._io import write_json
    from edgekit.bench.harness import bench as _bench
    from edgekit.bench.harness import machine_info, parse_threads

    counts = parse_threads(threads)
    if interleave:
        return _bench_interleaved(files, runtime, counts, runs, warmup, rounds, threshold, xnnpack, json_out)
    results = []
    with Progress(console=err, transient=True) as prog:
        for f in files:
            opts = {"xnnpack": False} if (not xnnpack and (runtime or "litert") == "litert" and f.suffix == ".tflite") else {}
            for t in counts:
                task = prog.add_task(f"{f.name} ({t} thread{'s' if t > 1 else ''})", total=runs)
                results.append(_bench(f, runtime, t, runs, warmup, progress=lambda i, n, k=task: prog.update(k, completed=i),
                                      roofline=roofline, macs=macs, profile=profile, **opts))
    table = Table(_file_column(), "runtime", "precision", "threads", "init", "first", "mean", "p50", "p90", "p99", "std",
                  "peak MB", "GMAC/s", "of ceiling", title="latency (ms)")
    for r in results:
        lat, mem, roof = r["latency_ms"], r.get("memory_mb") or {}, r.get("roofline") or {}
        table.add_row(Path(r["artifact"]).name, r["runtime"] + ("" if r["options"].get("xnnpack", True) else " (no xnnpack)"),
                      r["precision"], str(r["threads"]), *(_fmt(lat[k]) for k in ("init", "first", "mean", "p50", "p90", "p99", "std")),
                      _fmt(mem.get("peak_delta"), "{:.1f}"), _fmt(roof.get("gmacs_per_s"), "{:.2f}"),
                      _fmt(roof.get("fraction"), "{:.0%}"))
    out.print(table)
    for r in results:
        if r["options"].get("xnnpack_fallback"):
            _warn(f"{Path(r['artifact']).name}: {r['options']['xnnpack_fallback']}")
    _print_gpu(files, results)
    if profile:
        from edgekit.bench.profile import by_op_type

        for r in results:
            prof = r["profile"]
            pt = Table("op", "count", "ms", "share", title=f"{Path(r['artifact']).name}, {r['threads']} thread(s)",
                       caption=f"per-op sum {prof['sum_ms']:.3f} ms, whole model {prof['total_ms']:.3f} ms")
            for a in by_op_type(prof)[:10]:
                pt.add_row(a["op"], str(a["count"]), f"{a['ms']:.4f}", f"{a['share']:.0%}")
            out.print(pt)
        out.print(f"[dim]{results[0]['profile']['method']}[/]" if results else "")
    if roofline and any(r.get("roofline") for r in results):
        from edgekit.bench.ceiling import int8_matmul_ceiling, matmul_ceiling

        c, c8 = matmul_ceiling(), int8_matmul_ceiling()
        out.print(f"ceilings (\"of ceiling\" is against the row's own precision): float32 sgemm {c.n}², 1 thread: "
                  f"{c.gmacs_per_s:.1f} GMAC/s ({c.blas}); int8 MatMulInteger {c8.n}², 1 thread: "
                  f"{c8.gmacs_per_s:.1f} GMAC/s ({c8.blas})")
    if json_out:
        doc = {"machine": machine_info(), "run": _run_stamp(), "results": results}
        if roofline:
            from edgekit.bench.ceiling import int8_matmul_ceiling, matmul_ceiling

            doc["ceiling"] = matmul_ceiling().model_dump()
            doc["ceiling_int8"] = int8_matmul_ceiling().model_dump()
        write_json(json_out, doc)
        out.print(f"wrote {json_out}")


def _run_stamp(**extra) -> dict:
    """One id per `edgekit bench` run: `compare` says when two files come from different runs."""
    import datetime
    import uuid

    return {"id": uuid.uuid4().hex, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **extra}


def _bench_interleaved(files, runtime, counts, runs, warmup, rounds, threshold, xnnpack, json_out):
    """`bench A B --interleave`: alternating rounds in one run, then the compare table (first file = baseline)."""
    from rich.progress import Progress

    from edgekit._io import write_json
    from edgekit.bench.compare import compare_docs, gate_problems, has_regression, rich_table
    from edgekit.bench.harness import machine_info
    from edgekit.bench.interleave import bench_interleaved

    if threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    opts = {} if xnnpack else {"xnnpack": False}
    machine, stamp, results = machine_info(), _run_stamp(interleaved=True), []
    with Progress(console=err, transient=True) as prog:
        for t in counts:
            task = prog.add_task(f"{len(files)} files interleaved ({t} thread{'s' if t > 1 else ''})", total=runs)
            results += bench_interleaved(files, runtime, t, runs, warmup, rounds,
                                         progress=lambda i, n, k=task: prog.update(k, completed=i), **opts)
    if json_out:
        write_json(json_out, {"machine": machine, "run": stamp, "results": results})
        out.print(f"wrote {json_out}")
    # one in-memory bench document per file, all from this run; rows paired by thread count
    docs = [(Path(f), {"machine": machine, "run": stamp,
                       "results": [r for r in results if r["artifact"] == str(f)]}) for f in files]
    result = compare_docs(docs, threshold, match="threads")
    out.print(rich_table(result))
    problems = gate_problems(result)
    if problems:
        raise EdgekitError(problems[0])
    if has_regression(result):
        err.print(f"[red]regression[/]: slower than {Path(files[0]).name} by more than {threshold:.0%} with confidence")
        raise typer.Exit(1)


@app.command()
def demo(out_dir: Optional[Path] = typer.Option(None, "--out", help="bundle folder (default export/<model>-<time>)"),
         epochs: int = typer.Option(60, help="maximum training epochs"),
         target: str = typer.Option("nucleo-l4r5zi", "--target", help="board of the MCU latency estimate (`edgekit targets`)"),
         model: str = typer.Option("mobilenet_v2", "--model", help="registered model of any task: classification, regression (mlp_regressor on diabetes), anomaly (autoencoder_dense on digits_anomaly), embedding (siamese on digits_pairs), generation"),
         data: str = typer.Option("digits", "--data", help="dataset of the model's task (see `edgekit train --help`)"),
         param: Optional[List[str]] = typer.Option(None, "--param", help="model knob as key=value, repeatable (default for mobilenet_v2: alpha=0.35)"),
         input_shape: Optional[str] = typer.Option(None, "--input-shape", help="model input as HxWxC, e.g. 96x96x3"),
         resolution: Optional[int] = typer.Option(None, "--resolution", help="square image side, e.g. 96")):
    """Train, export, verify, bench and report one model (default: MobileNetV2 0.35, 32x32, on the built-in digits)."""
    from edgekit.bench.mcu_targets import get_target
    from edgekit.pipeline import run

    get_target(target)  # an unknown board fails now, not after training
    default = {"alpha": 0.35} if model == "mobilenet_v2" else {}  # the default demo's width; others keep theirs
    params = params_with_input_shape(_parse_params(param) or default, input_shape, resolution)
    report = run(model, data, params=params, out=out_dir, epochs=epochs, console=err, mcu_target=target)
    _print_report(report)
    for f in report.get("failures", []):
        if not f["step"].startswith("export/verify/bench"):  # those rows were printed with the table
            out.print(f"[red]{f['step']} {f['status']}[/]: {f['error']}", highlight=False)
    _exit_for_steps("the requested steps", [(f["step"], f["status"]) for f in report.get("failures", [])])


@app.command()
def tune(ctx: typer.Context,
         name: str = typer.Argument(..., help="registered model to search (mobilenet*, resnet*, mlp, cnn, vit_tiny, ...)"),
         data: str = typer.Option("digits", "--data", help="'digits', an image folder (or a .zip/.tar/.tar.gz of one) or an .npz with x and y"),
         trials: int = typer.Option(10, "--trials", help="trials in total (rerunning the command resumes up to this)"),
         max_latency_ms: Optional[float] = typer.Option(None, "--max-latency-ms", help="LiteRT p50 budget, 1 thread"),
         max_flash_kb: Optional[float] = typer.Option(None, "--max-flash-kb", help="model file size budget"),
         max_ram_kb: Optional[float] = typer.Option(None, "--max-ram-kb", help="TFLM tensor arena budget"),
         target: Optional[str] = typer.Option(None, "--target", help="MCU board: every trial carries its estimated latency there; Pareto front against it"),
         max_mcu_latency_ms: Optional[float] = typer.Option(None, "--max-mcu-latency-ms", help="budget on the estimated latency on --target"),
         oracle: str = typer.Option("random", "--oracle", help="random | bayesian | hyperband"),
         workers: int = typer.Option(1, "--workers", help="parallel worker processes, each pinned to its own core"),
         precision: str = typer.Option("int8", "--precision", help="int8 | fp32 | fp16 | dynamic (TFLite)"),
         epochs: int = typer.Option(20, "--epochs", help="epochs per trial (Hyperband: the most a trial gets)"),
         param: Optional[List[str]] = typer.Option(None, "--param", help="pin a hyperparameter, key=value, repeatable"),
         seed: int = typer.Option(0, help="seed for splits, initialization and the oracle"),
         config: Optional[Path] = typer.Option(None, "--config", help="search settings and budgets from a TOML or JSON file (by suffix): keys trials, oracle, epochs, patience, precision, workers, seed, augment, bench_runs, bench_warmup, measure_arena, max_latency_ms, max_flash_kb, max_ram_kb and a table fixed (pinned hyperparameters, merged with --param). Flags given on the command line override the file"),
         out_dir: Path = typer.Option(..., "--out", help="search folder: trials.json, pareto.json/png, best/ bundle"),
         input_range: Optional[str] = typer.Option(None, "--input-range", help="train every trial's model on inputs in LOW,HIGH (e.g. 0,1); recorded with the best model"),
         mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
         std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP),
         input_shape: Optional[str] = typer.Option(None, "--input-shape", help="pin the input of image models, e.g. 96x96x3 (square; the search's resolution)"),
         resolution: Optional[int] = typer.Option(None, "--resolution", help="pin the square image side, e.g. 96 (else searched)")):
    """Hardware-aware search: train, export and measure every trial; keep the best model within budget."""
    from edgekit.config import load_config
    from edgekit.tune import Budgets, TuneConfig
    from edgekit.tune import tune as _tune

    fixed = _parse_params(param)
    side = square_side(input_shape, resolution)
    if side is not None:
        fixed["resolution"] = side
    given, defaults = _given(ctx, dict(trials=trials, oracle=oracle, workers=workers, precision=precision, epochs=epochs,
                                       seed=seed, param=fixed, max_latency_ms=max_latency_ms,
                                       max_flash_kb=max_flash_kb, max_ram_kb=max_ram_kb, mean=mean, std=std,
                                       input_range=_range_pair(input_range), target=target,
                                       max_mcu_latency_ms=max_mcu_latency_ms), to={"param": ("fixed",)})
    cfg, budgets = load_config(config, (TuneConfig, Budgets), overrides=given, defaults=defaults,
                               flags={"fixed": "--param"}, merge=("fixed",))
    if budgets.max_mcu_latency_ms is not None and not budgets.target:
        raise EdgekitError("--max-mcu-latency-ms needs --target (a board from `edgekit targets`).")
    if budgets.target:
        from edgekit.bench.mcu_targets import get_target

        get_target(budgets.target)  # an unknown board fails before any training
    res = _tune(name, data, out=out_dir, config=cfg, budgets=budgets, console=err)
    pareto = {t["id"] for t in res.pareto}
    table = Table("trial", "status", "knobs", "res", "val acc", "p50 ms", "size", "arena", "feasible", "Pareto",
                  title=f"{name}: {len(res.trials)} trials")
    for t in res.trials:
        table.add_row(str(t["id"]), t["status"], json.dumps(t.get("knobs") or {}), str(t.get("resolution") or ""),
                      _fmt(t["val_accuracy"], "{:.4f}"), _fmt(t["latency_ms"], "{:.4f}"),
                      _size(t["bytes"]) if t["bytes"] else "—", _size(t["arena_bytes"]) if t["arena_bytes"] else "—",
                      "yes" if t["feasible"] else "no", "*" if t["id"] in pareto else "")
    out.print(table)
    if budgets.target:  # the estimate each trial carries
        out.print("estimated on " + budgets.target + ": " + ", ".join(
            f"trial {t['id']} {t['mcu_latency_ms']:.1f} ms" for t in res.trials if t.get("mcu_latency_ms")))
    b = res.best
    out.print(f"best: trial {b['id']}, val accuracy [bold]{b['val_accuracy']:.4f}[/], {b['latency_ms']:.4f} ms, "
              f"{_size(b['bytes'])}; bundle: [bold]{res.bundle}[/]; report: {res.out / 'report.md'}")


@app.command()
def compare(files: List[Path] = typer.Argument(..., help="two or more `edgekit bench --json` files; the first is the baseline"),
            threshold: float = typer.Option(0.10, help="a significant slow-down beyond this fraction fails (exit 1)"),
            markdown: Optional[Path] = typer.Option(None, "--markdown", help="also write the table as Markdown"),
            match: str = typer.Option("name+format+precision+runtime+threads", "--match", help="fields that pair rows, joined by '+': name (artifact file stem), format, precision, runtime, threads; e.g. format+precision+runtime+threads to compare a renamed file")):
    """Side-by-side latency with bootstrap confidence intervals; exits 1 on a significant regression,
    and when nothing could be compared (no row paired, or a paired row without raw timings)."""
    from edgekit._io import write_text
    from edgekit.bench.compare import compare as _compare
    from edgekit.bench.compare import gate_problems, has_regression, rich_table, to_markdown

    if len(files) < 2:
        raise EdgekitError("compare needs at least two bench JSON files (baseline first).")
    if threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    result = _compare(files, threshold=threshold, match=match)
    if result.rows:
        out.print(rich_table(result))
    for u in result.unmatched:
        out.print(f"[yellow]unmatched[/] {u}", highlight=False)
    for n in result.notes:
        out.print(f"[dim]note:[/] {n}", highlight=False)
    if markdown:
        write_text(markdown, to_markdown(result))
    problems = gate_problems(result)
    if problems:
        raise EdgekitError(problems[0] if len(problems) == 1 else " ".join(problems))
    if has_regression(result):
        err.print(f"[red]regression[/]: slower by more than {threshold:.0%} with confidence")
        raise typer.Exit(1)


@app.command()
def check(run_dir: Path = typer.Argument(..., help="a run bundle folder, e.g. export/mobilenet_v2-<time>")):
    """Verify a bundle against its manifest (every file present, same size and sha256)."""
    from edgekit.report.manifest import check_bundle

    problems = check_bundle(run_dir)
    if problems:
        for p in problems:
            err.print(f"[red]{p}[/]", highlight=False)
        raise EdgekitError(f"{run_dir}: {len(problems)} problem(s); the bundle does not match its manifest.")
    out.print(f"{run_dir}: every file matches manifest.json")


def _print_report(report: dict):
    m = report["model"]
    cols = (report.get("metric") or {"columns": ["accuracy"]})["columns"]
    table = Table(_file_column(), "format", "precision", "size", *cols, "cosine", "top-1 agree", "p50 ms", "p99 ms",
                  title=f"{m['name']} {m.get('knobs') or ''}: {m['params']:,} params, {(m['macs'] or 0) / 1e6:.1f} M MACs")
    for a in report["artifacts"]:
        par, lat = a.get("parity"), a.get("latency_ms")
        figures = a.get("metrics") or {"accuracy": a.get("accuracy")}
        table.add_row(Path(a["path"]).name, a["format"], a["precision"], _size(a["bytes"]) if a["bytes"] else "—",
                      *(_fmt(figures.get(c), "{:.4f}") for c in cols),
                      _fmt(par and par["cosine"], "{:.6f}") if par else "reference",
                      _fmt(par and par["top1_agreement"], "{:.4f}") if par else "", _fmt(lat and lat["p50"]),
                      _fmt(lat and lat["p99"]))
    out.print(table)
    for a in report["artifacts"]:
        if a.get("error"):
            out.print(f"[red]{Path(a['path']).name}[/]: {a['error']}")
    out.print(f"bundle: [bold]{report['run_dir']}[/] (report.md, report.html, report.json)")


@app.command()
def compress(ctx: typer.Context,
             model: Path = typer.Argument(..., help="tf_keras .keras or .h5 model to compress"),
             data: str = typer.Option(..., "--data", help="'digits', an image folder (or a .zip/.tar/.tar.gz of one) or an .npz (train split fine-tunes and calibrates, test split scores)"),
             out_dir: Path = typer.Option(..., "--out", help="folder for every variant's file, compression.json and compression.md"),
             only: Optional[List[str]] = typer.Option(None, "--only", help="run only these variants (repeatable)"),
             skip: Optional[List[str]] = typer.Option(None, "--skip", help="skip these variants (repeatable)"),
             max_drop: float = typer.Option(0.01, "--max-drop", help="accuracy budget (fraction) of the mixed-precision fallback"),
             sparsity: float = typer.Option(0.75, "--sparsity", help="magnitude pruning target"),
             channel_ratio: float = typer.Option(0.5, "--channel-ratio", help="fraction of prunable channels removed"),
             epochs: Optional[int] = typer.Option(None, "--epochs", help="fine-tuning epochs for pruning, channel pruning and QAT"),
             seed: int = typer.Option(0, help="split and calibration seed"),
             config: Optional[Path] = typer.Option(None, "--config", help="compression settings from a TOML or JSON file (by suffix) with the keys of edgekit.compress.CompressConfig (sparsity, prune_epochs, clusters, qat_epochs, channel_ratio, max_drop, calibration, ...). Flags given on the command line override the file"),
             input_range: Optional[str] = typer.Option(None, "--input-range", help=_INPUT_RANGE_HELP),
             mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
             std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP),
             input_shape: Optional[str] = typer.Option(None, "--input-shape", help="load --data at this size, e.g. 96x96x3 (must fit the model's input)"),
             resolution: Optional[int] = typer.Option(None, "--resolution", help="load --data as square images of this side, e.g. 96")):
    """PTQ, QAT, pruning, clustering, channel pruning and mixed precision: the size/accuracy/speed table.

    Variants: ptq_dynamic, ptq_fp16, ptq_int8, ptq_int8_per_tensor, ptq_int16x8, onnx_int8, prune,
    prune_per_tensor, prune_2of4, cluster, qat, prune_qat, cluster_qat, channel, channel_int8, mixed.
    """
    from edgekit.compress import CompressConfig
    from edgekit.compress import compress as _compress
    from edgekit.config import load_config

    split = lambda xs: [n.strip() for x in (xs or []) for n in x.split(",") if n.strip()] or None  # noqa: E731
    epoch_keys = ("prune_epochs", "qat_epochs", "channel_epochs", "cluster_epochs")
    given, defaults = _given(ctx, dict(max_drop=max_drop, sparsity=sparsity, channel_ratio=channel_ratio, seed=seed,
                                       epochs=epochs), to={"epochs": epoch_keys})
    cfg = load_config(config, CompressConfig, overrides=given, defaults=defaults,
                      flags=dict.fromkeys(epoch_keys, "--epochs"))
    shape = params_with_input_shape({}, input_shape, resolution).get("input_shape")
    rep = _compress(str(model), data, out=out_dir, only=split(only), skip=split(skip), max_drop=cfg.max_drop,
                    config=cfg, console=err, input_range=input_range, mean=mean, std=std, input_shape=shape)
    from edgekit.compress.task_metric import format_drop
    from edgekit.verify.stats import fmt_accuracy

    b = rep.baseline
    n_test = b.get("n_test") or 0
    metric = (rep.metric or {}).get("name", "accuracy")
    figure = (lambda v: fmt_accuracy(v, n_test)) if metric == "accuracy" else (lambda v: _fmt(v, "{:.4f}"))
    table = Table("variant", "precision", "size", "× fp32", "gzip × fp32", "sparsity", metric, "drop",
                  "p50 ms", "speedup", "top-1 agree", title=f"edgekit compress {model.name}")
    table.add_row("baseline", "fp32", _size(b["bytes"]), "1.000", "", _fmt(b.get("sparsity"), "{:.2f}"),
                  figure(b.get("score", b["accuracy"])), "", _fmt(b["p50_ms"]), "1.00×", "")
    for v in rep.variants:
        if v.get("error"):
            status = v.get("status", "failed")
            colour = "yellow" if status == "not applicable" else "red"
            what = v["error"] if status == "internal error" else f"{status}: {v['error']}"
            table.add_row(v["name"], f"[{colour}]{what}[/]", *[""] * 9)
            continue
        table.add_row(v["name"], v["precision"], _size(v["bytes"]), f"{v['bytes'] / b['bytes']:.3f}",
                      f"{v['gzip_bytes'] / b['bytes']:.3f}", _fmt(v["sparsity"], "{:.2f}"),
                      figure(v.get("score", v["accuracy"])), format_drop(v["drop"], metric), _fmt(v["p50_ms"]),
                      f"{v['speedup']:.2f}×", _fmt((v["parity"] or {}).get("top1_agreement"), "{:.4f}"))
    out.print(table)
    mixed = next((v for v in rep.variants if v["name"] == "mixed" and not v.get("error")), None)
    if mixed:
        out.print(f"mixed precision: layers kept in float: {', '.join(mixed['float_layers']) or 'none'}")
    out.print(f"{rep.json_path}  {rep.md_path}")
    _exit_for_steps(f"{len(rep.variants)} variants", [(v["name"], v.get("status", "ok")) for v in rep.variants])


def _exit_for_steps(what: str, steps: list[tuple[str, str]]):
    """Exit 3 (a requested step failed) or 70 (a step hit a bug) after the report is written; the
    reasons are in the report and were printed as the steps ran."""
    from edgekit.errors import failure_exit_code

    code = failure_exit_code(status for _, status in steps)
    if code:
        bad = [f"{name} ({status})" for name, status in steps if status in ("failed", "internal error")]
        err.print(f"[red]{len(bad)} of {what} did not pass:[/] {', '.join(bad)}", highlight=False)
        raise typer.Exit(code)


# --- Cortex-M latency estimate (issue 17) -------------------------------------------------------
@app.command()
def estimate(model: Path = typer.Argument(..., help="full-int8 .tflite model"),
             target: str = typer.Option("nucleo-l4r5zi", "--target", help="board from `edgekit targets`, or core@MHz such as cortex-m4@80"),
             kernels: str = typer.Option("cmsis-nn", "--kernels", help="cmsis-nn | reference (TFLM's portable C kernels)"),
             arena: Optional[int] = typer.Option(None, "--arena", help="TFLM arena bytes if known (mcu.json); measured otherwise"),
             json_out: Optional[Path] = typer.Option(None, "--json", help="write the estimate as JSON here")):
    """Estimated milliseconds per inference on a Cortex-M board (TFLM), per op, and whether it fits."""
    from edgekit import _io
    from edgekit.bench.mcu_estimate import estimate_mcu

    e = estimate_mcu(model, target, kernels=kernels, arena_bytes=arena)
    table = Table("#", "op", "MACs", "cycles", "share", title=f"{model.name} on {e.target} ({e.core}, {e.mhz:g} MHz, {e.kernels})")
    for r in sorted(e.per_op, key=lambda r: -r.cycles)[:15]:
        table.add_row(str(r.index), r.op, f"{r.macs:,}", f"{r.cycles:,}", f"{r.cycles / max(e.cycles, 1):.1%}")
    out.print(table)
    f = e.fits
    yes = {True: "[green]yes[/]", False: "[red]NO[/]", None: "unknown"}
    ram = (f"RAM {yes[f.ram]} (arena {f.arena_bytes:,} + runtime {f.runtime_ram_overhead_bytes:,} = "
           f"{f.ram_needed_bytes:,} of {_fmt(f.ram_bytes, '{:,}')} B)") if f.ram_needed_bytes else "RAM unknown (arena not measured)"
    out.print(f"[bold]{e.latency_ms:.2f} ms[/] ({e.cycles:,} cycles, {e.macs:,} MACs); {ram}; flash {yes[f.flash]} "
              f"(model {f.model_bytes:,} + code {f.runtime_flash_overhead_bytes:,} of {_fmt(f.flash_bytes, '{:,}')} B)"
              + ("" if f.ram_bytes else "; the board's RAM/flash are unknown for a generic core@MHz target"))
    out.print(f"basis: {e.basis}; leave-one-out median error on the published rows "
              f"{e.calibration['median_loo_error']:.0%}; cannot know: {e.cannot_know}", soft_wrap=True)
    if json_out:
        _io.write_json(json_out, e.model_dump())
        out.print(f"wrote {json_out}")


@app.command()
def targets():
    """Microcontroller targets for `estimate`, `export --to mcu --target` and `tune --target`."""
    from edgekit.bench.mcu_targets import CORES, TARGETS

    table = Table("target", "board", "core", "MHz", "RAM", "flash", "latency basis", title="edgekit targets")
    for t in TARGETS.values():
        basis = ("calibrated (MLPerf Tiny)" if t.calibrated else f"by clock from {t.calibrated_on}" if t.calibrated_on
                 else "extrapolated by core class")
        table.add_row(t.name, t.board, t.core, f"{t.mhz:g}", _size(t.ram_bytes), _size(t.flash_bytes), basis)
    out.print(table)
    out.print(f"generic targets: <core>@<MHz>, core one of {', '.join(c.removeprefix('cortex-') for c in CORES)} "
              "(e.g. cortex-m4@80); RAM and flash unknown")


def main():
    try:
        app(standalone_mode=True)
    except EdgekitError as e:  # pragma: no cover - typer handles SystemExit itself
        err.print(f"error: {e}")
        sys.exit(1)


def _wrap_commands():
    """Every command maps EdgekitError to one line and exit 1; other errors keep a traceback in a log."""
    import functools

    for info in app.registered_commands:
        fn = info.callback

        @functools.wraps(fn)
        def wrapper(*a, __fn=fn, **kw):
            try:
                return __fn(*a, **kw)
            except (typer.Exit, typer.Abort):
                raise
            except EdgekitError as e:
                err.print(f"[red]error:[/] {e}", highlight=False)
                raise typer.Exit(1)
            except KeyboardInterrupt:
                err.print("interrupted")
                raise typer.Exit(130)
            except Exception as e:  # a bug: one line here, the traceback in a log (the output folder if any)
                import tempfile
                import traceback

                from edgekit._io import write_text
                from edgekit.errors import ERROR_LOG

                out_dir = kw.get("out_dir")
                folder = Path(out_dir) if out_dir and Path(out_dir).is_dir() else Path(tempfile.gettempdir())
                log = write_text(folder / ERROR_LOG, traceback.format_exc())
                first = (str(e).strip().splitlines() or [""])[0][:200]
                err.print(f"[red]internal error[/] (a bug in edgekit): {type(e).__name__}: {first} (traceback in {log})",
                          highlight=False)
                raise typer.Exit(EXIT_INTERNAL)

        info.callback = wrapper


_wrap_commands()

if __name__ == "__main__":
    main()
